"""The numpy head on a model's unit output, and a library's verdict head as it is stored."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reidkit.core.head import VerdictHead, apply_head


def test_a_zero_head_is_the_model_itself_and_every_output_is_unit() -> None:
    x = np.random.default_rng(0).normal(size=(5, 8)).astype(np.float32)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    np.testing.assert_allclose(apply_head({"w": np.zeros((8, 8), np.float32)}, x), unit, atol=1e-6)
    mlp = {
        "w1": np.ones((8, 3), np.float32),
        "b1": np.zeros(3, np.float32),
        "w2": np.ones((3, 8), np.float32),
    }
    np.testing.assert_allclose(np.linalg.norm(apply_head(mlp, x), axis=1), 1.0, atol=1e-6)
    as_trained = {"w2": mlp["w2"], "w1": mlp["w1"], "b1": mlp["b1"]}  # ResidualHead.arrays' order
    assert VerdictHead("m", as_trained).dim == VerdictHead("m", {"w": np.zeros((8, 8), np.float32)}).dim == 8


def test_a_verdict_head_round_trips_and_refuses_damaged_text() -> None:
    head = VerdictHead("m-adapted", {"w": np.random.default_rng(1).normal(size=(4, 4)).astype(np.float32)})
    again = VerdictHead.from_json(head.to_json())
    assert again.model == "m-adapted" and again.sha256 == head.sha256
    np.testing.assert_array_equal(again.arrays["w"], head.arrays["w"])
    tampered = json.loads(head.to_json())
    tampered["sha256"] = "0" * 64
    for text in ("", "{}", json.dumps(tampered), head.to_json()[:-20]):
        with pytest.raises(ValueError):
            VerdictHead.from_json(text)
    with pytest.raises(ValueError):
        VerdictHead("m", {"w1": np.zeros((4, 4), np.float32)})  # neither a linear head nor an MLP
