"""Names drawn on video frames in any script: "Иван", "李雷" and "Zoë" as typed, not "????".

OpenCV's built-in (Hershey) fonts draw printable ASCII only. So a label is drawn with a TrueType font
of this computer (Pillow): the first of ``$REIDKIT_FONT`` (a ``.ttf``/``.otf``/``.ttc`` file a user
names) and :data:`FONT_CANDIDATES` that has a glyph for every letter of the label. Where none has, the
label is folded to ASCII and drawn with OpenCV's font (:func:`drawable`: accents dropped, any other
letter as "?"), so a frame always gets a readable label and a run never stops over a name.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from reidkit.core.log import get_logger

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

log = get_logger(__name__)

FONT_ENV = "REIDKIT_FONT"
# Widest coverage first: Noto CJK and the system fonts of macOS and Windows hold Latin, Greek, Cyrillic
# and CJK; DejaVu (Debian's default, also bundled with matplotlib) holds Latin, Greek, Cyrillic,
# Armenian, Georgian, Hebrew and Arabic.
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Supplemental/Arial Unicode.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:/Windows/Fonts/msyh.ttc",
    "C:/Windows/Fonts/segoeui.ttf",
    "C:/Windows/Fonts/arial.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
)
LABEL_PIXELS = 14  # the label's font size: as tall as OpenCV's Hershey font at scale 0.5
# A code point no font draws (plane 16's private use area): its glyph is the font's "missing" box.
_UNDRAWN = "\U0010fffd"

# Letters NFKD does not split into a base letter and an accent.
_LATIN = str.maketrans({"ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
                        "đ": "d", "Đ": "D", "ł": "l", "Ł": "L", "þ": "th", "Þ": "Th", "ı": "i"})  # fmt: skip


def drawable(text: str) -> str:
    """``text`` as OpenCV's Hershey font can draw it (printable ASCII): accents dropped ("Zoë" -> "Zoe"),
    any other character as "?" (the font has no glyph for it)."""
    folded = unicodedata.normalize("NFKD", text.translate(_LATIN))
    return "".join(c if " " <= c <= "~" else "?" for c in folded if not unicodedata.combining(c))


def font_files() -> list[Path]:
    """The TrueType fonts a label may be drawn with, in order of preference, that exist here."""
    named = os.environ.get(FONT_ENV, "")
    candidates = [Path(named)] if named else []
    candidates += [Path(p) for p in FONT_CANDIDATES]
    spec = importlib.util.find_spec("matplotlib")  # found, not imported
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    return [p for p in candidates if p.is_file()]


@functools.lru_cache(maxsize=1)
def _fonts() -> tuple[FreeTypeFont, ...]:
    from PIL import ImageFont

    fonts = []
    for path in font_files():
        try:
            fonts.append(ImageFont.truetype(str(path), LABEL_PIXELS))
        except OSError as exc:
            if os.environ.get(FONT_ENV) == str(path):
                log.warning(
                    "%s=%s is not a font this computer can read (%s): set it to a .ttf, .otf or .ttc file",
                    FONT_ENV,
                    path,
                    exc,
                )
    return tuple(fonts)


@functools.lru_cache(maxsize=4096)  # labels repeat on every frame
def _has_glyph(font: FreeTypeFont, char: str) -> bool:
    if char.isspace() or unicodedata.category(char).startswith("C"):
        return True
    mask, missing = font.getmask(char), font.getmask(_UNDRAWN)
    return (mask.size, bytes(mask)) != (missing.size, bytes(missing))


def _has_glyphs(font: FreeTypeFont, text: str) -> bool:
    return all(_has_glyph(font, char) for char in text)


def font_for(text: str) -> FreeTypeFont | None:
    """The first font here that draws every letter of ``text``; None when none has them all."""
    return next((font for font in _fonts() if _has_glyphs(font, text)), None)


def draw_label(image: np.ndarray, text: str, corner: tuple[int, int], colour: tuple[int, int, int]) -> None:
    """``text`` in black on a tab of ``colour`` whose bottom-left corner is ``corner`` (BGR ``image``, in
    place); the tab is clipped to the image."""
    import cv2

    font = font_for(text)
    x, bottom = corner
    if font is None:
        label = drawable(text)
        (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        top = max(0, bottom - h - 6)
        cv2.rectangle(image, (x, top), (x + w + 6, top + h + 6), colour, -1)
        cv2.putText(image, label, (x + 3, top + h + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
        return
    from PIL import Image, ImageDraw

    ascent, descent = font.getmetrics()  # the tab's height is the font's, whatever the letters
    left, _, right, _ = (round(v) for v in font.getbbox(text))
    width, h = right - left + 6, ascent + descent + 4
    tab = Image.new("RGB", (width, h), (colour[2], colour[1], colour[0]))
    ImageDraw.Draw(tab).text((3 - left, 2), text, font=font, fill=(0, 0, 0))
    top, x = max(0, bottom - h), max(0, x)
    rows, cols = image.shape[0] - top, image.shape[1] - x
    if rows <= 0 or cols <= 0:
        return
    pixels = np.asarray(tab)[:rows, :cols, ::-1]
    image[top : top + pixels.shape[0], x : x + pixels.shape[1]] = pixels
