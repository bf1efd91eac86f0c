"""Embedding speed of the default ReID model and the public OSNet: torch fp32, ORT fp32, ORT int8, Embedder.

    PYTHONPATH=. python bench/embed_speed.py --shared ../shared [--threads 1] [--rounds 3]

Every figure is images per second, the best of ``--rounds`` timings (the least disturbed one on a
shared machine), all with the same number of threads, in one run: compare them as ratios.

* torch fp32: the reidkit torch module where one holds the weights (OSNet x0.25 with the ONNX file's
  weights imported), else the ONNX graph run op by op in torch (``backbone: onnx``).
* ORT fp32 / int8: onnxruntime on preprocessed crops. The public models have a fixed batch of 1; their
  batch dimension is freed here when a batch of 2 gives the same output as two single runs, else
  "batch 32" is 32 runs of one image (the table says which). int8 is quantised in the run by
  ``quantize_int8`` (calibrated on 32 CUHK03 train crops).
* Embedder: ``build_embedder(...).embed`` on 32 decoded BGR crops of their own sizes (CUHK03 val), as
  the indexer feeds it, against the same session run on the already preprocessed batch.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime
import torch

from reidkit.core.runtime import create_session, prepare_batch, run_batched
from reidkit.embed import OnnxEmbedder, build_embedder
from reidkit.export.onnx import compare, input_spec_of, quantize_int8
from reidkit.zoo.registry import DEFAULT_REID_MODEL, resolve_model

MODELS = (DEFAULT_REID_MODEL, "osnet_x0_25_msmt17")
BATCH = 32


def best_rate(run: Callable[[], object], images: int, rounds: int) -> float:
    """Images per second of ``run`` (which embeds ``images`` images), best of ``rounds`` after a warm-up."""
    run()
    best = min(_seconds(run) for _ in range(rounds))
    return images / best


def _seconds(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def read_crops(folder: Path, n: int) -> list[np.ndarray]:
    files = sorted(folder.glob("*.jpg"))
    step = max(1, len(files) // n)
    return [cv2.imread(str(p)) for p in files[::step][:n]]


def free_batch(path: Path, out: Path, sample: np.ndarray, threads: int) -> bool:
    """Write ``path`` with a symbolic batch dimension to ``out``; True when that graph batches correctly."""
    model = onnx.load(str(path))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(model, str(out))
    try:
        session = create_session(out, threads)
        name = session.get_inputs()[0].name
        quiet = onnxruntime.RunOptions()
        quiet.log_severity_level = 4  # the failure below is the expected answer, not an error to print
        together = session.run(None, {name: sample[:2]}, quiet)[0]
    except Exception:  # a graph with the batch baked into a Reshape fails here or below
        return False
    apart = np.concatenate([session.run(None, {name: image[None]})[0] for image in sample[:2]])
    return together.shape == apart.shape and np.allclose(together, apart, atol=1e-4)


def torch_model(name: str, path: Path) -> tuple[torch.nn.Module, str, bool]:
    """The torch module for ``name`` from reidkit's standard input, what it is, and whether it holds
    ``name``'s own weights (so its output can be checked against onnxruntime)."""
    from reidkit.models import ModelConfig, build_model

    if name == "osnet_x0_25_msmt17":
        config = ModelConfig(backbone="osnet_x0_25", pretrained=str(path), neck="none")
        return build_model(config, 0).eval(), "reidkit OSNet x0.25, the ONNX file's weights", True
    # The default model's training config (its sidecar): the OMZ graph run in torch plus a BNNeck. Its
    # fine-tuned weights exist only as the exported ONNX file, whose export ops the onnx backbone
    # does not run, so torch runs the same architecture with the OMZ original's weights.
    config = ModelConfig(backbone="onnx", graph="person-reidentification-retail-0287", neck="bnneck")
    return (
        build_model(config, 0).eval(),
        "its architecture: OMZ graph in torch (backbone: onnx) + BNNeck",
        False,
    )


