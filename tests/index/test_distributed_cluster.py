"""index_media_ray on a real 2-node Ray cluster, joined by address, gives the in-process library.

The cluster is what a user starts: ``ray start --head`` and a second ``ray start --address`` whose node
offers a custom resource (``worker_node``), each with one CPU, little memory, its own free ports and a
temporary Ray directory, both on this machine (Ray replaces a loopback node address with the machine's
IP, so the nodes listen there; the address given to them and to the driver is ``127.0.0.1:PORT``). The
cluster uses token authentication, as ``ray start`` does by default, with a token of its own.

The driver is a separate Python process, as ``reidkit index --ray HOST:PORT`` is: Ray keeps its
authentication settings per process, so this one (which other tests may have connected to a local Ray)
could not join a cluster with other settings. The workers pick the fakes of tests/index/fakes.py up
from this checkout (the nodes run with it on PYTHONPATH), and write down which node runs them.

Each ``ray start --block`` runs in a session of its own and its Ray processes die with it; the finalizer
ends it and then whatever is left of that session, by process id. ``ray stop`` is not used: it stops
every Ray process of the machine, other tests' and other users' included.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from reidkit.core.types import Detections
from reidkit.index.indexer import index_media
from reidkit.index.library import Library
from tests.index.fakes import BackgroundDetector, ShirtTrousersEmbedder
from tests.synthetic import make_scene, write_video

REPO = Path(__file__).resolve().parents[2]
SEED = 3  # every clip shares the seed, hence the background the fake detector subtracts
WORKER_RESOURCE = "worker_node"
START_TIMEOUT = 90.0  # seconds for both nodes to come up on a busy 2-core machine

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------------- cluster
@dataclass
class Cluster:
    address: str  # what the driver joins: 127.0.0.1:PORT
    temp_dir: Path
    env: dict[str, str]  # a driver's environment: the cluster's token, this checkout on PYTHONPATH


def ray_cli() -> str:
    """The `ray` command of this interpreter's environment (or of PATH), or skip."""
    pytest.importorskip("ray", reason="needs Ray: pip install 'reidkit[scale]'")
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("ray", path=search)
    if found is None:
        pytest.skip("needs the `ray` command-line tool (pip install 'reidkit[scale]') to start a cluster")
    return found


def free_ports(n: int) -> Iterator[int]:
    """``n`` distinct free ports: all bound at once, since a port closed after one bind may be handed out
    again by the next (two of Ray's components once got the same one)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        ports = [int(s.getsockname()[1]) for s in sockets]
    return iter(ports)


NODE_PORT_FLAGS = (
    "--node-manager-port",
    "--object-manager-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
    "--metrics-export-port",
)


def node_ports(ports: Iterator[int]) -> list[str]:
    """Free ports for everything a node listens on: two nodes on one machine cannot share Ray's defaults,
    nor can this cluster share them with another Ray running here. (Workers take random ports.)"""
    return [str(v) for flag in NODE_PORT_FLAGS for v in (flag, next(ports))]


def _die_with_this_process() -> None:
    # Linux: the kernel sends `ray start` SIGTERM when pytest dies (even by SIGKILL), and Ray's own
    # processes die with `ray start`. Elsewhere the finalizer alone ends the cluster.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def start_node(cli: str, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [cli, "start", "--block", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_this_process if sys.platform == "linux" else None,
        )


def wait_started(process: subprocess.Popen[bytes], log: Path, deadline: float) -> None:
    while b"Ray runtime started" not in log.read_bytes():
        if process.poll() is not None:
            raise RuntimeError(f"`ray start` exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"`ray start` did not start in {START_TIMEOUT:g} s:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.2)


def session_members(session: int) -> list[int]:
    """Processes whose session id is ``session``: what one `ray start` started and its children."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":  # state, ppid, pgrp, session
            pids.append(int(stat.parent.name))
    return pids


