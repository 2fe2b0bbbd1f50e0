"""Colour TFT packs: RGB565 frames in a chosen ink and paper colour, for ST7789 (240x240, 135x240)
and ILI9341 (320x240) panels driven by TFT_eSPI or Adafruit_GFX.

A TFT has the pixels and the colours that a 1-bit OLED lacks, so a frame is not dithered: the laid
out gray sketch is cut into `shades` levels from paper to ink (2 by default, hard two-colour lines;
4 draws antialiased strokes at about 2.4 times the bytes), and each level is an RGB565 colour
blended between the two.

The span codec on 16-bit pixels (delta + RLE). A frame is a list of spans over its pixels in
row-major order, each against the frame before it (a sequence's first frame against a screen
filled with the paper colour, so every frame but the first of the pack is a small delta and no
frame buffer is needed on the device). One control byte per span: bits 7-6 the kind, bits 5-0
its pixel count n - 1 (1..63), or 63 and then n as a little-endian uint16:
- kind 0, skip: the next n pixels are unchanged;
- kind 1, literal: n little-endian RGB565 words follow;
- kind 2, run: one word follows, for n pixels.
The player draws literal and run spans straight to the panel (one address window per row piece)
and skips the rest: emosketch_tft.c.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import __version__
from ..atomic import atomic_dir
from ..errors import EmosketchError
from ..frames import Frames
from .escape import c_string
from .layout import Layout, apply_layout
from .pack import _steady_layout, _zooms, emotion_table, identifier

FORMAT_NAME = "emosketch-tft-pack"
FORMAT_VERSION = 1
PANELS = {  # name -> (width, height) as the library's rotation 0 sees it
    "st7789-240x240": (240, 240),
    "st7789-135x240": (135, 240),
    "ili9341-320x240": (320, 240),
}
COLOURS = {"black": "#000000", "white": "#ffffff", "amber": "#ffb000", "yellow": "#ffd24c", "green": "#33ff66",
           "cyan": "#4cc3ff", "blue": "#2050ff", "red": "#ff3030", "paper": "#f4efe2", "ink": "#202020"}
SKIP, LITERAL, RUN = 0, 1, 2
MAX_SHORT = 62  # counts up to 63 fit the control byte (n - 1 <= 62); 63 means a uint16 count follows


def parse_colour(text: str) -> tuple[int, int, int]:
    """'#ffd24c', 'ffd24c', '#fd4' or a name (black, white, amber, yellow, green, cyan, blue, red,
    paper, ink) -> (r, g, b)."""
    t = COLOURS.get(text.strip().lower(), text.strip())
    m = re.fullmatch(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})", t)
    if not m:
        raise EmosketchError(f"colour {text!r}: expected #RRGGBB, #RGB or one of {', '.join(COLOURS)}")
    h = m.group(1)
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def rgb565(rgb: tuple[int, int, int]) -> int:
    r, g, b = rgb
    return ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)


def shade_table(ink: tuple[int, int, int], paper: tuple[int, int, int], shades: int) -> np.ndarray:
    """RGB565 words for levels 0 (paper) .. shades-1 (ink), blended in 8-bit sRGB: uint16 [shades]."""
    if not 2 <= shades <= 16:
        raise EmosketchError(f"shades {shades}: from 2 (ink and paper only) to 16")
    t = np.linspace(0.0, 1.0, shades)[:, None]
    blend = np.round(np.array(paper) * (1 - t) + np.array(ink) * t).astype(int)
    return np.array([rgb565(tuple(c)) for c in blend], np.uint16)


def to_rgb565(gray: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Gray frames (uint8, 255 = paper, 0 = ink) -> RGB565 words through the shade table."""
    levels = np.round((255 - gray.astype(np.float32)) / 255 * (len(table) - 1)).astype(np.intp)
    return table[levels]


def _count(out: bytearray, kind: int, n: int) -> None:
    if n - 1 <= MAX_SHORT:
        out.append((kind << 6) | (n - 1))
    else:
        out.append((kind << 6) | 63)
        out.extend(int(n).to_bytes(2, "little"))


