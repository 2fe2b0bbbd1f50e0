"""Load benchmark of `emosketch serve`, on loopback only: N concurrent clients classify a photo and
render a panel frame, side by side with a single client.

    python benchmarks/serve.py --out bench-out                    # 1 client vs 8, 240 requests each
    python benchmarks/serve.py --out bench-out --clients 1,4,16 --requests 400

Each scenario starts a fresh server (`emosketch serve`, the shipped models, on a free loopback port)
so that its peak memory (the server process's VmHWM) is its own. A client is a thread with one
keep-alive HTTP connection that alternates POST /api/classify (the demo photo, 256 px JPEG, 23 KB)
and POST /api/render (a random emotion blend, so the frame cache rarely helps; ssd1306 bytes). The
work is bounded in count (--requests per scenario) and in time (--timeout per request, --deadline
per scenario). A request is lost when it gets no answer or an answer other than 200; the benchmark
reports every loss and exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import table  # noqa: E402

from emosketch.models import demo_photo  # noqa: E402

EMOTIONS = ["neutral", "happy", "sad", "surprise", "fear", "anger"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, threads: int | None) -> subprocess.Popen:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.Popen([sys.executable, "-m", "emosketch.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    started = time.time()
    while time.time() - started < 120:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: {proc.stderr.read()[-500:]}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/info")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the server did not answer within 120 s")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def client(port: int, n: int, seed: int, timeout: float, deadline: float, photo: bytes, out: list) -> None:
    rng = np.random.default_rng(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    for i in range(n):
        if time.time() > deadline:
            out.append(("deadline", None, "not sent: the scenario's deadline passed"))
            continue
        if i % 2 == 0:
            kind, path, body, headers = "classify", "/api/classify", photo, {"Content-Type": "image/jpeg"}
        else:
            w = rng.dirichlet(np.ones(len(EMOTIONS)) * 0.5)
            kind, path = "render", "/api/render"
            body = json.dumps({"weights": {e: round(float(v), 3) + 1e-3 for e, v in zip(EMOTIONS, w)},
                               "format": "ssd1306"}).encode()
            headers = {"Content-Type": "application/json"}
        t0 = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            ok = r.status == 200 and (kind != "render" or len(data) == 1024)
            out.append((kind, time.perf_counter() - t0, None if ok else f"HTTP {r.status}: {data[:120]!r}"))
        except (OSError, http.client.HTTPException) as exc:
            out.append((kind, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.close()


def scenario(clients: int, requests: int, timeout: float, deadline_s: float, threads: int | None) -> dict:
    port = free_port()
    proc = start_server(port, threads)
    try:
        photo = demo_photo().read_bytes()
        warm: list = []
        client(port, 4, 99, timeout, time.time() + 60, photo, warm)  # first calls load lazily: not timed
        per = [requests // clients + (1 if i < requests % clients else 0) for i in range(clients)]
        results: list[list] = [[] for _ in range(clients)]
        deadline = time.time() + deadline_s
        workers = [threading.Thread(target=client, args=(port, n, i, timeout, deadline, photo, results[i]))
                   for i, n in enumerate(per)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall = time.perf_counter() - t0
        peak = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    done = [r for rs in results for r in rs]
    lost = [r for r in done if r[2] is not None]
    row = {"clients": clients, "requests": len(done), "lost": len(lost), "seconds": round(wall, 2),
           "requests_per_s": round((len(done) - len(lost)) / wall, 2), "peak_rss_mb": round(peak, 1)}
    for kind in ("classify", "render"):
        lat = np.array([r[1] for r in done if r[0] == kind and r[2] is None]) * 1000
        row[f"{kind}_p50_ms"] = round(float(np.percentile(lat, 50)), 1) if len(lat) else None
        row[f"{kind}_p99_ms"] = round(float(np.percentile(lat, 99)), 1) if len(lat) else None
    lat = np.array([r[1] for r in done if r[2] is None]) * 1000
    row["all_p50_ms"] = round(float(np.percentile(lat, 50)), 1) if len(lat) else None
    row["all_p99_ms"] = round(float(np.percentile(lat, 99)), 1) if len(lat) else None
    row["losses"] = [r[2] for r in lost][:10]
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--clients", default="1,8", help="comma-separated client counts; the first is the baseline")
    ap.add_argument("--requests", type=int, default=240, help="requests per scenario (half classify, half render)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds before one request counts as lost")
    ap.add_argument("--deadline", type=float, default=300.0, help="seconds per scenario; later requests are not sent")
    ap.add_argument("--threads", type=int, default=None, help="the server's OMP_NUM_THREADS [default: inherited]")
    args = ap.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    if not counts or min(counts) < 1 or max(counts) > 64 or not 2 <= args.requests <= 10_000:
        raise SystemExit("--clients from 1 to 64 each, --requests from 2 to 10,000")
    load_before = os.getloadavg()[0]
    rows = []
    for n in counts:
        print(f"{n} client(s), {args.requests} requests ...", flush=True)
        rows.append(scenario(n, args.requests, args.timeout, args.deadline, args.threads))
    base = rows[0]["requests_per_s"]
    for r in rows:
        r["throughput_vs_baseline"] = round(r["requests_per_s"] / base, 2) if base else None
    cols = ["clients", "requests", "lost", "requests_per_s", "throughput_vs_baseline", "classify_p50_ms",
            "classify_p99_ms", "render_p50_ms", "render_p99_ms", "all_p50_ms", "all_p99_ms", "peak_rss_mb"]
    print(table(rows, cols))
    for r in rows:
        for loss in r["losses"]:
            print(f"  lost ({r['clients']} clients): {loss}")
    result = {"benchmark": "serve", "cpu_count": os.cpu_count(), "load_average_before": load_before,
              "server_threads": args.threads or os.environ.get("OMP_NUM_THREADS") or "torch default",
              "requests_per_scenario": args.requests, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out / 'serve.json'}")
    return 1 if any(r["lost"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
