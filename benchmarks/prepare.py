"""Prepare benchmark: the dataset converter on real faces, side by side with baselines.

    python benchmarks/prepare.py --out bench-out          # prints tables, writes bench-out/prepare.json

1. The whole `prepare` (decode, face box, XDoG sketch, write) on the real FER+ train split
   (28,558 rows, ../shared/data/ferplus) at 128 px with 1 and 2 workers: faces/s and the peak
   resident memory of the whole process tree. Skipped (with a note) when the data is absent.
2. Sketch-only throughput at 128 px: emosketch's XDoG (OpenCV blurs) against a plain NumPy XDoG
   (separable Gaussian convolution with numpy), one core; and how close their drawings are.
3. Synthetic faces rendered per second at 128 px on one core (target >= 1,000).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import FERPLUS, guarded, table, whole  # noqa: E402

from emosketch.datasets.sketch import SketchConfig, sketch, xdog  # noqa: E402
from emosketch.datasets.synthetic import random_identity, render  # noqa: E402
from emosketch.emotions import EMOTIONS  # noqa: E402


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB (Linux /proc)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def run_measured(cmd: list[str]) -> tuple[float, int, str]:
    """Run a command; return (seconds, peak tree RSS in MiB, stdout)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss_kib(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    stop.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out}")
    return time.perf_counter() - start, peak // 1024, out


def bench_prepare(size: int) -> list[dict]:
    train = FERPLUS / "FER2013Train"
    if not train.is_dir():
        print(f"  (skipped: real FER+ faces not found at {FERPLUS})")
        return []
    rows_in = sum(1 for line in (train / "label.csv").read_text().splitlines() if line.strip())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        view = Path(tmp) / "ferplus-train"
        view.mkdir()
        (view / "FER2013Train").symlink_to(train)  # the train split alone, without copying a file
        exe = Path(sys.executable).with_name("emosketch")
        for workers in (1, 2):
            out = Path(tmp) / f"out{workers}"
            cmd = [str(exe), "prepare", "--source", f"ferplus:{view}", "--size", str(size), "--out", str(out),
                   "--workers", str(workers)]
            seconds, peak_mib, _ = run_measured(cmd)
            kept = json.loads((out / "meta.json").read_text())["count"]
            rows.append({"workers": workers, "rows": rows_in, "faces_kept": kept, "seconds": seconds,
                         "rows_per_s": rows_in / seconds, "faces_per_s": kept / seconds, "peak_rss_mib": peak_mib,
                         "dataset_mib": sum(f.stat().st_size for f in out.iterdir()) / 2**20})
    return rows


def gaussian_kernel(sigma: float) -> np.ndarray:
    radius = int(np.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-x * x / (2 * sigma * sigma))
    return k / k.sum()


def numpy_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    k = gaussian_kernel(sigma)
    r = len(k) // 2
    padded = np.pad(img, r, mode="edge")
    rows = np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 1, padded)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="valid"), 0, rows)


def numpy_xdog(gray: np.ndarray, sigma=1.2, k=1.6, tau=0.98, epsilon=-0.01, phi=200.0) -> np.ndarray:
    """XDoG as a plain NumPy implementation would write it."""
    img = gray.astype(np.float64) / 255.0
    d = numpy_blur(img, sigma) - tau * numpy_blur(img, sigma * k)
    out = np.where(d >= epsilon, 1.0, 1.0 + np.tanh(phi * (d - epsilon)))
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def faces_128(n: int) -> list[np.ndarray]:
    files = sorted((FERPLUS / "FER2013Train").glob("*.png"))[:n] if FERPLUS.exists() else []
    if files:
        return [cv2.resize(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE), (128, 128), interpolation=cv2.INTER_CUBIC)
                for f in files]
    return [cv2.GaussianBlur(render(random_identity(seed=i), "happy", 1.0, 128), (0, 0), 2) for i in range(n)]


def bench_sketch(n: int) -> list[dict]:
    cv2.setNumThreads(1)
    faces = faces_128(n)
    rows = []
    for name, fn in (("emosketch xdog (OpenCV blurs)", lambda f: xdog(f)),
                     ("emosketch full sketch (CLAHE, xdog, Otsu, specks)", lambda f: sketch(f, SketchConfig())),
                     ("plain NumPy xdog", numpy_xdog)):
        count = min(len(faces), n if "NumPy" not in name else max(20, n // 10))  # the faces there are: 10 had counted 20
        start = time.perf_counter()
        for f in faces[:count]:
            fn(f)
        seconds = time.perf_counter() - start
        rows.append({"sketch": name, "faces": count, "seconds": seconds, "faces_per_s": count / seconds})
    # Same drawing? Compare the two XDoGs on the same faces (mean absolute difference in gray levels).
    diffs = [np.abs(xdog(f).astype(int) - numpy_xdog(f)).mean() for f in faces[:20]]
    rows[-1]["mean_abs_diff_vs_ours"] = float(np.mean(diffs))
    return rows


def bench_synthetic(n: int) -> dict:
    cv2.setNumThreads(1)
    identities = [random_identity(seed=i) for i in range(64)]
    start = time.perf_counter()
    for i in range(n):
        render(identities[i % 64], EMOTIONS[i % 8], 0.6 + 0.4 * ((i * 37) % 100) / 100, 128)
    seconds = time.perf_counter() - start
    return {"faces": n, "seconds": seconds, "faces_per_s": n / seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench-out", help="folder for prepare.json")
    ap.add_argument("--size", type=whole(16, 1024), default=128, help="face size for the prepare runs")
    ap.add_argument("--sketch-faces", type=whole(1), default=2000, help="faces for the sketch-only test")
    args = ap.parse_args()

    print(f"\n1. Whole prepare of the FER+ train split at {args.size} px (machine: {os.cpu_count()} cores)")
    prep = bench_prepare(args.size)
    if prep:
        print(table(prep, ["workers", "rows", "faces_kept", "seconds", "rows_per_s", "faces_per_s", "peak_rss_mib",
                           "dataset_mib"]))

    sk = bench_sketch(args.sketch_faces)
    print("\n2. Sketch only, 128 px faces, one core")
    print(table(sk, ["sketch", "faces", "seconds", "faces_per_s", "mean_abs_diff_vs_ours"]))

    syn = bench_synthetic(3000)
    print("\n3. Synthetic faces at 128 px, one core (target >= 1,000 faces/s)")
    print(table([syn], ["faces", "seconds", "faces_per_s"]))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "prepare.json").write_text(json.dumps({"prepare_ferplus_train": prep, "sketch": sk,
                                                  "synthetic": syn, "cores": os.cpu_count()}, indent=1))
    print(f"\nwrote {out / 'prepare.json'}")


if __name__ == "__main__":
    guarded(main)