def span_encode(frame: np.ndarray, prev: np.ndarray) -> bytes:
    """One frame's spans (uint16 words, any shape) against the previous frame's."""
    cur, old = frame.ravel().astype(np.uint16), prev.ravel().astype(np.uint16)
    if cur.shape != old.shape:
        raise EmosketchError("span_encode: the frames differ in size")
    out = bytearray()
    changed = cur != old
    edges = np.flatnonzero(np.diff(changed.astype(np.int8))) + 1
    bounds = np.concatenate(([0], edges, [len(cur)])).tolist()
    for a, b in zip(bounds[:-1], bounds[1:]):
        if not changed[a]:
            while a < b:
                n = min(b - a, 65535)
                _count(out, SKIP, n)
                a += n
            continue
        seg = cur[a:b]
        run_edges = np.flatnonzero(seg[1:] != seg[:-1]) + 1
        starts = np.concatenate(([0], run_edges)).tolist()
        ends = np.concatenate((run_edges, [len(seg)])).tolist()
        lit = 0  # start of the pending literal words
        for s, e in zip(starts, ends):
            if e - s < 3:  # short runs cost less as literals
                continue
            _literals(out, seg[lit:s])
            i = s
            while i < e:
                n = min(e - i, 65535)
                _count(out, RUN, n)
                out.extend(int(seg[s]).to_bytes(2, "little"))
                i += n
            lit = e
        _literals(out, seg[lit:])
    return bytes(out)


def _literals(out: bytearray, words: np.ndarray) -> None:
    for i in range(0, len(words), 65535):
        chunk = words[i:i + 65535]
        _count(out, LITERAL, len(chunk))
        out.extend(chunk.astype("<u2").tobytes())


def span_decode(data: bytes, prev: np.ndarray) -> np.ndarray:
    """The inverse of span_encode: the frame (uint16, prev's shape) the spans make of prev."""
    out = prev.ravel().astype(np.uint16).copy()
    i = o = 0
    n_data, total = len(data), out.size
    while i < n_data:
        c = data[i]
        i += 1
        kind, n = c >> 6, (c & 63) + 1
        if n == 64:
            if i + 2 > n_data:
                raise EmosketchError("span stream ends inside a count")
            n = int.from_bytes(data[i:i + 2], "little")
            i += 2
        if kind > RUN or n == 0 or o + n > total:
            raise EmosketchError(f"span stream: bad span at byte {i - 1} (kind {kind}, {n} pixels at pixel {o})")
        if kind == LITERAL:
            if i + 2 * n > n_data:
                raise EmosketchError("span stream ends inside a literal")
            out[o:o + n] = np.frombuffer(data[i:i + 2 * n], "<u2")
            i += 2 * n
        elif kind == RUN:
            if i + 2 > n_data:
                raise EmosketchError("span stream ends inside a run")
            out[o:o + n] = int.from_bytes(data[i:i + 2], "little")
            i += 2
        o += n
    return out.reshape(prev.shape)


@dataclass(frozen=True)
class TftOptions:
    panel: str = "st7789-240x240"  # see PANELS
    ink: str = "#000000"  # dark strokes on a light panel, as the panel drawing (export.panel.PANEL) reads best
    paper: str = "#ffffff"
    shades: int = 2  # levels from paper to ink: 2 = hard lines (six emotions at 240x240: 3.0 MB); 4 = antialiased (6.8 MB)
    layout_mode: str = "fit"  # as export.panel.PANEL: the whole face, never stretched (see Layout); face, fill, stretch
    framing: str = "auto"
    name: str = "pack"  # as the CLI's --name; "emosketch" would be the player's own emosketch_tft.h

    def size(self) -> tuple[int, int]:
        if self.panel not in PANELS:
            raise EmosketchError(f"TFT panel {self.panel!r}: expected one of {', '.join(PANELS)}")
        return PANELS[self.panel]


