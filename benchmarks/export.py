"""Export benchmark: speed, compression and flicker of the OLED exporter, side by side with baselines.

    python benchmarks/export.py --out bench-out          # prints tables, writes bench-out/export.json

1. Throughput of layout + dither + pack + compress over 1,000 frames at 128x64 on one core:
   emosketch (lineart, auto codec) against a typical converter (Pillow resize + Pillow's
   Floyd-Steinberg + a per-pixel Python loop to SSD1306 pages + a per-byte RLE), and emosketch per
   dither mode.
2. Compression ratio raw / RLE / XOR-delta+RLE / auto (the byte codecs) / the context codec on
   line-art face transitions.
3. Flicker: pixels flipped between consecutive frames of a slow fade (+2/255 per frame) for each
   dither mode, on a real FER+ face when ../shared/data/ferplus is present (else a synthetic face
   with a tonal gradient).
4. Peak memory of a whole `emosketch export` (each in its own process: read, layout, dither, pack,
   every file and the previews) against the frame count, 64x64 frames onto 128x64, beside the
   old preview path that rendered every frame as RGB at once (only up to 2,000 frames: it needs
   about 1 MB per frame).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import FERPLUS, guarded, table, whole  # noqa: E402

from emosketch.datasets.synthetic import random_identity, render  # noqa: E402
from emosketch.datasets.synthetic_motion import transition_frames  # noqa: E402
from emosketch.emotions import EMOTIONS  # noqa: E402
from emosketch.export import codec, ctx  # noqa: E402
from emosketch.export.dither import MODES, Dither, dither, to_bits  # noqa: E402
from emosketch.export.layout import Layout, apply_layout  # noqa: E402
from emosketch.export.pixels import FORMATS  # noqa: E402


def one_core() -> str:
    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        return "pinned to one core"
    return "not pinned"


def source_frames(n: int, size: int = 256) -> np.ndarray:
    """n frames of line-art faces moving through every emotion, rendered at size x size."""
    identity = random_identity(seed=11)
    per = n // (len(EMOTIONS) - 1) + 1
    frames = []
    for emotion in EMOTIONS[1:]:
        for k in np.linspace(0, 1, per):
            frames.append(render(identity, emotion, float(k), size))
    return np.stack(frames[:n])


def ours(frames: np.ndarray, mode: str = "lineart", codec_name: str = "auto") -> int:
    bits = to_bits(apply_layout(frames, Layout(128, 64, "fill", focus=(0.5, 0.56))), Dither(mode))
    packed = FORMATS["ssd1306"].pack(bits)
    return sum(len(p) for _, p in codec.encode_frames(packed, codec_name, keyframes={0}))


def baseline_rle(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        j = i
        while j < len(data) and j - i < 255 and data[j] == data[i]:
            j += 1
        out += bytes((j - i, data[i]))
        i = j
    return bytes(out)


def baseline(frames: np.ndarray) -> int:
    """What a typical Python converter does: Pillow for the image, loops for the bytes."""
    total = 0
    for frame in frames:
        img = Image.fromarray(frame)
        w, h = img.size
        crop_h = w // 2
        top = int(0.56 * h - crop_h / 2)
        img = img.crop((0, top, w, top + crop_h)).resize((128, 64), Image.LANCZOS)
        bw = img.convert("1")  # Pillow's Floyd-Steinberg
        px = bw.load()
        buf = bytearray(1024)
        for page in range(8):
            for x in range(128):
                byte = 0
                for bit in range(8):
                    if px[x, page * 8 + bit] == 0:  # ink lights the pixel
                        byte |= 1 << bit
                buf[page * 128 + x] = byte
        total += len(baseline_rle(bytes(buf)))
    return total


def timed(fn, *args, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - start)
    return best


def bench_speed(n: int) -> list[dict]:
    frames = source_frames(n)
    rows = []
    t = timed(ours, frames)
    rows.append({"pipeline": "emosketch lineart + auto codec", "frames": n, "seconds": t, "frames_per_s": n / t})
    part = max(1, n // 10)  # the baseline is slow: timed on a tenth (at least one frame; 5 frames had timed none)
    t = timed(baseline, frames[:part], repeats=1)
    rows.append({"pipeline": "baseline: Pillow FS + Python loops (timed on a tenth)", "frames": part, "seconds": t,
                 "frames_per_s": part / t})
    for mode in MODES:
        if mode == "lineart":
            continue
        t = timed(ours, frames, mode, repeats=1 if mode in ("floyd-steinberg", "atkinson") else 3)
        rows.append({"pipeline": f"emosketch {mode} + auto codec", "frames": n, "seconds": t, "frames_per_s": n / t})
    return rows


def round_trips(size: int = 256) -> list[np.ndarray]:
    """7 sequences: neutral -> emotion (12 eased frames), a 6-frame hold, and back (12 frames)."""
    out = []
    for emotion in EMOTIONS[1:]:
        there = transition_frames("neutral", emotion, seed=7, size=size, frames=12)
        out.append(np.concatenate([there, np.repeat(there[-1:], 6, axis=0), there[::-1]]))
    return out


def bench_compression() -> list[dict]:
    sequences = round_trips()
    layout, d = Layout(128, 64, "fill", focus=(0.5, 0.56)), Dither("lineart")
    bits = np.concatenate([to_bits(apply_layout(seq, layout), d) for seq in sequences])
    starts = set(np.cumsum([0] + [len(seq) for seq in sequences[:-1]]).tolist())
    rows = []
    for fmt_name in ("ssd1306", "gfx"):
        packed = FORMATS[fmt_name].pack(bits)
        raw = packed.size
        row = {"format": fmt_name, "frames": len(bits), "raw_bytes": raw}
        for name in ("rle", "delta", "auto"):
            size = sum(len(p) for _, p in codec.encode_frames(packed, name, keyframes=starts))
            row[f"{name}_bytes"] = size
            row[f"{name}_ratio"] = raw / size
        model, coded = ctx.encode_frames(ctx.Grid.of(FORMATS[fmt_name], 128, 64), packed, starts)
        row["ctx_bytes"] = sum(len(p) for p in coded) + len(model)  # the model counts
        row["ctx_ratio"] = raw / row["ctx_bytes"]
        rows.append(row)
    return rows


def fade_source() -> tuple[np.ndarray, str]:
    files = sorted((FERPLUS / "FER2013Valid").glob("*.png"))[:1] if FERPLUS.exists() else []
    if files:
        face = cv2.imread(str(files[0]), cv2.IMREAD_GRAYSCALE)
        return apply_layout(face[None], Layout(128, 64, "fill", focus=(0.5, 0.5)))[0], f"FER+ {files[0].name}"
    face = render(random_identity(seed=3), "happy", 1.0, 128).astype(np.float32)
    gradient = np.linspace(60, 200, 128, dtype=np.float32)[None, :]
    tone = np.minimum(face, gradient + 0 * face)
    return apply_layout(tone.astype(np.uint8)[None], Layout(128, 64))[0], "synthetic face with a gradient"


def bench_flicker(steps: int = 30) -> tuple[list[dict], str]:
    base, source = fade_source()
    fade = np.stack([np.clip(base.astype(int) + 2 * k, 0, 255) for k in range(steps)]).astype(np.uint8)
    rows = []
    settings = [(m, False) for m in MODES] + [(m, True) for m in ("bayer4", "bluenoise", "lineart")]
    for mode, stable in settings:
        ink = dither(fade, Dither(mode, stable=stable))
        flips = (ink[1:] != ink[:-1]).sum(axis=(1, 2))
        rows.append({"mode": mode + (" --stable" if stable else ""), "mean_flips_per_frame": float(flips.mean()),
                     "max_flips": int(flips.max())})
    fs = next(r["mean_flips_per_frame"] for r in rows if r["mode"] == "floyd-steinberg")
    for r in rows:
        r["vs_floyd_steinberg"] = r["mean_flips_per_frame"] / fs if fs else float("nan")
    return rows, source


EXPORT_JOB = """
import resource, sys, time
import numpy as np
from emosketch.export import ExportOptions, export
from emosketch.export import preview
if sys.argv[3] == "every-frame-rgb":  # the old preview: every frame rendered as RGB, then written
    import imageio.v3 as iio

    def write_gif(pack, path, panel="white", scale=4, grid=False):
        frames = preview.render_panel(pack.bits, panel, scale, grid)
        iio.imwrite(path, frames, extension=".gif", duration=[1000.0 / 12] * len(frames), loop=0)
        return path

    preview.write_gif = write_gif
