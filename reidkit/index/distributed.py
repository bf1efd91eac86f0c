"""Index many media files in parallel with Ray: workers analyse files, this process writes the library.

::

    report = index_media_ray(["/nfs/videos/"], "lib/", address="auto", num_cpus_per_worker=2)

Each worker is a Ray actor holding one :class:`~reidkit.index.indexer.MediaAnalyser` (one detector,
tracker and embedder session, built once) and analyses one file per call: media -> detect -> track ->
embed. It sends back a :class:`~reidkit.index.indexer.FileAnalysis` (tracklets, pooled and per-crop
vectors, thumbnails as JPEG bytes). This process is the library's only writer: it hashes every file,
skips those already in the library (and repeats of the same content) before dispatching anything, keeps
every worker busy, and adds each result with :func:`~reidkit.index.indexer.write_analysis` as it
arrives — one atomic add per file, so an interrupted run keeps every finished file.

The same code runs on a local Ray (``address="local"``, started here and shut down at the end) and on
a running cluster, joined by address and left running at the end:

* ``"HOST:PORT"``, the address ``ray start --head --port PORT`` prints: this process joins the cluster
  as a driver, so it must run on a machine that reaches every node (typically one of them);
* ``"auto"``: the cluster ``ray start`` last started on this machine;
* ``"ray://HOST:10001"``: through Ray Client, from outside the cluster (needs ``pip install
  'ray[client]'`` here and on the head).

::

    # on the head, then on each other node
    ray start --head --port 6379 --num-cpus 8
    ray start --address HEAD:6379 --num-cpus 16 --resources '{"reid": 4}'
    # anywhere on the cluster: workers only on the nodes that offer "reid"
    reidkit index /nfs/videos/ --library lib/ --ray HEAD:6379 --ray-cpus 4 --ray-resources '{"reid": 1}'

``resources_per_worker`` (``--ray-resources``) are Ray custom resources each worker reserves besides its
CPUs: they pin workers to the nodes started with them. The default worker count is what the cluster's
nodes can hold at once; more than that is capped (an actor that cannot be placed would hold its file
forever), and a cluster where no node can hold one worker is a one-line error, not a hang. Ray enables
token authentication for clusters started by ``ray start`` where ``~/.ray/auth_token`` exists; joining
such a cluster by address needs ``RAY_AUTH_MODE=token`` and its token (``RAY_AUTH_TOKEN`` or
``RAY_AUTH_TOKEN_PATH``) in this process's environment, or the error says so. Ray replaces a loopback
node address (``127.0.0.1``) with the machine's own IP, so a one-machine cluster listens there.

On a cluster every node must see the media at the same absolute path (shared storage), have reidkit
(and any detector / embedder class passed as an object) importable and reach the models
(``REIDKIT_MODEL_DIR``); the library lives beside this process only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reidkit.core.errors import MediaError, ReidkitError
from reidkit.core.log import get_logger
from reidkit.core.runtime import default_threads
from reidkit.core.types import Detector, Embedder, Tracker, model_file_of
from reidkit.index.indexer import (
    FileAnalysis,
    FileReport,
    IndexOptions,
    IndexReport,
    MediaAnalyser,
    build_analyser,
    find_media_to_index,
    folder_failed,
    with_stride,
    write_analysis,
)
from reidkit.index.library import DEFAULT_INDEX, Library, model_sha256

if TYPE_CHECKING:
    from reidkit.track import TrackerConfig

log = get_logger(__name__)

INSTALL_HINT = "install the optional extra: pip install 'reidkit[scale]' (ray>=2.9)"


class AnalyserWorker:
    """The body of one Ray actor: one analyser, built once, analysing the files it is sent.

    A user-fixable error while building the models (a missing model file) is kept and raised by
    :meth:`describe`, so the driver reports it as the one-line error it is instead of a dead actor.
    """

    def __init__(
        self,
        detector: str | Path | Detector,
        model: str | Path | Embedder | None,
        options: IndexOptions,
        tracker_config: TrackerConfig | None,
        tracker_factory: Callable[[], Tracker] | None,
        threads: int,
    ):
        self.analyser: MediaAnalyser | None = None
        self.error: ReidkitError | None = None
        try:
            self.analyser = build_analyser(
                detector,
                model,
                options=options,
                tracker_config=tracker_config,
                tracker_factory=tracker_factory,
                threads=threads,
            )
        except ReidkitError as exc:
            self.error = exc

    def describe(self) -> tuple[str, int, str, str | None, str | None]:
        """``(embedder name, embedder dim, detector name, model file, its sha256)``: what the driver
        needs to open the library (the file and hash are None for an embedder without a file)."""
        if self.error is not None:
            raise self.error
        assert self.analyser is not None
        detector = self.analyser.detector
        embedder = self.analyser.embedder
        model_file = model_file_of(embedder)
        sha256 = None if model_file is None else model_sha256(model_file)
        model_path = None if model_file is None else str(model_file)
        return embedder.name, int(embedder.dim), getattr(detector, "name", ""), model_path, sha256

    def analyse(self, path: str, sha: str) -> FileAnalysis:
        if self.error is not None:
            raise self.error
        assert self.analyser is not None
        return self.analyser.analyse(Path(path), sha)


@dataclass(frozen=True)
class _Job:
    path: str
    sha: str
    kind: str


def index_media_ray(
    paths: str | Path | Sequence[str | Path],
    library_root: str | Path,
    *,
    address: str | None = None,
    workers: int | None = None,
    num_cpus_per_worker: float = 1.0,
    resources_per_worker: Mapping[str, float] | None = None,
    local_cpus: int | None = None,
    detector: str | Path | Detector = "yolox-nano",
    model: str | Path | Embedder | None = None,
    stride: int | None = None,
    options: IndexOptions | None = None,
    index: str = DEFAULT_INDEX,
    nprobe: int | None = None,
    ef_search: int | None = None,
    tracker_config: TrackerConfig | None = None,
    tracker_factory: Callable[[], Tracker] | None = None,
    on_file: Callable[[FileReport], None] | None = None,
    threads: int | None = None,
) -> IndexReport:
    """Index every video and image under ``paths`` into ``library_root`` with a pool of Ray workers.

    ``address``: ``"local"`` starts Ray on this machine (``local_cpus`` CPUs, default all) and stops it
    at the end; ``"host:port"``, ``"auto"`` or ``"ray://host:port"`` joins a running cluster (see the
    module docstring); None uses the Ray this process already initialised, else starts a local one.
    ``workers`` actors (default: as many as the nodes can hold, at most one per file; never more) each
    reserve ``num_cpus_per_worker`` CPUs plus the custom ``resources_per_worker`` (e.g.
    ``{"reid": 1}``: only nodes started with ``--resources '{"reid": N}'``), and run onnxruntime with
    ``threads`` threads (default: :func:`~reidkit.core.runtime.default_threads` of that many CPUs).

    ``detector`` and ``model`` are names or .onnx paths resolved in each worker, or picklable objects
    (tests pass fakes). Everything else is as in :func:`reidkit.index.indexer.index_media`: files
    already in the library are skipped, unreadable files are reported as failed and skipped, a model
    error stops the run. ``report.files`` and ``on_file`` follow the order in which files finish.
    """
    from reidkit.media import content_hash, is_image

    ray = import_ray()
    options = with_stride(options, stride)
    show_progress = options.progress
    options = dataclasses.replace(options, progress=False)  # workers draw no bars; this process does
    if threads is None:
        threads = default_threads(num_cpus_per_worker)
    found, unwalkable = find_media_to_index(paths)
    files = [Path(p).resolve() for p in found]
    needs = worker_needs(num_cpus_per_worker, resources_per_worker)
    started_ray = connect(address, local_cpus)
    try:
        capacity = worker_capacity(ray.nodes(), needs)
        if capacity == 0:
            raise ReidkitError(
                f"no node of the Ray cluster can hold a worker needing {_describe(needs)} "
                f"(nodes: {_describe_nodes(ray.nodes())}) — lower --ray-cpus, or start a node with "
                "those resources (ray start --address ... --num-cpus N --resources '{\"name\": N}')"
            )
        custom = {k: v for k, v in needs.items() if k not in ("CPU", "GPU", "memory")}
        actor_class = ray.remote(
            num_cpus=num_cpus_per_worker,
            num_gpus=needs.get("GPU", 0),
            memory=needs.get("memory"),
            resources=custom or None,
        )(AnalyserWorker)

        def new_worker() -> Any:
            return actor_class.remote(detector, model, options, tracker_config, tracker_factory, threads)

        first = new_worker()
        model_name, dim, detector_name, model_file, sha256 = _get(ray, first.describe.remote())
        report = IndexReport(Path(library_root), model_name, detector_name or str(detector))
        for problem in unwalkable:
            report.files.append(folder_failed(problem, on_file))
        if not files:
            return report  # only folders that could not be listed: no library to create
        with Library.create_or_open(
            library_root,
            model_name,
            dim,
            index=index,
            nprobe=nprobe,
            ef_search=ef_search,
            model_file=model_file,
            model_file_sha256=sha256,
        ) as library:
            todo: deque[_Job] = deque()
            seen: dict[str, str] = {}
            for path in files:
                kind = "image" if is_image(path) else "video"
                try:
                    sha = content_hash(path)
                except MediaError as exc:  # unreadable (permissions, I/O error): lose this file only
                    _finish(report, FileReport(str(path), "failed", kind, str(exc)), on_file)
                    continue
                if library.has_media(sha):
                    _finish(report, FileReport(str(path), "skipped", kind, "already in the library"), on_file)
                elif sha in seen:
                    message = f"same content as {seen[sha]}"
                    _finish(report, FileReport(str(path), "skipped", kind, message), on_file)
                else:
                    seen[sha] = str(path)
                    todo.append(_Job(str(path), sha, kind))
            if not todo:
                return report
            if workers is not None and min(workers, len(todo)) > capacity:
                # An actor with no room stays pending and the file given to it would wait forever.
                log.warning(
                    "only %d Ray workers fit on the cluster's nodes; using %d, not %d",
                    capacity,
                    capacity,
                    workers,
                )
            count = min(capacity if workers is None else workers, capacity, len(todo))
            idle = [first] + [new_worker() for _ in range(count - 1)]
            bar = _progress(show_progress, len(todo))
            running: dict[Any, tuple[Any, _Job]] = {}
            try:
                while todo or running:
                    while idle and todo:
                        worker, job = idle.pop(), todo.popleft()
                        running[worker.analyse.remote(job.path, job.sha)] = (worker, job)
                    (ref,), _ = ray.wait(list(running), num_returns=1)
                    worker, job = running.pop(ref)
                    analysis, worker_alive = _collect(ray, ref, job)
                    idle.append(worker if worker_alive else new_worker())
                    file_report = write_analysis(library, analysis)
                    if file_report.status == "failed":
                        log.info("%s", file_report.message)
                    _finish(report, file_report, on_file)
                    if bar is not None:
                        bar.update(1)
            finally:
                if bar is not None:
                    bar.close()
        return report
    finally:
        if started_ray:
            ray.shutdown()


def _collect(ray: Any, ref: Any, job: _Job) -> tuple[FileAnalysis, bool]:
    """The analysis a worker returned, or a failed one; and whether that worker can take another file."""
    from ray.exceptions import RayActorError, RayTaskError

    try:
        return _get(ray, ref), True
    except RayActorError as exc:  # the worker process died (a crashing decoder, the OOM killer)
        message = f"{job.path}: the worker died while indexing it ({exc.__class__.__name__}); skipped"
        return _failed_analysis(job, message), False
    except RayTaskError as exc:  # analyse() raised something that is neither a ReidkitError nor expected
        cause = exc.cause if exc.cause is not None else exc
        message = f"{job.path}: cannot be indexed ({cause.__class__.__name__}: {cause})"
        return _failed_analysis(job, message), True


def _get(ray: Any, ref: Any) -> Any:
    """``ray.get``, re-raising a worker's ReidkitError (model / library errors) as itself."""
    from ray.exceptions import RayTaskError

    try:
        return ray.get(ref)
    except RayTaskError as exc:
        if isinstance(exc.cause, ReidkitError):
            raise exc.cause from None
        raise


