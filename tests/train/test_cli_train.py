from __future__ import annotations

from pathlib import Path

import pytest

from reidkit.cli import main

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "cuhk03_osnet_x0_25.yaml")


def test_missing_dataset_root_is_a_one_line_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("REIDKIT_DATA_ROOT", raising=False)
    monkeypatch.delenv("REIDKIT_DATA_ROOT_CUHK03", raising=False)
    assert main(["train", "-c", CONFIG, "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "--root cuhk03=DIR" in err and "\n" not in err


def test_bad_override_and_missing_config_are_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "-c", CONFIG, "optim.lrr=1"]) == 2
    assert "optim.lrr" in capsys.readouterr().err
    assert main(["train", "-c", "no/such.yaml"]) == 2
    assert "config file not found" in capsys.readouterr().err
