"""Recording a camera into segment files: cutting, stopping, reconnecting, and sources that are not cameras."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pytest

from reidkit.core.errors import MediaError
from reidkit.media import open_media
from reidkit.media.camera import CameraRecorder, CameraSegment, describe_source, parse_source
from tests.index.test_indexer import write_scene


class FakeCapture:
    """A stream that sends ``frames`` pictures (forever when None), then stops; ``opened`` False: unreachable."""

    def __init__(
        self, frames: int | None, opened: bool = True, fps: float = 10.0, shape: tuple[int, ...] = (48, 64, 3)
    ) -> None:
        self.left, self.opened, self.fps, self.sent, self.shape = frames, opened, fps, 0, shape

    def isOpened(self) -> bool:  # OpenCV's name
        return self.opened

    def get(self, _prop: int) -> float:
        return self.fps

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left is not None:
            if self.left == 0:
                return False, None
            self.left -= 1
        self.sent += 1
        return True, np.full(self.shape, self.sent % 256, np.uint8)

    def release(self) -> None:
        pass


def captures(*streams: FakeCapture):  # type: ignore[no-untyped-def]
    """An ``open_capture`` that hands out ``streams`` in turn, then unreachable ones."""
    queue = list(streams)
    return lambda _source: queue.pop(0) if queue else FakeCapture(0, opened=False)


def record(recorder_args: dict, stop: threading.Event | None = None) -> list[CameraSegment]:  # type: ignore[type-arg]
    segments: list[CameraSegment] = []
    recorder = CameraRecorder(on_segment=segments.append, **recorder_args)
    recorder.run(stop or threading.Event())
    return segments


def test_a_video_played_as_a_camera_is_cut_into_playable_segments(tmp_path: Path) -> None:
    video = write_scene(tmp_path / "cam.mp4", n_frames=50, fps=10.0)
    segments = record({"source": str(video), "folder": tmp_path / "segments", "segment_seconds": 2.0})
    assert [s.frames for s in segments] == [20, 20, 10]
    for segment in segments:
        media = open_media(segment.path)
        assert media.fps == 10.0 and media.frame_count == segment.frames
        with av.open(str(segment.path)) as container:  # H.264 in mp4: the browser plays it as it is
            assert container.streams.video[0].codec_context.name == "h264"
            filmed = datetime.fromisoformat(container.metadata["creation_time"].replace("Z", "+00:00"))
            assert abs(filmed.timestamp() - segment.started) < 1.0
        assert media.recorded_at is not None and abs(media.recorded_at - segment.started) < 1.0
    assert sorted(p.name for p in (tmp_path / "segments").iterdir()) == sorted(s.path.name for s in segments)


def test_stopping_keeps_the_segment_in_progress(tmp_path: Path) -> None:
    stop = threading.Event()
    stream = FakeCapture(None)
    segments: list[CameraSegment] = []

    def on_segment(segment: CameraSegment) -> None:
        segments.append(segment)
        if len(segments) == 2:
            stream.left = 7  # a few more frames, then the test stops the recorder mid-segment
            threading.Timer(0.2, stop.set).start()

    recorder = CameraRecorder(
        "rtsp://cam/1", tmp_path, segment_seconds=1.0, on_segment=on_segment, open_capture=captures(stream)
    )
    stream_ended = threading.Thread(target=recorder.run, args=(stop,))
    stream_ended.start()
    stream_ended.join(timeout=20)
    assert not stream_ended.is_alive()
    # A segment closes when the frame after it arrives: that frame starts the next one.
    assert [s.frames for s in segments] == [10, 10, 8]
    assert not list(tmp_path.glob(".*"))  # no half-written file left behind


def test_a_dropped_stream_is_reopened(tmp_path: Path) -> None:
    stop = threading.Event()
    second = FakeCapture(None)
    segments: list[CameraSegment] = []

    def on_segment(segment: CameraSegment) -> None:
        segments.append(segment)
        if len(segments) == 2:
            stop.set()

    recorder = CameraRecorder(
        "rtsp://cam/1",
        tmp_path,
        segment_seconds=1.0,
        on_segment=on_segment,
        open_capture=captures(FakeCapture(4), FakeCapture(0, opened=False), second),
        max_pause=0.0,
    )
    recorder.run(stop)
    # The 4 frames before the drop are a segment of their own; recording went on after two reopenings
    # (the frame that closed the second segment is the third's, kept when the recorder stopped).
    assert [s.frames for s in segments][:2] == [4, 10] and second.sent >= 11


def test_a_camera_gone_for_good_is_a_one_line_error_without_its_password(tmp_path: Path) -> None:
    args = {
        "source": "rtsp://admin:hunter2@10.0.0.5/stream",
        "folder": tmp_path,
        "segment_seconds": 1.0,
        "open_capture": captures(FakeCapture(3)),
        "reconnect_attempts": 2,
        "max_pause": 0.0,
    }
    segments: list[CameraSegment] = []
    with pytest.raises(MediaError, match="2 reconnections failed") as failure:
        CameraRecorder(on_segment=segments.append, **args).run(threading.Event())  # type: ignore[arg-type]
    assert "admin:***@10.0.0.5" in str(failure.value) and "hunter2" not in str(failure.value)
    assert [s.frames for s in segments] == [3]


def test_unreachable_and_unknown_sources(tmp_path: Path) -> None:
    recorder = CameraRecorder(
        "http://10.0.0.9/video",
        tmp_path,
        on_segment=print,
        open_capture=captures(FakeCapture(0, opened=False)),
    )
    with pytest.raises(MediaError, match="cannot open the camera"):
        recorder.run(threading.Event())
    with pytest.raises(MediaError, match="not a camera"):
        parse_source("front door")
    assert parse_source("0") == 0 and parse_source(" rtsp://x/y ") == "rtsp://x/y"
    with pytest.raises(MediaError, match="longer than 0 s"):
        CameraRecorder("0", tmp_path, segment_seconds=0, on_segment=print)
    assert describe_source("rtsp://u:p@h/s") == "rtsp://u:***@h/s" and describe_source("0") == "0"


def _write_audio_only(path: Path) -> None:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 1024), np.float32)
        for _ in range(8):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 16000
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def test_a_file_without_pictures_says_so_not_to_check_a_url(tmp_path: Path) -> None:
    audio = tmp_path / "audio_only.mp4"
    _write_audio_only(audio)
    with pytest.raises(MediaError) as caught:
        CameraRecorder(str(audio), tmp_path / "out", on_segment=print).open()
    message = str(caught.value)
    assert str(audio) in message and "no video stream (only audio)" in message
    assert "password" not in message and "\n" not in message
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    with pytest.raises(MediaError, match=r"notes\.mp4: not a readable video"):
        CameraRecorder(str(text), tmp_path / "out", on_segment=print).open()


def test_a_camera_slower_than_it_says_keeps_true_times(tmp_path: Path) -> None:
    # It announces 20 fps and sends 10: frames are placed at their arrival, so a 2 s segment holds
    # 2 s of what was filmed (20 frames), not 40 frames stretched over 4 s.
    stop = threading.Event()
    ticks = iter(np.arange(0, 100, 0.1))
    segments: list[CameraSegment] = []

    def on_segment(segment: CameraSegment) -> None:
        segments.append(segment)
        stop.set()

    recorder = CameraRecorder(
        "rtsp://cam/1",
        tmp_path,
        segment_seconds=2.0,
        on_segment=on_segment,
        open_capture=captures(FakeCapture(None, fps=20.0)),
        clock=lambda: float(next(ticks)),
    )
    recorder.run(stop)
    times = [frame.time for frame in open_media(segments[0].path).frames()]
    assert segments[0].frames == len(times) == 20
    np.testing.assert_allclose(times, np.arange(20) * 0.1, atol=0.01)


class MjpegCamera:
    """A real network camera on loopback: MJPEG over HTTP at ``fps``, for ``seconds`` per connection."""

    def __init__(self, fps: float = 20.0, seconds: float = 2.5) -> None:
        import http.server
        import socketserver
        import time

        import cv2

        camera = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the standard library's name
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                start, n = time.monotonic(), 0
                while time.monotonic() - start < seconds and not camera.closed:
                    image = np.full((96, 128, 3), (n * 7) % 256, np.uint8)
                    jpeg = cv2.imencode(".jpg", image)[1].tobytes()
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    try:
                        self.wfile.write(head.encode() + jpeg + b"\r\n")
                    except OSError:
                        return
                    n += 1
                    time.sleep(max(0.0, start + n / fps - time.monotonic()))

            def log_message(self, *args: object) -> None:
                pass

        self.closed = False
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/stream"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.server.shutdown()
        self.server.server_close()


def test_a_real_network_camera_is_recorded_in_real_time(tmp_path: Path) -> None:
    camera = MjpegCamera(fps=20.0, seconds=2.5)
    segments: list[CameraSegment] = []
    recorder = CameraRecorder(
        camera.url,
        tmp_path,
        segment_seconds=1.0,
        on_segment=segments.append,
        reconnect_attempts=1,
        max_pause=0.1,
    )
    threading.Timer(3.5, camera.close).start()  # the camera goes away after one reconnection
    with pytest.raises(MediaError, match="1 reconnection failed"):
        recorder.run(threading.Event())
    assert len(segments) >= 3 and sum(s.frames for s in segments) >= 30
    for segment in segments:
        times = [frame.time for frame in open_media(segment.path).frames()]
        assert times[-1] < 1.0  # a segment holds one second of what was filmed


@pytest.mark.parametrize("shape", [(48, 64), (48, 64, 4)], ids=["grey", "bgra"])
def test_grey_and_bgra_pictures_are_recorded(tmp_path: Path, shape: tuple[int, ...]) -> None:
    segments: list[CameraSegment] = []
    recorder = CameraRecorder(
        "rtsp://cam/1", tmp_path, on_segment=segments.append, open_capture=captures(FakeCapture(5, shape=shape)),
        reconnect_attempts=0,
    )  # fmt: skip
    with pytest.raises(MediaError, match="stopped sending frames"):
        recorder.run(threading.Event())
    assert [s.frames for s in segments] == [5]
    assert next(open_media(segments[0].path).frames()).image.shape == (48, 64, 3)


def test_a_camera_sending_huge_pictures_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import reidkit.media.camera as camera

    monkeypatch.setattr(camera, "MAX_VIDEO_PIXELS", 64 * 48)  # as a 16K camera against the real limit
    huge = FakeCapture(1, shape=(49, 64, 3))
    with pytest.raises(MediaError, match="camera frame is 64x49 pixels"):
        record({"source": "rtsp://cam/1", "folder": tmp_path, "open_capture": captures(huge)})
    assert not list(tmp_path.iterdir())


def test_a_camera_that_comes_up_late_is_waited_for_when_asked(tmp_path: Path) -> None:
    args = {"source": "rtsp://cam/1", "folder": tmp_path, "segment_seconds": 1.0, "max_pause": 0.0}
    late = [FakeCapture(0, opened=False), FakeCapture(0, opened=False), FakeCapture(3)]
    segments: list[CameraSegment] = []
    recorder = CameraRecorder(
        on_segment=segments.append,
        open_capture=captures(*late),
        wait_for_camera=True,
        reconnect_attempts=3,
        **args,
    )  # type: ignore[arg-type]
    with pytest.raises(MediaError, match="3 reconnections failed"):
        recorder.run(threading.Event())
    assert [s.frames for s in segments] == [3]  # recorded once it came up; then it went away for good
    with pytest.raises(MediaError, match="cannot open the camera"):  # by default a camera must be there
        CameraRecorder(on_segment=print, open_capture=captures(*late[:1]), **args).run(threading.Event())  # type: ignore[arg-type]
