"""``adapt_library``: fine-tune a library's model on the library's own footage and judge with it.

    report = adapt_library("lib/")              # -> an adapted model, registered; lib/ judges with it
    print(report.model_name, report.rounds, report.seconds)

Steps (docs/adapt.md has the why and the measurements):

1. hold the library's writer lock (no indexing run may add base-model vectors meanwhile);
2. find the cameras' light (:mod:`reidkit.adapt.camera_light`: directions of the videos' mean
   vectors that stand out far above what their people explain); when some is found, it is projected out
   of every vector from here on (a linear head before the trained one);
3. re-read up to ``crops_per_tracklet`` crops per tracklet (``max_crops`` in all) from the media files
   and embed them once with the frozen library model (its stored crop vectors join them);
4. rounds: pseudo-identities from the current vectors (:mod:`reidkit.adapt.labels`: tracklets, visits,
   people clusters, people on screen together), then ``epochs_per_round`` epochs of the residual head
   (:mod:`reidkit.adapt.head`). It stops when the people clusters stop changing (their same-person pairs
   agree to ``stop_agreement``) or after ``epochs`` epochs in all;
5. export base graph + heads as one ONNX file (and base graph + the light's removal alone, when
   found) with the parity check, a sidecar holding the calibration carried over on the library's
   impostor pairs (:mod:`reidkit.adapt.calibration`) and the record of what adaptation changed (the
   model card), and list it among the adapted models (``reidkit models``);
6. apply it (``apply``): by default the library judges its verdicts with the adapted model and still
   ranks with its stored vectors (:meth:`~reidkit.index.library.Library.set_verdict_head`, one
   transaction; :mod:`reidkit.search.verdict_space`), re-embedded without the light when some was
   found (in the same transaction); ``"all"`` re-embeds the library with it, atomically
   (:meth:`~reidkit.index.library.Library.replace_vectors`: the heads map the stored crop vectors,
   the crops are not embedded again).

An interruption before step 6 leaves the library as it was (at worst an unused model file).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from reidkit.adapt.calibration import as_calibration, carry_over, cross_video_pairs, pair_scores
from reidkit.adapt.camera_light import CameraBias, camera_bias
from reidkit.adapt.config import DEFAULT_EPOCHS, HeadConfig
from reidkit.adapt.crops import library_crops, photometric_views
from reidkit.adapt.export import ComposedBase
from reidkit.adapt.labels import LabelRule, LibraryView, PseudoLabels, label_agreement, pseudo_labels
from reidkit.core.errors import LibraryError
from reidkit.core.head import apply_heads
from reidkit.core.log import get_logger
from reidkit.core.vectors import l2_normalise
from reidkit.zoo.calibration import ScoreCalibration

log = get_logger(__name__)


@dataclass(frozen=True)
class AdaptConfig:
    epochs: int = DEFAULT_EPOCHS  # at most, over all rounds
    epochs_per_round: int = 3
    stop_agreement: float = 0.98  # people clusters this stable between rounds: stop
    crops_per_tracklet: int = 8  # re-read from the media for training (0: stored crops only)
    # Re-read crops in all, at most: re-reading is most of adapt's time, and this bounds it for any
    # library size; a library of up to 1,000 tracklets still reads crops_per_tracklet each.
    max_crops: int = 8000
    flip: bool = True  # also train on mirrored crops
    augment: int = 0  # photometric views per re-read crop (another camera's colours, blur, cut)
    # The head and its training (learning rate 3e-4 chosen on dev footage: a faster head forgets more
    # of what the model knew, docs/adapt.md); its seed is this config's.
    head: HeadConfig = field(default_factory=HeadConfig)
    min_tracklets: int = 20  # fewer: nothing to learn from
    # Pairs of tracklets from different videos the calibration is carried over on: on too few impostors
    # the carried-over threshold moves far and absent people get a "likely" (the shared videos,
    # docs/adapt.md).
    min_impostor_pairs: int = 1000
    seed: int = 0
    labels: LabelRule = field(default_factory=LabelRule)
    # A direction of the videos' mean vectors whose F-ratio (between videos over within) is this many
    # times the median direction's is the cameras' light, not their people, and is projected out before
    # training (reidkit/adapt/camera_light.py); 0 keeps every direction.
    camera_bias: float = 4.0


@dataclass
class RoundReport:
    round: int
    people: int
    cross_camera_people: int
    agreement: float | None  # with the previous round's people; None for the first
    losses: list[float]


@dataclass
class AdaptReport:
    library: str
    base_model: str
    model_name: str
    model_path: str
    tracklets: int
    crops: int  # training views (re-read crops, mirrored ones and stored vectors)
    cannot_link: int
    rounds: list[RoundReport]
    stopped: str  # why training ended
    calibration: dict[str, Any]
    parity: dict[str, Any]
    seconds: dict[str, float]
    applied: Applied  # what the library now uses the adapted model for
    camera_bias: dict[str, Any]  # the cameras' directions found (CameraBias.to_dict)
    # The library model with the cameras' directions removed (the adapted model's first head), when
    # some were found: the library ranks with it after ``apply="verdicts"``.
    debiased_name: str | None
    debiased_path: str | None
    ranking_model: str  # the model whose vectors the library ranks with now

    @property
    def reembedded(self) -> bool:
        return self.applied == "all"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# What a library uses its adapted model for: its verdicts only (the stored vectors still rank: the
# adapted model ranks a photo from other cameras worse, docs/adapt.md), verdicts and ranking (the
# vectors re-embedded), or nothing (the model is only written).
Applied = Literal["verdicts", "all", "none"]
APPLIED: tuple[Applied, ...] = ("verdicts", "all", "none")

# The share of a progress bar for re-reading and embedding crops: most of adapt's time (docs/adapt.md).
CROPS_SHARE = 0.85

# Training views: (M, D) unit vectors of the frozen model, the tracklet row (view order) of each, and a
# few crops for the export's parity check.
Views = tuple[np.ndarray, np.ndarray, list[np.ndarray]]


def training_views(
    library: Any,
    view: LibraryView,
    stored: dict[int, np.ndarray],
    embedder: Any,
    config: AdaptConfig,
    say: Callable[[str], None] = lambda message: None,
    share: Callable[[float], None] = lambda done: None,
) -> Views:
    """The stored crop vectors plus, per tracklet, up to ``config.crops_per_tracklet`` crops re-read from
    the media (``config.max_crops`` in all) and embedded by the frozen model (and their mirror images
    with ``config.flip``)."""
    row_of = {r.id: i for i, r in enumerate(view.tracklets)}
    features = [np.concatenate([stored[r.id] for r in view.tracklets])]
    owners = [np.concatenate([np.full(len(stored[r.id]), i) for i, r in enumerate(view.tracklets)])]
    parity_crops: list[np.ndarray] = []
    aug_rng = np.random.default_rng(config.seed)
    if config.crops_per_tracklet > 0:
        n_media = len(view.media)
        for k, batch in enumerate(library_crops(library, config.crops_per_tracklet, config.max_crops), 1):
            images = list(batch.images)
            rows = np.array([row_of[int(t)] for t in batch.tracklet_ids])
            if config.flip:
                images += [np.ascontiguousarray(c[:, ::-1]) for c in batch.images]
            for _ in range(config.augment):
                images += [photometric_views(c, aug_rng) for c in batch.images]
            features.append(embedder.embed(images))
            owners.append(np.tile(rows, len(images) // len(rows)))
            parity_crops.extend(batch.images[: max(0, 8 - len(parity_crops))])
            say(f"crops: {k}/{n_media} files, {sum(len(f) for f in features)} views")
            share(k / max(1, n_media))
    x = np.concatenate(features).astype(np.float32)
    return x, np.concatenate(owners).astype(np.int64), parity_crops


def _tracklet_vectors(crops: dict[int, np.ndarray], view: LibraryView) -> np.ndarray:
    """Pooled unit vector per tracklet (in view order): the plain mean of its crops, as search pools."""
    return l2_normalise(np.stack([crops[r.id].mean(axis=0) for r in view.tracklets]))


def _writer(root: Path) -> Any:
    """The library at ``root`` opened for writing with its own model: the writer lock."""
    from reidkit.index.library import Library

    return Library.open_for_writing(root)


@dataclass(frozen=True)
class _Start:
    """What adapting a library and removing its cameras' light start from, read under its writer lock."""

    name: str  # the library model
    path: Path  # its file
    embedder: Any
    view: LibraryView
    stored: dict[int, np.ndarray]  # tracklet id -> stored crop vectors
    calibration: ScoreCalibration  # the library model's
    pairs: np.ndarray  # tracklets of two different videos: the impostors calibrations are carried over on
    before: np.ndarray  # their scores under the library model
    bias: CameraBias
    inputs: dict[int, np.ndarray]  # the stored crop vectors, the cameras' light removed when found
    debiased_numbers: dict[str, Any]  # the calibration carried over to ``inputs``
    measured_on: str

    @property
    def pre(self) -> list[dict[str, np.ndarray]]:
        """The heads before any trained one: the cameras' light removed, or none."""
        return [self.bias.head] if self.bias else []

    @staticmethod
    def of(library: Any, root: Path, config: AdaptConfig, rng: np.random.Generator) -> _Start:
        from reidkit.embed.factory import build_embedder
        from reidkit.zoo.calibration import calibration_for

        if len(library) < config.min_tracklets:
            raise LibraryError(
                f"has {len(library)} tracklets; adaptation needs at least {config.min_tracklets}",
                path=root,
                hint="index more footage first",
            )
        name, base_file = library.model, library.model_file
        embedder = build_embedder(base_file if base_file and Path(base_file).is_file() else name)
        path = Path(embedder.path)
        library.check_model_file(path)
        view = LibraryView.of(library)
        stored = {r.id: library.crop_vectors(r.id) for r in view.tracklets}
        pairs = cross_video_pairs(view.cameras, rng)
        if len(pairs) < config.min_impostor_pairs:
            raise LibraryError(
                f"has {len(pairs)} pairs of tracklets from different videos; adaptation needs "
                f"{config.min_impostor_pairs} to measure the adapted model's calibration",
                path=root,
                hint="index more footage from more cameras first (the library is left as it is)",
            )
        base_vectors = _tracklet_vectors(stored, view)
        before = pair_scores(base_vectors, pairs)
        from_video = np.array([view.media[c].kind == "video" for c in view.cameras], bool)
        bias = camera_bias(base_vectors[from_video], view.cameras[from_video], config.camera_bias)
        # The head's inputs, the cameras' directions removed when there are some (the head starts at
        # zero: before training, the adapted model is the library model, debiased).
        pre = [bias.head] if bias else []
        inputs = {i: apply_heads(pre, v) for i, v in stored.items()}
        calibration = calibration_for(name, path)
        debiased = carry_over(calibration, before, pair_scores(_tracklet_vectors(inputs, view), pairs))
        measured_on = f"library {root.resolve()} (carried over from {name}, no labels)"
        return _Start(
            name=name,
            path=path,
            embedder=embedder,
            view=view,
            stored=stored,
            calibration=calibration,
            pairs=pairs,
            before=before,
            bias=bias,
            inputs=inputs,
            debiased_numbers={**debiased, "measured_on": measured_on},
            measured_on=measured_on,
        )

    def composed(self, library: Any, crops: list[np.ndarray]) -> ComposedBase:
        """The library model as the base of composed models (``crops`` check their parity; random
        crops when there are none)."""
        from reidkit.zoo.registry import MODELS
        from reidkit.zoo.sidecar import read_sidecar

        spec = MODELS.find(self.name)
        return ComposedBase(
            name=self.name,
            path=self.path,
            input_spec=spec.input if spec is not None else self.embedder.input_spec,
            dim=library.dim,
            sidecar=read_sidecar(self.path) or {},
            crops=crops
            or [np.random.default_rng(0).integers(0, 255, (256, 128, 3), dtype=np.uint8) for _ in range(4)],
            record={
                "base_model": self.name,
                "base_file": str(self.path.resolve()),
                "base_sha256": library.model_sha256,
                "base_family": spec.family if spec is not None else "",
                "base_licence": spec.licence if spec is not None else "",
                "library": str(Path(library.root).resolve()),
                "camera_bias": self.bias.to_dict(),
            },
        )

    def write_debiased(
        self, composed: ComposedBase, folder: Path, file: Path | None = None
    ) -> tuple[str, Path, str]:
        """Write and list the library model without the cameras' light (to ``file``, else in ``folder``):
        its name, file and sha256."""
        from reidkit.core.head import head_digest
        from reidkit.zoo.adapted import record_adapted

        name = f"{self.name}-debiased-{head_digest(self.bias.head)[:8]}"
        out = file or folder / f"{name}.onnx"
        sha, _ = composed.write(
            out,
            self.pre,
            self.debiased_numbers,
            {"changed": _light_removed(self.bias) + "; the base graph's weights are unchanged"},
        )
        record_adapted(name, out)
        return name, out, sha


