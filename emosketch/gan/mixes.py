"""Emotion mixes: a shipped generator may draw one of its emotions as a blend of its style codes.

Made to test whether a model's fear, which blind raters read as sad, reads as afraid with some of
surprise's wide eyes and raised brows mixed in (benchmarks/looks.py round 5: it did not). A mix, e.g.
{"fear": {"fear": 0.7, "surprise": 0.3}}, is kept in the slim file (`emosketch slim --mix`) and applied
inside the mapping network (MappingNetwork.mix), so every path that asks for that emotion (sample,
pack, agent, the mirror, the judges) draws the same blend: s_fear(z) = 0.7 s_fear(z) + 0.3 s_surprise(z).
A weight may be negative, a step away from that style, as long as the weights sum to more than 0 and
none is over MAX_STEP times their sum: fear:1, happy:0.4, neutral:-0.4 is the style timelines reach with
the pose {fear: 1, happy: 0.4} (neutral + each weight times the style's step from neutral), fear's wide
eyes with its mouth stretched open by happy's pull. Training ignores it: it reads the file's weights."""

from __future__ import annotations

import math

import torch

from ..emotions import canonical
from ..errors import EmosketchError, shown


def parse_mix(text: str) -> tuple[str, dict[str, float]]:
    """'fear=fear:0.7,surprise:0.3' -> ('fear', {'fear': 0.7, 'surprise': 0.3}), the weights summing to 1
    (any may be negative if their sum is above 0)."""
    name, sep, parts = text.partition("=")
    if not sep or not name.strip() or not parts.strip():
        raise EmosketchError(f"mix {shown(text)}: expected EMOTION=EMOTION:WEIGHT[,EMOTION:WEIGHT], "
                             "e.g. fear=fear:0.7,surprise:0.3")
    weights: dict[str, float] = {}
    for part in parts.split(","):
        emo, colon, value = part.partition(":")
        try:
            w = float(value)
        except ValueError:
            w = float("nan")
        if not colon or not emo.strip() or not math.isfinite(w) or abs(w) > 1e6:
            raise EmosketchError(f"mix {shown(text)}: {shown(part, 30)} is not EMOTION:WEIGHT with a number "
                                 "(of at most a million either way)")
        key = canonical(emo.strip())
        weights[key] = weights.get(key, 0.0) + w
    return canonical(name.strip()), normalised(weights, text)


MAX_STEP = 4.0  # the largest weight a mix may give a style once normalised: negative weights that nearly
# cancel the others (fear:1,neutral:-0.99) would otherwise scale the codes a hundredfold


def normalised(weights: dict[str, float], where: str) -> dict[str, float]:
    total = sum(weights.values())
    if not total > 0:
        raise EmosketchError(f"mix {shown(where)}: its weights sum to {total:g}; give at least one above 0")
    out = {k: v / total for k, v in weights.items()}
    if max(abs(v) for v in out.values()) > MAX_STEP:
        raise EmosketchError(f"mix {shown(where)}: a weight is over {MAX_STEP:g} times their sum; "
                             "the negative ones cancel too much of the rest")
    return out


def mix_matrix(mixes: dict, classes: list[str], where: str = "mix") -> torch.Tensor:
    """A [C, C] matrix: row c gives the codes emotion c is drawn with (the identity but for mixed rows).
    Raises a one-line error for a mix that is not a {emotion: {emotion: weight}} of the model's emotions."""
    if not isinstance(mixes, dict):
        raise EmosketchError(f"{where}: mixes must map an emotion to {{emotion: weight}}")
    m = torch.eye(len(classes))
    for name, weights in mixes.items():
        if not isinstance(name, str) or not isinstance(weights, dict) or not weights:
            raise EmosketchError(f"{where}: mixes must map an emotion to {{emotion: weight}}")
        missing = [e for e in (name, *weights) if not isinstance(e, str) or e not in classes]
        if missing:
            raise EmosketchError(f"{where}: {shown(str(missing[0]), 40)} is not one of the model's emotions "
                                 f"({', '.join(classes)})")
        if not all(isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w)
                   for w in weights.values()):
            raise EmosketchError(f"{where}: {name}'s weights must be numbers")
        row = torch.zeros(len(classes))
        for emo, w in normalised({k: float(v) for k, v in weights.items()}, name).items():
            row[classes.index(emo)] = w
        m[classes.index(name)] = row
    return m


def describe(mixes: dict) -> str:
    """'fear = 0.7 fear + 0.3 surprise; ...' (a negative weight as '- 0.4 neutral')"""
    def terms(weights):
        text = " ".join(f"{'-' if w < 0 else '+'} {abs(w):.2g} {e}" for e, w in weights.items())
        return text[2:] if text.startswith("+") else "-" + text[2:]

    return "; ".join(f"{name} = {terms(weights)}" for name, weights in mixes.items())
