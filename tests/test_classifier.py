"""The emotion classifier learns synthetic sketch emotions, round-trips its checkpoint, resumes, and classifies files."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from emosketch.cli import cli
from emosketch.datasets.dataset import load
from emosketch.datasets.prepare import PrepareConfig, prepare
from emosketch.errors import EmosketchError
from emosketch.evaluate.classifier import (
    ClassifierConfig,
    load_classifier,
    predict,
    train_classifier,
)
from emosketch.evaluate.classify import looks_like_sketch
from emosketch.evaluate.metrics import classification_report


def test_learns_synthetic_emotions_far_above_chance(synthetic, trained):
    path, summary = trained
    model, state = load_classifier(path)
    ds = load(synthetic)
    idx = ds.indices("test")  # held-out identities
    rep = classification_report(predict(model, ds.images[idx], state["image_size"]), ds.labels[idx], ds.classes)
    assert rep["accuracy"] > 0.6  # chance is 0.125
    assert summary["best_val_macro_f1"] > 0.6


def test_checkpoint_is_data_and_round_trips(trained, synthetic):
    path, _ = trained
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["format"] == "emosketch-classifier" and state["classes"][0] == "neutral"
    assert {"model", "last_model", "optimizer", "history", "rng", "config"} <= set(state)
    a, _ = load_classifier(path)
    b, _ = load_classifier(path)
    images = load(synthetic).images[:16]
    assert np.array_equal(predict(a, images, 32), predict(b, images, 32))
    assert not a.training


def test_resume_continues_the_run(synthetic, tmp_path):
    cfg = ClassifierConfig(image_size=32, width=8, epochs=2, samples_per_epoch=256, patience=9)
    train_classifier(synthetic, tmp_path / "c.pt", cfg, device="cpu", progress=False, log=lambda m: None)
    cfg4 = ClassifierConfig(image_size=32, width=8, epochs=4, samples_per_epoch=256, patience=9)
    messages = []
    summary = train_classifier(synthetic, tmp_path / "c.pt", cfg4, device="cpu", resume=True, progress=False,
                               log=messages.append)
    assert any("resuming" in m and "after epoch 2" in m for m in messages)
    assert [h["epoch"] for h in summary["history"]] == [1, 2, 3, 4]
    messages = []  # asked for fewer epochs than it has: nothing trained, and said so (it had reported 5 epochs)
    again = train_classifier(synthetic, tmp_path / "c.pt", cfg, device="cpu", resume=True, progress=False,
                             log=messages.append)
    assert again["epochs"] == 4 and any("has trained 4 epoch(s) already" in m for m in messages)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(EmosketchError, match="no such classifier"):
        load_classifier(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(EmosketchError, match="not a readable .*checkpoint"):
        load_classifier(tmp_path / "junk.pt")
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(EmosketchError, match="not an emosketch-classifier"):
        load_classifier(tmp_path / "other.pt")


def test_sketch_detector():
    paper = np.full((64, 64), 255, np.uint8)
    paper[30, 10:50] = 0
    assert looks_like_sketch(paper)
    photo = np.random.default_rng(0).integers(60, 200, (64, 64)).astype(np.uint8)
    assert not looks_like_sketch(photo)


def test_a_small_drawing_is_read_as_one_and_a_small_photo_is_not():
    """Synthetic faces of 24 and 32 px are mostly their strokes' soft edges, and were read as photos (then
    cropped and sketched again) by `--as auto`."""
    import cv2

    from emosketch.datasets.synthetic import random_identity, render

    for size in (24, 32):
        for seed, emotion in enumerate(["neutral", "happy", "sad", "anger", "fear", "surprise"]):
            assert looks_like_sketch(render(random_identity(seed), emotion, size=size)), (size, emotion)
    y, x = np.mgrid[:128, :128]  # a lit face on a pale ground: smooth mid-tones, paper at the corners only
    photo = np.clip(250 - 120 * np.exp(-((x - 64) ** 2 + (y - 64) ** 2) / 1800.0), 0, 255).astype(np.uint8)
    photo[50:54, 44:56] = photo[50:54, 72:84] = 30
    for size in (24, 32, 128):
        assert not looks_like_sketch(cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)), size


def test_cli_train_classify_evaluate(synthetic, trained, tmp_path):
    path, _ = trained
    runner = CliRunner()
    ds = load(synthetic)
    i = int(ds.indices("test")[0])
    cv2.imwrite(str(tmp_path / "face.png"), np.asarray(ds.images[i]))
    (tmp_path / "junk.png").write_bytes(b"nope")
    res = runner.invoke(cli, ["classify", str(path), str(tmp_path / "face.png"), str(tmp_path / "junk.png"), "--json"])
    assert res.exit_code == 1 and "1 of 2 images could not be classified" in res.stderr, res.output  # one was junk
    out = json.loads(res.stdout)
    assert out[0]["label"] in ds.classes and 0 < out[0]["confidence"] <= 1 and len(out[0]["top"]) == 3
    assert out[0]["input"] == "sketch as is (read as a drawing)" and out[1]["error"].startswith("not an image")
    assert runner.invoke(cli, ["classify", str(path), str(tmp_path / "face.png")]).exit_code == 0  # every one read
    res = runner.invoke(cli, ["evaluate", "--classifier", str(path), "--data", str(synthetic), "--out",
                              str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert {"accuracy", "macro_f1", "ece", "per_class", "confusion_matrix", "split"} <= set(rep)
    assert (tmp_path / "rep" / "confusion.png").exists() and "ROC AUC" in (tmp_path / "rep" / "report.md").read_text()
    res = runner.invoke(cli, ["classifier", "train", "--data", str(synthetic), "--out", str(path)])
    assert res.exit_code == 1 and "already exists" in res.output


def test_photos_go_through_face_crop_and_sketch(tmp_path):
    from datasets_fixtures import make_folder

    make_folder(tmp_path / "photos")
    prepare(f"folder:{tmp_path / 'photos'}", tmp_path / "ds", PrepareConfig(size=32), progress=False,
            log=lambda m: None)
    cfg = ClassifierConfig(image_size=32, width=4, epochs=1, samples_per_epoch=32, batch_size=8)
    train_classifier(tmp_path / "ds", tmp_path / "c.pt", cfg, device="cpu", progress=False, log=lambda m: None)
    photo = np.random.default_rng(3).integers(80, 180, (80, 60)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "photo.png"), photo)
    from emosketch.evaluate.classify import classify_files

    result = classify_files(tmp_path / "c.pt", [tmp_path / "photo.png"], device="cpu")[0]
    assert result["input"].startswith("photo -> sketch") and result["label"] in {"neutral", "happy", "sad", "anger"}


def test_l2_attack_stays_in_the_ball_and_raises_the_loss():
    from emosketch.evaluate.classifier import EmotionCNN, l2_attack

    torch.manual_seed(0)
    model = EmotionCNN(4, width=4).eval()
    x = torch.rand(6, 1, 32, 32) * 2 - 1
    y = torch.randint(0, 4, (6,))
    adv = l2_attack(model, x, y, eps=2.0, steps=3)
    norms = (adv - x).flatten(1).norm(dim=1)
    assert torch.all(norms <= 2.0 + 1e-4) and norms.max() > 0.5
    assert adv.min() >= -1 and adv.max() <= 1 and not adv.requires_grad
    ce = torch.nn.functional.cross_entropy
    with torch.no_grad():
        assert ce(model(adv), y) > ce(model(x), y)
    assert all(p.grad is None for p in model.parameters())  # the attack leaves the model's grads alone


def test_adversarial_training_runs_and_is_recorded(synthetic, tmp_path):
    cfg = ClassifierConfig(image_size=32, width=4, epochs=1, samples_per_epoch=128, adversarial_eps=1.0,
                           adversarial_steps=2)
    train_classifier(synthetic, tmp_path / "r.pt", cfg, device="cpu", progress=False, log=lambda m: None)
    _, state = load_classifier(tmp_path / "r.pt")
    assert state["config"]["adversarial_eps"] == 1.0 and state["config"]["adversarial_steps"] == 2
    with pytest.raises(EmosketchError, match="adversarial_eps"):
        ClassifierConfig(adversarial_eps=-1)


def test_resume_continues_a_run_with_its_own_config_and_refuses_another(trained, synthetic, tmp_path):
    """`classifier train --resume` keeps the run's config (here width 8 and 32 px, not the defaults);
    a --config whose network differs is one clear line, not a state-dict traceback."""
    import shutil

    from click.testing import CliRunner

    from emosketch.cli import cli
    from emosketch.evaluate.classifier import load_checkpoint

    run = tmp_path / "clf.pt"
    shutil.copy(trained[0], run)
    epochs = load_checkpoint(run)["epoch"]
    res = CliRunner().invoke(cli, ["classifier", "train", "--data", str(synthetic), "--out", str(run), "--resume",
                                   "--epochs", str(epochs + 1), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    state = load_checkpoint(run)
    assert state["epoch"] == epochs + 1 and state["config"]["width"] == 8 and state["image_size"] == 32
    (tmp_path / "wide.yaml").write_text("width: 16\nimage_size: 32\n")
    res = CliRunner().invoke(cli, ["classifier", "train", "--data", str(synthetic), "--out", str(run), "--resume",
                                   "--config", str(tmp_path / "wide.yaml"), "--device", "cpu"])
    assert res.exit_code == 1 and "trained with width 8, not 16" in res.output and "Traceback" not in res.output


def test_hog_net_reads_stroke_orientation_and_passes_gradients():
    from emosketch.emotion_cnn import HogNet

    net = HogNet(3, 32, cell=4, bins=8)
    flat = torch.ones(1, 1, 32, 32)
    horizontal = flat.clone()
    horizontal[..., 15:17, :] = -1
    vertical = horizontal.transpose(2, 3).contiguous()
    assert float(net.features(flat).abs().max()) < 1e-3  # blank paper has no orientation
    hist = {name: net.features(img)[0, :8].sum((1, 2)) for name, img in (("h", horizontal), ("v", vertical))}
    assert int(hist["h"].argmax()) == 4 and int(hist["v"].argmax()) == 0  # gradients across the stroke: 90 / 0 degrees
    x = horizontal.clone().requires_grad_()
    net(x)[0, 1].backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0


def test_hog_classifier_trains_round_trips_and_guides(synthetic, tmp_path):
    from emosketch.emotion_cnn import HogNet, load_sketch_classifier

    cfg = ClassifierConfig(arch="hog", image_size=32, hog_cell=4, hog_bins=9, epochs=4, samples_per_epoch=1280,
                           patience=8, lr=0.01)
    summary = train_classifier(synthetic, tmp_path / "h.pt", cfg, device="cpu", progress=False, log=lambda m: None)
    assert summary["best_val_macro_f1"] > 0.3  # 8 synthetic emotions: chance is 0.125
    model, state = load_sketch_classifier(tmp_path / "h.pt", load(synthetic).classes)
    assert isinstance(model, HogNet) and state["config"]["arch"] == "hog"
    images = load(synthetic).images[:8]
    assert predict(model, images, 32).shape == (8, 8)


def test_classifier_arch_is_checked():
    with pytest.raises(EmosketchError, match="arch 'vit'"):
        ClassifierConfig(arch="vit")
    with pytest.raises(EmosketchError, match="hog_cell"):
        ClassifierConfig(arch="hog", image_size=32, hog_cell=20)


def test_crop_classifier_reads_only_its_part_trains_and_round_trips(synthetic, tmp_path):
    from emosketch.emotion_cnn import EmotionCNN, build, crop_box, load_sketch_classifier

    cfg = ClassifierConfig(image_size=32, width=4, crop=(0.5, 1.0, 0.25, 0.75))
    assert crop_box(32, cfg.crop) == (16, 16, 8, 16)
    net = build(cfg, 3).eval()
    x = torch.zeros(2, 1, 32, 32)
    outside = x.clone()
    outside[:, :, :16] = 1  # the top half, and the sides of the bottom half, are not read
    outside[:, :, :, :8] = -1
    inside = x.clone()
    inside[:, :, 20:28, 10:20] = 1
    assert torch.equal(net(x), net(outside)) and not torch.allclose(net(x), net(inside))
    x = inside.clone().requires_grad_()
    net(x)[0, 1].backward()
    assert float(x.grad[:, :, :16].abs().sum()) == 0 and float(x.grad[:, :, 16:].abs().sum()) > 0

    train_cfg = ClassifierConfig(image_size=32, width=8, crop=(0.4, 1.0, 0.0, 1.0), epochs=3, samples_per_epoch=1280)
    train_classifier(synthetic, tmp_path / "m.pt", train_cfg, device="cpu", progress=False, log=lambda m: None)
    model, state = load_sketch_classifier(tmp_path / "m.pt", load(synthetic).classes)
    assert isinstance(model, EmotionCNN) and model.crop == (0.4, 1.0, 0.0, 1.0)
    assert tuple(state["config"]["crop"]) == (0.4, 1.0, 0.0, 1.0)
    assert predict(model, load(synthetic).images[:8], 32).shape == (8, 8)


@pytest.mark.parametrize("crop, why", [((0.5, 0.4, 0, 1), "top < bottom"), ((0, 1, 0), "top, bottom"),
                                       ((0.9, 1.0, 0, 1), "at least 8 pixels"), ((0, 1.2, 0, 1), "fractions")])
def test_crop_is_checked(crop, why):
    with pytest.raises(EmosketchError, match=why):
        ClassifierConfig(image_size=32, crop=crop)
    with pytest.raises(EmosketchError, match="only the cnn"):
        ClassifierConfig(arch="hog", image_size=32, hog_cell=4, crop=(0, 1, 0, 1))


def test_classify_shipped_reads_photos_with_the_face_classifier_and_drawings_with_the_sketch_one(tmp_path):
    """No training needed: `classify shipped` sends each image to the shipped classifier that reads its kind,
    and says when no face was found in a photo (a picture of noise was read as an emotion, silently)."""
    from emosketch.models import default_classifier, default_sketch_classifier, demo_photo

    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "noise.png"), rng.integers(0, 256, (160, 160)).astype(np.uint8))
    drawing = np.full((96, 96), 255, np.uint8)
    cv2.ellipse(drawing, (48, 48), (30, 40), 0, 0, 360, 0, 2)
    cv2.imwrite(str(tmp_path / "drawing.png"), drawing)
    files = [str(demo_photo()), str(tmp_path / "noise.png"), str(tmp_path / "drawing.png")]
    res = CliRunner().invoke(cli, ["classify", "shipped", *files, "--json"])
    assert res.exit_code == 0, res.output
    photo, noise, sketch = json.loads(res.stdout)
    assert photo["model"] == noise["model"] == str(default_classifier())
    assert sketch["model"] == str(default_sketch_classifier()) and sketch["input"].startswith("sketch as is")
    assert photo["label"] == "happy"  # the astronaut smiles
    table = CliRunner().invoke(cli, ["classify", "shipped", *files]).output.splitlines()
    assert "no face found" in table[1] and "no face found" not in table[0] + table[2]


def test_dropout_and_samples_per_epoch_are_bounded():
    """dropout 1.5 was torch's ValueError ("unexpected ..."); samples_per_epoch 1e11 ran out of memory."""
    from emosketch.emotion_cnn import ClassifierConfig

    for key, value, words in (("dropout", 1.5, "from 0 to below 1"), ("dropout", -1.0, "from 0 to below 1"),
                              ("samples_per_epoch", 10**11, "from 1 to 10,000,000")):
        with pytest.raises(EmosketchError, match=f"classifier {key} .*{words}"):
            ClassifierConfig(**{key: value})


