"""Shared fixtures: small real inputs built by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emosketch.datasets.synthetic import random_identity, render

FERPLUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ferplus"


@pytest.fixture(scope="session")
def face_transition() -> np.ndarray:
    """A line-art face going from neutral to happy: uint8 [12, 128, 128], 255 = paper."""
    identity = random_identity(seed=5)
    return np.stack([render(identity, "happy", k, 128) for k in np.linspace(0, 1, 12)])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(params=["ssd1306", "sh1106", "gfx", "xbm"])
def any_format(request) -> str:
    return request.param


def make_pack(face_transition: np.ndarray, pixel_format: str = "ssd1306", codec: str = "auto",
              size: tuple[int, int] = (128, 64), **kw):
    """Two sequences (a transition and its reverse) as a Pack."""
    from emosketch.export import ExportOptions, Layout, build_pack
    from emosketch.frames import Frames

    seqs = [("neutral to happy", "test", Frames(face_transition, 12.0)),
            ("happy-to-neutral", "test", Frames(face_transition[::-1].copy(), 8.0))]
    opts = ExportOptions(layout=Layout(*size), pixel_format=pixel_format, codec=codec, name="face pack", **kw)
    return build_pack(seqs, opts)