def _failed_analysis(job: _Job, message: str) -> FileAnalysis:
    return FileAnalysis(FileReport(job.path, "failed", job.kind, message))


def _finish(
    report: IndexReport, file_report: FileReport, on_file: Callable[[FileReport], None] | None
) -> None:
    report.files.append(file_report)
    if on_file is not None:
        on_file(file_report)


def _progress(enabled: bool | None, total: int) -> Any:
    if not (sys.stderr.isatty() if enabled is None else enabled):
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc="files", unit="file", leave=False, file=sys.stderr, dynamic_ncols=True)


def worker_needs(num_cpus: float, resources: Mapping[str, float] | None) -> dict[str, float]:
    """What one worker reserves on its node: ``CPU`` plus ``resources`` (validated): custom resources,
    ``GPU`` (a count) or ``memory`` (bytes), as Ray names them."""
    needs = {"CPU": float(num_cpus)} if num_cpus > 0 else {}
    for name, amount in (resources or {}).items():
        if not isinstance(name, str) or not name or name in ("CPU", "object_store_memory"):
            raise ReidkitError(
                f"Ray worker resource {name!r} cannot be reserved here — use --ray-cpus for CPUs, and "
                "names given to `ray start --resources` for the rest"
            )
        if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount > 0:
            example = json.dumps({name: 1})
            raise ReidkitError(
                f"Ray worker resource {name!r} needs a positive amount, not {amount!r} — e.g. {example}"
            )
        needs[name] = float(amount)
    return needs