def measure(name: str, shared: Path, threads: int, rounds: int, work: Path) -> list[tuple[str, ...]]:
    path, _ = resolve_model(name, download=False)
    spec = input_spec_of(path)
    val = read_crops(shared / "data/cuhk03/labeled/val", BATCH)
    batch = prepare_batch(val, spec)
    calibration = prepare_batch(read_crops(shared / "data/cuhk03/labeled/train", BATCH), spec)

    # The same file name as the registry's, so the batch-free copy is fed by the same registry spec.
    freed = work / name / path.name
    freed.parent.mkdir(parents=True)
    if not OnnxEmbedder(path, threads=1).fixed_batch:
        batched, batch_note = path, ""
    elif free_batch(path, freed, batch, threads):
        batched, batch_note = freed, "batch dim freed"
    else:
        batched, batch_note = path, "batch 32 = 32 runs of 1"
    int8_path = work / name / f"{path.stem}.int8.onnx"
    # Checked on val crops (other people than the calibration's); reported, not gated, here.
    parity = quantize_int8(batched, int8_path, calibration=calibration, check=batch, min_cosine=-1.0)

    rows = []
    torch.set_num_threads(threads)
    module, what, same_weights = torch_model(name, path)
    inputs = torch.from_numpy(batch)  # both models take reidkit's standard input: RGB, ImageNet, NCHW
    with torch.inference_mode():
        reference = run_batched(create_session(path, threads), batch[:4])
        agreement = compare(module(inputs[:4]).numpy(), reference).cosine_min if same_weights else None
        t1 = best_rate(lambda: [module(inputs[i : i + 1]) for i in range(BATCH)], BATCH, rounds)
        t32 = best_rate(lambda: module(inputs), BATCH, rounds)
    rows.append(
        (
            name,
            f"torch fp32: {what}",
            rate(t1),
            rate(t32),
            "other weights" if agreement is None else f"cosine vs ORT {agreement:.5f}",
        )
    )

    ort_rates = {}
    for label, model_path, note in (
        ("ORT fp32", batched, batch_note),
        ("ORT int8", int8_path, f"{batch_note}; cosine vs fp32 min {parity.cosine_min:.3f} (val crops)"),
    ):
        session = create_session(model_path, threads)
        single = best_rate(lambda s=session: run_batched(s, batch, 1), BATCH, rounds)
        full = best_rate(lambda s=session: run_batched(s, batch, BATCH), BATCH, rounds)
        ort_rates[label] = (single, full)
        rows.append((name, label, rate(single), rate(full), note.lstrip("; ")))

    embedder = build_embedder(name, threads=threads, max_batch=BATCH)
    assert isinstance(embedder, OnnxEmbedder)
    # The same call the Embedder makes: a fixed-batch model runs one image at a time.
    per_call = 1 if embedder.fixed_batch else BATCH
    raw = best_rate(lambda: run_batched(embedder.session, batch, per_call), BATCH, rounds)
    end_to_end = best_rate(lambda: embedder.embed(val), BATCH, rounds)
    how = "one by one (fixed batch)" if embedder.fixed_batch else f"batches of {BATCH}"
    rows.append(
        (
            name,
            "Embedder, BGR crops -> unit vectors",
            "-",
            rate(end_to_end),
            f"{100 * end_to_end / raw:.0f} % of raw ORT on its session ({how})",
        )
    )
    fp32_1, fp32_32 = ort_rates["ORT fp32"]
    int8_1, int8_32 = ort_rates["ORT int8"]
    speedup = (f"x{int8_1 / fp32_1:.2f}", f"x{int8_32 / fp32_32:.2f}")
    rows.append((name, "ORT int8 speed / ORT fp32 speed", *speedup, ">1 = int8 faster"))
    return rows


def rate(images_per_second: float) -> str:
    return f"{images_per_second:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            rows += measure(name, args.shared, args.threads, args.rounds, Path(tmp))
    print(f"images/s, best of {args.rounds}, {args.threads} thread(s), batch 32 = 32 CUHK03 val crops")
    print("| model | what | batch 1 | batch 32 | notes |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
