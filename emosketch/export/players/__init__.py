"""The device players shipped with every pack: a C99 player (emosketch_player.h/.c), the agent emotion model
for a board that feels on its own (emosketch_agent.h/.c), and a MicroPython player (emosketch_player.py, its
Agent too), plus Arduino examples and a program that plays a pack on a computer
(host/play_frames.c); for colour TFT packs, the span
player core (tft/emosketch_tft.h/.c) and its TFT_eSPI and Adafruit_GFX examples."""

from __future__ import annotations

import importlib.util
import io
import shutil
import sys
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
C_PLAYER = (HERE / "c" / "emosketch_player.h", HERE / "c" / "emosketch_player.c")
C_AGENT = (HERE / "c" / "emosketch_agent.h", HERE / "c" / "emosketch_agent.c")  # the agent, on the device
MICROPYTHON_PLAYER = HERE / "micropython" / "emosketch_player.py"
ARDUINO_EXAMPLES = HERE / "arduino"
HOST_PLAYER = HERE / "host" / "play_frames.c"  # plays a pack on a computer with the C player and writes PBM frames
TFT_PLAYER = (HERE / "tft" / "emosketch_tft.h", HERE / "tft" / "emosketch_tft.c")  # colour TFT packs
TFT_EXAMPLES = HERE / "tft" / "arduino"
PI_STREAM = HERE / "pi" / "emosketch_stream.py"  # a Raspberry Pi's panel playing the mirror's stream


def write(folder: Path) -> list[Path]:
    """Copy the players beside a pack's files, so the pack folder is all a device project needs."""
    out = []
    for src in (*C_PLAYER, *C_AGENT, MICROPYTHON_PLAYER):
        shutil.copyfile(src, folder / src.name)
        out.append(folder / src.name)
    return out


def device_check(folder: Path) -> None:
    """Read a written pack's index.bin and frames.bin as a device does: the MicroPython player (the C player's
    es_pack_check, line for line) checks its geometry and tables and decodes every frame in its sequence order.
    Raises ValueError, as a board would, naming what it refused."""
    saved = sys.modules.get("framebuf")
    sys.modules["framebuf"] = types.ModuleType("framebuf")  # the player imports it; the check never draws
    try:
        spec = importlib.util.spec_from_file_location("_emosketch_device_player", MICROPYTHON_PLAYER)
        player = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(player)
    finally:
        if saved is None:
            del sys.modules["framebuf"]
        else:
            sys.modules["framebuf"] = saved
    pack = player.Pack(index=(folder / "index.bin").read_bytes(), frames=io.BytesIO((folder / "frames.bin").read_bytes()))
    for first, count, _ in pack.sequences:
        buf = bytearray(pack.frame_bytes)
        for i in range(first, first + count):
            pack.decode(i, buf)
