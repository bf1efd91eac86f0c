"""Small synthetic parts for adapt tests: a tiny ONNX ReID model and libraries built from vectors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from reidkit.index.library import Library, NewMedia, NewTracklet
from reidkit.zoo.registry import InputSpec
from reidkit.zoo.sidecar import write_sidecar

TINY_INPUT = InputSpec(16, 8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


def tiny_reid_onnx(path: Path, dim: int = 8, seed: int = 0) -> Path:
    """A linear "ReID model" over 16x8 crops (one Conv covering the whole crop), with a sidecar."""
    import onnx
    from onnx import helper, numpy_helper

    weight = np.random.default_rng(seed).normal(0, 0.1, (dim, 3, 16, 8)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["images", "w"], ["c"]),
            helper.make_node("Flatten", ["c"], ["embeddings"], axis=1),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", onnx.TensorProto.FLOAT, ["batch", 3, 16, 8])],
        [helper.make_tensor_value_info("embeddings", onnx.TensorProto.FLOAT, ["batch", dim])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    write_sidecar(
        path,
        TINY_INPUT,
        input_name="images",
        output_name="embeddings",
        output_dim=dim,
        dynamic_batch=True,
        calibration={"threshold": 0.5, "logit_slope": 10.0, "logit_bias": -5.0, "link_threshold": 0.7},
    )
    return path


def tracklet(
    track_id: int,
    frames: range,
    box: tuple[float, float, float, float],
    vectors: np.ndarray,
    fps: float = 10.0,
) -> NewTracklet:
    n = len(frames)
    vectors = np.asarray(vectors, np.float32)
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    _ok, jpeg = cv2.imencode(".jpg", np.zeros((16, 8, 3), np.uint8))
    return NewTracklet(
        track_id=track_id,
        frames=np.array(list(frames), np.int64),
        times=np.array(list(frames), np.float64) / fps,
        boxes=np.tile(np.array(box, np.float32), (n, 1)),
        vector=vectors.mean(axis=0),
        crop_vectors=vectors,
        best_frame=frames[0],
        best_box=np.array(box, np.float32),
        thumbnail_jpeg=jpeg.tobytes(),
        quality=0.9,
        crop_frames=np.array([frames[0]] * len(vectors), np.int64),
        crop_qualities=np.linspace(0.9, 0.5, len(vectors)).astype(np.float32),
    )


def video(name: str, frames: int = 100) -> NewMedia:
    return NewMedia(
        f"/nowhere/{name}",
        hashlib.sha256(name.encode()).hexdigest(),
        "video",
        10.0,
        frames,
        frames / 10,
        320,
        240,
    )


def vector_library(
    root: Path, model_file: Path, media: dict[str, list[NewTracklet]], dim: int = 8
) -> Library:
    lib = Library.create_or_open(root, model_file.stem, dim, model_file=model_file)
    for name, tracklets in media.items():
        lib.add_media(video(name), tracklets)
    return lib
