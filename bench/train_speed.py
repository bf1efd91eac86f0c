"""Seconds per training iteration/epoch of a config on this machine (real data pipeline and model).

    PYTHONPATH=. python bench/train_speed.py -c configs/cuhk03_osnet_x0_25.yaml --root cuhk03=DIR \
        --threads 1 --iters 40 [overrides a.b=c ...]

Times ``--iters`` optimisation steps after ``--skip`` warm-up steps and extrapolates to one epoch.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from reidkit.train.config import load_train_config
from reidkit.train.data import parse_roots
from reidkit.train.hooks import HookBase, StopTraining
from reidkit.train.launch import run_training


class StepTimer(HookBase):
    def __init__(self, skip: int, iters: int):
        self.skip, self.iters = skip, iters
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self._t = self._cpu = 0.0

    def before_step(self) -> None:
        self._t, self._cpu = time.perf_counter(), time.process_time()

    def after_step(self) -> None:
        self.times.append(time.perf_counter() - self._t)
        self.cpu_times.append(time.process_time() - self._cpu)
        if len(self.times) >= self.skip + self.iters:
            raise StopTraining


class LoaderTimer(HookBase):
    """Wall time between steps = waiting for the next batch."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._end = 0.0

    def before_step(self) -> None:
        if self._end:
            self.waits.append(time.perf_counter() - self._end)

    def after_step(self) -> None:
        self._end = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--root", action="append", default=[])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--iters", type=int, default=40)
    parser.add_argument("--skip", type=int, default=3)
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cfg = load_train_config(
            args.config, [*args.overrides, f"threads={args.threads}", f"output={out}", "eval_period=0"]
        )
        timer, loader_timer = StepTimer(args.skip, args.iters), LoaderTimer()
        run_training(cfg, parse_roots(args.root), extra_hooks=[timer, loader_timer], progress=False)

        steps = timer.times[args.skip :]
        waits = loader_timer.waits[args.skip :]
        per_iter = sum(steps) / len(steps)
        cpu_per_iter = sum(timer.cpu_times[args.skip :]) / len(steps)
        per_wait = sum(waits) / max(1, len(waits))
        iters_per_epoch = timer.trainer.iters_per_epoch
        print(
            f"threads={torch.get_num_threads()} batch={cfg.data.p}x{cfg.data.k} workers={cfg.data.workers} "
            f"input={cfg.data.height}x{cfg.data.width}: step {per_iter:.3f} s/it + data wait {per_wait:.3f} s/it; "
            f"{iters_per_epoch} it/epoch -> {(per_iter + per_wait) * iters_per_epoch:.0f} s/epoch "
            f"(main-process CPU time {cpu_per_iter:.3f} s/it: what an idle machine would take per step "
            f"with 1 thread)"
        )


if __name__ == "__main__":
    main()
