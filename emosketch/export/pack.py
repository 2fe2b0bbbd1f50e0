"""A Pack: named sequences of 1-bit frames, laid out, dithered, packed and compressed for a display.

`build_pack` makes one from Frames; `fit_budget` makes it fit a flash budget. The model only:
writing a pack's files is export/write.py's `write_pack`, which imports the writers.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .. import __version__
from ..emotions import EMOTIONS, canonical
from ..errors import EmosketchError, is_real, is_whole, shown
from ..frames import MAX_FPS, MIN_FPS, Frames
from . import codec as codecs
from . import ctx
from .dither import Dither, narrow, to_bits
from .layout import Layout, apply_layout, with_face
from .pixels import PixelFormat, pixel_format

FORMAT_NAME = "emosketch-pack"
FORMAT_VERSION = 1
C_KEYWORDS = set("""auto break case char const continue default do double else enum extern float for
goto if inline int long register restrict return short signed sizeof static struct switch typedef union
unsigned void volatile while bool true false""".split())


def words(name: str) -> str:
    """A sequence name's words, lower-case, joined by '_' ('Idle happy!' -> 'idle_happy')."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower()


def identifier(name: str) -> str:
    """A valid C and Python identifier made from any sequence name."""
    ident = words(name) or "seq"
    if ident[0].isdigit() or ident in C_KEYWORDS or keyword.iskeyword(ident):
        ident = "seq_" + ident  # a prefix, not a trailing _: INT__H would be a name C++ reserves
    return ident


@dataclass
class Sequence:
    name: str  # as the user or the frames named it
    ident: str  # C / Python identifier
    source: str  # where the frames came from
    first: int  # index of the sequence's first frame in the pack
    count: int  # frames kept in the pack
    fps: float  # playback rate of the kept frames (lowered when frames were dropped)
    original_count: int  # frames before any were dropped for a budget
    kept: list[int] = field(default_factory=list)  # original indices of the kept frames


@dataclass
class Pack:
    width: int
    height: int
    fmt: PixelFormat
    codec: str  # what was asked for: auto, raw, rle, delta or ctx
    fps: float
    sequences: list[Sequence]
    bits: np.ndarray  # bool [T, H, W], True = lit pixel: what the pack must decode to
    payloads: list[tuple[int, bytes]]  # (codec id, bytes) per frame
    classes: list[str] = field(default_factory=list)
    name: str = "emosketch"  # identifier prefix in the C header and the MicroPython module
    settings: dict = field(default_factory=dict)  # layout and dither settings, for the manifest
    notes: list[str] = field(default_factory=list)  # what fitting a budget changed
    model: bytes = b""  # the context codec's model (export/ctx.py), when any frame uses it
    pen: int = 1  # 2: the frames are stored as the skeletons that the player redraws with a 2x2 pen (dither.narrow)

    @property
    def frame_bytes(self) -> int:
        return self.fmt.frame_bytes(self.width, self.height)

    @property
    def data(self) -> bytes:
        return b"".join(p for _, p in self.payloads)

    @property
    def offsets(self) -> list[int]:
        """Byte offset of each frame in frames.bin, plus the end."""
        return np.concatenate(([0], np.cumsum([len(p) for _, p in self.payloads]))).astype(int).tolist()

    @property
    def emotions(self) -> dict:
        """The state machine's tables (see emotion_table) for this pack's sequences."""
        return emotion_table([s.name for s in self.sequences])

    @property
    def flash_bytes(self) -> int:
        """What the pack costs in a microcontroller's flash through the C header: frame data, the
        context model, a uint32 offset per frame (+1), a codec byte per frame and 6 bytes per sequence."""
        n = len(self.payloads)
        return len(self.data) + len(self.model) + 4 * (n + 1) + n + 6 * len(self.sequences)

    def manifest(self) -> dict:
        offsets = self.offsets
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "emosketch": __version__,
            "display": {"width": self.width, "height": self.height, "controller": self.fmt.name},
            "pixel_format": self.fmt.name,
            "bit_order": self.fmt.description,
            "micropython_format": self.fmt.micropython,
            "frame_bytes": self.frame_bytes,
            "ram_columns": self.fmt.stride(self.width) if self.fmt.vertical else None,
            "column_offset": self.fmt.column_offset,
            "lit": "a set bit is a lit pixel",
            "codec": self.codec,
            "codec_ids": {str(k): v for k, v in codecs.NAMES.items()},
            "rle": "control byte c: c < 128 copies the next c+1 bytes; c >= 128 repeats the next byte "
                   "c-125 times; delta frames XOR the decoded bytes into the previous frame",
            "ctx": "context codec (emosketch/export/ctx.py): per 8x8 block of the buffer's bit grid a flag, "
                   "then each pixel's flip, range-coded with the model's chance of 0 for its neighbourhood; "
                   "ctx-key frames decode into a cleared buffer",
            "ctx_model": self.model.hex() or None,
            "pen": self.pen,
            "pen_drawing": "pen 2: each decoded frame is drawn with a 2x2 pen before it is shown: a pixel is lit "
                           "when it or its left, upper or upper-left neighbour is set in the decoded frame",
            "fps": self.fps,
            "classes": self.classes,
            "name": self.name,
            "settings": self.settings,
            "notes": self.notes,
            "sequences": [
                {"name": s.name, "ident": s.ident, "source": s.source, "first_frame": s.first,
                 "frame_count": s.count, "fps": s.fps, "original_frame_count": s.original_count,
                 "kept_frames": s.kept}
                for s in self.sequences
            ],
            "frames": [
                {"offset": offsets[i], "size": len(p), "codec": codecs.NAMES[cid]}
                for i, (cid, p) in enumerate(self.payloads)
            ],
            "emotions": self.emotions,
            "frame_data_bytes": offsets[-1],
            "model_bytes": len(self.model),
            "total_bytes": offsets[-1] + len(self.model),
            "raw_bytes": self.frame_bytes * len(self.payloads),
            "flash_bytes": self.flash_bytes,
        }


