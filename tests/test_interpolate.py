"""Interpolation: easing, lerp/slerp, style blends, timelines, the agent model, rendering, videos
read back, packs with a transition per ordered pair, and the commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from emosketch.easing import EASINGS, ease, steps
from emosketch.errors import EmosketchError
from emosketch.export import Layout
from emosketch.frames import read_frames
from emosketch.interpolate.agent import CHANNELS, Agent, AgentConfig, parse_script, run_script
from emosketch.interpolate.paths import lerp, slerp
from emosketch.interpolate.timeline import parse_timeline, pose, transition

CLASSES = ["neutral", "happy", "sad", "surprise", "fear", "anger"]


# ---- easing and paths --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EASINGS))
def test_easing_ends_exactly_and_never_goes_back(name):
    t = np.linspace(0, 1, 1001)
    y = ease(name, t)
    assert y[0] == pytest.approx(0.0, abs=1e-12) and y[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(y) >= -1e-12)
    assert ease(name, [-0.5, 1.5]).tolist() == pytest.approx([0.0, 1.0])  # clipped outside [0, 1]
    assert len(steps(31, name)) == 31


def test_easing_shapes_differ_where_they_should():
    assert ease("linear", 0.25) == pytest.approx(0.25)
    assert ease("cosine", 0.5) == pytest.approx(0.5) and ease("smoothstep", 0.5) == pytest.approx(0.5)
    assert ease("sigmoid", 0.1) < ease("smoothstep", 0.1) < ease("linear", 0.1)  # slow start, sharpest for sigmoid
    with pytest.raises(EmosketchError, match="easing 'bounce'"):
        ease("bounce", 0.5)


def test_lerp_and_slerp_properties():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 16, generator=g), torch.randn(5, 16, generator=g)
    for fn in (lerp, slerp):
        assert torch.allclose(fn(a, b, 0.0), a, atol=1e-5) and torch.allclose(fn(a, b, 1.0), b, atol=1e-5)
    assert torch.allclose(lerp(a, b, 0.5), (a + b) / 2)
    # slerp of two unit vectors stays on the sphere and bisects the angle
    ua, ub = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    mid = slerp(ua, ub, torch.full((5,), 0.5))
    assert torch.allclose(mid.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose((mid * ua).sum(1), (mid * ub).sum(1), atol=1e-5)
    # parallel vectors (no great circle) fall back to lerp instead of dividing by zero
    assert torch.allclose(slerp(a, 2 * a, 0.5), 1.5 * a, atol=1e-5)
    assert torch.isfinite(slerp(torch.zeros(3), torch.ones(3), 0.3)).all()


# ---- timelines ---------------------------------------------------------------------------------

def test_timeline_frames_ends_loops_and_blends():
    plan = parse_timeline({"fps": 10, "loop": 2, "timeline": [
        {"emotion": "neutral", "hold": 0.5},
        {"to": "happy", "over": 0.3, "ease": "sigmoid", "intensity": 1.5},
        {"hold": 0.2},
        {"repeat": 2, "steps": [{"to": {"sad": 0.5, "surprise": 0.5}, "over": 0.2}, {"to": "neutral", "over": 0.1}]},
    ]}, CLASSES)
    per_pass = 5 + 3 + 2 + 2 * (2 + 1)
    assert len(plan) == 2 * per_pass and plan.fps == 10
    w = plan.poses()
    assert w[0].tolist() == pose(CLASSES, "neutral").tolist()
    assert w[7][CLASSES.index("happy")] == pytest.approx(1.5)  # the move ends exactly on its (exaggerated) target
    assert w[11][CLASSES.index("sad")] == pytest.approx(0.5) and w[11][CLASSES.index("surprise")] == pytest.approx(0.5)
    assert np.all(np.diff(plan.t[5:8]) > 0)
    simple = transition(CLASSES, "neutral", "happy", 31, "sigmoid", hold=6)
    assert len(simple) == 37 and simple.t[0] == 0 and np.all(simple.t[30:] == 1)


@pytest.mark.parametrize("timeline, message", [
    ([{"hold": 1.0}], "entry 1: a hold needs an emotion first"),
    ([{"emotion": "neutral"}, {"to": "joyful", "over": 1}], "entry 2: emotion 'joyful' is not one of the model's"),
    ([{"emotion": "neutral"}, {"to": "happy", "ovr": 1}], "entry 2: unknown key 'ovr'"),
    ([{"emotion": "neutral"}, {"to": "happy", "ease": "bounce"}], "entry 2: ease 'bounce'"),
    ([{"emotion": "neutral", "hold": -1}], "entry 1: hold must be a finite number >= 0"),
    ([{"emotion": "neutral", "hold": float("inf")}], r"got inf \(YAML reads a number too large for a float, such as "
                                                     r"1e400, as infinity\)"),
    ([{"emotion": "neutral"}, {"repeat": 0, "steps": []}], "entry 2: repeat must be a whole number"),
    ([{"emotion": "neutral", "to": "happy"}], "entry 1: give emotion"),
    ("neutral", "expected a list of steps"),
    ({"fps": 0, "timeline": [{"emotion": "sad"}]}, "fps must be a number from 0.02 to 240"),
])
def test_timeline_errors_name_the_entry_and_key(timeline, message):
    with pytest.raises(EmosketchError, match=message):
        parse_timeline(timeline, CLASSES)


# ---- the agent ---------------------------------------------------------------------------------

def test_agent_half_life_rise_and_rest():
    agent = Agent(AgentConfig(rise=0.0), CLASSES)
    assert agent.weights()["neutral"] == 1.0 and agent.dominant() is None
    agent.stimulate("joy", 0.8)
    assert agent.level["joy"] == pytest.approx(0.8)
    agent.step(AgentConfig().half_life["joy"])
    assert agent.level["joy"] == pytest.approx(0.4)
    w = agent.weights()
    assert sum(w.values()) == pytest.approx(1.0) and w["happy"] == pytest.approx(0.4) and w["neutral"] == pytest.approx(0.6)
    for _ in range(200):
        agent.step(1.0)
    assert agent.weights()["neutral"] == pytest.approx(1.0, abs=1e-3)
    # with a rise time the stimulus arrives over the next frames, not at once
    slow = Agent(AgentConfig(rise=0.2), CLASSES)
    slow.stimulate("sad", 1.0)
    levels = []
    for _ in range(6):
        slow.step(0.1)
        levels.append(slow.level["sad"])
    assert 0 < levels[0] < levels[1] < levels[2] and levels[0] < 0.5


def test_agent_refuses_a_time_step_or_classes_that_would_go_wrong_quietly():
    """A NaN step made every level NaN (the face an even blend); a string of classes became one-letter emotions; a
    rest the model lacks was dropped with no word."""
    agent = Agent(AgentConfig(rise=0.0), CLASSES)
    agent.stimulate("joy", 1.0)
    for dt in (float("nan"), float("inf"), -1.0, "0.1", None):
        with pytest.raises(EmosketchError, match="dt is a finite number of seconds"):
            agent.step(dt)
    agent.step(np.float32(0.1))  # a numpy number is a number
    assert agent.dominant() == "joy" and np.isfinite(list(agent.level.values())).all()
    with pytest.raises(EmosketchError, match="classes is a list of emotion names"):
        Agent(AgentConfig(), "happy")
    odd = Agent(AgentConfig(rest="bogus"), CLASSES)
    assert any("rest 'bogus' is not an emotion of the model" in line for line in odd.report())
    assert not any(line.startswith("rest") for line in Agent(AgentConfig(), CLASSES).report())


def test_strong_stimulus_overthrows_the_dominant_emotion_weak_one_blends():
    agent = Agent(AgentConfig(rise=0.0), CLASSES)
    agent.stimulate("joy", 1.0)
    agent.stimulate("fear", 0.3)  # weak: joy stays dominant and keeps its level
    assert agent.dominant() == "joy" and agent.level["joy"] == pytest.approx(1.0)
    agent.stimulate("mad", 0.6)  # strong: joy is knocked down, anger takes over
    assert agent.dominant() == "mad" and agent.level["joy"] == pytest.approx(0.25)
    w = agent.weights()
    assert max(w, key=w.get) == "anger"


def test_unmatched_channels_are_reported_not_dropped():
    agent = Agent(AgentConfig(emotions={**AgentConfig().emotions, "power": "contempt"}), ["neutral", "happy", "sad"])
    assert set(agent.unmatched) == {"fear", "mad", "surprise", "power"}
    assert any("'power' maps to 'contempt'" in line for line in agent.report())
    sadness = Agent(AgentConfig(), ["neutral", "sad"])  # no happy: no smirk either
    assert any("'power' maps to 'contempt or smirk'" in line for line in sadness.report())
    agent.stimulate("fear", 1.0)  # it still moves the state, which the plot shows
    agent.step(0.5)
    assert agent.level["fear"] > 0 and agent.weights()["neutral"] == 1.0


def test_a_channel_shows_a_blend_or_the_first_look_the_model_can_draw():
    six = ["neutral", "happy", "sad", "surprise", "fear", "anger"]
    power = ["contempt", {"happy": 0.5, "anger": 0.5}]  # contempt where the model has it, else the blend
    agent = Agent(AgentConfig(rise=0.0, emotions={**AgentConfig().emotions, "power": power}), six)
    assert agent.report() == []  # every channel shows on the shipped model's six emotions
    assert agent.shows["power"] == (("anger", 0.5), ("happy", 0.5))
    agent.stimulate("power", 0.8)
    w = agent.weights()
    assert w["happy"] == pytest.approx(0.4) and w["anger"] == pytest.approx(0.4) and w["neutral"] == pytest.approx(0.2)
    assert agent.emotion_levels()["anger 0.5 + happy 0.5"] == pytest.approx(0.8)
    # a model with contempt shows it, the first option
    eight = Agent(AgentConfig(rise=0.0, emotions={"power": power}), six + ["contempt"])
    eight.stimulate("power", 1.0)
    assert eight.shows["power"] == (("contempt", 1.0),) and eight.weights()["contempt"] == pytest.approx(1.0)
    # a blend is normalised, and it shares the face with a plain emotion by level ** sharpness
    mixed = Agent(AgentConfig(rise=0.0, emotions={"joy": "happy", "power": {"happy": 1, "anger": 3}}), six)
    mixed.stimulate("joy", 0.4)
    mixed.stimulate("power", 0.4)  # under the overthrow: the two looks share the face equally
    w = mixed.weights()
    assert w["happy"] == pytest.approx(0.2 + 0.05) and w["anger"] == pytest.approx(0.15)
    assert w["neutral"] == pytest.approx(0.6) and sum(w.values()) == pytest.approx(1.0)
    assert mixed.channel_for("happy") == "joy" and mixed.channel_for("anger") is None
    lacking = Agent(AgentConfig(emotions={"power": power}), ["neutral", "happy", "sad"])
    assert any("'power' maps to 'contempt or anger 0.5 + happy 0.5'" in line for line in lacking.report())
    for bad, message in [({"power": {"happy": -1}}, "weight of 'happy' must be a positive number"),
                         ({"power": {"happy": float("nan")}}, "positive number"),
                         ({"power": []}, "an empty list"), ({"power": {}}, "expected an emotion, a blend"),
                         ({"power": [3]}, "expected an emotion, a blend")]:
        with pytest.raises(EmosketchError, match=message):
            AgentConfig(emotions=bad)


def test_script_runs_frame_by_frame_and_errors_name_the_stimulus():
    script = parse_script({"fps": 10, "duration": 3, "agent": {"rise": 0.0},
                           "stimuli": [{"t": 0.5, "channel": "joy", "amount": 0.9},
                                       {"t": 1.5, "channel": "sad", "amount": 0.9}]})
    trace = run_script(script, CLASSES)
    assert len(trace.times) == 30 and trace.levels.shape == (30, len(CHANNELS))
    assert np.allclose(trace.weights.sum(1), 1.0)
    assert trace.dominant[4] is None and trace.dominant[5] == "joy" and trace.dominant[15] == "sad"
    for data, message in [
        ({"stimuli": [{"t": 1, "channel": "glee", "amount": 1}]}, "stimulus 1: unknown channel 'glee'"),
        ({"stimuli": [{"t": 1, "channel": "joy"}]}, "stimulus 1: missing key 'amount'"),
        ({"stimuli": [{"t": -1, "channel": "joy", "amount": 1}]}, "stimulus 1: t must be a number >= 0"),
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": 1}], "agent": {"half_life": {"joy": 0}}},
         "half_life.joy"),
        ({"stimuli": [], "fps": 12}, "non-empty list"),
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": 1}], "speed": 2}, "unknown key 'speed'"),
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": float("nan")}]}, "amount must be a number"),
        ({"stimuli": [{"t": float("inf"), "channel": "joy", "amount": 1}]}, "t must be a number"),
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": 1}], "fps": 1e9}, "fps must be a number from 0.02 to"),
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": 1}], "duration": float("inf")}, "duration must be"),
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": 1}], "duration": 1e7}, "frames, more than 20,000"),
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": 5}]}, "amount must be from -1.5 to 1.5"),
        ({"stimuli": [{"t": 12, "channel": "joy", "amount": 1}], "duration": 10}, "at 12 s is at or after the end"),
        # the file and the value were missing ("agent: rise >= 0, ceiling > 0, ...")
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": 1}], "agent": {"rise": -1}},
         r"^s\.yaml: agent\.rise must be >= 0, got -1(\.0)?$"),
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": 1}], "agent": {"overthrow_keep": 2}},
         r"^s\.yaml: agent\.overthrow_keep must be from 0 to 1, got 2(\.0)?$"),
        ({"stimuli": [{"t": 1, "channel": "joy", "amount": 1}], "agent": {"emotions": {"glee": "happy"}}},
         r"^s\.yaml: agent: unknown channel 'glee'"),
    ]:
        with pytest.raises(EmosketchError, match=message):
            parse_script(data, "s.yaml")


# ---- rendering with a trained generator --------------------------------------------------------

@pytest.fixture(scope="module")
def renderer(generator):
    from emosketch.interpolate.render import Renderer

    return Renderer(generator, "cpu", batch=8, mean_samples=64)


def test_blend_gives_each_emotion_its_code_and_intensity_scales_from_the_anchor(renderer):
    bank = renderer.bank
    codes = bank.codes(seed=3)
    eye = np.eye(len(bank.classes))
    assert torch.allclose(bank.blend(eye, codes), codes, atol=1e-5)
    anchor = bank.anchor(codes)
    happy = bank.classes.index("happy")
    k2 = bank.blend(eye[happy:happy + 1] * 2.0, codes)[0]
    assert torch.allclose(k2, anchor + 2 * (codes[happy] - anchor), atol=1e-5)
    assert torch.allclose(bank.codes(seed=3, psi=0.0), bank.means)  # full truncation is the mean style


def test_batched_rendering_equals_one_by_one(renderer, synthetic):
    face = renderer.source(data=synthetic, index=0)
    plan = transition(renderer.classes, "neutral", "happy", 9)
    codes = renderer.plan_codes(plan, mode="slerp")
    a, b = renderer.render(face, codes), renderer.render(face, codes, batch=1)
    assert a.shape == (9, 32, 32) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    z = renderer.plan_codes(plan, space="z", seed_to=5)
    assert z.shape == codes.shape and torch.isfinite(z).all()
    # each setting that would be ignored is refused: z space with no other seed, a seed_to in style space
    for space, seed_to, words in (("z", None, "--space z moves the latent"), ("z", 0, "another seed"),
                                  ("style", 5, "--seed-to moves the latent")):
        with pytest.raises(EmosketchError, match=words):
            renderer.plan_codes(plan, space=space, seed_to=seed_to)


def test_videos_read_back_with_their_frame_count_and_fps(renderer, synthetic, tmp_path):
    from emosketch.frames import Frames
    from emosketch.interpolate.render import write_outputs

    face = renderer.source(data=synthetic, index=1)
    plan = transition(renderer.classes, "sad", "surprise", 12, fps=8.0, hold=3)
    frames = Frames(renderer.render(face, renderer.plan_codes(plan)), plan.fps, plan.marks("t"))
    outs = [tmp_path / "t.gif", tmp_path / "t.mp4", tmp_path / "t.npz", tmp_path / "side.gif"]
    write_outputs(frames, outs[:3], view_side=64)
    write_outputs(frames, outs[3:], view_side=64, original=face.original)
    for path in outs:
        back = read_frames(path)
        assert len(back) == 15 and back.fps == pytest.approx(8.0, rel=0.02), path
    assert read_frames(outs[2]).frames.shape == (15, 32, 32)  # npz keeps the model's pixels
    assert read_frames(outs[3]).frames.shape[1:] == (68, 2 * 64 + 16 + 132)  # source | sketch | OLED at 1:1, framed


def test_pack_has_an_idle_loop_and_a_transition_per_ordered_pair_and_verifies(generator, synthetic, tmp_path):
    from emosketch.export import manifest
    from emosketch.export.layout import apply_layout
    from emosketch.export.pack import dither_sequences
    from emosketch.export.panel import PANEL, Panel, draw
    from emosketch.interpolate.animate import FaceSource, PackSpec, face_pack

    emotions = ["neutral", "happy", "sad", "anger"]
    res = face_pack(generator, PackSpec(tmp_path / "pack", tuple(emotions), transition_frames=4, idle_frames=3,
                                        frames_out=tmp_path / "frames.npz"),
                    face=FaceSource(data=synthetic, index=2), device="cpu")
    n = len(emotions)
    assert res.transitions == n * (n - 1)
    m = json.loads((tmp_path / "pack" / "manifest.json").read_text())
    names = [s["name"] for s in m["sequences"]]
    assert sorted(names) == sorted([f"idle_{e}" for e in emotions] +
                                   [f"{a}_to_{b}" for a in emotions for b in emotions if a != b])
    assert m["emotions"]["names"] == emotions
    bits, _ = manifest.read(tmp_path / "pack")  # decodes frames.bin with the reference decoder
    assert bits.shape == (n * 3 + n * (n - 1) * 4, 64, 128)
    # bit for bit what the rendered frames look like on the panel
    kept = read_frames(tmp_path / "frames.npz")  # idle loops breathe in zoom: their frames carry it
    layout = Layout(**m["settings"]["layout"])  # the panel drawing: the whole face, 1:1
    assert layout == PANEL.layout
    zooms = [mk.get("zoom", 1.0) for mk in kept.marks]
    spans = [slice(s["first_frame"], s["first_frame"] + s["frame_count"]) for s in m["sequences"]]
    grays = [apply_layout(kept.frames[at], layout, zooms[at]) for at in spans]
    joined = dither_sequences(names, grays, PANEL.dither)  # the stable dither's history meets where sequences join
    for at, seq_bits in zip(spans, joined):
        assert np.array_equal(bits[at], seq_bits)
        assert (bits[at] != draw(kept.frames[at], Panel(layout, PANEL.dither), zooms[at])).mean() < 0.1  # near each alone
    assert m["pen"] == 1  # strokes as drawn, not thinned
    for name in ("pack.h", "emosketch_player.py", "index.html", "index.bin"):
        assert (tmp_path / "pack" / name).exists()


# ---- the commands ------------------------------------------------------------------------------

def test_interpolate_agent_and_pack_commands(generator, synthetic, tmp_path):
    from click.testing import CliRunner

    from emosketch.cli import cli

    def run(*args):
        return CliRunner().invoke(cli, [str(a) for a in args])

    (tmp_path / "tl.yaml").write_text("fps: 6\ntimeline:\n  - {emotion: neutral, hold: 0.5}\n"
                                      "  - {to: happy, over: 1.0, ease: sigmoid}\n")
    r = run("interpolate", "--checkpoint", generator, "--data", synthetic, "--timeline", tmp_path / "tl.yaml",
            "--out", tmp_path / "t.gif", "--out", tmp_path / "t.npz", "--side-by-side", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "9 frames at 6 fps" in r.output and len(read_frames(tmp_path / "t.npz")) == 9
    (tmp_path / "s.yaml").write_text("fps: 5\nduration: 2\nstimuli:\n  - {t: 0.2, channel: joy, amount: 0.9}\n")
    r = run("agent", "--checkpoint", generator, "--data", synthetic, "--script", tmp_path / "s.yaml",
            "--out", tmp_path / "a.gif", "--plot", tmp_path / "a.png", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert len(read_frames(tmp_path / "a.gif")) == 10 and (tmp_path / "a.png").stat().st_size > 1000
    r = run("pack", "--checkpoint", generator, "--data", synthetic, "--emotions", "happy,sad",
            "--transition-frames", 3, "--idle-frames", 2, "--out", tmp_path / "p", "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert "2 idle loops and 2 transitions" in r.output and "verified bit for bit" in r.output
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    from dataclasses import asdict

    from emosketch.export.panel import PANEL
    assert m["settings"]["dither"] == asdict(PANEL.dither)  # the CLI's defaults are the panel drawing's
    # the panel's codec is ctx, but 10 small frames are smaller in the byte codecs than with ctx's 2 KB model
    assert m["codec"] == "auto" and "model outweighs what it saves on 10 frames: codec auto" in r.output
    r = run("pack", "--checkpoint", generator, "--data", synthetic, "--emotions", "happy,sad", "--codec", "ctx",
            "--transition-frames", 3, "--idle-frames", 2, "--out", tmp_path / "pctx", "--device", "cpu")
    assert r.exit_code == 0, r.output
    m = json.loads((tmp_path / "pctx" / "manifest.json").read_text())
    assert m["codec"] == "ctx" and {f["codec"] for f in m["frames"]} == {"ctx-key", "ctx"}  # named: kept
    # the count pack prints is the manifest's total, told apart as pack.h's frame bytes and the codec's model
    assert f"{m['total_bytes']} bytes (frames {m['frame_data_bytes']} + context model {m['model_bytes']}; " in r.output
    for args, codec, note in [(["--codec", "auto"], "auto", False), (["--size", "90x30", "--format", "gfx"], "auto", True)]:
        r = run("pack", "--checkpoint", generator, "--data", synthetic, "--emotions", "happy,sad", *args,
                "--transition-frames", 3, "--idle-frames", 2, "--out", tmp_path / f"p{codec}{note}", "--device", "cpu")
        assert r.exit_code == 0, r.output
        m = json.loads((tmp_path / f"p{codec}{note}" / "manifest.json").read_text())
        assert m["codec"] == codec and not {f["codec"] for f in m["frames"]} & {"ctx-key", "ctx"}
        assert ("the context codec needs whole 8x8 blocks, and a 90x30 gfx frame is not" in r.output) == note
    r = run("pack", "--checkpoint", generator, "--data", synthetic, "--emotions", "happy,sad", "--dither",
            "floyd-steinberg", "--transition-frames", 3, "--idle-frames", 2, "--out", tmp_path / "fs", "--device", "cpu")
    assert r.exit_code == 0, r.output  # the stable default is for the dithers that can hold still
    assert json.loads((tmp_path / "fs" / "manifest.json").read_text())["settings"]["dither"]["stable"] is False
    for args, message in [
        (["interpolate", "--checkpoint", generator, "--data", synthetic, "--out", tmp_path / "x.gif"],
         "give --timeline FILE, or --from EMOTION and --to EMOTION"),
        (["interpolate", "--checkpoint", generator, "--data", synthetic, "--from", "neutral", "--to", "smug",
          "--out", tmp_path / "x.gif"], "'smug' is not one of the model's"),
        (["agent", "--checkpoint", generator, "--input", tmp_path / "missing.png", "--script", tmp_path / "s.yaml",
          "--out", tmp_path / "x.gif"], "missing.png"),
        (["pack", "--checkpoint", generator, "--data", synthetic, "--emotions", "happy,smug", "--out", tmp_path / "q"],
         "smug"),
    ]:
        r = run(*args)
        assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1


def test_outputs_that_would_overwrite_each_other_are_refused_before_any_work(generator, synthetic, tmp_path):
    """agent --plot over its own --out GIF had written a PNG into agent.gif with exit 0; an --out named twice
    wrote one file twice."""
    from click.testing import CliRunner

    from emosketch.cli import cli
    from emosketch.interpolate.animate import AgentSpec, FaceSource, agent_video

    (tmp_path / "s.yaml").write_text("fps: 5\nduration: 1\nstimuli:\n  - {t: 0.2, channel: joy, amount: 0.9}\n")
    base = ["agent", "--checkpoint", str(generator), "--data", str(synthetic), "--script", str(tmp_path / "s.yaml")]
    for extra, words in (
            (["--out", str(tmp_path / "a.gif"), "--plot", str(tmp_path / "a.gif")], "a plot is a PNG"),
            (["--plot", str(tmp_path / "a.txt")], "name it .png"),
            (["--out", str(tmp_path / "a.gif"), "--out", str(tmp_path / "x" / ".." / "a.gif")], "is named twice")):
        r = CliRunner().invoke(cli, base + extra)
        assert r.exit_code == 2 and words in r.output, r.output
    assert not list(tmp_path.glob("a.*")) and not (tmp_path / "x").exists()
    with pytest.raises(EmosketchError, match="both the plot and an output"):
        agent_video(generator, AgentSpec(tmp_path / "s.yaml", (str(tmp_path / "p.png"),), tmp_path / "p.png"),
                    face=FaceSource(data=synthetic, index=0), device="cpu")


def test_export_of_a_packs_frames_draws_the_pack_bit_for_bit(generator, synthetic, tmp_path, monkeypatch):
    """export's defaults are the panel drawing's: the gray frames a pack keeps (--frames-out) export to
    the very pack it shows, sequences, zoom breath and stable dither included."""
    from click.testing import CliRunner

    from emosketch.cli import cli
    from emosketch.export import manifest

    r = CliRunner().invoke(cli, ["pack", "--checkpoint", str(generator), "--data", str(synthetic), "--emotions",
                                 "happy,sad", "--transition-frames", "3", "--idle-frames", "4", "--out",
                                 str(tmp_path / "p"), "--frames-out", str(tmp_path / "f.npz"), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    import re
    from pathlib import Path

    examples = re.search(r"next: copy pack\.h, .* with an example from (\S+) \(", r.output)  # a pip user's way there
    assert examples and (Path(examples.group(1)) / "serial_emotions" / "serial_emotions.ino").exists()
    r = CliRunner().invoke(cli, ["export", str(tmp_path / "f.npz"), "--out", str(tmp_path / "e"), "--verify"])
    assert r.exit_code == 0, r.output
    # the pack's folder exists now: the same command again is refused before anything is drawn (it had drawn
    # every frame first, 10-30 s)
    import emosketch.interpolate.animate as animate

    def drawn(*a, **k):
        raise AssertionError("drew before refusing")

    monkeypatch.setattr(animate, "open_renderer", drawn)
    again = CliRunner().invoke(cli, ["pack", "--checkpoint", str(generator), "--data", str(synthetic), "--emotions",
                                     "happy,sad", "--out", str(tmp_path / "p"), "--device", "cpu"])
    assert again.exit_code == 1 and "already exists (pass --force" in again.output
    (packed, m_pack), (exported, m_export) = manifest.read(tmp_path / "p"), manifest.read(tmp_path / "e")
    assert np.array_equal(packed, exported) and packed.any() and not packed.all()
    assert m_export["settings"] == m_pack["settings"] and m_export["codec"] == m_pack["codec"]  # the smaller alike
    assert [s["name"] for s in m_export["sequences"]] == [s["name"] for s in m_pack["sequences"]]


def test_long_jobs_count_every_frame_drawn_on_a_progress_bar(generator, synthetic, tmp_path, monkeypatch):
    """pack, interpolate and agent show a bar over the frames the generator draws: it reaches its
    total exactly (an agent's smirk frames are drawn twice, and counted twice) and is closed."""
    import emosketch.progress as prog
    from emosketch.interpolate import animate as job
    from emosketch.interpolate.animate import AgentSpec, FaceSource, PackSpec, TransitionSpec

    bars = []

    class Bar:
        def __init__(self, total, desc, enabled):
            self.total, self.desc, self.enabled, self.n, self.closed = total, desc, enabled, 0, False
            bars.append(self)

        def update(self, n=1):
            self.n += n

        def close(self):
            self.closed = True

    monkeypatch.setattr(prog, "progress", lambda total, desc, unit, enabled, **kw: Bar(total, desc, enabled))
    face = FaceSource(data=synthetic, index=1)
    job.face_pack(generator, PackSpec(tmp_path / "p", ("neutral", "happy", "sad"), transition_frames=2,
                                      idle_frames=2), face=face, device="cpu", batch=4, show_progress=True)
    job.transition_video(generator, TransitionSpec((str(tmp_path / "t.npz"),), start="neutral", end="happy", frames=5),
                     face=face, device="cpu", batch=4, show_progress=True)
    (tmp_path / "s.yaml").write_text("fps: 5\nduration: 2\nagent: {emotions: {power: smirk}}\n"
                                     "stimuli:\n  - {t: 0.2, channel: power, amount: 0.9}\n")
    job.agent_video(generator, AgentSpec(tmp_path / "s.yaml", (str(tmp_path / "a.npz"),)), face=face,
                    device="cpu", batch=4, show_progress=True)
    assert [b.total for b in bars][:2] == [3 * 2 + 6 * 2, len(read_frames(tmp_path / "t.npz"))]
    assert bars[2].total > len(read_frames(tmp_path / "a.npz"))  # the smirk's frames, drawn twice
    assert all(b.n == b.total and b.closed and b.desc == "drawing" and b.enabled for b in bars)
    bars.clear()
    job.face_pack(generator, PackSpec(tmp_path / "q", ("neutral", "happy"), transition_frames=2, idle_frames=2),
                  face=face, device="cpu")
    assert [b.enabled for b in bars] == [False]  # a library call shows no bar unless asked


def test_a_short_job_off_a_terminal_writes_no_progress_lines():
    import io

    from emosketch.progress import LogProgress

    now, stream = [0.0], io.StringIO()
    bar = LogProgress(372, "drawing", "frame", stream=stream, clock=lambda: now[0], final=False)
    for _ in range(12):
        now[0] += 1.5
        bar.update(31)
    bar.close()
    assert stream.getvalue() == ""  # 18 s: under the first line's 30 s, and no closing line for it
    bar = LogProgress(372, "drawing", "frame", stream=stream, clock=lambda: now[0], final=False)
    for _ in range(12):
        now[0] += 3.0
        bar.update(31)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("drawing: 372/372 frame (100%)")


def test_every_idle_loop_moves_and_pack_takes_the_face_framing(generator, synthetic, tmp_path):
    from click.testing import CliRunner

    from emosketch.cli import cli
    from emosketch.export import manifest

    res = CliRunner().invoke(cli, ["pack", "--checkpoint", str(generator), "--data", str(synthetic), "--index", "1",
                                   "--emotions", "neutral,happy", "--idle-frames", "6", "--transition-frames", "3",
                                   "--mode", "face", "--thin", "--size", "128x32", "--framing", "eyes",
                                   "--device", "cpu", "--out", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert m["display"]["width"] == 128 and m["display"]["height"] == 32
    assert m["settings"]["layout"]["framing"] == "eyes" and m["settings"]["layout"]["box"] is not None
    # Every idle loop moves on the panel, neutral's too: the loop breathes in zoom. (The stable thinning
    # holds a stroke's skeleton while it moves less than its own width, and this 32 px test generator
    # draws blurred strokes several pixels wide on the panel, so its breath here is wider than the
    # default 4%.)
    res = CliRunner().invoke(cli, ["pack", "--checkpoint", str(generator), "--data", str(synthetic), "--index", "1",
                                   "--emotions", "neutral,happy", "--idle-frames", "6", "--transition-frames", "3",
                                   "--zoom-breath", "0.15", "--device", "cpu", "--out", str(tmp_path / "full")])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "full" / "manifest.json").read_text())
    bits, _ = manifest.read(tmp_path / "full")
    for s in m["sequences"]:
        if s["name"].startswith("idle_"):
            loop = bits[s["first_frame"]:s["first_frame"] + s["frame_count"]]
            assert len({f.tobytes() for f in loop}) > 1, s["name"]


def test_timeline_zoom_pushes_in_with_a_move_and_the_agent_zoom_follows_arousal():
    from emosketch.interpolate.agent import parse_script, run_script
    from emosketch.interpolate.timeline import parse_timeline

    classes = ["neutral", "happy", "surprise"]
    plan = parse_timeline({"fps": 10, "timeline": [{"emotion": "neutral", "hold": 0.5},
                                                   {"to": "surprise", "over": 1.0, "zoom": 1.5, "ease": "linear"},
                                                   {"to": "neutral", "over": 1.0, "zoom": 1.0}]}, classes)
    z = np.array([m["zoom"] for m in plan.marks()])
    assert z[:5].tolist() == [1.0] * 5 and z[14] == pytest.approx(1.5) and z[-1] == pytest.approx(1.0)
    assert np.all(np.diff(z[5:15]) > 0) and np.all(np.diff(z[15:]) <= 0)  # a push in, then a pull back
    assert "zoom" not in parse_timeline([{"emotion": "happy"}], classes).marks()[0]
    with pytest.raises(EmosketchError, match="zoom"):
        parse_timeline([{"emotion": "happy", "zoom": -1}], classes)

    script = parse_script({"fps": 12, "duration": 8, "zoom": 0.4,
                           "stimuli": [{"t": 0.5, "channel": "surprise", "amount": 1.0}]})
    trace = run_script(script, classes)
    zoom = np.array([m["zoom"] for m in trace.marks()])
    peak = int(zoom.argmax())
    assert zoom[0] == 1.0 and zoom[peak] > 1.15 and peak > 6  # a slow push while surprise rises
    assert zoom[-1] < zoom[peak]  # and back as it fades
    assert "zoom" not in run_script(parse_script({"stimuli": script.stimuli and
                                                  [{"t": 0, "channel": "joy", "amount": 1}]}), classes).marks()[0]


def test_pack_sequences_draw_every_emotion_at_the_pack_intensity():
    """sequences(intensity=k) draws the idle loops around k and the transitions between poses at k
    (the shipped model: a strong code visibly draws more than the plain one)."""
    from emosketch.interpolate.pack import sequences
    from emosketch.interpolate.render import Renderer
    from emosketch.interpolate.timeline import pose
    from emosketch.models import default_generator, demo_photo

    r = Renderer(default_generator(), "cpu")
    face = r.source(image=demo_photo())
    at = {k: sequences(r, face, ["neutral", "happy"], 2, 1, zoom_breath=0.0, intensity=k) for k in (1.0, 1.5)}
    codes = r.bank.codes(0, 1.0)
    strong = r.render(face, r.bank.blend(pose(r.classes, "happy", 1.5)[None], codes))[0]
    happy = [i for i, m in enumerate(at[1.5].marks) if m["sequence"] == "idle_happy"][0]
    # a one-frame idle loop sits at the intensity itself (up to one gray level of float rounding: the pack
    # renders its frames in a batch, this one alone)
    assert np.abs(at[1.5].frames[happy].astype(int) - strong).max() <= 1
    assert (np.abs(at[1.0].frames[happy].astype(int) - strong) > 64).mean() > 0.01
    with pytest.raises(EmosketchError, match="intensity"):
        sequences(r, face, ["neutral", "happy"], intensity=0)


def test_with_mouth_takes_the_face_below_the_nose_from_the_other_pose():
    """with_mouth: everything below the nose (mouth, jaw) comes from the other frames, the eyes and brows
    from the frames, with a soft seam across the whole width; the same frames give them back exactly."""
    from emosketch.interpolate.render import mouth_mask, with_mouth

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (2, 64, 64), dtype=np.uint8)
    b = rng.integers(0, 256, (2, 64, 64), dtype=np.uint8)
    out = with_mouth(a, b)
    assert out.dtype == np.uint8 and out.shape == a.shape
    assert np.array_equal(out[:, :37], a[:, :37])  # eyes, brows, nose: the base pose
    assert np.array_equal(out[:, 43:], b[:, 43:])  # mouth and jaw, across the whole width: the other pose
    assert np.array_equal(with_mouth(a, a), a)
    m = mouth_mask(64)
    assert (m == m[:, :1]).all() and 0 < m[40, 0] < 1  # the same in every column; soft at the seam
    with pytest.raises(EmosketchError, match="with_mouth"):
        with_mouth(a, b[:1])


