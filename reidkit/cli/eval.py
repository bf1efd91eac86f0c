"""``reidkit eval``: score a ReID model on a dataset (CMC, mAP, mINP, TPR at fixed FPR), optionally with a report."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("eval")
    def eval_command(
        dataset: str = typer.Option(
            ..., "--dataset", "-d", help="Dataset name (market1501, cuhk03, msmt17, folder, ...)."
        ),
        root: Path = typer.Option(..., "--root", help="Folder holding the dataset in its documented layout."),
        model: str = typer.Option(
            "",
            "--model",
            "-m",
            help="Registry name, .onnx file or .pth checkpoint (default: reidkit's default model).",
        ),
        protocol: str = typer.Option(
            "", "--protocol", help="Query/gallery protocol (two-camera sets: a2b, b2a, all)."
        ),
        dataset_options: list[str] = typer.Option(
            [],
            "--option",
            "-o",
            help="Dataset option KEY=VALUE, repeatable (e.g. holdout=100 for CUHK03's dev split).",
        ),
        rerank: bool = typer.Option(False, "--rerank", help="k-reciprocal re-ranking (Zhong et al. 2017)."),
        json_out: bool = typer.Option(False, "--json", help="Print the numbers as one JSON object."),
        report: Path | None = typer.Option(
            None, "--report", help="Write an HTML report with figures to this folder."
        ),
        cache_dir: Path | None = typer.Option(
            None, "--cache-dir", help="Feature cache (default ~/.cache/reidkit/features)."
        ),
        no_cache: bool = typer.Option(False, "--no-cache", help="Always extract features again."),
        threads: int = typer.Option(0, "--threads", help="Inference threads (0 = all cores)."),
    ) -> None:
        """Evaluate a ReID model on a dataset's query/gallery protocol."""
        import json

        from reidkit.core.config import parse_overrides
        from reidkit.data.base import build_dataset
        from reidkit.embed.factory import build_embedder
        from reidkit.evaluate.features import default_cache_dir, extract_features
        from reidkit.evaluate.metrics import evaluate_features

        options: dict[str, object] = dict(parse_overrides(dataset_options))
        if protocol:
            options["protocol"] = protocol
        data = build_dataset(dataset, root, **options)
        embedder = build_embedder(model or None, threads=threads or None)
        cache = None if no_cache else (cache_dir or default_cache_dir())
        q_paths, g_paths = [s.path for s in data.query], [s.path for s in data.gallery]
        if q_paths == g_paths:
            q_feats = g_feats = extract_features(embedder, q_paths, dataset=data.name, cache_dir=cache)
        else:
            q_feats = extract_features(embedder, q_paths, dataset=data.name, cache_dir=cache)
            g_feats = extract_features(embedder, g_paths, dataset=data.name, cache_dir=cache)
        metrics = evaluate_features(
            q_feats,
            g_feats,
            *data.labels(),
            rerank=rerank,
            details=report is not None,
        )
        if report is not None:
            from reidkit.evaluate.report import write_report

            page = write_report(report, data, metrics, model=embedder.name, rerank=rerank)
        if json_out:
            typer.echo(json.dumps({"dataset": data.name, "model": embedder.name, **metrics.as_dict()}))
        else:
            typer.echo(
                f"{data.name} ({data.protocol}) with {embedder.name}{' + re-ranking' if rerank else ''}"
            )
            typer.echo(metrics.summary())
        if report is not None:
            typer.echo(f"report: {page}", err=json_out)
