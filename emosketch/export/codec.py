"""Frame codecs: raw, per-frame RLE, XOR-delta against the previous frame + RLE, and the context
codec (export/ctx.py: each pixel's flip range-coded by its neighbourhood, key frames and deltas).

RLE stream (PackBits-like, one control byte per packet):
- c in 0..127: the next c+1 bytes are copied literally;
- c in 128..255: the next byte is repeated c-125 times (3..130).
A delta frame is the RLE of (frame XOR previous frame): a decoder XORs it into the buffer that
still holds the previous frame, so it needs no second buffer.
"""

from __future__ import annotations

import numpy as np

from ..errors import EmosketchError
from . import ctx

RAW, RLE, DELTA, CTX_KEY, CTX = 0, 1, 2, 3, 4
NAMES = {RAW: "raw", RLE: "rle", DELTA: "delta", CTX_KEY: "ctx-key", CTX: "ctx"}
CODECS = ("auto", "raw", "rle", "delta", "ctx")  # what a user may ask for
MIN_RUN, MAX_RUN, MAX_LITERAL = 3, 130, 128


def rle_encode(data: bytes | np.ndarray) -> bytes:
    """Encode bytes as the RLE stream above."""
    a = np.frombuffer(bytes(data), np.uint8) if not isinstance(data, np.ndarray) else data.ravel()
    n = len(a)
    if n == 0:
        return b""
    raw = a.tobytes()
    edges = np.flatnonzero(a[1:] != a[:-1]) + 1
    starts = np.concatenate(([0], edges)).tolist()
    ends = np.concatenate((edges, [n])).tolist()
    out = bytearray()
    lit = 0  # start of the pending literal bytes

    def flush(stop: int) -> None:
        for i in range(lit, stop, MAX_LITERAL):
            chunk = raw[i:min(stop, i + MAX_LITERAL)]
            out.append(len(chunk) - 1)
            out.extend(chunk)

    for s, e in zip(starts, ends):
        length = e - s
        if length < MIN_RUN:
            continue
        flush(s)
        value = raw[s]
        while length >= MIN_RUN:
            k = min(length, MAX_RUN)
            out.append(k + 125)
            out.append(value)
            length -= k
        lit = e - length  # a tail shorter than MIN_RUN joins the next literal
    flush(n)
    return bytes(out)


def rle_decode(data: bytes, size: int, into: bytearray | None = None, xor: bool = False) -> bytearray:
    """Decode an RLE stream of `size` bytes; with xor=True XOR it into `into` (a delta frame)."""
    out = into if into is not None else bytearray(size)
    if len(out) != size:
        raise EmosketchError(f"decode buffer holds {len(out)} bytes, frame needs {size}")
    i = o = 0
    n = len(data)
    while i < n:
        c = data[i]
        i += 1
        if c < 128:
            k = c + 1
            chunk = data[i:i + k]
            i += k
        else:
            k = c - 125
            if i >= n:
                raise EmosketchError("RLE stream ends inside a run packet")
            chunk = bytes((data[i],)) * k
            i += 1
        if len(chunk) != k or o + k > size:
            raise EmosketchError(f"RLE stream overruns the {size}-byte frame at byte {o}")
        if xor:
            out[o:o + k] = bytes(a ^ b for a, b in zip(out[o:o + k], chunk))
        else:
            out[o:o + k] = chunk
        o += k
    if o != size:
        raise EmosketchError(f"RLE stream gives {o} bytes, frame needs {size}")
    return out


def encode_frames(frames: np.ndarray, codec: str, keyframes: set[int]) -> list[tuple[int, bytes]]:
    """uint8 [T, frame_bytes] -> [(codec id, payload)] per frame.

    `keyframes` are the indices that must decode alone (each sequence's first frame): delta is never
    used there. 'auto' keeps the smallest of the allowed codecs for each frame.
    """
    if codec not in CODECS:
        raise EmosketchError(f"codec {codec!r}: expected one of {', '.join(CODECS)}")
    out: list[tuple[int, bytes]] = []
    for i, frame in enumerate(frames):
        key = i in keyframes
        options: list[tuple[int, bytes]] = []
        if codec in ("raw", "auto"):
            options.append((RAW, frame.tobytes()))
        if codec in ("rle", "auto") or (codec == "delta" and key):
            options.append((RLE, rle_encode(frame)))
        if codec in ("delta", "auto") and not key:
            options.append((DELTA, rle_encode(np.bitwise_xor(frame, frames[i - 1]))))
        out.append(min(options, key=lambda o: (len(o[1]), o[0])))
    return out


def decode_frames(payloads: list[tuple[int, bytes]], frame_bytes: int, grid=None, model: bytes = b"",
                  first: int = 0) -> np.ndarray:
    """[(codec id, payload)] -> uint8 [T, frame_bytes]; the inverse of encode_frames (and, given the
    pack's bit grid and model, of ctx.encode_frames). Errors name frames from `first`."""
    out = np.empty((len(payloads), frame_bytes), np.uint8)
    buf = bytearray(frame_bytes)
    for i, (cid, payload) in enumerate(payloads):
        if cid == RAW:
            if len(payload) != frame_bytes:
                raise EmosketchError(f"frame {i}: raw payload has {len(payload)} bytes, expected {frame_bytes}")
            buf[:] = payload
        elif cid == RLE:
            rle_decode(payload, frame_bytes, into=buf)
        elif cid == DELTA:
            if i == 0:
                raise EmosketchError("frame 0 is a delta frame but has no previous frame")
            rle_decode(payload, frame_bytes, into=buf, xor=True)
        elif cid in (CTX_KEY, CTX):
            if grid is None or not model:
                raise EmosketchError(f"frame {i} is context-coded but the pack has no context model")
            if cid == CTX and i == 0:
                raise EmosketchError("frame 0 is a delta frame but has no previous frame")
            try:
                ctx.decode_into(payload, buf, grid, model, key=cid == CTX_KEY)
            except EmosketchError as exc:
                raise EmosketchError(f"frame {first + i}: {exc}") from None
        else:
            raise EmosketchError(f"frame {i}: unknown codec id {cid}")
        out[i] = np.frombuffer(bytes(buf), np.uint8)
    return out
