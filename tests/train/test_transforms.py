from __future__ import annotations

import numpy as np
import pytest

from reidkit.core.errors import ReidkitError
from reidkit.core.runtime import prepare_batch
from reidkit.train.config import AugmentConfig, load_train_config
from reidkit.train.transforms import (
    MEAN_BGR,
    POLICY_OPS,
    EvalTransform,
    TrainTransform,
    box_jitter,
    color_jitter,
    downscale,
    jpeg_round_trip,
    random_erase,
    random_patch,
    relight,
)
from reidkit.zoo.registry import IMAGENET_MEAN, IMAGENET_STD, InputSpec

ALL_ON = AugmentConfig(
    box_jitter=1.0,
    downscale=1.0,
    compress=1.0,
    blur=1.0,
    lighting=1.0,
    autoaugment=1.0,
    color_jitter=1.0,
    saturation=0.2,
    hue=0.05,
    random_patch=1.0,
    erasing=1.0,
)


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(90, 40, 3), dtype=np.uint8)


def test_train_transform_is_deterministic_given_the_rng(image: np.ndarray) -> None:
    transform = TrainTransform(ALL_ON, 64, 32)
    a = transform(image, np.random.default_rng(7))
    b = transform(image, np.random.default_rng(7))
    c = transform(image, np.random.default_rng(8))
    assert a.shape == (3, 64, 32) and a.dtype == np.float32
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_test_transform_matches_the_onnx_embedder_preprocessing(image: np.ndarray) -> None:
    spec = InputSpec(64, 32, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    expected = prepare_batch([image], spec)[0]
    np.testing.assert_allclose(EvalTransform(64, 32)(image), expected, atol=1e-5)


def test_flip_with_probability_one_mirrors(image: np.ndarray) -> None:
    cfg = AugmentConfig(flip=1.0, crop=0.0, erasing=0.0)
    out = TrainTransform(cfg, 90, 40).augment(image, np.random.default_rng(0))
    assert np.array_equal(out, image[:, ::-1])


def test_everything_off_is_a_plain_resize(image: np.ndarray) -> None:
    cfg = AugmentConfig(flip=0.0, crop=0.0, erasing=0.0)
    assert np.array_equal(TrainTransform(cfg, 90, 40).augment(image, np.random.default_rng(0)), image)


def test_random_erasing_fills_with_the_mean_colour_so_zero_after_normalising() -> None:
    image = np.full((64, 32, 3), 255, np.uint8)
    erased = random_erase(image, np.random.default_rng(0), area=(0.2, 0.3))
    changed = np.any(erased != 255, axis=2)
    assert 0.15 * 64 * 32 < changed.sum() < 0.35 * 64 * 32
    assert np.array_equal(erased[changed][0], MEAN_BGR.round().astype(np.uint8))
    normalised = EvalTransform(64, 32)(erased)
    assert np.abs(normalised[:, changed]).max() < 0.02


def test_pixel_ops_keep_shape_and_dtype(image: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    outputs = [op(image, 0.8, rng) for op in POLICY_OPS.values()]
    outputs += [color_jitter(image, rng, 0.3, 0.3, 0.3, 0.1), random_patch(image, rng)]
    for out in outputs:
        assert out.shape == image.shape and out.dtype == np.uint8
    assert sum(not np.array_equal(o, image) for o in outputs) >= len(outputs) - 1


def _smooth_image() -> np.ndarray:
    """A person-sized picture with structure at every scale (noise alone has nothing to keep)."""
    y, x = np.mgrid[0:128, 0:64].astype(np.float32)
    base = 128 + 60 * np.sin(x / 5.0) * np.cos(y / 9.0) + 40 * np.sign(np.sin(y / 17.0))
    return np.clip(np.stack([base, base[::-1], base[:, ::-1]], axis=2), 0, 255).astype(np.uint8)


def test_box_jitter_of_zero_extent_keeps_the_crop_and_moves_it_otherwise() -> None:
    image = _smooth_image()
    assert np.array_equal(box_jitter(image, np.random.default_rng(0), 0.0), image)
    moved = box_jitter(image, np.random.default_rng(0), 0.2)
    assert moved.shape == image.shape and moved.dtype == np.uint8
    assert np.abs(moved.astype(int) - image).mean() > 5
    with pytest.raises(ReidkitError, match="box_jitter_extent"):  # at load time, not in a worker
        load_train_config(None, ["augment.box_jitter_extent=0.5"])


def test_downscale_and_jpeg_degrade_but_keep_the_picture() -> None:
    image = _smooth_image()
    error = {}
    for name, out in {
        "downscale": downscale(image, np.random.default_rng(0), 0.3),
        "jpeg 20": jpeg_round_trip(image, 20),
        "jpeg 95": jpeg_round_trip(image, 95),
    }.items():
        assert out.shape == image.shape and out.dtype == np.uint8
        error[name] = np.abs(out.astype(int) - image).mean()
    assert error["jpeg 95"] < error["jpeg 20"]  # lower quality, more loss
    assert 0 < error["downscale"] < 20 and 0 < error["jpeg 20"] < 20  # degraded, still the same picture


def test_relight_tints_each_channel_and_bends_the_midtones_within_its_ranges() -> None:
    image = np.full((8, 4, 3), 128, np.uint8)
    assert np.array_equal(relight(image, np.random.default_rng(0), 0.0, (1.0, 1.0)), image)
    rng = np.random.default_rng(3)
    tinted = [relight(image, rng, 0.3, (1.0, 1.0))[0, 0].astype(float) for _ in range(200)]
    gains = np.array(tinted) / 128
    assert gains.min() >= 1 / 1.3 - 0.01 and gains.max() <= 1.3 + 0.01  # within the tint range
    assert np.ptp(gains, axis=0).min() > 0.3  # each channel drawn on its own
    darker = relight(image, np.random.default_rng(0), 0.0, (1.5, 1.5))
    assert np.all(darker == round(255 * (128 / 255) ** 1.5))  # gamma above 1 darkens the midtones
    with pytest.raises(ReidkitError, match="lighting"):  # at load time, not in a worker
        load_train_config(None, ["augment.lighting_gamma=[0, 1]"])
