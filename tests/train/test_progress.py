"""Training says how it is doing when nobody watches a terminal; `reidkit train --smoke` is ready to run."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from test_engine import tiny_config, train

from reidkit.cli import main
from reidkit.data.base import build_dataset
from reidkit.train.config import load_train_config
from reidkit.train.hooks import format_duration
from reidkit.train.smoke import SMOKE_IDENTITIES, prepare_smoke_run


def test_without_a_terminal_training_logs_steps_and_epochs_with_speed_and_eta(
    tmp_path: Path, synthetic_root: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logging.getLogger("reidkit"), "propagate", True)  # let caplog see reidkit's logs
    cfg = tiny_config(tmp_path / "run", "optim.epochs=2", "eval_period=0", "log_period=2")
    with caplog.at_level(logging.INFO, logger="reidkit.train.hooks"):
        train(cfg, synthetic_root)  # progress=False: what CI, nohup and a log file get
    lines = [r.getMessage() for r in caplog.records]
    number, eta = r"\d+\.\d+", r"ETA \d+:\d\d:\d\d"
    step = rf"epoch 1/2 iter 2/\d+ loss {number} lr \S+ {number} it/s {eta}"
    assert any(re.fullmatch(step + r" \(steps only\)", line) for line in lines), lines
    for epoch in (1, 2):
        done = rf"epoch {epoch}/2 done in \d+:\d\d:\d\d: loss {number} lr \S+ {number} it/s {eta}"
        assert any(re.fullmatch(done, line) for line in lines), lines


def test_format_duration() -> None:
    assert format_duration(3725.4) == "1:02:05"
    assert format_duration(-1.0) == "0:00:00"


def test_smoke_run_is_a_valid_config_on_written_synthetic_people(tmp_path: Path) -> None:
    overrides, roots = prepare_smoke_run(tmp_path / "smoke")
    cfg = load_train_config(None, overrides)
    assert cfg.output == str(tmp_path / "smoke") and not cfg.model.pretrained  # nothing to download
    data = build_dataset("cuhk03", roots["cuhk03"])
    assert data.num_train_pids == SMOKE_IDENTITIES["train"] and len(data.query) > 0


def test_train_without_a_config_says_to_pass_one_or_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--config" in err and "--smoke" in err and err.count("\n") == 1