def test_one_sided_takes_the_lower_right_from_the_side_pose():
    """one_sided: the drawing's lower right (the face's left mouth corner and cheek) comes from the side
    frames, its left half and everything above the mouth from the frames; a soft seam between; the same
    frames on both sides give the frames back exactly; stacks of other shapes are one line."""
    from emosketch.interpolate.render import one_sided, side_mask

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (3, 64, 64), dtype=np.uint8)
    b = rng.integers(0, 256, (3, 64, 64), dtype=np.uint8)
    out = one_sided(a, b)
    assert out.dtype == np.uint8 and out.shape == a.shape
    assert np.array_equal(out[:, :, :28], a[:, :, :28])  # the drawing's left half: the base pose
    assert np.array_equal(out[:, :30], a[:, :30])  # above the mouth (eyes, brows): the base pose
    assert np.array_equal(out[:, 40:, 40:], b[:, 40:, 40:])  # the lower right: the side pose
    assert np.array_equal(one_sided(a, a), a)
    m = side_mask(64)
    assert m.min() == 0 and m.max() == 1 and 0 < m[37, 32] < 1  # a soft seam through the mouth's middle
    with pytest.raises(EmosketchError, match="one_sided"):
        one_sided(a, b[:2])


def test_power_shows_as_a_smirk_on_a_model_without_contempt():
    """The default power look: contempt where the model has it, else a smirk: the face at rest (its share
    drawn as neutral) with one mouth corner smiling by that share (Agent.smirk); run_script carries it."""
    six = ["neutral", "happy", "sad", "surprise", "fear", "anger"]
    agent = Agent(AgentConfig(rise=0.0), six)
    assert agent.report() == [] and agent.shows["power"] == (("smirk", 1.0),)
    assert agent.smirk() == 0.0
    agent.stimulate("power", 0.6)
    w = agent.weights()
    assert set(w) == set(six) and w["neutral"] == pytest.approx(1.0) and sum(w.values()) == pytest.approx(1.0)
    assert agent.smirk() == pytest.approx(0.6)
    agent.stimulate("joy", 0.3)  # a weak joy shares the face with the smirk by level ** sharpness
    share = 0.6 * 0.36 / (0.36 + 0.09)
    assert agent.smirk() == pytest.approx(share) and agent.weights()["happy"] == pytest.approx(0.6 - share)
    assert Agent(AgentConfig(rise=0.0), six + ["contempt"]).shows["power"] == (("contempt", 1.0),)
    script = parse_script({"fps": 10, "duration": 1.0, "stimuli": [{"t": 0.5, "channel": "power", "amount": 1.0}]})
    trace = run_script(script, six)
    assert trace.smirk is not None and trace.smirk[0] == 0 and trace.smirk[-1] > 0.5
    assert "smirk" in trace.marks()[-1] and "smirk" not in trace.marks()[0]
    assert run_script(parse_script([{"t": 0, "channel": "joy", "amount": 1.0}]), six).smirk is None


