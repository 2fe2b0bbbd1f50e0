"""The MicroPython module imports under CPython with a stand-in framebuf and plays the same frames."""

from __future__ import annotations

import importlib.util
import sys
import types

import numpy as np
from conftest import make_pack

from emosketch.export import manifest, write_pack


def fake_framebuf() -> types.ModuleType:
    mod = types.ModuleType("framebuf")
    mod.MONO_VLSB, mod.MONO_HLSB, mod.MONO_HMSB = 0, 3, 4

    class FrameBuffer:
        def __init__(self, buf, width, height, fmt):
            self.buf, self.width, self.height, self.format = buf, width, height, fmt

    mod.FrameBuffer = FrameBuffer
    return mod


class FakeDisplay:
    def __init__(self):
        self.shown = []
        self.pending = None

    def blit(self, fb, x, y):
        self.pending = (bytes(fb.buf), x, y, fb.format)

    def show(self):
        self.shown.append(self.pending)


def load_module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_module_plays_the_decoded_frames(tmp_path, face_transition, any_format, monkeypatch):
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    pack = make_pack(face_transition, any_format)
    write_pack(pack, tmp_path / "p")
    mp = load_module(tmp_path / "p" / "face_pack.py")
    bits, m = manifest.read(tmp_path / "p")
    assert mp.FORMAT == getattr(sys.modules["framebuf"], pack.fmt.micropython)
    display = FakeDisplay()
    player = mp.Player(display)
    monkeypatch.setattr(mp, "sleep_ms", lambda ms: None)
    for seq in m["sequences"]:
        player.play(seq["name"], loops=1)
    played = np.array([np.frombuffer(buf, np.uint8) for buf, *_ in display.shown])
    assert np.array_equal(pack.fmt.unpack(played, pack.width, pack.height), bits)
    assert {x for _, x, _, _ in display.shown} == {-pack.fmt.column_offset}
    assert mp.SEQUENCES["happy-to-neutral"][2] == 125  # 8 fps
