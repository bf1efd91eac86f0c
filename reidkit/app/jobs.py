"""Background library work for the app: one writer thread that indexes files, removes media and adapts
the model to the library (``reidkit adapt``), in order.

A library has one writer at a time (its ``.lock``), so every change goes through one queue and one
thread, while searches keep reading. Each job reports its phase and progress (processed frames over the
video's frames, read through the tracker, the one stage that sees every processed frame) and can be
cancelled: a queued job is dropped, a running one stops at its next frame and nothing of it is written.
"""

from __future__ import annotations

import itertools
import queue
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from reidkit.core.errors import ReidkitError
from reidkit.core.log import get_logger
from reidkit.core.types import Detections, Detector, Tracker, Tracks, model_file_of

log = get_logger(__name__)

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
JobKind = Literal["index", "remove", "adapt"]
KEEP_FINISHED = 200  # finished jobs listed (older ones are forgotten)


class Cancelled(Exception):
    """Raised inside the indexer to stop a cancelled job (not a file error: nothing is written)."""


@dataclass
class Job:
    id: int
    kind: JobKind
    name: str  # what the user sees: the file's own name (or what an adapt job does)
    path: str = field(repr=False, default="")  # server-side; never sent to the page
    status: JobStatus = "queued"
    phase: str = "waiting"
    progress: float = 0.0  # 0..1
    message: str = ""
    media_id: int | None = None
    tracklets: int = 0
    stride: int | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    # An upload the app copied into LIBRARY/app/media: deleted again unless the library keeps it (its
    # indexing failed or was cancelled, or its content is in the library already under another name).
    copied: bool = False
    kept: bool = False
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def to_dict(self) -> dict[str, Any]:
        private = ("path", "cancel", "copied", "kept")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in private}
        data["progress"] = round(self.progress, 4)
        return data


class _ProgressTracker:
    """A tracker that reports each processed frame to its job and stops it when cancelled."""

    def __init__(self, inner: Tracker, job: Job, frames_total: int, on_change: Callable[[], None]):
        self._inner = inner
        self._job = job
        self._total = max(1, frames_total)
        self._on_change = on_change
        self._last = 0.0

    @property
    def buffer(self) -> int:
        return self._inner.buffer

    def reset(self) -> None:
        self._inner.reset()

    def update(self, detections: Detections, frame_index: int) -> Tracks:
        if self._job.cancel.is_set():
            raise Cancelled()
        self._job.progress = min(0.99, (frame_index + 1) / self._total)
        now = time.monotonic()
        if now - self._last > 0.25:
            self._last = now
            self._on_change()
        return self._inner.update(detections, frame_index)