def test_render_weights_draws_the_smirk_on_one_side_only(renderer, synthetic, monkeypatch):
    """Renderer.render_weights: without a smirk, render(weight_codes); with one, the frame's lower right
    is the face with that much neutral moved to happy, the rest the frame without it."""
    import torch

    from emosketch.interpolate.render import one_sided

    r, src = renderer, renderer.source(data=synthetic, index=0)
    w = np.zeros((2, len(r.classes)))
    w[:, r.classes.index("neutral")] = 1.0
    plain = r.render(src, r.weight_codes(w))
    assert np.array_equal(r.render_weights(src, w), plain)
    assert np.array_equal(r.render_weights(src, w, np.zeros(2)), plain)
    calls = []

    def spy(source, codes, batch=None):  # the base frames black, the smirking side white
        calls.append(codes)
        return np.full((len(codes), r.size, r.size), 255 if len(calls) > 1 else 0, np.uint8)

    monkeypatch.setattr(r, "render", spy)
    got = r.render_weights(src, w, np.array([0.0, 0.7]))
    side = w[1:].copy()
    side[0, r.classes.index("neutral")], side[0, r.classes.index("happy")] = 0.3, 0.7
    assert len(calls) == 2 and torch.allclose(calls[1], r.weight_codes(side))
    assert np.array_equal(got[0], np.zeros((r.size, r.size), np.uint8))
    assert np.array_equal(got[1], one_sided(np.zeros((1, r.size, r.size), np.uint8),
                                            np.full((1, r.size, r.size), 255, np.uint8))[0])
    with pytest.raises(EmosketchError, match="smirk"):
        r.render_weights(src, w, np.array([0.5, 1.5]))


