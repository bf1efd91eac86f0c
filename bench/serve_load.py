"""`reidkit serve` under load: N concurrent searches while a video is being indexed (loopback only).

    PYTHONPATH=. python bench/serve_load.py [--clients 50] [--stride 4]

Starts `reidkit serve` in its own process on a fresh library, adds the shared indoor video through the
API and waits for it, cuts the query crop (the largest person in frame 1050, as `make demo` does), and
times searches on the idle server. Then it starts indexing the shared ``.264`` stream (every frame, so
that indexing outlasts the searches) and, while that job runs, sends ``--clients`` concurrent
``POST /api/search`` requests, each from its own connection, released together.

Prints one table: per phase the requests answered (200 / 503 / other / no answer), latency p50 / p95 /
max, and p50 and p95 as ratios to the idle p50. Target: every request answered (200, or 503 with
Retry-After when over the queue limit), none dropped, and the indexing job still running when the last
answer came back (so every search ran while indexing).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("REIDKIT_SHARED", REPO.parent / "shared"))
VIDEO = SHARED / "data/videos/one-by-one-person-detection.mp4"
STREAM = SHARED / "data/videos/people-detection.264"
QUERY_FRAME = 1050


def query_crop(out: Path) -> bytes:
    import cv2

    from reidkit.detect import build_detector
    from reidkit.media import open_media

    for frame in open_media(VIDEO).frames():
        if frame.index == QUERY_FRAME:
            boxes = build_detector("yolox-nano").detect(frame.image).boxes
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            x1, y1, x2, y2 = (round(float(v)) for v in boxes[int(np.argmax(areas))])
            data = cv2.imencode(".jpg", frame.image[max(0, y1) : y2, max(0, x1) : x2])[1].tobytes()
            (out / "query.jpg").write_bytes(data)
            return data
    raise SystemExit(f"{VIDEO} has no frame {QUERY_FRAME}")


def wait_job(client, job_id: int, timeout: float = 600) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.5)
    raise SystemExit(f"job {job_id} did not finish in {timeout:.0f} s")


def burst(url: str, photo: bytes, clients: int) -> list[tuple[str, float]]:
    """``clients`` searches released together, one connection each: (outcome, seconds) per request."""
    import httpx

    results: list[tuple[str, float]] = [("no answer", 0.0)] * clients
    gate = threading.Barrier(clients)

    def one(i: int) -> None:
        with httpx.Client(base_url=url, timeout=300) as client:
            gate.wait()
            t0 = time.perf_counter()
            try:
                response = client.post(
                    "/api/search", files={"photo": (f"q{i}.jpg", photo, "image/jpeg")}, data={"top": "10"}
                )
                outcome = str(response.status_code)
                if response.status_code == 200 and not response.json()["moments"]:
                    outcome = "200 empty"
            except httpx.HTTPError as exc:
                outcome = f"no answer ({type(exc).__name__})"
            results[i] = (outcome, time.perf_counter() - t0)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def row(name: str, results: list[tuple[str, float]], idle_p50: float | None) -> str:
    times = np.array([s for _, s in results])
    outcomes = [o for o, _ in results]
    ok = outcomes.count("200")
    busy = outcomes.count("503")
    dropped = sum(o.startswith("no answer") for o in outcomes)
    other = len(outcomes) - ok - busy - dropped
    p50, p95 = np.percentile(times, 50), np.percentile(times, 95)
    ratio = f"{p50 / idle_p50:7.1f}x {p95 / idle_p50:7.1f}x" if idle_p50 else f"{'1.0x':>8s} {'-':>8s}"
    return (
        f"{name:28s} {len(results):5d} {ok:5d} {busy:5d} {other:5d} {dropped:7d} "
        f"{p50:7.2f} {p95:7.2f} {times.max():7.2f} {ratio}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--stride", type=int, default=4, help="stride for the first (searched) video")
    parser.add_argument("--idle", type=int, default=5, help="sequential searches on the idle server")
    args = parser.parse_args()
    for path in (VIDEO, STREAM, SHARED / "models"):
        if not path.exists():
            print(f"needs {path} (the shared data beside the checkout)", file=sys.stderr)
            return 2
    import httpx

    env = {**os.environ, "PYTHONPATH": str(REPO), "REIDKIT_MODEL_DIR": str(SHARED / "models")}
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        out = Path(tmp)
        env["TMPDIR"] = str(out)
        server = subprocess.Popen(
            [sys.executable, "-m", "reidkit.cli", "serve", "--library", str(out / "lib"), "--port", "0",
             "--allow-root", str(VIDEO.parent)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if "serving" not in line:
                print(f"reidkit serve did not start: {line}{server.stdout.read()}", file=sys.stderr)
                return 1
            url = line.split(" at ")[1].split()[0].rstrip("/")
            photo = query_crop(out)
            with httpx.Client(base_url=url, timeout=600) as client:
                t0 = time.perf_counter()
                job = client.post(
                    "/api/library/paths", json={"path": str(VIDEO), "stride": args.stride}
                ).json()
                first = wait_job(client, job["jobs"][0]["id"])
                print(
                    f"indexed {VIDEO.name}: {first['status']}, {first['message']} ({time.perf_counter() - t0:.1f} s)"
                )
                idle = []
                for i in range(args.idle + 1):  # the first search loads the detector: not timed
                    t = time.perf_counter()
                    response = client.post("/api/search", files={"photo": ("q.jpg", photo, "image/jpeg")})
                    if i:
                        idle.append((str(response.status_code), time.perf_counter() - t))
                idle_p50 = float(np.percentile([s for _, s in idle], 50))
                job = client.post("/api/library/paths", json={"path": str(STREAM), "stride": 1}).json()
                stream_job = job["jobs"][0]["id"]
                deadline = time.monotonic() + 120
                while client.get(f"/api/jobs/{stream_job}").json()["phase"] != "indexing":
                    if time.monotonic() > deadline:
                        raise SystemExit("the indexing job did not start")
                    time.sleep(0.2)
                before = client.get(f"/api/jobs/{stream_job}").json()
            results = burst(url, photo, args.clients)
            with httpx.Client(base_url=url, timeout=600) as client:
                after = client.get(f"/api/jobs/{stream_job}").json()
                final = wait_job(client, stream_job)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    print(
        f"\nindexing {STREAM.name} (every frame) during the burst: progress {before['progress']:.0%} at its "
        f"start, {after['progress']:.0%} and {after['status']} at its end; the job then ended {final['status']}"
    )
    print(
        f"\n{'phase':28s} {'reqs':>5s} {'200':>5s} {'503':>5s} {'other':>5s} {'dropped':>7s} "
        f"{'p50 s':>7s} {'p95 s':>7s} {'max s':>7s} {'p50/idle':>8s} {'p95/idle':>8s}"
    )
    print(row("idle, one at a time", idle, None))
    print(row(f"{args.clients} concurrent + indexing", results, idle_p50))
    others = sorted({o for o, _ in results if o not in ("200", "503")})
    if others:
        print(f"other outcomes: {', '.join(others)}")
    answered = all(not o.startswith("no answer") for o, _ in results)
    during = after["status"] == "running"
    print(
        f"\nall answered: {'yes' if answered else 'NO'}; all while indexing ran: {'yes' if during else 'NO'}"
    )
    return 0 if answered and during else 1


if __name__ == "__main__":
    sys.exit(main())
