"""Real-faces benchmark: does a generator redraw real faces with the emotion it was asked for?

    python benchmarks/realfaces.py --out bench-out                                  # baselines only
    python benchmarks/realfaces.py --out bench-out --generator warp=runs/fer6-warp/checkpoint.pt
    python benchmarks/realfaces.py --out bench-out --reuse --generator a=A.pt --generator b=B.pt
    python benchmarks/realfaces.py --out bench-out --size 128 --generator g128=runs/g128.pt   # judged at 128 px

FER+ valid faces, as 64 px sketches in six emotions (neutral, happy, sad, surprise, fear, anger;
disgust and contempt have 52 and 76 train faces and are left out), are each redrawn in every other
emotion. Four judges read the results, each fitted on the FER+ **train** sketches only (they never
see a generated image):
- judges A and B, sketch CNNs: width 16, seed 0, and width 32, seed 2. A generator's guide
  classifier (configs/classifier-guide.yaml) has seed 1, so neither is the network a generator was
  trained against; the benchmark refuses a judge file that is the guide;
- judge C, HOG features (8 px cells) and a softmax regression;
- judge D, blurred pixels on their first 150 principal components and a softmax regression
  (eigenfaces: no convolution and no gradient histogram).

For the untouched input, the warp baseline (emosketch.evaluate.warp) and each --generator, it reports
target-emotion accuracy under every judge, each judge's accuracy on the real valid sketches and the
ratio of the two (the issue's goal: >= 0.8), a per-target table, the edit size and identity kept
(cycle L1). Skipped, with a note, when ../shared/data/ferplus is absent.

A generator is judged twice: on its sketches inked to pure ink and paper (emosketch.gan.sample.ink,
what `emosketch sample` writes; the real sketches are binary too) and, in the row "NAME (gray)", on
the network's gray output with its soft stroke edges. The HOG judge reads soft edges as another kind
of picture: the real FER+ valid sketches blurred by 0.7 px fall from 0.595 to 0.300 under it at 64 px
(0.594 to 0.309 at 128 px), the judges' table's blurred_0.7px column.

--reuse keeps the judges and dataset a previous run left in OUT/realfaces.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import FERPLUS, HIRES, guarded, named_checkpoints, number, table, whole  # noqa: E402

from emosketch.datasets.dataset import load  # noqa: E402
from emosketch.datasets.prepare import PrepareConfig, prepare  # noqa: E402
from emosketch.evaluate.classifier import ClassifierConfig, guide_among, train_classifier  # noqa: E402
from emosketch.evaluate.generator import InputTranslator, evaluate_generator  # noqa: E402
from emosketch.evaluate.report import evaluate_classifier  # noqa: E402
from emosketch.evaluate.warp import WarpTranslator  # noqa: E402
from emosketch.gan.sample import GanTranslator, ink  # noqa: E402

CLASSES = ["neutral", "happy", "sad", "surprise", "fear", "anger"]
JUDGES = {  # trained on real train sketches only; seed 1 is the guide's (configs/classifier-guide.yaml)
    "A": ClassifierConfig(image_size=64, width=16, epochs=12, samples_per_epoch=8000, patience=4, seed=0),
    "B": ClassifierConfig(image_size=64, width=32, epochs=12, samples_per_epoch=8000, patience=4, seed=2,
                          dropout=0.4),
}


def prepared(spec: str, data: Path, cfg, reuse: bool) -> Path:
    """`prepare` of `spec` into `data` with `cfg`, or the dataset already there with --reuse."""
    if not (reuse and (data / "meta.json").exists()):
        shutil.rmtree(data, ignore_errors=True)
        prepare(spec, data, cfg, workers=2, progress=False, log=lambda m: print("   ", m))
    return data


def real_dataset(work: Path, reuse: bool, size: int = 64) -> Path:
    """FER+ train + valid as sketches of the six classes at `size` (prepare, 7 s on 2 cores at 64 px)."""
    return prepared(f"ferplus:{FERPLUS}", work / f"fer6-{size}", PrepareConfig(size=size, classes=CLASSES), reuse)


def heldout_dataset(name: str, source: Path, work: Path, reuse: bool, size: int, margin: float | None = None) -> Path:
    """Faces from another collection than FER+ (`source`, one folder per class), held out from every
    judge and from the generators' FER+ training: the same sketch settings as the FER+ sketches, every
    face in the test split. Each face is cropped to its Haar box plus `margin` a side (None: prepare's
    default)."""
    cfg = PrepareConfig(size=size, classes=CLASSES, split_fractions=[0.0, 0.0, 1.0])
    if margin is None:
        return prepared(f"folder:{source}", work / f"{name}-{size}", cfg, reuse)
    cfg = replace(cfg, face=replace(cfg.face, margin=margin))
    return prepared(f"folder:{source}", work / f"{name}-{size}-m{round(margin * 100)}", cfg, reuse)


def same_data(trained_on: dict, data: Path) -> bool:
    """Whether a judge's dataset (as its checkpoint describes it) is `data`: the same folder, or one made alike (the
    same source, size, sketch and face crop). A judge names its folder as it was given, relative to where it was
    trained, so the folder alone had tied --reuse to --out bench-out run from the repository's root."""
    if Path(trained_on["path"]).resolve() == Path(data).resolve():
        return True
    meta = load(data).meta
    return (trained_on.get("size") == int(load(data).images.shape[1]) and trained_on.get("sketch") == meta.get("sketch")
            and trained_on.get("face_crop") == meta.get("face_crop") and trained_on.get("source") == meta.get("source"))


