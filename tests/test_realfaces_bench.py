"""benchmarks/realfaces.py's judges: trained on real FER+ sketches only, never on anything a
generator drew, and never the guide classifier a generator was trained against."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    from conftest import benchmark_module

    yield from benchmark_module("realfaces.py", "realfaces_bench")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    from datasets_fixtures import make_ferplus

    from emosketch.datasets.prepare import PrepareConfig, prepare

    root = tmp_path_factory.mktemp("fer")
    make_ferplus(root / "ferplus")
    prepare(f"ferplus:{root / 'ferplus'}", root / "sketches", PrepareConfig(size=32), progress=False,
            log=lambda m: None)
    return root / "sketches"


TINY = dict(image_size=32, width=4, epochs=1, samples_per_epoch=8, batch_size=4, patience=1)


def test_judges_train_on_the_real_sketches_and_nothing_else(bench, real, synthetic, tmp_path):
    from emosketch.evaluate.classifier import ClassifierConfig

    ckpt = bench.train_judge("A", real, tmp_path, reuse=False, cfg=ClassifierConfig(**TINY))
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["dataset"]["source"]["kind"] == "ferplus" and Path(state["dataset"]["path"]) == real
    with pytest.raises(SystemExit, match="real FER\\+ sketches only, not on synthetic"):
        bench.train_judge("B", synthetic, tmp_path, reuse=False, cfg=ClassifierConfig(**TINY))
    # a judge is reused on its dataset wherever it lies (its checkpoint names the folder as it was given, relative
    # to where it was trained: --reuse had worked only from the repository's root), and never on another dataset
    import json
    import shutil

    other = tmp_path / "other"
    other.mkdir()
    (other / "judge-A.pt").write_bytes(ckpt.read_bytes())
    copy = tmp_path / "copy"
    shutil.copytree(real, copy)
    assert bench.train_judge("A", copy, other, reuse=True) == other / "judge-A.pt"
    meta = json.loads((copy / "meta.json").read_text())
    meta["sketch"]["sigma"] = meta["sketch"]["sigma"] + 0.5  # sketched otherwise: another dataset
    (copy / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(SystemExit, match="not on"):
        bench.train_judge("A", copy, other, reuse=True)


def test_a_judge_that_is_the_generators_guide_is_refused(bench, trained, tmp_path):
    clf, _ = trained
    state = {"config": {"guide": str(clf)}}
    gen = tmp_path / "gen.pt"
    torch.save(state, gen)
    with pytest.raises(SystemExit, match="judge A is g's guide"):
        bench.check_independent({"A": clf}, "g", gen)
    other = tmp_path / "other.pt"
    other.write_bytes(b"another classifier")
    bench.check_independent({"A": other}, "g", gen)  # an independent judge passes
    # an extra guide is a guide too
    torch.save({"config": {"guide": str(other), "extra_guides": [str(clf)]}}, gen)
    with pytest.raises(SystemExit, match="judge A is g's guide"):
        bench.check_independent({"A": clf}, "g", gen)


def test_inked_rows_judge_the_same_drawings_in_pure_ink_and_paper(bench):
    """A generator is drawn once and judged twice: Inked thresholds the remembered gray output at
    mid-gray, so its answers are binary and equal to the gray ones wherever those are already 0 or 1."""
    import numpy as np

    class Soft:
        classes = ["neutral", "happy"]
        calls = 0

        def translate(self, images, targets, seeds, rows=None):
            Soft.calls += 1
            return np.clip(images.astype(np.float32) / 255 + 0.3 * targets[:, None, None], 0, 1)

        def along_path(self, images, start, end, t, seeds, rows=None):
            return self.translate(images, end, seeds)

    gray = bench.Remembered(Soft())
    inked = bench.Inked(gray)
    faces = np.tile(np.linspace(0, 255, 16, dtype=np.float32).astype(np.uint8), (3, 16, 1))
    targets, seeds = np.array([0, 1, 0]), np.zeros(3, np.int64)
    soft = gray.translate(faces, targets, seeds)
    out = inked.translate(faces, targets, seeds)
    assert Soft.calls == 1  # the inked row reuses the gray row's drawings
    assert set(np.unique(out)) <= {0.0, 1.0} and len(np.unique(soft)) > 2
    assert np.array_equal(out, (soft >= 0.5).astype(np.float32))
    assert set(np.unique(inked.along_path(faces, targets, targets, np.ones(3), seeds))) <= {0.0, 1.0}


def test_softened_sketches_are_the_same_drawing_with_anti_aliased_edges(bench):
    import numpy as np

    img = np.full((2, 32, 32), 255, np.uint8)
    img[:, 10:22, 14:17] = 0  # a 3 px stroke
    soft = bench.softened(img, 0.7)
    assert soft.shape == img.shape and soft.dtype == np.uint8
    assert len(np.unique(soft)) > 2 and np.array_equal(soft < 128, img < 128)  # the stroke stays where it was
