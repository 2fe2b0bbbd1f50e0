"""Interpolation benchmark: how fast frames render, and how smooth transitions are.

    python benchmarks/interpolate.py --out bench-out --checkpoint RUN/checkpoint.pt --data data/synthetic-64
    BENCH_THREADS=1 python benchmarks/interpolate.py --out bench-out --parts speed --generator g128=runs/fer6-128-cpu/checkpoint.pt

1. speed: frames/s of Renderer.render on the CPU, batched (32 frames per pass) against one frame
   per pass, style codes included, and G's and F's G FLOPs per frame (convolutions and matrix products): the train-tiny-cpu widths at
   64 and 128 px (random weights: speed does not depend on training), and the shipped generator at
   its own size and lifted to draw 128 px, and each --generator (BENCH_THREADS=1 for one core).
2. smoothness, on a trained checkpoint: every ordered pair of emotions on several test faces,
   31 frames with linear easing. Per transition: the largest frame-to-frame change over the
   median (1.0 = evenly paced; a jump shows up as a large ratio), the path length (sum of the
   frame-to-frame mean |difference|, in [0, 1] gray units) and the share of gray pixels (neither
   paper nor ink, which the 1-bit panel turns into dither noise) in the middle frame. The baseline
   is a plain crossfade between the same two end frames: the straight line in pixel space, so its
   path is as short and as evenly paced as a path can be, and its middle frame is a double
   exposure of two faces.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import existing, guarded, named_checkpoints, table, whole  # noqa: E402

from emosketch.config import load_config  # noqa: E402
from emosketch.emotions import EMOTIONS  # noqa: E402
from emosketch.gan.checkpoint import save_checkpoint  # noqa: E402
from emosketch.gan.networks import Networks  # noqa: E402
from emosketch.gan.train import TrainConfig  # noqa: E402
from emosketch.interpolate.animate import crossfade  # noqa: E402
from emosketch.interpolate.render import Renderer, Source  # noqa: E402
from emosketch.interpolate.timeline import transition  # noqa: E402

TINY = ROOT / "configs" / "train-tiny-cpu.yaml"
CLASSES = list(EMOTIONS)  # the eight classes the synthetic faces and the tiny config use


def random_checkpoint(size: int, folder: Path) -> Path:
    """A checkpoint of the tiny model at `size` px with random weights."""
    from dataclasses import asdict, replace

    cfg = load_config(TrainConfig, TINY, {})
    cfg = replace(cfg, model=replace(cfg.model, image_size=size))
    torch.manual_seed(0)
    nets = Networks(cfg.model, len(CLASSES))
    path = folder / f"random-{size}.pt"
    save_checkpoint(path, {"config": json.loads(json.dumps(asdict(cfg))), "classes": CLASSES, "image_size": size,
                           "step": 0, "ema": nets.state_dict()})
    return path


def gflops_per_frame(r: Renderer) -> float:
    """G's and F's floating-point operations for one frame (multiply-adds count 2), from torch's counter,
    which counts convolutions and matrix products (not the warp's resampling or the norms)."""
    from torch.utils.flop_counter import FlopCounterMode

    sketch = np.full((r.size, r.size), 255, np.uint8)
    with FlopCounterMode(display=False) as counter:
        r.render(Source(sketch, sketch, "bench"), r.bank.codes()[:1], batch=1)
    return counter.get_total_flops() / 1e9


def shipped_checkpoints(folder: Path) -> list[tuple[str, Path]]:
    """The shipped generator as it is, and made to draw at 128 px (gan.checkpoint.lift)."""
    from emosketch.gan.checkpoint import lift, load_checkpoint
    from emosketch.models import default_generator

    state = load_checkpoint(default_generator())
    out = [(f"shipped, draws {state['image_size']} px", default_generator())]
    if state["image_size"] < 128:
        save_checkpoint(folder / "lift-128.pt", lift(state, 128))
        out.append(("shipped, lifted to draw 128 px", folder / "lift-128.pt"))
    return out


def speed(frames: int = 96, repeats: int = 3, others: list[tuple[str, Path]] = ()) -> list[dict]:
    """Frames/s of the tiny random model at 64 and 128 px, of the shipped generator at the sizes it draws,
    and of `others` (name, checkpoint)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = [(f"tiny random, {size} px", random_checkpoint(size, Path(tmp))) for size in (64, 128)]
        for name, ckpt in models + shipped_checkpoints(Path(tmp)) + list(others):
            r = Renderer(ckpt, "cpu", mean_samples=256)
            size = r.size
            sketch = np.full((size, size), 255, np.uint8)
            sketch[size // 4:3 * size // 4, size // 2] = 0
            face = Source(sketch, sketch, "bench")
            n_pairs = frames // 31 + 1
            plans = [transition(r.classes, "neutral", e, 31) for e in r.classes[1:1 + n_pairs]]
            result = {}
            for label, batch in (("batched (32)", 32), ("one by one", 1)):
                best = float("inf")
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    done = 0
                    for plan in plans:
                        done += len(r.render(face, r.plan_codes(plan), batch=batch))
                    best = min(best, (time.perf_counter() - t0) / done)
                result[label] = 1.0 / best
            rows.append({"model": name, "gflops_per_frame": round(gflops_per_frame(r), 3), "batched_fps": round(result["batched (32)"], 1),
                         "one_by_one_fps": round(result["one by one"], 1),
                         "speedup": round(result["batched (32)"] / result["one by one"], 2)})
    return rows


def _steps(frames: np.ndarray) -> np.ndarray:
    f = frames.astype(np.float32) / 255.0
    return np.abs(np.diff(f, axis=0)).mean(axis=(1, 2))


def _gray_share(frame: np.ndarray) -> float:
    return float(((frame > 64) & (frame < 192)).mean())


def smoothness(checkpoint: Path, data: Path, faces: int = 4, frames: int = 31) -> tuple[list[dict], list[dict]]:
    r = Renderer(checkpoint, "cpu")
    per = {"ours": [], "crossfade": []}
    pairs = [(a, b) for a in r.classes for b in r.classes if a != b]
    for k in range(faces):
        face = r.source(data=data, index=k)
        for a, b in pairs:
            plan = transition(r.classes, a, b, frames, "linear")
            ours = r.render(face, r.plan_codes(plan))
            fade = crossfade(ours[0], ours[-1], plan.t)
            for name, seq in (("ours", ours), ("crossfade", fade)):
                d = _steps(seq)
                per[name].append({"max_over_median": float(d.max() / max(np.median(d), 1e-6)),
                                  "path_length": float(d.sum()), "mid_gray_share": _gray_share(seq[frames // 2]),
                                  "end_to_end": float(np.abs(seq[-1].astype(np.float32) - seq[0]).mean() / 255)})
    rows = []
    for name, items in per.items():
        rows.append({"method": name, "transitions": len(items),
                     "max/median step (median)": float(np.median([i["max_over_median"] for i in items])),
                     "max/median step (worst)": float(np.max([i["max_over_median"] for i in items])),
                     "path length": float(np.mean([i["path_length"] for i in items])),
                     "end-to-end L1": float(np.mean([i["end_to_end"] for i in items])),
                     "mid-frame gray share": float(np.mean([i["mid_gray_share"] for i in items]))})
    return rows, per["ours"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--checkpoint", type=existing, default=None, help="Trained generator for the smoothness part.")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "synthetic-64", help="Sketch dataset for test faces.")
    ap.add_argument("--faces", type=whole(1, 10_000), default=4)
    ap.add_argument("--parts", default="speed,smoothness")
    ap.add_argument("--generator", action="append", default=[], metavar="NAME=CHECKPOINT",
                    help="speed: another generator beside the shipped one (repeatable), e.g. a 128 px run")
    args = ap.parse_args()
    others = named_checkpoints(args.generator, "--generator")
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
    parts = set(args.parts.split(","))
    if parts - {"speed", "smoothness"} or not parts:  # a misspelt part had run nothing and written over the JSON
        sys.exit(f"--parts {args.parts}: name some of speed, smoothness")
    if "smoothness" in parts and args.checkpoint is None:  # before the speed part's minute, not after it
        sys.exit("smoothness needs --checkpoint RUN/checkpoint.pt (e.g. demo-train/run/checkpoint.pt), or --parts speed")
    report: dict = {"threads": torch.get_num_threads()}
    if "speed" in parts:
        rows = speed(others=others)
        print(f"\nRendering frames/s on the CPU ({torch.get_num_threads()} threads), style codes included:\n")
        print(table(rows, ["model", "gflops_per_frame", "batched_fps", "one_by_one_fps", "speedup"]))
        report["speed"] = rows
    if "smoothness" in parts:
        if args.checkpoint is None:
            sys.exit("smoothness needs --checkpoint RUN/checkpoint.pt (e.g. demo-train/run/checkpoint.pt)")
        rows, _ = smoothness(args.checkpoint, args.data, args.faces)
        print(f"\nTransition smoothness ({args.checkpoint}, linear easing, 31 frames):\n")
        print(table(rows, list(rows[0])))
        report["smoothness"] = {"checkpoint": str(args.checkpoint), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "interpolate.json").write_text(json.dumps(report, indent=1))
    print(f"\nwrote {args.out / 'interpolate.json'}")


if __name__ == "__main__":
    guarded(main)