def train_judge(name: str, data: Path, work: Path, reuse: bool, cfg: ClassifierConfig | None = None) -> Path:
    """A judge: a sketch classifier trained on `data`, the real sketches that prepare wrote from FER+,
    and nothing else: a dataset from any other source (a generator's output, synthetic faces) is
    refused, and so is a checkpoint left in `work` that was trained on another dataset."""
    source = load(data).meta["source"]["kind"]
    if source != "ferplus":
        raise SystemExit(f"{data}: a judge trains on real FER+ sketches only, not on {source}")
    cfg = cfg or replace(JUDGES[name], image_size=load(data).images.shape[1])
    ckpt = work / f"judge-{name}.pt"
    if reuse and ckpt.exists():
        trained_on = torch.load(ckpt, map_location="cpu", weights_only=True)["dataset"]
        if not same_data(trained_on, data):
            raise SystemExit(f"{ckpt}: trained on {trained_on['path']}, not on {data}; run without --reuse")
    else:
        ckpt.unlink(missing_ok=True)
        start = time.perf_counter()
        train_classifier(data, ckpt, cfg, device="cpu", progress=False,
                         log=lambda m: print("   ", m))
        print(f"    judge {name}: {time.perf_counter() - start:.0f} s")
    return ckpt


class LinearJudge:
    """A judge of another kind than the CNNs: fixed features and a class-balanced softmax regression on
    them, fitted on the real FER+ train sketches only. Subclasses say what the features are."""

    def __init__(self, ds, epochs: int = 300, l2: float = 1e-3, seed: int = 0):
        train = ds.indices("train")
        self.fit_features(np.asarray(ds.images[train]))
        x = torch.from_numpy(self.features(np.asarray(ds.images[train])))
        y = torch.from_numpy(ds.labels[train].astype(np.int64))
        self.mean, self.std = x.mean(0), x.std(0) + 1e-6
        x = (x - self.mean) / self.std
        counts = torch.bincount(y, minlength=len(ds.classes)).float()
        weight = counts.sum() / (len(counts) * counts.clamp_min(1))
        torch.manual_seed(seed)
        self.linear = torch.nn.Linear(x.shape[1], len(ds.classes))
        opt = torch.optim.LBFGS(self.linear.parameters(), lr=1, max_iter=epochs, history_size=20)

        def closure():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(self.linear(x), y, weight=weight) + \
                l2 * self.linear.weight.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)

    def fit_features(self, images: np.ndarray) -> None:
        """Learn what the features need from the train sketches (nothing by default)."""

    def features(self, images: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, images: np.ndarray) -> np.ndarray:
        x = (torch.from_numpy(self.features(images)) - self.mean) / self.std
        return self.linear(x).argmax(1).numpy()


