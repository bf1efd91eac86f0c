"""prepare_batch (one multiply-add per channel, straight into the model's layout) feeds models as the
plain formula does: resize, channel order, ``(x * scale - mean) / std``, layout."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from reidkit.core.runtime import letterbox, prepare_batch
from reidkit.zoo.registry import MODELS


def by_the_formula(images: list[np.ndarray], spec) -> np.ndarray:  # type: ignore[no-untyped-def]
    rows = []
    for image in images:
        if spec.resize == "letterbox":
            resized, _ = letterbox(image, spec.height, spec.width, spec.pad_value)
        else:
            resized = cv2.resize(image, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
        pixels = resized[..., ::-1] if spec.channels == "RGB" else resized
        x = (pixels.astype(np.float64) * spec.scale - np.asarray(spec.mean)) / np.asarray(spec.std)
        rows.append(x.transpose(2, 0, 1) if spec.layout == "NCHW" else x)
    return np.stack(rows)


@pytest.mark.parametrize("model", ["osnet_x0_25_msmt17", "person-reidentification-retail-0287", "yolox-nano"])
def test_prepare_batch_matches_the_formula_on_crops_of_varied_sizes(model: str) -> None:
    spec = MODELS.find(model).input  # type: ignore[union-attr]  # RGB ImageNet NCHW; BGR 0-255 NHWC; BGR 0-255 letterboxed
    rng = np.random.default_rng(0)
    sizes = [(40, 20), (300, 90), (256, 128), (17, 61)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in sizes]
    got = prepare_batch(images, spec)
    expected = by_the_formula(images, spec)
    assert got.dtype == np.float32 and got.shape == expected.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert np.abs(expected).max() > 1  # the comparison saw real values, not an empty or zero batch