def test_a_timeline_is_bounded_and_finite():
    """A timeline of {to: happy, over: 100000000} or fps 1e9 took 24 GB before it failed; a NaN weight drew
    blank frames with exit 0."""
    from emosketch.interpolate.timeline import MAX_FRAMES

    classes = ["neutral", "happy", "sad"]
    with pytest.raises(EmosketchError, match=f"runs past {MAX_FRAMES:,} frames"):
        parse_timeline([{"emotion": "neutral"}, {"to": "happy", "over": 100_000_000}], classes)
    with pytest.raises(EmosketchError, match="fps must be a number from 0.02 to 240"):
        parse_timeline({"fps": 1e9, "timeline": [{"emotion": "neutral", "hold": 1}]}, classes)
    for bad in ({"hold": float("nan")}, {"hold": float("inf")}, {"to": {"happy": 1.0, "sad": float("nan")}}):
        with pytest.raises(EmosketchError, match="must be a (finite )?number"):
            parse_timeline([{"emotion": "neutral"}, bad], classes)
    for bad, words in (({"to": "happy", "intensity": 50}, "intensity must be at most 3"),  # the face all ink
                       ({"to": {"happy": 0, "sad": 0}}, "a blend needs a weight other than 0"),
                       ({"to": {"happy": 1e9}}, "from -4 to 4"),
                       ({"to": {"happy": 2, "sad": 1.5}}, "add up to its strength.* is 3.5; at most 3"),
                       ({"to": {"happy": 1, "sad": -1}, "intensity": 2}, "at intensity 2 is 4; at most 3")):
        with pytest.raises(EmosketchError, match=words):
            parse_timeline([{"emotion": "neutral"}, bad], classes)
    assert parse_timeline([{"emotion": "neutral"}, {"to": {"happy": 1.5, "sad": 1.5}}], classes).b[-1].tolist() == \
        [0.0, 1.5, 1.5]  # weights add up; at 3 the bound itself is allowed
    assert len(parse_timeline([{"emotion": "neutral", "hold": (MAX_FRAMES - 1) / 12}], classes, 12).t) == MAX_FRAMES - 1
    with pytest.raises(EmosketchError, match="20,000 frames at most"):
        transition(classes, "neutral", "happy", 31, hold=MAX_FRAMES)
    with pytest.raises(EmosketchError, match="fps must be a number from 0.02 to 240, got nan"):
        transition(classes, "neutral", "happy", 31, fps=float("nan"))
    for bad in (float("inf"), float("nan"), 0, -2, 3.5):  # 0 drew every frame as no emotion, -2 an anti-happy face
        with pytest.raises(EmosketchError, match="intensity must be a number above 0 and at most 3"):
            transition(classes, "neutral", "happy", 31, intensity=bad)
    with pytest.raises(EmosketchError, match="intensity must be above 0"):  # a step of intensity 0: no emotion
        parse_timeline([{"emotion": "neutral", "intensity": 0}, {"to": "happy", "intensity": 0}], classes)
    with pytest.raises(EmosketchError, match="classes is a list of the model's emotion names"):
        transition("neutral,happy", "neutral", "happy", 31)
    for frames, hold in ((5.5, 0), (31, 2.5), ("31", 0), (31, True)):
        with pytest.raises(EmosketchError, match="is a whole number of frames"):
            transition(classes, "neutral", "happy", frames, hold=hold)
    with pytest.raises(EmosketchError, match=f"runs past {MAX_FRAMES:,} frames"):
        parse_timeline([{"emotion": "neutral", "hold": 1e308}], classes)  # had been an OverflowError


