"""The generated MicroPython module imports under CPython with a stand-in framebuf and, through
emosketch_player, plays the same frames as the reference decoder."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from conftest import FakeDisplay, fake_framebuf, load_module, make_pack

from emosketch.export import manifest, write_pack


@pytest.mark.parametrize("codec", ["auto", "delta", "ctx", "auto pen", "ctx pen"])
def test_module_plays_the_decoded_frames(tmp_path, face_transition, any_format, monkeypatch, codec):
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    monkeypatch.setitem(sys.modules, "machine", types.ModuleType("machine"))
    pack = make_pack(face_transition, any_format, codec)
    write_pack(pack, tmp_path / "p")
    monkeypatch.syspath_prepend(str(tmp_path / "p"))
    monkeypatch.delitem(sys.modules, "emosketch_player", raising=False)
    module = load_module(tmp_path / "p" / "face_pack.py")
    player_module = sys.modules["emosketch_player"]
    monkeypatch.setattr(player_module, "sleep_ms", lambda ms: None)
    bits, m = manifest.read(tmp_path / "p")
    display = FakeDisplay()
    player = player_module.Player(module.pack(), display)
    for seq in m["sequences"]:
        player.play(seq["name"], loops=1)
    played = np.array([np.frombuffer(buf, np.uint8) for buf, *_ in display.shown])
    assert np.array_equal(pack.fmt.unpack(played, pack.width, pack.height), bits)
    assert {x for _, x, _, _ in display.shown} == {-pack.fmt.column_offset}
    assert {f for *_, f in display.shown} == {getattr(sys.modules["framebuf"], pack.fmt.micropython)}
    assert module.pack().sequences[1][2] == 125  # 8 fps