def panel_codec(fmt: str, width: int, height: int) -> str:
    """The panel packs' default codec (`emosketch pack`, the demo): the context codec wherever its
    8x8 blocks tile the frame (every page format, and row formats of whole blocks), else 'auto'.
    Measured on the demo photo's full-screen pack: 12.1:1 against 4.8:1; an ATmega328P decodes a
    frame in 39 ms, so every C player keeps the pack's 12 fps, and the MicroPython player takes 5.9 ms
    in MicroPython's WebAssembly port (benchmarks/players.py; not measured on boards)."""
    return "ctx" if ctx.Grid.of(pixel_format(fmt), width, height).usable else "auto"


@dataclass(frozen=True)
class ExportOptions:
    layout: Layout = Layout()
    dither: Dither = Dither()
    pixel_format: str = "ssd1306"  # see pixels.FORMATS
    codec: str = "auto"  # auto (the smallest byte codec per frame), raw, rle, delta or ctx (see panel_codec)
    max_bytes: int | None = None  # flash budget for the whole pack (see Pack.flash_bytes)
    name: str = "emosketch"  # identifier prefix for the C header and MicroPython module
    pen_coding: bool = True  # with a 2 px line (Dither.line): store its skeleton, drawn by the player's pen
    classes: tuple[str, ...] | None = None  # emotion classes the pack covers (default: from the names)
    keep_codec: bool = True  # False (a codec the user did not name): a smaller pack in the byte codecs replaces ctx's

    def __post_init__(self) -> None:
        if not isinstance(self.layout, Layout) or not isinstance(self.dither, Dither):
            raise EmosketchError(f"layout and dither must be a Layout and a Dither, got {type(self.layout).__name__} "
                                 f"and {type(self.dither).__name__}")
        if not isinstance(self.name, str):
            raise EmosketchError(f"name must be a string (the pack's identifier prefix), got {shown(self.name)}")
        if self.max_bytes is not None and (not is_whole(self.max_bytes) or self.max_bytes < 1):
            raise EmosketchError(f"max_bytes must be a whole number of bytes (or None), got {shown(self.max_bytes)}")
        if self.classes is not None:  # a string had been read one letter at a time: classes ["h", "a", "p", ...]
            if isinstance(self.classes, str) or not isinstance(self.classes, (list, tuple)) or not all(
                    isinstance(c, str) and c.strip() for c in self.classes) or len(self.classes) > 255:
                raise EmosketchError(f"classes must be a list of up to 255 emotion names, got {shown(self.classes)}")
            names = tuple(canonical(c) for c in self.classes)
            if len(set(names)) != len(names):
                raise EmosketchError(f"classes name an emotion twice: {shown(self.classes)}")
            object.__setattr__(self, "classes", names)


