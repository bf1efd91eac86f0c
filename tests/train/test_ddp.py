"""DDP on CPU: two gloo processes under torchrun train the tiny model; rank 0 alone writes checkpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from reidkit.train.sampler import PKSampler

WORKER = Path(__file__).with_name("ddp_worker.py")
REPO = Path(__file__).resolve().parents[2]


def test_two_process_ddp_on_cpu(synthetic_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "REIDKIT_LOG": "warning"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, str(WORKER), str(synthetic_root), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]
    # 12 ids x 4 images, P=4 K=2: each rank runs its half of every epoch's batches.
    pids = [pid for pid in range(12) for _ in range(4)]
    expected = sum(len(PKSampler(pids, 4, 2, rank=0, world_size=2).rank_batches(e)) for e in range(2))
    assert [r["steps"] for r in reports] == [expected, expected] and expected > 0
    assert all(r["world"] == 2 for r in reports)
    # Gradients were all-reduced: both replicas end with the same weights.
    assert abs(reports[0]["checksum"] - reports[1]["checksum"]) < 1e-6
    state = torch.load(out / "last.pth", map_location="cpu", weights_only=False)
    assert state["epoch"] == 2 and not any(k.startswith("module.") for k in state["model"])
    assert (out / "metrics.csv").is_file()