def worker_capacity(nodes: Sequence[Mapping[str, Any]], needs: Mapping[str, float]) -> int:
    """How many workers needing ``needs`` the alive ``nodes`` (``ray.nodes()``) hold at once; a worker
    lives on one node, so this is a sum over nodes, not the cluster's totals divided."""
    total = 0
    for node in nodes:
        if not node.get("Alive", node.get("alive", False)):
            continue
        offered = node.get("Resources", {})
        # A small epsilon: Ray stores fractions in fixed point (1/10000), 0.3 * 3 must fit in 0.9.
        fits = [int(offered.get(name, 0.0) / amount + 1e-6) for name, amount in needs.items()]
        if not fits:  # a worker that reserves nothing: Ray places any number
            return sys.maxsize
        total += min(fits)
    return total


def _describe(needs: Mapping[str, float]) -> str:
    return ", ".join(f"{name} {amount:g}" for name, amount in needs.items()) or "nothing"


def _describe_nodes(nodes: Sequence[Mapping[str, Any]]) -> str:
    shown = []
    for node in nodes:
        if node.get("Alive", node.get("alive", False)):
            offered = {
                k: v
                for k, v in node.get("Resources", {}).items()
                if not k.startswith("node:") and k not in ("memory", "object_store_memory")
            }
            shown.append("{" + _describe(offered) + "}")
    return "; ".join(shown) or "none alive"


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ReidkitError(f"distributed indexing needs Ray — {INSTALL_HINT}") from None
    return ray