def _classes_from_names(names: list[str]) -> list[str]:
    found = set()
    for name in names:
        for token in re.split(r"[^0-9a-zA-Z]+", name):
            if token and canonical(token) in EMOTIONS:
                found.add(canonical(token))
    return [e for e in EMOTIONS if e in found]


def emotion_table(names: list[str]) -> dict:
    """The state machine's tables from sequence names: 'idle_<e>' (or '<e>', '<e>_idle') is emotion e's
    idle loop, '<a>_to_<b>' the transition from a to b. Emotions are those with an idle loop, in
    the canonical order; transitions[a][b] is a sequence index or -1 (cut straight to b's loop)."""
    idle: dict[str, int] = {}
    pairs: dict[tuple[str, str], int] = {}
    for i, name in enumerate(names):
        # the name's words, not its C identifier: '2_to_int' is the transition from 2 to int, where the identifier
        # (seq_2_to_int) had hidden it, and idle_2's emotion is 2, as the manifest and index.bin name it
        key = words(name)
        m = re.fullmatch(r"(?:idle_)?([a-z0-9]+?)(?:_idle)?", key)
        t = re.fullmatch(r"([a-z0-9]+)_to_([a-z0-9]+)", key)
        if t:
            pairs[(canonical(t.group(1)), canonical(t.group(2)))] = i
        elif m and m.group(1) not in ("seq",):
            idle.setdefault(canonical(m.group(1)), i)
    order = [e for e in EMOTIONS if e in idle] + sorted(set(idle) - set(EMOTIONS))
    return {
        "names": order,
        "idle": [idle[e] for e in order],
        "transitions": [[pairs.get((a, b), -1) if a != b else -1 for b in order] for a in order],
    }


def _encode(bits_per_seq: list[np.ndarray], fmt: PixelFormat, codec: str,
            width: int, height: int) -> tuple[list[tuple[int, bytes]], bytes]:
    """(codec id, payload) per frame, and the context model (b"" unless codec is 'ctx').

    'auto' keeps the smallest byte codec per frame: the least decode work. 'ctx' context-codes every
    frame: half the bytes or less on line art (an ATmega328P decodes a full-screen 128x64 frame of a
    page format in about 40 ms; benchmarks/players.py)."""
    packed = [fmt.pack(b) for b in bits_per_seq]
    frames = np.concatenate(packed)
    firsts = set(np.cumsum([0] + [len(p) for p in packed[:-1]]).tolist())
    if codec != "ctx":
        return codecs.encode_frames(frames, codec, keyframes=firsts), b""
    grid = ctx.Grid.of(fmt, width, height)
    if not grid.usable:
        raise EmosketchError(f"--codec ctx: a {width}x{height} {fmt.name} frame is not a grid of whole 8x8 "
                             f"blocks of at most {ctx.MAX_BLOCK_COLUMNS} block columns; use auto")
    model, coded = ctx.encode_frames(grid, frames, firsts)
    return [(codecs.CTX_KEY if i in firsts else codecs.CTX, c) for i, c in enumerate(coded)], model


