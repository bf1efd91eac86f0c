"""Trainer hooks (detectron2/FastReID style): small objects called before/after train, epoch and step.

A hook reads and writes the trainer's public state (``trainer.epoch``, ``trainer.iter``,
``trainer.storage``, ...). Hooks run in registration order; :func:`reidkit.train.launch.default_hooks`
orders them freeze -> eval -> checkpoint -> metrics so checkpoints know the latest score.
"""

from __future__ import annotations

import csv
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from reidkit.core.log import get_logger
from reidkit.train.checkpoint import save_atomic

if TYPE_CHECKING:
    from reidkit.data.base import ReidDataset
    from reidkit.train.engine import Trainer

logger = get_logger(__name__)


class HookBase:
    trainer: Trainer

    def before_train(self) -> None: ...
    def after_train(self) -> None: ...
    def before_epoch(self) -> None: ...
    def after_epoch(self) -> None: ...
    def before_step(self) -> None: ...
    def after_step(self) -> None: ...


class FreezeBackbone(HookBase):
    """For the first ``epochs`` epochs only the neck/head learn: backbone grads are dropped, BN frozen."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def before_epoch(self) -> None:
        model = self.trainer.unwrapped_model
        backbone = getattr(model, "backbone", None)
        if self.trainer.epoch >= self.epochs:
            self.trainer.frozen_params = []
            return
        if not isinstance(backbone, torch.nn.Module):
            raise AttributeError("optim.freeze_backbone_epochs needs a model with a .backbone module")
        backbone.eval()
        self.trainer.frozen_params = list(backbone.parameters())


class PeriodicCheckpoint(HookBase):
    """``last.pth`` every ``period`` epochs and after the last; ``best.pth`` when the score improves."""

    def __init__(self, output: Path, period: int, config: dict[str, Any]):
        self.output, self.period, self.config = output, max(1, period), config

    def after_epoch(self) -> None:
        trainer = self.trainer
        if not trainer.is_main:
            return
        done = trainer.epoch + 1
        state = None
        if done % self.period == 0 or done == trainer.max_epochs:
            state = trainer.state_dict(config=self.config)
            save_atomic(state, self.output / "last.pth")
        if trainer.storage.pop("improved", False):
            save_atomic(state or trainer.state_dict(config=self.config), self.output / "best.pth")


class Evaluate(HookBase):
    """Every ``period`` epochs (and after the last): R1/mAP on each test set, on the main process only.

    The first test set's mAP decides ``best.pth``. Other ranks hold no test sets and wait.
    """

    def __init__(self, test_sets: list[ReidDataset], period: int, extract: Any):
        self.test_sets, self.period, self.extract = test_sets, period, extract

    def after_epoch(self) -> None:
        trainer = self.trainer
        done = trainer.epoch + 1
        due = (self.period > 0 and done % self.period == 0) or done == trainer.max_epochs
        if not due:
            return  # every rank takes the same branch: the barrier below must be reached by all
        if trainer.is_main:
            from reidkit.evaluate import evaluate_features

            for i, dataset in enumerate(self.test_sets):
                query = self.extract(trainer.unwrapped_model, dataset.query)
                gallery = self.extract(trainer.unwrapped_model, dataset.gallery)
                metrics = evaluate_features(query, gallery, *dataset.labels())
                r1, m_ap = 100.0 * float(metrics.cmc[0]), 100.0 * float(metrics.mAP)
                trainer.storage[f"{dataset.name}/R1"] = r1
                trainer.storage[f"{dataset.name}/mAP"] = m_ap
                logger.info(f"epoch {done} {dataset.name}: R1 {r1:.1f} mAP {m_ap:.1f}")
                if i == 0 and m_ap > trainer.best_score:
                    trainer.best_score = m_ap
                    trainer.storage["improved"] = True
        trainer.model.train()
        trainer.barrier()


class MetricsWriter(HookBase):
    """One row per epoch in ``metrics.csv`` (+ TensorBoard scalars when ``tensorboard`` is installed)."""

    def __init__(self, output: Path, log_period: int):
        self.path = output / "metrics.csv"
        self.log_period = max(1, log_period)
        self.writer: Any = None
        self._epoch_start = 0.0

    def before_train(self) -> None:
        if not self.trainer.is_main:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.path.parent / "tb"))
        except ImportError:  # tensorboard is optional
            self.writer = None

    def before_epoch(self) -> None:
        self._epoch_start = time.perf_counter()

    def after_step(self) -> None:
        trainer = self.trainer
        if self.writer is not None and trainer.iter % self.log_period == 0:
            for key, value in trainer.step_parts.items():
                self.writer.add_scalar(f"train/{key}", value, trainer.iter)
            self.writer.add_scalar("train/lr", trainer.lr, trainer.iter)

    def after_epoch(self) -> None:
        trainer = self.trainer
        if not trainer.is_main:
            return
        row: dict[str, Any] = {
            "epoch": trainer.epoch + 1,
            "iter": trainer.iter,
            "lr": float(f"{trainer.lr:.6g}"),
        }
        row["seconds"] = round(time.perf_counter() - self._epoch_start, 2)
        row.update({k: round(v, 5) for k, v in trainer.epoch_means().items()})
        # Evaluation scores (percent), with the one decimal every R1/mAP is printed with.
        row.update({k: round(v, 1) for k, v in trainer.storage.items() if isinstance(v, float)})
        self._append(row)
        if self.writer is not None:
            for key, value in row.items():
                if key not in ("epoch", "iter") and isinstance(value, float) and math.isfinite(value):
                    self.writer.add_scalar(f"epoch/{key}", value, row["epoch"])
            self.writer.flush()
        shown = " ".join(f"{k}={v}" for k, v in row.items() if k not in ("epoch", "iter"))
        logger.info(f"epoch {row['epoch']}/{trainer.max_epochs} {shown}")

    def _append(self, row: dict[str, Any]) -> None:
        rows: list[dict[str, Any]] = []
        fields: list[str] = []
        if self.path.is_file():
            with self.path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                fields = list(reader.fieldnames or [])
                # A resumed run replaces the rows of the epochs it repeats.
                rows = [r for r in reader if int(r["epoch"]) < row["epoch"]]
        for key in row:
            if key not in fields:
                fields.append(key)
        rows.append(row)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.path)

    def after_train(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Progress(HookBase):
    """Progress on the main process: a tqdm bar per epoch on a terminal; elsewhere (CI, nohup, a log
    file), where a bar would print nothing for minutes, a log line every ``log_period`` iterations and
    one per epoch, with loss, lr, speed and ETA."""

    def __init__(self, enabled: bool | None = None, log_period: int = 20):
        self.bar_enabled = sys.stderr.isatty() if enabled is None else enabled
        self.log_period = max(1, log_period)
        self.bar: Any = None
        self._train_start = 0.0
        self._epochs_done = 0  # by this process (a resumed run starts its clock again)
        self._epoch_start = 0.0
        self._epoch_iter = 0

    def before_train(self) -> None:
        self._train_start = time.perf_counter()

    def before_epoch(self) -> None:
        self._epoch_start, self._epoch_iter = time.perf_counter(), 0
        if self.bar_enabled and self.trainer.is_main:
            from tqdm import tqdm

            self.bar = tqdm(
                total=self.trainer.iters_per_epoch,
                desc=f"epoch {self.trainer.epoch + 1}/{self.trainer.max_epochs}",
                leave=False,
                dynamic_ncols=True,
            )

    def after_step(self) -> None:
        trainer = self.trainer
        self._epoch_iter += 1
        loss = trainer.step_parts.get("loss", 0.0)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", lr=f"{trainer.lr:.2e}")
            self.bar.update(1)
        elif not self.bar_enabled and trainer.is_main and self._epoch_iter % self.log_period == 0:
            speed = self._epoch_iter / max(time.perf_counter() - self._epoch_start, 1e-9)
            left = (trainer.max_epochs - trainer.epoch) * trainer.iters_per_epoch - self._epoch_iter
            logger.info(
                f"epoch {trainer.epoch + 1}/{trainer.max_epochs} iter {self._epoch_iter}/"
                f"{trainer.iters_per_epoch} loss {loss:.4f} lr {trainer.lr:.2e} {speed:.2f} it/s "
                f"ETA {format_duration(left / speed)} (steps only)"
            )

    def after_epoch(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        trainer = self.trainer
        self._epochs_done += 1
        if self.bar_enabled or not trainer.is_main:
            return
        seconds = time.perf_counter() - self._epoch_start
        per_epoch = (time.perf_counter() - self._train_start) / self._epochs_done  # with evaluation
        logger.info(
            f"epoch {trainer.epoch + 1}/{trainer.max_epochs} done in {format_duration(seconds)}: "
            f"loss {trainer.epoch_means().get('loss', float('nan')):.4f} lr {trainer.lr:.2e} "
            f"{self._epoch_iter / max(seconds, 1e-9):.2f} it/s "
            f"ETA {format_duration(per_epoch * (trainer.max_epochs - trainer.epoch - 1))}"
        )


def format_duration(seconds: float) -> str:
    """``h:mm:ss``."""
    total = round(max(0.0, seconds))
    return f"{total // 3600}:{total // 60 % 60:02d}:{total % 60:02d}"


class StopAfter(HookBase):
    """Stop the run (as if killed) once ``epochs`` epochs are done: for tests and time-boxed runs."""

    def __init__(self, epochs: int):
        self.epochs = epochs

    def after_epoch(self) -> None:
        if self.trainer.epoch + 1 >= self.epochs:
            raise StopTraining


class StopTraining(Exception):
    """Raised by a hook to end training after the current epoch's hooks have run."""
