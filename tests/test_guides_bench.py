"""benchmarks/guides.py: each reader's accuracy on a target, and what it reads most often instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    from conftest import benchmark_module

    yield from benchmark_module("guides.py", "guides_bench")


class Fixed(torch.nn.Module):
    """Reads every image as the class its mean ink level falls in: dark -> 2, mid -> 1, light -> 0."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Sequential(torch.nn.Linear(1, 3))

    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([(m > 0.3).float(), ((m > -0.3) & (m <= 0.3)).float(), (m <= -0.3).float()], 1) * 10


def test_readings_count_the_target_and_the_most_frequent_other(bench):
    images = np.concatenate([np.full((3, 16, 16), 255, np.uint8), np.full((5, 16, 16), 128, np.uint8),
                             np.full((2, 16, 16), 0, np.uint8)])
    rows = bench.readings({"r": (Fixed(), 16)}, images, ["a", "b", "c"], "c")
    assert rows == [{"reader": "r", "target": "c", "accuracy": 0.2, "most often instead": "b (5)"}]
    rows = bench.readings({"r": (Fixed(), 16)}, images, ["a", "b", "c"], "b")
    assert rows[0]["accuracy"] == 0.5 and rows[0]["most often instead"] == "a (3)"


def test_drawings_are_inked_and_one_per_face(bench):
    from emosketch.interpolate.animate import open_renderer
    from emosketch.models import default_generator

    r = open_renderer(default_generator(), "cpu")
    faces = np.stack([np.full((r.size, r.size), 255, np.uint8)] * 2)
    faces[:, r.size // 3:r.size // 3 + 4, r.size // 4:3 * r.size // 4] = 0
    made = bench.drawings(r, faces, "surprise")
    assert made.shape == (2, r.size, r.size) and made.dtype == np.uint8
    assert set(np.unique(made)) <= {0, 255}