def _assemble(opts: ExportOptions, fmt: PixelFormat, names: list[tuple[str, str]], bits: list[np.ndarray],
              kept: list[list[int]], originals: list[int], fpss: list[float], codec: str) -> Pack:
    sequences = []
    first = 0
    pen, stored = 1, bits
    if opts.pen_coding and opts.dither.thin and opts.dither.line == 2 and opts.dither.polarity == "ink":
        skeletons = [narrow(b) for b in bits]
        if all(s is not None for s in skeletons):
            pen, stored = 2, skeletons
    payloads, model = _encode(stored, fmt, codec, opts.layout.width, opts.layout.height)
    for (name, source), b, k, n, f in zip(names, bits, kept, originals, fpss):
        sequences.append(Sequence(name, identifier(name), source, first, len(b), f * len(b) / n, n, k))
        first += len(b)
    return Pack(
        width=opts.layout.width, height=opts.layout.height, fmt=fmt, codec=codec,
        fps=max(fpss), sequences=sequences, bits=np.concatenate(bits), payloads=payloads, model=model, pen=pen,
        classes=list(opts.classes) if opts.classes else _classes_from_names([n for n, _ in names]),
        name=identifier(opts.name), settings={"layout": asdict(opts.layout), "dither": asdict(opts.dither)},
    )


def _steady_layout(layout: Layout, frames: list[Frames]) -> Layout:
    """Face mode: one face box for the whole pack, so no sequence is framed apart from the others
    (each frame size keeps its own box when the inputs differ in size)."""
    sizes = {f.frames.shape[1:] for f in frames}
    if layout.mode != "face" or layout.box is not None or len(sizes) != 1:
        return layout
    picks = [f.frames[i] for f in frames for i in np.unique(np.linspace(0, len(f) - 1, min(3, len(f))).astype(int))]
    return with_face(layout, np.stack(picks))


def _zooms(frames: Frames) -> list[float] | None:
    """Per-frame zooms from the frames' 'zoom' marks (e.g. a timeline's zoom: or an idle loop's
    breathing), or None when no frame has one."""
    if not frames.marks or not any("zoom" in m for m in frames.marks):
        return None
    out = []
    for i, m in enumerate(frames.marks):
        z = m.get("zoom", 1.0)
        if not is_real(z):  # a mark written by hand ("abc", [1]): NaN, 0 and negatives are refused by the layout
            raise EmosketchError(f"frame {i}'s zoom mark is {shown(z)}, not a number (a zoom of 1 draws the "
                                 "layout as it is)")
        out.append(float(z))
    return out


def dither_sequences(names: list[str], grays: list[np.ndarray], d: Dither) -> list[np.ndarray]:
    """Each sequence's bits. A stable dither has a history (a pixel holds until its gray clearly
    crosses), so a sequence's first frame, dithered afresh, does not match where the player comes
    from. Where the state machine joins sequences, they are dithered to meet: an idle loop is dithered
    twice round and keeps the second round, so its last frame leads into its first as any frame leads
    into the next; a transition into an emotion is dithered backwards, from that emotion's idle loop
    on, so it ends on the loop's first frame (the same gray frame) bit for bit, and its end frame,
    the emotion it arrives at, does not carry strokes of the emotion it left."""
    if not d.stable:
        return [to_bits(g, d) for g in grays]
    table = emotion_table(names)
    bits: list[np.ndarray | None] = [None] * len(grays)
    for k in table["idle"]:
        bits[k] = to_bits(np.concatenate([grays[k], grays[k]]), d)[len(grays[k]):]
    for row in table["transitions"]:
        for t, loop in zip(row, table["idle"]):
            if t < 0 or grays[t].shape[1:] != grays[loop].shape[1:]:
                continue
            run = to_bits(np.concatenate([grays[loop], grays[loop][:1], grays[t][::-1]]), d)
            bits[t] = np.ascontiguousarray(run[len(grays[loop]) + 1:][::-1])
    return [b if b is not None else to_bits(g, d) for b, g in zip(bits, grays)]


MAX_FRAME_BYTES = 0xFFFF  # the pack header's frame size is a 16-bit field


def check_fps(fps: float, what: str) -> None:
    """Refuse a frame rate that a pack cannot hold (or NaN, infinity, zero, negative)."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.number)):  # '12' had been a TypeError
        raise EmosketchError(f"{what} {shown(fps)}: a pack plays from {MIN_FPS:g} to {MAX_FPS:g} frames per second")
    if not MIN_FPS <= fps <= MAX_FPS:  # False for NaN as well
        raise EmosketchError(f"{what} {fps:g}: a pack plays from {MIN_FPS:g} to {MAX_FPS:g} frames per second")


def check_geometry(opts: ExportOptions) -> None:
    """Refuse a panel size whose frame does not fit the pack's 16-bit frame size, before any work."""
    fmt = pixel_format(opts.pixel_format)
    fmt.check(opts.layout.width, opts.layout.height)
    size = fmt.frame_bytes(opts.layout.width, opts.layout.height)
    if size > MAX_FRAME_BYTES:
        raise EmosketchError(f"size {opts.layout.width}x{opts.layout.height}: a {fmt.name} frame of {size:,} bytes "
                             f"does not fit a pack (at most {MAX_FRAME_BYTES:,} bytes a frame)")


