"""``reidkit index``: add videos and images to a library (detect, track, embed, index)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from reidkit.cli.options import detector_option, model_option, stride_option


def register(app: typer.Typer) -> None:
    @app.command("index")
    def index_command(
        paths: list[Path] = typer.Argument(
            ..., help="Videos, images or folders of them.", metavar="VIDEO_OR_FOLDER..."
        ),
        library: Path = typer.Option(..., "--library", "-l", help="Library folder (created if missing)."),
        model: str = model_option(),
        detector: str = detector_option(),
        detector_side: int | None = typer.Option(
            None,
            "--detector-side",
            min=64,
            help="Longest side of the detector input, frames keep their aspect (default 640); "
            "960 finds smaller people in HD footage at ~2x the detector time.",
        ),
        stride: int = stride_option(),
        crops: int = typer.Option(8, "--crops", min=1, help="Crops embedded per tracklet."),
        index: str = typer.Option(
            "auto",
            "--index",
            help="Search index of a NEW library: auto (exact, then IVF past 65k tracklets), Flat (always "
            "exact), or a Faiss factory string such as IVF1024,Flat or HNSW32.",
        ),
        nprobe: int | None = typer.Option(
            None,
            "--nprobe",
            min=1,
            help="IVF lists searched per query, stored in the library (default: a quarter of the lists).",
        ),
        ef_search: int | None = typer.Option(
            None, "--ef-search", min=1, help="HNSW efSearch, stored in the library (default 64)."
        ),
        prefetch: int | None = typer.Option(
            None,
            "--prefetch",
            min=0,
            help="Decode this many frames ahead in a thread (0: inline; default 4).",
        ),
        ray: str | None = typer.Option(
            None,
            "--ray",
            metavar="local|auto|HOST:PORT",
            help="Analyse files in parallel on Ray workers: 'local' (this machine), or a running "
            "cluster: HOST:PORT as `ray start --head` prints it, 'auto' (the one started on this "
            "machine) or ray://HOST:10001 (Ray Client). Media must be at the same path on every node.",
        ),
        ray_resources: str | None = typer.Option(
            None,
            "--ray-resources",
            metavar="JSON",
            help="Ray resources each worker reserves besides --ray-cpus, e.g. '{\"reid\": 1}': workers run "
            "only on the nodes started with them (ray start --resources); also GPU and memory (bytes).",
        ),
        ray_cpus: float = typer.Option(
            1.0, "--ray-cpus", min=0.1, help="CPUs each Ray worker reserves (its onnxruntime threads)."
        ),
        workers: int | None = typer.Option(
            None, "--workers", min=1, help="Ray workers (default: the cluster's CPUs / --ray-cpus)."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar and no per-file lines."),
    ) -> None:
        """Index media into a library; files already there (same content) are skipped.

        Unreadable files and folders are skipped with a one-line reason on stderr; the others are still
        indexed. A video damaged part-way is indexed where it decodes ("partly", with the frames lost).
        Exits 1 when something was skipped or lost that way, 2 when nothing could be read.
        """
        from reidkit.core.errors import ReidkitError
        from reidkit.embed.crops import CropSamplerConfig
        from reidkit.index.indexer import FileReport, IndexOptions, index_media

        if ray_resources is not None and ray is None:
            raise ReidkitError(
                "--ray-resources places Ray workers — give --ray too (local or the cluster's HOST:PORT)"
            )
        per_worker = None if ray_resources is None else _parse_resources(ray_resources)

        options = IndexOptions(
            crops=CropSamplerConfig(k=crops, bins=max(16, 2 * crops)), progress=False if quiet else None
        )
        if prefetch is not None:
            options.prefetch = prefetch
        options.detect_input_side = detector_side
        shown: list[FileReport] = []
        done: list[FileReport] = []  # every file finished so far, for the line an interrupt prints

        def show(f: FileReport) -> None:
            done.append(f)
            if quiet:
                return
            if not shown:  # after the models loaded: a model error prints no empty table
                typer.echo(
                    f"{'file':40s} {'status':8s} {'tracklets':>9s} {'frames':>7s} {'video s':>8s} "
                    f"{'wall s':>7s} {'x realtime':>10s}"
                )
            shown.append(f)
            name = Path(f.path).name
            name = name if len(name) <= 40 else "…" + name[-39:]
            if f.status == "indexed":
                rt = f"{f.realtime_factor:10.1f}" if f.kind == "video" else f"{'-':>10s}"
                status = "partly" if f.lost_frames else f.status
                typer.echo(
                    f"{name:40s} {status:8s} {f.tracklets:9d} {f.frames_processed:7d} {f.duration:8.1f} {f.wall:7.2f} {rt}"
                )
            elif f.status == "skipped":
                typer.echo(f"{name:40s} {'present':8s} {f.message}")
            else:
                typer.echo(f"{name:40s} {'skipped':8s} cannot be read (see below)")

        common: dict[str, Any] = dict(
            detector=detector,
            model=model,
            stride=stride,
            options=options,
            index=index,
            nprobe=nprobe,
            ef_search=ef_search,
            on_file=show,
        )
        try:
            if ray is None:
                report = index_media(paths, library, **common)
            else:
                from reidkit.index.distributed import index_media_ray

                report = index_media_ray(
                    paths,
                    library,
                    address=ray,
                    workers=workers,
                    num_cpus_per_worker=ray_cpus,
                    resources_per_worker=per_worker,
                    **common,
                )
        except KeyboardInterrupt:
            # Each file is committed whole, so what was indexed is kept and a re-run skips it.
            indexed_files = sum(f.status == "indexed" for f in done)
            typer.echo(
                f"interrupted: {indexed_files} file{'s' if indexed_files != 1 else ''} indexed; "
                "run the same command again to index the rest",
                err=True,
            )
            raise SystemExit(130) from None
        indexed, skipped, failed = report.indexed, report.skipped, report.failed
        if failed and not indexed and not skipped:
            # Nothing usable: the same one-line errors as every other command, exit 2.
            for f in failed:
                typer.echo(f"error: {f.message}", err=True)
            raise SystemExit(2)
        tracklets = sum(f.tracklets for f in indexed)
        partly = [f for f in indexed if f.lost_frames]
        typer.echo(
            f"{len(indexed)} indexed ({tracklets} tracklets{f', {len(partly)} partly' if partly else ''}), "
            f"{len(skipped)} already in the library, {len(failed)} unreadable — library {library} "
            f"(model {report.model})"
        )
        for f in partly:
            typer.echo(
                f"indexed, partly: {f.message}; the rest is indexed — re-copy the file to index all of it",
                err=True,
            )
        for f in failed:
            typer.echo(f"skipped: {f.message}", err=True)
        if failed or partly:
            raise SystemExit(1)


def _parse_resources(text: str) -> dict[str, float]:
    """``--ray-resources``: a JSON object of resource name -> amount (checked by the Ray indexer)."""
    import json

    from reidkit.core.errors import ReidkitError

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        value = exc.msg
    if not isinstance(value, dict):
        raise ReidkitError(f"--ray-resources {text!r} is not a JSON object — write it like '{{\"reid\": 1}}'")
    return value