def torch_installed() -> bool:
    """Whether the ``train`` extra is here: adapting trains with torch, removing the light does not."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


class LibraryWorker:
    """The one writer of a library: a queue of jobs run by one thread.

    ``on_done(job)`` runs in the worker thread after a job succeeded (the app refreshes its reader, checks
    the watchlist and prepares playback there).
    """

    def __init__(
        self,
        root: Path,
        *,
        embedder: Callable[[], Any],
        on_done: Callable[[Job], None],
        detector: str | Detector = "yolox-nano",
    ):
        self.root = root
        self._embedder = embedder
        self._detector = detector
        self._on_done = on_done
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._jobs: OrderedDict[int, Job] = OrderedDict()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.version = 0  # bumped on every change; the event stream waits on it
        self._thread = threading.Thread(target=self._run, name="reidkit-library-writer", daemon=True)
        self._thread.start()
        self._analyser: Any = None
        self.current: Job | None = None

    # ------------------------------------------------------------------------------------------ jobs
    def submit(self, kind: JobKind, name: str, **values: Any) -> Job:
        with self._lock:
            job = Job(next(self._ids), kind, name, **values)
            self._jobs[job.id] = job
            self._forget_old()
        self._queue.put(job)
        self.changed()
        return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def job(self, job_id: int) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def busy(self) -> bool:
        return any(j.status in ("queued", "running") for j in self.jobs())

    def cancel(self, job_id: int) -> Job | None:
        job = self.job(job_id)
        if job is None:
            return None
        job.cancel.set()
        if job.status == "queued":
            self._finish(job, "cancelled", "cancelled before it started")
        return job

    def changed(self) -> None:
        with self._changed:
            self.version += 1
            self._changed.notify_all()

    def wait_change(self, version: int, timeout: float) -> int:
        """Block until ``version`` is out of date (or ``timeout`` s passed); the current version."""
        with self._changed:
            self._changed.wait_for(lambda: self.version != version, timeout)
            return self.version

    def stop(self) -> None:
        for job in self.jobs():
            job.cancel.set()
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _forget_old(self) -> None:
        finished = [j.id for j in self._jobs.values() if j.finished is not None]
        for job_id in finished[: max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[job_id]

    def _finish(self, job: Job, status: JobStatus, message: str = "") -> None:
        if job.finished is not None:
            return
        job.status, job.finished = status, time.time()
        job.message = message or job.message
        if status == "done":
            job.progress, job.phase = 1.0, "done"
        else:
            job.phase = status
        self.changed()

    # ---------------------------------------------------------------------------------------- worker
    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            if job.finished is not None:  # cancelled while queued
                continue
            self.current = job
            job.status, job.phase = "running", "starting"
            self.changed()
            try:
                if job.kind == "index":
                    self._index(job)
                elif job.kind == "adapt":
                    self._adapt(job)
                else:
                    self._remove(job)
                if job.status == "running":
                    job.phase = "finishing"
                    self.changed()
                    self._on_done(job)
                    self._finish(job, "done")
            except Cancelled:
                self._finish(
                    job,
                    "cancelled",
                    "cancelled; the library is as it was"
                    if job.kind == "adapt"
                    else "cancelled; nothing of this file was added",
                )
            except ReidkitError as exc:
                log.info("job %s: %s", job.id, exc)
                self._finish(job, "failed", f"{job.name}: {_without_path(exc.message, Path(job.path))}")
            except Exception as exc:  # a bug must not kill the writer thread: report it, go on
                log.exception("job %s failed", job.id)
                self._finish(job, "failed", f"{job.name}: could not be processed ({type(exc).__name__})")
            finally:
                self.current = None
                if job.copied and not job.kept:
                    Path(job.path).unlink(missing_ok=True)

    def _index(self, job: Job) -> None:
        from reidkit.index.indexer import IndexOptions, MediaAnalyser, MediaIndexer, build_analyser
        from reidkit.index.library import Library
        from reidkit.media import is_image, open_media
        from reidkit.track import ByteTracker, TrackerConfig

        path = Path(job.path)
        job.phase = "loading models"
        self.changed()
        embedder = self._embedder()  # the library's model now (adapting may have changed it)
        if self._analyser is None:  # the detectors load once, on the first file
            self._analyser = build_analyser(self._detector, embedder, options=IndexOptions())
            self._tracker_config = TrackerConfig.for_detector(self._analyser.detector)
        frames_total = 1 if is_image(path) else int(open_media(path).frame_count)
        analyser = MediaAnalyser(
            self._analyser.detector,
            embedder,
            video_detectors=self._analyser.video_detectors,  # a video's frames detected side by side
            options=IndexOptions(stride=job.stride, progress=False),
            tracker_factory=lambda: _ProgressTracker(
                ByteTracker(self._tracker_config), job, frames_total, self.changed
            ),
        )
        job.phase = "indexing"
        self.changed()
        try:
            with Library.create_or_open(
                self.root, embedder.name, embedder.dim, model_file=model_file_of(embedder)
            ) as library:
                report = MediaIndexer(library, analyser).index_file(path)
        finally:
            analyser.close()  # the job's frame-detection threads
        if report.status == "failed":
            log.info("%s", report.message)
            raise ReidkitError(_without_path(report.message, path))
        job.media_id = report.media_id
        if report.status == "skipped":
            job.message = "already in the library"
            with Library.open(self.root) as reader:
                job.media_id = reader.media_id(_content_hash(path))
                # Its earlier file was gone, so the library now points here: this copy is the one kept.
                job.kept = (
                    job.media_id is not None and Path(reader.media(job.media_id).path) == path.resolve()
                )
        else:
            job.kept = True
            job.tracklets = report.tracklets
            job.message = f"{report.tracklets} tracklet{'s' if report.tracklets != 1 else ''}"

    def _adapt(self, job: Job) -> None:
        """``reidkit adapt`` on the library (its verdicts then judged by the adapted model), with the
        job's phase and progress from adapt's steps; a cancel stops it at its next step, nothing applied.
        Where torch is not installed, only the cameras' light is removed (``--light-only``)."""
        from reidkit.adapt import AdaptConfig, adapt_library, remove_camera_light

        torch_missing = not torch_installed()

        def step(message: str) -> None:
            if job.cancel.is_set():
                raise Cancelled()
            job.phase = message
            self.changed()

        def share(value: float) -> None:
            if job.cancel.is_set():
                raise Cancelled()
            job.progress = min(0.99, value)
            self.changed()

        job.phase = "reading the library"
        self.changed()
        try:
            if torch_missing:
                light = remove_camera_light(self.root, config=AdaptConfig(), progress=step)
                job.progress = 1.0
                job.message = (
                    (
                        f"ranking by {light.model_name} (the cameras' light removed)"
                        if light.model_name
                        else "no camera light stands out; the library is unchanged"
                    )
                    + " — without torch only the light is looked for: pip install 'reidkit[train]' to adapt fully"
                )
                return
            report = adapt_library(self.root, config=AdaptConfig(), progress=step, share=share)
        except ReidkitError as exc:  # too little footage, say: the hint is what to do about it
            raise ReidkitError(f"{exc.message} — {exc.hint}" if exc.hint else exc.message) from None
        ranking = (
            f"; ranking by {report.ranking_model} (the cameras' light removed)"
            if report.ranking_model != report.base_model
            else ""
        )
        job.message = f"verdicts judged by {report.model_name}{ranking} ({report.stopped})"

    def _remove(self, job: Job) -> None:
        from reidkit.index.library import Library

        if job.media_id is None:
            raise ReidkitError("no media id")
        job.phase = "removing"
        self.changed()
        with Library.open(self.root) as reader:
            model, dim = reader.model, reader.dim
        with Library.create_or_open(self.root, model, dim) as library:
            if library.remove_media(job.media_id) is None:
                raise ReidkitError("is no longer in the library")
        job.message = "removed"


def _content_hash(path: Path) -> str:
    from reidkit.media import content_hash

    return content_hash(path)


def _without_path(message: str, path: Path) -> str:
    """The indexer's message about ``path`` in the page's words: no server-side path (the page names the
    file) and no decoder or exception detail in parentheses (the server's log has it)."""
    text = message.replace(str(path.resolve()), "").replace(str(path), "").lstrip(": ").strip()
    text = re.sub(r"\s*\([^()]*(Error|Exception|pyav:|opencv:)[^()]*\)", "", text)
    if text.startswith(("cannot read", "cannot be indexed", "cannot decode")):
        text = f"{text.split(' — ')[0]} — the file is damaged or not a video or photo this app can read"
    return text or "cannot be indexed"