def test_a_timeline_that_draws_nothing_still_ends_at_once():
    """loop: 1000000000 over no steps ran for minutes, nested repeats of nothing for hours, and a YAML alias
    that holds itself ended in a RecursionError: steps visited are bounded, and so is nesting."""
    import time

    import yaml

    from emosketch.interpolate.timeline import MAX_NESTING, MAX_STEPS

    classes = ["neutral", "happy", "sad"]
    started = time.monotonic()
    for timeline in ({"loop": 1_000_000_000, "timeline": []},
                     [{"emotion": "happy"}, {"repeat": 100_000, "steps": [{"repeat": 100_000, "steps": []}]}],
                     [{"repeat": 1_000_000_000, "steps": [{"emotion": "happy"}, {"emotion": "sad"}, {"repeat": 1, "steps": []}]}]):
        with pytest.raises(EmosketchError, match=f"visits more than {MAX_STEPS:,} steps"):
            parse_timeline(timeline, classes)
    assert time.monotonic() - started < 60  # each stops after MAX_STEPS visits (about a second), not hours
    itself = yaml.safe_load("timeline: &t [{emotion: happy, hold: 1}, {repeat: 1, steps: *t}]")
    with pytest.raises(EmosketchError, match=f"nested more than {MAX_NESTING} deep"):
        parse_timeline(itself, classes)
    deep: list = [{"emotion": "happy", "hold": 0.1}]
    for _ in range(5000):
        deep = [{"repeat": 1, "steps": deep}]
    with pytest.raises(EmosketchError, match="nested more than"):
        parse_timeline(deep, classes)
    with pytest.raises(EmosketchError, match=r"ease \[1\]: expected one of"):
        parse_timeline([{"emotion": "neutral"}, {"to": "happy", "ease": [1]}], classes)
    nested = [{"emotion": "neutral"}] + [{"repeat": 2, "steps": [{"to": "happy", "over": 0.1},
                                                                {"to": "neutral", "over": 0.1}]}]
    assert len(parse_timeline(nested, classes, 10).t) == 1 + 2 * 2  # real repeats still play


