"""A damaged library is never made worse: each case refuses (or repairs) with one line naming the fix."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reidkit.cli import main
from reidkit.core.errors import LibraryError
from reidkit.index.library import Library
from tests.index.test_library import DIM, basis, make_tracklet, media


def build(root: Path, files: int = 3) -> None:
    with Library.create_or_open(root, "fake", DIM) as lib:
        for i in range(files):
            lib.add_media(
                media(f"{i}.mp4", f"{i:064d}"),
                [make_tracklet(1, basis(i % DIM)), make_tracklet(2, basis((i + 1) % DIM))],
            )


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` but SQLite's own -wal/-shm and the lock, with its content hash."""
    skip = ("library.sqlite-wal", "library.sqlite-shm", ".lock")
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def one_line(exc: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("damage", ["empty", "deleted"])
def test_a_missing_or_empty_database_next_to_a_librarys_files_is_refused(tmp_path: Path, damage: str) -> None:
    build(tmp_path)
    db = tmp_path / "library.sqlite"
    if damage == "empty":
        db.write_bytes(b"")
    else:
        db.unlink()
    before = snapshot(tmp_path)
    with pytest.raises(LibraryError) as err:
        Library.create_or_open(tmp_path, "fake", DIM)
    message = one_line(err)
    assert str(db) in message and "another library's files" in message and "restore library.sqlite" in message
    assert "thumbs/" in message and "vectors/" in message
    assert snapshot(tmp_path) == before  # not one thumbnail or vector touched
    with pytest.raises(LibraryError, match=r"empty|not a library"):
        Library.open(tmp_path)
    assert main(["remove", "/videos/0.mp4", "--library", str(tmp_path)]) == 2
    assert snapshot(tmp_path) == before


def test_a_folder_without_a_library_still_becomes_one(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")  # other files are not a library's
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        lib.add_media(media("a.mp4", "a" * 64), [make_tracklet(1, basis(0))])


def test_a_closed_library_is_one_database_file(tmp_path: Path) -> None:
    build(tmp_path / "lib")
    wal = tmp_path / "lib" / "library.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy"
    shutil.copytree(tmp_path / "lib", copy, ignore=shutil.ignore_patterns("library.sqlite-*"))
    with Library.create_or_open(copy, "fake", DIM) as lib:  # a copy of the closed library is whole
        assert len(lib.media_list()) == 3
        lib.add_media(media("new.mp4", "f" * 64), [make_tracklet(1, basis(5))])


def test_a_copy_made_without_its_wal_is_refused_for_writing(tmp_path: Path) -> None:
    root, copy = tmp_path / "lib", tmp_path / "copy"
    writer = Library.create_or_open(root, "fake", DIM)
    for i in range(30):  # committed, still in the -wal: the writer is open
        writer.add_media(media(f"{i}.mp4", f"{i:064d}"), [make_tracklet(1, basis(i % DIM))])
    assert (root / "library.sqlite-wal").stat().st_size > 0
    shutil.copytree(
        root, copy, ignore=shutil.ignore_patterns("library.sqlite-wal", "library.sqlite-shm", ".lock")
    )
    writer.close()
    before = snapshot(copy)
    with pytest.raises(LibraryError) as err:
        Library.create_or_open(copy, "fake", DIM)
    message = one_line(err)
    assert "library.sqlite-wal" in message and "nothing was changed" in message
    assert snapshot(copy) == before
    shutil.copy(root / "library.sqlite", copy / "library.sqlite")  # the fix: the whole database
    with Library.create_or_open(copy, "fake", DIM) as lib:
        assert len(lib.media_list()) == 30


def run_on_read_only(folder: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a process that sees ``folder`` read-only: mounted read-only in a private mount
    namespace when running as root (root may write through permissions), else with write bits cleared."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        if shutil.which("unshare") is None:
            pytest.skip("root without unshare: cannot make a folder read-only")
        mount = f"mount --bind -o ro {shlex.quote(str(folder))} {shlex.quote(str(folder))}"
        command = ["unshare", "-m", "sh", "-c", f"{mount} && exec {shlex.join(command)}"]
    else:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    finally:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_a_read_only_library_can_be_searched(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    build(root)
    before = snapshot(root)
    files_before = sorted(p.name for p in root.iterdir())
    code = (
        "import numpy as np\n"
        "from reidkit.index.library import Library\n"
        "from reidkit.core.errors import LibraryError\n"
        f"lib = Library.open({str(root)!r})\n"
        f"q = np.zeros({DIM}, np.float32); q[2] = 1\n"
        "print(lib.search(q, 1)[0].media.path)\n"
        "try:\n"
        f"    Library.create_or_open({str(root)!r}, 'fake', {DIM})\n"
        "except LibraryError as exc:\n"
        "    print('refused:', exc)\n"
    )
    result = run_on_read_only(root, code)
    if "mount" in result.stderr and result.returncode != 0:
        pytest.skip(f"cannot mount read-only here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    found, refused = result.stdout.strip().splitlines()
    assert found == "/videos/1.mp4"
    assert refused.startswith("refused: ") and "cannot write to the library folder" in refused
    assert "\n" not in refused
    assert snapshot(root) == before and sorted(p.name for p in root.iterdir()) == files_before


def test_a_damaged_database_page_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build(tmp_path, files=40)
    db = tmp_path / "library.sqlite"
    data = bytearray(db.read_bytes())
    page = 4096
    noise = np.random.default_rng(0)
    for start in range(page, len(data), page):  # every page but the first (the schema)
        data[start + 8 : start + 200] = noise.integers(0, 256, 192, dtype=np.uint8).tobytes()
    db.write_bytes(bytes(data))
    before = snapshot(tmp_path)
    with pytest.raises(LibraryError) as err:
        lib = Library.open(tmp_path)
        lib.search(basis(0), 5)
    message = one_line(err)
    assert str(db) in message and "damaged" in message and "nothing was changed" in message
    assert ".recover" in message or "restore it" in message
    assert main(["remove", "/videos/0.mp4", "--library", str(tmp_path)]) == 2
    err_out = capsys.readouterr().err
    assert err_out.startswith("error: ") and err_out.count("\n") == 1
    with pytest.raises(LibraryError):
        Library.create_or_open(tmp_path, "fake", DIM)
    assert snapshot(tmp_path) == before


def test_vectors_damaged_under_the_same_ids_are_rebuilt_by_a_writer(tmp_path: Path) -> None:
    build(tmp_path)
    shard = tmp_path / "vectors" / "shard-000000.f32"
    vectors = np.fromfile(shard, np.float32).reshape(-1, DIM)
    vectors[0] = -vectors[0]  # still a unit vector, silently wrong
    vectors.tofile(shard)
    with Library.create_or_open(tmp_path, "fake", DIM) as lib:
        ids, truth = lib.tracklet_vectors()
        hit = lib.search(truth[0], 1)[0]
        assert hit.tracklet.id == ids[0] and hit.score == pytest.approx(1.0, abs=1e-5)
    assert not shard.exists()  # replaced by new shards made from library.sqlite
    with Library.open(tmp_path) as reader:
        assert reader.search(truth[0], 1)[0].tracklet.id == ids[0]


@pytest.mark.parametrize("first_add", ["new library", "existing library"])
def test_an_add_that_fails_for_any_reason_leaves_the_library_as_it_was(
    tmp_path: Path, first_add: str
) -> None:
    """A file name the database cannot store (not UTF-8) fails the add after its vectors were written:
    they are cut off at once, so the next file goes in and the library opens for writing again."""
    root = tmp_path / "lib"
    if first_add == "existing library":
        build(root, files=1)
    bad_name = os.fsdecode(b"/videos/caf\xe9.mp4")  # a Latin-1 name on a UTF-8 system
    with Library.create_or_open(root, "fake", DIM) as lib:
        before = len(lib)
        with pytest.raises(UnicodeEncodeError):
            lib.add_media(media(bad_name, "e" * 64), [make_tracklet(1, basis(3)), make_tracklet(2, basis(4))])
        assert len(lib) == before and lib.media_id("e" * 64) is None
        lib.add_media(media("ok.mp4", "f" * 64), [make_tracklet(1, basis(5))])
    with Library.create_or_open(root, "fake", DIM) as lib:  # a writer's open checks every vector file
        assert len(lib) == before + 1
        assert [Path(m.path).name for m in lib.media_list()][-1] == "ok.mp4"
        hit = lib.search(basis(5), k=1)[0]
        assert hit.media.path.endswith("ok.mp4") and hit.score > 0.99
        thumbs = [p.name for p in (root / "thumbs").rglob("*.jpg")]
        assert thumbs and not [name for name in thumbs if name.startswith("e" * 8)]  # none of the failed add


def test_a_file_passed_as_the_library_is_named_as_such(tmp_path: Path) -> None:
    photo = tmp_path / "me.jpg"
    photo.write_bytes(b"\xff\xd8")
    with pytest.raises(LibraryError) as exc:
        Library.open(photo)
    assert "is a file, not a library folder" in one_line(exc) and "reidkit index" in str(exc.value)


def test_a_name_that_is_not_utf8_is_simply_not_in_the_library(tmp_path: Path) -> None:
    build(tmp_path / "lib", files=1)
    with Library.create_or_open(tmp_path / "lib", "fake", DIM) as lib:
        bad = os.fsdecode(b"/videos/caf\xe9.mp4")
        assert lib.media_by_path(bad) is None and lib.remove_media(bad) is None
        assert len(lib.media_list()) == 1