def test_a_model_with_no_sketch_settings_points_a_guessed_photo_to_as_sketch():
    """A small synthetic drawing taken for a photo by --as auto was refused with no way out named."""
    from emosketch.datasets.photo import model_input

    photo = np.tile(np.linspace(40, 220, 48).astype(np.uint8), (48, 1))  # smooth tones: read as a photo
    with pytest.raises(EmosketchError, match=r"give it line drawings \(if this is one, read as a photo, pass --as"):
        model_input(photo, {}, 32, "sketch", "auto")
    with pytest.raises(EmosketchError) as info:
        model_input(photo, {}, 32, "sketch", "photo")
    assert "--as sketch" not in str(info.value)  # named a photo by the user: no such advice


def test_a_portrait_cut_out_onto_white_is_read_as_a_photo():
    """A portrait pasted on a white (or, decoded, a transparent) ground is mostly paper and read as a line drawing:
    it was redrawn as it was, garbage, exit 0. The face the detector finds in it is skin, so it is a photo; a
    drawing's face is still a drawing."""
    import cv2

    from emosketch.datasets.decode import decode_file
    from emosketch.datasets.photo import model_input
    from emosketch.datasets.synthetic import random_identity, render
    from emosketch.models import demo_photo

    photo = decode_file(demo_photo())
    head = photo[15:105, 70:160]  # the demo photo's head (its face box is at 85, 30, 54 px a side)
    canvas = np.full((600, 600), 255, np.uint8)
    canvas[175:425, 175:425] = cv2.resize(head, (250, 250), interpolation=cv2.INTER_CUBIC)
    assert looks_like_sketch(canvas)  # as a whole: 83% paper
    from emosketch.datasets.sketch import SketchConfig

    settings = {}
    _, how = model_input(canvas, settings, 64, fallback=SketchConfig())
    assert how.startswith("photo -> sketch (haar"), how
    for seed in range(3):
        drawing = cv2.resize(render(random_identity(seed), "happy", size=128), (512, 512), interpolation=cv2.INTER_CUBIC)
        assert model_input(drawing, settings, 64, fallback=SketchConfig())[1] == "sketch as is (read as a drawing)"
