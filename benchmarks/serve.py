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

    python benchmarks/serve.py --out bench-out --memory --threads 1

measures the server's memory bound instead (serve-memory.json), each row on a fresh server: 20
sessions that each upload a 25 MP PNG (the demo photo scaled to 5000x5000, 8-bit RGB) with
?face=1, one after another, so each session draws the upload's face; then a 25 MP 16-bit RGB PNG
alone, and 6 of them at once. It reports the server's resting memory after a warm-up (VmRSS),
its peak (VmHWM, the server process's own, not this one's), and its memory when the uploads are
done.

    python benchmarks/serve.py --out bench-out --live --threads 1 --checkpoint g128=runs/fer6-128-cpu/checkpoint.pt

measures the live panel instead (serve-live.json): how many frames per second the mirror draws for
one browser, as its page asks for them (GET /api/frame back to back, the agent stimulated through a
new channel every 2 s; the server reuses a frame it has drawn for the same blend), and then with
every frame a blend never drawn before (POST /api/render, random blends: the worst case, as in a
transition), with the shipped generator and each --checkpoint beside it, each on a fresh server.
The mirror's live panel needs 12 frames/s.

    python benchmarks/serve.py --out bench-out --stall --threads 1

measures how long a moving face's stream waits for "make it smile" searches (serve-stall.json): one client polls
GET /api/frame at 12 frames/s, the agent stimulated every 2 s, for --seconds alone and then beside three searches
of 20 steps in its session; the gaps between its frames, side by side.
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

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import guarded, named_checkpoints, number, table, whole, write_json  # noqa: E402

from emosketch.models import demo_photo  # noqa: E402

