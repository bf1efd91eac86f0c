"""How closely one model reproduces another: the check every reidkit export passes (torch-free, so that
models composed without torch, :mod:`reidkit.adapt.export`, are checked the same way)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Parity:
    """How closely one model reproduces another on the same inputs."""

    max_abs: float
    max_rel: float  # max_abs / max |reference|
    cosine_min: float
    cosine_mean: float
    n: int

    def __str__(self) -> str:
        return (
            f"max |diff| {self.max_abs:.2e} ({self.max_rel:.2e} of the output range), "
            f"cosine min {self.cosine_min:.6f} mean {self.cosine_mean:.6f} on {self.n} inputs"
        )


def compare(reference: np.ndarray, candidate: np.ndarray) -> Parity:
    reference = reference.reshape(len(reference), -1).astype(np.float64)
    candidate = candidate.reshape(len(candidate), -1).astype(np.float64)
    diff = float(np.abs(reference - candidate).max())
    scale = float(np.abs(reference).max()) or 1.0
    num = (reference * candidate).sum(1)
    den = np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1)
    cos = num / np.maximum(den, 1e-12)
    return Parity(diff, diff / scale, float(cos.min()), float(cos.mean()), len(reference))