@dataclass
class TftPack:
    width: int
    height: int
    paper: int  # RGB565 of the paper: what the player fills the screen with first
    table: np.ndarray  # uint16 [shades]
    names: list[str]
    idents: list[str]
    firsts: list[int]
    counts: list[int]
    fpss: list[float]
    words: np.ndarray  # uint16 [T, H, W]: what the pack must decode to
    payloads: list[bytes]
    options: TftOptions
    notes: list[str] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        return b"".join(self.payloads)

    @property
    def offsets(self) -> list[int]:
        return np.concatenate(([0], np.cumsum([len(p) for p in self.payloads]))).astype(int).tolist()

    @property
    def raw_bytes(self) -> int:
        return 2 * self.width * self.height * len(self.payloads)

    def manifest(self) -> dict:
        return {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "emosketch": __version__,
            "panel": self.options.panel, "width": self.width, "height": self.height,
            "pixels": "RGB565, little-endian words", "ink": self.options.ink, "paper": self.options.paper,
            "paper_rgb565": self.paper, "shades": [int(v) for v in self.table],
            "codec": "spans: control byte c, kind c >> 6 (0 skip, 1 literal words, 2 run of one word), "
                     "count (c & 63) + 1, or a little-endian uint16 count when c & 63 == 63; against the "
                     "previous frame, a sequence's first frame against a screen of paper",
            "name": identifier(self.options.name), "emotions": emotion_table(self.names),
            "sequences": [{"name": n, "ident": i, "first_frame": f, "frame_count": c, "fps": fps}
                          for n, i, f, c, fps in zip(self.names, self.idents, self.firsts, self.counts, self.fpss)],
            "frames": [{"offset": o, "size": len(p)} for o, p in zip(self.offsets, self.payloads)],
            "total_bytes": self.offsets[-1], "raw_bytes": self.raw_bytes,
        }


def symbols(name: str, idents: list[str], emotions: list[str]) -> list[str]:
    """Every name a TFT pack's header defines, in the order it defines them."""
    upper = name.upper()
    out = [f"{upper}_{m}" for m in ("TFT_H", "WIDTH", "HEIGHT", "PAPER", "FRAME_COUNT", "SEQUENCE_COUNT")]
    out += [f"{upper}_SEQ_{i.upper()}" for i in idents] + [f"{upper}_EMOTION_COUNT"]
    out += [f"{upper}_EMOTION_{identifier(e).upper()}" for e in emotions] or [f"{upper}_EMOTION_NONE"]
    return out + [f"{name}_tft_{t}" for t in ("emotion_names", "idle", "transitions", "sequence_names", "data",
                                              "offsets", "sequences", "pack")]


def check_names(name: str, names: list[str]) -> None:
    """Refuse, before any work, a TFT pack whose header would be the player's (emosketch_tft.h), use the
    player's es_ names, or define one symbol twice (an emotion named 'count' makes <NAME>_EMOTION_COUNT)."""
    from .c_header import RESERVED_NAMES, check_library_macros, repeated

    ident = identifier(name)
    if ident in RESERVED_NAMES | {"emosketch"} or ident.startswith("es_"):
        raise EmosketchError(f"pack name {name!r} is reserved for the player's files and symbols (emosketch, es, "
                             "es_*); choose another --name")
    defined = symbols(ident, [identifier(n) for n in names], emotion_table(names)["names"])
    check_library_macros(name, defined)
    twice = repeated(defined)
    if twice:
        raise EmosketchError(f"pack {ident!r}: the C header would define {', '.join(twice)} twice; rename the "
                             "sequence or emotion that makes it")


def build_tft_pack(inputs: list[tuple[str, str, Frames]], opts: TftOptions, box=None) -> TftPack:
    """[(sequence name, source, Frames)] -> a TFT pack: the face laid out on the panel, shaded, and
    span-coded frame by frame. `box`: where the face is (framing.FaceBox; default: found in the frames)."""
    if not inputs:
        raise EmosketchError("no input frames given")
    check_names(opts.name, [n for n, _, _ in inputs])
    w, h = opts.size()
    table = shade_table(parse_colour(opts.ink), parse_colour(opts.paper), opts.shades)
    layout = Layout(w, h, opts.layout_mode, framing=opts.framing, box=box if opts.layout_mode == "face" else None)
    layout = _steady_layout(layout, [f for _, _, f in inputs])
    names, idents, firsts, counts, fpss, words = [], [], [], [], [], []
    seen: dict[str, str] = {}
    first = 0
    for name, source, frames in inputs:
        ident = identifier(name)
        if ident in seen:
            raise EmosketchError(f"{source}: sequence name {name!r} becomes {ident!r}, the same as the "
                                 f"sequence from {seen[ident]}; rename one of them")
        if len(frames) == 0:
            raise EmosketchError(f"{source}: sequence {name!r} has no frames")
        seen[ident] = source
        words.append(to_rgb565(apply_layout(frames.frames, layout, _zooms(frames)), table))
        names.append(name)
        idents.append(ident)
        firsts.append(first)
        counts.append(len(frames))
        fpss.append(float(frames.fps))
        first += len(frames)
    all_words = np.concatenate(words)
    paper = np.full((h, w), table[0], np.uint16)
    payloads = []
    for i, frame in enumerate(all_words):
        prev = paper if i in firsts else all_words[i - 1]
        payloads.append(span_encode(frame, prev))
    return TftPack(w, h, int(table[0]), table, names, idents, firsts, counts, fpss, all_words, payloads, opts)


