"""The context codec: each pixel's flip against the frame buffer, range-coded with a probability
looked up from the pixels around it (as JBIG does for still pictures, here across frames too).

A frame is coded over its "bit grid", the frame buffer's bytes seen as a grid of bits:
- page formats (ssd1306, sh1106, sh1107): rows = pages * 8, columns = RAM columns; bit r % 8 of
  byte (r // 8) * columns + c;
- row formats (gfx, xbm): rows = height, columns = 8 * bytes per row; bit c % 8 of byte
  r * stride + c // 8 (bit 0 = the least significant bit, whatever the format's pixel order).
The grid is cut into 8x8 blocks, visited row by row, and each block's pixels row by row. Per block,
one coded bit says whether any of its pixels flip; in a block that does, every pixel codes its flip
(0 keep, 1 flip). A pixel's context is the buffer at the moment it is decoded, at the TEMPLATE's
offsets (0 outside the grid): pixels already decoded hold the new frame, the others the old one.
A key frame is decoded into a cleared buffer and sets the KEY bit of every context, so the one model
serves both: context bit k is the pixel at TEMPLATE[k], bit 10 the KEY bit. A block's context is
left flag | upper flag << 1 | key << 2 (0 beyond the edges), stored after the 2048 pixel contexts.

The model is one byte per context: the chance of 0 (keep) in 1/256ths, 1..255, fitted to the whole
pack (MODEL_BYTES bytes, stored once). The range coder is LZMA's, with 8-bit probabilities:
  bound = (range >> 8) * p; bit 0 if code < bound (range = bound) else 1 (code -= bound, range -= bound);
  while range < 2**24: range <<= 8, code = (code << 8) | next byte (0 past the end).
The decoder starts with range 0xFFFFFFFF and code = the first 4 bytes, big-endian.
The encoder flushes its low end in full, so a sound frame's decoder ends with code 0, having read
every byte of the frame (and maybe the stripped zeros past it). A frame cut short or damaged ends
otherwise (all but about one in 2**24 times), and every decoder refuses it: the trailing zeros are
stripped, so the length alone cannot tell.
No state outlives a frame, so any frame decodes from the one before it, as a delta frame does.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..errors import EmosketchError
from .pixels import PixelFormat

BLOCK = 8
TEMPLATE = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 0), (0, 1), (1, -1), (1, 0), (1, 1), (0, -2))
KEY = 1 << len(TEMPLATE)  # the key-frame bit of a pixel context
PIXEL_CONTEXTS = 2 * KEY
BLOCK_CONTEXTS = 8  # left flag, upper flag, key
MODEL_BYTES = PIXEL_CONTEXTS + BLOCK_CONTEXTS
MAX_BLOCK_COLUMNS = 32  # the C player keeps the upper row's flags in one 32-bit word
TOP = 1 << 24
MASK32 = 0xFFFFFFFF


@dataclass(frozen=True)
class Grid:
    """A frame buffer's bit grid (see the module docstring)."""

    rows: int
    cols: int
    vertical: bool
    stride: int  # bytes per page (vertical) or per row

    @classmethod
    def of(cls, fmt: PixelFormat, width: int, height: int) -> Grid:
        stride = fmt.stride(width)
        if fmt.vertical:
            return cls(-(-height // 8) * 8, stride, True, stride)
        return cls(height, stride * 8, False, stride)

    @property
    def block_cols(self) -> int:
        return -(-self.cols // BLOCK)

    @property
    def usable(self) -> bool:
        """Whole block rows, and few enough block columns for the C player."""
        return self.rows % BLOCK == 0 and self.block_cols <= MAX_BLOCK_COLUMNS

    def unpack(self, frames: np.ndarray) -> np.ndarray:
        """uint8 [T, frame_bytes] -> bool [T, rows, cols]."""
        t = len(frames)
        if self.vertical:
            b = np.unpackbits(frames.reshape(t, self.rows // 8, self.cols, 1), axis=3, bitorder="little")
            return b.transpose(0, 1, 3, 2).reshape(t, self.rows, self.cols).astype(bool)
        return np.unpackbits(frames.reshape(t, self.rows, self.stride), axis=2, bitorder="little").astype(bool)

    def pack(self, grid: np.ndarray) -> np.ndarray:
        """bool [T, rows, cols] -> uint8 [T, frame_bytes]."""
        t = len(grid)
        if self.vertical:
            strips = grid.reshape(t, self.rows // 8, 8, self.cols).transpose(0, 1, 3, 2)
            return np.packbits(strips, axis=3, bitorder="little").reshape(t, -1)
        return np.packbits(grid, axis=2, bitorder="little").reshape(t, -1)


@functools.lru_cache(maxsize=16)
def _before(grid: Grid) -> np.ndarray:
    """bool [len(TEMPLATE), rows, cols]: whether the TEMPLATE neighbour of each pixel is decoded
    before it (then the buffer holds the new frame there)."""
    r = np.arange(grid.rows)[:, None]
    c = np.arange(grid.cols)[None, :]
    order = ((r // BLOCK) * grid.block_cols + c // BLOCK) * BLOCK * BLOCK + (r % BLOCK) * BLOCK + c % BLOCK
    out = np.zeros((len(TEMPLATE), grid.rows, grid.cols), bool)
    for k, (dr, dc) in enumerate(TEMPLATE):
        out[k] = _shift(order, dr, dc, -1) < order
    return out


def _shift(a: np.ndarray, dr: int, dc: int, fill) -> np.ndarray:
    """out[r, c] = a[r + dr, c + dc], `fill` outside."""
    out = np.full_like(a, fill)
    rows, cols = a.shape[-2:]
    out[..., max(0, -dr):rows - max(0, dr), max(0, -dc):cols - max(0, dc)] = \
        a[..., max(0, dr):rows - max(0, -dr), max(0, dc):cols - max(0, -dc)]
    return out


@dataclass
class _Coded:
    """One frame's symbols before the range coder: block flags and the flips of flipping blocks."""

    block_ctx: np.ndarray  # int [n blocks]
    flags: np.ndarray  # bool [n blocks]
    pixel_ctx: list[np.ndarray]  # per flipping block, int [pixels] in decode order
    flips: list[np.ndarray]  # the same, bool


def _symbols(grid: Grid, prev: np.ndarray, cur: np.ndarray, key: bool) -> _Coded:
    before = _before(grid)
    ctx = np.full(cur.shape, KEY if key else 0, np.int64)
    for k, (dr, dc) in enumerate(TEMPLATE):
        ctx |= np.where(before[k], _shift(cur, dr, dc, False), _shift(prev, dr, dc, False)).astype(np.int64) << k
    flip = cur ^ prev
    nbr, nbc = grid.rows // BLOCK, grid.block_cols
    pad = np.zeros((grid.rows, nbc * BLOCK), bool)
    pad[:, :grid.cols] = flip
    flags = pad.reshape(nbr, BLOCK, nbc, BLOCK).any(axis=(1, 3))
    left = np.zeros_like(flags)
    left[:, 1:] = flags[:, :-1]
    up = np.zeros_like(flags)
    up[1:] = flags[:-1]
    bctx = left.astype(np.int64) | up.astype(np.int64) << 1 | (4 if key else 0)
    pctx, flips = [], []
    for br, bc in zip(*np.nonzero(flags)):
        rs, cs = slice(br * BLOCK, br * BLOCK + BLOCK), slice(bc * BLOCK, min(grid.cols, bc * BLOCK + BLOCK))
        pctx.append(ctx[rs, cs].ravel())
        flips.append(flip[rs, cs].ravel())
    return _Coded(bctx.ravel(), flags.ravel(), pctx, flips)


def fit_model(coded: list[_Coded]) -> bytes:
    """The model (one byte per context, the chance of 0 in 1/256ths) that fits these frames."""
    zeros = np.zeros(MODEL_BYTES)
    ones = np.zeros(MODEL_BYTES)
    for c in coded:
        np.add.at(ones, PIXEL_CONTEXTS + c.block_ctx[c.flags], 1)
        np.add.at(zeros, PIXEL_CONTEXTS + c.block_ctx[~c.flags], 1)
        if c.flips:
            ctx, flip = np.concatenate(c.pixel_ctx), np.concatenate(c.flips)
            np.add.at(ones, ctx[flip], 1)
            np.add.at(zeros, ctx[~flip], 1)
    p = np.rint(256 * (zeros + 0.4) / (zeros + ones + 0.8))
    return bytes(np.clip(p, 1, 255).astype(np.uint8).tolist())


class _RangeEncoder:
    """LZMA's range encoder with 8-bit probabilities (the decoder is in the module docstring)."""

    def __init__(self) -> None:
        self.low, self.range, self.cache, self.pending = 0, MASK32, 0, 1
        self.out = bytearray()

    def _shift(self) -> None:
        low = self.low
        if low < 0xFF000000 or low > MASK32:  # the pending bytes are settled (a carry included): write them
            carry = low >> 32
            self.out.append((self.cache + carry) & 0xFF)
            self.out.extend([(0xFF + carry) & 0xFF] * (self.pending - 1))
            self.pending = 0
            self.cache = (low >> 24) & 0xFF
        self.pending += 1
        self.low = (low & 0x00FFFFFF) << 8

    def encode(self, bit: int, p0: int) -> None:
        bound = (self.range >> 8) * p0
        if bit:
            self.low += bound
            self.range -= bound
        else:
            self.range = bound
        while self.range < TOP:
            self.range <<= 8
            self._shift()

    def finish(self) -> bytes:
        for _ in range(5):
            self._shift()
        return bytes(self.out[1:]).rstrip(b"\0") or b"\0"  # the first byte is always 0; the decoder reads 0 past the
        # end. A frame that changes nothing keeps one 0 byte: the device players find the end of the offsets by the
        # one at frames.bin's end, so they refuse a pack whose last frame is empty


def _range_encode(bits: list[int], probs: list[int]) -> bytes:
    enc = _RangeEncoder()
    for bit, p in zip(bits, probs):
        enc.encode(bit, p)
    return enc.finish()


def _encode(c: _Coded, model: bytes) -> bytes:
    bits: list[int] = []
    probs: list[int] = []
    m = np.frombuffer(model, np.uint8)
    k = 0
    for i, flag in enumerate(c.flags.tolist()):
        bits.append(flag)
        probs.append(int(m[PIXEL_CONTEXTS + c.block_ctx[i]]))
        if flag:
            bits += c.flips[k].astype(int).tolist()
            probs += m[c.pixel_ctx[k]].tolist()
            k += 1
    return _range_encode(bits, probs)


def encode_frames(grid: Grid, frames: np.ndarray, keyframes: set[int]) -> tuple[bytes, list[bytes]]:
    """uint8 [T, frame_bytes] -> (model, payload per frame): frame i against frame i-1, a key frame
    against a cleared buffer."""
    if not grid.usable:
        raise EmosketchError(f"the context codec needs whole {BLOCK}-row blocks and at most "
                             f"{MAX_BLOCK_COLUMNS * BLOCK} columns")
    bits = grid.unpack(frames)
    zero = np.zeros(bits.shape[1:], bool)
    keys = [i == 0 or i in keyframes for i in range(len(bits))]
    coded = [_symbols(grid, zero if key else bits[i - 1], b, key) for i, (b, key) in enumerate(zip(bits, keys))]
    model = fit_model(coded)
    return model, [_encode(c, model) for c in coded]


def decode_into(payload: bytes, buf: bytearray, grid: Grid, model: bytes, key: bool) -> bytearray:
    """Decode one frame into `buf` (the previous frame; cleared first for a key frame), in place. A
    frame whose coder does not end on its last byte is refused and `buf` is left as it was."""
    if len(model) != MODEL_BYTES:
        raise EmosketchError(f"context model has {len(model)} bytes, expected {MODEL_BYTES}")
    rows, cols = grid.rows, grid.cols
    w = cols + 4
    g = np.zeros((rows + 4, w), np.uint8)
    if not key:
        g[2:rows + 2, 2:cols + 2] = grid.unpack(np.frombuffer(bytes(buf), np.uint8)[None])[0]
    cells = g.ravel().tolist()
    data, n = payload, len(payload)
    code = int.from_bytes((bytes(data[:4]) + bytes(4))[:4], "big")
    rng, at = MASK32, 4
    kbit = KEY if key else 0
    up = [0] * grid.block_cols
    for br in range(rows // BLOCK):
        left = 0
        for bc in range(grid.block_cols):
            p = model[PIXEL_CONTEXTS + (left | up[bc] << 1 | (4 if key else 0))]
            bound = (rng >> 8) * p
            if code < bound:
                rng, flag = bound, 0
            else:
                code, rng, flag = code - bound, rng - bound, 1
            while rng < TOP:
                rng <<= 8
                code = ((code << 8) | (data[at] if at < n else 0)) & MASK32
                at += 1
            up[bc] = left = flag
            if not flag:
                continue
            for r in range(br * BLOCK, br * BLOCK + BLOCK):
                base = (r + 2) * w + 2
                for i in range(base + bc * BLOCK, base + min(cols, bc * BLOCK + BLOCK)):
                    ctx = (cells[i - w - 1] | cells[i - w] << 1 | cells[i - w + 1] << 2 | cells[i - 1] << 3
                           | cells[i] << 4 | cells[i + 1] << 5 | cells[i + w - 1] << 6 | cells[i + w] << 7
                           | cells[i + w + 1] << 8 | cells[i - 2] << 9 | kbit)
                    bound = (rng >> 8) * model[ctx]
                    if code < bound:
                        rng = bound
                    else:
                        code -= bound
                        rng -= bound
                        cells[i] ^= 1
                    while rng < TOP:
                        rng <<= 8
                        code = ((code << 8) | (data[at] if at < n else 0)) & MASK32
                        at += 1
    if code or at < n:
        raise EmosketchError(f"context-coded frame of {n} bytes is cut short or damaged (its range coder "
                             "does not end on its last byte)")
    g = np.array(cells, bool).reshape(rows + 4, w)[2:rows + 2, 2:cols + 2]
    buf[:] = grid.pack(g[None])[0].tobytes()
    return buf