EMOTIONS = ["neutral", "happy", "sad", "surprise", "fear", "anger"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, threads: int | None, checkpoint: Path | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    extra = ["--checkpoint", str(checkpoint)] if checkpoint else []
    proc = subprocess.Popen([sys.executable, "-m", "emosketch.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                             *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
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


def peak_rss_mb(pid: int, field: str = "VmHWM") -> float:
    """The process's peak resident memory (VmHWM), or its resident memory now (VmRSS), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
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


def shares(total: int, parts: int) -> list[int]:
    """`total` requests dealt to `parts` clients as evenly as they go."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_together(workers: list[threading.Thread]) -> float:
    """Start the threads at once and wait for them all; returns the seconds that took."""
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - t0


def scenario(clients: int, requests: int, timeout: float, deadline_s: float, threads: int | None) -> dict:
    port = free_port()
    proc = start_server(port, threads)
    try:
        photo = demo_photo().read_bytes()
        warm: list = []
        client(port, 4, 99, timeout, time.time() + 60, photo, warm)  # first calls load lazily: not timed
        results: list[list] = [[] for _ in range(clients)]
        deadline = time.time() + deadline_s
        wall = run_together([threading.Thread(target=client, args=(port, n, i, timeout, deadline, photo, results[i]))
                             for i, n in enumerate(shares(requests, clients))])
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


def big_png(sixteen_bits: bool) -> bytes:
    """The demo photo scaled to 5000x5000 (25 MP, the server's max_pixels) by repeating pixels, so the
    PNG stays small (about 0.3 MB, 0.4 MB in 16 bits) while its face can still be found."""
    big = cv2.resize(cv2.imread(str(demo_photo())), (5000, 5000), interpolation=cv2.INTER_NEAREST)
    if sixteen_bits:
        big = big.astype(np.uint16) * 257
    ok, enc = cv2.imencode(".png", big, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    return enc.tobytes()


def upload(port: int, body: bytes, query: str, timeout: float, out: list) -> None:
    """POST one image to /api/classify on a connection of its own, with no cookie: a new session."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.perf_counter()
    try:
        conn.request("POST", "/api/classify" + query, body=body, headers={"Content-Type": "image/png"})
        r = conn.getresponse()
        data = r.read()
        ok = r.status == 200 and ("face=1" not in query or "face" in json.loads(data))
        out.append(("upload", time.perf_counter() - t0, None if ok else f"HTTP {r.status}: {data[:120]!r}"))
    except (OSError, http.client.HTTPException) as exc:
        out.append(("upload", time.perf_counter() - t0, f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def memory_scenario(name: str, body: bytes, uploads: int, at_once: int, query: str, timeout: float,
                    threads: int | None) -> dict:
    """`uploads` uploads of `body`, `at_once` at a time, on a fresh server after a warm-up that loads
    every model it uses (the demo photo classified, with ?face=1, and panel frames rendered)."""
    port = free_port()
    proc = start_server(port, threads)
    try:
        photo = demo_photo().read_bytes()
        warm: list = []
        client(port, 4, 99, timeout, time.time() + 120, photo, warm)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("POST", "/api/classify?face=1", body=photo, headers={"Content-Type": "image/jpeg"})
        conn.getresponse().read()
        conn.close()
        rest = peak_rss_mb(proc.pid, "VmRSS")
        rest_peak = peak_rss_mb(proc.pid)
        results: list[list] = [[] for _ in range(at_once)]

        def worker(i: int, n: int) -> None:
            for _ in range(n):
                upload(port, body, query, timeout, results[i])

        wall = run_together([threading.Thread(target=worker, args=(i, n)) for i, n in enumerate(shares(uploads, at_once))])
        peak, end = peak_rss_mb(proc.pid), peak_rss_mb(proc.pid, "VmRSS")
    finally:
        proc.terminate()
        proc.wait(10)
    done = [r for rs in results for r in rs]
    lost = [r[2] for r in done if r[2] is not None]
    return {"scenario": name, "uploads": len(done), "at_once": at_once, "png_kb": round(len(body) / 1024, 1),
            "lost": len(lost), "seconds": round(wall, 1), "rest_rss_mb": round(rest, 1),
            "warm_up_peak_mb": round(rest_peak, 1), "peak_rss_mb": round(peak, 1),
            "peak_over_rest_mb": round(peak - rest, 1), "end_rss_mb": round(end, 1),
            "end_over_rest_mb": round(end - rest, 1), "losses": lost[:10]}


def memory(args) -> int:
    """The server's memory under the second probe's uploads (issue 34): serve-memory.json."""
    png8, png16 = big_png(False), big_png(True)
    plan = [("20 sessions, 25 MP 8-bit PNG, face=1", png8, 20, 1, "?face=1"),
            ("1 x 25 MP 16-bit PNG", png16, 1, 1, ""),
            ("6 x 25 MP 16-bit PNG at once", png16, 6, 6, "")]
    rows = []
    for name, body, n, at_once, query in plan:
        print(f"{name} ...", flush=True)
        rows.append(memory_scenario(name, body, n, at_once, query, args.timeout, args.threads))
    print(table(rows, ["scenario", "uploads", "at_once", "png_kb", "lost", "seconds", "rest_rss_mb",
                       "peak_rss_mb", "peak_over_rest_mb", "end_rss_mb", "end_over_rest_mb"]))
    for r in rows:
        for loss in r["losses"]:
            print(f"  lost ({r['scenario']}): {loss}")
    result = {"benchmark": "serve-memory", "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg()[0],
              "server_threads": args.threads or os.environ.get("OMP_NUM_THREADS") or "torch default", "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serve-memory.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out / 'serve-memory.json'}")
    return 1 if any(r["lost"] for r in rows) else 0


LIVE_CHANNELS = ("joy", "fear", "mad", "surprise", "sad")
LIVE_FPS = 12.0  # what the mirror's live panel needs


class Browser:
    """One browser's session on a test server, over any of its connections: the cookie the server sets is sent
    back, and an answer other than 200 ends the run naming `name`."""

    def __init__(self, name: str):
        self.name, self.cookie = name, {}

    def call(self, conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = {"Content-Type": "application/json"} if body else {}
        conn.request(method, path, body=body, headers=headers | self.cookie)
        r = conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit(f"{self.name}: {method} {path} answered {r.status}: {data[:200]!r}")
        if r.getheader("Set-Cookie"):
            self.cookie["Cookie"] = r.getheader("Set-Cookie").split(";")[0]
        return data

    def stimulate_when_due(self, conn: http.client.HTTPConnection, t0: float, stimuli: int) -> int:
        """Stimulate the agent through the next channel every 2 s from t0, as a face that moves: the stimuli so far."""
        if time.perf_counter() - t0 < 2.0 * stimuli:
            return stimuli
        body = json.dumps({"channel": LIVE_CHANNELS[stimuli % len(LIVE_CHANNELS)], "amount": 1.0}).encode()
        self.call(conn, "POST", "/api/agent/stimulate", body)
        return stimuli + 1


def live_scenario(name: str, checkpoint: Path | None, seconds: float, timeout: float, threads: int | None) -> dict:
    """One browser's live panel on a fresh server: GET /api/frame back to back for `seconds`, the
    agent stimulated through the next channel every 2 s (one session, its cookie kept)."""
    port = free_port()
    proc = start_server(port, threads, checkpoint)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    browser = Browser(name)

    def call(method: str, path: str, body: bytes | None = None) -> bytes:
        return browser.call(conn, method, path, body)

    try:
        info = json.loads(call("GET", "/api/info"))
        for _ in range(3):  # the first frames load lazily: not timed
            call("GET", "/api/frame")
        lat, stimuli = [], 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            stimuli = browser.stimulate_when_due(conn, t0, stimuli)
            t1 = time.perf_counter()
            call("GET", "/api/frame")
            lat.append(time.perf_counter() - t1)
        wall = time.perf_counter() - t0
        rng = np.random.default_rng(0)  # then every frame a blend never drawn before: no cache helps
        new, t0 = [], time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            w = rng.dirichlet(np.ones(len(info["classes"])))
            body = json.dumps({"weights": {e: float(v) + 1e-3 for e, v in zip(info["classes"], w)},
                               "format": "ssd1306"}).encode()
            t1 = time.perf_counter()
            call("POST", "/api/render", body)
            new.append(time.perf_counter() - t1)
        new_wall = time.perf_counter() - t0
    finally:
        conn.close()
        proc.terminate()
        proc.wait(10)
    ms, new_ms = np.array(lat) * 1000, np.array(new) * 1000
    new_fps = len(new) / new_wall
    return {"generator": name, "draws_px": info["image_size"], "live_frames": len(lat),
            "live_frames_per_s": round(len(lat) / wall, 1), "live_p99_ms": round(float(np.percentile(ms, 99)), 1),
            "new_frames": len(new), "new_frames_per_s": round(new_fps, 1),
            "new_p50_ms": round(float(np.percentile(new_ms, 50)), 1), "new_p99_ms": round(float(np.percentile(new_ms, 99)), 1),
            "meets_12_fps": bool(new_fps >= LIVE_FPS)}


def live(args) -> int:
    """The live panel's frames/s with the shipped generator and each --checkpoint: serve-live.json."""
    plan = [("shipped", None), *named_checkpoints(args.checkpoint, "--checkpoint")]
    rows = []
    for name, ckpt in plan:
        print(f"{name}: the live panel for {args.seconds:g} s ...", flush=True)
        rows.append(live_scenario(name, ckpt, args.seconds, args.timeout, args.threads))
    print(table(rows, ["generator", "draws_px", "live_frames_per_s", "live_p99_ms", "new_frames_per_s", "new_p50_ms",
                       "new_p99_ms", "meets_12_fps"]))
    print(f"live: GET /api/frame as the page polls it, the agent stimulated every 2 s (cached frames reused); new: "
          f"POST /api/render of a blend never drawn before, the worst case; meets_12_fps: new >= {LIVE_FPS:g}")
    result = {"benchmark": "serve-live", "cpu_count": os.cpu_count(), "load_average_before": os.getloadavg()[0],
              "server_threads": args.threads or os.environ.get("OMP_NUM_THREADS") or "torch default",
              "needs_fps": LIVE_FPS, "rows": rows}
    write_json(args.out, "serve-live.json", result)
    return 0


def stall_scenario(searches: int, seconds: float, timeout: float, threads: int | None) -> dict:
    """A moving face's stream beside "make it smile" searches, on a fresh server: one client polls GET /api/frame
    at 12 frames/s (the agent stimulated every 2 s, so frames are drawn, not reused) for `seconds` alone, then
    while `searches` searches of 20 steps run one after another in its session; the gaps between its frames."""
    port = free_port()
    proc = start_server(port, threads)
    browser = Browser("stall")
    call = browser.call
    frames = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    other = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        call(frames, "GET", "/api/info")
        for _ in range(3):
            call(frames, "GET", "/api/frame")

        def poll(going) -> list[float]:  # as the page asks: a frame every 1/12 s, or at once when late
            gaps, last, stimuli, t0 = [], time.perf_counter(), 0, time.perf_counter()
            next_at = t0
            while going():
                stimuli = browser.stimulate_when_due(frames, t0, stimuli)
                call(frames, "GET", "/api/frame")
                now = time.perf_counter()
                gaps.append(now - last)
                last = now
                next_at = max(next_at + 1 / LIVE_FPS, now)
                time.sleep(max(0.0, next_at - time.perf_counter()))
            return gaps

        end = time.perf_counter() + seconds
        alone = poll(lambda: time.perf_counter() < end)
        took: list[float] = []

        def search_all() -> None:
            for _ in range(searches):
                t1 = time.perf_counter()
                call(other, "POST", "/api/search", json.dumps({"target": "happy", "steps": 20}).encode())
                took.append(time.perf_counter() - t1)

        worker = threading.Thread(target=search_all)
        worker.start()
        beside = poll(worker.is_alive)
        worker.join()
    finally:
        frames.close()
        other.close()
        proc.terminate()
        proc.wait(10)
    rows = []
    for name, gaps in (("stream alone", alone), (f"stream beside {searches} searches", beside)):
        ms = np.array(gaps) * 1000  # the first too: beside searches, the wait for the first frame is one
        rows.append({"scenario": name, "frames": len(ms), "frames_per_s": round(len(ms) / (ms.sum() / 1000), 1),
                     "gap_p50_ms": round(float(np.percentile(ms, 50)), 1),
                     "gap_p99_ms": round(float(np.percentile(ms, 99)), 1), "gap_max_ms": round(float(ms.max()), 1)})
    rows[1]["search_s"] = round(float(np.mean(took)), 2)
    return {"rows": rows}


def stall(args) -> int:
    """How long a moving face's stream waits for searches: serve-stall.json."""
    print(f"a stream for {args.seconds:g} s alone, then beside 3 searches ...", flush=True)
    res = stall_scenario(3, args.seconds, args.timeout, args.threads)
    print(table(res["rows"], ["scenario", "frames", "frames_per_s", "gap_p50_ms", "gap_p99_ms", "gap_max_ms",
                              "search_s"]))
    write_json(args.out, "serve-stall.json", {"benchmark": "serve-stall", "cpu_count": os.cpu_count(),
                                             "server_threads": args.threads or os.environ.get("OMP_NUM_THREADS")
                                             or "torch default", **res})
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--clients", default="1,8", help="comma-separated client counts; the first is the baseline")
    ap.add_argument("--requests", type=int, default=240, help="requests per scenario (half classify, half render)")
    ap.add_argument("--timeout", type=number(0.1, 3600.0), default=60.0, help="seconds before one request counts as lost")
    ap.add_argument("--deadline", type=number(1.0, 86400.0), default=300.0, help="seconds per scenario; later requests are not sent")
    ap.add_argument("--threads", type=whole(1, 256), default=None, help="the server's OMP_NUM_THREADS [default: inherited]")
    ap.add_argument("--memory", action="store_true", help="measure the server's memory under 25 MP uploads instead")
    ap.add_argument("--live", action="store_true", help="measure the live panel's frames/s for one browser instead")
    ap.add_argument("--stall", action="store_true",
                    help="measure how long a moving face's stream waits for \"make it smile\" searches instead")
    ap.add_argument("--checkpoint", action="append", default=[], metavar="NAME=CHECKPOINT",
                    help="--live: another generator, measured beside the shipped one (repeatable)")
    ap.add_argument("--seconds", type=number(1.0, 3600.0), default=10.0, help="--live: seconds of frames per generator")
    args = ap.parse_args()
    if args.memory:
        return memory(args)
    if args.live:
        return live(args)
    if args.stall:
        return stall(args)
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
    guarded(main)