def test_the_cli_and_the_library_agree_on_the_frame_bound():
    from emosketch import cli
    from emosketch.frames import MAX_FRAMES as READ_MAX
    from emosketch.interpolate.timeline import MAX_FRAMES

    assert cli.MAX_FRAMES == MAX_FRAMES == READ_MAX


def test_every_frame_rate_check_is_one_range():
    from emosketch import cli
    from emosketch.export.pack import MIN_FPS
    from emosketch.interpolate.timeline import MAX_FPS, check_draw_fps

    assert (cli.FPS.min, cli.FPS.max) == (MIN_FPS, MAX_FPS)
    for good in (MIN_FPS, 12, MAX_FPS):
        check_draw_fps(good)
    for bad in (MIN_FPS / 2, MAX_FPS + 1, float("nan"), True, "12", None):
        with pytest.raises(EmosketchError, match="in.yaml: fps must be a number from 0.02 to 240"):
            check_draw_fps(bad, "in.yaml")


def test_a_seed_past_what_a_generator_takes_is_one_line():
    from emosketch.gan.networks import z_codes

    assert z_codes([0, 2**63 - 1], 4).shape == (2, 4)
    with pytest.raises(EmosketchError, match="seed 9223372036854775808"):
        z_codes([2**63], 4)
    with pytest.raises(EmosketchError, match="seed -1"):
        z_codes([-1], 4)


