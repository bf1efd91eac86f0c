"""Run under torchrun by test_ddp.py: trains the tiny model on the synthetic set, one process per rank.

Each rank writes ``rank<R>.json`` with the steps it ran and a checksum of its final weights.
(``train_helpers`` is found because Python puts this script's folder first on ``sys.path``.)
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch
from train_helpers import tiny_criterion_factory, tiny_model_factory

from reidkit.train.config import load_train_config
from reidkit.train.hooks import HookBase
from reidkit.train.launch import run_training


class Report(HookBase):
    def __init__(self, output: Path):
        self.output, self.steps = output, 0

    def after_step(self) -> None:
        self.steps += 1

    def after_train(self) -> None:
        model = self.trainer.unwrapped_model
        checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
        report = {"steps": self.steps, "world": self.trainer.world_size, "checksum": checksum}
        (self.output / f"rank{self.trainer.rank}.json").write_text(json.dumps(report))


def main() -> None:
    root, output = Path(sys.argv[1]), Path(sys.argv[2])
    output.mkdir(parents=True, exist_ok=True)
    cfg = load_train_config(
        None,
        [
            "data.height=64",
            "data.width=32",
            "data.p=4",
            "data.k=2",
            "data.workers=0",
            "optim.epochs=2",
            "optim.warmup_epochs=0",
            "threads=1",
            f"output={output}",
        ],
    )
    torch.set_num_threads(1)
    run_training(
        cfg,
        {"cuhk03": str(root)},
        model_factory=tiny_model_factory,
        criterion_factory=tiny_criterion_factory,
        extra_hooks=[Report(output)],
        progress=False,
    )
    assert int(os.environ["WORLD_SIZE"]) == 2


if __name__ == "__main__":
    main()