class HogJudge(LinearJudge):
    """Judge C: HOG features (8 px cells, 9 orientations). Edits tuned to one CNN's pixels rarely
    carry over to gradient histograms; expression geometry does."""

    def fit_features(self, images: np.ndarray) -> None:
        import cv2

        side = images.shape[1]
        cell = side // 8
        self.hog = cv2.HOGDescriptor((side, side), (2 * cell, 2 * cell), (cell, cell), (cell, cell), 9)

    def features(self, images: np.ndarray) -> np.ndarray:
        return np.stack([self.hog.compute(np.ascontiguousarray(img)).ravel() for img in images]).astype(np.float32)


class EigenJudge(LinearJudge):
    """Judge D: "Fisherfaces"-style global appearance. Each sketch is blurred (sigma 2 px at 64 px, scaled
    with the side, so a stroke
    moved by a pixel or two still overlaps itself), projected on the first 150 principal components
    of the train sketches, and read by the softmax regression. No convolution and no gradient
    histogram: it reads where the ink is, over the whole face."""

    components = 150

    def blurred(self, images: np.ndarray) -> torch.Tensor:
        import cv2

        sigma = 2.0 * images.shape[1] / 64
        return torch.from_numpy(np.stack([cv2.GaussianBlur(img.astype(np.float32) / 255, (0, 0), sigma).ravel()
                                          for img in images]))

    def fit_features(self, images: np.ndarray) -> None:
        x = self.blurred(images)
        self.centre = x.mean(0)
        torch.manual_seed(0)
        _, _, v = torch.pca_lowrank(x - self.centre, q=self.components, center=False, niter=4)
        self.basis = v

    def features(self, images: np.ndarray) -> np.ndarray:
        return ((self.blurred(images) - self.centre) @ self.basis).numpy().astype(np.float32)


def linear_target_accuracy(judge: LinearJudge, tr, ds, faces: int, split: str = "val") -> dict:
    """Target accuracy under a linear judge (C, D), on the same translations as evaluate_generator's (seed 0)."""
    from emosketch.evaluate.generator import translation_pairs

    rows, images, _, pair_rows, targets, seeds = translation_pairs(ds, split, faces, np.random.default_rng(0))
    out = tr.translate(images[pair_rows], targets, seeds, rows[pair_rows])
    verdict = judge.predict((np.clip(out, 0, 1) * 255).round().astype(np.uint8))
    per = {c: float((verdict[targets == i] == i).mean()) for i, c in enumerate(ds.classes)}
    return {"accuracy": float((verdict == targets).mean()), "per_target": per}


BLUR = 0.7  # px: how far the judges' table softens the real sketches' edges