def check_counts(frames: int, names: list[str]) -> None:
    """What index.bin and the C header count in 16 bits (frames, sequences) and 8 (emotions), refused
    before any work rather than failing as the tables are written."""
    emotions = len(emotion_table(names)["names"])
    if frames > 65535 or len(names) > 65535 or emotions > 255:
        raise EmosketchError(f"a pack holds at most 65,535 frames, 65,535 sequences and 255 emotions; these inputs "
                             f"make {frames:,}, {len(names):,} and {emotions:,}: split them over several packs")


def build_pack(inputs: list[tuple[str, str, Frames]], opts: ExportOptions) -> Pack:
    """[(sequence name, source, Frames)] -> Pack, fitted to opts.max_bytes when it is set."""
    if not inputs:
        raise EmosketchError("no input frames given")
    check_geometry(opts)
    fmt = pixel_format(opts.pixel_format)
    if opts.codec not in codecs.CODECS:
        raise EmosketchError(f"codec {opts.codec!r}: expected one of {', '.join(codecs.CODECS)}")
    seen: dict[str, str] = {}
    for name, source, frames in inputs:
        if len(frames) == 0:
            raise EmosketchError(f"{source}: sequence {name!r} has no frames")
        check_fps(float(frames.fps), f"{source}: sequence {name!r} frame rate")
        ident = identifier(name)
        if ident in seen:
            raise EmosketchError(f"{source}: sequence name {name!r} becomes {ident!r}, the same as "
                                 f"the sequence from {seen[ident]}; rename one of them")
        seen[ident] = source
    check_counts(sum(len(f) for _, _, f in inputs), [n for n, _, _ in inputs])
    opts = replace(opts, layout=_steady_layout(opts.layout, [f for _, _, f in inputs]))
    grays = [apply_layout(f.frames, opts.layout, _zooms(f)) for _, _, f in inputs]
    bits = dither_sequences([n for n, _, _ in inputs], grays, opts.dither)
    names = [(n, s) for n, s, _ in inputs]
    fpss = [float(f.fps) for _, _, f in inputs]
    originals = [len(b) for b in bits]
    pack = _assemble(opts, fmt, names, bits, [list(range(n)) for n in originals], originals, fpss, opts.codec)
    if opts.max_bytes is not None and pack.flash_bytes > opts.max_bytes:
        pack = fit_budget(opts, fmt, names, bits, fpss, pack)
    elif opts.codec == "ctx" and not opts.keep_codec:  # a few small frames: the context model can outweigh its gain
        plain = _assemble(opts, fmt, names, bits, [list(range(n)) for n in originals], originals, fpss, "auto")
        if plain.flash_bytes < pack.flash_bytes:
            plain.notes = [f"the context codec's {len(pack.model)}-byte model outweighs what it saves on "
                           f"{len(plain.payloads)} frame{'s' if len(plain.payloads) != 1 else ''}: codec auto, "
                           f"{plain.flash_bytes} bytes of flash against {pack.flash_bytes}"]
            pack = plain
    still = [n for n, _, f in inputs if len(f) == 1]
    if opts.layout.zoom_to is not None and still:  # a ramp needs frames to ramp over
        pack.notes = [f"--zoom-to ramps the zoom over a sequence's frames; {', '.join(still[:3])}"
                      f"{' and others' if len(still) > 3 else ''} {'has' if len(still) == 1 else 'have'} one frame, "
                      f"drawn at zoom {opts.layout.zoom:g}", *pack.notes]
    return pack


