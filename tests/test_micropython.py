"""The generated MicroPython module imports under CPython with a stand-in framebuf and, through
emosketch_player, plays the same frames as the reference decoder."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from conftest import FakeDisplay, fake_framebuf, load_module, make_pack

from emosketch.export import manifest, write_pack


def written_module(pack, tmp_path, monkeypatch):
    """The pack written to tmp_path/p and its generated module imported, with the player module it imports
    (which sleeps no time)."""
    write_pack(pack, tmp_path / "p")
    monkeypatch.syspath_prepend(str(tmp_path / "p"))
    monkeypatch.delitem(sys.modules, "emosketch_player", raising=False)
    module = load_module(tmp_path / "p" / f"{pack.name}.py")
    player_module = sys.modules["emosketch_player"]
    monkeypatch.setattr(player_module, "sleep_ms", lambda ms: None)
    return module, player_module


@pytest.mark.parametrize("codec", ["auto", "delta", "ctx", "auto pen", "ctx pen"])
def test_module_plays_the_decoded_frames(tmp_path, face_transition, any_format, monkeypatch, codec):
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    monkeypatch.setitem(sys.modules, "machine", types.ModuleType("machine"))
    pack = make_pack(face_transition, any_format, codec)
    module, player_module = written_module(pack, tmp_path, monkeypatch)
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


def test_the_modules_own_names_play(tmp_path, monkeypatch):
    """SEQUENCES and EMOTIONS held the names as given, index.bin their ASCII form (at most 255 bytes), so
    player.play(module.SEQUENCES[i]), as the module's docstring shows, failed for any other name."""
    from emosketch.export import ExportOptions, Layout, build_pack
    from emosketch.frames import Frames

    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    frames = Frames(np.full((2, 64, 128), 255, np.uint8), 10.0)
    long = "happy_" + "x" * 300  # a plain sequence named past 255 bytes
    names = ["idle_fröhlich", "idle_happy", "café_to_happy", long]
    pack = build_pack([(n, "test", frames) for n in names], ExportOptions(layout=Layout(128, 64, "fit"), name="uni"))
    module, player_module = written_module(pack, tmp_path, monkeypatch)
    player = player_module.Player(module.pack(), FakeDisplay())
    assert len(module.SEQUENCES) == 4 and module.SEQUENCES[0] == "idle_fr?hlich"
    for name in module.SEQUENCES:
        player.play(name, loops=1)
    for emotion in module.EMOTIONS:
        player.request(emotion)
