"""Evaluation reports: report.json, report.md and confusion-matrix PNGs in one folder."""

from __future__ import annotations

import json
from pathlib import Path

import cv2

from ..atomic import atomic_dir
from ..datasets.dataset import load
from ..errors import EmosketchError
from .classifier import dataset_images, load_classifier, pick_device, predict
from .heatmap import confusion_heatmap
from .metrics import classification_report


def classifier_markdown(rep: dict, title: str) -> str:
    lines = [f"# {title}", "",
             f"{rep['n']} images; accuracy **{rep['accuracy']:.3f}**, macro-F1 **{rep['macro_f1']:.3f}**, "
             f"balanced accuracy {rep['balanced_accuracy']:.3f}, expected calibration error {rep['ece']:.3f}.", "",
             "| class | precision | recall | F1 | ROC AUC | support |", "|---|---|---|---|---|---|"]
    for name, c in rep["per_class"].items():
        auc = "n/a" if c["roc_auc"] is None else f"{c['roc_auc']:.3f}"
        lines.append(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} | {auc} | {c['support']} |")
    lines += ["", "![confusion matrix](confusion.png)", ""]
    return "\n".join(lines)


def evaluate_classifier(checkpoint: str | Path, data: str | Path, out: str | Path, split: str = "test",
                        device: str = "auto", force: bool = False) -> dict:
    """Judge a classifier on a dataset split; write report.json, report.md and confusion.png to `out`."""
    dev = pick_device(device)
    model, state = load_classifier(checkpoint, dev)
    ds = load(data)
    if ds.classes != state["classes"]:
        raise EmosketchError(f"{data}: classes {ds.classes} differ from the classifier's {state['classes']}")
    idx = ds.indices(split)
    if len(idx) == 0:
        raise EmosketchError(f"{data}: the {split} split is empty (try --split val)")
    images = dataset_images(ds, state["input"])
    probs = predict(model, images[idx], state["image_size"], device=dev)
    rep = classification_report(probs, ds.labels[idx], ds.classes)
    rep |= {"checkpoint": str(checkpoint), "data": str(data), "split": split, "input": state["input"]}
    title = f"Classifier {Path(checkpoint).name} on {Path(data).name} ({split}, {state['input']})"
    with atomic_dir(out, overwrite=force) as tmp:
        (tmp / "report.json").write_text(json.dumps(rep, indent=1) + "\n")
        (tmp / "report.md").write_text(classifier_markdown(rep, title))
        cv2.imwrite(str(tmp / "confusion.png"), confusion_heatmap(rep["confusion_matrix"], ds.classes, title))
    return rep
