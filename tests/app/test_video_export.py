"""Exported video: the person's boxes and, where the video says when it was recorded, the clock."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

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


def test_names_are_drawn_with_their_accents_folded_and_other_letters_as_question_marks() -> None:
    from reidkit.app.video import draw_box, drawable

    assert drawable("José Müller-Łukasz, Søren, Straße") == "Jose Muller-Lukasz, Soren, Strasse"
    assert drawable("李雷 (0.81)") == "?? (0.81)"

    def drawn(label: str) -> np.ndarray:
        image = np.zeros((120, 200, 3), np.uint8)
        draw_box(image, (20.0, 40.0, 120.0, 110.0), label)
        return image

    assert np.array_equal(drawn("Zoë 0.81"), drawn("Zoe 0.81"))
    assert not np.array_equal(drawn("Zoë 0.81"), drawn("Zo? 0.81"))
