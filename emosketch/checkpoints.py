"""Checkpoints are data: one .pt file of tensors and plain values, written atomically, stamped with
a format name and version, and read back with torch.load(weights_only=True)."""

from __future__ import annotations

from pathlib import Path

import torch

from .atomic import atomic_file
from .errors import EmosketchError


def save_checkpoint(path: str | Path, state: dict, format_name: str, version: int) -> None:
    with atomic_file(path) as tmp:
        torch.save({**state, "format": format_name, "version": version}, tmp)


def load_checkpoint(path: str | Path, format_name: str, version: int, noun: str = "checkpoint") -> dict:
    """The checkpoint's dict, or EmosketchError naming what is wrong (missing, unreadable, another
    format, another version); `noun` names what was expected, e.g. "classifier checkpoint"."""
    path = Path(path)
    if not path.exists():
        raise EmosketchError(f"{path}: no such {noun}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EmosketchError(f"{path}: not a readable checkpoint ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or state.get("format") != format_name:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise EmosketchError(f"{path}: not an {format_name} checkpoint (it is {got})")
    if state.get("version") != version:
        raise EmosketchError(f"{path}: {format_name} version {state.get('version')} is not supported "
                             f"(this emosketch reads version {version})")
    return state
