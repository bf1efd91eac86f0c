from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from crosscam.compose import ROOMS, ComposeConfig, feather_mask, plan_walks, render_video

CFG = ComposeConfig(n_videos=3, seconds=(8.0, 10.0), n_queried=3, n_distractors=4, walk_seconds=(2.0, 4.0))
CAM_B = {f"{p:04d}": [f"{p:04d}_{k:02d}.jpg" for k in range(5, 10)] for p in range(10)}


def test_feather_mask_is_opaque_inside_and_clear_at_the_corners() -> None:
    mask = feather_mask(120, 40)
    assert mask.shape == (120, 40, 1)
    assert mask[60, 20, 0] == 1.0
    assert mask[0, 0, 0] < 0.05 and mask[-1, -1, 0] < 0.05
    assert mask.min() >= 0.0 and mask.max() <= 1.0


def test_plan_is_seeded_and_respects_crowding_and_reentry_gap() -> None:
    lengths, walks, queried = plan_walks(CFG, np.random.default_rng(7), CAM_B, sorted(CAM_B))
    again = plan_walks(CFG, np.random.default_rng(7), CAM_B, sorted(CAM_B))
    assert lengths == again[0] and queried == again[2]
    assert [(w.pid, w.video, w.start_frame, w.crops) for w in walks] == [
        (w.pid, w.video, w.start_frame, w.crops) for w in again[1]
    ]
    assert len(queried) == 3
    assert all(sum(w.pid == q for w in walks) >= 1 for q in queried)
    for v, n in enumerate(lengths):
        count = np.zeros(n, int)
        for w in walks:
            if w.video == v:
                assert w.end_frame < n
                count[w.start_frame : w.end_frame + 1] += 1
        assert count.max() <= CFG.max_people
    gap = int(CFG.reentry_gap_seconds * CFG.fps)
    for a in walks:
        for b in walks:
            if a is not b and a.pid == b.pid and a.video == b.video and a.start_frame <= b.start_frame:
                assert b.start_frame >= a.end_frame + gap


def test_render_records_a_box_for_every_frame_a_person_is_drawn(tmp_path: Path) -> None:
    lengths, walks, _ = plan_walks(CFG, np.random.default_rng(3), CAM_B, sorted(CAM_B))
    plate = np.full((432, 768, 3), 90, np.uint8)
    crops = {name: np.full((300, 100, 3), 250, np.uint8) for w in walks for name in w.crops}
    video = [w for w in walks if w.video == 0]
    render_video(
        tmp_path / "v.mp4", plate, ROOMS[0], lengths[0], video, crops, 10.0, np.random.default_rng(0)
    )
    capture = cv2.VideoCapture(str(tmp_path / "v.mp4"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    assert len(frames) == lengths[0]
    for walk in video:
        assert walk.frames == list(range(walk.start_frame, walk.end_frame + 1))
        for frame, (x1, y1, x2, y2) in zip(walk.frames, walk.boxes, strict=True):
            assert 0 <= x1 < x2 <= 768 and 0 <= y1 < y2 <= 432
            assert (x2 - x1) * (y2 - y1) > 0
            centre = frames[frame][int((y1 + y2) / 2), int((x1 + x2) / 2)]
            assert centre.mean() > 200  # the bright person is drawn where the box says


def test_camera_crops_keep_the_last_identities_for_the_dev_footage(tmp_path: Path) -> None:
    from crosscam.compose import camera_crops

    for pid in range(5):
        for shot in (0, 1, 5) if pid != 4 else (0, 1):  # person 0004 has no camera-B crop
            cv2.imwrite(str(tmp_path / f"{pid:04d}_{shot:02d}.jpg"), np.zeros((8, 4, 3), np.uint8))
    cam_a, cam_b = camera_crops(tmp_path)
    assert sorted(cam_b) == ["0000", "0001", "0002", "0003"]
    assert cam_a["0002"] == ["0002_00.jpg", "0002_01.jpg"] and cam_b["0002"] == ["0002_05.jpg"]
    # last=2: identities 0003 and 0004 of the folder; 0004 cannot walk (no camera-B crop)
    cam_a, cam_b = camera_crops(tmp_path, last=2)
    assert sorted(cam_b) == ["0003"] and sorted(cam_a) == ["0003"]


def test_dev_footage_has_its_own_key_and_the_benchmark_keeps_its_own() -> None:
    val, dev = ComposeConfig(), ComposeConfig(seed=1, people="dev")
    assert len({val.key(), dev.key(), ComposeConfig(seed=0, people="dev").key()}) == 3
