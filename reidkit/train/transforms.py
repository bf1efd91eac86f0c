"""Train/test image transforms in NumPy + OpenCV, deterministic given a seeded ``np.random.Generator``.

Images enter as HxWx3 uint8 BGR (as ``cv2.imread`` gives them) and leave as float32 CHW tensors laid out
like the model's input spec: RGB, ``/255``, then ImageNet mean/std. Augmentations work on uint8 BGR; the
order follows FastReID, after the footage augmentations: resize -> box jitter -> downscale -> compress
-> blur -> policy -> flip -> pad+crop -> colour jitter -> patch -> erasing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from reidkit.train.config import AugmentConfig
from reidkit.zoo.registry import IMAGENET_MEAN, IMAGENET_STD

# The ImageNet mean colour in 0-255 BGR: random erasing fills with it, i.e. zeros after normalisation.
MEAN_BGR = np.array([m * 255.0 for m in IMAGENET_MEAN[::-1]], dtype=np.float32)


def to_tensor(
    image: np.ndarray,
    mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> np.ndarray:
    """uint8 BGR HxWx3 -> float32 RGB CHW, /255 then (x - mean) / std."""
    rgb = image[..., ::-1].astype(np.float32) * (1.0 / 255.0)
    rgb -= np.asarray(mean, np.float32)
    rgb /= np.asarray(std, np.float32)
    return np.ascontiguousarray(rgb.transpose(2, 0, 1))


class EvalTransform:
    """Resize straight to the input size (as the ONNX embedder does), then normalise."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width

    def __call__(self, image: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        resized = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        return to_tensor(resized)


class TrainTransform:
    """Resize + the augmentations enabled in ``cfg`` + normalisation. Same rng state, same output.

    ``keep_augmented=True`` returns ``(tensor, augmented)``: the uint8 BGR image the tensor was made
    from too, for a distillation teacher with its own input spec (see ``reidkit.models.distill``).
    """

    def __init__(self, cfg: AugmentConfig, height: int, width: int, keep_augmented: bool = False):
        self.cfg, self.height, self.width = cfg, height, width
        self.keep_augmented = keep_augmented

    def __call__(
        self, image: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        augmented = self.augment(image, rng)
        return (to_tensor(augmented), augmented) if self.keep_augmented else to_tensor(augmented)

    def augment(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The uint8 BGR image after resizing and augmentation (useful to look at)."""
        cfg = self.cfg
        img = cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_LINEAR)
        if cfg.box_jitter > 0 and rng.random() < cfg.box_jitter:
            img = box_jitter(img, rng, cfg.box_jitter_extent)
        if cfg.downscale > 0 and rng.random() < cfg.downscale:
            img = downscale(img, rng, cfg.downscale_min)
        if cfg.compress > 0 and rng.random() < cfg.compress:
            img = jpeg_round_trip(
                img, int(rng.integers(cfg.compress_quality[0], cfg.compress_quality[1] + 1))
            )
        if cfg.blur > 0 and rng.random() < cfg.blur:
            img = cv2.GaussianBlur(np.ascontiguousarray(img), (0, 0), rng.uniform(*cfg.blur_sigma))
        if cfg.autoaugment > 0 and rng.random() < cfg.autoaugment:
            img = apply_policy(img, rng, cfg.autoaugment_magnitude)
        if cfg.flip > 0 and rng.random() < cfg.flip:
            img = img[:, ::-1]
        if cfg.pad > 0 and cfg.crop > 0 and rng.random() < cfg.crop:
            img = pad_crop(img, cfg.pad, rng)
        if cfg.lighting > 0 and rng.random() < cfg.lighting:
            img = relight(img, rng, cfg.lighting_tint, cfg.lighting_gamma)
        if cfg.color_jitter > 0 and rng.random() < cfg.color_jitter:
            img = color_jitter(img, rng, cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue)
        if cfg.random_patch > 0 and rng.random() < cfg.random_patch:
            img = random_patch(img, rng)
        if cfg.erasing > 0 and rng.random() < cfg.erasing:
            img = random_erase(img, rng, cfg.erasing_area, cfg.erasing_aspect)
        return np.ascontiguousarray(img)


def box_jitter(img: np.ndarray, rng: np.random.Generator, extent: float) -> np.ndarray:
    """The image as a detector with another box would cut it: each edge moved by up to ``extent`` of the
    box (outwards shows the border pixels repeated), resized back to the same size."""
    h, w = img.shape[:2]
    dx1, dx2 = (rng.uniform(-extent, extent, 2) * w).round().astype(int)
    dy1, dy2 = (rng.uniform(-extent, extent, 2) * h).round().astype(int)
    pad = math.ceil(extent * max(h, w)) + 1
    padded = cv2.copyMakeBorder(np.ascontiguousarray(img), pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = padded[pad + dy1 : pad + h + dy2, pad + dx1 : pad + w + dx2]
    return np.asarray(cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)


def downscale(img: np.ndarray, rng: np.random.Generator, smallest: float) -> np.ndarray:
    """Seen from further away: shrunk by a factor in [``smallest``, 1] and enlarged back."""
    h, w = img.shape[:2]
    factor = rng.uniform(smallest, 1.0)
    small = cv2.resize(
        img, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA
    )
    return np.asarray(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)


def jpeg_round_trip(img: np.ndarray, quality: int) -> np.ndarray:
    """Encoded and decoded again at ``quality``: the blocks and smearing of a lossy codec."""
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(img), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # OpenCV encodes any uint8 BGR image; kept as is should it ever refuse
        return img
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8)


def pad_crop(img: np.ndarray, pad: int, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    padded = cv2.copyMakeBorder(np.ascontiguousarray(img), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    y, x = int(rng.integers(0, 2 * pad + 1)), int(rng.integers(0, 2 * pad + 1))
    return padded[y : y + h, x : x + w]


def _region(
    h: int, w: int, rng: np.random.Generator, area: tuple[float, float], aspect: float
) -> tuple[int, int, int, int] | None:
    """A random box covering ``area`` of the image with aspect in [aspect, 1/aspect]; None after 100 misses."""
    for _ in range(100):
        target = rng.uniform(*area) * h * w
        ratio = math.exp(rng.uniform(math.log(aspect), -math.log(aspect)))
        eh, ew = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < eh < h and 0 < ew < w:
            return int(rng.integers(0, h - eh + 1)), int(rng.integers(0, w - ew + 1)), eh, ew
    return None


def random_erase(
    img: np.ndarray, rng: np.random.Generator, area: tuple[float, float] = (0.02, 0.4), aspect: float = 0.3
) -> np.ndarray:
    box = _region(img.shape[0], img.shape[1], rng, area, aspect)
    if box is None:
        return img
    y, x, eh, ew = box
    out = np.array(img)
    out[y : y + eh, x : x + ew] = MEAN_BGR.round().astype(np.uint8)
    return out


def random_patch(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Occlude the image with a (flipped or rotated) patch of itself taken from elsewhere.

    FastReID's RandomPatch draws patches from a pool of earlier images; taking them from the same image
    keeps the transform a pure function of (image, rng), so results don't depend on the worker count.
    """
    h, w = img.shape[:2]
    src = _region(h, w, rng, (0.01, 0.1), 0.5)
    if src is None:
        return img
    y, x, eh, ew = src
    patch = np.array(img[y : y + eh, x : x + ew])
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    if rng.random() < 0.5 and eh <= w and ew <= h:
        patch = np.rot90(patch)
    ph, pw = patch.shape[:2]
    ty, tx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    out = np.array(img)
    out[ty : ty + ph, tx : tx + pw] = patch
    return out


def relight(img: np.ndarray, rng: np.random.Generator, tint: float, gamma: tuple[float, float]) -> np.ndarray:
    """Seen under another light: per-channel gains (a white balance, log-uniform in [1/(1+tint), 1+tint])
    and a gamma curve with its exponent drawn in ``gamma`` (above 1 darkens the midtones)."""
    spread = math.log1p(tint)
    gains = np.exp(rng.uniform(-spread, spread, 3))
    exponent = rng.uniform(*gamma)
    # One 256-entry table per channel: the curve is computed for the 256 levels, not for every pixel.
    levels = np.arange(256, dtype=np.float64)[:, None] * gains / 255.0
    table = np.round(255.0 * np.clip(levels, 0.0, 1.0) ** exponent).astype(np.uint8)
    return np.asarray(cv2.LUT(np.ascontiguousarray(img), table.reshape(1, 256, 3)), np.uint8)


def color_jitter(
    img: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.2,
    contrast: float = 0.15,
    saturation: float = 0.0,
    hue: float = 0.0,
) -> np.ndarray:
    """torchvision-style ColorJitter (factors drawn in [1-s, 1+s]; hue in turns of [-hue, hue]), fixed order."""
    out = img.astype(np.float32)
    if brightness > 0:
        out *= rng.uniform(max(0.0, 1 - brightness), 1 + brightness)
    if contrast > 0:
        gray_mean = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).mean()
        factor = rng.uniform(max(0.0, 1 - contrast), 1 + contrast)
        out = (out - gray_mean) * factor + gray_mean
    if saturation > 0:
        gray = cv2.cvtColor(np.clip(out, 0, 255).astype(np.uint8), cv2.COLOR_BGR2GRAY).astype(np.float32)
        factor = rng.uniform(max(0.0, 1 - saturation), 1 + saturation)
        out = (out - gray[..., None]) * factor + gray[..., None]
    out8 = np.clip(out, 0, 255).astype(np.uint8)
    if hue > 0:
        hsv = cv2.cvtColor(out8, cv2.COLOR_BGR2HSV)
        shift = round(rng.uniform(-hue, hue) * 180)  # OpenCV hue runs 0-179
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 180).astype(np.uint8)
        return np.asarray(cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR), np.uint8)
    return out8