def softened(images: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 sketches with their edges blurred by a Gaussian of `sigma` px (anti-aliased, not binary)."""
    import cv2

    return np.stack([cv2.GaussianBlur(img, (0, 0), sigma) for img in images])


def cnn_reader(ckpt: Path):
    """A CNN judge as a function: uint8 sketches -> predicted class indices."""
    from emosketch.emotion_cnn import load_classifier, predict

    model, state = load_classifier(ckpt, "cpu")
    return lambda images: predict(model, images, state["image_size"]).argmax(1)


class Inked:
    """A translator's sketches inked (emosketch.gan.sample.ink), as `emosketch sample` writes them."""

    def __init__(self, translator):
        self.translator, self.classes = translator, translator.classes

    def translate(self, images, targets, seeds, rows=None):
        return ink(self.translator.translate(images, targets, seeds, rows=rows))

    def along_path(self, images, start, end, t, seeds, rows=None):
        return ink(self.translator.along_path(images, start, end, t, seeds, rows=rows))


class Remembered:
    """A translator whose answers are kept: every judge asks for the same translations (the same faces,
    targets and seeds), so each is drawn once instead of once per judge."""

    def __init__(self, translator):
        self.translator, self.classes, self.answers = translator, translator.classes, {}

    def _ask(self, call: str, *arrays, rows=None):
        key = (call, hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).digest())
        if key not in self.answers:
            self.answers[key] = getattr(self.translator, call)(*arrays, rows=rows)
        return self.answers[key]

    def translate(self, images, targets, seeds, rows=None):
        return self._ask("translate", images, targets, seeds, rows=rows)

    def along_path(self, images, start, end, t, seeds, rows=None):
        return self._ask("along_path", images, start, end, t, seeds, rows=rows)


def check_independent(judges: dict[str, Path], name: str, checkpoint: str | Path) -> None:
    """Refuse a judge that is the guide classifier the generator `checkpoint` was trained against."""
    config = torch.load(checkpoint, map_location="cpu", weights_only=True)["config"]
    found = guide_among(config, judges)  # by weights: a copy or re-save of the guide is the guide too
    if found is not None:
        raise SystemExit(f"judge {found[0]} is {name}'s guide classifier {found[1]}: a judge must be independent")


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def grid_faces(ds, per_class: int = 2) -> np.ndarray:
    """The first `per_class` valid faces of each class (fixed, so grids compare across runs)."""
    val = ds.indices("val")
    rows = [r for c in range(len(ds.classes)) for r in val[ds.labels[val] == c][:per_class]]
    return np.asarray(ds.images[np.sort(rows)])


def photo_sketch(ds) -> np.ndarray:
    """The demo photo (NASA's public-domain portrait of Eileen Collins) through the dataset's face crop
    and sketch settings: uint8 [1, S, S]. A sharp 256 px photo, unlike FER+'s 48 px faces."""
    from emosketch.datasets.decode import decode_file
    from emosketch.datasets.photo import model_input
    from emosketch.models import demo_photo

    settings = {"sketch": ds.meta["sketch"], "face_crop": ds.meta["face_crop"]}
    return model_input(decode_file(demo_photo()), settings, ds.images.shape[1], "sketch", "photo")[0][None]


def write_grid(path: Path, tr, faces: np.ndarray, n_classes: int, scale: int = 2) -> None:
    """Rows: faces; columns: the input sketch, then the face redrawn in each emotion (generated
    sketches only: no photo goes into the picture)."""
    import cv2

    cols = [faces.astype(np.float32) / 255]
    seeds = np.zeros(len(faces), np.int64)
    for c in range(n_classes):
        cols.append(tr.translate(faces, np.full(len(faces), c), seeds))
    grid = np.concatenate([np.concatenate([col[i] for col in cols], axis=1) for i in range(len(faces))], axis=0)
    img = (np.clip(grid, 0, 1) * 255).round().astype(np.uint8)
    cv2.imwrite(str(path), cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST))


HELDOUT = {"jaffe": HIRES / "jaffe", "katstudz": HIRES / "katstudz"}  # sharp faces no judge or model saw


