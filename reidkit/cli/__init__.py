"""The ``reidkit`` command line.

Each sub-command lives in its own module of this package and exposes ``register(app)``. Command modules
import their heavy dependencies (onnxruntime, faiss, torch) inside the command body, so ``reidkit --help``
is instant and the search path never imports torch.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

from reidkit.core.errors import ReidkitError
from reidkit.core.log import setup_logging

# Module names under reidkit.cli, in the order they appear in --help.
COMMAND_MODULES = [
    "index",
    "watch",
    "search",
    "people",
    "adapt",
    "remove",
    "track",
    "eval",
    "calibrate",
    "train",
    "export",
    "models",
    "serve",
]

app = typer.Typer(
    name="reidkit",
    help="Find a person in videos and images from one photo; train and evaluate ReID models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from reidkit import __version__

        typer.echo(f"reidkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    setup_logging("info" if verbose else None)


def _register_commands(names: list[str]) -> None:
    # Every listed command must load: a missing module is a broken install, not a command to hide.
    for name in names:
        importlib.import_module(f"reidkit.cli.{name}").register(app)


_register_commands(COMMAND_MODULES)


def cli_command() -> Any:
    """The click command behind ``app``, with boolean flags shown as bare flags in ``--help``."""
    command = typer.main.get_command(app)
    _show_flags_bare(command)
    return command


def _show_flags_bare(command: Any) -> None:
    # typer prints every option's type, a flag's as "<bool>": `--json <bool>` reads as if the flag took
    # a value. An empty metavar leaves the type column blank for flags only.
    from typer._click.core import Context

    help_option = command.get_help_option(Context(command))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub_command in getattr(command, "commands", {}).values():
        _show_flags_bare(sub_command)


def main(argv: list[str] | None = None) -> int:
    # typer bundles its own click (typer._click); usage errors come back as its exceptions.
    from typer._click.exceptions import ClickException

    for stream in (sys.stdout, sys.stderr):
        # A file name in another encoding (bytes the file system gave back as surrogates) is printed
        # escaped rather than crashing the command; C and C.UTF-8 locales already do so.
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        result = cli_command()(args=argv, standalone_mode=False, prog_name="reidkit")
    except ReidkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # typer turns Ctrl-C into Exit(130)
            print("interrupted", file=sys.stderr)
        return int(exc.exit_code or 0)
    except ClickException as exc:
        exc.show()
        return int(exc.exit_code)
    except typer.Abort:
        return 1
    except SystemExit as exc:
        return int(exc.code or 0)
    # standalone_mode=False returns a command's exit code instead of raising typer.Exit.
    return int(result) if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
