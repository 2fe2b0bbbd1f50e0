"""Make-it-smile benchmark: how often does the style-space search reach its target emotion?

    python benchmarks/search.py --out bench-out          # needs the judges of benchmarks/realfaces.py

FER+ valid faces (64 px sketches, six emotions), each searched towards every other emotion with the
shipped generator and the shipped sketch classifier as the guide (emosketch search's defaults). The
guide is what the search climbs, so its reading is reported but proves nothing; the verdict is the
independent judges' (benchmarks/realfaces.py: CNNs A and B, trained on FER+ train sketches with
other seeds and widths, and D, eigenfaces and a softmax regression), which never guided anything.

Side by side, under every judge, the fraction of searches whose end frame reads as the target (top
emotion):
- the input untouched (the face as it is: the chance of reading the target without any edit);
- the target's own code, no search (what pack, interpolate and the agent draw);
- the search's end frame.
Skipped, with a note, when ../shared/data/ferplus is absent.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from realfaces import CLASSES, FERPLUS, EigenJudge, real_dataset  # noqa: E402
from report import existing, guarded, table, whole  # noqa: E402

from emosketch.datasets.dataset import load  # noqa: E402
from emosketch.evaluate.classifier import load_classifier, predict  # noqa: E402
from emosketch.interpolate.render import Renderer  # noqa: E402
from emosketch.interpolate.search import SearchConfig, search  # noqa: E402
from emosketch.models import default_generator, default_sketch_classifier  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--faces", type=whole(1), default=120, help="FER+ valid faces (each searched towards 5 emotions)")
    ap.add_argument("--steps", type=whole(1, 100_000), default=SearchConfig.steps)
    ap.add_argument("--checkpoint", type=existing, default=None, help="generator [default: the shipped one]")
    ap.add_argument("--guide", type=existing, default=None, help="sketch classifier [default: the shipped one]")
    args = ap.parse_args()
    if not FERPLUS.exists():
        print(f"skipped: {FERPLUS} is absent")
        return 0
    work = args.out / "realfaces"
    judges_path = {j: work / f"judge-{j}.pt" for j in ("A", "B")}
    missing = [str(p) for p in judges_path.values() if not p.exists()]
    if missing:
        raise SystemExit(f"{', '.join(missing)}: missing; run benchmarks/realfaces.py --out {args.out} first")
    guide_path = args.guide or default_sketch_classifier()
    digest = hashlib.sha256(Path(guide_path).read_bytes()).hexdigest()
    for j, p in judges_path.items():
        if hashlib.sha256(p.read_bytes()).hexdigest() == digest:
            raise SystemExit(f"judge {j} is the search's guide: a judge must be independent")
    data = real_dataset(work, reuse=True)
    ds = load(data)
    assert ds.classes == CLASSES
    started = time.perf_counter()
    print("fitting judge D (eigenfaces) on the train sketches ...", flush=True)
    judge_d = EigenJudge(ds)
    judges = {j: load_classifier(p)[0] for j, p in judges_path.items()}
    renderer = Renderer(args.checkpoint or default_generator(), "cpu")
    guide, state = load_classifier(guide_path)
    rng = np.random.default_rng(0)
    val = ds.indices("val")
    rows = np.sort(rng.choice(val, size=min(args.faces, len(val)), replace=False))
    images, labels = np.asarray(ds.images[rows]), ds.labels[rows]
    cfg = SearchConfig(steps=args.steps)
    ends = {"input untouched": [], "target's own code (no search)": [], "search": []}
    targets_all, steps_used, seconds = [], [], 0.0
    for t, target in enumerate(CLASSES):
        pick = labels != t
        x = images[pick]
        print(f"  {target}: {len(x)} faces ...", flush=True)
        t0 = time.perf_counter()
        res = search(renderer, guide, int(state["image_size"]), x, [target] * len(x), cfg)
        seconds += time.perf_counter() - t0
        ends["input untouched"].append(x)
        ends["target's own code (no search)"].append(res.frames[res.climb_from])
        ends["search"].append(res.frames[-1])
        moved = np.abs(np.diff(res.frames[res.climb_from:].astype(np.int16), axis=0)).reshape(
            len(res.frames) - res.climb_from - 1, len(x), -1).max(2) > 0
        steps_used.append(moved.sum(0))
        targets_all.append(np.full(len(x), t))
    y = np.concatenate(targets_all)
    table_rows = []
    for name, parts in ends.items():
        frames = np.concatenate(parts)
        row = {"frames": name}
        row["guide (climbed)"] = float((predict(guide, frames, int(state["image_size"])).argmax(1) == y).mean())
        for j, model in judges.items():
            row[f"judge {j}"] = float((predict(model, frames, 64).argmax(1) == y).mean())
        row["judge D"] = float((judge_d.predict(frames) == y).mean())
        table_rows.append(row)
    real = {j: float((predict(m, np.asarray(ds.images[val]), 64).argmax(1) == ds.labels[val]).mean())
            for j, m in judges.items()}
    real["D"] = float((judge_d.predict(np.asarray(ds.images[val])) == ds.labels[val]).mean())
    per_target = []
    search_frames = np.concatenate(ends["search"])
    plain_frames = np.concatenate(ends["target's own code (no search)"])
    pa = predict(judges["A"], search_frames, 64).argmax(1)
    pp = predict(judges["A"], plain_frames, 64).argmax(1)
    for t, target in enumerate(CLASSES):
        m = y == t
        per_target.append({"target": target, "searches": int(m.sum()), "own code (judge A)": float((pp[m] == t).mean()),
                           "search (judge A)": float((pa[m] == t).mean())})
    cols = ["frames", "guide (climbed)", "judge A", "judge B", "judge D"]
    print(table(table_rows, cols))
    print(table(per_target, ["target", "searches", "own code (judge A)", "search (judge A)"]))
    print(f"judges on the real valid sketches: A {real['A']:.3f}, B {real['B']:.3f}, D {real['D']:.3f}; "
          f"{len(y)} searches, {np.concatenate(steps_used).mean():.1f} climbing steps each on average, "
          f"{seconds:.0f} s of search on the CPU")
    result = {"benchmark": "search", "faces": int(len(rows)), "searches": int(len(y)), "config": cfg.__dict__,
              "rows": table_rows, "per_target": per_target, "judges_on_real_valid": real,
              "mean_climbing_steps": float(np.concatenate(steps_used).mean()), "search_seconds": round(seconds, 1),
              "total_seconds": round(time.perf_counter() - started, 1), "threads": torch.get_num_threads()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "search.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out / 'search.json'}")
    return 0


if __name__ == "__main__":
    guarded(main)
