"""``reidkit watch``: record a camera into a library, indexing each segment as soon as it is finished."""

from __future__ import annotations

from pathlib import Path

import typer

from reidkit.cli.options import detector_option, model_option, stride_option


def register(app: typer.Typer) -> None:
    @app.command("watch")
    def watch_command(
        source: str = typer.Argument(
            ...,
            help="rtsp:// or http(s):// URL, a device number (0: the first webcam), or a video file "
            "(played once, as if live).",
            metavar="CAMERA",
        ),
        library: Path = typer.Option(..., "--library", "-l", help="Library folder (created if missing)."),
        name: str = typer.Option(
            "camera", "--name", "-n", help="The camera's name (its segments' file names)."
        ),
        segment_seconds: float = typer.Option(
            60.0,
            "--segment-seconds",
            min=1.0,
            help="Length of each recorded segment; each is searchable when done.",
        ),
        model: str = model_option(),
        detector: str = detector_option(),
        stride: int = stride_option(),
        keep_hours: float | None = typer.Option(
            None,
            "--keep-hours",
            min=0.01,
            help="Remove this camera's segments older than this from the library and the disk (default: keep all).",
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No line per segment."),
    ) -> None:
        """Record a camera into the library's cameras/ folder and index each segment when it is finished.

        Runs until the camera is gone for good (after 5 failed reconnections), a video file given as the
        camera ends, or Ctrl-C (the segment being recorded is closed and indexed first).
        """
        from reidkit.index.camera import camera_folder, index_camera
        from reidkit.index.indexer import FileReport, IndexOptions
        from reidkit.media.camera import describe_source, parse_source

        def show(f: FileReport) -> None:
            if quiet:
                return
            if f.status == "failed":
                typer.echo(f"skipped: {f.message}", err=True)
            else:
                count = f"{f.tracklets} tracklet{'' if f.tracklets == 1 else 's'}"
                typer.echo(f"{Path(f.path).name}: {count}, {f.duration:.1f} s of video")

        parse_source(source)  # a source that is no camera fails before the models load
        if not quiet:
            typer.echo(
                f"recording {describe_source(source)} into {camera_folder(library, name)} "
                f"({segment_seconds:g} s segments); Ctrl-C stops"
            )
        report = index_camera(
            source,
            library,
            name=name,
            segment_seconds=segment_seconds,
            detector=detector,
            model=model,
            stride=stride,
            options=IndexOptions(progress=False),
            on_file=show,
            keep_hours=keep_hours,
        )
        tracklets = sum(f.tracklets for f in report.indexed)
        typer.echo(f"{len(report.indexed)} segments indexed ({tracklets} tracklets) — library {library}")
