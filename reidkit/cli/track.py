"""``reidkit track VIDEO --out tracks.txt``: detect and track people, write MOTChallenge rows."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("track")
    def track_command(
        video: Path = typer.Argument(..., help="Video file (or image) to track people in."),
        out: Path = typer.Option(..., "--out", "-o", help="MOTChallenge text file to write."),
        detector: str = typer.Option("yolox-nano", "--detector", help="Detector name or .onnx path."),
        stride: int = typer.Option(1, "--stride", min=1, help="Process every Nth frame."),
        buffer: int = typer.Option(
            30, "--buffer", min=0, help="Frames a lost track is kept for re-activation."
        ),
        min_hits: int = typer.Option(2, "--min-hits", min=1, help="Matches before a new track is reported."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Track people through a video; one line per person per processed frame (frames 1-based)."""
        import sys

        import numpy as np
        from tqdm import tqdm

        from reidkit.detect import build_detector
        from reidkit.media import open_media
        from reidkit.track import ByteTracker, TrackerConfig, tracks_to_mot, write_mot

        config = TrackerConfig(buffer=buffer, min_hits=min_hits)
        source = open_media(video)
        # ByteTrack uses low-score detections too, so the detector must not drop them.
        det = build_detector(detector, conf=config.track_low)
        tracker = ByteTracker(config)
        rows = []
        total = (source.frame_count + stride - 1) // stride if source.frame_count else None
        progress = tqdm(
            source.frames(stride), total=total, unit="frame", disable=quiet or not sys.stderr.isatty()
        )
        for frame in progress:
            tracks = tracker.update(det.detect(frame.image), frame.index)
            rows.append(tracks_to_mot(frame.index, tracks))
        table = np.concatenate(rows) if rows else np.zeros((0, 10))
        out.parent.mkdir(parents=True, exist_ok=True)
        n = write_mot(out, table)
        ids = len(np.unique(table[:, 1])) if n else 0
        typer.echo(f"{out}: {n} rows, {ids} tracks", err=True)