def test_an_agent_left_alone_for_an_hour_rests_rather_than_dividing_by_zero():
    """A level decayed to 1e-300 is above 0 but its power underflows to 0: a 3,000 s script of one stimulus
    was a ZeroDivisionError."""
    agent = Agent(classes=["neutral", "happy", "sad", "surprise", "fear", "anger"])
    agent.stimulate("joy", 0.8)
    for _ in range(3000):
        agent.step(1.0)
    w = agent.weights()
    assert w["neutral"] == pytest.approx(1.0) and sum(w.values()) == pytest.approx(1.0)


def test_a_scripts_channel_settings_change_those_channels_and_keep_the_others():
    """`agent: {emotions: {joy: surprise}}` had replaced the whole table: every other channel lost its emotion
    and the face showed nothing for them."""
    from emosketch.interpolate.agent import AgentConfig

    script = parse_script({"agent": {"emotions": {"joy": "surprise"}, "half_life": {"sad": 9.0}},
                           "stimuli": [{"t": 0, "channel": "sad", "amount": 1}]})
    defaults = AgentConfig()
    assert script.agent.emotions == {**defaults.emotions, "joy": "surprise"}
    assert script.agent.half_life == {**defaults.half_life, "sad": 9.0}


def test_the_renderer_refuses_counts_codes_and_faces_that_draw_nothing_or_black(renderer, generator):
    """batch -1 had returned no frames, NaN codes (mean_samples 0, a NaN psi) all-black frames, and a 10 px or
    float sketch was drawn as it was; each without an error."""
    from emosketch.interpolate.render import Renderer, Source

    for batch, mean_samples in ((-1, 64), (0, 64), (2.5, 64), (8, 0), (8, -5)):
        with pytest.raises(EmosketchError, match="must be a whole number from 1"):
            Renderer(generator, "cpu", batch=batch, mean_samples=mean_samples)
    s = renderer.size
    face = Source(np.full((s, s), 255, np.uint8), np.full((s, s), 255, np.uint8), "paper")
    codes = renderer.bank.codes(0)
    dim = codes.shape[1]
    assert renderer.render(face, codes[:2]).shape == (2, s, s)
    for bad in (torch.full((2, dim), float("nan")), torch.zeros(3, dim + 1), torch.zeros(dim), codes[:2].double().numpy(),
                torch.zeros(2, dim, dtype=torch.long)):
        with pytest.raises(EmosketchError, match="style codes"):
            renderer.render(face, bad)
    for sketch in (np.zeros((10, 10), np.uint8), np.zeros((s, s)), None):
        with pytest.raises(EmosketchError, match=r"the face must be a Source"):
            renderer.render(Source(sketch, None, "x"), codes[:1])
    with pytest.raises(EmosketchError, match="batch must be"):
        renderer.render(face, codes[:1], batch=-1)


def test_a_face_from_an_array_of_any_kind_of_picture(renderer):
    """A BGR array (cv2.imread's) had failed with 'too many values to unpack', a float [0, 1] one in an OpenCV
    assertion, and kind='cartoon' was read as a photo."""
    import cv2

    from emosketch.datasets.synthetic import random_identity, render

    gray = render(random_identity(seed=3), "happy", 1.0, 96)
    from_gray = renderer.source(image=gray)
    for picture in (cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), gray.astype(np.float32) / 255.0, gray[..., None]):
        assert np.array_equal(renderer.source_from_gray(picture).sketch, from_gray.sketch)
    for bad in (np.zeros((0, 0), np.uint8), np.zeros((8, 8, 2), np.uint8), np.zeros(8, np.uint8), "face.png"):
        with pytest.raises(EmosketchError, match="the picture must be an image array"):
            renderer.source_from_gray(bad)
    with pytest.raises(EmosketchError, match="kind 'cartoon': expected one of auto, photo, sketch"):
        renderer.source(image=gray, kind="cartoon")


