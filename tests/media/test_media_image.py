import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from reidkit.core.errors import MediaError
from reidkit.media import open_media, read_image
from reidkit.media.image import MAX_IMAGE_PIXELS, image_size
from tests.synthetic import decompression_bomb_png, png_chunk


def _write(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), image)
    return path


def test_gray_becomes_three_channels(tmp_path: Path) -> None:
    gray = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    out = read_image(_write(tmp_path / "g.png", gray))
    assert out.shape == (12, 10, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, 0], gray) and np.array_equal(out[:, :, 2], gray)


def test_sixteen_bit_png_and_tiff_scale_by_full_range(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32896, 65535]], np.uint16)
    expected = np.array([[0, 1, 128, 255]], np.uint8)
    for suffix in (".png", ".tif"):
        out = read_image(_write(tmp_path / f"d{suffix}", np.dstack([values] * 3)))
        assert out.dtype == np.uint8
        assert np.array_equal(out[:, :, 1], expected), suffix
        gray = read_image(_write(tmp_path / f"g{suffix}", values))
        assert np.array_equal(gray[:, :, 0], expected), suffix


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[0, 0] = (255, 0, 0, 255)  # opaque blue
    bgra[0, 1] = (0, 0, 255, 0)  # transparent red -> white
    bgra[1, 0] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    out = read_image(_write(tmp_path / "a.png", bgra))
    assert out.shape == (2, 2, 3)
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 1]) == (255, 255, 255)
    assert 120 <= out[1, 0, 0] <= 135


def test_palette_png(tmp_path: Path) -> None:
    import zlib

    # 2x1 palette image: index 0 = pure red, index 1 = pure green.
    header = struct.pack(">IIBBBBB", 2, 1, 8, 3, 0, 0, 0)
    raw = zlib.compress(b"\x00\x00\x01")
    png = (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0]))
        + png_chunk(b"IDAT", raw)
        + png_chunk(b"IEND", b"")
    )
    path = tmp_path / "p.png"
    path.write_bytes(png)
    out = read_image(path)
    assert out.shape == (1, 2, 3)
    assert tuple(out[0, 0]) == (0, 0, 255) and tuple(out[0, 1]) == (0, 255, 0)


def _with_exif_orientation(jpeg: bytes, orientation: int) -> bytes:
    # Minimal APP1 Exif segment: big-endian TIFF header, one IFD entry (0x0112 Orientation, SHORT).
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + app1 + jpeg[2:]


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, :40] = 255  # left half white
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    path = tmp_path / "rotated.jpg"
    path.write_bytes(_with_exif_orientation(encoded.tobytes(), 6))  # 6 = rotate 90° clockwise
    out = read_image(path)
    assert out.shape == (80, 40, 3)
    assert out[:40].mean() > 200 and out[40:].mean() < 50  # the white half is now on top


def test_bad_images_raise_one_line_media_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not a png at all")
    for path, message in [(tmp_path / "missing.jpg", "no such file"), (empty, "empty"), (garbage, "decode")]:
        with pytest.raises(MediaError, match=message) as info:
            read_image(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(MediaError, match="decode"):
        open_media(garbage)


def test_image_as_media_source(tmp_path: Path) -> None:
    image = np.full((30, 20, 3), 7, np.uint8)
    source = open_media(_write(tmp_path / "x.png", image))
    assert (source.kind, source.width, source.height, source.frame_count) == ("image", 20, 30, 1)
    assert source.fps == 0.0 and source.duration == 0.0
    for _ in range(2):  # frames() can be called again
        frames = list(source.frames())
        assert len(frames) == 1 and frames[0].index == 0 and frames[0].time == 0.0
        assert np.array_equal(frames[0].image, image)


def test_decompression_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(decompression_bomb_png(40000, 40000))
    with pytest.raises(MediaError, match="40000x40000 pixels") as info:
        read_image(bomb)
    assert str(bomb) in str(info.value) and "downscale" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(MediaError, match="megapixels"):
        open_media(bomb)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif", ".webp", ".ppm", ".pgm"])
def test_image_size_reads_the_header_of_every_format(suffix: str) -> None:
    image = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    if suffix == ".pgm":
        image = image[:, :, 0]
    ok, encoded = cv2.imencode(suffix, image)
    assert ok
    assert image_size(encoded.tobytes()) == (53, 37)
    assert image_size(encoded.tobytes()[:6]) is None  # a damaged header: the decoder decides


def test_cap_leaves_large_real_photos_alone() -> None:
    assert MAX_IMAGE_PIXELS >= 16320 * 12240  # a 200 MP phone sensor


def test_cmyk_jpeg_and_tiff_come_out_bgr(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image")
    rgb = np.zeros((20, 30, 3), np.uint8)
    rgb[:, :15] = (255, 0, 0)  # left half red
    for suffix in (".jpg", ".tif"):
        path = tmp_path / f"cmyk{suffix}"
        pil.fromarray(rgb).convert("CMYK").save(path)
        out = read_image(path)
        assert out.shape == (20, 30, 3), suffix
        assert out[:, :15, 2].mean() > 200 and out[:, :15, 0].mean() < 60, suffix  # red, in BGR
        assert out[:, 15:].mean() < 60, suffix


def test_float_tiffs_in_zero_to_one_and_in_zero_to_255_both_read_right(tmp_path: Path) -> None:
    picture = np.zeros((40, 30, 3), np.float32)
    picture[:, :15] = 0.25  # a dark left half, a bright right half
    picture[:, 15:] = 0.75
    hdr = picture.copy()
    hdr[0, 0] = 40.0  # a highlight past 1, as HDR images have: still read as 0-1
    for name, values, expected in (
        ("unit.tiff", picture, (64, 191)),
        ("bytes.tiff", picture * 255.0, (64, 191)),  # a converter's 0-255 floats: not a white page
        ("hdr.tiff", hdr, (64, 191)),
    ):
        assert cv2.imwrite(str(tmp_path / name), values)
        image = read_image(tmp_path / name)
        assert (int(image[20, 5, 0]), int(image[20, 25, 0])) == expected, name
