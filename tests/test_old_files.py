"""Checkpoints and packs written by older emosketch (tests/fixtures, see its README) still load and
give exactly what they gave then."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["old-generator-full.pt", "old-generator-slim.pt"])
def test_an_old_generator_loads_with_weights_only_and_draws_what_it_drew(name):
    from emosketch.gan.sample import load_generator

    nets, state = load_generator(FIXTURES / name)
    assert state["classes"] == ["neutral", "happy", "sad"] and state["step"] == 2
    expected = np.load(FIXTURES / "old-generator-expected.npz")
    with torch.no_grad():
        s = nets.mapping(torch.from_numpy(expected["z"]), torch.tensor([0, 1, 2]))
        y = nets.generator(torch.from_numpy(expected["x"]).expand(3, -1, -1, -1), s)
    assert np.allclose(s.numpy(), expected["s"], atol=1e-6)
    assert np.allclose(y.numpy(), expected["y"], atol=1e-5)


def test_an_old_training_checkpoint_resumes(tmp_path):
    from emosketch.config import from_dict
    from emosketch.datasets.prepare import PrepareConfig, prepare
    from emosketch.gan.train import TrainConfig, train

    data = tmp_path / "syn"
    prepare("synthetic", data, PrepareConfig(size=32, count=60, seed=3, classes=["neutral", "happy", "sad"]),
            progress=False, log=lambda m: None)
    run = tmp_path / "run"
    run.mkdir()
    # the old run with a longer schedule: its networks, EMA, optimisers and random states load into
    # today's trainer, which takes one more step
    state = torch.load(FIXTURES / "old-generator-full.pt", map_location="cpu", weights_only=True)
    state["config"]["steps"] = 3
    torch.save(state, run / "checkpoint.pt")
    cfg = from_dict(TrainConfig, state["config"])
    result = train(cfg, data, run, resume=True, device="cpu", progress=False, log=lambda m: None)
    assert result["step"] == 3


def test_an_old_pack_decodes_to_its_bits():
    from emosketch.export import manifest

    bits, m = manifest.read(FIXTURES / "old-pack")
    expected = np.unpackbits(np.load(FIXTURES / "old-pack" / "bits.npy"))[:bits.size].reshape(bits.shape).astype(bool)
    assert np.array_equal(bits, expected)
    assert [s["name"] for s in m["sequences"]] == ["neutral_to_happy", "happy-to-neutral"]
    assert json.loads((FIXTURES / "old-pack" / "manifest.json").read_text())["version"] == 1
