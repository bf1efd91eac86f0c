"""``reidkit train --smoke``: a whole training run on synthetic people, in about a minute on a laptop CPU.

It checks an installation end to end (data loading, the PK sampler, OSNet x0.25, losses, evaluation,
checkpoints, the log lines) without any download or dataset. Each synthetic identity is a stick figure
with its own shirt and trousers colours; the two CUHK03 "cameras" differ in brightness and background,
so a model must learn colours, not backgrounds, to match across them. Images are written in the
CUHK03 split layout (``train/PPPP_KK.jpg``, ``val/PPPP_KK.jpg``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

# Small enough to finish in about a minute on two CPU cores, big enough that R1 clearly beats chance.
SMOKE_OVERRIDES = [
    "model.backbone=osnet_x0_25",
    "model.pretrained=",
    "data.train=[cuhk03]",
    "data.test=[cuhk03]",
    "data.height=64",  # the synthetic figures' own size
    "data.width=32",
    "data.p=4",
    "data.k=4",
    "data.workers=0",
    "optim.epochs=2",
    "optim.warmup_epochs=1",
    "optim.lr=3.5e-3",
    "eval_period=2",
    "amp=false",
    "log_period=5",
]
SMOKE_IDENTITIES = {"train": 32, "val": 16}


def figure_image(
    pid_colours: tuple[np.ndarray, np.ndarray], camid: int, rng: np.random.Generator
) -> np.ndarray:
    h, w = 64, 32
    background = rng.integers(40, 90) if camid == 0 else rng.integers(150, 210)
    img = np.full((h, w, 3), background, np.uint8)
    img = np.clip(img.astype(np.int16) + rng.integers(-20, 20, size=(h, w, 3)), 0, 255).astype(np.uint8)
    shirt, trousers = pid_colours
    gain = 1.0 if camid == 0 else 0.8
    dx = int(rng.integers(-3, 4))
    cv2.circle(img, (w // 2 + dx, 9), 5, (150, 170, 200), -1)
    cv2.rectangle(img, (8 + dx, 15), (24 + dx, 36), tuple(int(c * gain) for c in shirt), -1)
    cv2.rectangle(img, (9 + dx, 37), (23 + dx, 60), tuple(int(c * gain) for c in trousers), -1)
    return img


def write_synthetic_cuhk03(
    root: Path, n_train: int = 12, n_val: int = 8, shots: int = 4, seed: int = 0
) -> Path:
    """Write ``n_train`` and ``n_val`` synthetic identities, ``shots`` images each (half per camera)."""
    rng = np.random.default_rng(seed)
    for split, n_ids in (("train", n_train), ("val", n_val)):
        (root / split).mkdir(parents=True, exist_ok=True)
        for pid in range(n_ids):
            colours = (rng.integers(0, 256, 3), rng.integers(0, 256, 3))
            for shot in range(shots):
                camid = 0 if shot < shots // 2 else 1
                kk = shot if camid == 0 else 5 + shot - shots // 2
                cv2.imwrite(str(root / split / f"{pid:04d}_{kk:02d}.jpg"), figure_image(colours, camid, rng))
    return root


def prepare_smoke_run(output: Path) -> tuple[list[str], dict[str, str]]:
    """Write the synthetic data under ``output/data``; returns the config overrides and dataset roots."""
    root = write_synthetic_cuhk03(
        output / "data" / "cuhk03", SMOKE_IDENTITIES["train"], SMOKE_IDENTITIES["val"], shots=4
    )
    return [*SMOKE_OVERRIDES, f"output={output}"], {"cuhk03": str(root)}
