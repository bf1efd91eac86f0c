"""index_media_ray on a local Ray gives the library the serial indexer gives; bad and repeated files."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from reidkit.core.errors import ReidkitError
from reidkit.index.indexer import IndexReport, index_media
from reidkit.index.library import Library
from tests.index.fakes import BackgroundDetector, ShirtTrousersEmbedder
from tests.synthetic import make_scene, write_video

REPO = Path(__file__).resolve().parents[2]
SEED = 3  # both clips share the seed, hence the background the fake detector subtracts


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    pytest.importorskip("ray", reason="needs Ray: pip install 'reidkit[scale]'")
    from reidkit.index.distributed import connect

    # Workers are separate processes: they must import this checkout's reidkit and tests.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), old) if p)
    try:
        started = connect("local", local_cpus=2)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    yield
    if started:
        import ray

        ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    first = write_video(make_scene(2, 40, seed=SEED), folder / "two.mp4")
    second = write_video(make_scene(3, 40, seed=SEED, first_identity=5), folder / "three.mp4")
    return [first, second]


def parts() -> tuple[BackgroundDetector, ShirtTrousersEmbedder]:
    background = make_scene(people=[], n_frames=1, seed=SEED).frames[0]
    return BackgroundDetector(background), ShirtTrousersEmbedder()


def library_content(root: Path) -> dict[str, list[tuple]]:
    """Per media file name: every tracklet's geometry and vectors, in track order."""
    with Library.open(root) as lib:
        out: dict[str, list[tuple]] = {}
        for media in lib.media_list():
            rows = []
            for t in sorted(lib.tracklets(media.id), key=lambda t: t.track_id):
                rows.append(
                    (
                        t.track_id,
                        t.frames.tolist(),
                        np.round(t.boxes, 3).tolist(),
                        t.best_frame,
                        np.round(lib.crop_vectors(t.id), 5).tolist(),
                        (lib.root / t.thumbnail).read_bytes(),
                    )
                )
            out[Path(media.path).name] = rows
        return out


def test_ray_matches_the_serial_indexer(tmp_path: Path, clips: list[Path], local_ray: None) -> None:
    from reidkit.index.distributed import index_media_ray

    detector, embedder = parts()
    serial = index_media(clips, tmp_path / "serial", detector=detector, model=embedder)
    assert [f.status for f in serial.files] == ["indexed", "indexed"]
    detector, embedder = parts()
    seen = []
    distributed = index_media_ray(
        clips, tmp_path / "ray", workers=2, detector=detector, model=embedder, on_file=seen.append
    )
    assert distributed.model == "shirt-trousers-test" and distributed.detector == "background-diff"
    assert sorted(f.status for f in seen) == ["indexed", "indexed"] and seen == distributed.files
    expected = library_content(tmp_path / "serial")
    assert sorted(expected) == ["three.mp4", "two.mp4"]
    assert all(len(rows) >= 2 for rows in expected.values())  # the fakes really found people
    assert library_content(tmp_path / "ray") == expected
    by_name = {Path(f.path).name: f for f in distributed.files}
    assert by_name["two.mp4"].tracklets == len(expected["two.mp4"]) and by_name["two.mp4"].media_id


def test_ray_skips_known_repeated_and_broken_files(
    tmp_path: Path, clips: list[Path], local_ray: None
) -> None:
    from reidkit.index.distributed import index_media_ray

    folder = tmp_path / "media"
    folder.mkdir()
    for clip in clips:
        shutil.copy(clip, folder / clip.name)
    shutil.copy(clips[0], folder / "two-again.mp4")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00 not a video" * 50)

    first = index_media_ray(folder, tmp_path / "lib", detector=parts()[0], model=parts()[1])
    status = {Path(f.path).name: (f.status, f.message) for f in first.files}
    assert status["three.mp4"][0] == "indexed"
    assert status["broken.mp4"][0] == "failed" and "broken.mp4" in status["broken.mp4"][1]
    # Same content twice: the first in the listing is indexed, the other skipped before dispatch.
    (kept, _), (repeat, why) = sorted(status[n] for n in ("two.mp4", "two-again.mp4"))
    assert (
        kept == "indexed"
        and repeat == "skipped"
        and why == f"same content as {folder.resolve()}/two-again.mp4"
    )
    with Library.open(tmp_path / "lib") as lib:
        assert len(lib.media_list()) == 2

    again: IndexReport = index_media_ray(folder, tmp_path / "lib", detector=parts()[0], model=parts()[1])
    status = {Path(f.path).name: f.status for f in again.files}
    assert status == {
        "two.mp4": "skipped",
        "three.mp4": "skipped",
        "two-again.mp4": "skipped",
        "broken.mp4": "failed",
    }


def test_without_ray_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from reidkit.index.distributed import index_media_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ReidkitError, match=r"reidkit\[scale\]"):
        index_media_ray(tmp_path, tmp_path / "lib", detector=parts()[0], model=parts()[1])


def node(alive: bool = True, **resources: float) -> dict:
    return {"Alive": alive, "Resources": {"node:10.0.0.1": 1.0, "memory": 1e9, **resources}}


def test_workers_that_fit_are_counted_per_node() -> None:
    from reidkit.index.distributed import worker_capacity, worker_needs

    needs = worker_needs(2.0, {"reid": 1})
    assert needs == {"CPU": 2.0, "reid": 1.0}
    # 3 CPUs + 3 CPUs hold 2 two-CPU workers, not the 3 that the cluster's 6 CPUs would suggest.
    assert worker_capacity([node(CPU=3, reid=4), node(CPU=3, reid=4)], needs) == 2
    # A node without the custom resource holds none; a dead node counts for nothing.
    assert worker_capacity([node(CPU=64), node(CPU=4, reid=1), node(False, CPU=8, reid=8)], needs) == 1
    assert worker_capacity([node(CPU=64)], needs) == 0
    # Ray keeps fractions in fixed point: three 0.3-CPU workers fit in 0.9 CPUs.
    assert worker_capacity([node(CPU=0.9)], worker_needs(0.3, None)) == 3
    # GPUs and memory (bytes) are Ray's own names, reserved like the rest.
    gpu = worker_needs(1.0, {"GPU": 1, "memory": 4e9})
    assert worker_capacity([node(CPU=8, GPU=2, memory=32e9), node(CPU=8)], gpu) == 2


@pytest.mark.parametrize(
    ("resources", "needle"),
    [
        ({"CPU": 1}, "--ray-cpus"),
        ({"reid": 0}, "positive"),
        ({"reid": "one"}, "positive"),
        ({"": 1}, "ray start"),
    ],
)
def test_bad_worker_resources_are_one_line_errors(resources: dict, needle: str) -> None:
    from reidkit.index.distributed import worker_needs

    with pytest.raises(ReidkitError, match=needle) as caught:
        worker_needs(1.0, resources)
    assert "\n" not in str(caught.value)


def test_more_workers_than_the_nodes_hold_are_capped(
    tmp_path: Path, clips: list[Path], local_ray: None
) -> None:
    from reidkit.index.distributed import index_media_ray

    # Two 1-CPU workers fit on the 2-CPU Ray: a third actor would stay pending with its file forever.
    third = write_video(make_scene(3, 50, seed=SEED, first_identity=12), tmp_path / "third.mp4")
    detector, embedder = parts()
    report = index_media_ray(
        [*clips, third], tmp_path / "lib", workers=3, num_cpus_per_worker=1, detector=detector, model=embedder
    )
    assert [f.status for f in report.files] == ["indexed"] * 3
