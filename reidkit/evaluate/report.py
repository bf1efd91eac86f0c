"""HTML evaluation report: CMC, ROC, score distributions with the operating threshold, and rank lists.

``write_report(folder, dataset, metrics, model=...)`` needs ``metrics`` from
``evaluate_features(..., details=True)``. It writes ``index.html`` beside PNG figures (matplotlib, Agg)
and one rank-list strip per shown query (OpenCV), so the folder can be opened or copied anywhere.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.data.base import ReidDataset
from reidkit.evaluate.metrics import EvalDetails, ReidMetrics

MATCH = (60, 170, 40)  # BGR green
WRONG = (50, 50, 220)  # BGR red
QUERY = (200, 120, 30)  # BGR blue
TILE_W, TILE_H, BORDER, CAPTION = 64, 128, 5, 30


def write_report(
    folder: str | Path,
    dataset: ReidDataset,
    metrics: ReidMetrics,
    *,
    model: str,
    rerank: bool = False,
    n_worst: int = 12,
    n_best: int = 4,
    n_matches: int = 3,
) -> Path:
    if metrics.details is None:
        raise ValueError("write_report needs evaluate_features(..., details=True)")
    folder = Path(folder)
    (folder / "ranks").mkdir(parents=True, exist_ok=True)
    d = metrics.details
    _plot_cmc(metrics, folder / "cmc.png")
    _plot_roc(metrics, folder / "roc.png")
    _plot_scores(metrics, folder / "scores.png")

    evaluated = np.flatnonzero(~np.isnan(d.ap))
    by_ap = evaluated[np.argsort(d.ap[evaluated], kind="stable")]
    worst = by_ap[:n_worst]
    best = by_ap[::-1][: min(n_best, max(len(by_ap) - len(worst), 0))]
    sections = []
    for title, queries in (("Worst queries (lowest AP)", worst), ("Best queries", best)):
        rows = []
        for n, qi in enumerate(queries):
            name = f"ranks/{'worst' if title.startswith('Worst') else 'best'}_{n:02d}.png"
            _write_rank_strip(folder / name, dataset, d, int(qi), n_matches)
            q = dataset.query[qi]
            rows.append(
                f'<figure><img src="{name}" alt="rank list of query {qi}"><figcaption>query #{qi} '
                f"(id {q.pid}, camera {q.camid}, {html.escape(Path(q.path).name)}): AP {d.ap[qi]:.2f}, "
                f"first match at rank {d.first_match_rank[qi]}</figcaption></figure>"
            )
        sections.append(f"<h2>{title}</h2>\n" + "\n".join(rows))

    page = folder / "index.html"
    page.write_text(_page(dataset, metrics, model, rerank, sections))
    return page


def _page(dataset: ReidDataset, metrics: ReidMetrics, model: str, rerank: bool, sections: list[str]) -> str:
    d = metrics.as_dict()
    assert metrics.details is not None
    score = metrics.details.score_name
    op_rows = "".join(
        f"<tr><td>{fpr:g}</td><td>{metrics.threshold_at_fpr[fpr]:.4f}</td>"
        f"<td>{100 * metrics.tpr_at_fpr[fpr]:.1f}%</td></tr>"
        for fpr in sorted(metrics.tpr_at_fpr, reverse=True)
    )
    title = f"{dataset.name} · {model}{' + re-ranking' if rerank else ''}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px; color: #222; padding: 0 16px; }}
h1 {{ font-size: 22px; margin-bottom: 4px; }} h2 {{ font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }}
.sub {{ color: #666; margin-top: 0; }}
table {{ border-collapse: collapse; margin: 8px 0 16px; }}
td, th {{ padding: 4px 12px; border-bottom: 1px solid #eee; text-align: right; }} th {{ background: #f6f6f6; }}
.figs {{ display: flex; flex-wrap: wrap; gap: 8px; }} .figs img {{ width: 350px; }}
figure {{ margin: 10px 0 18px; }} figure img {{ max-width: 100%; }} figcaption {{ color: #555; font-size: 13px; }}
.key span {{ display: inline-block; padding: 0 6px; margin-right: 8px; border: 3px solid; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="sub">{html.escape(dataset.protocol)} · {metrics.n_query} queries ({metrics.n_skipped} skipped without a
match) · {metrics.n_gallery} gallery images · {metrics.n_positive_pairs:,} positive / {metrics.n_negative_pairs:,}
negative pairs</p>
<table><tr><th>R1</th><th>R5</th><th>R10</th><th>mAP</th><th>mINP</th></tr>
<tr><td>{d["R1"]:.1f}</td><td>{d["R5"]:.1f}</td><td>{d["R10"]:.1f}</td><td>{d["mAP"]:.1f}</td><td>{d["mINP"]:.1f}</td></tr></table>
<h2>Choosing a threshold</h2>
<p>Scores are the {html.escape(score)}. Call two crops "the same person" when their score is above the threshold;
the table gives the threshold that keeps the false-positive rate over all query-gallery pairs at or below the
target, and the share of true pairs it still accepts.</p>
<table><tr><th>target FPR</th><th>threshold</th><th>TPR (true pairs kept)</th></tr>{op_rows}</table>
<div class="figs"><a href="cmc.png"><img src="cmc.png" alt="CMC curve"></a><a href="roc.png"><img src="roc.png" alt="ROC curve"></a>
<a href="scores.png"><img src="scores.png" alt="score distributions"></a></div>
<p class="key">Rank lists: <span style="border-color:#1e78c8">query</span>
<span style="border-color:#b0b0b0">its true matches (with their rank)</span>
<span style="border-color:#28aa3c">correct</span><span style="border-color:#dc3232">wrong</span>
then the top 10 of the gallery (same-camera images of the query's identity and junk removed), with scores.</p>
{"".join(sections)}
</body></html>
"""


