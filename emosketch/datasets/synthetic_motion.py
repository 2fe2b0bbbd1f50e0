"""Procedural animations of the synthetic faces, drawn exactly (no generator): an idle loop per
emotion with a blink and smoothstep transitions between emotions. They are the ground truth the
export and player benchmarks and tests run on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..easing import smoothstep
from ..frames import Frames
from .synthetic import expression, random_identity, render_expression

FPS = 12.0


EMOTIONS = ("neutral", "happy", "sad", "surprise", "anger")
BLINK = (1.0, 1.0, 1.0, 1.0, 0.6, 0.15, 0.6, 1.0)  # eyelid opening over an idle loop


def idle_frames(emotion: str, seed: int = 7, size: int = 256) -> np.ndarray:
    """An emotion's idle loop: the full expression with one blink, uint8 [8, size, size]."""
    identity = random_identity(seed=seed)
    base = expression(emotion)
    return np.stack([render_expression(identity, replace(base, eye_open=base.eye_open * k), size) for k in BLINK])


def transition_frames(a: str, b: str, seed: int = 7, size: int = 256, frames: int = 10) -> np.ndarray:
    """From emotion a to emotion b with smoothstep easing, uint8 [frames, size, size]."""
    identity = random_identity(seed=seed)
    return np.stack([render_expression(identity, expression({a: 1.0 - float(t), b: float(t)}), size)
                     for t in smoothstep(np.linspace(0.0, 1.0, frames))])


def state_machine_sequences(seed: int = 7, size: int = 256, emotions: tuple[str, ...] = EMOTIONS) -> Frames:
    """An idle loop per emotion and a transition for every ordered pair, marked with sequence names
    the device players understand (idle_<e>, <a>_to_<b>)."""
    parts, marks = [], []
    for e in emotions:
        seq = idle_frames(e, seed, size)
        parts.append(seq)
        marks += [{"sequence": f"idle_{e}", "emotion": e}] * len(seq)
    for a in emotions:
        for b in emotions:
            if a != b:
                seq = transition_frames(a, b, seed, size)
                parts.append(seq)
                marks += [{"sequence": f"{a}_to_{b}", "emotion": {a: 0.0, b: 1.0}}] * len(seq)
    return Frames(np.concatenate(parts), FPS, marks)
