"""Hostile uploads, files and configs are refused in one line or cost bounded work: the server's
memory per session and per upload, its stream cap, the image formats read, GIF frame expansion."""

from __future__ import annotations

import http.client
import io
import re
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from PIL import EpsImagePlugin, Image

from emosketch.datasets.decode import Skip, decode_bytes
from emosketch.errors import EmosketchError
from emosketch.frames import image_format

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\n"
       b"newpath 0 0 moveto 64 64 lineto stroke showpage\n%%EOF\n")


def png(array: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", **kw)
    return buf.getvalue()


@pytest.fixture
def no_ghostscript(monkeypatch):
    """Records any call of PIL's Ghostscript runner (it would run `gs` on the upload)."""
    calls = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(
        AssertionError("Ghostscript was run")))
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs", raising=False)
    return calls


# --- 7: only the formats emosketch means to read ---------------------------------------------------

@pytest.mark.parametrize("data", [EPS, b"\xc5\xd0\xd3\xc6" + bytes(26) + EPS, b"%PDF-1.4\n", b"<svg></svg>",
                                  b"\x00\x00\x00\x0cjP  \r\n\x87\n"])
def test_an_eps_or_other_format_never_reaches_a_decoder(data, no_ghostscript):
    assert image_format(data) is None
    with pytest.raises(Skip, match="not an image: emosketch reads PNG, JPEG, GIF, BMP, WebP, TIFF"):
        decode_bytes(data)
    assert no_ghostscript == []


def test_every_allowed_format_still_decodes(tmp_path):
    from emosketch.frames import read_image

    img = (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("BMP", "bmp"), ("WEBP", "webp"),
                     ("TIFF", "tif"), ("PPM", "pgm")):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, fmt)
        data = buf.getvalue()
        assert image_format(data) == fmt
        assert decode_bytes(data).shape == (64, 64)
        if fmt != "GIF":
            (tmp_path / f"f.{ext}").write_bytes(data)
            assert read_image(tmp_path / f"f.{ext}").shape == (64, 64)


def test_serve_prepare_and_export_refuse_an_eps_sent_as_a_png(serve_engine, tmp_path, no_ghostscript):
    """The probe sent an EPS as image/png: PIL's EPS plugin ran Ghostscript and CalledProcessError escaped."""
    from starlette.testclient import TestClient

    from emosketch.datasets.prepare import PrepareConfig, prepare
    from emosketch.frames import read_image
    from emosketch.serve.app import create_app
    from emosketch.serve.engine import ServeConfig

    serve_engine.config = ServeConfig()
    with TestClient(create_app(engine=serve_engine), base_url="http://localhost") as client:
        r = client.post("/api/classify", content=EPS, headers={"content-type": "image/png"})
    assert r.status_code == 400 and "not an image" in r.json()["error"]
    (tmp_path / "happy").mkdir()
    (tmp_path / "happy" / "face.png").write_bytes(EPS)
    (tmp_path / "happy" / "real.png").write_bytes(png(np.full((64, 64), 200, np.uint8)))
    (tmp_path / "happy" / "real2.png").write_bytes(png(np.full((64, 64), 90, np.uint8)))
    meta = prepare(f"folder:{tmp_path}", tmp_path / "ds", PrepareConfig(size=32), progress=False, log=lambda m: None)
    assert meta["skipped_by_reason"] == {"not an image": 1}
    with pytest.raises(EmosketchError, match="not a readable image"):
        read_image(tmp_path / "happy" / "face.png")
    assert no_ghostscript == []


# --- 5: a huge or 16-bit upload is decoded in bounded memory -----------------------------------------

def test_a_16_bit_image_decodes_without_float64_copies_of_the_whole_image():
    """The probe's 25 MP 16-bit PNG took about 560 MB (float64 copies); here 16 MP, shrunk as serve does."""
    big = np.zeros((4000, 4000), np.uint16)
    big[1000:3000, 1000:3000] = 40000
    data = png(big)
    del big
    tracemalloc.start()
    gray = decode_bytes(data, max_side=2048)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert gray.shape == (2048, 2048) and gray.dtype == np.uint8
    assert gray[1024, 1024] == round(40000 / 65535 * 255) and gray[10, 10] == 0
    assert peak < 80e6  # the uint16 pixels (32 MB), the 8-bit result (16 MB) and 8 MB chunks; float64 was 256 MB
    full = decode_bytes(png(np.full((300, 200), 65535, np.uint16)))
    assert full.shape == (300, 200) and (full == 255).all()


