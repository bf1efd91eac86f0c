"""Exported video: the person's boxes and, where the video says when it was recorded, the clock."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from reidkit.app.video import Overlay, write_mp4
from tests.index.test_indexer import BACKGROUND, write_scene


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]


def corner(frame: np.ndarray) -> np.ndarray:
    """The bottom-left corner, where the clock is drawn."""
    return frame[-40:, :160].astype(int)


def test_the_clock_is_drawn_on_every_frame_and_nothing_else_changes(tmp_path: Path) -> None:
    source = write_scene(tmp_path / "walk.mp4", n_frames=12)
    plain = frames_of(write_mp4(source, tmp_path / "plain.mp4", 10.0))
    shown: list[int] = []

    def caption(index: int) -> str:
        shown.append(index)
        return f"2023-11-15 00:13:{20 + index // 10:02d}"

    overlay = Overlay({3: [(10.0, 20.0, 40.0, 100.0, "Red")]})
    stamped = frames_of(write_mp4(source, tmp_path / "clock.mp4", 10.0, overlay=overlay, caption=caption))
    assert shown == list(range(12)) and len(stamped) == len(plain) == 12
    for index, (before, after) in enumerate(zip(plain, stamped, strict=True)):
        assert np.abs(corner(before) - BACKGROUND).max() < 30  # the scene's grey floor there
        tab = corner(after)
        assert (tab.max(axis=2) < 60).mean() > 0.3 and (tab.min(axis=2) > 200).sum() > 20  # dark, white text
        if index != 3:  # away from the clock, the frame as it was
            assert np.abs(after[:150].astype(int) - before[:150]).mean() < 3
    assert np.abs(stamped[3][20:100, 10:40].astype(int) - plain[3][20:100, 10:40]).max() > 100  # the box


def _drawn(label: str) -> np.ndarray:
    from reidkit.app.video import draw_box

    image = np.zeros((120, 200, 3), np.uint8)
    draw_box(image, (20.0, 40.0, 120.0, 110.0), label)
    return image


def test_names_in_any_script_are_drawn_as_typed_where_a_font_has_their_letters() -> None:
    from reidkit.app.text import font_for

    if font_for("Иван 李雷") is None and font_for("Иван") is None:
        pytest.skip("no TrueType font with Cyrillic letters on this computer (set REIDKIT_FONT)")
    ivan, petr = _drawn("Иван 0.81"), _drawn("Петр 0.81")
    assert not np.array_equal(ivan, petr)  # as "???? 0.81" both would be the same picture
    tab = ivan[:40, 20:120]
    assert (tab == (40, 220, 255)).all(axis=2).sum() > 200 and (
        tab.max(axis=2) < 60
    ).sum() > 30  # amber, black
    assert not np.array_equal(_drawn("Zoë 0.81"), _drawn("Zoe 0.81"))  # the accent is drawn too


def test_names_no_font_here_can_draw_are_folded_to_ascii(monkeypatch: pytest.MonkeyPatch) -> None:
    import reidkit.app.text as text

    assert text.drawable("José Müller-Łukasz, Søren, Straße") == "Jose Muller-Lukasz, Soren, Strasse"
    assert text.drawable("李雷 (0.81)") == "?? (0.81)"
    monkeypatch.setattr(text, "_fonts", lambda: ())
    assert np.array_equal(_drawn("李雷 0.81"), _drawn("?? 0.81"))
    assert np.array_equal(_drawn("Zoë 0.81"), _drawn("Zoe 0.81"))
    assert not np.array_equal(_drawn("Zoë 0.81"), _drawn("Zo? 0.81"))


def test_a_label_at_the_frame_edge_is_clipped_not_an_error() -> None:
    from reidkit.app.video import draw_box

    image = np.zeros((30, 40, 3), np.uint8)
    draw_box(image, (-15.0, 2.0, 35.0, 28.0), "Иван Петрович 0.81")
    draw_box(image, (38.0, 0.0, 60.0, 29.0), "李雷")
    assert image.any()


def test_a_wrong_font_file_is_named_once_and_labels_still_drawn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import reidkit.app.text as text

    bad = tmp_path / "font.ttf"
    bad.write_bytes(b"not a font")
    monkeypatch.setenv(text.FONT_ENV, str(bad))
    text._fonts.cache_clear()
    try:
        with caplog.at_level("WARNING"):
            image = _drawn("Zoë 0.81")
        assert image.any()
        assert any(str(bad) in r.getMessage() and text.FONT_ENV in r.getMessage() for r in caplog.records)
    finally:
        text._fonts.cache_clear()
