"""``reidkit search``: find every moment the person in a photo appears in an indexed library."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from reidkit.search import SearchResult


def format_table(result: SearchResult) -> str:
    """The moments as an aligned plain-text table, best first, with the search's verdict.

    The first line is the answer: how many moments are likely the same person, or "not found"; then the
    threshold and where it came from (:mod:`reidkit.search.verdict`). When nothing is likely the table
    still lists the best candidates below the threshold.
    """
    from reidkit.media.recorded import local_text
    from reidkit.search import format_time
    from reidkit.search.one_person import verdict_words

    verdict = result.verdict
    rule = f"threshold {verdict.threshold:.3f}: {verdict.source}"
    if not result.moments:
        return f"not found: no moments (try a lower --min-score or a tighter crop of the person); {rule}"
    names = [Path(m.media).name for m in result.moments]
    width = min(48, max(5, *(len(n) for n in names)))
    likely = sum(m.likely for m in result.moments)
    if likely:
        count = f"{likely}+ moments" if result.more_likely else f"{likely} moment{'s' if likely != 1 else ''}"
        lines = [f"found: {count} likely the same person ({rule})"]
    else:
        lines = [f"not found: no moment reaches the {rule}; best candidates below it:"]
    # The clock column only when some file says when it was recorded (cameras, phones).
    clock = any(m.recorded_start is not None for m in result.moments)
    recorded = f"  {'recorded (local time)':<21}" if clock else ""
    lines.append(
        f"{'#':>3}  {'media':<{width}}  {'time':<19}{recorded}  {'frames':<13}  score  p(same)  verdict"
    )
    for rank, (m, name) in enumerate(zip(result.moments, names, strict=True), 1):
        if len(name) > width:
            name = "…" + name[-(width - 1) :]
        if m.kind == "image":
            when, frames = "photo", "-"
        else:
            when = f"{format_time(m.start)} – {format_time(m.end)}"
            frames = f"{m.start_frame}–{m.end_frame}"
        if clock:
            start = m.recorded_start
            recorded = f"  {'-' if start is None else local_text(start):<21}"
        says = verdict_words(m, verdict)
        lines.append(
            f"{rank:>3}  {name:<{width}}  {when:<19}{recorded}  {frames:<13}  {m.score:.3f}  "
            f"{m.probability:>7.2f}  {says}"
        )
    if result.more_likely:
        lines.append(
            f"  more moments beyond these {len(result.moments)} are likely the same person: "
            f"--top {2 * len(result.moments)} shows more"
        )
    scores = [m.score for m in result.moments]
    if scores != sorted(scores, reverse=True):
        lines.append(
            f"  ranked by the library's own vectors (the photo with its best match); score, p(same) and"
            f" verdict by {verdict.scored_by}, the model adapted to this library"
            if verdict.scored_by
            else "  ranked by the photo together with its best match (query expansion; --no-expand ranks by"
            " the photo alone); score: similarity to the photo"
        )
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("search")
    def search_command(
        photo: Path = typer.Argument(..., help="Photo of the person: a crop, or a scene (see --box)."),
        library: Path = typer.Option(..., "--library", "-l", help="Library folder made by `reidkit index`."),
        top: int = typer.Option(20, "--top", "-k", min=1, help="Show at most this many moments."),
        json_out: bool = typer.Option(False, "--json", help="Print only JSON on stdout."),
        box: str | None = typer.Option(
            None, "--box", help="x1,y1,x2,y2: the person to search for, in photo pixels."
        ),
        report: Path | None = typer.Option(
            None, "--report", help="Folder for the HTML report (default: LIBRARY/reports/<photo name>)."
        ),
        min_score: float | None = typer.Option(
            None, "--min-score", help="Drop moments scoring below this cosine similarity."
        ),
        model: str | None = typer.Option(
            None,
            "--model",
            "-m",
            help="The .onnx file the library was indexed with, when that was not a registry model.",
        ),
        no_expand: bool = typer.Option(
            False, "--no-expand", help="Rank by the photo alone, without query expansion."
        ),
    ) -> None:
        """Find every moment the person in PHOTO appears in the library's videos and images."""
        from reidkit.core.errors import ReidkitError
        from reidkit.search import MomentRule, find_person, parse_box
        from reidkit.search.report import safe_file_name

        try:
            query_box = parse_box(box) if box else None
        except ValueError as exc:
            raise ReidkitError(
                str(exc), hint="pass --box x1,y1,x2,y2 in photo pixels, e.g. --box 120,40,260,420"
            ) from None
        if min_score is not None and not -1.0 <= min_score <= 1.0:  # NaN fails this too
            raise ReidkitError(
                f"--min-score {min_score} is not a cosine similarity",
                hint="pass a number from -1 to 1, e.g. --min-score 0.5",
            )
        rule = MomentRule(expand_query=0) if no_expand else MomentRule()
        result = find_person(
            photo, library, top=top, box=query_box, min_score=min_score, model=model, rule=rule
        )
        if json_out:
            if report is not None:
                _write_report_or_warn(result, report)
            typer.echo(result.to_json())
            return
        typer.echo(format_table(result))
        out = report if report is not None else library / "reports" / safe_file_name(photo.stem)
        page = _write_report_or_warn(result, out)
        if page is not None:
            typer.echo(f"report: {page}")


def _write_report_or_warn(result: SearchResult, out: Path) -> Path | None:
    """Write the HTML report; when it cannot be, say so in one line on stderr and return None.

    The search itself succeeded and its answer is printed, so an unwritable report folder (another
    user's read-only library, a file in the way) is a warning, not a failed command.
    """
    from reidkit.search import write_report

    try:
        return write_report(result, out)
    except OSError as exc:
        where = exc.filename if exc.filename is not None else out
        reason = exc.strerror or type(exc).__name__
        typer.echo(
            f"warning: the HTML report could not be written: {where}: {reason}"
            " — pass --report DIR with a folder you can write to",
            err=True,
        )
        return None