def test_a_large_upload_is_shrunk_as_it_is_decoded():
    img = np.full((3000, 5000, 3), 255, np.uint8)
    img[1000:2000, 2000:3000] = 0
    for fmt in ("PNG", "JPEG"):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, fmt)
        gray = decode_bytes(buf.getvalue(), max_side=1000)
        assert gray.shape == (600, 1000) and gray[300, 500] < 30 and gray[50, 50] > 225


def test_serve_decodes_at_most_decode_slots_uploads_at_once(serve_engine, monkeypatch):
    """Decoding runs outside the model lock, on many threads: six 16-bit PNGs at once took the server
    from 1.7 to 4.4 GB. Now at most decode_slots decode together."""
    from emosketch.serve import engine as engine_module
    from emosketch.serve.engine import Engine, ServeConfig

    real, now, most = engine_module.decode_bytes, [0], [0]
    lock = threading.Lock()

    def counting(*a, **kw):
        with lock:
            now[0] += 1
            most[0] = max(most[0], now[0])
        time.sleep(0.2)
        try:
            return real(*a, **kw)
        finally:
            with lock:
                now[0] -= 1

    monkeypatch.setattr(engine_module, "decode_bytes", counting)
    e = Engine.__new__(Engine)
    e.__dict__.update(serve_engine.__dict__)
    e.config = ServeConfig(decode_slots=2)
    e.decode_slots = threading.BoundedSemaphore(2)
    data = png(np.full((80, 80), 128, np.uint8))
    threads = [threading.Thread(target=e.classify, args=(e.new_session(), data)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 2


# --- 4: a session keeps no upload ----------------------------------------------------------------------

def test_a_session_keeps_its_sketch_not_the_upload(serve_engine):
    """Source.original pinned each session's whole decoded upload: 25 MB for a 5000x5000 PNG, 6.4 GB
    at the 256-session cap. A session now holds its model-size sketch and the panel."""
    from emosketch.models import demo_photo
    from emosketch.serve.engine import ServeConfig

    serve_engine.config = ServeConfig()
    photo = np.asarray(Image.open(demo_photo()).convert("L"))
    big = np.asarray(Image.fromarray(photo).resize((3000, 3000)))
    s = serve_engine.new_session()
    out = serve_engine.classify(s, png(big), use_face=True)
    assert out["image"] == {"width": 3000, "height": 3000}  # in the upload's pixels, though decoded at 2048
    assert 0 <= out["box"]["x"] and out["box"]["x"] + out["box"]["width"] <= 3000
    held = s.face.sketch.nbytes + s.face.original.nbytes
    assert held <= 2 * serve_engine.renderer.size ** 2


# --- 6: the stream cap counts streams when they are asked for -----------------------------------------

def test_streams_asked_for_at_once_cannot_pass_the_cap(serve_engine, live_server):
    """40 streams opened together all delivered frames past max_streams 16: it was counted only when a
    stream started. Thirty at once against a cap of 3: three streams, 27 429s, and none left counted."""
    from emosketch.serve.engine import ServeConfig

    serve_engine.config = ServeConfig(max_streams=3)
    host, port = live_server.split("//")[1].split(":")
    start = threading.Barrier(30)
    statuses, conns = [], []
    lock = threading.Lock()

    def ask():
        c = http.client.HTTPConnection(host, int(port), timeout=30)
        c.connect()
        start.wait()
        c.request("GET", "/api/stream?fps=30")
        r = c.getresponse()
        with lock:
            statuses.append(r.status)
            conns.append(c)

    try:
        threads = [threading.Thread(target=ask) for _ in range(30)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(statuses) == [200] * 3 + [429] * 27
    finally:
        for c in conns:
            c.close()
        deadline = time.monotonic() + 10
        while serve_engine.streams and time.monotonic() < deadline:
            time.sleep(0.05)
        serve_engine.config = ServeConfig()
    assert serve_engine.streams == 0


# --- 8: GIF frame times are expanded within a bound --------------------------------------------------

def test_a_gif_whose_frame_times_expand_too_far_is_one_line(tmp_path):
    """A 309-byte GIF with frames of 10 ms and 655 s repeated the long one 65,535 times: 1.9 GB."""
    from emosketch.frames import MAX_FRAMES, read_frames

    frames = [Image.fromarray(np.full((32, 32), v, np.uint8)) for v in (0, 255)]
    path = tmp_path / "long.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[10, 655350], loop=0)
    assert path.stat().st_size < 1000
    with pytest.raises(EmosketchError, match=f"65,536 frames of 10 ms; at most {MAX_FRAMES:,}"):
        read_frames(path)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=[100, 400], loop=0)
    assert len(read_frames(path).frames) == 5


# --- 10: a checkpoint's config is checked against its tensors before anything is built ---------------

def test_a_tiny_checkpoint_whose_config_would_allocate_gigabytes_is_refused_before_building(tmp_path, monkeypatch):
    """The probe's 3.6 KB checkpoint had a config inside every per-field bound and allocated 5.3 GB
    before "weights do not fit". Its networks are now sized on the meta device and checked against
    the tensors it holds; no real network is built."""
    import torch

    from emosketch.gan import networks, sample
    from emosketch.models import default_generator

    state = torch.load(default_generator(), weights_only=True)
    state["config"]["model"].update(image_size=1024, dim_in=512, max_dim=1024, style_dim=1024, mapping_hidden=2048)
    state["image_size"] = 1024  # the file says what its config draws, so the check on the weights is reached
    state["ema"] = {k: v[..., :1].clone() if v.ndim else v for k, v in list(state["ema"].items())[:3]}
    for key in ("optimizers", "nets", "discriminator"):
        state.pop(key, None)
    torch.save(state, tmp_path / "g.pt")
    assert (tmp_path / "g.pt").stat().st_size < 64 * 1024
    built = []
    real_init = networks.Networks.__init__

    def init(self, *a, **kw):
        built.append(str(torch.get_default_device()))
        real_init(self, *a, **kw)

    monkeypatch.setattr(networks.Networks, "__init__", init)
    with pytest.raises(EmosketchError, match="do not fit the model its config describes .*nothing was built"):
        sample.load_generator(tmp_path / "g.pt")
    assert built == ["meta"]
    nets, _ = sample.load_generator(default_generator())  # the shipped model still loads
    assert built[-2:] == ["meta", "cpu"] and next(nets.generator.parameters()).device.type == "cpu"


# --- 9: a pack's name never shadows a module the player imports --------------------------------------

def _imports(source: str) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_reserved_names_cover_every_module_the_micropython_files_import():
    """--name array wrote array.py beside the player, and `import emosketch_player` failed on CPython
    and MicroPython alike."""
    import re

    from emosketch.export import micropython
    from emosketch.export.c_header import RESERVED_NAMES
    from emosketch.export.players import MICROPYTHON_PLAYER

    player = _imports(MICROPYTHON_PLAYER.read_text())
    assert {"struct", "array", "framebuf", "time"} <= player
    module = _imports(micropython.TEMPLATE.replace("{", "").replace("}", ""))
    lines = re.findall(r"^\s*import ([\w, ]+)$", MICROPYTHON_PLAYER.read_text() + micropython.TEMPLATE, re.M)
    examples = {name.strip() for line in lines for name in line.split(",")} - {"name"}  # the docstrings'
    assert {"machine", "ssd1306"} <= examples
    assert player | module | examples <= RESERVED_NAMES | {"emosketch_player"}


@pytest.mark.parametrize("name", ["array", "boot", "main"])  # "struct" becomes seq_struct, a C keyword
def test_a_pack_named_like_a_module_the_player_imports_is_refused(tmp_path, name):
    from test_hostile import tiny_pack

    from emosketch.export import write_pack

    with pytest.raises(EmosketchError, match="reserved"):
        write_pack(tiny_pack(["a"], pack_name=name), tmp_path / "p")
    assert not (tmp_path / "p").exists()


# --- 13: YAML aliases that expand are refused, and no message quotes an unbounded value ----------------

BOMB = "".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
               for p, k in zip([None, *"abcdefgh"], "abcdefghi"))


def _bomb(tmp_path, key: str) -> Path:
    path = Path(tmp_path) / "bomb.yaml"
    path.write_text(BOMB.replace("i: &i", f"{key}: &i"))
    return path


def test_a_yaml_alias_bomb_under_a_known_key_is_refused_before_it_is_built(tmp_path):
    """`steps:` in a train config, or a timeline, expanded when the error message took its repr:
    MemoryError at 2.4 GB."""
    from emosketch.config import load_config
    from emosketch.gan.train import TrainConfig
    from emosketch.interpolate.timeline import load_timeline

    with pytest.raises(EmosketchError, match="expand to more than 100,000 values"):
        load_config(TrainConfig, _bomb(tmp_path, "steps"), {})
    with pytest.raises(EmosketchError, match="expand to more than 100,000 values"):
        load_timeline(_bomb(tmp_path, "timeline"), ["neutral", "happy"])
    small = tmp_path / "small.yaml"  # aliases that stay small are still YAML
    small.write_text("base: &b [0.5, 0.999]\nbetas: *b\n")
    from emosketch.config import read_yaml

    assert read_yaml(small) == {"base": [0.5, 0.999], "betas": [0.5, 0.999]}


def test_a_key_written_twice_is_refused_with_its_line(tmp_path):
    """YAML keeps a repeated key's last value silently, so a config that sets `steps:` twice (or appends a key
    it already has) trains with one of them unannounced: refused, naming the line, in any mapping of the file.
    Merge keys (<<) and the same key in two mappings are still YAML."""
    from emosketch.config import load_config, read_yaml
    from emosketch.gan.train import TrainConfig

    twice = tmp_path / "twice.yaml"
    twice.write_text("steps: 2\nlr: 0.001\nsteps: 3\n")
    with pytest.raises(EmosketchError, match=r"line 3: the key 'steps' is written twice"):
        load_config(TrainConfig, twice, {})
    nested = tmp_path / "nested.yaml"
    nested.write_text("model:\n  image_size: 64\n  dim_in: 8\n  image_size: 32\n")
    with pytest.raises(EmosketchError, match=r"line 4: the key 'image_size'"):
        read_yaml(nested)
    fine = tmp_path / "fine.yaml"
    fine.write_text("base: &b {lr: 0.1}\nrun: {<<: *b, steps: 2}\nother: {steps: 3}\n")
    assert read_yaml(fine) == {"base": {"lr": 0.1}, "run": {"lr": 0.1, "steps": 2}, "other": {"steps": 3}}


def test_no_message_quotes_an_unbounded_value():
    """The same structure built in memory (shared lists, 9^9 values written out) names its key in one
    short line, at once."""
    import yaml

    from emosketch.config import from_dict
    from emosketch.gan.train import TrainConfig
    from emosketch.interpolate.timeline import parse_timeline

    bomb = yaml.safe_load(BOMB)["i"]
    start = time.monotonic()
    for call in (lambda: from_dict(TrainConfig, {"steps": bomb}),
                 lambda: parse_timeline({"timeline": [{"to": bomb}]}, ["neutral", "happy"], 12.0, "t.yaml"),
                 lambda: parse_timeline({"fps": bomb, "timeline": []}, ["neutral"], None, "t.yaml")):
        with pytest.raises(EmosketchError) as info:
            call()
        assert len(str(info.value)) < 300 and "\n" not in str(info.value)
    assert time.monotonic() - start < 10.0  # a hang guard, not a speed test: writing 9^9 values out takes minutes


# --- 11, 12: StyleGAN2 snapshots and converted files: bounded plain entries and constructor arguments --

def _tiny_stylegan2():
    from emosketch.gan.stylegan2 import StyleGAN2

    return StyleGAN2(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=1, mapping_kwargs={"num_layers": 1},
                     synthesis_kwargs={"channel_base": 64, "channel_max": 8})


def test_a_snapshot_whose_plain_entry_is_a_billion_laughs_is_refused(tmp_path, monkeypatch):
    """`stylegan2 info` JSON-encoded a shared-list structure in `progress` and ran out of memory at 4.9 GB."""
    import pickle
    import sys
    import types

    from emosketch.gan.stylegan2.snapshot import read_snapshot

    mod = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        return meta

    _reconstruct_persistent_obj.__module__ = mod.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", mod)

    class Persistent:
        def __reduce__(self):
            return _reconstruct_persistent_obj, ({"type": "class", "version": 6, "module_src": "", "class_name": "Generator",
                                                  "state": {}},)

    bomb = ["lol"] * 9
    for _ in range(9):
        bomb = [bomb] * 9
    for key, value in (("progress", bomb), ("training_set_kwargs", {"path": bomb})):
        path = tmp_path / f"{key}.pkl"
        path.write_bytes(pickle.dumps({"G_ema": Persistent(), key: value}, protocol=4))
        assert path.stat().st_size < 4096
        with pytest.raises(EmosketchError, match=f"its '{key}' entry holds more than 10,000 values"):
            read_snapshot(path)
    path.write_bytes(pickle.dumps({"G_ema": Persistent(), "progress": {"cur_nimg": 4000, "batch_idx": 3}}, protocol=4))
    assert read_snapshot(path)["progress"] == {"cur_nimg": 4000, "batch_idx": 3}


@pytest.mark.parametrize("edit, words", [
    (lambda kw: kw.update(z_dim=2 ** 22), "z_dim = 4194304: expected a whole number from 1 to 4096"),
    (lambda kw: kw["mapping_kwargs"].update(num_layers=10 ** 9), "num_layers = 1000000000"),
    (lambda kw: kw["synthesis_kwargs"].update(channel_max=2 ** 20), "channel_max = 1048576"),
    (lambda kw: kw.update(img_resolution=2 ** 15), "img_resolution = 32768"),
    (lambda kw: kw.pop("w_dim"), "lacks constructor arguments ['w_dim']"),
    (lambda kw: kw.update(z_dim="8"), "z_dim = '8'"),
    (lambda kw: kw.update(synthesis_kwargs=[1, 2]), "synthesis_kwargs is not a mapping"),
    (lambda kw: kw.update(z_dim=4096, w_dim=4096), "do not fit the model its config describes"),
])
def test_converted_stylegan2_kwargs_are_bounded_and_checked_before_building(tmp_path, monkeypatch, edit, words):
    """z_dim 2^22 allocated 2.6 GB before the shape check (2^26 tried 17 GB); missing kwargs gave
    KeyError or TypeError. Each is one line now, and a layout within the bounds that the file's
    weights do not fill is refused after a build on the meta device only."""
    import torch

    from emosketch.gan.stylegan2 import StyleGAN2

    path = _tiny_stylegan2().save(tmp_path / "g.pt")
    payload = torch.load(path, weights_only=True)
    edit(payload["kwargs"])
    torch.save(payload, path)
    built = []
    real_init = StyleGAN2.__init__

    def init(self, *a, **kw):
        built.append(str(torch.get_default_device()))
        real_init(self, *a, **kw)

    monkeypatch.setattr(StyleGAN2, "__init__", init)
    with pytest.raises(EmosketchError, match=re.escape(words)) as info:
        StyleGAN2.load(path)
    assert "\n" not in str(info.value) and "cpu" not in built


def test_snapshot_constructor_arguments_are_bounded_before_building():
    import torch

    from emosketch.gan.stylegan2.networks import Generator
    from emosketch.gan.stylegan2.snapshot import Record, build_generator

    built = []

    def make(**kw):
        built.append(str(torch.get_default_device()))
        return Generator(**kw)

    rec = Record("Generator", 6, 0, {"_init_args": (), "_init_kwargs": {
        "z_dim": 2 ** 26, "c_dim": 0, "w_dim": 512, "img_resolution": 64, "img_channels": 1}})
    with pytest.raises(EmosketchError, match="z_dim = 67108864: expected a whole number from 1 to 4096"):
        build_generator(rec, make)
    rec.state["_init_kwargs"]["z_dim"] = 4096  # inside the bounds, but the record holds no weights
    with pytest.raises(EmosketchError, match=r"G_ema: stored submodules \[\] but expected"):
        build_generator(rec, make)
    assert built == ["meta"]


# --- the unpickler's allow-list: each global a snapshot does not need is refused by name -----------------

@pytest.mark.parametrize("module, name", [
    ("builtins", "getattr"), ("builtins", "eval"), ("builtins", "exec"), ("builtins", "__import__"),
    ("builtins", "open"), ("os", "system"), ("posix", "system"), ("subprocess", "Popen"),
    ("torch", "load"), ("torch", "save"), ("torch._utils", "_rebuild_device_tensor_from_numpy"),
    ("torch.serialization", "load"), ("torch._C", "_set_grad_enabled"), ("numpy", "load"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy", "frombuffer"), ("collections", "defaultdict"),
    ("torch_utils.persistence", "persistent_class"), ("torch_utils.misc", "copy_params_and_buffers"),
    ("pickle", "loads"), ("functools", "partial"), ("operator", "attrgetter"),
])
def test_the_snapshot_unpickler_refuses_every_global_it_does_not_need(tmp_path, module, name):
    """An audit let a fallback to any torch.* global, and builtins.getattr, through all 19 StyleGAN2
    tests: only os.system and builtins.eval were tried. Each global is asked for by a GLOBAL opcode."""
    from emosketch.gan.stylegan2.snapshot import ALLOWED, read_snapshot

    assert (module, name) not in ALLOWED
    body = b"c" + module.encode() + b"\n" + name.encode() + b"\n" + b")R."  # GLOBAL, call with (), STOP
    path = tmp_path / "g.pkl"
    path.write_bytes(b"\x80\x02" + body)
    with pytest.raises(EmosketchError, match=re.escape(f"global {module}.{name}")):
        read_snapshot(path)


# --- serve's other caps, each with a test that fails when it is removed ---------------------------------

def test_the_session_cap_forgets_the_least_recently_used(serve_engine):
    from emosketch.serve.engine import Engine, ServeConfig

    e = Engine.__new__(Engine)
    e.__dict__.update(serve_engine.__dict__)
    e.config = ServeConfig(max_sessions=3)
    e.sessions = type(serve_engine.sessions)()
    first, second = e.new_session(), e.new_session()
    e.new_session()
    assert e.session(first.token, create=False) is first  # used again: now the most recent
    e.new_session()
    assert len(e.sessions) == 3 and e.session(second.token, create=False) is None
    assert e.session(first.token, create=False) is first


def test_a_streamed_body_past_the_limit_is_refused_while_it_is_read(serve_engine):
    """Without a Content-Length the body is counted as it arrives: 413 at the limit, not after."""
    from starlette.testclient import TestClient

    from emosketch.serve.app import create_app
    from emosketch.serve.engine import ServeConfig

    serve_engine.config = ServeConfig(max_upload_bytes=4096)
    def body():  # 64 KB in 1 KB chunks, no Content-Length
        for _ in range(64):
            yield b"\x89PNG\r\n\x1a\n" + bytes(1016)

    try:
        with TestClient(create_app(engine=serve_engine), base_url="http://localhost") as client:
            r = client.post("/api/classify", content=body(), headers={"content-type": "image/png"})
            assert r.status_code == 413 and "4,096 bytes" in r.json()["error"]
            r = client.post("/api/classify", content=bytes(5000), headers={"content-type": "image/png"})
            assert r.status_code == 413
    finally:
        serve_engine.config = ServeConfig()


def test_a_device_a_fifo_or_a_folder_is_never_read_as_an_image(tmp_path):
    """`classify model.pt /dev/zero` grew to 23 GB before the kernel killed it, and a FIFO hung the command:
    a still image is read only from a regular file, opened without blocking, and only up to a bound."""
    import os

    from emosketch.datasets.decode import Skip, decode_file
    from emosketch.frames import ReadError, read_image, read_regular

    os.mkfifo(tmp_path / "pipe.png")
    (tmp_path / "dir.png").mkdir()
    devices = [p for p in ("/dev/zero", "/dev/urandom") if os.path.exists(p)]
    for path in [tmp_path / "pipe.png", tmp_path / "dir.png", *devices]:
        what = "a folder, not a file" if path == tmp_path / "dir.png" else "not a regular file"
        with pytest.raises(ReadError, match=what):
            read_regular(path)
        with pytest.raises(EmosketchError, match=what):
            read_image(Path(path))
        with pytest.raises(Skip):
            decode_file(path)
    (tmp_path / "big.png").write_bytes(b"\x89PNG" + bytes(2000))
    with pytest.raises(ReadError, match="file too large"):
        read_regular(tmp_path / "big.png", limit=1000)
    assert len(read_regular(tmp_path / "big.png", limit=2004)) == 2004
    with pytest.raises(FileNotFoundError):
        read_regular(tmp_path / "none.png")


@pytest.mark.parametrize("text, words", [
    ("fps: 12\ntimeline:\n\t- {emotion: neutral}\n",
     "line 3, column 1: found character '\\t' that cannot start any token: indent with spaces, not tabs"),
    ("timeline: [{emotion: neutral}\n", "line 2, column 1: expected ',' or ']'"),
    ("fps: 12\ntimeline:\n  - {emotion: neutral}\n - {to: happy}\n", "line 4, column 2: expected <block end>"),
])
def test_a_yaml_error_says_where_and_what(tmp_path, text, words):
    """A tab had been 'not valid YAML (while scanning for the next token)': no line, and no word of the tab."""
    from emosketch.config import read_yaml
    from emosketch.errors import EmosketchError

    (tmp_path / "t.yaml").write_text(text)
    with pytest.raises(EmosketchError) as info:
        read_yaml(tmp_path / "t.yaml")
    assert words in str(info.value) and "\n" not in str(info.value), str(info.value)
