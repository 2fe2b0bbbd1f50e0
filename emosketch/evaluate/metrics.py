"""Classification and image metrics on NumPy arrays: confusion matrix, precision/recall/F1, one-vs-rest
ROC AUC, expected calibration error; L1, stroke IoU and perceptual path length for generated sketches."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """[true class, predicted class] counts."""
    m = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(m, (np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)), 1)
    return m


def per_class_prf(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class (0 where undefined)."""
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)
    actual = confusion.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual.astype(np.int64)}


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a random positive outscores a random negative
    (ties count one half), by the rank-sum formula. NaN when a class is absent."""
    scores = np.asarray(scores, np.float64)
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    # Average ranks over ties.
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc_ovr(probs: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """One-vs-rest ROC AUC per class from [N, C] scores."""
    return np.array([roc_auc(probs[:, c], y_true == c) for c in range(probs.shape[1])])


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """ECE: the confidence-weighted gap between confidence and accuracy over equal-width bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def classification_report(probs: np.ndarray, y_true: np.ndarray, classes: list[str]) -> dict:
    """Everything the reports show for a classifier's [N, C] probabilities against true labels."""
    y_true = np.asarray(y_true, np.int64)
    pred = probs.argmax(axis=1)
    cm = confusion_matrix(y_true, pred, len(classes))
    prf = per_class_prf(cm)
    auc = roc_auc_ovr(probs, y_true)
    present = prf["support"] > 0
    return {
        "n": int(len(y_true)),
        "accuracy": float((pred == y_true).mean()) if len(y_true) else float("nan"),
        "macro_f1": float(prf["f1"][present].mean()) if present.any() else float("nan"),
        "balanced_accuracy": float(prf["recall"][present].mean()) if present.any() else float("nan"),
        "ece": expected_calibration_error(probs, y_true) if len(y_true) else float("nan"),
        "classes": list(classes),
        "per_class": {
            name: {"precision": float(prf["precision"][i]), "recall": float(prf["recall"][i]),
                   "f1": float(prf["f1"][i]), "support": int(prf["support"][i]),
                   "roc_auc": None if np.isnan(auc[i]) else float(auc[i])}
            for i, name in enumerate(classes)
        },
        "confusion_matrix": cm.tolist(),
    }


# ---- sketches ------------------------------------------------------------------------------------

def l1(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute difference per image on [0, 1] (inputs uint8 0..255 or float in [0, 1])."""
    a, b = _unit(a), _unit(b)
    return np.abs(a - b).reshape(len(a), -1).mean(axis=1)


def stroke_iou(a: np.ndarray, b: np.ndarray, ink_below: float = 0.5) -> np.ndarray:
    """Intersection over union of the ink (dark) pixels of two batches of sketches; 1 where both are blank."""
    ia, ib = _unit(a) < ink_below, _unit(b) < ink_below
    inter = (ia & ib).reshape(len(ia), -1).sum(axis=1)
    union = (ia | ib).reshape(len(ia), -1).sum(axis=1)
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def perceptual_path_length(distances: np.ndarray, eps: float = 1e-4) -> dict:
    """PPL (StyleGAN): mean of d(G(s_t), G(s_{t+eps})) / eps^2 over samples, keeping only the values
    between the 1st and 99th percentiles, as the original does."""
    values = np.asarray(distances, np.float64) / (eps * eps)
    if len(values) == 0:
        return {"ppl": float("nan"), "n": 0}
    lo, hi = np.percentile(values, [1, 99])
    kept = values[(values >= lo) & (values <= hi)]
    return {"ppl": float(kept.mean()), "n": int(len(values)), "kept": int(len(kept))}


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    return x.astype(np.float64) / 255.0 if x.dtype == np.uint8 else x.astype(np.float64)
