"""The shipped generator: safe to load, small, a real editor of real faces, and the default of every
command that takes --checkpoint; the demo runs on it and a real photo with no training."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from emosketch.cli import cli
from emosketch.frames import Frames, write_frames
from emosketch.models import default_generator, demo_photo


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args])


def test_shipped_model_is_small_data_and_inference_only():
    path = default_generator()
    assert path.stat().st_size <= 20 * 2**20
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["format"] == "emosketch-generator" and state["slim"] is True
    assert {"optimizers", "nets", "rng", "ada"}.isdisjoint(state)
    assert {k.split(".")[0] for k in state["ema"]} == {"generator", "mapping", "style_encoder"}
    assert state["config"]["model"]["output"] == "warp"
    assert state["dataset"]["sketch"]["method"] == "xdog" and state["dataset"]["source"]["kind"] == "ferplus"
    assert {"neutral", "happy", "sad", "surprise", "fear", "anger"} <= set(state["classes"])


def test_shipped_model_redraws_a_photo_in_every_emotion():
    from emosketch.interpolate.render import Renderer

    r = Renderer(default_generator(), "cpu")
    face = r.source(image=demo_photo())
    assert face.how.startswith("photo -> sketch") and face.sketch.shape == (r.size, r.size)
    frames = r.render(face, r.bank.codes())  # each emotion's mean style
    assert frames.shape == (len(r.classes), r.size, r.size) and frames.dtype == np.uint8
    # each emotion is its own drawing of the same face: every pair differs, none is the input
    flat = frames.reshape(len(frames), -1).astype(float) / 255
    gaps = np.abs(flat[:, None] - flat[None]).mean(-1)
    assert gaps[~np.eye(len(frames), dtype=bool)].min() > 0.003
    assert np.abs(flat - face.sketch.reshape(-1) / 255).mean(-1).max() > 0.01
    assert np.abs(flat - face.sketch.reshape(-1) / 255).mean(-1).mean() < 0.25  # still this face, not noise


def test_each_emotion_of_the_shipped_model_reads_as_itself_to_the_shipped_sketch_classifier():
    """The fast guard on what the emotion heads mean: with the heads rotated (each emotion drawing the
    next) every test above passed. Five faces (the demo photo, four synthetic sketches), each drawn in
    every emotion and read by the shipped sketch classifier: each emotion is read most on its own
    drawings, by a clear margin. (Read row-wise, fear is not always its drawing's top reading: held-out
    real faces read it at 0.30.)"""
    from emosketch.datasets.synthetic import random_identity, render
    from emosketch.emotion_cnn import load_sketch_classifier, predict
    from emosketch.interpolate.render import Renderer
    from emosketch.models import default_sketch_classifier

    r = Renderer(default_generator(), "cpu", mean_samples=200)
    judge, state = load_sketch_classifier(default_sketch_classifier(), r.classes)
    faces = [r.source(image=demo_photo())] + [
        r.source_from_gray(render(random_identity(seed=s), "neutral", 1.0, 128), "sketch") for s in range(4)]
    n = len(r.classes)
    read = sum(predict(judge, r.render(f, r.weight_codes(np.eye(n))), int(state["image_size"])) for f in faces)
    read /= len(faces)  # read[drawn, read as]
    for e, name in enumerate(r.classes):
        others = np.delete(read[:, e], e)
        assert read[e, e] > others.max() + 0.1, (name, np.round(read[:, e], 2))
    # Every emotion above chance on its own drawings, and well above it on the whole. Fear is the
    # weakest: with photos framed at 10% (round 14) this classifier reads the demo photo's fear drawing
    # as fear 0.12 of the time, where all four blind raters read it as fear, so over the five faces
    # fear is read 0.20 (at the 20% framing of before, 0.5 on the demo photo).
    assert np.diag(read).min() > 1 / n and np.diag(read).mean() > 2.5 / n, np.round(np.diag(read), 2)


def test_commands_default_to_the_shipped_model(run, tmp_path):
    photo = demo_photo()
    result = run("sample", "--input", photo, "--emotions", "happy,sad", "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert {"astronaut.png", "astronaut_happy.png", "astronaut_sad.png"} <= {p.name for p in (tmp_path / "s").iterdir()}
    result = run("interpolate", "--input", photo, "--from", "neutral", "--to", "surprise", "--frames", 5, "--hold", 1,
                 "--out", tmp_path / "t.npz")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "t.npz")["frames"].shape[0] == 6
    script = tmp_path / "script.yaml"
    script.write_text("fps: 6\nduration: 2\nstimuli:\n  - {t: 0.2, channel: joy, amount: 0.9}\n")
    result = run("agent", "--input", photo, "--script", script, "--out", tmp_path / "a.npz")
    assert result.exit_code == 0, result.output
    result = run("pack", "--input", photo, "--emotions", "neutral,happy", "--transition-frames", 3,
                 "--idle-frames", 2, "--out", tmp_path / "p")
    assert result.exit_code == 0, result.output
    assert "verified bit for bit" in result.output
    names = [s["name"] for s in json.loads((tmp_path / "p" / "manifest.json").read_text())["sequences"]]
    assert set(names) == {"idle_neutral", "idle_happy", "neutral_to_happy", "happy_to_neutral"}


def test_slim_keeps_the_ema_networks_and_draws_the_same(run, generator, tmp_path):
    from emosketch.gan.sample import GanTranslator

    out = tmp_path / "slim.pt"
    result = run("slim", generator, "--out", out, "--note", "a test")
    assert result.exit_code == 0, result.output
    assert out.stat().st_size < generator.stat().st_size
    assert torch.load(out, map_location="cpu", weights_only=True)["note"] == "a test"
    faces = np.full((3, 32, 32), 255, np.uint8)
    faces[:, 10:20, 8:24] = 0
    targets, seeds = np.array([0, 1, 2]), np.array([4, 5, 6])
    full, slim = GanTranslator(generator, "cpu"), GanTranslator(out, "cpu")
    assert np.array_equal(full.translate(faces, targets, seeds), slim.translate(faces, targets, seeds))


def test_slim_never_writes_over_its_checkpoint_and_replaces_a_file_only_with_force(run, generator, tmp_path):
    """slim --out over the run's own checkpoint had left a run that could not resume (exit 0); over any other
    file it replaced it silently, while every other command asks for --force."""
    import shutil

    run_ckpt = tmp_path / "checkpoint.pt"
    shutil.copy(generator, run_ckpt)
    before = run_ckpt.read_bytes()
    result = run("slim", run_ckpt, "--out", run_ckpt, "--force")
    assert result.exit_code == 2 and "is this command's input" in result.output
    assert run_ckpt.read_bytes() == before
    out = tmp_path / "slim.pt"
    out.write_bytes(b"mine")
    result = run("slim", run_ckpt, "--out", out)
    assert result.exit_code == 1 and "already exists (pass --force" in result.output and out.read_bytes() == b"mine"
    assert run("slim", run_ckpt, "--out", out, "--force").exit_code == 0 and out.stat().st_size > 4


def test_slim_refuses_a_damaged_checkpoint_that_sample_would_refuse(run, generator, tmp_path):
    """slim wrote a "model to ship" with exit 0 from checkpoints with NaN weights, or dataset settings of the
    wrong type, that sample then refused: it builds the networks first, as sample does."""
    state = torch.load(generator, map_location="cpu", weights_only=True)
    name = next(k for k, v in state["ema"].items() if v.is_floating_point())
    nan = {**state, "ema": {**state["ema"], name: torch.full_like(state["ema"][name], float("nan"))}}
    torch.save(nan, tmp_path / "nan.pt")
    torch.save({**state, "dataset": {**(state.get("dataset") or {}), "sketch": "xdog"}}, tmp_path / "settings.pt")
    for bad, words in (("nan.pt", "NaN or infinite"), ("settings.pt", "dataset settings are damaged")):
        result = run("slim", tmp_path / bad, "--out", tmp_path / "out.pt")
        assert result.exit_code == 1 and words in result.output, result.output
        assert not (tmp_path / "out.pt").exists()


def test_sample_refuses_two_inputs_that_would_write_one_file(run, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "face.png"), np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1)))
    result = run("sample", "--input", tmp_path / "a" / "face.png", "--input", tmp_path / "b", "--out", tmp_path / "s")
    assert result.exit_code == 1 and "would both be written as face.png" in result.output
    assert not (tmp_path / "s").exists()
    # a row's name and another input's cell: face_happy.png was face's happy cell and face_happy's row (13 files)
    cv2.imwrite(str(tmp_path / "a" / "face_happy.png"), np.full((64, 64), 255, np.uint8))
    result = run("sample", "--input", tmp_path / "a", "--out", tmp_path / "s")
    assert result.exit_code == 1 and "would both be written as face_happy.png" in result.output
    # the same file named twice is drawn once; a folder's GIFs are read (they had been skipped unsaid)
    (tmp_path / "a" / "face_happy.png").unlink()
    frame = cv2.imread(str(demo_photo()), cv2.IMREAD_GRAYSCALE)
    (tmp_path / "c").mkdir()
    write_frames(tmp_path / "c" / "moving.gif", Frames(np.stack([frame, frame]), 12.0))
    result = run("sample", "--input", tmp_path / "a" / "face.png", "--input", tmp_path / "a" / ".." / "a" / "face.png",
                 "--input", tmp_path / "c", "--emotions", "happy", "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "s").glob("*.png")) == ["face.png", "face_happy.png", "moving.png",
                                                                      "moving_happy.png"]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    result = run("sample", "--input", tmp_path / "empty", "--out", tmp_path / "e")
    assert result.exit_code == 1 and "empty: folder holds no pictures (.bmp, .gif" in result.output


def test_slim_photo_margin_frames_photos_closer(run, tmp_path):
    """slim --photo-margin: the same weights; a photo's face box gets that margin, so the face the model
    redraws is the photo's Haar box with that margin, sketched; a margin outside 0..2 is refused with one
    line."""
    from emosketch.datasets.decode import decode_file
    from emosketch.datasets.face import FaceConfig, crop_face
    from emosketch.datasets.photo import photo_configs
    from emosketch.datasets.sketch import sketch
    from emosketch.interpolate.render import Renderer
    from emosketch.models import default_generator, demo_photo

    photo = decode_file(demo_photo())
    drawn = []
    for margin in (0.3, 0.0):
        out = tmp_path / f"m{margin}.pt"
        result = run("slim", default_generator(), "--photo-margin", margin, "--out", out)
        assert result.exit_code == 0, result.output
        assert torch.load(out, map_location="cpu", weights_only=True)["dataset"]["face_crop"]["photo_margin"] == margin
        r = Renderer(out, "cpu")
        face = r.source(image=demo_photo())
        crop, how = crop_face(photo, r.size, FaceConfig(margin=margin))
        assert how == "haar" and np.array_equal(face.sketch, sketch(crop, photo_configs(r.state["dataset"])[1]))
        drawn.append(face.sketch)
    assert not np.array_equal(*drawn)
    bad = run("slim", default_generator(), "--photo-margin", 2.5, "--out", tmp_path / "bad.pt")
    assert bad.exit_code != 0 and "photo_margin 2.5" in bad.output and not (tmp_path / "bad.pt").exists()


def test_slim_draw_size_makes_the_shipped_model_draw_a_photo_at_128_px(run, tmp_path):
    """slim --draw-size: the same weights take and draw 128 px sketches (a photo is sketched at 128
    px), and the 128 px drawing shrunk to 64 px is close to the 64 px model's own drawing."""
    from emosketch.interpolate.render import Renderer

    out = tmp_path / "g128.pt"
    from emosketch.models import generator_64

    result = run("slim", generator_64(), "--draw-size", 128, "--out", out)
    assert result.exit_code == 0 and "draws 128 px" in result.output, result.output
    r128, r64 = Renderer(out, "cpu"), Renderer(generator_64(), "cpu")
    face = r128.source(image=demo_photo())
    assert r128.size == 128 and face.sketch.shape == (128, 128)
    codes = r128.bank.codes()
    big = r128.render(face, codes)
    assert big.shape == (len(r128.classes), 128, 128)
    small = r64.render(r64.source(image=demo_photo()), r64.bank.codes())
    shrunk = big.reshape(len(big), 64, 2, 64, 2).mean((2, 4))
    same = np.abs(shrunk - small).mean((1, 2)) / 255  # each emotion against the 64 px model's
    other = np.abs(shrunk - np.roll(small, 1, 0)).mean((1, 2)) / 255  # against another emotion's
    assert same.max() < 0.12 < other.min()  # the same edits, at twice the pixels (0.08 against 0.19+)
    bad = run("slim", generator_64(), "--draw-size", 96, "--out", tmp_path / "bad.pt")
    assert bad.exit_code != 0 and "power of two" in bad.output and not (tmp_path / "bad.pt").exists()


