"""``reidkit people``: who is in the library's footage, one row per person across videos and photos."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from reidkit.search.people import Person


def format_table(found: list[Person]) -> str:
    """The people as an aligned plain-text table, in order of first appearance."""
    from reidkit.media.recorded import local_text
    from reidkit.search import format_time

    if not found:
        return "nobody: the library holds no people"
    lines = [
        f"{len(found)} people",
        f"{'id':>4}  {'visits':>6}  {'videos':>6}  {'photos':>6}  {'time':>8}  first seen",
    ]
    for person in found:
        first = person.moments[0]
        when = "photo" if first.kind == "image" else format_time(first.start)
        if first.recorded_start is not None:
            when += f" (recorded {local_text(first.recorded_start)})"
        lines.append(
            f"{person.id:>4}  {person.visits:>6}  {person.videos:>6}  {person.images:>6}  "
            f"{format_time(person.seconds):>8}  {Path(first.media).name} {when}"
        )
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command("people")
    def people_command(
        library: Path = typer.Option(..., "--library", "-l", help="Library folder made by `reidkit index`."),
        json_out: bool = typer.Option(False, "--json", help="Print only JSON on stdout."),
    ) -> None:
        """List the people in the library: each person's visits across its videos and photos."""
        import json

        from reidkit.search.people import people

        found = people(library)
        if json_out:
            typer.echo(json.dumps({"people": [p.to_dict() for p in found]}, indent=2))
            return
        typer.echo(format_table(found))
