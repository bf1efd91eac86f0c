"""Read any still image as ``HxWx3 uint8 BGR``.

Whatever the file holds, the result is the same kind of array:

* grayscale and palette images are expanded to three channels;
* 16-bit (and 32-bit) PNG/TIFF are scaled to 8 bits by full range (``65535 -> 255``), floating-point
  images are taken as 0-1, or as 0-255 where their median pixel is past 1 (a white page read as 0-1);
* images with an alpha channel are **composited on white**: pixels under a transparent alpha often hold
  black or leftover colours, and a person cut out onto white matches what an image viewer shows and
  keeps the crop's background neutral for the detector and the ReID model;
* JPEGs are turned upright by their EXIF orientation tag (OpenCV applies it when decoding to colour);
  CMYK JPEGs come out as BGR the same way.

Pixels are capped (:data:`MAX_IMAGE_PIXELS`) from the file's header, before anything is decoded: a small
PNG can declare 40000x40000 pixels and take gigabytes to decode (a "decompression bomb").
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from reidkit.core.errors import MediaError

# As many as the largest phone and camera sensors make, few enough to decode on a laptop.
MAX_IMAGE_PIXELS = 200_000_000

# A float image whose median pixel passes this holds 0-255, not 0-1: an HDR image's highlights go past 1,
# its median does not.
FLOAT_AS_BYTES = 1.0


_JPEG_MAGIC = b"\xff\xd8\xff"
_FIX_TOO_LARGE = "downscale it (e.g. to 8000 pixels on the long side) and pass the smaller copy"


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to ``HxWx3 uint8 BGR``; MediaError when it cannot be read or is too large."""
    path = Path(path)
    data = _read_bytes(path)
    size = image_size(data)
    if size is not None:
        check_pixels(path, *size, limit=MAX_IMAGE_PIXELS, what="image")
    # np.frombuffer + imdecode (not imread) so that non-ASCII paths work everywhere.
    buffer = np.frombuffer(data, np.uint8)
    # JPEG: IMREAD_COLOR applies EXIF orientation; others: IMREAD_UNCHANGED keeps alpha and 16-bit depth.
    flags = cv2.IMREAD_COLOR if data.startswith(_JPEG_MAGIC) else cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(buffer, flags)
    except cv2.error:  # OpenCV's own pixel cap, for a format image_size() does not parse
        raise MediaError(
            "cannot decode image (too large or damaged)", path=path, hint=_FIX_TOO_LARGE
        ) from None
    if image is None or image.size == 0:
        raise MediaError(
            "cannot decode image (corrupt or unsupported format)",
            path=path,
            hint="re-export it as JPEG or PNG",
        )
    return to_bgr8(image)


def check_pixels(path: str | Path, width: int, height: int, *, limit: int, what: str) -> None:
    """MediaError naming the file when ``width x height`` is above ``limit`` pixels (or not positive)."""
    if width <= 0 or height <= 0:
        raise MediaError(f"{what} header says {width}x{height} pixels", path=path, hint="re-export the file")
    if width * height > limit:
        raise MediaError(
            f"{what} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels), more than the "
            f"{limit / 1e6:.0f} megapixels reidkit decodes",
            path=path,
            hint=_FIX_TOO_LARGE,
        )


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from the header of a PNG, JPEG, BMP, GIF, WebP, TIFF or PNM file, else None.

    Reads only the header bytes, so it is safe on any file; None means the format is not one of these
    (or the header is damaged) and the decoder's own checks apply.
    """
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return int(width), int(height)
        if data.startswith(_JPEG_MAGIC):
            return _jpeg_size(data)
        if data.startswith(b"BM"):
            return _bmp_size(data)
        if data.startswith((b"GIF87a", b"GIF89a")):
            width, height = struct.unpack("<HH", data[6:10])
            return int(width), int(height)
        if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
            return _webp_size(data)
        if data.startswith((b"II*\x00", b"MM\x00*")):
            return _tiff_size(data)
        if len(data) > 2 and data[0] == ord("P") and data[1] in b"123456":
            return _pnm_size(data)
    except (struct.error, IndexError, ValueError):
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        # Start-of-frame markers (C0-CF but C4 = DHT, C8 = JPG, CC = DAC) carry the size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return int(width), int(height)
        if marker == 0xDA:  # start of scan without a frame header: damaged
            return None
        offset += 2 + length
    return None


def _bmp_size(data: bytes) -> tuple[int, int]:
    (header_size,) = struct.unpack("<I", data[14:18])
    if header_size == 12:  # OS/2 BITMAPCOREHEADER
        width, height = struct.unpack("<HH", data[18:22])
    else:
        width, height = struct.unpack("<ii", data[18:26])
    return abs(int(width)), abs(int(height))  # negative height: rows stored top-down


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return int(width) & 0x3FFF, int(height) & 0x3FFF
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    order = "<" if data.startswith(b"II") else ">"
    (ifd,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    size: dict[int, int] = {}
    for entry in range(count):
        start = ifd + 2 + 12 * entry
        tag, kind = struct.unpack(order + "HH", data[start : start + 4])
        if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
            fmt = order + ("H" if kind == 3 else "I")
            (size[tag],) = struct.unpack_from(fmt, data, start + 8)
    return (size[256], size[257]) if len(size) == 2 else None


def _pnm_size(data: bytes) -> tuple[int, int] | None:
    tokens: list[int] = []
    for line in data[2:1024].splitlines():
        line = line.split(b"#")[0]
        tokens.extend(int(t) for t in line.split())
        if len(tokens) >= 2:
            return tokens[0], tokens[1]
    return None


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
    # Floating point (TIFF/EXR/HDR): taken as 0-1, unless most of it is past 1: then it was written as
    # 0-255 (converted TIFFs often are), and read as 0-1 it would be a white page.
    values = np.nan_to_num(image.astype(np.float32))
    scale = 255.0 if values.size and float(np.median(values)) > FLOAT_AS_BYTES else 1.0
    return np.rint(np.clip(values / scale, 0.0, 1.0) * 255.0).astype(np.uint8)


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