def test_demo_runs_on_the_shipped_model_and_a_photo(run, tmp_path):
    out = tmp_path / "demo"
    result = run("demo", "--out", out)
    assert result.exit_code == 0, result.output
    assert "shipped model" in result.output and "photo -> sketch" in result.output
    assert not (out / "run").exists() and not (out / "data").exists()  # nothing trained
    for name in ("face.png", "transitions.gif", "transitions.npz", "agent.mp4", "agent.png", "pack/index.html"):
        assert (out / name).stat().st_size > 0, name


def test_a_synthetic_model_takes_photos_with_prepares_sketch_defaults(run, generator, tmp_path):
    # its data (synthetic drawings) has no sketch settings: photos get prepare's defaults, not a refusal
    result = run("sample", "--checkpoint", generator, "--input", demo_photo(), "--emotions", "happy",
                 "--out", tmp_path / "s")
    assert result.exit_code == 0, result.output
    assert "skipped" not in result.output and (tmp_path / "s" / "astronaut_happy.png").exists()
    assert "prepare's default sketch settings" in result.output


def test_one_loaded_generator_behind_the_translator_and_the_renderer():
    from emosketch.emotions import EmotionNameError
    from emosketch.gan.sample import GanTranslator, LoadedGenerator
    from emosketch.interpolate.render import Renderer
    from emosketch.models import default_generator

    g = LoadedGenerator(default_generator(), "cpu")
    assert g.latent_dim == g.nets.mapping.shared[0].in_features and g.size == 128
    assert g.emotions(None) == g.classes and g.emotions(["Joy", "angry"]) == ["happy", "anger"]
    with pytest.raises(EmotionNameError, match="not in the checkpoint's"):
        g.emotions(["happy", "boredom"])
    with pytest.raises(EmotionNameError, match="listed twice"):
        g.emotions(["happy", "joy"])
    tr, r = GanTranslator(default_generator(), "cpu"), Renderer(default_generator(), "cpu")
    assert isinstance(tr.g, LoadedGenerator) and isinstance(r.g, LoadedGenerator)
    x = np.full((1, 128, 128), 255, np.uint8)
    x[0, 80:84, 40:88] = 0  # a mouth
    codes = r.bank.codes(0)[[1]]
    ours = r.render(type("S", (), {"sketch": x[0]})(), codes)[0]
    with torch.no_grad():
        direct = g.redraw(torch.from_numpy(x[:, None].astype(np.float32) / 127.5 - 1), codes)
    assert np.abs(ours.astype(int) - ((direct[0, 0].clamp(-1, 1) + 1) * 127.5).round().numpy()).max() <= 1


