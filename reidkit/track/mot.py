"""MOTChallenge text files: ``frame,id,x,y,w,h,conf,-1,-1,-1`` per line, frames 1-based.

Tracker results use exactly 10 columns (the last three are 3-D coordinates, unused: -1). Ground-truth
files use the same first six columns followed by ``flag,class,visibility``; detection files use
``-1`` as id. :func:`read_mot` reads all of these into a ``(N, 10)`` float array (missing trailing
columns are filled with -1); :func:`validate_mot_file` checks a tracker result file strictly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from reidkit.core.errors import ReidkitError
from reidkit.core.types import Tracks

# Column indices of the array returned by read_mot.
FRAME, ID, X, Y, W, H, CONF = range(7)
N_COLUMNS = 10


class MotFormatError(ReidkitError):
    """A MOTChallenge file is malformed."""


def tracks_to_mot(frame_index: int, tracks: Tracks) -> np.ndarray:
    """``(N, 10)`` rows for one frame of tracker output; ``frame_index`` is 0-based, rows are 1-based."""
    n = len(tracks)
    rows = np.full((n, N_COLUMNS), -1.0)
    if n:
        boxes = tracks.boxes.astype(np.float64)
        rows[:, FRAME] = frame_index + 1
        rows[:, ID] = tracks.track_ids
        rows[:, X] = boxes[:, 0]
        rows[:, Y] = boxes[:, 1]
        rows[:, W] = boxes[:, 2] - boxes[:, 0]
        rows[:, H] = boxes[:, 3] - boxes[:, 1]
        rows[:, CONF] = tracks.scores
    return rows


def write_mot(path: str | Path, rows: Iterable[Sequence[float]] | np.ndarray) -> int:
    """Write rows of ``frame,id,x,y,w,h,conf`` (7 values, padded with -1) or all 10 values.

    Rows are sorted by (frame, id). Returns the number of rows written.
    """
    table = np.asarray(list(rows) if not isinstance(rows, np.ndarray) else rows, dtype=np.float64)
    if table.size == 0:
        table = table.reshape(0, N_COLUMNS)
    if table.ndim != 2 or table.shape[1] not in (7, N_COLUMNS):
        raise ValueError(f"MOT rows need 7 or 10 values each, got shape {table.shape}")
    if table.shape[1] == 7:
        table = np.hstack([table, np.full((len(table), 3), -1.0)])
    table = table[np.lexsort((table[:, ID], table[:, FRAME]))]
    lines = [
        f"{int(r[FRAME])},{int(r[ID])},{r[X]:.2f},{r[Y]:.2f},{r[W]:.2f},{r[H]:.2f},{r[CONF]:.4g},"
        f"{_num(r[7])},{_num(r[8])},{_num(r[9])}\n"
        for r in table
    ]
    path = Path(path)
    path.write_text("".join(lines))
    return len(lines)


def read_mot(path: str | Path) -> np.ndarray:
    """Read a MOTChallenge result, ground-truth or detection file -> ``(N, 10)`` float64 array."""
    path = Path(path)
    if not path.is_file():
        raise MotFormatError("file not found", path=path, hint="pass a MOTChallenge .txt file")
    rows: list[list[float]] = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = _split(line)
        if len(fields) < 7 or len(fields) > N_COLUMNS:
            raise MotFormatError(
                f"line {lineno} has {len(fields)} columns, expected 7 to 10",
                path=path,
                hint="the format is frame,id,x,y,w,h,conf,-1,-1,-1",
            )
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise MotFormatError(f"line {lineno} is not all numbers: {line.strip()!r}", path=path) from None
        rows.append(values + [-1.0] * (N_COLUMNS - len(values)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, N_COLUMNS)


def validate_mot_file(path: str | Path) -> int:
    """Check a tracker result file strictly; returns the row count or raises :class:`MotFormatError`.

    Checks: exactly 10 numeric columns per line, integer frames >= 1, integer ids >= 1, positive width
    and height, and no (frame, id) pair twice.
    """
    path = Path(path)
    if not path.is_file():
        raise MotFormatError("file not found", path=path, hint="pass a MOTChallenge .txt file")
    seen: dict[tuple[int, int], int] = {}
    count = 0
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = _split(line)
        where = f"line {lineno}"
        if len(fields) != N_COLUMNS:
            raise MotFormatError(
                f"{where} has {len(fields)} columns, expected 10 (frame,id,x,y,w,h,conf,-1,-1,-1)", path=path
            )
        try:
            values = [float(v) for v in fields]
        except ValueError:
            raise MotFormatError(f"{where} is not all numbers: {line.strip()!r}", path=path) from None
        if not all(np.isfinite(values)):
            raise MotFormatError(f"{where} has a non-finite number", path=path)
        frame, track_id, _, _, w, h = values[:6]
        if frame != int(frame) or frame < 1:
            raise MotFormatError(f"{where}: frame {fields[0]} must be an integer >= 1 (1-based)", path=path)
        if track_id != int(track_id) or track_id < 1:
            raise MotFormatError(f"{where}: id {fields[1]} must be an integer >= 1", path=path)
        if w <= 0 or h <= 0:
            raise MotFormatError(f"{where}: width and height must be positive, got {w:g}x{h:g}", path=path)
        key = (int(frame), int(track_id))
        if key in seen:
            raise MotFormatError(
                f"{where}: frame {key[0]} id {key[1]} already appears on line {seen[key]}", path=path
            )
        seen[key] = lineno
        count += 1
    return count


def mot_to_boxes(rows: np.ndarray) -> np.ndarray:
    """``x,y,w,h`` columns of MOT rows -> ``(N, 4)`` float32 xyxy boxes."""
    xywh = rows[:, X : H + 1]
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1).astype(np.float32)


def _split(line: str) -> list[str]:
    return [f.strip() for f in line.strip().rstrip(",").split(",")]


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
