"""The `reidkit` command itself: --version, how --help shows flags, every command module loads."""

from __future__ import annotations

import re

import pytest

import reidkit
from reidkit import cli
from reidkit.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"reidkit {reidkit.__version__}\n"


@pytest.mark.parametrize("command", [[], *([name] for name in cli.COMMAND_MODULES)])
def test_help_shows_boolean_flags_as_flags(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "--help" in out
    assert "<bool>" not in out, out


def test_search_help_lists_its_flags_without_a_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--json", "--no-expand"):
        assert re.search(rf"{flag}\s+[A-Z]", out), f"{flag} shown with a value:\n{out}"


def test_a_missing_command_module_fails_loudly() -> None:
    """A command whose module cannot be imported is a broken install, never a silently missing command."""
    with pytest.raises(ModuleNotFoundError, match=r"reidkit\.cli\.no_such_command"):
        cli._register_commands(["no_such_command"])


def test_index_help_states_the_indexers_default_rate(capsys: pytest.CaptureFixture[str]) -> None:
    from reidkit.index.indexer import TARGET_PROCESSED_FPS

    assert main(["index", "--help"]) == 0
    words = " ".join(capsys.readouterr().out.replace("│", " ").split())  # help wraps to the terminal
    assert f"~{TARGET_PROCESSED_FPS:g} per second" in words


@pytest.mark.parametrize("name", cli.COMMAND_MODULES)
def test_help_shows_each_options_text_whole(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rich reads ``[...]`` in a help text as markup and drops it (a default said in brackets vanished)."""
    import typer.main

    monkeypatch.setenv("COLUMNS", "500")  # one line per option: wrapped cells interleave their words

    group = typer.main.get_command(cli.app)
    command = group.commands[name.replace("_", "-")] if hasattr(group, "commands") else group  # type: ignore[attr-defined]
    assert main([name.replace("_", "-"), "--help"]) == 0
    words = " ".join(capsys.readouterr().out.replace("│", " ").split())
    for param in command.params:
        text = getattr(param, "help", None)
        if text:
            assert " ".join(text.split()) in words, f"{name} {param.name}: {text!r} not shown whole"


def test_a_file_name_in_another_encoding_never_crashes_a_print(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import os

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")  # as under an en_US.UTF-8 locale
    monkeypatch.setattr("sys.stdout", out)
    assert main(["--version"]) == 0
    print(os.fsdecode(b"caf\xe9.jpg"))  # a surrogate, as the file system hands back a Latin-1 name
    out.flush()
    assert out.errors == "backslashreplace" and b"caf\\udce9.jpg" in out.buffer.getvalue()  # type: ignore[attr-defined]