def test_slim_mix_draws_an_emotion_as_a_blend_everywhere(run, tmp_path):
    """slim --mix fear=fear:0.7,surprise:0.3: the same weights; the mapping network gives fear's code as
    that blend of fear's and surprise's for every latent (so sample, pack, the agent and the judges draw
    the same), every other emotion's code as before; the file loads with weights_only, and slimming it
    again keeps the mix. A mix of an emotion the model lacks, or not EMOTION=EMOTION:W, is one line."""
    from emosketch.gan.networks import z_codes
    from emosketch.gan.sample import load_generator
    from emosketch.interpolate.render import Renderer

    out = tmp_path / "mixed.pt"
    result = run("slim", default_generator(), "--mix", "fear=fear:7,surprise:3", "--out", out)
    assert result.exit_code == 0, result.output
    assert "fear = 0.7 fear + 0.3 surprise" in result.output
    assert torch.load(out, map_location="cpu", weights_only=True)["mixes"] == {"fear": {"fear": 0.7, "surprise": 0.3}}
    plain, state = load_generator(default_generator())
    mixed, _ = load_generator(out)
    classes = state["classes"]
    fear, surprise, happy = (classes.index(e) for e in ("fear", "surprise", "happy"))
    z = z_codes(list(range(5)), plain.mapping.latent_dim)
    with torch.no_grad():
        code = {e: plain.mapping(z, torch.full((5,), e)) for e in (fear, surprise, happy)}
        assert torch.allclose(mixed.mapping(z, torch.full((5,), fear)), 0.7 * code[fear] + 0.3 * code[surprise],
                              atol=1e-5)
        assert torch.equal(mixed.mapping(z, torch.full((5,), happy)), code[happy])
    r_plain, r_mixed = Renderer(default_generator(), "cpu"), Renderer(out, "cpu")
    assert torch.allclose(r_mixed.bank.means[fear], 0.7 * r_plain.bank.means[fear] + 0.3 * r_plain.bank.means[surprise],
                          atol=1e-4)
    again = tmp_path / "again.pt"
    assert run("slim", out, "--out", again).exit_code == 0
    assert torch.load(again, map_location="cpu", weights_only=True)["mixes"] == {"fear": {"fear": 0.7, "surprise": 0.3}}
    for bad, says in (("fear=contempt:1", "'contempt' is not one of the model's emotions"),
                      ("fear", "expected EMOTION=EMOTION:WEIGHT"), ("fear=fear:-1", "sum to -1"),
                      ("fear=fear:0", "sum to 0"), ("fear=fear:nan", "with a number"),
                      ("fear=fear:1,happy:-1", "sum to 0"), ("fear=fear:1,neutral:-0.9", "cancel too much")):
        result = run("slim", default_generator(), "--mix", bad, "--out", tmp_path / "bad.pt")
        assert result.exit_code != 0 and says in result.output and not (tmp_path / "bad.pt").exists(), bad
        assert len(result.output.strip().splitlines()) == 1


