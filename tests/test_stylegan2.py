"""StyleGAN2-ADA interop: the official fixtures (../shared/stylegan2, skipped when absent) through
emosketch's own loader and networks, hostile pickles refused with nothing run, the weights-only
round trip, the CLI, and the emotion morphs in the interpolate stack."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import STYLEGAN2

from emosketch.cli import cli
from emosketch.errors import EmosketchError
from emosketch.gan.stylegan2 import StyleGAN2, load_stylegan2, open_stylegan2
from emosketch.gan.stylegan2.jobs import parse_seeds
from emosketch.gan.stylegan2.snapshot import read_snapshot
from emosketch.models import default_generator

FIXTURES = STYLEGAN2
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


@needs_fixtures
def test_a_snapshot_whose_arguments_are_dnnlib_easydicts_loads(tmp_path, persistence, monkeypatch):
    """NVIDIA's train.py builds the networks from dnnlib.EasyDict keyword arguments, and persistence stores them
    as they are, so its snapshots (and its released ones) name dnnlib.util.EasyDict; it was refused as a global
    a snapshot does not need. It loads as a plain dict, and draws as before."""
    dnnlib, util = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")

    class EasyDict(dict):  # as dnnlib/util.py defines it
        def __getattr__(self, name):
            try:
                return self[name]
            except KeyError:
                raise AttributeError(name) from None

        def __setattr__(self, name, value):
            self[name] = value

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = dnnlib.EasyDict = EasyDict
    dnnlib.util = util
    monkeypatch.setitem(sys.modules, "dnnlib", dnnlib)
    monkeypatch.setitem(sys.modules, "dnnlib.util", util)
    snap = read_snapshot(FIXTURES / "uncond-rgb-32.pkl")

    def rewrap(rec, top):
        state = dict(rec.state)
        if top:
            kwargs = dict(state["_init_kwargs"])
            for key in ("mapping_kwargs", "synthesis_kwargs"):
                kwargs[key] = EasyDict(kwargs.get(key, {}))
            state["_init_kwargs"] = EasyDict(kwargs)
        state["_modules"] = {k: rewrap(v, False) for k, v in rec.children().items()}
        return _Persistent(persistence._reconstruct_persistent_obj,
                           {"type": "class", "version": 6, "module_src": "# never run\n",
                            "class_name": rec.class_name, "state": state})

    data = pickle.dumps({"G_ema": rewrap(snap["G_ema"], True),
                         "training_set_kwargs": EasyDict(resolution=32)}, protocol=4)
    assert b"dnnlib.util" in data and b"EasyDict" in data
    (tmp_path / "network-snapshot-000000.pkl").write_bytes(data)
    G = load_stylegan2(tmp_path / "network-snapshot-000000.pkl")
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
    with pytest.raises(EmosketchError, match=r"storage holds more than data; refused \(Trying to load unsupported GLOBAL "
                                             r"posix.system whose module posix is blocked.\)"):  # not torch's advice
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


# ---- the unpickler's allow-list: each global it resolves checks what it is given, in words ------------

class _Call:
    """Pickles as a call of `fn`, a global the unpickler resolves by its module and name, with `args`."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


_DROP = object()


def _meta(**changes) -> dict:
    """A persistent object's metadata as StyleGAN2-ADA stores it, with some entries changed or dropped."""
    meta = {"type": "class", "version": 6, "module_src": "pass\n", "class_name": "Generator",
            "state": {"_init_kwargs": {}}} | changes
    return {k: v for k, v in meta.items() if v is not _DROP}