def stop_nodes(processes: list[subprocess.Popen[bytes]]) -> None:
    """End each `ray start --block` (its Ray processes die with it), then whatever of its session is
    left (a worker between fork and fate-sharing), by process id."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for _ in range(50):
        left = [pid for process in processes for pid in session_members(process.pid)]
        if not left:
            return
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    cli = ray_cli()
    # Ray's Unix socket paths must stay under ~107 bytes: a short folder, not pytest's tmp_path.
    temp_dir = Path(tempfile.mkdtemp(prefix="rk-ray-", dir="/tmp"))
    token = temp_dir / "auth_token"
    token.write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(token),
        "RAY_USAGE_STATS_ENABLED": "0",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        "OMP_NUM_THREADS": "1",
        # No idle workers started ahead of need: they would only take CPU from the rest.
        "RAY_enable_worker_prestart": "0",
        "RAY_prestart_worker_first_driver": "0",
    }
    ports = free_ports(2 + 2 * len(NODE_PORT_FLAGS))  # the head's, its dashboard's and two nodes'
    port = next(ports)
    common = [
        "--num-cpus=1",
        f"--memory={1 << 30}",
        f"--object-store-memory={96 << 20}",
        f"--temp-dir={temp_dir}",
        "--include-log-monitor=false",
        "--disable-usage-stats",
    ]
    nodes: list[subprocess.Popen[bytes]] = []
    try:
        head_log, worker_log = temp_dir / "head.log", temp_dir / "worker.log"
        head_args = [
            "--head",
            f"--port={port}",
            "--include-dashboard=false",
            f"--dashboard-port={next(ports)}",
        ]
        nodes.append(start_node(cli, [*head_args, *common, *node_ports(ports)], env, head_log))
        # The second node retries the head for a while: both start at once.
        worker_args = [f"--address=127.0.0.1:{port}", f"--resources={json.dumps({WORKER_RESOURCE: 2})}"]
        nodes.append(start_node(cli, [*worker_args, *common, *node_ports(ports)], env, worker_log))
        deadline = time.monotonic() + START_TIMEOUT
        wait_started(nodes[0], head_log, deadline)
        wait_started(nodes[1], worker_log, deadline)
        yield Cluster(f"127.0.0.1:{port}", temp_dir, env)
    finally:
        stop_nodes(nodes)
        shutil.rmtree(temp_dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------- the driver
class NodeRecordingDetector(BackgroundDetector):
    """The fake detector; on its first frame in a process it writes down the Ray node it runs on, the
    resources its worker holds and its process id (one file per process in ``record_dir``)."""

    def __init__(self, background: np.ndarray, record_dir: str):
        super().__init__(background)
        self.record_dir = record_dir
        self._recorded = False

    def detect(self, image: np.ndarray) -> Detections:
        if not self._recorded:
            import ray

            context = ray.get_runtime_context()
            record = {
                "node": context.get_node_id(),
                "resources": context.get_assigned_resources(),
                "pid": os.getpid(),
            }
            (Path(self.record_dir) / f"{os.getpid()}.json").write_text(json.dumps(record))
            self._recorded = True
        return super().detect(image)


def background() -> np.ndarray:
    return make_scene(people=[], n_frames=1, seed=SEED).frames[0]


def drive(spec_file: str) -> None:
    """The driver process: wait for both nodes, index through the cluster, write down what happened."""
    import ray

    from reidkit.core.errors import ReidkitError
    from reidkit.index.distributed import index_media_ray

    spec = json.loads(Path(spec_file).read_text())
    out: dict[str, Any] = {}
    ray.init(address=spec["address"], logging_level=logging.WARNING, log_to_driver=False)
    deadline = time.monotonic() + START_TIMEOUT
    while sum(n["Alive"] for n in ray.nodes()) < 2:  # `ray start` returns before its node registers
        if time.monotonic() > deadline:
            raise SystemExit(f"the second node did not join in {START_TIMEOUT:g} s: {ray.nodes()}")
        time.sleep(0.2)
    ray.shutdown()

    def on_file(report: Any) -> None:  # runs here while index_media_ray is connected
        if "nodes" not in out:
            out["nodes"] = [
                {"id": n["NodeID"], "resources": n["Resources"]} for n in ray.nodes() if n["Alive"]
            ]

    report = index_media_ray(
        spec["clips"],
        spec["library"],
        address=spec["address"],
        # No worker count: the default is what the nodes hold, 2 on the second node and none on the
        # head (the cluster's 2 CPUs / 0.5 would start 4, two of them never placed).
        num_cpus_per_worker=0.5,
        resources_per_worker={WORKER_RESOURCE: 1},
        detector=NodeRecordingDetector(background(), spec["records"]),
        model=ShirtTrousersEmbedder(),
        on_file=on_file,
    )
    out["files"] = [(Path(f.path).name, f.status, f.tracklets, f.message) for f in report.files]
    out["connected_after"] = ray.is_initialized()  # this process left; the cluster runs on (joined below)
    try:  # a resource no node offers: a one-line error, not a worker waiting forever
        index_media_ray(
            spec["clips"],
            spec["library"] + "-none",
            address=spec["address"],
            resources_per_worker={"no_such_node": 1},
            detector=BackgroundDetector(background()),
            model=ShirtTrousersEmbedder(),
        )
    except ReidkitError as exc:
        out["infeasible"] = str(exc)
    out["infeasible_library"] = Path(spec["library"] + "-none").exists()
    Path(spec["out"]).write_text(json.dumps(out))


def run_driver(
    code: str, args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --------------------------------------------------------------------------------------- comparison
@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    return [
        write_video(make_scene(2, 40, seed=SEED), folder / "two.mp4"),
        write_video(make_scene(3, 40, seed=SEED, first_identity=5), folder / "three.mp4"),
        write_video(make_scene(3, 50, seed=SEED, first_identity=12), folder / "other-three.mp4"),
    ]


def tracklet_table(root: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Every tracklet by (media file name, track id): its geometry, media and crop vectors."""
    with Library.open(root) as lib:
        media = {m.id: m for m in lib.media_list()}
        table = {}
        for t in lib.tracklets():
            m = media[t.media_id]
            table[(Path(m.path).name, t.track_id)] = {
                "media": (m.path, m.sha256, m.kind, m.frame_count, m.width, m.height),
                "frames": t.frames.tolist(),
                "boxes": t.boxes,
                "best_frame": t.best_frame,
                "thumbnail": (lib.root / t.thumbnail).read_bytes(),
                "crops": lib.crop_vectors(t.id),
            }
        return table