def _light_removed(bias: CameraBias) -> str:
    return (
        f"the cameras' {len(bias.directions)} direction(s) projected out of the base graph's "
        "L2-normalised output"
    )


def adapt_library(
    library_root: str | Path,
    *,
    output: str | Path | None = None,
    config: AdaptConfig = AdaptConfig(),
    apply: Applied = "verdicts",
    progress: Callable[[str], None] | None = None,
    share: Callable[[float], None] | None = None,
    views: Views | None = None,
) -> AdaptReport:
    """Adapt the library's model to the library (see the module docstring) and ``apply`` it
    (:data:`Applied`). Returns what was done.

    ``progress`` gets a line per step, ``share`` the share of the work done (0..1) after each: re-reading
    crops is most of it. Either may raise to stop the run; the library is then left as it was."""
    if apply not in APPLIED:
        raise ValueError(f"apply is one of {', '.join(APPLIED)}, not {apply!r}")
    import torch

    from reidkit.adapt.head import ResidualHead, train_head
    from reidkit.core.head import VerdictHead, apply_head, head_digest
    from reidkit.zoo.adapted import adapted_dir, record_adapted

    say = progress or (lambda message: log.info("%s", message))
    done = share or (lambda value: None)
    # Where on the progress bar each stage ends.
    crops_end, train_end = (CROPS_SHARE if config.crops_per_tracklet > 0 and views is None else 0.0), 0.97
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    root = Path(library_root).expanduser()
    library = _writer(root)  # the writer lock, held to the end
    try:
        torch.manual_seed(config.seed)
        rng = np.random.default_rng(config.seed)
        base = _Start.of(library, root, config, rng)
        name, dim, view, bias, inputs = base.name, library.dim, base.view, base.bias, base.inputs
        if bias:
            say(f"the cameras' light: {bias.summary()}")
        t0 = time.perf_counter()
        if views is None:
            views = training_views(
                library, view, base.stored, base.embedder, config, say, lambda k: done(crops_end * k)
            )
        x, owner, parity_crops = views
        x = apply_heads(base.pre, x)
        seconds["crops"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        base_calibration, pairs, before = base.calibration, base.pairs, base.before
        vectors = _tracklet_vectors(inputs, view)
        calibration = as_calibration(base.debiased_numbers) if bias else base_calibration
        cfg = replace(config.head, seed=config.seed)
        head = ResidualHead(dim, cfg.hidden)
        labels: PseudoLabels | None = None
        rounds: list[RoundReport] = []
        stopped = f"{config.epochs} epochs done"
        trained = 0
        while True:
            new = pseudo_labels(
                view, vectors, calibration, config.labels, None if labels is None else labels.cannot_link
            )
            agreement = None if labels is None else label_agreement(labels.person, new.person)
            labels = new
            if agreement is not None and agreement >= config.stop_agreement:
                rounds.append(
                    RoundReport(len(rounds), labels.n_people, labels.cross_camera_people(), agreement, [])
                )
                stopped = f"people clusters stable (agreement {agreement:.3f} >= {config.stop_agreement})"
                break
            if trained >= config.epochs:
                rounds.append(
                    RoundReport(len(rounds), labels.n_people, labels.cross_camera_people(), agreement, [])
                )
                break
            epochs = min(config.epochs_per_round, config.epochs - trained)
            partners = _partners(labels)
            losses = train_head(
                head, x, labels.person[owner], labels.camera[owner], partners, epochs, cfg, rng
            )
            trained += epochs
            rounds.append(
                RoundReport(len(rounds), labels.n_people, labels.cross_camera_people(), agreement, losses)
            )
            say(
                f"round {len(rounds)}: {labels.n_people} people ({labels.cross_camera_people()} in several "
                f"videos), loss {losses[-1]:.3f}"
                + ("" if agreement is None else f", clusters agree {agreement:.3f} with the last round")
            )
            done(crops_end + (train_end - crops_end) * trained / max(1, config.epochs))
            arrays = head.arrays()
            adapted_crops = {i: apply_head(arrays, v) for i, v in inputs.items()}
            vectors = _tracklet_vectors(adapted_crops, view)
            calibration = as_calibration(carry_over(base_calibration, before, pair_scores(vectors, pairs)))
        seconds["train"] = time.perf_counter() - t0

        arrays = head.arrays()
        adapted_crops = {i: apply_head(arrays, v) for i, v in inputs.items()}
        numbers = carry_over(
            base_calibration, before, pair_scores(_tracklet_vectors(adapted_crops, view), pairs)
        )
        numbers["measured_on"] = base.measured_on
        model_name = f"{name}-adapted-{head_digest(arrays)[:8]}"
        out = Path(output).expanduser() if output else adapted_dir() / f"{model_name}.onnx"
        t0 = time.perf_counter()
        composed = base.composed(library, parity_crops)
        debiased_name = debiased_out = debiased_sha = None
        if bias:
            debiased_name, debiased_out, debiased_sha = base.write_debiased(composed, out.parent)
        sha, parity = composed.write(
            out,
            [*base.pre, arrays],
            numbers,
            {
                "changed": (_light_removed(bias) + ", then " if bias else "")
                + "a residual head after the base graph's L2-normalised output "
                + (f"(MLP, {config.head.hidden} hidden)" if config.head.hidden else "(linear, no bias)")
                + "; the base graph's weights are unchanged",
                "head_change": round(
                    float(np.linalg.norm(arrays["w"] if "w" in arrays else arrays["w2"])), 4
                ),
                "tracklets": len(view.tracklets),
                "media": len(view.media),
                "training_views": len(x),
                "cannot_link_pairs": len(labels.cannot_link),
                "people": labels.n_people,
                "cross_camera_people": labels.cross_camera_people(),
                "rounds": [asdict(r) for r in rounds],
                "stopped": stopped,
                "config": json.loads(json.dumps(asdict(config), default=str)),
            },
        )
        record_adapted(model_name, out)
        seconds["export"] = time.perf_counter() - t0
        say(f"adapted model: {model_name} ({out})")
        t0 = time.perf_counter()
        ranking_model = name
        if apply == "all":
            library.replace_vectors(model_name, out, adapted_crops, model_file_sha256=sha)
            ranking_model = model_name
            say(f"library re-embedded with {model_name}")
        elif apply == "verdicts" and debiased_name is not None and debiased_out is not None:
            # The stored vectors lose the cameras' directions (the ranking changes: a photo is mapped
            # the same way), and the head of the new vectors judges, in one transaction.
            library.replace_vectors(
                debiased_name,
                debiased_out,
                inputs,
                model_file_sha256=debiased_sha,
                verdict_head=VerdictHead(model_name, arrays),
            )
            ranking_model = debiased_name
            say(f"library re-embedded with {debiased_name}; its verdicts are judged with {model_name}")
        elif apply == "verdicts":
            library.set_verdict_head(VerdictHead(model_name, arrays))
            say(f"the library's verdicts are judged with {model_name}; its vectors are unchanged")
        seconds["apply"] = time.perf_counter() - t0
        done(1.0)
    finally:
        library.close()
    seconds["total"] = time.perf_counter() - started
    return AdaptReport(
        library=str(root),
        base_model=name,
        model_name=model_name,
        model_path=str(out),
        tracklets=len(view.tracklets),
        crops=len(x),
        cannot_link=len(labels.cannot_link),
        rounds=rounds,
        stopped=stopped,
        calibration=numbers,
        parity=asdict(parity),
        seconds=seconds,
        applied=apply,
        camera_bias=bias.to_dict(),
        debiased_name=debiased_name,
        debiased_path=None if debiased_out is None else str(debiased_out),
        ranking_model=ranking_model,
    )


@dataclass
class LightReport:
    library: str
    base_model: str
    camera_bias: dict[str, Any]  # the cameras' directions found (CameraBias.to_dict)
    model_name: str | None  # the library's model now, without the light; None: nothing stood out
    model_path: str | None
    calibration: dict[str, Any] | None  # carried over to it on the library

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def remove_camera_light(
    library_root: str | Path,
    *,
    output: str | Path | None = None,
    config: AdaptConfig = AdaptConfig(),
    progress: Callable[[str], None] | None = None,
) -> LightReport:
    """Only the first step of adapting (``reidkit adapt --light-only``): find the cameras' light in the
    library's vectors (:mod:`reidkit.adapt.camera_light`) and, when some stands out, re-embed the
    library with the library model without it, atomically. No training, no crops re-read, no torch.

    The model is written to ``output`` (default: in the adapted-models folder) and listed there. A
    verdict head of the old vectors is dropped (:meth:`~reidkit.index.library.Library.replace_vectors`):
    adapt again to judge with one. When nothing stands out, the library is left as it is."""
    from reidkit.zoo.adapted import adapted_dir

    say = progress or (lambda message: log.info("%s", message))
    root = Path(library_root).expanduser()
    library = _writer(root)
    try:
        base = _Start.of(library, root, config, np.random.default_rng(config.seed))
        say(f"the cameras' light: {base.bias.summary()}")
        if not base.bias:
            return LightReport(str(root), base.name, base.bias.to_dict(), None, None, None)
        file = Path(output).expanduser() if output else None
        name, out, sha = base.write_debiased(base.composed(library, []), adapted_dir(), file)
        library.replace_vectors(name, out, base.inputs, model_file_sha256=sha)
        say(f"library re-embedded with {name} ({out})")
    finally:
        library.close()
    return LightReport(str(root), base.name, base.bias.to_dict(), name, str(out), base.debiased_numbers)


def _partners(labels: PseudoLabels) -> dict[int, set[int]]:
    """Person -> the people on screen with them (their hard negatives)."""
    out: dict[int, set[int]] = {}
    for a, b in labels.cannot_link:
        pa, pb = int(labels.person[a]), int(labels.person[b])
        if pa != pb:
            out.setdefault(pa, set()).add(pb)
            out.setdefault(pb, set()).add(pa)
    return out
