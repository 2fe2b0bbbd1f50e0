"""Generator checkpoints (see emosketch.checkpoints): format name and version of a training run."""

from __future__ import annotations

from pathlib import Path

from .. import checkpoints

FORMAT_NAME = "emosketch-generator"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict) -> None:
    checkpoints.save_checkpoint(path, state, FORMAT_NAME, FORMAT_VERSION)


def load_checkpoint(path: str | Path) -> dict:
    return checkpoints.load_checkpoint(path, FORMAT_NAME, FORMAT_VERSION)
