"""A head on a ReID model's unit output: ``y = x + x @ w`` (or ``x + relu(x @ w1 + b1) @ w2``), renormalised.

``reidkit adapt`` trains one on a library's own footage (:mod:`reidkit.adapt.head`). Applied to the
stored vectors it gives the adapted model's space without embedding a crop again, which is how a
library judges its verdicts in the adapted space while it still ranks in the base model's
(:class:`VerdictHead`). Plain numpy: search and indexing use it without torch.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from reidkit.core.vectors import l2_normalise

HEAD_KEYS = ({"w"}, {"w1", "b1", "w2"})  # linear, or one hidden layer


def apply_head(arrays: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The head on (N, D) vectors: the unit output the adapted model gives for them."""
    x = l2_normalise(np.asarray(x, np.float32).reshape(-1, np.shape(x)[-1]))
    if "w" in arrays:
        y = x + x @ arrays["w"]
    else:
        y = x + np.maximum(x @ arrays["w1"] + arrays["b1"], 0.0) @ arrays["w2"]
    return l2_normalise(y)


def apply_heads(heads: Sequence[dict[str, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """``heads`` applied in order, each on the unit output of the one before (as the composed ONNX runs)."""
    for arrays in heads:
        x = apply_head(arrays, x)
    return l2_normalise(np.asarray(x, np.float32).reshape(-1, np.shape(x)[-1]))


def head_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of the head's weights (float32 bytes, keys in order): the adapted model's identity."""
    return hashlib.sha256(
        b"".join(np.asarray(a, np.float32).tobytes() for _, a in sorted(arrays.items()))
    ).hexdigest()


@dataclass(frozen=True)
class VerdictHead:
    """The adapted model a library judges its verdicts with: its name (its calibration is that model's,
    :func:`reidkit.zoo.calibration.calibration_for`) and its head on the library model's vectors."""

    model: str
    arrays: dict[str, np.ndarray] = field(repr=False)

    def __post_init__(self) -> None:
        if set(self.arrays) not in HEAD_KEYS:
            raise ValueError(f"a head has weights {sorted(HEAD_KEYS[0])} or {sorted(HEAD_KEYS[1])}")

    @property
    def dim(self) -> int:
        """The dimension of the vectors it maps."""
        return int(self.arrays["w" if "w" in self.arrays else "w1"].shape[0])

    @cached_property
    def sha256(self) -> str:
        return head_digest(self.arrays)

    def map(self, vectors: np.ndarray) -> np.ndarray:
        """(N, D) base-model vectors -> (N, D) unit vectors in the adapted model's space."""
        return apply_head(self.arrays, vectors)

    def to_json(self) -> str:
        arrays = {
            key: {
                "shape": list(a.shape),
                "float32": base64.b64encode(np.asarray(a, "<f4").tobytes()).decode(),
            }
            for key, a in sorted(self.arrays.items())
        }
        return json.dumps({"model": self.model, "sha256": self.sha256, "arrays": arrays})

    @staticmethod
    def from_json(text: str) -> VerdictHead:
        """The head :meth:`to_json` wrote; ValueError when the text is not one, or its weights do not
        match the digest stored with them."""
        try:
            data: dict[str, Any] = json.loads(text)
            arrays = {
                key: np.frombuffer(base64.b64decode(a["float32"]), "<f4")
                .reshape(a["shape"])
                .astype(np.float32)
                for key, a in data["arrays"].items()
            }
            head = VerdictHead(str(data["model"]), arrays)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a verdict head ({exc})") from None
        if head.sha256 != data.get("sha256"):
            raise ValueError("the head's weights do not match their sha256")
        return head