def _refusal(path: Path) -> str:
    with pytest.raises(EmosketchError) as exc:
        read_snapshot(path)
    text = str(exc.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    return text.removeprefix(f"{path}: ")


NOT_A_NETWORK = "is not a StyleGAN2-ADA network class; refused"


@pytest.mark.parametrize("meta, words", [
    ([1, 2], "a persistent object's metadata is not a dict"),
    (_meta(type="function"), "persistent object of type 'function': only 'class' objects are read"),
    (_meta(type=_DROP), "persistent object of type None: only 'class' objects are read"),
    (_meta(class_name=_DROP), "a persistent object has no class name"),
    (_meta(class_name=7), "a persistent object has no class name"),
    (_meta(class_name="Payload"), f"persistent class 'Payload' {NOT_A_NETWORK}"),
    (_meta(class_name="SynthesisInput"),
     f"persistent class 'SynthesisInput' {NOT_A_NETWORK} (a StyleGAN3 network? only StyleGAN2-ADA snapshots are read)"),
    (_meta(class_name="SynthesisLayer3"),
     f"persistent class 'SynthesisLayer3' {NOT_A_NETWORK} (a StyleGAN3 network? only StyleGAN2-ADA snapshots are read)"),
    (_meta(state=None), "persistent object 'Generator' has no state dict or module source"),
    (_meta(module_src=None), "persistent object 'Generator' has no state dict or module source"),
    (_meta(module_src=b"pass"), "persistent object 'Generator' has no state dict or module source"),
])
def test_a_persistent_object_that_is_not_a_stylegan2_network_is_refused_in_words(tmp_path, persistence, meta, words):
    """The persistent-object hook, each refusal: the audit's mutants of these words and conditions
    (a module source that is not a string let through, the StyleGAN3 hint on every class) passed."""
    path = _write(tmp_path / "g.pkl", {"G_ema": _Call(persistence._reconstruct_persistent_obj, meta)})
    assert _refusal(path) == words


def test_a_persistent_object_is_kept_as_an_inert_record(tmp_path, persistence):
    from emosketch.gan.stylegan2.snapshot import Record

    state = {"_init_kwargs": {"z_dim": 4}, "_modules": {}}
    hook = persistence._reconstruct_persistent_obj
    path = _write(tmp_path / "g.pkl", {"G_ema": _Call(hook, _meta(state=state, version=_DROP)),
                                       "D": _Call(hook, _meta(class_name="Discriminator", version=3))})
    snap = read_snapshot(path)
    assert snap["G_ema"] == Record("Generator", 0, len("pass\n"), state)  # a missing version is 0
    assert snap["D"] == Record("Discriminator", 3, len("pass\n"), snap["D"].state)


def _saved(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _storage(t: torch.Tensor, device: str = "cpu") -> _Call:
    """A tensor's storage as a snapshot pickles it: its bytes in torch's legacy format, loaded by
    torch.storage._load_from_bytes; `device` is the device it says it was saved from."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TypedStorage is deprecated, and is what snapshots hold
        data = t.storage().__reduce__()[1][0]
    tag = device.encode()
    return _Call(torch.storage._load_from_bytes, data.replace(b"X\x03\0\0\0cpu", b"X" + bytes([len(tag), 0, 0, 0]) + tag))


STORAGE = _storage(torch.zeros(4))


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
@pytest.mark.parametrize("g_ema, words", [
    (_Call(torch.storage._load_from_bytes, "text"), "a tensor's storage is not stored as bytes"),
    (_Call(torch.storage._load_from_bytes, _saved(torch.zeros(2))),
     "a tensor's storage bytes hold a Tensor, not a typed storage"),
    (_Call(torch._utils._rebuild_tensor_v2, "text", 0, (2,), (1,)), "a tensor is built from something that is not a storage"),
    (_Call(torch._utils._rebuild_tensor_v2, STORAGE, 0, (2,), (1,), False, {"hook": 1}),
     "a tensor carries backward hooks; refused"),
    (_Call(torch._utils._rebuild_parameter, "text", True), "a parameter wraps something that is not a tensor"),
    (_Call(torch._utils._rebuild_parameter, _Call(torch._utils._rebuild_tensor_v2, STORAGE, 0, (2,), (1,)), True,
           {"hook": 1}), "a parameter carries backward hooks; refused"),
    (_Call(torch._utils._rebuild_tensor_v2, STORAGE, 0, (256, 256), (0, 0)),  # one value claimed 65,536 times
     "a tensor claims 65,536 values from a storage of 4; refused"),
    (_Call(np.dtype, 8), "a numpy dtype that is not named by a string; refused"),
    (_Call(np.dtype, "O"), "a numpy object dtype; refused"),
    (_Call(pickle.loads(pickle.dumps(np.float64(1.5)))  # the scalar global, as numpy pickles one
           .__reduce__()[0], "f8", b"\0" * 8), "a numpy scalar that is not plain numbers; refused"),
    (_Call(np.float64(1.5).__reduce__()[0], np.dtype("f8"), "text"), "a numpy scalar that is not plain numbers; refused"),
])
def test_each_global_of_the_allow_list_checks_what_it_is_given(tmp_path, g_ema, words):
    """Tensors, parameters, storages and numpy values rebuilt from what a hostile file gives them:
    anything but plain data is one line, before any of it is used."""
    assert _refusal(_write(tmp_path / "g.pkl", {"G_ema": g_ema})) == words


@pytest.mark.filterwarnings("ignore:TypedStorage is deprecated")
def test_the_allow_list_rebuilds_plain_tensors_parameters_and_numpy_values(tmp_path, persistence):
    """What the allowed globals give for sound input: a view of the storage at its offset, size and
    stride, and numpy scalars and dtypes from their bytes."""
    from emosketch.gan.stylegan2.snapshot import _rebuild_tensor

    storage = _storage(torch.arange(6, dtype=torch.float64))
    progress = {"tensor": _Call(torch._utils._rebuild_tensor_v2, storage, 1, (2, 2), (1, 2)),
                "from_a_gpu": _Call(torch._utils._rebuild_tensor_v2, _storage(torch.ones(2), "cuda:0"), 0, (2,), (1,)),
                "parameter": _Call(torch._utils._rebuild_parameter, _Call(torch._utils._rebuild_tensor_v2, storage, 0,
                                                                          (3,), (2,)), True),
                "scalar": np.float32(2.5), "dtype": np.dtype("<i2")}
    hook = persistence._reconstruct_persistent_obj
    snap = read_snapshot(_write(tmp_path / "g.pkl", {"G_ema": _Call(hook, _meta()), "progress": progress}))
    p = snap["progress"]
    assert torch.equal(p["tensor"], torch.tensor([[1.0, 3.0], [2.0, 4.0]], dtype=torch.float64))
    assert p["from_a_gpu"].device.type == "cpu" and torch.equal(p["from_a_gpu"], torch.ones(2))
    assert torch.equal(p["parameter"], torch.tensor([0.0, 2.0, 4.0]))
    assert p["scalar"] == np.float32(2.5) and p["scalar"].dtype == np.float32 and p["dtype"] == np.dtype("<i2")
    with pytest.raises(EmosketchError, match="^a tensor is built from a storage without a dtype$"):
        _rebuild_tensor(torch.UntypedStorage(8), 0, (2,), (1,))


def test_a_global_or_persistent_id_outside_the_allow_list_is_refused_in_words(tmp_path):
    path = tmp_path / "g.pkl"
    path.write_bytes(b"\x80\x02cos\nsystem\n)R.")
    assert _refusal(path) == ("the pickle asks for the global os.system, which a StyleGAN2-ADA snapshot does not "
                              "need; refused before anything ran")
    path.write_bytes(b"\x80\x02P1\n.")
    assert _refusal(path) == "the pickle uses persistent ids, which a StyleGAN2-ADA snapshot does not; refused"


def test_a_snapshot_without_a_stylegan2_generator_is_refused_in_words(tmp_path, persistence):
    hook = persistence._reconstruct_persistent_obj
    assert _refusal(tmp_path / "absent.pkl") == "no such snapshot file"
    (tmp_path / "empty.pkl").write_bytes(b"")
    assert _refusal(tmp_path / "empty.pkl") == "not a readable network pickle (EOFError: Ran out of input)"
    cases = [({"G_ema": 1}, "G_ema is not a StyleGAN2-ADA Generator"),
             ({"G_ema": _Call(hook, _meta(class_name="Discriminator"))}, "G_ema is not a StyleGAN2-ADA Generator"),
             ({"G_ema": _Call(hook, _meta()), "x": 1, "loss": 2}, "unexpected snapshot keys ['loss', 'x']")]
    for snap, words in cases:
        assert _refusal(_write(tmp_path / "g.pkl", snap)) == words


def _nested(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("progress, refused", [
    (list(range(9_999)), False), (list(range(10_000)), True),  # each list counts itself: 10,000 values at most
    (_nested(16), False), (_nested(17), True),
])
def test_a_plain_entry_is_bounded_at_10000_values_and_16_deep(tmp_path, persistence, progress, refused):
    path = _write(tmp_path / "g.pkl", {"G_ema": _Call(persistence._reconstruct_persistent_obj, _meta()),
                                       "progress": progress})
    if refused:
        assert _refusal(path) == ("its 'progress' entry holds more than 10,000 values (with its shared parts written "
                                  "out) or is nested deeper than 16; refused")
    else:
        assert read_snapshot(path)["progress"] == progress


# ---- the generator's build checks: each refusal in words ---------------------------------------------

CHECK_BASE = {"z_dim": 8, "c_dim": 0, "w_dim": 8, "img_resolution": 16, "img_channels": 1,
              "mapping_kwargs": {"num_layers": 2}, "synthesis_kwargs": {"channel_base": 256}}


@pytest.mark.parametrize("kwargs, words", [
    ([1], "G_ema: its constructor arguments are not a mapping"),
    (CHECK_BASE | {"foo": 1, "bar": 2}, "G_ema has constructor arguments this loader does not know: ['bar', 'foo']"),
    ({k: v for k, v in CHECK_BASE.items() if k != "z_dim"}, "G_ema lacks constructor arguments ['z_dim']"),
    (CHECK_BASE | {"z_dim": 0}, "G_ema z_dim = 0: expected a whole number from 1 to 4096"),
    (CHECK_BASE | {"mapping_kwargs": [1]}, "G_ema mapping_kwargs is not a mapping"),
    (CHECK_BASE | {"mapping_kwargs": {"foo": 1}}, "G_ema mapping_kwargs has keys this loader does not know: ['foo']"),
    (CHECK_BASE | {"mapping_kwargs": {"num_layers": 0}},
     "G_ema mapping_kwargs num_layers = 0: expected a whole number from 1 to 32"),
    (CHECK_BASE | {"synthesis_kwargs": {"channel_base": None}},  # only a *_features size may be None
     "G_ema synthesis_kwargs channel_base = None: expected a whole number from 1 to 262144"),
    (CHECK_BASE | {"synthesis_kwargs": {"resample_filter": [1] * 17}},
     "G_ema synthesis_kwargs.resample_filter = [1, 1, 1, 1, ...]: not a plain value"),
    (CHECK_BASE | {"synthesis_kwargs": {"resample_filter": ["a"]}},
     "G_ema synthesis_kwargs.resample_filter = ['a']: not a plain value"),
    (CHECK_BASE | {"synthesis_kwargs": {"architecture": {"a": 1}}},
     "G_ema synthesis_kwargs.architecture = {'a': 1}: not a plain value"),
])
def test_constructor_arguments_outside_what_the_generator_knows_are_refused_in_words(kwargs, words):
    from emosketch.gan.stylegan2.snapshot import checked_kwargs

    with pytest.raises(EmosketchError) as exc:
        checked_kwargs(kwargs)
    assert str(exc.value) == words
    with pytest.raises(EmosketchError, match="^file.pt"):
        checked_kwargs(kwargs, "file.pt")


def test_constructor_arguments_within_bounds_come_back_as_plain_python():
    from emosketch.gan.stylegan2.snapshot import Record, checked_kwargs, generator_kwargs

    out = checked_kwargs(CHECK_BASE | {"mapping_kwargs": {"embed_features": None, "lr_multiplier": np.float32(0.5)},
                                       "synthesis_kwargs": {"conv_clamp": np.int64(256), "resample_filter": [1] * 16}})
    assert out["mapping_kwargs"] == {"embed_features": None, "lr_multiplier": 0.5}
    assert type(out["mapping_kwargs"]["lr_multiplier"]) is float and type(out["synthesis_kwargs"]["conv_clamp"]) is int
    args = tuple(CHECK_BASE.values())  # all 7, positionally, as a snapshot may store them
    assert generator_kwargs(Record("Generator", 0, 0, {"_init_args": args})) == checked_kwargs(CHECK_BASE)
    with pytest.raises(EmosketchError) as exc:
        generator_kwargs(Record("Generator", 0, 0, {"_init_args": args + (1,)}))
    assert str(exc.value) == "G_ema has 8 positional constructor arguments; a Generator takes at most 7"


def _with(rec, path: tuple, class_name: str | None = None, **state):
    """`rec` with the record at `path` (submodule names) given a class name or state entries."""
    import dataclasses

    if path:
        children = rec.children()
        children[path[0]] = _with(children[path[0]], path[1:], class_name, **state)
        return dataclasses.replace(rec, state=rec.state | {"_modules": children})
    return dataclasses.replace(rec, class_name=class_name or rec.class_name, state=rec.state | state)


@needs_fixtures
def test_a_stored_network_that_does_not_match_its_build_is_refused_in_words():
    """uncond-rgb-32's G_ema, one stored submodule changed: its class, a plain attribute, a parameter's
    type, shape or name, a submodule that is not a network. Each is named by its path."""
    from emosketch.gan.stylegan2.snapshot import build_generator

    g = read_snapshot(FIXTURES / "uncond-rgb-32.pkl")["G_ema"]
    fc0 = g.children()["mapping"].children()["fc0"]
    weight, bias = fc0.state["_parameters"]["weight"], fc0.state["_parameters"]["bias"]
    mapping_children = g.children()["mapping"].children() | {"fc0": "text"}
    cases = [
        (_with(g, ("mapping",), "Discriminator"), "G_ema.mapping: stored as Discriminator, but this layout builds a MappingNetwork"),
        (_with(g, ("mapping",), w_dim=129), "G_ema.mapping.w_dim: stored 129, but its constructor arguments give 128"),
        (_with(g, ("mapping", "fc0"), _parameters={"weight": "text", "bias": bias}),
         "G_ema.mapping.fc0.weight: stored str, expected (128, 128)"),
        (_with(g, ("mapping", "fc0"), _parameters={"weight": torch.zeros(3), "bias": bias}),
         "G_ema.mapping.fc0.weight: stored (3,), expected (128, 128)"),
        (_with(g, ("mapping", "fc0"), _parameters={"weight": weight}),
         "G_ema.mapping.fc0: stored parameters ['weight'] but expected ['bias', 'weight']"),
        (_with(g, ("mapping",), _modules=mapping_children),
         "G_ema.mapping.fc0: a submodule that is not a persistent network object"),
    ]
    for rec, words in cases:
        with pytest.raises(EmosketchError) as exc:
            build_generator(rec)
        assert str(exc.value) == words
    G = build_generator(g)
    assert not any(p.requires_grad for p in G.parameters()) and not G.training


def test_stored_and_built_plain_values_are_compared_as_values():
    from emosketch.gan.stylegan2.snapshot import _same

    assert _same([1, (2.0, 3)], (1, [2.0 + 1e-12, 3])) and not _same([1], [1, 2]) and not _same([1, 2], [1, 3])
    assert not _same(1, [1]) and not _same([1], 1)
    assert _same(1, 1.0 + 1e-12) and _same(1.0 + 1e-12, 1) and _same(0.0, 1e-9) and not _same(0.0, 1.5e-9)
    assert _same(1e10, 1e10 + 5) and not _same(1e10, 1e10 + 20) and not _same(1.0, 1.5)
    assert not _same(1.0, None) and not _same(None, 1.0) and _same(None, None) and _same("skip", "skip")


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


@needs_fixtures
def test_weights_that_are_not_finite_or_claim_more_than_they_hold_are_refused_and_convert_writes_nothing(tmp_path):
    """A pickle with NaN weights drew blank faces with exit 0 (a converted file with them was refused), a
    converted file whose tensor repeats one value by strides of 0 built a model of 1.5 billion weights from
    22 KB, and convert wrote its output before reading it back: a failed read left it, and --force lost the
    good file it replaced."""
    from emosketch.gan.stylegan2 import jobs
    from emosketch.gan.stylegan2.snapshot import read_snapshot as read

    snap = read(FIXTURES / "uncond-rgb-32.pkl")
    weight = snap["G_ema"].children()["mapping"].children()["fc0"].state["_parameters"]["weight"]
    with torch.no_grad():
        weight[0, 0] = float("nan")
    from emosketch.gan.stylegan2 import from_snapshot

    with pytest.raises(EmosketchError, match="'mapping.fc0.weight' holds NaN or infinite values"):
        from_snapshot(snap, "nan.pkl")

    G = load_stylegan2(FIXTURES / "uncond-rgb-32.pkl")
    good = G.save(tmp_path / "good.pt")
    payload = torch.load(good, weights_only=True)
    const = payload["state_dict"]["synthesis.b4.const"]
    payload["state_dict"]["synthesis.b4.const"] = torch.zeros(1).expand(const.shape)  # strides of 0
    torch.save(payload, tmp_path / "stride0.pt")
    with pytest.raises(EmosketchError, match="synthesis.b4.const' claims .* values but its storage holds 1"):
        StyleGAN2.load(tmp_path / "stride0.pt")

    before = good.read_bytes()

    def unreadable(path, device="cpu"):
        raise EmosketchError(f"{path}: damaged on the way")

    import unittest.mock

    with unittest.mock.patch.object(StyleGAN2, "load", unreadable):
        with pytest.raises(EmosketchError, match=f"{good}: damaged on the way .nothing written."):
            jobs.convert(FIXTURES / "uncond-rgb-32.pkl", good, force=True)
    assert good.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["good.pt", "stride0.pt"]


def test_loading_a_foreign_file_as_a_converted_model_fails_in_one_line(tmp_path):
    torch.save({"format": "something-else", "version": 1}, tmp_path / "x.pt")
    with pytest.raises(EmosketchError, match="not an emosketch-stylegan2 checkpoint"):
        StyleGAN2.load(tmp_path / "x.pt")
    # a converted file given to the snapshot reader had been "persistent IDs in protocol 0 must be ASCII strings"
    with pytest.raises(EmosketchError, match="not a snapshot pickle but a torch file .* open_stylegan2 reads either"):
        load_stylegan2(tmp_path / "x.pt")
    with pytest.raises(EmosketchError, match="a folder, not a model file"):
        open_stylegan2(tmp_path)


def test_classes_and_seeds_are_checked():
    G = StyleGAN2(z_dim=8, c_dim=2, w_dim=8, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    with pytest.raises(EmosketchError, match="give a class"):
        G.labels(None, 1)
    with pytest.raises(EmosketchError, match="have no names"):
        G.labels("happy", 1)
    with pytest.raises(EmosketchError, match="outside 0-1"):
        G.labels(5, 1)
    with pytest.raises(EmosketchError, match="class -1 is outside 0-1"):  # it said the classes have no names
        G.labels("-1", 1)
    assert G.labels("1", 2).tolist() == [[0, 1], [0, 1]]
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    for bad in ("3-1", "x", "-5"):
        with pytest.raises(EmosketchError, match="seeds"):
            parse_seeds(bad)
    with pytest.raises(EmosketchError, match="seed 0 is given twice"):  # it said "wrote 3 images" and wrote one
        parse_seeds("0,0,0")
    with pytest.raises(EmosketchError, match="seed 2 is given twice"):
        parse_seeds("0-3,2")
    with pytest.raises(EmosketchError, match="more than 100,000 images"):  # counted before 4 GB of list is built
        parse_seeds("0-100000000")


def test_mapping_latents_and_labels_refuse_what_fails_deep_inside_or_guesses():
    """z of the wrong width had failed in a matrix product, c of None on a conditional model with 'NoneType' has no
    attribute 'to', G.latents('01') drew seeds 0 and 1, and G.labels(2.7, 1) class 2."""
    G = StyleGAN2(z_dim=8, c_dim=2, w_dim=8, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    z, c = G.latents([0, 1]), G.labels(1, 2)
    assert G.mapping(z, c).shape[:2] == (2, G.num_ws)
    for zz, cc, words in ((z, None, "c must be a tensor"), (torch.zeros(2, 7), c, "z must be a tensor"),
                          (z[0], c, "z must be a tensor"), (z.numpy(), c, "z must be a tensor"),
                          (z, G.labels(1, 3), "z has 2 rows and c 3")):
        with pytest.raises(EmosketchError, match=words):
            G.mapping(zz, cc)
    with pytest.raises(EmosketchError, match="truncation_psi must be a finite number"):
        G.mapping(z, c, truncation_psi=float("nan"))
    for seeds in ("01", 3, [], [1.5], [-1], [2**32]):
        with pytest.raises(EmosketchError, match="seeds must be a list of whole numbers"):
            G.latents(seeds)
    for cls, n, words in ((2.7, 1, "a whole number or a name"), (1, -1, "n must be"), (1, 0, "n must be")):
        with pytest.raises(EmosketchError, match=words):
            G.labels(cls, n)
    U = StyleGAN2(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    assert U.mapping(z, None).shape[0] == 2 and U.mapping(z, U.labels(None, 2)).shape[0] == 2
    with pytest.raises(EmosketchError, match=r"c must be a tensor \[N, 0\]"):  # had been ignored
        U.mapping(z, torch.ones(2, 3))
    for names in (["a", "a"], ["a", " "]):
        with pytest.raises(EmosketchError, match="each one given once, none empty"):
            StyleGAN2(z_dim=8, c_dim=2, w_dim=8, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                      synthesis_kwargs={"channel_base": 64, "channel_max": 8}, class_names=names)


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
    for cutoff in ("-3", "0", "1000"):  # no w, or past the model's: it had truncated nothing or everything silently
        res = runner.invoke(cli, ["stylegan2", "generate", "--model", pkl, "--seeds", "0", "--class", "1", "--cutoff",
                                  cutoff, "--out", str(tmp_path / "gc")])
        assert res.exit_code == 1 and "--cutoff" in res.output and "ws" in res.output and not (tmp_path / "gc").exists()

    names = "neutral,happy,sad,surprise,fear,disgust,anger,contempt"
    res = runner.invoke(cli, ["stylegan2", "convert", "--model", pkl, "--classes", names, "--out", str(tmp_path / "c.pt")])
    assert res.exit_code == 0, res.output
    before = (tmp_path / "c.pt").read_bytes()
    res = runner.invoke(cli, ["stylegan2", "convert", "--model", pkl, "--out", str(tmp_path / "c.pt")])
    assert res.exit_code == 1 and "already exists (pass --force" in res.output  # it replaced the named model
    assert (tmp_path / "c.pt").read_bytes() == before
    res = runner.invoke(cli, ["stylegan2", "convert", "--model", str(tmp_path / "c.pt"), "--out", str(tmp_path / "c.pt"),
                              "--force"])
    assert res.exit_code == 1 and "is the model being read" in res.output
    res = runner.invoke(cli, ["stylegan2", "convert", "--model", pkl, "--classes", ",,,", "--out", str(tmp_path / "e.pt")])
    assert res.exit_code == 1 and "none empty" in res.output and not (tmp_path / "e.pt").exists()
    # a converted file converts again (it was read as a pickle: "persistent IDs ... must be ASCII strings"),
    # keeping its class names and what it draws unless told otherwise
    res = runner.invoke(cli, ["stylegan2", "convert", "--model", str(tmp_path / "c.pt"), "--draws", "sketch",
                              "--out", str(tmp_path / "s.pt")])
    assert res.exit_code == 0, res.output
    again = StyleGAN2.load(tmp_path / "s.pt")
    assert again.draws == "sketch" and again.class_names == names.split(",")
    res = runner.invoke(cli, ["stylegan2", "convert", "--model", str(tmp_path / "s.pt"), "--classes", "a,b,c,d,e,f,g,h",
                              "--out", str(tmp_path / "s.pt"), "--force"])
    assert res.exit_code == 1 and "is the model being read" in res.output
    res = runner.invoke(cli, ["stylegan2", "convert", "--model", str(tmp_path / "s.pt"), "--classes", "a,b,c,d,e,f,g,h",
                              "--out", str(tmp_path / "r.pt")])
    assert res.exit_code == 0 and StyleGAN2.load(tmp_path / "r.pt").class_names == list("abcdefgh")
    assert StyleGAN2.load(tmp_path / "r.pt").draws == "sketch"
    res = runner.invoke(cli, ["stylegan2", "generate", "--model", str(tmp_path / "c.pt"), "--seeds", "2",
                              "--class", "happy", "--sketch", "--out", str(tmp_path / "g3")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "g3" / "sketch" / "seed0002.png").exists()

    res = runner.invoke(cli, ["interpolate", "--checkpoint", str(tmp_path / "c.pt"), "--seed", "1", "--from", "neutral",
                              "--to", "happy", "--frames", "5", "--hold", "0", "--out", str(tmp_path / "t.npz")])
    assert res.exit_code == 0, res.output
    frames = np.load(tmp_path / "t.npz")["frames"]
    shipped = torch.load(default_generator(), weights_only=True)["image_size"]  # c.pt sketches as the shipped model
    assert frames.shape == (5, shipped, shipped) and not np.array_equal(frames[0], frames[-1])

    res = runner.invoke(cli, ["pack", "--checkpoint", str(tmp_path / "c.pt"), "--emotions", "neutral,happy",
                              "--out", str(tmp_path / "pack")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "pack" / "manifest.json").exists()

    res = runner.invoke(cli, ["interpolate", "--checkpoint", pkl, "--from", "neutral", "--to", "happy",
                              "--out", str(tmp_path / "u.gif")])
    assert res.exit_code == 1 and "have no names" in res.output


@needs_fixtures
def test_directions_takes_the_shipped_classifier_and_never_writes_over_a_file_unasked(tmp_path):
    """directions wrote over an existing file, the model it read included, with no --force; and its docs named a
    classifier (clf-face.pt) that no install has. Both checks come before the sampling."""
    runner = CliRunner()
    model = load_stylegan2(FIXTURES / "uncond-rgb-32.pkl").save(tmp_path / "u.pt")
    before = model.read_bytes()
    res = runner.invoke(cli, ["stylegan2", "directions", "--model", str(model), "--samples", "20", "--out", str(model)])
    assert res.exit_code == 1 and "is the model being read" in res.output and model.read_bytes() == before
    (tmp_path / "d.pt").write_bytes(b"mine")
    res = runner.invoke(cli, ["stylegan2", "directions", "--model", str(model), "--samples", "20",
                              "--out", str(tmp_path / "d.pt")])
    assert res.exit_code == 1 and "already exists (pass --force" in res.output
    assert (tmp_path / "d.pt").read_bytes() == b"mine"
    res = runner.invoke(cli, ["stylegan2", "directions", "--model", str(model), "--samples", "20",
                              "--out", str(tmp_path / "d.pt"), "--force"])
    assert res.exit_code == 0, res.output
    assert StyleGAN2.load(tmp_path / "d.pt").directions["classifier"] == "classifier-fer6-face-64.pt"


@needs_fixtures
def test_a_sketch_model_is_not_sketched_again_and_a_photo_model_says_when_it_finds_no_face(tmp_path):
    """generate --sketch ran the photo sketch over a model that draws sketches (interpolate takes them as they
    are), and a photo model's seed with no frontal face was sketched whole without the note photos get."""
    import json

    import cv2

    from emosketch.cli import face_note
    from emosketch.gan.stylegan2.jobs import generate
    from emosketch.interpolate.stylegan import StyleGanRenderer

    G = load_stylegan2(FIXTURES / "cond-gray-64.pkl")
    G.draws = "sketch"
    model = G.save(tmp_path / "s.pt")
    generate(model, [0, 1], tmp_path / "g", cls=1, sketch=True, show_progress=False)
    info = json.loads((tmp_path / "g" / "info.json").read_text())
    assert info["sketch"]["faces_found"] == {"as drawn": 2} and info["seeds"] == [0, 1]
    picture = cv2.imread(str(tmp_path / "g" / "seed0001.png"), cv2.IMREAD_GRAYSCALE)
    drawn = cv2.imread(str(tmp_path / "g" / "sketch" / "seed0001.png"), cv2.IMREAD_GRAYSCALE)
    size = info["sketch"]["size"]
    assert np.array_equal(drawn, cv2.resize(picture, (size, size), interpolation=cv2.INTER_AREA))

    names = ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger", "contempt"]
    photo = load_stylegan2(FIXTURES / "cond-gray-64.pkl", class_names=names).save(tmp_path / "p.pt")
    how = StyleGanRenderer(photo, device="cpu", mean_samples=8).source(seed=3).how  # no face in its picture
    assert how.endswith("(whole picture: no frontal face found)")
    assert "another --seed may draw a frontal face" in face_note(how)


def test_every_channel_count_the_loader_takes_becomes_pictures():
    """A 2-channel model (gray and alpha) loaded and then failed in OpenCV ("Bad number of channels"):
    its alpha is left out as an RGBA model's is."""
    from emosketch.gan.stylegan2.jobs import to_gray, to_pixels

    for channels, shape in ((1, (2, 8, 8)), (2, (2, 8, 8)), (3, (2, 8, 8, 3)), (4, (2, 8, 8, 3))):
        images = torch.linspace(-1, 1, 2 * channels * 64).reshape(2, channels, 8, 8)
        pixels = to_pixels(images)
        assert pixels.shape == shape and to_gray(pixels).shape == (2, 8, 8)


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


def test_an_unknown_device_is_one_line(tmp_path):
    G = StyleGAN2(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8})
    G.save(tmp_path / "g.pt")
    with pytest.raises(EmosketchError, match="--device 'tpu': not a device"):
        open_stylegan2(tmp_path / "g.pt", "tpu")
    assert open_stylegan2(tmp_path / "g.pt", "cpu").z_dim == 8
    with pytest.raises(EmosketchError, match="class names are a list"):
        StyleGAN2(z_dim=8, c_dim=8, w_dim=8, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                  synthesis_kwargs={"channel_base": 64, "channel_max": 8}, class_names="abcdefgh")
