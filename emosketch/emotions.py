"""The emotion vocabulary shared by datasets, checkpoints and packs, and its one alias table."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .errors import EmosketchError


class EmotionNameError(EmosketchError, ValueError):
    """An empty or repeated emotion name: one line on the command line, and still a ValueError."""

# AffectNet's order and codes 0-7; every other source is mapped onto these names.
EMOTIONS: tuple[str, ...] = (
    "neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt",
)

# Spellings used by FER2013, FER+, the Kaggle AffectNet folders and people typing on a command line.
ALIASES: dict[str, str] = {
    "angry": "anger",
    "mad": "anger",
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "fearful": "fear",
    "afraid": "fear",
    "disgusted": "disgust",
    "surprised": "surprise",
    "calm": "neutral",
}


def canonical(name: str) -> str:
    """Return the canonical spelling of an emotion name (case-insensitive, through ALIASES).

    Names outside the vocabulary (custom classes such as "frustration") come back lower-cased,
    so a dataset or a pack may carry its own classes.
    """
    key = name.strip().lower()
    if not key:
        raise EmotionNameError("an emotion name is empty")
    return ALIASES.get(key, key)


def canonical_list(names: Iterable[str]) -> list[str]:
    """Canonicalise a list of class names, refusing duplicates after aliasing (e.g. angry, anger)."""
    out: list[str] = []
    for raw in names:
        name = canonical(raw)
        if name in out:
            raise EmotionNameError(f"class {raw!r} appears twice (as {name!r})")
        out.append(name)
    return out


def pick_emotions(names: Iterable[str] | None, classes: list[str]) -> list[str]:
    """Emotion names in any spelling -> the model's classes they name, in the given order (all of the
    model's classes when `names` is empty), or one line naming what the model lacks or what repeats."""
    if not names:
        return list(classes)
    wanted = [canonical(e) for e in names]
    unknown = [e for e in wanted if e not in classes]
    if unknown:
        raise EmotionNameError(f"emotion(s) {', '.join(unknown)} not in the checkpoint's {', '.join(classes)}")
    if len(set(wanted)) != len(wanted):
        raise EmotionNameError("an emotion is listed twice")
    return wanted


def class_name_ok(name: str) -> bool:
    """A class a pack's state machine can show: its idle loop idle_<name> and transitions <a>_to_<b> are told
    apart by letters and digits alone ('a.b' or 'very_happy' would silently drop out), and 'seq' names a
    plain sequence."""
    return re.fullmatch(r"[a-z][a-z0-9]*", name) is not None and name != "seq"
