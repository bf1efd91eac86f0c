"""Is reidkit's int8 right on an x86 CPU without VNNI, checked on a machine that has it?

    apt-get install qemu-user          # once (Debian); ~6 min for the default run
    PYTHONPATH=. python bench/int8_cpu_emulation.py [--model osnet_x0_25_msmt17] [--cpu EPYC-Rome]

On x86 CPUs without VNNI onnxruntime's uint8 x int8 kernels add pairs of products in 16 bits
(VPMADDUBSW), which saturates with full-range int8 weights; reidkit's int8 files use 7-bit weights so
they cannot (docs/deployment.md). This bench quantises the model twice on this machine (reidkit's
7-bit file, and the same with full-range weights), then runs both on the same CUHK03 val crops
natively and inside ``qemu-x86_64 -cpu CPU``, a user-mode emulator presenting a CPU with AVX2 and no
VNNI (EPYC-Rome by default), so onnxruntime takes its non-VNNI kernels there. It prints the worst and
mean cosine of each int8 file against the fp32 model for both. The full-range row falling inside the
emulator shows the emulated kernels are the saturating ones; the 7-bit row must stay at or above
0.98 (the gate of ``quantize_int8`` and of tests/export/test_int8_models.py) in both.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from reidkit.core.vectors import l2_normalise  # noqa: E402
from reidkit.export.onnx import input_spec_of, quantize_int8, run_onnx  # noqa: E402
from reidkit.zoo.registry import resolve_model  # noqa: E402

MIN_COSINE = 0.98


def crops(shared: Path, split: str, every: int, count: int, model: Path) -> np.ndarray:
    from reidkit.core.runtime import prepare_batch

    files = sorted((shared / "data" / "cuhk03" / "labeled" / split).glob("*.jpg"))[::every][:count]
    if len(files) < count:
        raise SystemExit(f"{shared}/data/cuhk03/labeled/{split}: too few crops; set REIDKIT_SHARED")
    return prepare_batch([cv2.imread(str(p)) for p in files], input_spec_of(model))


def full_range_int8(model: Path, out: Path, calibration: np.ndarray, check: np.ndarray) -> None:
    """reidkit's static int8 recipe with full-range weights: what 7-bit weights protect against."""
    import onnxruntime.quantization as quantization

    seven_bit = quantization.quantize_static

    def full_range(*args: object, **kwargs: object) -> object:
        kwargs["reduce_range"] = False
        return seven_bit(*args, **kwargs)

    quantization.quantize_static = full_range
    try:
        quantize_int8(model, out, calibration=calibration, check=check, min_cosine=-1.0)
    finally:
        quantization.quantize_static = seven_bit


def cosines(model: Path, files: dict[str, Path], check: Path) -> dict[str, list[float]]:
    """Worst and mean cosine of each int8 file against ``model`` on the crops saved in ``check``."""
    batch = np.load(check)
    ref = l2_normalise(run_onnx(model, batch))
    out = {}
    for name, path in files.items():
        cos = (ref * l2_normalise(run_onnx(path, batch))).sum(axis=1)
        out[name] = [float(np.nanmin(cos)), float(np.nanmean(cos))]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="osnet_x0_25_msmt17", help="registry name or .onnx file")
    parser.add_argument("--cpu", default="EPYC-Rome", help="qemu CPU model: AVX2, no VNNI")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "FILES", "CHECK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, files, check = args.child
        result = cosines(Path(model), {k: Path(v) for k, v in json.loads(files).items()}, Path(check))
        print(json.dumps(result))
        return
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise SystemExit("qemu-x86_64 not found: apt-get install qemu-user")
    shared = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
    os.environ.setdefault("REIDKIT_MODEL_DIR", str(shared / "models"))
    model, _ = resolve_model(args.model, download=False)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        calibration = crops(shared, "train", 225, 32, model)
        check = crops(shared, "val", 30, 32, model)
        np.save(work / "check.npy", check)
        files = {"7-bit (reidkit)": work / "seven.onnx", "full range": work / "full.onnx"}
        quantize_int8(model, files["7-bit (reidkit)"], calibration=calibration, check=check, min_cosine=-1.0)
        full_range_int8(model, files["full range"], calibration, check)
        child = [__file__, "--child", str(model), json.dumps({k: str(v) for k, v in files.items()})]
        child.append(str(work / "check.npy"))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        runs = {
            "this CPU": [sys.executable, *child],
            f"qemu -cpu {args.cpu}": [qemu, "-cpu", args.cpu, sys.executable, *child],
        }
        results = {}
        for where, command in runs.items():
            print(f"running on {where} ...", flush=True)
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if done.returncode != 0:
                tail = [line for line in done.stderr.splitlines() if "TCG doesn't support" not in line]
                raise SystemExit(f"{where}: failed\n" + "\n".join(tail[-20:]))
            results[where] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\nint8 copies of {Path(model).name} against fp32, 32 CUHK03 val crops (worst / mean cosine)\n")
    print(f"{'int8 weights':18s}" + "".join(f"{where:>24s}" for where in results))
    for name in files:
        cells = "".join(f"{results[w][name][0]:>15.3f} / {results[w][name][1]:.3f}" for w in results)
        print(f"{name:18s}{cells}")
    seven = [results[w]["7-bit (reidkit)"][0] for w in results]
    print(
        f"\n7-bit worst cosine {min(seven):.3f}: {'at or above' if min(seven) >= MIN_COSINE else 'BELOW'} "
        f"the {MIN_COSINE} gate on both"
    )


if __name__ == "__main__":
    main()
