"""index.bin: the pack's tables in a compact binary form a microcontroller reads without a JSON parser
(the MicroPython player keeps only this in RAM and reads frames from frames.bin one at a time).

Little-endian layout:
  header  "ESPK", version u8, pixel format u8 (0 pages/MONO_VLSB, 1 MONO_HLSB, 2 MONO_HMSB),
          width u16, height u16, ram width u16, column offset u16, frame bytes u16,
          frame count u16, sequence count u16, emotion count u8, flags u8           (22 bytes)
  offsets (frame count + 1) x u32      byte offset of each frame in frames.bin, and the end
  codecs  frame count x u8             0 raw, 1 RLE, 2 XOR-delta + RLE, 3 ctx key, 4 ctx (export/ctx.py)
  seqs    sequence count x 3 u16       first frame, frame count, milliseconds per frame
  snames  sequence count x (u8 length + ASCII name)
  names   emotion count x (u8 length + ASCII name)
  idle    emotion count x i16          idle sequence of each emotion
  trans   emotion count^2 x i16        transition sequence from row to column emotion, -1 none
  model   only when flags bit 0 is set: the context codec's model, ctx.MODEL_BYTES bytes
Flags bit 1: pen 2, the frames are 1 px skeletons that the player draws with a 2x2 pen (Pack.pen).
"""

from __future__ import annotations

import struct
from pathlib import Path

from .pack import Pack

MAGIC = b"ESPK"
VERSION = 1
HEADER = struct.Struct("<4sBBHHHHHHHBB")
PIXEL_CODES = {"MONO_VLSB": 0, "MONO_HLSB": 1, "MONO_HMSB": 2}


def render(pack: Pack) -> bytes:
    table = pack.emotions
    n_emo = len(table["names"])
    fmt = pack.fmt
    ram_width = fmt.stride(pack.width) if fmt.vertical else pack.width
    out = bytearray(HEADER.pack(MAGIC, VERSION, PIXEL_CODES[fmt.micropython], pack.width, pack.height, ram_width,
                                fmt.column_offset, pack.frame_bytes, len(pack.payloads), len(pack.sequences),
                                n_emo, (1 if pack.model else 0) | (2 if pack.pen == 2 else 0)))
    out += struct.pack(f"<{len(pack.payloads) + 1}I", *pack.offsets)
    out += bytes(cid for cid, _ in pack.payloads)
    for s in pack.sequences:
        out += struct.pack("<3H", s.first, s.count, max(1, round(1000 / s.fps)))
    for name in [s.name for s in pack.sequences] + table["names"]:
        raw = stored_name(name).encode("ascii")
        out += bytes([len(raw)]) + raw
    out += struct.pack(f"<{n_emo}h", *table["idle"])
    out += struct.pack(f"<{n_emo * n_emo}h", *[v for row in table["transitions"] for v in row])
    out += pack.model
    return bytes(out)


def stored_name(name: str) -> str:
    """A name as index.bin holds it, and so as a player matches it: ASCII (others become ?), 255 at most."""
    return name.encode("ascii", "replace")[:255].decode("ascii")


def write(pack: Pack, folder: Path) -> Path:
    path = folder / "index.bin"
    path.write_bytes(render(pack))
    return path
