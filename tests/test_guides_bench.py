"""benchmarks/guides.py: each reader's accuracy on a target, and what it reads most often instead."""

from __future__ import annotations

import numpy as np
import pytest
import torch


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


def test_drawings_are_inked_one_per_face_and_follow_the_seeds(bench):
    from emosketch.datasets.synthetic import random_identity, render
    from emosketch.gan.sample import GanTranslator
    from emosketch.models import default_generator

    tr = GanTranslator(default_generator(), "cpu")
    faces = np.stack([render(random_identity(seed=s), "neutral", size=tr.size) for s in (3, 4)])
    made = bench.drawings(tr, faces, "surprise", np.array([1, 2]))
    assert made.shape == (2, tr.size, tr.size) and made.dtype == np.uint8
    assert set(np.unique(made)) <= {0, 255}
    again = bench.drawings(tr, faces, "surprise", np.array([1, 2]))
    assert np.array_equal(made, again) and not np.array_equal(made, bench.drawings(tr, faces, "happy", np.array([1, 2])))


def test_psi_truncates_each_code_toward_its_emotions_mean_style():
    """GanTranslator(psi=...): psi 1 is the mapping's own code, 0 the emotion's mean style (StyleBank's), and
    between them the straight line; benchmarks/guides.py --psi passes it on."""
    from emosketch.gan.networks import z_codes
    from emosketch.gan.sample import GanTranslator
    from emosketch.interpolate.paths import StyleBank
    from emosketch.models import default_generator

    targets, seeds = torch.tensor([0, 3, 3]), np.array([1, 2, 7])
    plain = GanTranslator(default_generator(), "cpu")
    own = plain.nets.mapping(z_codes(seeds, plain.g.latent_dim), targets)
    assert torch.equal(plain.codes(targets, seeds), own)
    means = StyleBank(plain.nets.mapping, plain.classes).means[targets]
    assert torch.allclose(GanTranslator(default_generator(), "cpu", psi=0.0).codes(targets, seeds), means)
    half_tr = GanTranslator(default_generator(), "cpu", psi=0.5, ink=False)
    half = half_tr.codes(targets, seeds)
    assert torch.allclose(half, (own + means) / 2, atol=1e-6)
    faces = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)  # a path's ends are truncated
    drawn = half_tr.translate(faces, targets, seeds)  # the same way, gray (not inked) so that small codes show
    assert np.abs(half_tr.along_path(faces, [1, 1, 1], targets, [1.0, 1.0, 1.0], seeds) - drawn).max() < 1e-5
    untruncated = GanTranslator(default_generator(), "cpu", ink=False).translate(faces, targets, seeds)
    assert np.abs(untruncated - drawn).max() > 1e-4  # psi shows at this scale


def test_paint_mask_reports_how_far_a_warp_generators_mask_opens(bench, tmp_path):
    """--mask: the shipped generator's mask as it is, and the same weights with the mask's logits raised by 5 open
    it further; the figures are shares in [0, 1]. Neutral's mask (shut in the shipped model; surprise's may be
    open) is the one raised."""
    from emosketch.datasets.synthetic import random_identity, render
    from emosketch.gan.checkpoint import load_checkpoint, save_checkpoint
    from emosketch.gan.sample import GanTranslator
    from emosketch.models import default_generator

    tr = GanTranslator(default_generator(), "cpu")
    faces = np.stack([render(random_identity(seed=s), "neutral", size=tr.size) for s in (3, 4)])
    shut = bench.paint_mask(tr, faces, "neutral", np.array([1, 2]))
    assert set(shut) == {"mask mean", "mask max", "above 0.1", "above 0.5"}
    assert all(0 <= v <= 1 for v in shut.values()) and shut["mask mean"] <= shut["mask max"]
    state = load_checkpoint(default_generator())
    ema = state["ema"]  # flat: "generator.warp.paint.N.bias", ...
    last = max((k for k in ema if k.startswith("generator.warp.paint.") and k.endswith(".bias")),
               key=lambda k: int(k.split(".")[3]))
    ema[last][0] += 5.0  # the mask's logit (the ink's is [1])
    save_checkpoint(tmp_path / "open.pt", state)
    opened = bench.paint_mask(GanTranslator(tmp_path / "open.pt", "cpu"), faces, "neutral", np.array([1, 2]))
    assert opened["mask mean"] > 20 * shut["mask mean"]


def test_parts_keep_one_part_of_the_face_and_turn_the_rest_to_paper(bench):
    images = np.random.default_rng(0).integers(0, 255, (3, 20, 20)).astype(np.uint8)
    before = images.copy()
    assert np.array_equal(bench.part(images, "whole", 0.5), images)
    upper, lower = bench.part(images, "upper face alone", 0.5), bench.part(images, "lower face alone", 0.5)
    assert np.array_equal(upper[:, :10], images[:, :10]) and (upper[:, 10:] == 255).all()
    assert np.array_equal(lower[:, 10:], images[:, 10:]) and (lower[:, :10] == 255).all()
    assert (bench.part(images, "upper face alone", 0.3)[:, 6:] == 255).all()
    assert np.array_equal(images, before)  # the input is left as it was
    with pytest.raises(ValueError, match="part 'eyes'"):
        bench.part(images, "eyes", 0.5)


def test_every_generator_gets_the_same_faces_of_another_emotion_and_codes(bench):
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    rows = np.arange(1, 10)  # row 0 is not among the faces to draw from
    draws = bench.pick_faces(labels, rows, ["a", "b", "c"], ["a", "c"], 4, np.random.default_rng(5))
    assert set(draws) == {"a", "c"}
    for emotion, (picks, seeds) in draws.items():
        assert len(picks) == len(seeds) == 4 and list(picks) == sorted(set(picks))
        assert set(picks) <= set(rows) and not (labels[picks] == ["a", "b", "c"].index(emotion)).any()
    again = bench.pick_faces(labels, rows, ["a", "b", "c"], ["a", "c"], 4, np.random.default_rng(5))
    assert all(np.array_equal(draws[e][i], again[e][i]) for e in draws for i in (0, 1))
    assert len(bench.pick_faces(labels, rows, ["a", "b", "c"], ["b"], 50, np.random.default_rng(0))["b"][0]) == 6


def test_by_source_splits_each_readers_accuracy_by_the_source_emotion(bench):
    images = np.concatenate([np.full((2, 16, 16), 0, np.uint8), np.full((3, 16, 16), 255, np.uint8)])
    sources = np.array([1, 1, 0, 0, 1])  # the first two (read as c) and the last (read as a) started from b
    rows = bench.by_source({"r": (Fixed(), 16)}, images, sources, ["a", "b", "c"], "c")
    assert rows == [{"reader": "r", "target": "c", "source": "a", "faces": 2, "accuracy": 0.0},
                    {"reader": "r", "target": "c", "source": "b", "faces": 3, "accuracy": pytest.approx(2 / 3)}]
