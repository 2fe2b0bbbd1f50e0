"""Generator checkpoints: one .pt file of tensors and plain values (torch.load(weights_only=True)),
written atomically, with its format name and version checked on load."""

from __future__ import annotations

from pathlib import Path

import torch

from ..atomic import atomic_file
from ..errors import EmosketchError

FORMAT_NAME = "emosketch-generator"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict) -> None:
    with atomic_file(path) as tmp:
        torch.save({"format": FORMAT_NAME, "version": FORMAT_VERSION, **state}, tmp)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists():
        raise EmosketchError(f"{path}: no such checkpoint")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EmosketchError(f"{path}: not a readable checkpoint ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_NAME:
        got = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise EmosketchError(f"{path}: not an {FORMAT_NAME} checkpoint (it is {got})")
    if state.get("version") != FORMAT_VERSION:
        raise EmosketchError(f"{path}: {FORMAT_NAME} version {state.get('version')} is not supported "
                             f"(this emosketch reads version {FORMAT_VERSION})")
    return state