started = time.perf_counter()
export([sys.argv[1]], sys.argv[2], ExportOptions())
print(time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_memory(counts: list[int], folder: Path) -> list[dict]:
    from emosketch.frames import Frames, write_frames

    identity = random_identity(seed=3)
    base = np.stack([render(identity, "happy", k, 64) for k in np.linspace(0, 1, 50)])
    rows = []
    for n in counts:
        src = folder / f"frames-{n}.npz"
        write_frames(src, Frames(np.resize(base, (n, 64, 64)), 12.0))
        for path in (["bounded-preview"] + (["every-frame-rgb"] if n <= 2000 else [])):
            out = folder / f"pack-{n}-{path}"
            done = subprocess.run([sys.executable, "-c", EXPORT_JOB, str(src), str(out), path], capture_output=True,
                                  text=True, check=True)
            seconds, peak_kb = done.stdout.split()
            rows.append({"frames": n, "preview": path, "seconds": round(float(seconds), 2),
                         "peak_mb": round(int(peak_kb) / 1024, 1),
                         "kb_per_frame": round(int(peak_kb) / n, 1)})
            shutil.rmtree(out, ignore_errors=True)
        src.unlink()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench-out", help="folder for export.json")
    ap.add_argument("--frames", type=whole(1, 1_000_000), default=1000, help="frames for the throughput test")
    ap.add_argument("--memory-frames", type=whole(1, 1_000_000), nargs="+", default=[1000, 2000, 5000, 10000],
                    help="frame counts for the peak-memory test")
    args = ap.parse_args()
    pinned = one_core()

    speed = bench_speed(args.frames)
    print(f"\n1. Throughput, 128x64, {args.frames} frames of 256x256 line art ({pinned})")
    print(table(speed, ["pipeline", "seconds", "frames_per_s"]))

    comp = bench_compression()
    print("\n2. Compression on line-art face transitions (7 x 30 frames, lineart dither)")
    print(table(comp, ["format", "frames", "raw_bytes", "rle_ratio", "delta_ratio", "auto_ratio", "auto_bytes",
                       "ctx_ratio", "ctx_bytes"]))

    flicker, source = bench_flicker()
    print(f"\n3. Flicker on a slow fade (+2/255 per frame, 30 frames) of a {source}")
    print(table(flicker, ["mode", "mean_flips_per_frame", "max_flips", "vs_floyd_steinberg"]))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    memory = bench_memory(args.memory_frames, out)
    print("\n4. Peak memory of emosketch export, 64x64 frames onto 128x64 (one process each)")
    print(table(memory, ["frames", "preview", "seconds", "peak_mb", "kb_per_frame"]))

    result = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                          "cores_used": 1 if pinned.startswith("pinned") else os.cpu_count()},
              "throughput": speed, "compression": comp, "flicker": {"source": source, "rows": flicker},
              "memory": memory}
    (out / "export.json").write_text(json.dumps(result, indent=1))
    print(f"\nwrote {out / 'export.json'}")


if __name__ == "__main__":
    guarded(main)