def decode_tft_pack(folder: str | Path) -> np.ndarray:
    """A written pack's frames, decoded from manifest.json and frames.bin alone: uint16 [T, H, W]."""
    folder = Path(folder)
    m = json.loads((folder / "manifest.json").read_text())
    if m.get("format") != FORMAT_NAME:
        raise EmosketchError(f"{folder}: not an emosketch TFT pack")
    data = (folder / "frames.bin").read_bytes()
    paper = np.full((m["height"], m["width"]), m["paper_rgb565"], np.uint16)
    firsts = {s["first_frame"] for s in m["sequences"]}
    out, prev = [], paper
    for i, f in enumerate(m["frames"]):
        prev = span_decode(data[f["offset"]:f["offset"] + f["size"]], paper if i in firsts else prev)
        out.append(prev)
    return np.stack(out)


HEADER = """\
/* emosketch TFT pack "{name}": {frames} frames in {nseq} sequences, {w}x{h} RGB565 ({panel}),
 * ink 0x{ink565:04X}, paper 0x{paper565:04X}; {data_bytes} bytes of span-coded frame data ({ratio:.1f}:1 against raw).
 * Generated by emosketch {version}. Play it with emosketch_tft.h/.c (written beside this file).
 */
#ifndef {upper}_TFT_H
#define {upper}_TFT_H

#include <stdint.h>
#include "emosketch_tft.h"

#define {upper}_WIDTH {w}u
#define {upper}_HEIGHT {h}u
#define {upper}_PAPER 0x{paper565:04X}u
#define {upper}_FRAME_COUNT {frames}u
#define {upper}_SEQUENCE_COUNT {nseq}u

/* Sequence indices into {name}_tft_sequences, and the sequences' names. */
enum {{
{enum}
}};

/* Emotions of the state machine (sequences idle_<emotion> and <a>_to_<b>), and their names (for
 * es_agent_init, the agent on the board: emosketch_agent.h). */
#define {upper}_EMOTION_COUNT {nemo}u
enum {{
{emotion_enum}
}};
#if defined(__AVR__)  /* in flash, where es_agent_init reads them on AVR, whatever ES_TFT_PROGMEM says */
#include <avr/pgmspace.h>
static const char {name}_tft_emotion_names[] PROGMEM ES_TFT_UNUSED = {emotion_names};
#else
static const char {name}_tft_emotion_names[] ES_TFT_UNUSED = {emotion_names};
#endif

/* Per emotion: its idle loop; per pair: the transition, -1 = cut straight to the loop; ES_TFT_END ends each. */
static const int16_t {name}_tft_idle[{nemo_array}] ES_TFT_PROGMEM ES_TFT_UNUSED = {{
{idle}
}};
static const int16_t {name}_tft_transitions[{nemo_square}] ES_TFT_PROGMEM ES_TFT_UNUSED = {{
{transitions}
}};

static const char *const {name}_tft_sequence_names[{upper}_SEQUENCE_COUNT] ES_TFT_UNUSED = {{
{sequence_names}
}};

static const uint8_t {name}_tft_data[] ES_TFT_PROGMEM ES_TFT_UNUSED = {{
{data}
}};

static const uint32_t {name}_tft_offsets[{upper}_FRAME_COUNT + 1u] ES_TFT_PROGMEM ES_TFT_UNUSED = {{
{offsets}
}};

/* Per sequence: first frame, frame count, milliseconds per frame. */
static const uint16_t {name}_tft_sequences[{upper}_SEQUENCE_COUNT][3] ES_TFT_PROGMEM ES_TFT_UNUSED = {{
{sequences}
}};

static const es_tft_pack {name}_tft_pack ES_TFT_UNUSED = {{
    {w}u, {h}u, 0x{paper565:04X}u, {upper}_FRAME_COUNT, {upper}_SEQUENCE_COUNT, {upper}_EMOTION_COUNT,
    {name}_tft_data, {name}_tft_offsets, &{name}_tft_sequences[0][0], {name}_tft_idle, {name}_tft_transitions,
    {data_bytes}u
}};

#endif
"""