# A small AutoAugment/RandAugment-style policy: two ops drawn uniformly, each with a random sign.
# Each op takes the image, a magnitude in 0-1 and the rng.
def _affine(img: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.warpAffine(
        np.ascontiguousarray(img), matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=(128, 128, 128)
    )


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def _rotate(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    return _affine(img, cv2.getRotationMatrix2D((w / 2, h / 2), 30 * m * _sign(rng), 1.0))


def _shear_x(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    s = 0.3 * m * _sign(rng)
    h = img.shape[0]
    return _affine(img, np.array([[1, s, -s * h / 2], [0, 1, 0]], np.float32))


def _translate_x(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    return _affine(img, np.array([[1, 0, 0.3 * m * img.shape[1] * _sign(rng)], [0, 1, 0]], np.float32))


def _translate_y(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    return _affine(img, np.array([[1, 0, 0], [0, 1, 0.3 * m * img.shape[0] * _sign(rng)]], np.float32))


def _autocontrast(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    lo = img.reshape(-1, 3).min(0).astype(np.float32)
    hi = img.reshape(-1, 3).max(0).astype(np.float32)
    scale = 255.0 / np.maximum(hi - lo, 1.0)
    return np.clip((img.astype(np.float32) - lo) * scale, 0, 255).astype(np.uint8)


def _equalize(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    return np.stack([cv2.equalizeHist(np.ascontiguousarray(img[..., c])) for c in range(3)], axis=-1)


def _posterize(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    bits = 8 - round(4 * m)
    return img & np.uint8((0xFF << (8 - bits)) & 0xFF)


def _solarize(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    threshold = 256 - round(256 * m)
    return np.where(img >= threshold, 255 - img, img).astype(np.uint8)


def _contrast(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    return color_jitter(img, rng, brightness=0.0, contrast=0.9 * m)


def _brightness(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    return color_jitter(img, rng, brightness=0.9 * m, contrast=0.0)


def _sharpness(img: np.ndarray, m: float, rng: np.random.Generator) -> np.ndarray:
    blurred = cv2.GaussianBlur(np.ascontiguousarray(img), (3, 3), 0).astype(np.float32)
    amount = 0.9 * m * _sign(rng)
    return np.clip(img.astype(np.float32) * (1 + amount) - blurred * amount, 0, 255).astype(np.uint8)


POLICY_OPS: dict[str, Callable[[np.ndarray, float, np.random.Generator], np.ndarray]] = {
    "rotate": _rotate,
    "shear_x": _shear_x,
    "translate_x": _translate_x,
    "translate_y": _translate_y,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
    "posterize": _posterize,
    "solarize": _solarize,
    "contrast": _contrast,
    "brightness": _brightness,
    "sharpness": _sharpness,
}


def apply_policy(img: np.ndarray, rng: np.random.Generator, magnitude: float, n_ops: int = 2) -> np.ndarray:
    names = list(POLICY_OPS)
    for i in rng.choice(len(names), size=n_ops, replace=False):
        img = POLICY_OPS[names[int(i)]](img, magnitude * rng.uniform(0.5, 1.0), rng)
    return np.ascontiguousarray(img)
