"""Build everything a run needs from a :class:`TrainConfig` and train: single process or DDP.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the process group is set up here: NCCL when
CUDA is available, gloo on CPU. Rank 0 evaluates, logs and writes checkpoints.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from reidkit.core.config import dump_config, to_dict
from reidkit.core.errors import ModelError, ReidkitError
from reidkit.core.log import get_logger
from reidkit.data.base import ReidSample
from reidkit.train.checkpoint import load_checkpoint
from reidkit.train.config import TrainConfig
from reidkit.train.data import ImageDataset, load_test_sets, load_train_samples
from reidkit.train.engine import CHANNELS_LAST, Criterion, Trainer, build_optimizer, build_scheduler
from reidkit.train.hooks import (
    Evaluate,
    FreezeBackbone,
    HookBase,
    MetricsWriter,
    PeriodicCheckpoint,
    Progress,
)
from reidkit.train.sampler import PKSampler
from reidkit.train.transforms import EvalTransform, TrainTransform

logger = get_logger(__name__)

ModelFactory = Callable[[Any, int], nn.Module]  # (ModelConfig, num_classes) -> model
CriterionFactory = Callable[[Any], Criterion]  # LossConfig -> criterion


@dataclasses.dataclass
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0


def setup_distributed() -> DistEnv:
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistEnv()
    import torch.distributed as dist

    env = DistEnv(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(env.local_rank)
        dist.init_process_group(backend=backend)
    return env


def pick_device(env: DistEnv) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", env.local_rank)
    return torch.device("cpu")


def worker_context(workers: int) -> str | None:
    """Start loader workers with forkserver, not fork: a child forked after torch's OpenMP pool has run
    with more than one thread can deadlock (seen here: threads=2, workers=1 hung on the first batch)."""
    return "forkserver" if workers > 0 and "forkserver" in mp.get_all_start_methods() else None


def set_threads(cfg: TrainConfig) -> None:
    # Denormal floats make CPU kernels 10x slower; they appear once imported BatchNorm statistics are
    # re-estimated (measured: 11.4 -> 1.2 s per OSNet x0.25 step on this 2-core CPU).
    torch.set_flush_denormal(True)
    threads = cfg.threads or int(os.environ.get("REIDKIT_THREADS", "0") or 0)
    if threads > 0:
        torch.set_num_threads(threads)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def resolve_pretrained(value: str) -> str:
    """A path (``$VARS`` expanded) or a model-zoo name found through ``REIDKIT_MODEL_DIR``."""
    if not value:
        return value
    expanded = os.path.expandvars(os.path.expanduser(value))
    if Path(expanded).is_file():
        return expanded
    from reidkit.zoo.registry import resolve_model

    try:
        path, _ = resolve_model(expanded, download=False)
    except ModelError as exc:
        raise ModelError(
            f"pretrained weights {value!r} not found ({exc})",
            hint="pass model.pretrained=PATH or set REIDKIT_MODEL_DIR to the folder holding them",
        ) from None
    return str(path)


def default_model_factory(model_cfg: Any, num_classes: int) -> nn.Module:
    from reidkit.models import build_model

    return build_model(model_cfg, num_classes)


def default_criterion_factory(loss_cfg: Any) -> Criterion:
    from reidkit.models import build_criterion

    return build_criterion(loss_cfg)


def setup_distillation(
    cfg: TrainConfig, model: nn.Module, criterion: Criterion, device: torch.device
) -> tuple[Criterion, Any]:
    """The teacher named by ``cfg.distill`` and ``criterion`` plus its distillation term."""
    from reidkit.models.distill import DistilledCriterion, build_teacher

    distill = cfg.distill
    teacher = build_teacher(resolve_teacher(distill.teacher), device, threads=distill.threads or None)
    student_dim = int(getattr(model, "feature_dim", 0))
    if distill.kind == "cosine" and not student_dim:
        raise ModelError(
            "distill.kind=cosine needs a model with .feature_dim", hint="use distill.kind=similarity"
        )
    logger.info(f"distilling from {teacher.name} ({teacher.dim}-d), {distill.kind} x {distill.weight}")
    distilled = DistilledCriterion(
        criterion, distill.kind, distill.weight, student_dim=student_dim, teacher_dim=teacher.dim
    )
    return distilled.to(device), teacher


def resolve_teacher(value: str) -> str:
    """A path (``$VARS`` expanded) if it is a file, else the name as given (for the model registry)."""
    expanded = os.path.expandvars(os.path.expanduser(value))
    return expanded if Path(expanded).is_file() else value


def init_worker(_worker_id: int) -> None:
    """One thread per loader process: the workers already run in parallel with each other."""
    import cv2

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def make_extractor(
    cfg: TrainConfig, device: torch.device
) -> Callable[[nn.Module, list[ReidSample]], np.ndarray]:
    transform = EvalTransform(cfg.data.height, cfg.data.width)

    @torch.no_grad()
    def extract(model: nn.Module, samples: list[ReidSample]) -> np.ndarray:
        model.eval()
        loader = DataLoader(
            ImageDataset(samples, transform),
            batch_size=cfg.data.test_batch_size,
            shuffle=False,
            num_workers=cfg.data.workers,
            worker_init_fn=init_worker,
            multiprocessing_context=worker_context(cfg.data.workers),
            generator=torch.Generator().manual_seed(0),  # leave the global RNG alone
        )
        feats = []
        for images, *_ in loader:
            with torch.autocast(device.type, enabled=False):
                feats.append(model(images.to(device, memory_format=CHANNELS_LAST)).float().cpu())
        return torch.cat(feats).numpy()

    return extract


def config_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts (``output`` and ``threads`` ignored)."""
    changed = []
    for key in sorted(set(old) | set(new)):
        if key in ("output", "threads"):
            continue
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changed += config_changes(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(prefix + key)
    return changed


def run_training(
    cfg: TrainConfig,
    roots: Mapping[str, str] | None = None,
    *,
    resume: bool = False,
    model_factory: ModelFactory = default_model_factory,
    criterion_factory: CriterionFactory = default_criterion_factory,
    extra_hooks: Sequence[HookBase] = (),
    progress: bool | None = None,
) -> Path:
    """Train as ``cfg`` says; returns the output folder (``last.pth``, ``best.pth``, ``metrics.csv``)."""
    env = setup_distributed()
    device = pick_device(env)
    set_threads(cfg)
    output = Path(cfg.output)
    last = output / "last.pth"
    resuming = resume and last.is_file()
    if resume and not resuming:
        logger.warning(f"--resume: no {last} yet, starting from scratch")
    seed_everything(cfg.seed + env.rank)

    train_data = load_train_samples(cfg.data, roots)
    test_sets = load_test_sets(cfg.data, roots) if env.rank == 0 else []

    model_cfg = dataclasses.replace(
        cfg.model, pretrained="" if resuming else resolve_pretrained(cfg.model.pretrained)
    )
    if hasattr(model_cfg, "height"):  # the model's input spec follows the data's input size
        model_cfg = dataclasses.replace(model_cfg, height=cfg.data.height, width=cfg.data.width)
    model = model_factory(model_cfg, train_data.num_classes).to(device)
    model = model.to(memory_format=CHANNELS_LAST)  # type: ignore[call-overload]  # missing from torch's stubs
    criterion = criterion_factory(cfg.loss)
    teacher = None
    if cfg.distill.teacher:
        criterion, teacher = setup_distillation(cfg, model, criterion, device)
    # A distillation projection learns alongside the model (and is checkpointed by the trainer).
    optimizer = build_optimizer(
        nn.ModuleList([model, criterion]) if isinstance(criterion, nn.Module) else model, cfg.optim
    )
    transform = TrainTransform(
        cfg.augment, cfg.data.height, cfg.data.width, keep_augmented=teacher is not None
    )
    train_set = ImageDataset(train_data.samples, transform)
    sampler = PKSampler(
        [s.pid for s in train_data.samples],
        cfg.data.p,
        cfg.data.k,
        seed=cfg.seed,
        rank=env.rank,
        world_size=env.world_size,
    )
    if not resuming and bool(getattr(model, "bn_calibration_pending", False)):
        # Weights imported with folded BatchNorms: re-estimate them now, on the first batch of epoch 0
        # (the same on every rank), rather than inside DDP's first forward.
        batch = torch.stack([train_set[item][0] for item in sampler.epoch_batches(0)[0]])
        cast(Any, model).calibrate_batchnorm(batch.to(device, memory_format=CHANNELS_LAST))
    if env.world_size > 1:
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[env.local_rank] if device.type == "cuda" else None
        )

    loader = DataLoader(
        train_set,
        batch_sampler=sampler,
        num_workers=cfg.data.workers,
        worker_init_fn=init_worker,
        multiprocessing_context=worker_context(cfg.data.workers),
        pin_memory=device.type == "cuda",
        persistent_workers=cfg.data.workers > 0,
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    scheduler = build_scheduler(optimizer, cfg.optim, len(sampler))
    amp_dtype = None
    if device.type == "cuda" and cfg.amp:
        amp_dtype = torch.float16
    elif device.type == "cpu" and cfg.cpu_bf16:
        amp_dtype = torch.bfloat16
    trainer = Trainer(
        model,
        criterion,
        optimizer,
        scheduler,
        loader,
        sampler,
        max_epochs=cfg.optim.epochs,
        device=device,
        grad_clip=cfg.optim.grad_clip,
        amp_dtype=amp_dtype,
        rank=env.rank,
        world_size=env.world_size,
        teacher=teacher,
    )
    config_dict = to_dict(cfg)
    if env.rank == 0:
        output.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, output / "config.yaml")
    hooks: list[HookBase] = []
    if cfg.optim.freeze_backbone_epochs > 0:
        hooks.append(FreezeBackbone(cfg.optim.freeze_backbone_epochs))
    hooks += [
        Evaluate(test_sets, cfg.eval_period, make_extractor(cfg, device)),
        PeriodicCheckpoint(output, cfg.checkpoint_period, config_dict),
        MetricsWriter(output, cfg.log_period),
        Progress(progress, cfg.log_period),
        *extra_hooks,
    ]
    trainer.register_hooks(hooks)
    if resuming:
        state = load_checkpoint(last)
        changed = config_changes(state.get("config", {}), config_dict)
        if changed:
            logger.warning(
                f"resuming with a config that differs from the checkpoint's in {', '.join(changed)};"
                " the learning-rate schedule continues as saved"
            )
        trainer.load_state_dict(state)
        logger.info(f"resumed from {last} at epoch {trainer.start_epoch}")
    logger.info(
        f"training {train_data.num_classes} ids / {len(train_data.samples)} images on {device}"
        f" (world size {env.world_size}), {len(sampler)} iterations per epoch"
    )
    trainer.train()
    if env.world_size > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    if env.rank == 0 and not last.is_file():
        # The caller reports "done: .../last.pth": never for a file that is not there.
        raise ReidkitError(
            "training ended without writing last.pth",
            path=output,
            hint="see the log above for why no epoch finished",
        )
    return output
