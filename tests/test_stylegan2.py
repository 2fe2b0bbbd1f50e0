"""StyleGAN2-ADA interop: the official fixtures (../shared/stylegan2, skipped when absent) through
emosketch's own loader and networks, hostile pickles refused with nothing run, the weights-only
round trip, the CLI, and the emotion morphs in the interpolate stack."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from emosketch.cli import cli
from emosketch.errors import EmosketchError
from emosketch.gan.stylegan2 import StyleGAN2, load_stylegan2, open_stylegan2
from emosketch.gan.stylegan2.jobs import parse_seeds
from emosketch.gan.stylegan2.snapshot import read_snapshot

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "stylegan2"
NAMES = ["cond-gray-64", "uncond-rgb-32"]
needs_fixtures = pytest.mark.skipif(not (FIXTURES / "cond-gray-64.pkl").exists(),
                                    reason=f"StyleGAN2-ADA fixtures not found at {FIXTURES}")


# ---- against the official code's outputs ---------------------------------------------------------

@needs_fixtures
@pytest.mark.parametrize("name", NAMES)
def test_mapping_and_synthesis_match_the_official_outputs(name):
    G = load_stylegan2(FIXTURES / f"{name}.pkl")
    settings = json.loads((FIXTURES / f"{name}.json").read_text())
    assert (G.z_dim, G.c_dim, G.w_dim, G.num_ws, G.img_resolution, G.img_channels) == (
        settings["z_dim"], settings["c_dim"], settings["w_dim"], settings["num_ws"], settings["resolution"],
        settings["img_channels"])
    ref = np.load(FIXTURES / f"{name}.expected.npz")
    z, c = torch.from_numpy(ref["z"]), torch.from_numpy(ref["c"])
    assert torch.equal(G.latents(settings["seeds"]), z)  # the seeds' z, as generate.py draws them
    with torch.no_grad():
        for psi, key in ((1.0, "psi1"), (0.7, "psi07")):
            ws = G.mapping(z, c, truncation_psi=psi)
            np.testing.assert_allclose(ws.numpy(), ref[f"ws_{key}"], atol=1e-4, rtol=0)
            img = G.synthesis(torch.from_numpy(ref[f"ws_{key}"]), noise_mode="const")
            np.testing.assert_allclose(img.numpy(), ref[f"img_{key}_const"], atol=1e-4, rtol=0)
        img = G.synthesis(torch.from_numpy(ref["ws_psi1"]), noise_mode="none")
        np.testing.assert_allclose(img.numpy(), ref["img_psi1_none"], atol=1e-4, rtol=0)
        full = G(z, c, truncation_psi=0.7, noise_mode="const")
        np.testing.assert_allclose(full.numpy(), ref["img_psi07_const"], atol=1e-4, rtol=0)
        # random noise is noise: two draws differ, and neither is the const image
        a, b = G.synthesis(torch.from_numpy(ref["ws_psi1"]), "random"), G.synthesis(torch.from_numpy(ref["ws_psi1"]), "random")
        assert not torch.equal(a, b)


@needs_fixtures
def test_the_snapshot_keeps_networks_as_inert_records():
    snap = read_snapshot(FIXTURES / "cond-gray-64.pkl")
    assert snap["G_ema"].class_name == "Generator" and snap["D"].class_name == "Discriminator"
    assert snap["augment_pipe"].class_name == "AugmentPipe"
    assert snap["G_ema"].source_chars > 1000  # the stored source is there, and was never run
    assert snap["training_set_kwargs"]["resolution"] == 64


# ---- hostile pickles -------------------------------------------------------------------------------

@pytest.fixture
def persistence(monkeypatch):
    """A stand-in for torch_utils.persistence, so a test can write pickles that name its hook."""
    mod = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # what NVIDIA's loader does: exec the stored source
        ns = {}
        exec(compile(meta["module_src"], "<payload>", "exec"), ns)
        return ns

    _reconstruct_persistent_obj.__module__ = mod.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
    pkg = types.ModuleType("torch_utils")
    pkg.persistence = mod
    monkeypatch.setitem(sys.modules, "torch_utils", pkg)
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", mod)
    return mod


class _Persistent:
    def __init__(self, fn, meta):
        self.fn, self.meta = fn, meta

    def __reduce__(self):
        return self.fn, (self.meta,)


def _payload(sentinel: Path) -> str:
    return f"import pathlib\npathlib.Path({str(sentinel)!r}).write_text('the payload ran')\n"


def _write(path: Path, obj) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=4))
    return path


def test_a_persistent_class_with_a_payload_is_refused_and_nothing_runs(tmp_path, persistence):
    sentinel = tmp_path / "ran.txt"
    meta = {"type": "class", "version": 6, "module_src": _payload(sentinel), "class_name": "Payload",
            "state": {"_init_kwargs": {}}}
    path = _write(tmp_path / "evil.pkl", {"G_ema": _Persistent(persistence._reconstruct_persistent_obj, meta)})
    with pytest.raises(EmosketchError, match="'Payload' is not a StyleGAN2-ADA network class"):
        load_stylegan2(path)
    assert not sentinel.exists()
    pickle.loads(path.read_bytes())  # the naive loader runs it: the payload is real
    assert sentinel.read_text() == "the payload ran"


@needs_fixtures
def test_a_real_generator_whose_stored_source_is_a_payload_loads_without_running_it(tmp_path, persistence):
    """The stored module source is never executed: a snapshot whose source was swapped for a
    payload still rebuilds from its constructor arguments and state, and nothing runs."""
    sentinel = tmp_path / "ran.txt"
    snap = read_snapshot(FIXTURES / "uncond-rgb-32.pkl")

    def rewrap(rec):
        state = dict(rec.state)
        state["_modules"] = {k: rewrap(v) for k, v in rec.children().items()}
        return _Persistent(persistence._reconstruct_persistent_obj,
                           {"type": "class", "version": 6, "module_src": _payload(sentinel),
                            "class_name": rec.class_name, "state": state})

    path = _write(tmp_path / "swapped.pkl", {"G_ema": rewrap(snap["G_ema"])})
    G = load_stylegan2(path)
    assert not sentinel.exists()
    ref = np.load(FIXTURES / "uncond-rgb-32.expected.npz")
    with torch.no_grad():
        img = G.synthesis(torch.from_numpy(ref["ws_psi1"]), noise_mode="const")
    np.testing.assert_allclose(img.numpy(), ref["img_psi1_const"], atol=1e-4, rtol=0)


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        import os

        return os.system, (self.command,)


class _Eval:
    def __reduce__(self):
        return eval, ("1 + 1",)


def test_an_unknown_global_is_refused_before_it_runs(tmp_path):
    sentinel = tmp_path / "ran.txt"
    path = _write(tmp_path / "system.pkl", {"G_ema": _System(f"touch {sentinel}")})
    with pytest.raises(EmosketchError, match=r"global (posix|os)\.system"):
        load_stylegan2(path)
    assert not sentinel.exists()
    with pytest.raises(EmosketchError, match=r"global builtins\.eval"):
        load_stylegan2(_write(tmp_path / "eval.pkl", {"G_ema": _Eval()}))
    subprocess.run([sys.executable, "-c", f"import pickle; pickle.load(open({str(path)!r}, 'rb'))"], check=True)
    assert sentinel.exists()  # the naive loader runs it: the payload is real


def test_a_storage_whose_bytes_hide_a_pickle_payload_is_refused(tmp_path):
    """Tensor storages are bytes that torch loads; here they are loaded weights_only."""
    sentinel = tmp_path / "ran.txt"
    hidden = pickle.dumps(_System(f"touch {sentinel}"), protocol=2)

    class _Storage:
        def __reduce__(self):
            return torch.storage._load_from_bytes, (hidden,)

    path = _write(tmp_path / "storage.pkl", {"G_ema": _Storage()})
    with pytest.raises(EmosketchError, match="storage holds more than data"):
        load_stylegan2(path)
    assert not sentinel.exists()


@pytest.mark.parametrize("data,match", [
    (b"", "not a readable network pickle"),
    (b"\x80\x04junk", "not a readable network pickle"),
    (pickle.dumps({"G": 1}), "no G_ema"),
    (pickle.dumps([1, 2]), "no G_ema"),
])
def test_files_that_are_not_snapshots_get_one_line(tmp_path, data, match):
    path = tmp_path / "x.pkl"
    path.write_bytes(data)
    with pytest.raises(EmosketchError, match=match):
        load_stylegan2(path)


# ---- emosketch's own format --------------------------------------------------------------------------

@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_every_architecture_builds_and_round_trips_exactly(tmp_path, architecture):
    torch.manual_seed(0)
    G = StyleGAN2(z_dim=16, c_dim=3, w_dim=16, img_resolution=32, img_channels=1,
                  mapping_kwargs={"num_layers": 2},
                  synthesis_kwargs={"channel_base": 256, "channel_max": 16, "architecture": architecture,
                                    "num_fp16_res": 2, "conv_clamp": 256},
                  class_names=["neutral", "happy", "sad"])
    assert G.num_ws == 8  # 1 conv at 4 px, 2 per upsampling block, 1 for the last ToRGB
    z, c = G.latents([0, 1]), G.labels("happy", 2)
    path = G.save(tmp_path / "g.pt")
    back = StyleGAN2.load(path)
    assert back.class_names == ["neutral", "happy", "sad"] and back.describe()["fp16_blocks"] == [16, 32]
    for (k, a), (k2, b) in zip(G.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    with torch.no_grad():
        a, b = G(z, c, noise_mode="const"), back(z, c, noise_mode="const")
    assert a.shape == (2, 1, 32, 32) and torch.equal(a, b)
    loaded = torch.load(path, weights_only=True)  # data only
    assert loaded["format"] == "emosketch-stylegan2"


@needs_fixtures
def test_a_converted_snapshot_round_trips_exactly(tmp_path):
    G = load_stylegan2(FIXTURES / "cond-gray-64.pkl")
    back = StyleGAN2.load(G.save(tmp_path / "cond.pt"))
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), back.state_dict().values()))
    ref = np.load(FIXTURES / "cond-gray-64.expected.npz")
    with torch.no_grad():
        img = back.synthesis(torch.from_numpy(ref["ws_psi07"]), noise_mode="const")
    np.testing.assert_allclose(img.numpy(), ref["img_psi07_const"], atol=1e-4, rtol=0)
    assert type(open_stylegan2(tmp_path / "cond.pt")) is StyleGAN2


def test_loading_a_foreign_file_as_a_converted_model_fails_in_one_line(tmp_path):
    torch.save({"format": "something-else", "version": 1}, tmp_path / "x.pt")
    with pytest.raises(EmosketchError, match="not an emosketch-stylegan2 checkpoint"):
        StyleGAN2.load(tmp_path / "x.pt")


def test_classes_and_seeds_are_checked():
    G = StyleGAN2(z_dim=8, c_dim=2, w_dim=8, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    with pytest.raises(EmosketchError, match="give a class"):
        G.labels(None, 1)
    with pytest.raises(EmosketchError, match="have no names"):
        G.labels("happy", 1)
    with pytest.raises(EmosketchError, match="outside 0-1"):
        G.labels(5, 1)
    assert G.labels("1", 2).tolist() == [[0, 1], [0, 1]]
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    for bad in ("3-1", "x", "-5"):
        with pytest.raises(EmosketchError, match="seeds"):
            parse_seeds(bad)


# ---- the CLI and the interpolate stack -------------------------------------------------------------

@needs_fixtures
def test_cli_info_generate_convert_and_morph(tmp_path):
    runner = CliRunner()
    pkl = str(FIXTURES / "cond-gray-64.pkl")
    res = runner.invoke(cli, ["stylegan2", "info", "--model", pkl])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["snapshot"]["G_ema"] == "Generator"

    res = runner.invoke(cli, ["stylegan2", "generate", "--model", pkl, "--seeds", "0-3", "--class", "1",
                              "--psi", "0.7", "--out", str(tmp_path / "gen")])
    assert res.exit_code == 0, res.output
    out = np.load(tmp_path / "gen" / "outputs.npz")
    ref = np.load(FIXTURES / "cond-gray-64.expected.npz")
    np.testing.assert_allclose(out["z"], ref["z"])  # the same seeds give the official z
    assert out["images"].shape == (4, 1, 64, 64) and len(list((tmp_path / "gen").glob("seed*.png"))) == 4

    res = runner.invoke(cli, ["stylegan2", "generate", "--model", pkl, "--seeds", "0-1", "--out", str(tmp_path / "g2")])
    assert res.exit_code == 1 and "give a class" in res.output

    names = "neutral,happy,sad,surprise,fear,disgust,anger,contempt"
    res = runner.invoke(cli, ["stylegan2", "convert", "--model", pkl, "--classes", names, "--out", str(tmp_path / "c.pt")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["stylegan2", "generate", "--model", str(tmp_path / "c.pt"), "--seeds", "2",
                              "--class", "happy", "--sketch", "--out", str(tmp_path / "g3")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "g3" / "sketch" / "seed0002.png").exists()

    res = runner.invoke(cli, ["interpolate", "--checkpoint", str(tmp_path / "c.pt"), "--seed", "1", "--from", "neutral",
                              "--to", "happy", "--frames", "5", "--hold", "0", "--out", str(tmp_path / "t.npz")])
    assert res.exit_code == 0, res.output
    frames = np.load(tmp_path / "t.npz")["frames"]
    assert frames.shape == (5, 64, 64) and not np.array_equal(frames[0], frames[-1])

    res = runner.invoke(cli, ["pack", "--checkpoint", str(tmp_path / "c.pt"), "--emotions", "neutral,happy",
                              "--out", str(tmp_path / "pack")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "pack" / "manifest.json").exists()

    res = runner.invoke(cli, ["interpolate", "--checkpoint", pkl, "--from", "neutral", "--to", "happy",
                              "--out", str(tmp_path / "u.gif")])
    assert res.exit_code == 1 and "have no names" in res.output


def test_directions_find_what_the_reader_scores_and_moving_along_them_raises_it():
    """A random unconditional model, and a reader that calls bright faces happy and dark ones sad:
    the fitted happy direction must predict the held-out scores and, applied, brighten the faces
    so that more of them read happy; sad must do the opposite."""
    from emosketch.interpolate.stylegan import find_directions

    torch.manual_seed(3)
    G = StyleGAN2(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=1, mapping_kwargs={"num_layers": 2},
                  synthesis_kwargs={"channel_base": 128, "channel_max": 16}).eval()

    with torch.no_grad():
        calib = G(G.latents(range(1000, 1100)), None, noise_mode="const").mean(dim=(1, 2, 3))
    m0, s0 = float(calib.mean()), float(calib.std())

    def read(images):
        m = (images.float().mean(dim=(1, 2, 3)).numpy() - m0) / s0
        logits = np.stack([np.zeros_like(m), 2 * m, -2 * m], 1)
        e = np.exp(logits - logits.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    d = find_directions(G, read, ["neutral", "happy", "sad"], samples=400, batch=40, edit_faces=40,
                        strength=2.0, show_progress=False)
    happy, sad = d["scores"]["happy"], d["scores"]["sad"]
    assert happy["r"] > 0.6 and sad["r"] > 0.6
    assert happy["top_after"] > happy["top_before"] + 0.2
    assert sad["top_after"] > sad["top_before"] + 0.2
    assert d["vectors"].shape == (3, 16)
