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
        max_frames: int = typer.Option(
            0, "--max-frames", min=0, help="Only the first N frames of the video (0 = all)."
        ),
        buffer: int = typer.Option(
            30, "--buffer", min=0, help="Frames a lost track is kept for re-activation."
        ),
        min_hits: int = typer.Option(2, "--min-hits", min=1, help="Matches before a new track is reported."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Track people through a video; one line per person per processed frame (frames 1-based).

        Lines are ``frame,id,x,y,w,h,score,-1,-1,-1`` (MOTChallenge), in pixels of the video.
        """
        import sys

        import numpy as np

        from reidkit.core.errors import ReidkitError
        from reidkit.track import TrackerConfig, write_mot
        from reidkit.track.video import build_tracking_detector, track_media

        # Fail before the long part: a folder to track, an output path that cannot be written.
        if video.is_dir():
            raise ReidkitError(
                "is a folder, not a video or image",
                path=video,
                hint="pass one video or image file (`reidkit index FOLDER --library LIB` takes folders)",
            )
        if out.is_dir():
            raise ReidkitError(
                "--out is a folder, not a file",
                path=out,
                hint=f"pass a file path, e.g. --out {out / (video.stem + '.txt')}",
            )
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.touch()
        except OSError as exc:
            raise ReidkitError(
                f"cannot write ({exc.strerror})", path=out, hint="pass another --out path"
            ) from None
        config = TrackerConfig.for_detector(detector, buffer=buffer, min_hits=min_hits)
        det = build_tracking_detector(detector, config)
        rows = track_media(
            video,
            det,
            config,
            stride=stride,
            max_frames=max_frames or None,
            progress=not quiet and sys.stderr.isatty(),
        )
        n = write_mot(out, rows)
        ids = len(np.unique(rows[:, 1])) if n else 0
        typer.echo(f"{out}: {n} rows, {ids} tracks", err=True)
