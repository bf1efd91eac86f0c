from __future__ import annotations

import numpy as np
import pytest

from reidkit.core.errors import ReidkitError
from reidkit.core.types import Tracks
from reidkit.track import MotFormatError, read_mot, tracks_to_mot, validate_mot_file, write_mot


def test_round_trip(tmp_path):
    t = Tracks(
        np.array([[10, 20, 50, 120], [1.5, 2.25, 11.5, 30]], np.float32),
        np.array([0.9, 0.42], np.float32),
        np.array([2, 1], np.int64),
    )
    rows = np.vstack([tracks_to_mot(4, t), tracks_to_mot(0, t)])
    path = tmp_path / "t.txt"
    assert write_mot(path, rows) == 4
    assert validate_mot_file(path) == 4
    back = read_mot(path)
    assert back.shape == (4, 10)
    assert back[:, :2].tolist() == [[1, 1], [1, 2], [5, 1], [5, 2]]  # sorted, 1-based
    np.testing.assert_allclose(back[0, 2:7], [1.5, 2.25, 10, 27.75, 0.42], atol=1e-2)
    assert back[:, 7:].tolist() == [[-1, -1, -1]] * 4
    assert path.read_text().splitlines()[2] == "5,1,1.50,2.25,10.00,27.75,0.42,-1,-1,-1"


def test_write_seven_columns_and_empty(tmp_path):
    write_mot(tmp_path / "a.txt", [(1, 1, 0, 0, 5, 5, 1.0)])
    assert read_mot(tmp_path / "a.txt")[0].tolist() == [1, 1, 0, 0, 5, 5, 1, -1, -1, -1]
    write_mot(tmp_path / "e.txt", [])
    assert read_mot(tmp_path / "e.txt").shape == (0, 10)
    assert validate_mot_file(tmp_path / "e.txt") == 0


def test_read_gt_and_det_layouts(tmp_path):
    (tmp_path / "gt.txt").write_text("1,1,912,484,97,109,0,7,1.0\n")
    (tmp_path / "det.txt").write_text("69,-1,912.8,482.9,97.6,112.6,1\n")
    assert read_mot(tmp_path / "gt.txt")[0, 7:].tolist() == [7, 1, -1]
    assert read_mot(tmp_path / "det.txt")[0, 1] == -1


@pytest.mark.parametrize(
    "line, message",
    [
        ("1,1,0,0,5,5,1,-1,-1", "columns"),
        ("1,1,0,0,5,5,1,-1,-1,-1,7", "columns"),
        ("1,1,a,0,5,5,1,-1,-1,-1", "numbers"),
        ("1,1,0,0,0,5,1,-1,-1,-1", "positive"),
        ("1,1,0,0,5,-2,1,-1,-1,-1", "positive"),
        ("0,1,0,0,5,5,1,-1,-1,-1", "1-based"),
        ("1.5,1,0,0,5,5,1,-1,-1,-1", "integer"),
        ("1,-1,0,0,5,5,1,-1,-1,-1", "id"),
        ("1,1,nan,0,5,5,1,-1,-1,-1", "non-finite"),
    ],
)
def test_validator_rejects(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text("1,2,0,0,5,5,1,-1,-1,-1\n" + line + "\n")
    with pytest.raises(MotFormatError, match=message) as info:
        validate_mot_file(path)
    assert "line 2" in str(info.value) and str(path) in str(info.value)
    assert isinstance(info.value, ReidkitError)


def test_validator_rejects_duplicate_frame_id(tmp_path):
    path = tmp_path / "dup.txt"
    path.write_text("3,1,0,0,5,5,1,-1,-1,-1\n3,2,0,0,5,5,1,-1,-1,-1\n3,1,9,9,5,5,1,-1,-1,-1\n")
    with pytest.raises(MotFormatError, match="line 3: frame 3 id 1 already appears on line 1"):
        validate_mot_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(MotFormatError, match="not found"):
        read_mot(tmp_path / "nope.txt")
    with pytest.raises(MotFormatError, match="not found"):
        validate_mot_file(tmp_path / "nope.txt")
