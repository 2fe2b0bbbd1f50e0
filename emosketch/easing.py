"""Easing curves: maps of t in [0, 1] onto [0, 1] that start at 0, end at 1 and never go back."""

from __future__ import annotations

import numpy as np

from .errors import EmosketchError


def linear(t: np.ndarray) -> np.ndarray:
    return t


def cosine(t: np.ndarray) -> np.ndarray:
    return (1.0 - np.cos(np.pi * t)) / 2.0


def smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def sigmoid(t: np.ndarray, steepness: float = 5.0) -> np.ndarray:
    """StarGAN v2's schedule, sigmoid over [-5, 5], rescaled so the ends are exactly 0 and 1
    (the raw curve starts at 0.0067 and stops at 0.9933, a visible jump in a loop)."""
    lo, hi = 1.0 / (1.0 + np.exp(steepness)), 1.0 / (1.0 + np.exp(-steepness))
    return (1.0 / (1.0 + np.exp(-steepness * (2.0 * t - 1.0))) - lo) / (hi - lo)


EASINGS = {"linear": linear, "cosine": cosine, "smoothstep": smoothstep, "sigmoid": sigmoid}


def ease(name: str, t) -> np.ndarray:
    """Apply the easing `name` to t (clipped to [0, 1])."""
    try:
        fn = EASINGS[name]
    except KeyError:
        raise EmosketchError(f"easing {name!r}: expected one of {', '.join(EASINGS)}") from None
    return fn(np.clip(np.asarray(t, dtype=np.float64), 0.0, 1.0))


def steps(n: int, name: str = "linear") -> np.ndarray:
    """n eased positions from 0 to 1, both ends included (n = 1 gives just the end)."""
    if n < 1:
        raise EmosketchError(f"a transition needs at least 1 frame, got {n}")
    return ease(name, np.linspace(0.0, 1.0, n) if n > 1 else np.ones(1))
