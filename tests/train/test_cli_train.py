from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reidkit.cli import main
from reidkit.train.checkpoint import load_checkpoint
from reidkit.train.sampler import PKSampler
from tests.conftest import shared_path

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs" / "cuhk03_osnet_x0_25.yaml")


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


def test_impossible_epochs_are_a_one_line_error_and_no_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "x"
    assert main(["train", "-c", CONFIG, "--output", str(out), "optim.epochs=-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'optim.epochs' must be >= 1, got -1" in err and "\n" not in err and "done" not in err
    assert not out.exists()


def small_run(root: Path, output: Path, *extra: str) -> list[str]:
    return [
        "train",
        "-c",
        CONFIG,
        "--root",
        f"cuhk03={root}",
        "--output",
        str(output),
        "model.pretrained=",
        "optim.freeze_backbone_epochs=0",
        "data.height=64",
        "data.width=32",
        "data.p=4",
        "data.k=2",
        "data.workers=0",
        "threads=1",
        *extra,
    ]


def test_cli_trains_osnet_and_resumes(synthetic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(small_run(synthetic_root, out, "optim.epochs=1")) == 0
    first = load_checkpoint(out / "last.pth")
    assert first["epoch"] == 1 and first["config"]["model"]["backbone"] == "osnet_x0_25"
    assert main([*small_run(synthetic_root, out, "optim.epochs=2"), "--resume"]) == 0
    second = load_checkpoint(out / "last.pth")
    assert second["epoch"] == 2 and second["iter"] > first["iter"]
    assert [int(r["epoch"]) for r in csv.DictReader((out / "metrics.csv").open())] == [1, 2]


def test_fine_tuning_from_the_msmt17_onnx_weights(
    synthetic_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = shared_path("models", "osnet_x0_25_msmt17.onnx")
    monkeypatch.setenv("REIDKIT_MODEL_DIR", str(weights.parent))
    out = tmp_path / "ft"
    args = small_run(synthetic_root, out, "optim.epochs=1", "eval_period=1")
    args.remove("model.pretrained=")  # the config's own: the zoo name osnet_x0_25_msmt17
    assert main(args) == 0
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    # Pretrained features already separate the synthetic identities well (chance R1 is 12.5%).
    assert float(rows[0]["cuhk03/R1"]) > 50.0


def test_torchrun_two_processes_through_the_cli(synthetic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "REIDKIT_LOG": "warning"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    args = small_run(synthetic_root, out, "optim.epochs=1")
    proc = subprocess.run(
        [*cmd, "-m", "reidkit.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]  # torchrun fails if either rank fails
    assert proc.stdout.count("done:") == 1  # only rank 0 reports
    state = load_checkpoint(out / "last.pth")
    pids = [pid for pid in range(12) for _ in range(4)]
    # Rank 0 ran half of the epoch's batches: the other half went to rank 1.
    assert state["iter"] == len(PKSampler(pids, 4, 2, rank=0, world_size=2).rank_batches(0))
