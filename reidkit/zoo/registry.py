"""Named models: file name, checksum, input spec, licence and a public download URL.

A model is found, in this order:

1. an explicit path (``--model path/to/file.onnx``);
2. ``$REIDKIT_MODEL_DIR/<file>`` (the Makefile and CI point it at ``../shared/models``);
3. weights shipped inside the package (``reidkit/zoo/weights/``: reidkit's own default models);
4. the user cache ``$XDG_CACHE_HOME/reidkit/models`` (``~/.cache/reidkit/models``);
5. a download from the model's URL into the cache, checked against its sha256.

Offline, step 5 fails with one line saying where to put the file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from reidkit.core.errors import ModelError
from reidkit.core.files import sha256_file, user_cache_dir
from reidkit.core.registry import Registry

PACKAGE_WEIGHTS = Path(__file__).parent / "weights"


@dataclass(frozen=True)
class InputSpec:
    """How to turn a BGR uint8 image into the model's input tensor."""

    height: int
    width: int
    layout: Literal["NCHW", "NHWC"] = "NCHW"
    channels: Literal["RGB", "BGR"] = "RGB"
    scale: float = 1.0 / 255.0  # pixel values are multiplied by this first
    mean: tuple[float, float, float] = (
        0.0,
        0.0,
        0.0,
    )  # then (x - mean) / std, per channel in `channels` order
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    resize: Literal["stretch", "letterbox"] = "stretch"
    pad_value: float = 114.0  # letterbox padding (in 0-255 pixel units)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: ModelTask
    filename: str
    sha256: str | None
    input: InputSpec
    output_dim: int | None = None
    fixed_batch: bool = True  # True: the graph takes exactly one image per call
    family: str = ""  # decoder family for detectors ("yolox", ...), architecture for ReID models
    licence: str = ""
    url: str | None = None
    description: str = ""
    # Cosine-similarity calibration for "same person" decisions (reidkit/zoo/calibration.py):
    # threshold at FPR=1e-2, link_threshold at FPR=1e-3 and a class-balanced logistic fit of
    # P(same | score), measured by `python bench/calibrate.py --models NAME` on the last 100 CUHK03
    # train identities (camera A vs B), never on CUHK03 val or bench/crosscam. Empty until measured.
    calibration: dict[str, float] = field(default_factory=dict)
    # Detectors: the score from which their boxes lead tracks and may start them (ByteTrack's high
    # threshold, ``TrackerConfig.for_detector``). None: the tracker's default, made for detectors that
    # score a clearly visible person 0.7-0.9. Small detectors score people lower.
    track_high: float | None = None


ModelTask = Literal["detect", "reid"]
TASK_NAMES: dict[str, str] = {"detect": "detector", "reid": "ReID model"}

MODELS: Registry[ModelSpec] = Registry("model")


def register_model(spec: ModelSpec) -> ModelSpec:
    """Add ``spec`` to the zoo; a second, different spec under a registered name is an error."""
    return MODELS.add(spec.name, spec)


_KAZ = "https://github.com/Kazuhito00/MOT-Tracking-by-Detection-Pipeline/raw/e50a76b"
_OMZ_INPUT = InputSpec(256, 128, layout="NHWC", channels="BGR", scale=1.0)

