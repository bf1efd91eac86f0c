"""``reidkit index --ray-resources``: what it passes to the Ray indexer, and one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reidkit.cli import main
from reidkit.index.indexer import IndexReport


def test_ray_address_and_resources_reach_the_ray_indexer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    import reidkit.index.distributed as distributed

    seen: dict[str, Any] = {}

    def fake_index_media_ray(paths: Any, library: Any, **kwargs: Any) -> IndexReport:
        seen.update(kwargs, paths=paths)
        return IndexReport(Path(library), "m", "d")

    monkeypatch.setattr(distributed, "index_media_ray", fake_index_media_ray)
    args = ["index", str(tmp_path), "--library", str(tmp_path / "lib"), "--ray", "10.0.0.5:6379"]
    code = main([*args, "--ray-cpus", "2", "--workers", "3", "--ray-resources", '{"reid": 1, "big": 0.5}'])
    assert code == 0, capfd.readouterr().err
    assert seen["address"] == "10.0.0.5:6379" and seen["num_cpus_per_worker"] == 2.0 and seen["workers"] == 3
    assert seen["resources_per_worker"] == {"reid": 1, "big": 0.5}


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (["--ray-resources", '{"reid": 1}'], ["--ray-resources", "--ray"]),
        (["--ray", "local", "--ray-resources", "reid=1"], ["not a JSON object", '{"reid": 1}']),
        (["--ray", "local", "--ray-resources", "[1]"], ["not a JSON object"]),
        (["--ray", "local", "--ray-resources", '{"CPU": 2}'], ["cannot be reserved", "--ray-cpus"]),
    ],
)
def test_bad_ray_resources_are_one_line_errors(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], extra: list[str], needles: list[str]
) -> None:
    pytest.importorskip("ray", reason="needs Ray: pip install 'reidkit[scale]'")
    (tmp_path / "clip.mp4").write_bytes(b"not read: the options fail first")
    code = main(["index", str(tmp_path / "clip.mp4"), "--library", str(tmp_path / "lib"), *extra])
    err = capfd.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and " — " in lines[0], err
    assert all(n in lines[0] for n in needles), lines[0]
    assert not (tmp_path / "lib").exists()
