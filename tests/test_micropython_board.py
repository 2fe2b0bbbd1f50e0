"""The MicroPython player on real MicroPython (the official WebAssembly port, `make micropython`),
not CPython with stand-ins: its framebuf, struct and file reads, on every codec, pen coding and
pixel format. It must play what the player plays under CPython, frame for frame."""

from __future__ import annotations

import sys
import types

import pytest
from conftest import fake_framebuf, load_module, micropython_missing, run_micropython
from test_players import SCRIPT, STEPS, reference_bytes, run_python, state_machine_pack

from emosketch.export import Dither, write_pack

pytestmark = pytest.mark.skipif(micropython_missing() is not None, reason=str(micropython_missing()))

PLAY = """
from emosketch_player import Pack, Player
player = Player(Pack("/w"), None, "neutral")
requests = dict(%r)
out = open("/w/out.bin", "wb")
for step in range(%d):
    if step in requests:
        player.request(requests[step])
    frame, ms = player.next_frame()
    out.write(bytes((frame & 255, frame >> 8, ms & 255, ms >> 8)))
    out.write(player.buf)
out.close()
"""


@pytest.mark.parametrize("fmt, panel, codec, line", [
    ("ssd1306", (128, 64), "auto", 1), ("ssd1306", (128, 64), "ctx", 1), ("ssd1306", (128, 64), "auto", 2),
    ("ssd1306", (128, 64), "ctx", 2), ("sh1106", (128, 64), "ctx", 2), ("gfx", (128, 64), "ctx", 2),
    ("xbm", (90, 30), "delta", 2), ("ssd1306", (72, 36), "auto", 2)])
def test_micropython_plays_what_cpython_plays(tmp_path, monkeypatch, fmt, panel, codec, line):
    dither = Dither("lineart", thin=True, line=2) if line == 2 else Dither()
    pack = state_machine_pack(dither=dither, pixel_format=fmt, codec=codec, panel=panel)
    assert pack.pen == line
    folder = tmp_path / "pack"
    write_pack(pack, folder)
    played, _ = run_micropython(folder, PLAY % (SCRIPT, STEPS))
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    monkeypatch.setitem(sys.modules, "machine", types.ModuleType("machine"))
    expected = run_python(load_module(folder / "emosketch_player.py"), folder)
    ref, _ = reference_bytes(folder)
    size = 4 + pack.frame_bytes
    assert len(played) == STEPS * size
    for step, (frame, ms, buf) in enumerate(expected):
        got = played[step * size:(step + 1) * size]
        assert (got[0] | got[1] << 8, got[2] | got[3] << 8) == (frame, ms)
        assert got[4:] == buf == ref[frame].tobytes()


def test_micropython_reports_a_bad_pack(tmp_path):
    folder = tmp_path / "pack"
    write_pack(state_machine_pack(), folder)
    (folder / "index.bin").write_bytes(b"NOPE" + (folder / "index.bin").read_bytes()[4:])
    with pytest.raises(AssertionError, match="not an emosketch index.bin"):
        run_micropython(folder, PLAY % ([], 2))
