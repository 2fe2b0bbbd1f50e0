"""Synthetic line-drawn faces: deterministic, continuous in intensity, and the 8 emotions tell apart."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emosketch.datasets.synthetic import EXPRESSIONS, expression, random_identity, render
from emosketch.emotions import EMOTIONS


def test_render_is_line_art_on_paper():
    img = render(random_identity(seed=1), "happy", 1.0, 128)
    assert img.shape == (128, 128) and img.dtype == np.uint8
    assert img[0, 0] == 255 and np.median(img) == 255 and img.min() < 64


def test_every_emotion_has_an_expression():
    assert set(EXPRESSIONS) == set(EMOTIONS)


def test_deterministic_and_identity_matters():
    a = render(random_identity(seed=4), "sad", 0.7, 96)
    assert np.array_equal(a, render(random_identity(seed=4), "sad", 0.7, 96))
    assert not np.array_equal(a, render(random_identity(seed=5), "sad", 0.7, 96))


def test_intensity_zero_is_neutral_and_change_is_gradual():
    identity = random_identity(seed=2)
    neutral = render(identity, "neutral", 1.0, 64)
    assert np.array_equal(render(identity, "anger", 0.0, 64), neutral)
    steps = [render(identity, "surprise", k, 64).astype(int) for k in np.linspace(0, 1, 11)]
    jumps = [np.abs(b - a).mean() for a, b in zip(steps, steps[1:])]
    assert max(jumps) < 4 * np.median(jumps) + 1  # no sudden pops along the way


def test_blends_and_aliases():
    e = expression({"happy": 0.5, "sad": 0.5})
    assert e.mouth_curve == pytest.approx(0.5 * 1.0 + 0.5 * -0.9)
    assert expression("angry") == expression("anger")
    with pytest.raises(ValueError, match="unknown emotion"):
        expression("boredom")


def test_emotions_are_told_apart_across_identities():
    """Leave-one-identity-out nearest centroid on blurred pixels: far above chance (12.5%)."""
    ids = [random_identity(seed=s) for s in range(16)]
    x = np.array([[cv2.GaussianBlur(render(i, e, 1.0, 64).astype(np.float32), (0, 0), 2).ravel()
                   for e in EMOTIONS] for i in ids])
    correct = 0
    for k in range(len(ids)):
        centroids = np.delete(x, k, 0).mean(0)
        for e in range(len(EMOTIONS)):
            correct += int(((centroids - x[k, e]) ** 2).sum(1).argmin() == e)
    assert correct / (len(ids) * len(EMOTIONS)) > 0.7
