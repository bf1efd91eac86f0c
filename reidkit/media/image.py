"""Read any still image as ``HxWx3 uint8 BGR``.

Whatever the file holds, the result is the same kind of array:

* grayscale and palette images are expanded to three channels;
* 16-bit (and 32-bit) PNG/TIFF are scaled to 8 bits by full range (``65535 -> 255``), floating-point
  images are taken as 0-1;
* images with an alpha channel are **composited on white**: pixels under a transparent alpha often hold
  black or leftover colours, and a person cut out onto white matches what an image viewer shows and
  keeps the crop's background neutral for the detector and the ReID model;
* JPEGs are turned upright by their EXIF orientation tag (OpenCV applies it when decoding to colour).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from reidkit.core.errors import MediaError

_JPEG_MAGIC = b"\xff\xd8\xff"


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to ``HxWx3 uint8 BGR``; MediaError when it cannot be read."""
    path = Path(path)
    data = _read_bytes(path)
    # np.frombuffer + imdecode (not imread) so that non-ASCII paths work everywhere.
    buffer = np.frombuffer(data, np.uint8)
    if data.startswith(_JPEG_MAGIC):
        image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)  # applies EXIF orientation
    else:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # keeps alpha and 16-bit depth
    if image is None or image.size == 0:
        raise MediaError(
            "cannot decode image (corrupt or unsupported format)",
            path=path,
            hint="re-export it as JPEG or PNG",
        )
    return to_bgr8(image)


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any OpenCV-decoded array (gray, BGR, BGRA; 8/16/32-bit or float) -> ``HxWx3 uint8 BGR``."""
    image = _to_uint8(image)
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    channels = image.shape[2]
    if channels == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    if channels == 2:  # gray + alpha
        gray = _composite_on_white(image[:, :, :1], image[:, :, 1])
        return cv2.cvtColor(gray[:, :, 0], cv2.COLOR_GRAY2BGR)
    if channels == 4:
        return _composite_on_white(image[:, :, :3], image[:, :, 3])
    return np.ascontiguousarray(image[:, :, :3])


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        # x * 255 / 65535 == x / 257, rounded: 0 -> 0 and 65535 -> 255 exactly.
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if image.dtype == np.int8:
        return (image.astype(np.int16) + 128).astype(np.uint8)
    if image.dtype in (np.int16, np.int32, np.uint32):
        info = np.iinfo(image.dtype)
        scaled = (image.astype(np.float64) - info.min) * (255.0 / (info.max - info.min))
        return np.rint(scaled).astype(np.uint8)
    # floating point (TIFF/EXR/HDR): taken as 0-1
    return np.rint(np.clip(np.nan_to_num(image.astype(np.float32)), 0.0, 1.0) * 255.0).astype(np.uint8)


def _composite_on_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    out = color.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.rint(out).astype(np.uint8)


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise MediaError("no such file", path=path, hint="check the path")
    if not path.is_file():
        raise MediaError("not a file", path=path, hint="pass an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read file ({exc.strerror})", path=path, hint="check permissions") from exc
    if not data:
        raise MediaError("file is empty (0 bytes)", path=path, hint="re-copy or re-export the image")
    return data