def test_a_mix_in_a_file_is_checked_when_it_is_loaded(tmp_path):
    from emosketch.errors import EmosketchError
    from emosketch.gan.sample import load_generator

    state = torch.load(default_generator(), map_location="cpu", weights_only=True)
    for mixes, says in (({"fear": {"afraid!": 1.0}}, "not one of the model's emotions"),
                        ({"fear": {"fear": True}}, "must be numbers"), ({"fear": {"fear": -1.0}}, "sum to -1"),
                        ({"fear": {"fear": 1.0, "neutral": -0.99}}, "cancel too much"),
                        ({"fear": "surprise"}, "must map"),
                        ([1, 2], "must map")):
        torch.save(state | {"mixes": mixes}, tmp_path / "m.pt")
        with pytest.raises(EmosketchError, match=says):
            load_generator(tmp_path / "m.pt")


def test_parse_mix_takes_any_text_to_a_blend_or_one_line():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from emosketch.errors import EmosketchError
    from emosketch.gan.mixes import parse_mix

    assert parse_mix(" Fear = fear:1, surprise:1 ") == ("fear", {"fear": 0.5, "surprise": 0.5})
    name, weights = parse_mix("fear=fear:1,happy:0.4,neutral:-0.4")  # a step away from neutral
    assert name == "fear" and weights == pytest.approx({"fear": 1.0, "happy": 0.4, "neutral": -0.4})

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=80))
    def check(text):
        try:
            name, weights = parse_mix(text)
        except EmosketchError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 200
        else:
            assert name and abs(sum(weights.values()) - 1) < 1e-9 and all(abs(w) <= 4 for w in weights.values())

    check()
