"""Shared fixtures: small real inputs built by the tests themselves, and where the shared real data is (FERPLUS:
tests that need it skip cleanly when it is absent)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from emosketch.datasets.synthetic import random_identity, render
from emosketch.export.pixels import FORMATS

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"  # the real data beside the checkout (docs/contributing.md); tests skip without it
FERPLUS = SHARED / "data" / "ferplus"
STYLEGAN2 = SHARED / "stylegan2"


@pytest.fixture(scope="session")
def face_transition() -> np.ndarray:
    """A line-art face going from neutral to happy: uint8 [12, 128, 128], 255 = paper."""
    identity = random_identity(seed=5)
    return np.stack([render(identity, "happy", k, 128) for k in np.linspace(0, 1, 12)])


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(params=list(FORMATS))  # every pixel format, a new one included
def any_format(request) -> str:
    return request.param


def make_pack(face_transition: np.ndarray, pixel_format: str = "ssd1306", codec: str = "auto",
              size: tuple[int, int] = (128, 64), **kw):
    """Two sequences (a transition and its reverse) as a Pack. A codec ending in " pen" draws 2 px lines,
    stored as their skeletons (Pack.pen 2)."""
    from emosketch.export import Dither, ExportOptions, Layout, build_pack
    from emosketch.frames import Frames

    if codec.endswith(" pen"):
        codec, kw = codec[:-4], {**kw, "dither": Dither("lineart", thin=True, line=2)}

    seqs = [("neutral to happy", "test", Frames(face_transition, 12.0)),
            ("happy-to-neutral", "test", Frames(face_transition[::-1].copy(), 8.0))]
    opts = ExportOptions(layout=Layout(*size), pixel_format=pixel_format, codec=codec, name="face pack", **kw)
    pack = build_pack(seqs, opts)
    assert pack.pen == (2 if "dither" in kw and kw["dither"].line == 2 else 1)
    return pack


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A small synthetic sketch dataset (48 px, 100 identities x 8 emotions)."""
    from emosketch.datasets.prepare import PrepareConfig, prepare

    out = tmp_path_factory.mktemp("data") / "syn"
    prepare("synthetic", out, PrepareConfig(size=48, count=800, seed=2), progress=False, log=lambda m: None)
    return out


@pytest.fixture(scope="session")
def trained(synthetic, tmp_path_factory):
    """A sketch classifier trained on `synthetic` for a few seconds: (checkpoint path, summary)."""
    from emosketch.evaluate.classifier import ClassifierConfig, train_classifier

    out = tmp_path_factory.mktemp("clf") / "clf.pt"
    cfg = ClassifierConfig(image_size=32, width=8, epochs=8, samples_per_epoch=1280, patience=8)
    summary = train_classifier(synthetic, out, cfg, device="cpu", progress=False, log=lambda m: None)
    return out, summary


def fake_framebuf():
    """A stand-in for MicroPython's framebuf module: constants and a FrameBuffer that keeps its buffer."""
    import types

    mod = types.ModuleType("framebuf")
    mod.MONO_VLSB, mod.MONO_HLSB, mod.MONO_HMSB = 0, 3, 4

    class FrameBuffer:
        def __init__(self, buf, width, height, fmt):
            self.buf, self.width, self.height, self.format = buf, width, height, fmt

        def _at(self, x, y):  # (byte, bit) of a pixel, as MicroPython's framebuf lays them out
            if self.format == mod.MONO_VLSB:
                return (y >> 3) * self.width + x, y & 7
            byte = y * ((self.width + 7) // 8) + (x >> 3)
            return byte, (7 - (x & 7)) if self.format == mod.MONO_HLSB else (x & 7)

        def pixel(self, x, y, c=None):
            if not (0 <= x < self.width and 0 <= y < self.height):
                return None
            byte, bit = self._at(x, y)
            if c is None:
                return (self.buf[byte] >> bit) & 1
            self.buf[byte] = (self.buf[byte] | (1 << bit)) if c else (self.buf[byte] & ~(1 << bit))

        def fill(self, c):
            self.buf[:] = bytes([0xFF if c else 0]) * len(self.buf)

        def fill_rect(self, x, y, w, h, c):
            for yy in range(y, y + h):
                for xx in range(x, x + w):
                    self.pixel(xx, yy, c)

        def blit(self, src, x, y, key=-1):
            for sy in range(src.height):
                for sx in range(src.width):
                    c = src.pixel(sx, sy)
                    if c != key:
                        self.pixel(x + sx, y + sy, c)

    mod.FrameBuffer = FrameBuffer
    return mod


class FakeDisplay:
    """Records what a framebuf display would show: (buffer bytes, x, y, format) per show()."""

    def __init__(self):
        self.shown = []
        self.pending = None

    def blit(self, fb, x, y):
        self.pending = (bytes(fb.buf), x, y, fb.format)

    def show(self):
        self.shown.append(self.pending)


def load_module(path, name=None):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def benchmark_module(filename: str, name: str):
    """A module of benchmarks/, loaded as `name` with benchmarks/ on the path while it loads and is used
    (its `from report import ...`): a generator for a module-scoped fixture to yield from."""
    import sys
    from pathlib import Path

    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        yield load_module(Path(folder) / filename, name)
    finally:
        sys.path.remove(folder)


@pytest.fixture(scope="session")
def generator(synthetic, tmp_path_factory):
    """A generator checkpoint trained on `synthetic` for a few steps (32 px): its path."""
    from emosketch.gan.networks import ModelConfig
    from emosketch.gan.train import TrainConfig, train

    model = ModelConfig(image_size=32, dim_in=8, max_dim=32, style_dim=16, latent_dim=8, mapping_hidden=32,
                        bottleneck_blocks=1, classifier_head=True)
    cfg = TrainConfig(model=model, batch_size=4, steps=4, lr_mapping=1e-3, lambda_cls=1.0, log_every=2,
                      sample_every=4, checkpoint_every=4)
    run = tmp_path_factory.mktemp("gen") / "run"
    train(cfg, synthetic, run, device="cpu", progress=False, log=lambda m: None)
    return run / "checkpoint.pt"


@pytest.fixture(scope="session")
def serve_engine():
    """`emosketch serve`'s engine on the shipped models, loaded once for every test that needs it."""
    from emosketch.serve.engine import Engine, ServeConfig

    return Engine(ServeConfig())


@pytest.fixture(scope="session")
def live_server(serve_engine):
    """The app under uvicorn on a free loopback port, in a thread: its base URL."""
    import socket
    import threading

    import uvicorn

    from emosketch.serve.app import create_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(engine=serve_engine), log_level="error"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
        if not thread.is_alive():
            raise RuntimeError("the test server did not start")
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(5)


MICROPYTHON = ROOT / "tools" / "micropython"


def micropython_missing() -> str | None:
    """Why the MicroPython (WebAssembly) tests cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (MICROPYTHON / "node_modules" / "@micropython").is_dir():
        return "MicroPython is not installed: make micropython"
    return None


def run_micropython(folder, code: str) -> tuple[bytes, str]:
    """Run `code` under real MicroPython with `folder`'s files at /w (tools/micropython/run.mjs);
    returns (what it wrote to /w/out.bin, its stdout)."""
    script = Path(folder) / "_script.py"
    script.write_text(code)
    run = subprocess.run(["node", str(MICROPYTHON / "run.mjs"), str(folder), str(script)],
                         capture_output=True, text=True, timeout=600)
    if run.returncode:
        raise AssertionError(f"MicroPython failed:\n{run.stdout}{run.stderr}")
    return (Path(folder) / "out.bin").read_bytes(), run.stdout