def _rows(values: list[int], per_line: int, fmt: str) -> str:
    return "\n".join("    " + ", ".join(fmt.format(v) for v in values[i:i + per_line]) + ","
                     for i in range(0, len(values), per_line))


def c_header(pack: TftPack) -> str:
    check_names(pack.options.name, pack.names)
    name = identifier(pack.options.name)
    upper = name.upper()
    emo = emotion_table(pack.names)
    n = len(emo["names"])
    return HEADER.format(
        nemo=n, nemo_array=n + 1, nemo_square=n * n + 1,
        emotion_enum="\n".join(f"    {upper}_EMOTION_{identifier(e).upper()} = {k}," for k, e in enumerate(emo["names"]))
        or f"    {upper}_EMOTION_NONE = 0,",
        emotion_names=c_string(",".join(emo["names"])),
        idle=_rows([*emo["idle"], "ES_TFT_END"], 16, "{}"),
        transitions=_rows([*(t for row in emo["transitions"] for t in row), "ES_TFT_END"], 16, "{}"),
        name=name, upper=upper, frames=len(pack.payloads), nseq=len(pack.names), w=pack.width, h=pack.height,
        panel=pack.options.panel, ink565=int(pack.table[-1]),
        data_bytes=len(pack.data), ratio=pack.raw_bytes / max(1, len(pack.data)), version=__version__,
        paper565=pack.paper,
        sequence_names="\n".join(f"    {c_string(n)}," for n in pack.names),
        enum="\n".join(f"    {upper}_SEQ_{i.upper()} = {k}," for k, i in enumerate(pack.idents)),
        data=_rows(list(pack.data), 16, "0x{:02X}"), offsets=_rows(pack.offsets, 8, "{}u"),
        sequences="\n".join(f"    {{{f}u, {c}u, {max(1, round(1000 / fps))}u}},"
                            for f, c, fps in zip(pack.firsts, pack.counts, pack.fpss)))


def write_tft_pack(pack: TftPack, out: str | Path, force: bool = False) -> Path:
    """manifest.json, frames.bin, <name>_tft.h, the player core and the two Arduino examples, and a
    preview GIF in the panel's colours, written atomically and verified: the folder's frames.bin,
    decoded from the manifest alone, must give pack.words exactly, or nothing is written."""
    import shutil

    import imageio.v2 as imageio

    from .players import C_AGENT, TFT_EXAMPLES, TFT_PLAYER

    name = identifier(pack.options.name)
    with atomic_dir(out, overwrite=force) as tmp:
        (tmp / "frames.bin").write_bytes(pack.data)
        (tmp / "manifest.json").write_text(json.dumps(pack.manifest(), indent=1) + "\n")
        (tmp / f"{name}_tft.h").write_text(c_header(pack))
        for src in (*TFT_PLAYER, *C_AGENT):
            shutil.copyfile(src, tmp / src.name)
        for example in TFT_EXAMPLES.iterdir():
            (tmp / example.name).mkdir()
            text = (example / f"{example.name}.ino").read_text().replace("pack_tft.h", f"{name}_tft.h") \
                .replace("pack_tft_pack", f"{name}_tft_pack")
            (tmp / example.name / f"{example.name}.ino").write_text(text)
        rgb = np.stack([((pack.words >> 11) & 31) * 255 // 31, ((pack.words >> 5) & 63) * 255 // 63,
                        (pack.words & 31) * 255 // 31], -1).astype(np.uint8)
        imageio.mimsave(tmp / "preview.gif", list(rgb), duration=1 / max(pack.fpss), loop=0)
        decoded = decode_tft_pack(tmp)
        if decoded.shape != pack.words.shape or not np.array_equal(decoded, pack.words):
            raise EmosketchError(f"{out}: verification failed: frames.bin does not decode to the pack (not written)")
    return Path(out)
