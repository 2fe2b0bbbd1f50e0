"""Guides against a judge: does a generator draw an emotion, or only what its guides read?

    python benchmarks/guides.py --out bench-out --data data/fer6-128 \\
        --guide runs/fer6-128-guide.pt --guide runs/fer6-128-guide-fine.pt --guide runs/fer6-128-guide-mouth.pt \\
        --judge bench-out/realfaces-128/judge-A.pt --generator shipped=emosketch/models/generator-fer6-128.pt
    python benchmarks/guides.py --out bench-out --guide runs/fer6-128-guide-mouth.pt \
        --judge bench-out/realfaces-128/judge-A.pt --generator shipped=emosketch/models/generator-fer6-128.pt \
        --emotions surprise --parts

FER+ valid faces of the dataset (--faces of them, drawn at random from those not already of the target
emotion; the same faces and latent codes for every generator) are redrawn in each --emotions target by each
--generator, inked, through the same translator
(emosketch.gan.sample.GanTranslator: a latent code per face) that benchmarks/realfaces.py judges. Each classifier reads the drawings: the guides a generator was trained against, and a judge that
was never a guide (benchmarks/realfaces.py trains judge A into OUT/realfaces-SIZE/judge-A.pt). The table
gives each reader's accuracy on the target and what it reads most often instead. Where the guides read
a target far more often than the judge does, the generator has learned what those guides read rather
than the expression: a stronger pull of the same guides will not help there.

With --by-source, each reader's accuracy is also given by the emotion of the face each drawing started from
(a drawing of surprise from an angry face must drop its furrowed brows).

With --mask, each warp generator's paint mask on its drawings: its mean and largest value (0: the generator only
moves the source's strokes and cannot erase one).

With --psi below 1, each code is truncated toward its emotion's mean style (as pack's --psi): whether a more
typical style of an emotion reads better than the codes sampling draws.

With --parts, each reader also reads the drawings with all but one part of the face turned to paper: the
upper face (brows and eyes: rows above --split of the side) alone, and the lower face (nose and mouth) alone.
A reader that reads a target from one part and another emotion from the other shows which part of the
drawing carries the wrong expression. Real sketches of the target (FER+ valid) are read the same way beside
them, as the baseline of what each part alone should read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import guarded, named_checkpoints, table, write_json  # noqa: E402

from emosketch.datasets.dataset import load  # noqa: E402
from emosketch.evaluate.classifier import load_classifier, predict  # noqa: E402
from emosketch.gan.sample import GanTranslator  # noqa: E402


def drawings(translator, images: np.ndarray, emotion: str, seeds: np.ndarray) -> np.ndarray:
    """Each sketch of `images` (uint8) redrawn in `emotion` with the latent code of its seed, inked, uint8."""
    targets = np.full(len(images), translator.classes.index(emotion))
    return (translator.translate(np.asarray(images), targets, seeds) * 255).astype(np.uint8)


def paint_mask(translator, images: np.ndarray, emotion: str, seeds: np.ndarray) -> dict | None:
    """How far a warp generator's paint mask opens on these drawings (0 shut: it only moves strokes): its mean, its
    largest value, and the share of pixels above 0.1 and 0.5. None for a generator without a warp head."""
    m = translator.paint_masks(images, np.full(len(images), translator.classes.index(emotion)), seeds)
    if m is None:
        return None
    return {"mask mean": float(m.mean()), "mask max": float(m.max()), "above 0.1": float((m > 0.1).float().mean()),
            "above 0.5": float((m > 0.5).float().mean())}


def pick_faces(labels: np.ndarray, rows: np.ndarray, classes: list[str], emotions: list[str], faces: int,
               rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per target emotion: `faces` of `rows` (sorted) whose label is another emotion, and a latent seed for each.
    Drawn once, before any generator, so that every generator redraws the same faces with the same codes."""
    draws = {}
    for emotion in emotions:
        pool = rows[labels[rows] != classes.index(emotion)]
        picks = np.sort(rng.choice(pool, min(faces, len(pool)), replace=False))
        draws[emotion] = (picks, rng.integers(0, 2**31, len(picks)))
    return draws


def by_source(readers: dict, images: np.ndarray, sources: np.ndarray, classes: list[str], target: str) -> list[dict]:
    """Per reader and per source emotion (`sources`: each drawing's source face's label): accuracy on `target`."""
    rows = []
    for name, (model, size) in readers.items():
        said = predict(model, images, size).argmax(1) == classes.index(target)
        rows += [{"reader": name, "target": target, "source": classes[c], "faces": int((sources == c).sum()),
                  "accuracy": float(said[sources == c].mean())} for c in np.unique(sources)]
    return rows


def readings(readers: dict, images: np.ndarray, classes: list[str], target: str) -> list[dict]:
    """Per reader: accuracy on `target` and the most frequent other reading."""
    rows = []
    for name, (model, size) in readers.items():
        said = predict(model, images, size).argmax(1)
        counts = np.bincount(said, minlength=len(classes))
        counts[classes.index(target)] = -1
        rows.append({"reader": name, "target": target, "accuracy": float((said == classes.index(target)).mean()),
                     "most often instead": f"{classes[int(counts.argmax())]} ({int(counts.max())})"})
    return rows