def test_sets(work: Path, data: Path, reuse: bool, size: int, margin: float | None = None) -> list[tuple[str, Path, str]]:
    """(name, dataset, split): FER+ valid, then each held-out sharp collection that is present."""
    sets = [("FER+ valid", data, "val")]
    for name, source in HELDOUT.items():
        if source.is_dir():
            print(f"preparing held-out {name} sketches ...")
            sets.append((f"{name} (held out)", heldout_dataset(name, source, work, reuse, size, margin), "test"))
        else:
            print(f"(held-out {name} faces not found at {source}: left out)")
    return sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench-out", help="folder for realfaces[-SIZE].json and the work in realfaces[-SIZE]/")
    ap.add_argument("--generator", action="append", default=[], metavar="NAME=CHECKPOINT",
                    help="a generator checkpoint to judge (repeatable)")
    ap.add_argument("--size", type=int, default=64, choices=[64, 128],
                    help="the side the faces are sketched and judged at; a generator of another size is "
                         "resized to it")
    ap.add_argument("--faces", type=whole(1), default=400, help="faces of each test set, each redrawn in the 5 other emotions")
    ap.add_argument("--exaggerate", type=number(0.0, 100.0), default=3.0, help="the warp baseline's exaggeration of mean motion")
    ap.add_argument("--margin", type=number(0.0, 1.0), default=None,
                    help="frame the held-out sharp faces by their Haar box plus this fraction a side (default: "
                         "prepare's); the figures go to realfaces[-SIZE]-mMARGIN.json")
    ap.add_argument("--reuse", action="store_true", help="reuse the datasets and judges in OUT/realfaces[-SIZE]")
    ap.add_argument("--cnn-judges", default="A,B",
                    help="which CNN judges to train and use (judge B at 128 px takes about 25 min an epoch on one "
                         "core)")
    args = ap.parse_args()
    generators = named_checkpoints(args.generator, "--generator")  # a bad one stops before any work
    cnn = [j.strip() for j in args.cnn_judges.split(",") if j.strip()]
    if not set(cnn) <= set(JUDGES):
        raise SystemExit(f"--cnn-judges {args.cnn_judges!r}: expected some of {', '.join(JUDGES)}")
    if not (FERPLUS / "FER2013Train").is_dir():
        print(f"(real FER+ faces not found at {FERPLUS}: nothing to measure)")
        return
    out = Path(args.out)
    suffix = "" if args.size == 64 else f"-{args.size}"
    work = out / f"realfaces{suffix}"
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    print(f"preparing FER+ sketches at {args.size} px ...")
    data = real_dataset(work, args.reuse, args.size)
    ds = load(data)
    judges = {}
    for name in cnn:
        print(f"training judge {name} ...")
        judges[name] = train_judge(name, data, work, args.reuse)
    print("fitting judge C (HOG + softmax regression) ...")
    hog = HogJudge(ds)
    print("fitting judge D (blurred pixels, 150 principal components + softmax regression) ...")
    eigen = EigenJudge(ds)
    configs = {"A": f"CNN width {JUDGES['A'].width}, seed {JUDGES['A'].seed}",
               "B": f"CNN width {JUDGES['B'].width}, seed {JUDGES['B'].seed}",
               "C": "HOG (8 cells a side, 9 bins) + softmax regression",
               "D": "blur, PCA 150 + softmax regression"}
    sets = test_sets(work, data, args.reuse, args.size, args.margin)

    judge_rows, real_acc = [], {}
    readers = {name: cnn_reader(ckpt) for name, ckpt in judges.items()} | {"C": hog.predict, "D": eigen.predict}
    for set_name, set_data, split in sets:
        sds = load(set_data)
        idx = sds.indices(split)
        for name, ckpt in judges.items():
            rep = evaluate_classifier(ckpt, set_data, work / f"report-judge-{name}-{slug(set_name)}", split,
                                      device="cpu", force=True)
            real_acc[set_name, name] = rep["accuracy"]
            judge_rows.append({"test set": set_name, "judge": name, "config": configs[name],
                               "real_accuracy": rep["accuracy"], "n": rep["n"]})
        for name, judge in (("C", hog), ("D", eigen)):
            acc = float((judge.predict(np.asarray(sds.images[idx])) == sds.labels[idx]).mean())
            real_acc[set_name, name] = acc
            judge_rows.append({"test set": set_name, "judge": name, "config": configs[name],
                               "real_accuracy": acc, "n": len(idx)})
        soft = softened(np.asarray(sds.images[idx]), BLUR)
        for row in judge_rows[-len(readers):]:
            row[f"blurred_{BLUR:g}px"] = float((readers[row["judge"]](soft) == sds.labels[idx]).mean())

    translators = [("input untouched", InputTranslator(ds.classes), None),
                   (f"warp baseline (x{args.exaggerate:g})", WarpTranslator.fit(ds, args.exaggerate), None)]
    for name, path in generators:
        check_independent(judges, name, path)
        gray = Remembered(GanTranslator(path, "cpu", ink=False))  # drawn once, judged inked and gray
        translators += [(name, Inked(gray), str(path)), (f"{name} (gray)", gray, str(path))]

    rows = []
    faces = grid_faces(ds)
    photo = photo_sketch(ds)
    for name, translator, path in translators:
        tr = Remembered(translator)
        write_grid(work / f"grid-{slug(name)}.png", tr, faces, len(ds.classes))
        write_grid(work / f"photo-{slug(name)}.png", tr, photo, len(ds.classes), scale=4 * 64 // args.size)
        for set_name, set_data, split in sets:
            print(f"judging {name} on {set_name} ...")
            sds = load(set_data)
            row = {"translator": name, "test set": set_name, "checkpoint": path}
            start = time.perf_counter()
            for j, ckpt in judges.items():
                r = evaluate_generator(tr, set_data, ckpt, work / f"eval-{j}-{slug(set_name)}-{len(rows)}", name,
                                       split=split, faces=args.faces, device="cpu", force=True)
                row[f"target_acc_{j}"] = r["target_accuracy"]
                row[f"per_target_{j}"] = r["target_accuracy_per_class"]
                row["cycle_l1"], row["edit_l1"], row["edit_pixels"] = r["cycle_l1"], r["edit_l1"], r["edit_pixels"]
                row["faces"], row["translations"] = r["faces"], r["translations"]
            for j, judge in (("C", hog), ("D", eigen)):
                c = linear_target_accuracy(judge, tr, sds, args.faces, split)
                row[f"target_acc_{j}"], row[f"per_target_{j}"] = c["accuracy"], c["per_target"]
            for j in [*cnn, "C", "D"]:
                row[f"ratio_{j}"] = row[f"target_acc_{j}"] / real_acc[set_name, j]
            row["seconds"] = round(time.perf_counter() - start, 1)
            rows.append(row)

    print(f"\nJudges at {args.size} px: trained or fitted on FER+ train sketches only, read on the real sketches "
          "of each test set (6 classes, chance 0.167)")
    print(f"(blurred_{BLUR:g}px: the same real sketches with their edges softened by a {BLUR:g} px Gaussian, "
          "as a network's gray output is)")
    print(table(judge_rows, ["test set", "judge", "config", "real_accuracy", f"blurred_{BLUR:g}px", "n"]))
    print(f"\nEach test set's faces (at most {args.faces}) x 5 other emotions. ratio = target accuracy / the "
          "judge's accuracy on that set's real sketches")
    print(table(rows, ["translator", "test set", "translations",
                       *[f"{k}_{j}" for j in [*cnn, "C", "D"] for k in ("target_acc", "ratio")],
                       "cycle_l1", "edit_pixels"]))
    for j in [*cnn, "C", "D"]:
        print(f"\nTarget accuracy per asked-for emotion (judge {j})")
        print(table([{"translator": r["translator"], "test set": r["test set"], **r[f"per_target_{j}"]} for r in rows],
                    ["translator", "test set"] + ds.classes))
    result = {"size": args.size, "heldout_margin": args.margin, "judges": judge_rows, "rows": rows, "faces": args.faces, "classes": ds.classes,
              "exaggerate": args.exaggerate, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    path = out / f"realfaces{suffix}{'' if args.margin is None else f'-m{round(args.margin * 100)}'}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    guarded(main)