def test_the_agent_asks_a_pack_for_one_emotion_at_a_time():
    """A pack's players show one emotion at a time: requested() is the one to ask for. A strong stimulus that
    overthrows another goes straight to its emotion (argmax of the weights had passed through neutral)."""
    emotions = ["neutral", "happy", "sad", "anger"]
    agent = Agent(AgentConfig(), classes=emotions)
    asked = [agent.requested(emotions)]
    agent.stimulate("joy", 0.8)
    for _ in range(3):
        agent.step(0.1)
        asked.append(agent.requested(emotions))
    agent.stimulate("mad", 0.9)  # overthrows joy
    for _ in range(3):
        asked.append(agent.requested(emotions))
        agent.step(0.1)
    assert asked[0] == "neutral" and asked[1:4] == ["happy"] * 3 and asked[4:] == ["anger"] * 3
    for _ in range(300):
        agent.step(0.5)
    assert agent.requested(emotions) == "neutral"  # faded back to rest
    small = ["neutral", "happy"]  # a pack without the emotion: the rest
    other = Agent(AgentConfig(), classes=small)
    other.stimulate("mad", 1.0)
    other.step(0.2)
    assert other.requested(small) == "neutral"
    other.stimulate("joy", 0.4)  # too weak to overthrow anger, but the pack can show it: it gives the face
    other.step(0.3)
    assert other.dominant() == "mad" and other.requested(small) == "happy"
    weak = Agent(AgentConfig(), classes=small)
    weak.stimulate("joy", 0.1)
    weak.step(0.5)
    assert weak.requested(small) == "neutral" and weak.requested(small, threshold=0.01) == "happy"
    with pytest.raises(EmosketchError, match="the pack's list of emotion names"):
        agent.requested("happy")


def test_a_timeline_keeps_the_length_written():
    """Each step was rounded to whole frames on its own: forty 1.5-frame moves took 2 frames each, and a timeline
    written as 10.125 s ran 13.5 s (0.1 s steps at 12 fps ran 17% short). The frames now follow the timeline's
    clock: steps take 2 and 1 frames in turn, and the whole ends within half a frame of what was written."""
    for fps, step, repeats in ((12, 0.125, 40), (12, 0.1, 50), (25, 0.3, 20), (10, 0.5, 3)):
        plan = parse_timeline({"fps": fps, "timeline": [
            {"emotion": "neutral", "hold": step},
            {"repeat": repeats, "steps": [{"to": "happy", "over": step}, {"to": "neutral", "over": step}]},
        ]}, CLASSES)
        written = step * (1 + 2 * repeats) * fps
        assert abs(len(plan) - written) <= 0.5 + 1e-9, (fps, step, len(plan), written)
        w = plan.poses()[:, CLASSES.index("happy")]
        assert w.max() == pytest.approx(1.0)  # every move still ends on its target: some frame is fully happy
    # a step shorter than a frame still shows, and a cut with no hold is one frame, as before
    plan = parse_timeline({"fps": 12, "timeline": [{"emotion": "neutral"}, {"to": "happy", "over": 0.01}]}, CLASSES)
    assert len(plan) == 2 and plan.poses()[-1][CLASSES.index("happy")] == pytest.approx(1.0)
    # ease names are read as emotion names are, whatever their case
    plan = parse_timeline([{"emotion": "Neutral"}, {"to": "happy", "over": 0.5, "ease": "Sigmoid"}], CLASSES)
    assert len(plan) == 7


def test_the_agent_module_docstring_shows_what_the_agent_does():
    """Its example said 0.2 / 0.8 after one step, where the agent gives 0.749 / 0.251 (joy still rising)."""
    import re

    import emosketch.interpolate.agent as agent_module
    from emosketch.interpolate.agent import Agent, AgentConfig

    said = [(float(n), float(h)) for n, h in re.findall(r'"neutral": ([0-9.]+)\.\.\., "happy": ([0-9.]+)\.\.\.',
                                                        agent_module.__doc__)]
    agent = Agent(AgentConfig(), classes=["neutral", "happy", "sad", "surprise", "fear", "anger"])
    agent.stimulate("joy", 0.8)
    seen = []
    for count in (1, 11):
        for _ in range(count):
            agent.step(1 / 12)
        w = agent.weights()
        seen.append((w["neutral"], w["happy"]))
    assert len(said) == 2 and all(abs(a - b) < 1e-3 for s, v in zip(said, seen) for a, b in zip(s, v)), (said, seen)


def test_a_channel_mapped_to_a_misspelt_emotion_names_the_models_emotions_and_the_closest():
    """agent.emotions {joy: exstatic} said only that the model lacks 'exstatic'; a near miss now gets its
    likely emotion, and every such line lists the model's emotions."""
    agent = Agent(AgentConfig(emotions={**AgentConfig().emotions, "joy": "hapy", "love": "exstatic"}), CLASSES)
    lines = agent.report()
    assert any(line.startswith("channel 'joy' maps to 'hapy' (did you mean 'happy'?), which the model (neutral, ")
               for line in lines), lines
    assert any(line.startswith("channel 'love' maps to 'exstatic', which the model (") for line in lines), lines


def test_a_generator_that_draws_no_emotion_is_said_to(generator, synthetic, tmp_path, monkeypatch):
    """demo --train --steps 200 drew 37 byte-identical frames for neutral -> happy, and said nothing."""
    from emosketch.interpolate import animate as job
    from emosketch.interpolate.animate import STILL, FaceSource, TransitionSpec, still
    from emosketch.interpolate.render import Renderer

    face = FaceSource(data=synthetic, index=1)
    spec = TransitionSpec((str(tmp_path / "t.npz"),), start="neutral", end="happy", frames=5)
    moving = job.transition_video(generator, spec, face=face, device="cpu", batch=4)
    frames = read_frames(tmp_path / "t.npz").frames
    assert (STILL in moving.notes) == bool((frames == frames[0]).all())
    monkeypatch.setattr(Renderer, "render", lambda self, src, codes: np.full((len(codes), 32, 32), 200, np.uint8))
    flat = job.transition_video(generator, TransitionSpec((str(tmp_path / "u.npz"),), start="neutral", end="happy",
                                                          frames=5), face=face, device="cpu", batch=4)
    assert STILL in flat.notes
    assert not still(np.zeros((4, 8, 8), np.uint8), np.zeros((4, 3)))  # a held pose drawn still is as asked


def test_an_agent_frame_shows_the_state_at_its_own_time(tmp_path):
    """Frames were one step ahead: at 1 fps the frame at t=3 of a stimulus at t=3 (rise 0.2 s) was already 0.71
    happy. A stimulus now lands at its own t, between frames too."""
    from emosketch.interpolate.agent import load_script, run_script

    (tmp_path / "s.yaml").write_text("fps: 1\nduration: 5\nstimuli:\n  - {t: 3, channel: joy, amount: 0.9}\n")
    happy = run_script(load_script(tmp_path / "s.yaml"), CLASSES).weights[:, CLASSES.index("happy")]
    assert happy[3] == 0 and happy[4] > 0.5
    # a stimulus between two frames has risen for the time since it landed, not for a whole frame or none
    (tmp_path / "b.yaml").write_text("fps: 10\nduration: 1\nstimuli:\n  - {t: 0.55, channel: joy, amount: 0.9}\n")
    (tmp_path / "c.yaml").write_text("fps: 20\nduration: 1\nstimuli:\n  - {t: 0.55, channel: joy, amount: 0.9}\n")
    at_10 = run_script(load_script(tmp_path / "b.yaml"), CLASSES).weights[6, CLASSES.index("happy")]  # t = 0.6
    at_20 = run_script(load_script(tmp_path / "c.yaml"), CLASSES).weights[12, CLASSES.index("happy")]  # t = 0.6
    assert 0 < at_10 == pytest.approx(at_20, abs=1e-9)


def test_a_moves_zero_time_is_refused_in_plain_words():
    with pytest.raises(EmosketchError, match="entry 2: over must be a finite number above 0, got 0"):
        parse_timeline([{"emotion": "neutral"}, {"to": "happy", "over": 0}], CLASSES)
