"""Real data: index a slice of a shared pedestrian video with YOLOX-nano + OSNet, then search it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import shared_path

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def test_index_real_video_slice(tmp_path: Path) -> None:
    video = shared_path("data", "videos", "one-by-one-person-detection.mp4")
    shared_path("models", "yolox_nano_416x416.onnx")
    shared_path("models", "osnet_x0_25_msmt17.onnx")
    import av

    from reidkit.cli import main
    from reidkit.index import Library

    # The first person walks in during the first ~25 s; a 30 s slice keeps the test to a few seconds.
    clip = tmp_path / "clip.mp4"
    with av.open(str(video)) as src, av.open(str(clip), "w") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream("mpeg4", rate=10)
        out.width, out.height, out.pix_fmt = stream.width, stream.height, "yuv420p"
        for i, frame in enumerate(src.decode(stream)):
            if i >= 300:
                break
            for packet in out.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in out.encode():
            dst.mux(packet)

    lib_dir = tmp_path / "lib"
    args = ["index", str(clip), "--library", str(lib_dir), "--model", "osnet_x0_25_msmt17", "--quiet"]
    assert main(args) == 0
    lib = Library.open(lib_dir)
    assert lib.model == "osnet_x0_25_msmt17" and lib.dim == 512
    (media,) = lib.media_list()
    assert media.kind == "video" and media.fps == pytest.approx(10.0) and media.width == 768
    tracklets = lib.tracklets()
    assert 1 <= len(tracklets) <= 6  # one person, maybe split by occlusion; not dozens of fragments
    longest = max(tracklets, key=lambda t: len(t.frames))
    assert longest.end - longest.start > 3.0 and longest.n_crops >= 2
    assert (lib_dir / longest.thumbnail).stat().st_size > 500

    # A tracklet's own best crop vector finds that tracklet first.
    hit = lib.search(lib.crop_vectors(longest.id)[0], k=3)[0]
    assert hit.tracklet.id == longest.id and hit.score > 0.8
    assert np.all(np.diff(longest.frames) > 0)
    assert main(args) == 0  # already indexed: skipped
    assert len(Library.open(lib_dir)) == len(tracklets)
