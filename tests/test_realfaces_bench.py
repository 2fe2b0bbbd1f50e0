"""benchmarks/realfaces.py's judges: trained on real FER+ sketches only, never on anything a
generator drew, and never the guide classifier a generator was trained against."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from conftest import load_module

        yield load_module(ROOT / "benchmarks" / "realfaces.py", "realfaces_bench")
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


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
    # a judge left from another dataset is not reused
    other = tmp_path / "other"
    other.mkdir()
    (other / "judge-A.pt").write_bytes(ckpt.read_bytes())
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(real, copy)
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