PARTS = ("whole", "upper face alone", "lower face alone")


def part(images: np.ndarray, name: str, split: float) -> np.ndarray:
    """`images` (uint8, paper 255) with all but one part of the face turned to paper (PARTS)."""
    if name not in PARTS:
        raise ValueError(f"part {name!r}: expected one of {', '.join(PARTS)}")
    out = np.array(images, copy=True)
    row = round(split * out.shape[1])
    if name == "upper face alone":
        out[:, row:] = 255
    elif name == "lower face alone":
        out[:, :row] = 255
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default="data/fer6-128", help="a prepared sketch dataset at the generator's size")
    ap.add_argument("--generator", action="append", required=True, help="NAME=CHECKPOINT (repeatable)")
    ap.add_argument("--guide", action="append", default=[], help="a guide classifier (repeatable)")
    ap.add_argument("--judge", action="append", default=[], help="a judge classifier, never a guide (repeatable)")
    ap.add_argument("--emotions", default="surprise,fear")
    ap.add_argument("--faces", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--psi", type=float, default=1.0, help="truncate each drawing's style code toward its emotion's "
                                                           "mean style (1 = none, 0 = the mean), as pack's --psi")
    ap.add_argument("--parts", action="store_true", help="also read the upper and the lower face alone, and real "
                                                            "sketches of each target the same way")
    ap.add_argument("--by-source", action="store_true", help="also each reader's accuracy by the source face's "
                                                                "emotion (what the drawing started from)")
    ap.add_argument("--mask", action="store_true", help="also how far each warp generator's paint mask opens "
                                                           "on its drawings of each target")
    ap.add_argument("--split", type=float, default=0.52, help="with --parts: the row, as a fraction of the side, "
                                                              "between the upper and the lower face")
    args = ap.parse_args()
    if not 0 <= args.psi <= 1:
        raise SystemExit(f"--psi {args.psi}: a truncation from 0 (the mean style) to 1 (none)")
    if not 0.2 <= args.split <= 0.8:
        raise SystemExit(f"--split {args.split}: a fraction of the side from 0.2 to 0.8")
    if not (Path(args.data) / "meta.json").is_file():
        raise SystemExit(f"--data {args.data}: no prepared dataset there (emosketch prepare --size 128 ...)")
    for path in args.guide + args.judge:
        if not Path(path).is_file():
            raise SystemExit(f"{path}: no such classifier file")
    ds = load(args.data)
    unknown = [e for e in args.emotions.split(",") if e not in ds.classes]
    if unknown:
        raise SystemExit(f"--emotions {unknown[0]!r}: not a class of {args.data} ({', '.join(ds.classes)})")
    readers = {}
    for kind, paths in (("guide", args.guide), ("judge", args.judge)):
        for path in paths:
            model, state = load_classifier(path)
            readers[f"{kind} {Path(path).stem}"] = (model, int(state["image_size"]))
    val = np.flatnonzero(ds.split == 1)
    rng = np.random.default_rng(args.seed)
    rows = []
    parts = PARTS if args.parts else PARTS[:1]

    def read(source: str, images: np.ndarray, emotion: str) -> None:
        for which in parts:
            rows.extend({"drawn by": source, "part": which, **r}
                        for r in readings(readers, part(images, which, args.split), list(ds.classes), emotion))

    sourced, masks = [], []
    draws = pick_faces(ds.labels, val, list(ds.classes), args.emotions.split(","), args.faces, rng)
    for name, ckpt in named_checkpoints(args.generator, "--generator"):
        translator = GanTranslator(ckpt, "cpu", psi=args.psi)
        for emotion, (picks, seeds) in draws.items():
            made = drawings(translator, ds.images[picks], emotion, seeds)
            read(name, made, emotion)
            opened = paint_mask(translator, ds.images[picks], emotion, seeds) if args.mask else None
            if opened is not None:
                masks.append({"drawn by": name, "target": emotion, **opened})
            if args.by_source:
                sourced += [{"drawn by": name, **r} for r in by_source(readers, made, ds.labels[picks],
                                                                         list(ds.classes), emotion)]
    if args.parts:
        for emotion in args.emotions.split(","):
            real = val[ds.labels[val] == ds.classes.index(emotion)]
            read("real sketches", ds.images[np.sort(rng.choice(real, min(args.faces, len(real)), replace=False))],
                 emotion)
    print(f"{args.faces} FER+ valid faces of {args.data} redrawn in each target, inked; each reader's accuracy on it")
    cols = ["drawn by", "target"] + (["part"] if args.parts else []) + ["reader", "accuracy", "most often instead"]
    print(table(rows, cols))
    if sourced:
        print("\nby the source face's emotion")
        print(table(sourced, ["drawn by", "target", "reader", "source", "faces", "accuracy"]))
    if masks:
        print("\nthe paint mask on these drawings (0: strokes only moved)")
        print(table(masks, ["drawn by", "target", "mask mean", "mask max", "above 0.1", "above 0.5"]))
    write_json(args.out, "guides.json", {"faces": args.faces, "seed": args.seed,
                                         "split": args.split if args.parts else None, "rows": rows,
                                         "by_source": sourced, "mask": masks})


if __name__ == "__main__":
    guarded(main)
