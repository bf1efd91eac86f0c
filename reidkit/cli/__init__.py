"""The ``reidkit`` command line.

Each sub-command lives in its own module of this package and exposes ``register(app)``. Command modules
import their heavy dependencies (onnxruntime, faiss, torch) inside the command body, so ``reidkit --help``
is instant and the search path never imports torch.
"""

from __future__ import annotations

import importlib
import sys

import typer

from reidkit.core.errors import ReidkitError
from reidkit.core.log import setup_logging

# Module names under reidkit.cli, in the order they appear in --help.
COMMAND_MODULES = ["index", "search", "track", "eval", "calibrate", "train", "export", "models", "serve"]

app = typer.Typer(
    name="reidkit",
    help="Find a person in videos and images from one photo; train and evaluate ReID models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr."),
) -> None:
    setup_logging("info" if verbose else None)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"reidkit.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"reidkit.cli.{name}":
                continue  # command not built yet
            raise
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    # typer bundles its own click (typer._click); usage errors come back as its exceptions.
    from typer._click.exceptions import ClickException

    try:
        result = app(args=argv, standalone_mode=False)
    except ReidkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except typer.Exit as exc:
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