def search_table(root: Path, queries: list[np.ndarray]) -> list[list[tuple]]:
    """For each query, the moments of ``search_vector``: media, frames, members by (file, track id)."""
    from reidkit.search.engine import search_vector

    with Library.open(root) as lib:
        key = {t.id: (Path(lib.media(t.media_id).path).name, t.track_id) for t in lib.tracklets()}
        return [
            [
                (
                    m.media,
                    m.start_frame,
                    m.end_frame,
                    m.best_frame,
                    sorted(key[i] for i in m.tracklet_ids),
                    key[m.best_tracklet],
                    m.score,
                )
                for m in search_vector(lib, q, top=10)
            ]
            for q in queries
        ]


def test_a_two_node_cluster_indexes_like_this_process(
    tmp_path: Path, clips: list[Path], cluster: Cluster
) -> None:
    records, out = tmp_path / "records", tmp_path / "out.json"
    records.mkdir()
    spec = {
        "address": cluster.address,
        "clips": [str(c) for c in clips],
        "library": str(tmp_path / "ray"),
        "records": str(records),
        "out": str(out),
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    code = "import sys; from tests.index.test_distributed_cluster import drive; drive(sys.argv[1])"
    done = run_driver(code, [str(tmp_path / "spec.json")], cluster.env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())

    assert sorted(name for name, *_ in result["files"]) == ["other-three.mp4", "three.mp4", "two.mp4"]
    assert {status for _, status, *_ in result["files"]} == {"indexed"}, result["files"]
    assert result["connected_after"] is False

    # The work ran on the second node, in two workers, each holding its share of the custom resource.
    (worker_node,) = [n["id"] for n in result["nodes"] if WORKER_RESOURCE in n["resources"]]
    (head_node,) = [n["id"] for n in result["nodes"] if "node:__internal_head__" in n["resources"]]
    assert worker_node != head_node
    workers = [json.loads(p.read_text()) for p in records.glob("*.json")]
    assert len({w["pid"] for w in workers}) == 2
    assert {w["node"] for w in workers} == {worker_node}
    assert all(w["resources"] == {"CPU": 0.5, WORKER_RESOURCE: 1.0} for w in workers), workers

    message = result["infeasible"]
    assert "\n" not in message and "no_such_node 1" in message and "--resources" in message
    assert result["infeasible_library"] is False

    # The same library as indexing in this process.
    serial = index_media(
        clips, tmp_path / "serial", detector=BackgroundDetector(background()), model=ShirtTrousersEmbedder()
    )
    assert [f.status for f in serial.files] == ["indexed"] * 3
    expected, got = tracklet_table(tmp_path / "serial"), tracklet_table(tmp_path / "ray")
    per_clip = [sum(name == clip.name for name, _ in expected) for clip in clips]
    assert min(per_clip) >= 2, per_clip  # the fakes really found people in every clip
    assert sorted(got) == sorted(expected)
    by_file = {name: tracklets for name, _, tracklets, _ in result["files"]}
    assert by_file == {name: sum(k[0] == name for k in expected) for name in by_file}
    for key, want in expected.items():
        have = got[key]
        assert have["media"] == want["media"] and have["frames"] == want["frames"], key
        assert have["best_frame"] == want["best_frame"] and have["thumbnail"] == want["thumbnail"], key
        np.testing.assert_allclose(have["boxes"], want["boxes"], atol=1e-3, err_msg=str(key))
        np.testing.assert_allclose(have["crops"], want["crops"], atol=1e-5, err_msg=str(key))

    queries = []
    for want in expected.values():
        mean = want["crops"].mean(axis=0)
        queries.append(mean / np.linalg.norm(mean))
    expected_moments = search_table(tmp_path / "serial", queries)
    got_moments = search_table(tmp_path / "ray", queries)
    assert all(expected_moments) and len(got_moments) == len(expected_moments)
    for want_list, have_list in zip(expected_moments, got_moments, strict=True):
        assert [m[:-1] for m in have_list] == [m[:-1] for m in want_list]
        np.testing.assert_allclose([m[-1] for m in have_list], [m[-1] for m in want_list], atol=1e-5)


def test_a_cluster_that_wants_a_token_says_so_in_one_line(
    tmp_path: Path, clips: list[Path], cluster: Cluster
) -> None:
    env = cluster.env | {"RAY_AUTH_MODE": "disabled", "RAY_gcs_server_port_wait_time_s": "1"}
    del env["RAY_AUTH_TOKEN_PATH"]
    code = (
        "import sys\n"
        "from reidkit.core.errors import ReidkitError\n"
        "from reidkit.index.distributed import index_media_ray\n"
        "from tests.index.fakes import ShirtTrousersEmbedder\n"
        "from tests.index.test_distributed_cluster import BackgroundDetector, background\n"
        "try:\n"
        "    index_media_ray(sys.argv[2], sys.argv[3], address=sys.argv[1],\n"
        "                    detector=BackgroundDetector(background()), model=ShirtTrousersEmbedder())\n"
        "except ReidkitError as exc:\n"
        "    print('error:', exc)\n"
    )
    done = run_driver(code, [cluster.address, str(clips[0]), str(tmp_path / "lib")], env, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert cluster.address in line and "RAY_AUTH_MODE=token" in line and "token" in line
    assert not (tmp_path / "lib").exists()  # nothing created when the cluster could not be joined
