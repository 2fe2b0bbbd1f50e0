"""Evaluating an emotion translator (a generator that redraws a sketch with a target emotion).

Anything with the `Translator` methods can be judged: the GAN's generator, and the two baselines
here, which bound what a generator can score on synthetic faces:
- `InputTranslator` returns the input untouched (what doing nothing scores);
- `OracleTranslator` re-renders the synthetic ground truth (what a perfect generator scores).

The report: target-emotion accuracy (every test face to every other emotion, judged by the
classifier), identity preservation (cycle L1 and LPIPS), diversity across latent codes, the
smoothness of transitions (perceptual path length), and on synthetic data L1 and stroke IoU
against the ground-truth render.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from ..atomic import atomic_dir
from ..datasets.dataset import SketchDataset, load
from ..datasets.synthetic import random_identity, render
from ..errors import EmosketchError
from ..frames import write_image
from .classifier import load_classifier, pick_device, predict
from .heatmap import confusion_heatmap
from .metrics import classification_report, l1, perceptual_path_length, stroke_iou

GROUND_TRUTH_INTENSITY = 0.8  # synthetic ground truth is drawn at the middle of the training range [0.6, 1]


class Translator(Protocol):
    classes: list[str]

    def translate(self, images: np.ndarray, targets: np.ndarray, seeds: np.ndarray,
                  rows: np.ndarray | None = None) -> np.ndarray:
        """float32 [B, S, S] in [0, 1] (1 = paper) redrawn with classes `targets`; `seeds` pick latent
        codes; `rows` are the dataset rows of the images, for translators that know ground truth."""

    def along_path(self, images: np.ndarray, start: np.ndarray, end: np.ndarray, t: np.ndarray,
                   seeds: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """float32 [B, S, S]: each image redrawn at position t[i] of the path from class start[i] to end[i]."""


def _unit(images: np.ndarray) -> np.ndarray:
    return np.asarray(images, np.float32) / 255.0


class InputTranslator:
    """The do-nothing baseline: every output is the input."""

    def __init__(self, classes: list[str]):
        self.classes = classes

    def translate(self, images, targets, seeds, rows=None):
        return _unit(images)

    def along_path(self, images, start, end, t, seeds, rows=None):
        return _unit(images)


class OracleTranslator:
    """The ground truth of a synthetic dataset: each face re-rendered in the target emotion."""

    def __init__(self, ds: SketchDataset):
        ident = ds.path / "identity.npy"
        if not ident.exists():
            raise EmosketchError(f"{ds.path}: the oracle needs a synthetic dataset (identity.npy is missing)")
        self.classes = ds.classes
        self.identity = np.load(ident)
        self.size = int(ds.images.shape[1])

    def _draw(self, row: int, weights: dict[str, float]) -> np.ndarray:
        face = render(random_identity(seed=int(self.identity[row])), weights, GROUND_TRUTH_INTENSITY, self.size)
        return face.astype(np.float32) / 255.0

    def translate(self, images, targets, seeds, rows=None):
        if rows is None:
            raise EmosketchError("the oracle needs the dataset rows of the images")
        return np.stack([self._draw(r, {self.classes[t]: 1.0}) for r, t in zip(rows, targets)])

    def along_path(self, images, start, end, t, seeds, rows=None):
        if rows is None:
            raise EmosketchError("the oracle needs the dataset rows of the images")
        out = []
        for r, a, b, u in zip(rows, start, end, t):
            weights = {self.classes[a]: 1.0 - float(u)}
            weights[self.classes[b]] = weights.get(self.classes[b], 0.0) + float(u)
            out.append(self._draw(r, weights))
        return np.stack(out)


def _distance(lpips, a: np.ndarray, b: np.ndarray, batch: int = 64) -> np.ndarray:
    """LPIPS when a model is given, else mean absolute difference; inputs float [N, S, S] in [0, 1]."""
    if lpips is None:
        return np.abs(a - b).reshape(len(a), -1).mean(axis=1)
    out = []
    device = next(lpips.parameters()).device
    for s in range(0, len(a), batch):
        ta = torch.from_numpy(a[s:s + batch]).unsqueeze(1).to(device) * 2 - 1
        tb = torch.from_numpy(b[s:s + batch]).unsqueeze(1).to(device) * 2 - 1
        with torch.no_grad():
            out.append(lpips(ta.repeat(1, 3, 1, 1), tb.repeat(1, 3, 1, 1)).flatten().cpu().numpy())
    return np.concatenate(out)


def translation_pairs(ds: SketchDataset, split: str, faces: int, rng: np.random.Generator):
    """The test of a translator: `faces` faces of the split, each to every other emotion. Returns
    (dataset rows, their images, their classes, the face of each translation (an index into rows),
    its target class, its latent seed)."""
    pool = ds.indices(split)
    if len(pool) == 0:
        raise EmosketchError(f"{ds.path}: the {split} split is empty")
    rows = np.sort(rng.choice(pool, min(faces, len(pool)), replace=False))
    source = ds.labels[rows].astype(np.int64)
    n_classes = len(ds.classes)
    pair_rows = np.repeat(np.arange(len(rows)), n_classes - 1)
    targets = np.array([t for s in source for t in range(n_classes) if t != s], np.int64)
    seeds = rng.integers(0, 2**31, len(targets))
    return rows, np.asarray(ds.images[rows]), source, pair_rows, targets, seeds


def evaluate_generator(translator: Translator, data: str | Path, classifier: str | Path, out: str | Path,
                       name: str, lpips=None, split: str = "test", faces: int = 64, ppl_samples: int = 128,
                       eps: float = 1e-4, seed: int = 0, device: str = "auto", force: bool = False,
                       lpips_note: str | None = None, judge_note: str | None = None) -> dict:
    """Judge `translator` on `faces` faces of the dataset split; write report.json, report.md and
    confusion.png (target emotion vs the classifier's verdict) to `out`."""
    dev = pick_device(device)
    ds = load(data)
    model, clf = load_classifier(classifier, dev)
    # a generator may draw more emotions than the data has (a model taught contempt), after the data's own
    # in the same order: it is judged on those, by the same indices
    if clf["classes"] != ds.classes or list(translator.classes)[:len(ds.classes)] != list(ds.classes):
        raise EmosketchError(f"classes differ: data {ds.classes}, classifier {clf['classes']}, "
                             f"generator {translator.classes}")
    if clf["input"] != "sketch":
        raise EmosketchError(f"{classifier}: judges face photos; a generator needs a sketch classifier")
    rng = np.random.default_rng(seed)
    rows, images, source, pair_rows, targets, seeds = translation_pairs(ds, split, faces, rng)
    n_classes = len(ds.classes)
    outputs = translator.translate(images[pair_rows], targets, seeds, rows[pair_rows])
    judged = predict(model, (outputs * 255).round().astype(np.uint8), clf["image_size"], device=dev)
    verdict = classification_report(judged, targets, ds.classes)
    # Identity preservation: translate back to the source emotion.
    back = translator.translate((outputs * 255).round().astype(np.uint8), source[pair_rows], seeds,
                                rows[pair_rows])
    original = _unit(images[pair_rows])
    cycle_l1 = l1(original, back)
    edit = np.abs(outputs - original)
    cycle_lpips = _distance(lpips, original, back) if lpips is not None else None
    # Diversity: the same face and target with another latent code.
    other = translator.translate(images[pair_rows], targets, seeds + 1, rows[pair_rows])
    diversity = _distance(lpips, outputs, other)
    # Smoothness: perceptual path length from the source emotion to a random other one.
    k = rng.integers(0, len(rows), ppl_samples)
    ends = np.array([(source[i] + rng.integers(1, n_classes)) % n_classes for i in k], np.int64)
    t = rng.uniform(0, 1 - eps, ppl_samples)
    path_seeds = rng.integers(0, 2**31, ppl_samples)
    at_t = translator.along_path(images[k], source[k], ends, t, path_seeds, rows[k])
    at_t_eps = translator.along_path(images[k], source[k], ends, t + eps, path_seeds, rows[k])
    ppl = perceptual_path_length(_distance(lpips, at_t, at_t_eps), eps)
    report = {
        "generator": name, "data": str(data), "split": split, "classifier": str(classifier),
        "faces": int(len(rows)), "translations": int(len(targets)),
        "distance": "lpips (alex)" if lpips is not None else "l1 (mean absolute difference on [0, 1])",
        "target_accuracy": verdict["accuracy"], "target_macro_f1": verdict["macro_f1"],
        "target_accuracy_per_class": {c: v["recall"] for c, v in verdict["per_class"].items()},
        "cycle_l1": float(cycle_l1.mean()),
        # how much of the face changed: mean |output - input| on [0, 1], and the share of pixels that
        # changed by more than half the range (a stroke came or went)
        "edit_l1": float(edit.mean()), "edit_pixels": float((edit > 0.5).mean()),
        "cycle_lpips": None if cycle_lpips is None else float(cycle_lpips.mean()),
        "diversity": float(diversity.mean()),
        "ppl": ppl | {"eps": eps},
        "confusion_matrix": verdict["confusion_matrix"],
        "lpips_note": lpips_note,
        "judge_note": judge_note,  # why the judge flatters this generator (one of its guides), when it does
    }
    ident = ds.path / "identity.npy"
    if ident.exists():  # synthetic: compare with the ground-truth render
        truth = OracleTranslator(ds).translate(images[pair_rows], targets, seeds, rows[pair_rows])
        report["ground_truth"] = {
            "intensity": GROUND_TRUTH_INTENSITY,
            "l1": float(l1(outputs, truth).mean()), "stroke_iou": float(stroke_iou(outputs, truth).mean()),
            "input_l1": float(l1(original, truth).mean()), "input_stroke_iou": float(stroke_iou(original, truth).mean()),
        }
    with atomic_dir(out, overwrite=force) as tmp:
        (tmp / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        (tmp / "report.md").write_text(generator_markdown(report))

        write_image(tmp / "confusion.png", confusion_heatmap(
            report["confusion_matrix"], ds.classes, f"{name}: asked-for emotion vs classifier verdict"))
    return report


def generator_markdown(r: dict) -> str:
    lines = [f"# Generator {r['generator']} on {Path(r['data']).name} ({r['split']})", "",
             f"{r['faces']} faces, each redrawn in every other emotion ({r['translations']} translations); "
             f"distances are {r['distance']}.", "",
             "| metric | value |", "|---|---|",
             f"| target-emotion accuracy (classifier's verdict; chance {1 / len(r['target_accuracy_per_class']):.3f}) | {r['target_accuracy']:.3f} |",
             f"| target-emotion macro-F1 | {r['target_macro_f1']:.3f} |",
             f"| identity: cycle L1 (to target and back) | {r['cycle_l1']:.4f} |",
             f"| edit: mean change, and share of pixels changed by over half | {r['edit_l1']:.4f}, "
             f"{r['edit_pixels']:.4f}{' (one figure: every pixel is ink or paper)' if r['edit_l1'] == r['edit_pixels'] else ''} |"]
    if r["cycle_lpips"] is not None:
        lines.append(f"| identity: cycle LPIPS | {r['cycle_lpips']:.4f} |")
    lines += [f"| diversity across latent codes | {r['diversity']:.4f} |",
              f"| perceptual path length (eps {r['ppl']['eps']:g}, 1st-99th percentile) | {r['ppl']['ppl']:.1f} |"]
    if "ground_truth" in r:
        g = r["ground_truth"]
        lines += [f"| L1 to the ground-truth render (input untouched: {g['input_l1']:.4f}) | {g['l1']:.4f} |",
                  f"| stroke IoU with the ground truth (input untouched: {g['input_stroke_iou']:.3f}) | {g['stroke_iou']:.3f} |"]
    if r.get("judge_note"):
        lines += ["", f"Note: {r['judge_note']}."]
    if r.get("lpips_note"):
        lines += ["", f"Note: {r['lpips_note']}"]
    lines += ["", "Target-emotion accuracy per asked-for class: " +
              ", ".join(f"{c} {v:.2f}" for c, v in r["target_accuracy_per_class"].items()), "",
              "![asked-for emotion vs verdict](confusion.png)", ""]
    return "\n".join(lines)
