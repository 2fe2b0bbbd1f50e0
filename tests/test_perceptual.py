"""LPIPS runs with a random trunk (tests) or a local AlexNet file, and never downloads."""

from __future__ import annotations

import pytest
import torch

from emosketch.errors import EmosketchError
from emosketch.evaluate.perceptual import TRUNK_FILE, lpips_distance, lpips_model


def test_random_trunk_distance():
    model = lpips_model(random_trunk=True)
    a = torch.rand(2, 1, 64, 64) * 2 - 1
    b = a.clone()
    b[1] = -b[1]
    d = lpips_distance(model, a, b)
    assert d.shape == (2,) and d[0].abs() < 1e-6 and d[1] > 0


def test_missing_trunk_says_what_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("EMOSKETCH_LPIPS_TRUNK", raising=False)
    with pytest.raises(EmosketchError, match=TRUNK_FILE):
        lpips_model()
    with pytest.raises(EmosketchError, match="no such LPIPS trunk"):
        lpips_model(trunk=tmp_path / "x.pth")


def test_local_trunk_file_is_loaded(tmp_path, monkeypatch):
    from torchvision.models import alexnet

    weights = alexnet(weights=None).state_dict()  # same layout as the ImageNet file, random values
    torch.save(weights, tmp_path / TRUNK_FILE)
    monkeypatch.setenv("EMOSKETCH_LPIPS_TRUNK", str(tmp_path / TRUNK_FILE))
    model = lpips_model()
    assert torch.equal(model.net.slice1[0].weight, weights["features.0.weight"])
    assert torch.equal(getattr(model.net.slice5, "10").weight, weights["features.10.weight"])