def connect(address: str | None, local_cpus: int | None = None) -> bool:
    """Make sure Ray is initialised; returns True when this call started it (the caller shuts it down).

    A Ray this process already initialised is used whatever ``address`` says; else ``None`` acts like
    ``"local"``.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address in (None, "", "local"):
        ray.init(num_cpus=local_cpus, include_dashboard=False, **quiet)
        return True
    try:
        ray.init(address=address, **quiet)
    except ConnectionError as exc:
        if _is_auth_failure(exc):
            raise ReidkitError(
                f"the Ray cluster at {address!r} uses token authentication and refused this process (no "
                "token, or another one) — set RAY_AUTH_MODE=token and the cluster's token "
                "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) in its environment"
            ) from None
        raise ReidkitError(
            f"cannot reach a Ray cluster at {address!r} ({exc}) — start one with `ray start --head` and "
            "give the address it prints (HOST:PORT), or use --ray local"
        ) from None
    except ValueError as exc:  # ray:// without Ray Client, a malformed address
        if "ray[client]" in str(exc):
            raise ReidkitError(
                f"{address!r} needs Ray Client: pip install 'ray[client]' — or run on a node of the "
                "cluster and give the head's HOST:PORT"
            ) from None
        raise ReidkitError(
            f"cannot use the Ray address {address!r} ({exc}) — give HOST:PORT, auto or local"
        ) from None
    return True


def _is_auth_failure(exc: BaseException) -> bool:
    """Ray reports a refused token as a ConnectionError over a RuntimeError whose text names it."""
    seen: BaseException | None = exc
    while seen is not None:
        if seen.__class__.__name__ == "AuthenticationError" or "InvalidAuthToken" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
