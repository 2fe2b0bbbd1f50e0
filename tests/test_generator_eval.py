"""Generator evaluation, shown on the two baselines whose scores are known: the untouched input and
the synthetic ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from emosketch.cli import cli
from emosketch.datasets.dataset import load
from emosketch.errors import EmosketchError
from emosketch.evaluate.generator import InputTranslator, OracleTranslator, evaluate_generator
from emosketch.evaluate.perceptual import lpips_model


def test_oracle_scores_perfectly_and_input_scores_nothing(synthetic, trained, tmp_path):
    clf, _ = trained
    ds = load(synthetic)
    lpips = lpips_model(random_trunk=True)
    oracle = evaluate_generator(OracleTranslator(ds), synthetic, clf, tmp_path / "o", "oracle", lpips=lpips, faces=24)
    plain = evaluate_generator(InputTranslator(ds.classes), synthetic, clf, tmp_path / "i", "input", lpips=lpips,
                               faces=24)
    assert oracle["translations"] == 24 * 7
    assert oracle["target_accuracy"] > 0.6 and plain["target_accuracy"] < 0.2
    assert oracle["ground_truth"]["l1"] == 0 and oracle["ground_truth"]["stroke_iou"] == 1
    assert plain["ground_truth"]["l1"] == pytest.approx(plain["ground_truth"]["input_l1"])
    assert plain["ground_truth"]["l1"] > 0.005
    assert plain["cycle_l1"] == 0 and plain["diversity"] == 0 and plain["ppl"]["ppl"] == 0
    assert oracle["ppl"]["ppl"] > 0 and oracle["cycle_lpips"] is not None
    for folder in ("o", "i"):
        assert {p.name for p in (tmp_path / folder).iterdir()} == {"report.json", "report.md", "confusion.png", ".emosketch"}


def test_mismatched_classes_and_wrong_classifier(synthetic, trained, tmp_path):
    clf, _ = trained
    ds = load(synthetic)
    with pytest.raises(EmosketchError, match="classes differ"):
        evaluate_generator(InputTranslator(ds.classes[::-1]), synthetic, clf, tmp_path / "x", "x")
    with pytest.raises(EmosketchError, match="classes differ"):  # an extra emotion first shifts the indices
        evaluate_generator(InputTranslator(["extra", *ds.classes]), synthetic, clf, tmp_path / "y", "y")
    more = evaluate_generator(InputTranslator([*ds.classes, "extra"]), synthetic, clf, tmp_path / "z", "z", faces=8)
    assert more["translations"] == 8 * (len(ds.classes) - 1)  # judged on the data's emotions only
    with pytest.raises(EmosketchError, match="needs a synthetic dataset"):
        from datasets_fixtures import make_folder

        from emosketch.datasets.prepare import PrepareConfig, prepare

        make_folder(tmp_path / "f")
        prepare(f"folder:{tmp_path / 'f'}", tmp_path / "ds", PrepareConfig(size=32), progress=False, log=lambda m: None)
        OracleTranslator(load(tmp_path / "ds"))


def test_cli_baseline_report_says_what_lpips_needs(synthetic, trained, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("EMOSKETCH_LPIPS_TRUNK", raising=False)
    clf, _ = trained
    res = CliRunner().invoke(cli, ["evaluate", "--classifier", str(clf), "--data", str(synthetic), "--baseline",
                                   "oracle", "--faces", "8", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rep["distance"].startswith("l1") and "alexnet-owt-7be5be79.pth" in rep["lpips_note"]
    assert rep["target_accuracy"] > 0.5 and "alexnet-owt" in (tmp_path / "r" / "report.md").read_text()


def test_warp_baseline_moves_faces_along_each_emotions_mean_motion(synthetic, trained, tmp_path):
    import numpy as np

    from emosketch.evaluate.warp import WarpTranslator

    clf, _ = trained
    ds = load(synthetic)
    warp = WarpTranslator.fit(ds)
    assert warp.flows.shape == (len(ds.classes), 48, 48, 2)
    assert np.abs(warp.flows[ds.classes.index("neutral")]).max() == 0
    assert np.abs(warp.flows[ds.classes.index("surprise")]).max() > 0.3  # brows up, mouth open
    faces = np.asarray(ds.images[ds.indices("test")[:4]])
    neutral = warp.translate(faces, np.zeros(4, int), np.zeros(4, int))
    assert np.allclose(neutral, faces / 255.0, atol=1e-5)  # "to neutral" is no motion
    happy = np.full(4, ds.classes.index("happy"))
    assert np.abs(warp.translate(faces, happy, happy) - faces / 255.0).mean() > 0.005
    assert np.allclose(warp.along_path(faces, happy, np.zeros(4, int), np.zeros(4), happy),
                       warp.translate(faces, happy, happy))
    moved = evaluate_generator(warp, synthetic, clf, tmp_path / "w", "warp", faces=24)
    cli_run = CliRunner().invoke(cli, ["evaluate", "--classifier", str(clf), "--data", str(synthetic), "--baseline",
                                       "warp", "--faces", "24", "--out", str(tmp_path / "cli")])
    assert cli_run.exit_code == 0, cli_run.output
    assert json.loads((tmp_path / "cli" / "report.json").read_text())["target_accuracy"] == moved["target_accuracy"]
    plain = evaluate_generator(InputTranslator(ds.classes), synthetic, clf, tmp_path / "i", "input", faces=24)
    assert moved["target_accuracy"] > plain["target_accuracy"] + 0.1
    assert moved["edit_l1"] > 0 and plain["edit_l1"] == 0 and plain["edit_pixels"] == 0


def test_warp_baseline_needs_neutral(synthetic):
    import numpy as np

    from emosketch.evaluate.warp import WarpTranslator

    with pytest.raises(EmosketchError, match="neutral"):
        WarpTranslator(["happy", "sad"], np.zeros((2, 8, 8, 2), np.float32))


def test_a_generator_of_another_size_than_the_data_is_said(synthetic, trained, tmp_path):
    """A 128 px generator judged on 64 px data ran without a word; it runs, and now says how it was compared."""
    from emosketch.evaluate.report import judge_translator

    clf, _ = trained
    ds = load(synthetic)
    plain = InputTranslator(ds.classes)
    said = []
    plain.size = 2 * int(ds.images.shape[1])  # as a generator drawing at twice the data's size says
    judge_translator(plain, "input", synthetic, clf, tmp_path / "r", faces=4, log=said.append)
    assert any(f"draws at {plain.size} px and" in m and "scaled to" in m for m in said)
    said.clear()
    plain.size = int(ds.images.shape[1])
    judge_translator(plain, "input", synthetic, clf, tmp_path / "r2", faces=4, log=said.append)
    assert not any("draws at" in m for m in said)
    # on ink-and-paper drawings the two edit figures are one, and the report says why they are equal
    assert "(one figure: every pixel is ink or paper)" in (tmp_path / "r2" / "report.md").read_text()


def test_a_judge_that_is_one_of_the_generators_guides_is_said_to_flatter(synthetic, trained, tmp_path, monkeypatch):
    """The generator's own guide (found by its weights, under any name) or the shipped sketch classifier, a guide
    by recipe, judges it kindly: evaluate says so, in its log and its report; another judge gets no such note."""
    import shutil

    import torch

    from emosketch.evaluate.classifier import weights_fingerprint
    from emosketch.evaluate.report import judge_translator
    from emosketch.models import default_sketch_classifier

    clf, _ = trained
    ds = load(synthetic)
    monkeypatch.chdir(tmp_path)
    Path("runs").mkdir()
    shutil.copyfile(clf, "runs/guide.pt")  # where the training run found its guide; the judge is a copy of it
    plain = InputTranslator(ds.classes)
    plain.state = {"config": {"guide": "runs/missing-guide.pt", "extra_guides": ["runs/guide.pt"]}}
    said = []
    rep = judge_translator(plain, "input", synthetic, clf, tmp_path / "r", faces=4, log=said.append)
    assert any("one of the guides this generator was trained to satisfy (runs/guide.pt)" in m for m in said), said
    assert "flatters" in rep["judge_note"] and "flatters" in (tmp_path / "r" / "report.md").read_text()
    # another network of the same shape is not the guide
    other = torch.load(clf, weights_only=True)
    other["model"] = {k: v + 1 if v.is_floating_point() else v for k, v in other["model"].items()}
    torch.save(other, "other.pt")
    assert weights_fingerprint("other.pt") != weights_fingerprint(clf)
    said.clear()
    rep = judge_translator(plain, "input", synthetic, "other.pt", tmp_path / "r2", faces=4, log=said.append)
    assert rep["judge_note"] is None and not any("flatters" in m for m in said)
    assert "flatters" not in (tmp_path / "r2" / "report.md").read_text()
    # a generator trained with a guide, judged by the shipped sketch classifier: a guide by its recipe
    from emosketch.evaluate.report import judge_note

    assert "shipped sketch classifier" in judge_note(plain, default_sketch_classifier())
    assert judge_note(InputTranslator(ds.classes), default_sketch_classifier()) is None  # trained with no guide
    assert judge_note(InputTranslator(ds.classes), clf) is None