def _figure(width: float = 5.0, height: float = 3.6) -> tuple[Any, Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.grid(True, alpha=0.3)
    return plt, fig, ax


def _plot_cmc(metrics: ReidMetrics, path: Path) -> None:
    plt, fig, ax = _figure()
    ranks = np.arange(1, len(metrics.cmc) + 1)
    ax.plot(ranks, 100 * metrics.cmc, color="#1f77b4", lw=2)
    for k in (1, 5, 10):
        if k <= len(ranks):
            ax.plot(k, 100 * metrics.cmc[k - 1], "o", color="#1f77b4")
            ax.annotate(
                f"R{k} {100 * metrics.cmc[k - 1]:.1f}",
                (k, 100 * metrics.cmc[k - 1]),
                textcoords="offset points",
                xytext=(8, -12),
            )
    ax.set(
        xlabel="rank k",
        ylabel="queries matched within top k (%)",
        title="CMC",
        ylim=(0, 100),
        xlim=(1, ranks[-1]),
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_roc(metrics: ReidMetrics, path: Path) -> None:
    assert metrics.details is not None
    plt, fig, ax = _figure()
    fpr, tpr, _ = metrics.details.roc_curve()
    low = max(1.0 / max(metrics.n_negative_pairs, 1), 1e-6)
    keep = fpr >= low
    ax.semilogx(fpr[keep], 100 * tpr[keep], color="#1f77b4", lw=2)
    for f, colour in zip(
        sorted(metrics.tpr_at_fpr, reverse=True), ("#d62728", "#ff7f0e", "#2ca02c"), strict=False
    ):
        t = metrics.tpr_at_fpr[f]
        if np.isfinite(t):
            ax.plot(f, 100 * t, "o", color=colour)
            ax.annotate(
                f"FPR {f:g}: TPR {100 * t:.1f}%",
                (f, 100 * t),
                textcoords="offset points",
                xytext=(8, -4),
                color=colour,
            )
    ax.set(
        xlabel="false-positive rate (log)",
        ylabel="true-positive rate (%)",
        title="ROC over all pairs",
        xlim=(low, 1),
        ylim=(0, 100),
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_scores(metrics: ReidMetrics, path: Path) -> None:
    d = metrics.details
    assert d is not None
    plt, fig, ax = _figure()
    used = np.flatnonzero(d.pos_hist + d.neg_hist)
    lo, hi = (used[0], used[-1] + 1) if len(used) else (0, len(d.pos_hist))
    factor = max(1, (hi - lo) // 80)  # about 80 bars across the occupied range
    edges = d.hist_edges[lo : hi + 1 : factor]
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    for hist, colour, label in (
        (d.neg_hist, "#d62728", "different people"),
        (d.pos_hist, "#2ca02c", "same person"),
    ):
        counts = np.add.reduceat(hist[lo:hi], np.arange(0, hi - lo, factor))[: len(centres)]
        ax.bar(
            centres, counts / max(counts.sum(), 1) / width, width=width, color=colour, alpha=0.45, label=label
        )
    for f, style in zip(sorted(metrics.threshold_at_fpr, reverse=True), ("-", "--"), strict=False):
        t = metrics.threshold_at_fpr[f]
        if np.isfinite(t):
            ax.axvline(t, color="black", ls=style, lw=1.2, label=f"threshold {t:.3f} (FPR {f:g})")
    ax.set(xlabel=d.score_name, ylabel="density", title="Score distributions")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.35)  # room for the legend above the bars
    ax.legend(fontsize=7.5, loc="upper left", ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _tile(path: str, colour: tuple[int, int, int], caption: str) -> np.ndarray:
    import cv2

    from reidkit.core.errors import MediaError
    from reidkit.media import read_image

    try:
        image = read_image(path)
    except MediaError:  # a grey tile: one unreadable image does not cost the whole figure
        image = np.full((TILE_H, TILE_W, 3), 200, np.uint8)
    image = cv2.resize(image, (TILE_W, TILE_H), interpolation=cv2.INTER_AREA)
    framed = cv2.copyMakeBorder(image, BORDER, BORDER, BORDER, BORDER, cv2.BORDER_CONSTANT, value=colour)
    tile = np.full((framed.shape[0] + CAPTION, framed.shape[1] + 4, 3), 255, np.uint8)
    tile[: framed.shape[0], 2 : 2 + framed.shape[1]] = framed
    for line, text in enumerate(caption.split("\n")[:2]):
        size = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.38, 1)[0]
        x = max(0, (tile.shape[1] - size[0]) // 2)
        cv2.putText(
            tile,
            text,
            (x, framed.shape[0] + 12 + 13 * line),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.38,
            (40, 40, 40),
            1,
            cv2.LINE_AA,
        )
    return tile


def _write_rank_strip(path: Path, dataset: ReidDataset, d: EvalDetails, qi: int, n_matches: int) -> None:
    import cv2

    query = dataset.query[qi]
    tiles = [_tile(query.path, QUERY, f"query\nid {query.pid}")]
    for j, rank, score in zip(
        d.match_indices[qi][:n_matches], d.match_ranks[qi], d.match_scores[qi], strict=False
    ):
        if j >= 0:
            tiles.append(_tile(dataset.gallery[j].path, (176, 176, 176), f"#{rank} {score:.2f}\nmatch"))
    gap = np.full((tiles[0].shape[0], 14, 3), 255, np.uint8)
    gap[10:-CAPTION, 6:8] = 160
    tiles.append(gap)
    for rank, (j, score) in enumerate(zip(d.top_indices[qi], d.top_scores[qi], strict=False), 1):
        if j < 0:
            break
        sample = dataset.gallery[j]
        ok = sample.pid == query.pid
        tiles.append(_tile(sample.path, MATCH if ok else WRONG, f"#{rank} {score:.2f}\nid {sample.pid}"))
    cv2.imwrite(str(path), np.concatenate(tiles, axis=1))