def _even(n: int, keep: int) -> list[int]:
    """`keep` indices spread evenly over range(n), always keeping the first and (if keep > 1) the last."""
    if keep >= n:
        return list(range(n))
    return sorted(set(np.linspace(0, n - 1, keep).round().astype(int).tolist()))


def fit_budget(opts: ExportOptions, fmt: PixelFormat, names: list[tuple[str, str]],
               bits: list[np.ndarray], fpss: list[float], pack: Pack) -> Pack:
    """Fit a pack into opts.max_bytes: first the smallest codec (the byte codecs' smallest per frame, or the
    context codec's where it was asked for: whichever keeps more frames), then drop frames evenly."""
    budget = opts.max_bytes
    assert budget is not None
    originals = [len(b) for b in bits]
    fits = {c: _fit(opts, fmt, names, bits, fpss, c, budget, pack if c == opts.codec else None)
            for c in (("ctx", "auto") if opts.codec == "ctx" else ("auto",))}
    fitting = {c: best for c, (best, _) in fits.items() if best is not None}
    if not fitting:
        need = min(smallest for _, smallest in fits.values())
        raise EmosketchError(f"--max-bytes {budget}: even one frame per sequence needs "
                             f"{need} bytes ({len(names)} sequence{'s' if len(names) != 1 else ''}); fewer sequences fit "
                             "(fewer inputs, or with `pack`, --emotions with fewer emotions), or a smaller drawing "
                             "(the face band: --mode face --thin)")
    codec, best = max(fitting.items(), key=lambda kv: (len(kv[1].payloads), -kv[1].flash_bytes))
    notes = []
    if codec != opts.codec:
        notes.append(f"codec {opts.codec} gives {pack.flash_bytes} bytes, over {budget}; switched to {codec}")
    dropped = sum(originals) - len(best.payloads)
    if not dropped:
        best.notes = notes
        return best
    notes.append(f"dropped {dropped} of {sum(originals)} frames evenly to fit {budget} bytes "
                 f"(the pack takes {best.flash_bytes} bytes of flash with its tables)")
    cut = [s for s in best.sequences if s.count < s.original_count]
    if all(s.count == 1 for s in best.sequences):
        notes.append("every sequence keeps one frame: the face changes emotion but does not move; fewer sequences "
                     "(with `pack`, fewer --emotions) keep it moving")
    elif len(cut) > 8:  # one line for many, not one a sequence
        notes.append(f"{len(cut)} of {len(best.sequences)} sequences shortened, each to {_span([s.count for s in cut])} "
                     f"of its frames (fps {_span([s.fps for s in cut], '.2f')})")
    else:
        notes += [f"{s.name}: kept {s.count} of {s.original_count} frames, fps {s.fps:.2f}" for s in cut]
    best.notes = notes
    return best


def _fit(opts: ExportOptions, fmt: PixelFormat, names: list[tuple[str, str]], bits: list[np.ndarray],
         fpss: list[float], codec: str, budget: int, whole: Pack | None = None) -> tuple[Pack | None, int]:
    """The pack in `codec` with the most frames, kept evenly, that fits `budget` (None when even one frame a
    sequence does not), and the bytes that one frame a sequence takes. `whole`: every frame in `codec`, when
    the caller has it already (encoding is the costly part)."""
    originals = [len(b) for b in bits]

    def attempt(fraction: float) -> Pack:
        kept = [_even(n, max(1, int(round(n * fraction)))) for n in originals]
        return _assemble(opts, fmt, names, [b[k] for b, k in zip(bits, kept)], kept, originals, fpss, codec)

    whole = whole if whole is not None else attempt(1.0)
    if whole.flash_bytes <= budget:
        return whole, whole.flash_bytes
    smallest = attempt(0.0)
    if smallest.flash_bytes > budget:
        return None, smallest.flash_bytes
    best, lo, hi = smallest, 0.0, 1.0
    for _ in range(14):
        mid = (lo + hi) / 2
        trial = attempt(mid)
        if trial.flash_bytes <= budget:
            best, lo = trial, mid
        else:
            hi = mid
    return best, smallest.flash_bytes


def _span(values: list, fmt: str = "") -> str:
    """'3' or '3-7': the range of some counts or rates, for a note."""
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    return lo if lo == hi else f"{lo}-{hi}"
