"""Evaluation reports: report.json, report.md and confusion-matrix PNGs in one folder."""

from __future__ import annotations

import json
from pathlib import Path

from ..atomic import atomic_dir
from ..datasets.dataset import load
from ..errors import EmosketchError
from ..frames import write_image
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
        write_image(tmp / "confusion.png", confusion_heatmap(rep["confusion_matrix"], ds.classes, title))
    return rep


def baseline_translator(name: str, data: str | Path):
    """The translators every generator is judged beside: input (the face untouched), oracle (the exact
    answer, synthetic data only) and warp (the mean-motion warp)."""
    from .generator import InputTranslator, OracleTranslator
    from .warp import WarpTranslator

    ds = load(data)
    makers = {"input": lambda: InputTranslator(ds.classes), "oracle": lambda: OracleTranslator(ds),
              "warp": lambda: WarpTranslator.fit(ds)}
    if name not in makers:
        raise EmosketchError(f"baseline {name!r}: expected one of {', '.join(makers)}")
    return makers[name]()


def judge_note(translator, classifier: str | Path) -> str | None:
    """Why the judge's verdict on this generator flatters it, if it does: the judge is one of the guides the
    generator was trained against (classifier.guide_among), or, for a generator trained with a guide (the shipped
    ones), the shipped sketch classifier, a guide by the same recipe."""
    from ..models import default_sketch_classifier
    from .classifier import guide_among

    advice = ("so its verdict flatters the generator; judge with a classifier trained on real sketches that no "
              "generator learned from (emosketch classifier train)")
    config = (getattr(translator, "state", None) or {}).get("config") or {}
    found = guide_among(config, {"judge": classifier})
    if found is not None:
        return f"the judge is one of the guides this generator was trained to satisfy ({found[1]}), {advice}"
    shipped = default_sketch_classifier()
    if config.get("guide") and Path(classifier).resolve() == shipped.resolve():
        return (f"the judge is the shipped sketch classifier ({shipped.name}), the search's guide, trained by the "
                f"recipe of this generator's guide (configs/classifier-guide.yaml), {advice}")
    return None


def judge_translator(translator, name: str, data: str | Path, classifier: str | Path, out: str | Path,
                     split: str = "test", faces: int | None = None, lpips_trunk: str | None = None,
                     device: str = "auto", force: bool = False, log=print) -> dict:
    """`emosketch evaluate` for a generator or a baseline: the translator judged by `classifier` on
    the split, with LPIPS when its trunk is on this machine (L1 distances and a note when not)."""
    from ..datasets.dataset import load
    from .generator import evaluate_generator
    from .perceptual import (
        MISSING_PACKAGE,
        find_trunk,
        lpips_installed,
        lpips_model,
        missing_trunk_message,
    )

    ds = load(data)
    if len(ds.indices(split)) == 0:  # before the LPIPS note and any model is read
        others = [s for s in ("test", "val", "train") if s != split and len(ds.indices(s))]
        hint = f" (try --split {others[0]})" if others else ""
        raise EmosketchError(f"{data}: the {split} split is empty{hint}")
    side, drawn = int(ds.images.shape[1]), getattr(translator, "size", None)
    if drawn and drawn != side:  # it runs, but it is not the comparison a reader may think it is
        log(f"note: the generator draws at {drawn} px and {data} holds {side} px sketches: each is scaled to "
            f"{drawn} px for it and its drawing back to {side} px for the judge")
    flattered = judge_note(translator, classifier)
    if flattered:
        log(f"note: {flattered}")
    lpips, note = None, None
    if find_trunk(lpips_trunk) is None:
        note = "LPIPS skipped, distances are L1. " + missing_trunk_message()
    elif lpips_trunk is None and not lpips_installed():  # a trunk found in a cache, not asked for
        note = "LPIPS skipped, distances are L1. " + MISSING_PACKAGE
    else:
        lpips = lpips_model(lpips_trunk)
    if note:
        log(f"note: {note}")
    return evaluate_generator(translator, data, classifier, out, name, lpips=lpips, split=split, faces=faces,
                              device=device, force=force, lpips_note=note, judge_note=flattered)
