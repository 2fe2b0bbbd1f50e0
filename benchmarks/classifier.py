"""Classifier benchmark: how much emotion survives sketching, measured with the emosketch classifier.

    python benchmarks/classifier.py --out bench-out        # prints tables, writes bench-out/classifier.json

1. Real faces: prepare the FER+ train and valid splits (../shared/data/ferplus) at 64 px, train the
   classifier on the sketches and, side by side, on the face crops they were drawn from; report
   accuracy, macro-F1, ECE and per-class ROC AUC on FER+ valid, and the CPU time to train.
   Skipped (with a note) when the data is absent.
2. Synthetic faces: the same classifier on procedural sketches, tested on held-out identities.
3. Generator baselines on the synthetic test faces, judged by that classifier: the untouched
   input (what doing nothing scores) and the ground-truth render (what a perfect generator scores).
   A trained generator's figures belong between the two.

--reuse loads checkpoints a previous run left in OUT/classifier instead of training again.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import FERPLUS, guarded, table, whole  # noqa: E402

from emosketch.datasets.dataset import load  # noqa: E402
from emosketch.datasets.prepare import PrepareConfig, prepare  # noqa: E402
from emosketch.evaluate.classifier import ClassifierConfig, train_classifier  # noqa: E402
from emosketch.evaluate.generator import InputTranslator, OracleTranslator, evaluate_generator  # noqa: E402
from emosketch.evaluate.report import evaluate_classifier  # noqa: E402


def run(name: str, data: Path, split: str, cfg: ClassifierConfig, work: Path, reuse: bool) -> dict:
    ckpt = work / f"{name}.pt"
    if reuse and ckpt.exists():
        history = torch.load(ckpt, map_location="cpu", weights_only=True)["history"]
        summary, seconds = {"epochs": history[-1]["epoch"]}, history[-1]["seconds"]
        print(f"    reusing {ckpt} (trained in {seconds:.0f} s)")
    else:
        ckpt.unlink(missing_ok=True)
        start = time.perf_counter()
        summary = train_classifier(data, ckpt, cfg, device="cpu", progress=False, log=lambda m: print("   ", m))
        seconds = time.perf_counter() - start
    rep = evaluate_classifier(ckpt, data, work / f"report-{name}", split, device="cpu", force=True)
    row = {"classifier": name, "input": cfg.input, "test_split": split, "n_test": rep["n"],
           "accuracy": rep["accuracy"], "macro_f1": rep["macro_f1"], "balanced_accuracy": rep["balanced_accuracy"],
           "ece": rep["ece"], "epochs": summary["epochs"], "train_seconds": seconds,
           "auc": {c: v["roc_auc"] for c, v in rep["per_class"].items()}}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench-out", help="folder for classifier.json, datasets and reports")
    ap.add_argument("--epochs", type=whole(1, 1000), default=12)
    ap.add_argument("--samples-per-epoch", type=whole(1, 10_000_000), default=8000)
    ap.add_argument("--reuse", action="store_true", help="reuse trained checkpoints from a previous run")
    args = ap.parse_args()
    out = Path(args.out)
    work = out / "classifier"
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(os.cpu_count() or 1)
    cfg = dict(image_size=64, width=16, epochs=args.epochs, samples_per_epoch=args.samples_per_epoch, patience=4)
    rows = []

    if (FERPLUS / "FER2013Train").is_dir():
        data = work / "ferplus-64"
        if not (data / "meta.json").exists():
            print("preparing FER+ at 64 px ...")
            shutil.rmtree(data, ignore_errors=True)
            prepare(f"ferplus:{FERPLUS}", data, PrepareConfig(size=64), workers=2, progress=False, log=print)
        for name, kind in (("ferplus-sketch", "sketch"), ("ferplus-face", "face")):
            print(f"training {name} ...")
            rows.append(run(name, data, "val", ClassifierConfig(input=kind, **cfg), work, args.reuse))
    else:
        print(f"(real FER+ faces not found at {FERPLUS}: skipping part 1)")

    syn = work / "synthetic-64"
    if not (syn / "meta.json").exists():
        prepare("synthetic", syn, PrepareConfig(size=64, count=4000), progress=False, log=print)
    print("training synthetic-sketch ...")
    rows.append(run("synthetic-sketch", syn, "test", ClassifierConfig(input="sketch", **{**cfg, "epochs": 8}), work,
                    args.reuse))

    print(f"\nEmotion classifier, {cfg['image_size']} px input, width {cfg['width']}, CPU ({os.cpu_count()} cores)")
    print(table(rows, ["classifier", "test_split", "n_test", "accuracy", "macro_f1", "balanced_accuracy", "ece",
                       "epochs", "train_seconds"]))
    classes = list(rows[0]["auc"])
    auc_rows = [{"classifier": r["classifier"], **{c: r["auc"].get(c) if r["auc"].get(c) is not None else "n/a"
                                                     for c in classes}} for r in rows]
    print("\nPer-class one-vs-rest ROC AUC")
    print(table(auc_rows, ["classifier"] + classes))
    baselines = []
    syn_ds = load(syn)
    for name, translator in (("input untouched", InputTranslator(syn_ds.classes)),
                             ("ground truth", OracleTranslator(syn_ds))):
        r = evaluate_generator(translator, syn, work / "synthetic-sketch.pt", work / f"baseline-{name.split()[0]}",
                               name, faces=64, device="cpu", force=True)
        baselines.append({"generator": name, "target_accuracy": r["target_accuracy"], "cycle_l1": r["cycle_l1"],
                          "diversity_l1": r["diversity"], "ppl_l1": r["ppl"]["ppl"],
                          "gt_l1": r["ground_truth"]["l1"], "gt_stroke_iou": r["ground_truth"]["stroke_iou"]})
    print("\nGenerator baselines on 64 synthetic test faces x 7 other emotions (distances L1 on [0, 1])")
    print(table(baselines, ["generator", "target_accuracy", "cycle_l1", "diversity_l1", "ppl_l1", "gt_l1",
                            "gt_stroke_iou"]))
    (out / "classifier.json").write_text(json.dumps({"rows": rows, "baselines": baselines, "config": cfg,
                                                     "cores": os.cpu_count()}, indent=1))
    print(f"\nwrote {out / 'classifier.json'}; reports and confusion matrices in {work}/report-*")


if __name__ == "__main__":
    guarded(main)
