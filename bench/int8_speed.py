"""Embedding speed of ONNX ReID models (e.g. fp32 vs its int8 copies) on the same real crops.

    PYTHONPATH=. python bench/int8_speed.py osnet_x0_25_msmt17 osnet.int8.onnx --crops DIR [--n 64] [--threads 1]

Prints wall and CPU milliseconds per crop for each model (CPU time is the honest figure on a busy
machine), after one warm-up pass.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2

from reidkit.embed import build_embedder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="registry names or .onnx files")
    parser.add_argument("--crops", type=Path, required=True, help="folder of person crops (.jpg/.png)")
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    files = sorted(p for p in args.crops.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    crops = [img for img in (cv2.imread(str(p)) for p in files[: args.n]) if img is not None]
    if not crops:
        raise SystemExit(f"no crops in {args.crops}")
    for model in args.models:
        embedder = build_embedder(model, threads=args.threads)
        embedder.embed(crops[:4])
        wall, cpu = time.perf_counter(), time.process_time()
        embedder.embed(crops)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(
            f"{embedder.name:32s} {1000 * wall / len(crops):7.2f} ms/crop wall"
            f" {1000 * cpu / len(crops):7.2f} ms/crop CPU ({len(crops)} crops, {args.threads} thread(s))"
        )


if __name__ == "__main__":
    main()