register_model(
    ModelSpec(
        name="yolox-nano",
        task="detect",
        filename="yolox_nano_416x416.onnx",
        sha256="695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
        input=InputSpec(416, 416, channels="BGR", scale=1.0, resize="letterbox", pad_value=114.0),
        output_dim=85,
        family="yolox",
        licence="Apache-2.0 (Megvii YOLOX)",
        url=f"{_KAZ}/Detector/yolox/model/yolox_nano_416x416.onnx",
        description="YOLOX-nano, COCO 80 classes; class 0 = person",
        # On the real MOT17 frames of ../shared (640 px input) its precision is flat from 0.3 to 0.4
        # (83.8-84.9 %) and recall is 74.6 % at 0.3 against 68.0 % at 0.5: docs/tracking.md.
        track_high=0.3,
    )
)
register_model(
    ModelSpec(
        name="light-person-detector",
        task="detect",
        filename="light_person_detector.onnx",
        sha256="4bf5f704cd3bd900645a4303e0934ede13d9fb2135058b38005f4c2886c68576",
        input=InputSpec(192, 192, channels="BGR", scale=1.0, resize="letterbox", pad_value=114.0),
        output_dim=6,
        family="yolox",
        licence="Apache-2.0",
        url=f"{_KAZ}/Detector/light_person_detector/model/model.onnx",
        description="person-only YOLOX-style detector at 192x192: ~4x faster than yolox-nano, misses small people",
    )
)
register_model(
    ModelSpec(
        name="reidkit-retail-0287-cuhk03",
        task="reid",
        filename="reidkit_retail0287_cuhk03.onnx",
        sha256="daaf3ecad413590996d25401980b3c25b713cf1a8f168b9700b44c7d03380cd7",
        input=InputSpec(256, 128, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        output_dim=256,
        fixed_batch=False,
        family="omz-retail",
        licence="weights: Apache-2.0 (Open Model Zoo retail-0287) fine-tuned on CUHK03 (research use only); "
        "see docs/models.md",
        url=None,  # shipped inside the package: reidkit/zoo/weights/
        description="reidkit's default: OMZ person-reidentification-retail-0287 fine-tuned on CUHK03-labeled "
        "train; docs/models.md",
        # Its calibration travels in its sidecar (reidkit_retail0287_cuhk03.json): reidkit calibrate.
    )
)
register_model(
    ModelSpec(
        name="reidkit-osnet-x0_25-cuhk03",
        task="reid",
        filename="reidkit_osnet_x0_25_cuhk03.onnx",
        sha256="0b1f0fb6c5b3be1f605fe1dcc56d93701f7cfadf02580127be35f9c5a1797c05",
        input=InputSpec(256, 128, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        output_dim=512,
        fixed_batch=False,
        family="osnet_x0_25",
        licence="weights: MIT (torchreid OSNet, MSMT17) fine-tuned on CUHK03 (research use only); see docs/models.md",
        url=None,  # shipped inside the package: reidkit/zoo/weights/
        description="reidkit's fast model: OSNet x0.25 (MSMT17 init) fine-tuned on CUHK03-labeled train; "
        "docs/models.md",
        # Its calibration travels in its sidecar (reidkit_osnet_x0_25_cuhk03.json): reidkit calibrate.
    )
)
register_model(
    ModelSpec(
        name="osnet_x0_25_msmt17",
        task="reid",
        filename="osnet_x0_25_msmt17.onnx",
        sha256="bb2267b23a64675f67bffc3177b7319e3a08de56041d153562c0206699634bce",
        input=InputSpec(256, 128, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        output_dim=512,
        family="osnet_x0_25",
        licence="weights MIT (torchreid); file Apache-2.0 (Multitarget-tracker)",
        url="https://github.com/Smorodov/Multitarget-tracker/raw/fab4bb4/data/reid/osnet_x0_25_msmt17.onnx",
        description="OSNet x0.25 trained on MSMT17 (torchreid model zoo)",
        calibration={
            "threshold": 0.6414,
            "logit_slope": 29.962,
            "logit_bias": -16.101,
            "link_threshold": 0.7184,
        },  # bench/calibrate.py
    )
)
register_model(
    ModelSpec(
        name="person-reidentification-retail-0287",
        task="reid",
        filename="person-reidentification-retail-0287.onnx",
        sha256="f35a22885b93aa0c249d665b4cf5510d08ded92f814694c3c2fec0112b0d3a56",
        input=_OMZ_INPUT,
        output_dim=256,
        family="omz-retail",
        licence="Apache-2.0 (Open Model Zoo)",
        url=f"{_KAZ}/Tracker/person_reid/model/person-reidentification-retail-0287.onnx",
        description="Open Model Zoo person ReID, converted to ONNX (NHWC, BGR 0-255)",
        calibration={
            "threshold": 0.5632,
            "logit_slope": 19.357,
            "logit_bias": -8.156,
            "link_threshold": 0.641,
        },  # bench/calibrate.py
    )
)
register_model(
    ModelSpec(
        name="person-reidentification-retail-0248",
        task="reid",
        filename="person-reidentification-retail-0248.onnx",
        sha256="43891ce644ff6f4c70cce150028e44d6cf3d150cb5a3eb75bf69bfaef0ebe789",
        input=_OMZ_INPUT,
        output_dim=256,
        family="omz-retail",
        licence="Apache-2.0 (Open Model Zoo)",
        url=f"{_KAZ}/Tracker/person_reid/model/person-reidentification-retail-0248.onnx",
        description="Open Model Zoo person ReID, smaller, converted to ONNX",
        calibration={
            "threshold": 0.4941,
            "logit_slope": 20.244,
            "logit_bias": -7.222,
            "link_threshold": 0.5801,
        },  # bench/calibrate.py
    )
)

# The model used when none is named: reidkit's own, shipped in the package (docs/models.md).
DEFAULT_REID_MODEL = "reidkit-retail-0287-cuhk03"
DEFAULT_DETECTOR = "yolox-nano"


def get_spec(name: str, task: ModelTask = "reid") -> ModelSpec:
    """The registered ``task`` model called ``name``; unknown names list the models of that task only."""
    spec = MODELS.find(name)
    if spec is None:  # a model adapted to a library (`reidkit adapt`) is registered on first use
        from reidkit.zoo.adapted import find_adapted

        spec = find_adapted(name)
    kind = TASK_NAMES[task]
    if spec is None:
        known = ", ".join(s.name for s in MODELS.values() if s.task == task)
        raise ModelError(f"unknown {kind} {name!r}; known: {known} (or pass a path to an .onnx file)")
    if spec.task != task:
        raise ModelError(
            f"{name!r} is a {TASK_NAMES[spec.task]}, not a {kind}",
            hint="`reidkit models` lists the models of each kind",
        )
    return spec


def cache_dir() -> Path:
    """Where downloaded models are kept."""
    return user_cache_dir("models")


def model_dirs_not_found() -> list[str]:
    """The folders ``$REIDKIT_MODEL_DIR`` names that are not folders (a typo, an unmounted disk): said
    in every "model not found" message, which would otherwise tell the user to set what they set."""
    env = os.environ.get("REIDKIT_MODEL_DIR") or ""
    return [p for p in env.split(os.pathsep) if p and not Path(p).is_dir()]


def _model_dir_hint(fallback: str) -> str:
    missing = model_dirs_not_found()
    if not missing:
        return fallback
    return f"REIDKIT_MODEL_DIR names {', '.join(missing)}, which is not a folder: fix it; or {fallback}"


def candidate_paths(spec: ModelSpec) -> list[Path]:
    paths: list[Path] = []
    env = os.environ.get("REIDKIT_MODEL_DIR")
    if env:
        paths.extend(Path(p) / spec.filename for p in env.split(os.pathsep) if p)
    paths.append(PACKAGE_WEIGHTS / spec.filename)
    paths.append(cache_dir() / spec.filename)
    return paths


def resolve_model(
    name_or_path: str | Path, *, task: ModelTask = "reid", download: bool = True
) -> tuple[Path, ModelSpec | None]:
    """Find a ``task`` model's file. Returns ``(path, spec)``; ``spec`` is None for an unregistered file path."""
    text = str(name_or_path)
    as_path = Path(text).expanduser()
    if text.endswith((".onnx", ".pt", ".pth", ".pth.tar")) or os.sep in text:
        if not as_path.is_file():
            raise ModelError(
                "model file not found", path=as_path, hint="check the path or pass a registry name"
            )
        spec = next((s for s in MODELS.values() if s.filename == as_path.name), None)
        return as_path, spec
    spec = get_spec(text, task)
    for path in candidate_paths(spec):
        if path.is_file():
            return path, spec
    if download and spec.url:
        return _download(spec), spec
    places = " or ".join(str(p.parent) for p in candidate_paths(spec))
    raise ModelError(
        f"model {spec.name!r} ({spec.filename}) not found",
        hint=_model_dir_hint(f"put the file in {places}, or set REIDKIT_MODEL_DIR to its folder"),
    )


def _download(spec: ModelSpec) -> Path:
    assert spec.url is not None
    target = cache_dir() / spec.filename
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part") as tmp:
            with urllib.request.urlopen(spec.url, timeout=60) as response:
                shutil.copyfileobj(response, tmp)
            tmp_path = Path(tmp.name)
    except OSError as exc:
        raise ModelError(
            f"model {spec.name!r} is not on this machine and could not be downloaded ({exc.__class__.__name__})",
            hint=_model_dir_hint(
                f"download {spec.url} into {target.parent}, or set REIDKIT_MODEL_DIR to a folder holding "
                f"{spec.filename}"
            ),
        ) from exc
    if spec.sha256 and sha256_file(tmp_path) != spec.sha256:
        tmp_path.unlink(missing_ok=True)
        raise ModelError(f"download of {spec.name!r} has the wrong sha256", path=spec.url)
    tmp_path.replace(target)
    return target
