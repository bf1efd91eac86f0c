"""Re-embedding a library is atomic: a kill -9 at any point leaves the old library or the new one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from reidkit.index.library import Library
from tests.adapt.helpers import tiny_reid_onnx, tracklet, vector_library

DIM = 8
REPO = Path(__file__).resolve().parents[2]


def make_library(tmp_path: Path, n_media: int = 3, per_media: int = 40) -> tuple[Path, Path, Path]:
    base = tiny_reid_onnx(tmp_path / "base.onnx")
    new = tiny_reid_onnx(tmp_path / "new.onnx", seed=1)
    rng = np.random.default_rng(0)
    media = {
        f"v{m}.mp4": [
            tracklet(
                t + 1,
                range(t * 3, t * 3 + 5),
                (10.0 * (t % 20), 20.0, 10.0 * (t % 20) + 8, 60.0),
                rng.normal(size=(4, DIM)),
            )
            for t in range(per_media)
        ]
        for m in range(n_media)
    }
    vector_library(tmp_path / "lib", base, media, DIM).close()
    return tmp_path / "lib", base, new


def snapshot(root: Path) -> tuple[str, str | None, np.ndarray, list[int]]:
    """The model, its sha256, every crop vector, and what Faiss answers for the first tracklet's vector."""
    with Library.open(root) as lib:
        crops = np.concatenate([lib.crop_vectors(t.id) for t in lib.tracklets()])
        ids, vectors = lib.tracklet_vectors()
        found = [h.tracklet.id for h in lib.search(vectors[0], 3)]
        assert found[0] == ids[0]  # Faiss agrees with the vectors in SQLite
        return lib.model, lib.model_sha256, crops, found


def new_crops(root: Path) -> dict[int, np.ndarray]:
    """The re-embedding used by every test: each crop vector reversed and negated (any fixed change)."""
    with Library.open(root) as lib:
        return {t.id: -lib.crop_vectors(t.id)[:, ::-1] for t in lib.tracklets()}


def test_replace_vectors_switches_model_and_vectors(tmp_path: Path) -> None:
    root, _base, new = make_library(tmp_path)
    model, sha, _crops, _ = snapshot(root)
    replacement = new_crops(root)
    with Library.create_or_open(root, model, DIM) as lib:
        footage_before = lib.footage_scores().to_json()
        lib.replace_vectors("new", new, replacement)
    with Library.open(root) as lib:
        assert (lib.model, Path(lib.model_file or "").name) == ("new", "new.onnx")
        assert lib.model_sha256 is not None and lib.model_sha256 != sha
        for t in lib.tracklets():
            stored = lib.crop_vectors(t.id)
            np.testing.assert_allclose(stored, replacement[t.id], atol=1e-6)
        assert lib.footage_scores().to_json() != footage_before  # measured again on the new vectors
        lib.check_model_file(new)  # the library now belongs to the new model file
    snapshot(root)


def test_replace_vectors_refuses_missing_tracklets(tmp_path: Path) -> None:
    root, _, new = make_library(tmp_path, 1, 5)
    model, _, crops, _ = snapshot(root)
    replacement = new_crops(root)
    replacement.pop(next(iter(replacement)))
    with Library.create_or_open(root, model, DIM) as lib, pytest.raises(ValueError, match="every tracklet"):
        lib.replace_vectors("new", new, replacement)
    np.testing.assert_array_equal(snapshot(root)[2], crops)


CHILD = textwrap.dedent(
    """
    import sys, time
    from contextlib import contextmanager
    from pathlib import Path
    import numpy as np
    from reidkit.index.library import Library

    root, new, pause = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    with Library.open(root) as lib:
        model = lib.model
        replacement = {t.id: -lib.crop_vectors(t.id)[:, ::-1] for t in lib.tracklets()}
    if pause == "before-commit":  # sleep inside the transaction, every row already updated
        plain = Library._transaction
        @contextmanager
        def slow(self):
            with plain(self) as cur:
                yield cur
                if cur.execute("SELECT value FROM meta WHERE key='model'").fetchone()[0] == "new":
                    print("paused", flush=True); time.sleep(60)
        Library._transaction = slow
    elif pause == "after-commit":  # committed, the vector files not written yet
        plain_rebuild = Library._rebuild_store
        def slow_rebuild(self, reason):
            print("paused", flush=True); time.sleep(60)
            return plain_rebuild(self, reason)
        Library._rebuild_store = slow_rebuild
    else:
        print("paused", flush=True)
    lib = Library.create_or_open(root, model, 8)
    lib.replace_vectors("new", new, replacement)
    print("done", flush=True)
    """
)


def kill_during(root: Path, new: Path, pause: str, delay: float = 0.0) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(root), str(new), pause], stdout=subprocess.PIPE, text=True, env=env
    )
    assert child.stdout is not None
    line = child.stdout.readline().strip()
    assert line == "paused", line
    time.sleep(delay)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    return line


@pytest.mark.parametrize(("pause", "expect"), [("before-commit", "old"), ("after-commit", "new")])
def test_kill_9_leaves_the_old_library_or_the_new_one(tmp_path: Path, pause: str, expect: str) -> None:
    root, base, new = make_library(tmp_path)
    old = snapshot(root)
    wanted = np.concatenate(list(new_crops(root).values()))
    kill_during(root, new, pause)
    with Library.create_or_open(
        root, "new" if expect == "new" else base.stem, DIM
    ) as writer:  # the next writer takes it as it is
        assert len(writer) == len(writer.tracklets())
    model, sha, crops, _ = snapshot(root)  # the vector files (unlisted by the commit) are rebuilt from SQLite
    if expect == "old":
        assert (model, sha) == old[:2]
        np.testing.assert_array_equal(crops, old[2])
    else:
        assert model == "new"
        np.testing.assert_allclose(crops, wanted, atol=1e-6)


def test_kill_9_at_random_moments(tmp_path: Path) -> None:
    root, _base, new = make_library(tmp_path, 4, 150)
    old = snapshot(root)
    wanted = np.concatenate(list(new_crops(root).values()))
    for delay in (0.3, 0.6, 0.9):
        kill_during(root, new, "none", delay)
        model, _, crops, _ = snapshot(root)
        with Library.create_or_open(root, model, DIM) as writer:  # the next writer takes it as it is
            assert len(writer) == len(writer.tracklets())
        if model == "new":
            np.testing.assert_allclose(crops, wanted, atol=1e-6)
            return
        np.testing.assert_array_equal(crops, old[2])
