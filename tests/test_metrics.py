"""Metrics against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from emosketch.evaluate.metrics import (
    classification_report,
    confusion_matrix,
    expected_calibration_error,
    l1,
    per_class_prf,
    perceptual_path_length,
    roc_auc,
    roc_auc_ovr,
    stroke_iou,
)


def test_known_confusion_matrix_and_scores():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    cm = confusion_matrix(y_true, y_pred, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    prf = per_class_prf(cm)
    assert prf["precision"].tolist() == pytest.approx([1.0, 0.5, 0.5])
    assert prf["recall"].tolist() == pytest.approx([2 / 3, 0.5, 1.0])
    assert prf["f1"].tolist() == pytest.approx([0.8, 0.5, 2 / 3])
    assert prf["support"].tolist() == [3, 2, 1]


def test_roc_auc_separable_random_and_ties():
    assert roc_auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.array([0.9, 0.8, 0.2, 0.1]), np.array([0, 0, 1, 1])) == 0.0
    assert roc_auc(np.array([0.5, 0.5]), np.array([0, 1])) == 0.5
    rng = np.random.default_rng(0)
    assert abs(roc_auc(rng.random(20000), rng.random(20000) < 0.3) - 0.5) < 0.02
    assert np.isnan(roc_auc(np.array([0.1, 0.2]), np.array([1, 1])))


def test_roc_auc_matches_pair_counting():
    rng = np.random.default_rng(1)
    scores, pos = rng.integers(0, 5, 60).astype(float), rng.random(60) < 0.4
    p, n = scores[pos], scores[~pos]
    pairs = (p[:, None] > n[None, :]).mean() + 0.5 * (p[:, None] == n[None, :]).mean()
    assert roc_auc(scores, pos) == pytest.approx(pairs)


def test_ece():
    probs = np.array([[0.9, 0.1]] * 10)
    assert expected_calibration_error(probs, np.array([0] * 9 + [1])) == pytest.approx(0.0)
    assert expected_calibration_error(probs, np.array([1] * 10)) == pytest.approx(0.9)


def test_classification_report_schema():
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.1, 0.9]])
    rep = classification_report(probs, np.array([0, 1, 1, 1]), ["happy", "sad"])
    assert rep["accuracy"] == 0.75 and rep["n"] == 4
    assert rep["per_class"]["sad"]["roc_auc"] == pytest.approx(1.0)
    assert rep["confusion_matrix"] == [[1, 0], [1, 2]]
    assert roc_auc_ovr(probs, np.array([0, 1, 1, 1])).tolist() == pytest.approx([1.0, 1.0])


def test_image_metrics_and_ppl():
    a = np.full((2, 4, 4), 255, np.uint8)
    b = a.copy()
    b[0, :2] = 0
    assert l1(a, b).tolist() == pytest.approx([0.5, 0.0])
    c = b.copy()
    c[0, 0] = 255
    assert stroke_iou(b, c).tolist() == pytest.approx([0.5, 1.0])  # 4 of 8 ink pixels shared; both blank
    d = np.r_[np.full(98, 1e-8), 1.0, 0.0]  # one huge outlier and one zero are dropped
    out = perceptual_path_length(d, eps=1e-4)
    assert out["ppl"] == pytest.approx(1.0) and out["kept"] == 98
