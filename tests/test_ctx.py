"""The context codec: its range coder and frames round-trip on any bits, and packs that use it decode
the same in Python, C, MicroPython and JavaScript (those players' tests run it too, see codec=ctx)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import make_pack
from hypothesis import given, settings
from hypothesis import strategies as st

from emosketch.errors import EmosketchError
from emosketch.export import ExportOptions, Layout, build_pack, codec, ctx, manifest, write_pack
from emosketch.export.pixels import pixel_format
from emosketch.frames import Frames


def _decode_bits(payload: bytes, probs: list[int]) -> list[int]:
    """The decoder's bit loop alone (as ctx.decode_into runs it), for the coder test. It also checks
    what every decoder checks at a frame's end: the code is 0 and every byte has been read."""
    code = int.from_bytes((payload[:4] + bytes(4))[:4], "big")
    rng, at, out = ctx.MASK32, 4, []
    for p in probs:
        bound = (rng >> 8) * p
        if code < bound:
            rng, bit = bound, 0
        else:
            code, rng, bit = code - bound, rng - bound, 1
        while rng < ctx.TOP:
            rng <<= 8
            code = ((code << 8) | (payload[at] if at < len(payload) else 0)) & ctx.MASK32
            at += 1
        out.append(bit)
    assert code == 0 and at >= len(payload)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 255)), max_size=3000))
def test_range_coder_round_trips(symbols):
    bits = [int(b) for b, _ in symbols]
    probs = [p for _, p in symbols]
    assert _decode_bits(ctx._range_encode(bits, probs), probs) == bits


def test_range_coder_carries():
    # Long runs of the unlikely symbol at the extreme probabilities push carries through 0xFF bytes.
    bits = ([1] * 400 + [0] * 7 + [1]) * 20
    for p in (1, 255):
        probs = [p] * len(bits)
        assert _decode_bits(ctx._range_encode(bits, probs), probs) == bits


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["ssd1306", "sh1106", "sh1107", "gfx", "xbm"]), st.sampled_from([(128, 64), (72, 40), (96, 16), (64, 48)]),
       st.integers(0, 2**32 - 1), st.floats(0.0, 1.0))
def test_frames_round_trip(fmt_name, size, seed, density):
    fmt = pixel_format(fmt_name)
    w, h = size
    grid = ctx.Grid.of(fmt, w, h)
    rng = np.random.default_rng(seed)
    bits = rng.random((5, h, w)) < density
    bits[2] = bits[1]  # a frame that changes nothing
    bits[3, : h // 2] = ~bits[2, : h // 2]
    frames = fmt.pack(bits)
    model, payloads = ctx.encode_frames(grid, frames, {0, 3})
    assert len(model) == ctx.MODEL_BYTES
    buf = bytearray(len(frames[0]))
    for i, p in enumerate(payloads):
        ctx.decode_into(p, buf, grid, model, key=i in (0, 3))
        assert bytes(buf) == frames[i].tobytes(), f"frame {i}"
    ids = [(codec.CTX_KEY if i in (0, 3) else codec.CTX, p) for i, p in enumerate(payloads)]
    assert np.array_equal(codec.decode_frames(ids, len(frames[0]), grid, model), frames)


@pytest.mark.parametrize("fmt_name, size", [("sh1106", (128, 64)), ("gfx", (72, 40))])
def test_a_frame_cut_short_is_refused_and_leaves_the_buffer(fmt_name, size):
    """The encoder strips a frame's trailing zeros, so a frame cut short still looks like a frame by
    its length, and was decoded as garbage. Its range coder does not end on its last byte: every
    frame, cut by 1 to 8 bytes or to half, is refused, and the buffer keeps the frame before it."""
    fmt = pixel_format(fmt_name)
    grid = ctx.Grid.of(fmt, *size)
    rng = np.random.default_rng(3)
    bits = rng.random((6, size[1], size[0])) < 0.08
    bits[1:3] = bits[0] ^ (rng.random((2, size[1], size[0])) < 0.01)
    frames = fmt.pack(bits)
    model, payloads = ctx.encode_frames(grid, frames, {0, 4})
    before = bytearray(len(frames[0]))
    refused = 0
    for i, p in enumerate(payloads):
        for cut in sorted({*range(1, 9), len(p) // 2}):
            if cut >= len(p):
                continue
            buf = bytearray(before)
            with pytest.raises(EmosketchError, match="cut short or damaged"):
                ctx.decode_into(p[:-cut], buf, grid, model, key=i in (0, 4))
            assert buf == before
            refused += 1
        ctx.decode_into(p, before, grid, model, key=i in (0, 4))
        assert bytes(before) == frames[i].tobytes()
    assert refused >= 6 * 8


def test_the_reference_decoder_names_a_frame_cut_short(face_transition, tmp_path):
    """manifest.read of a pack whose frame 14 was cut by one byte, its offsets still agreeing."""
    pack = make_pack(face_transition, codec="ctx")
    payloads = list(pack.payloads)
    cid, p = payloads[14]
    payloads[14] = (cid, p[:-1])
    write_pack(dataclasses.replace(pack, payloads=payloads), tmp_path / "cut")
    with pytest.raises(EmosketchError, match=r"cut.*frame 14: context-coded frame of \d+ bytes is cut short"):
        manifest.read(tmp_path / "cut")


def test_ctx_halves_line_art_and_auto_stays_with_the_byte_codecs(face_transition):
    with_ctx = make_pack(face_transition, codec="ctx")
    auto = make_pack(face_transition, codec="auto")
    assert {cid for cid, _ in with_ctx.payloads} == {codec.CTX_KEY, codec.CTX}
    assert with_ctx.payloads[0][0] == codec.CTX_KEY and with_ctx.payloads[12][0] == codec.CTX_KEY
    assert len(with_ctx.data) < 0.5 * len(auto.data)  # frames alone; this small pack's 2 KB model costs more
    assert auto.model == b"" and {cid for cid, _ in auto.payloads} <= {codec.RAW, codec.RLE, codec.DELTA}


def test_a_budget_keeps_the_context_codec_where_it_keeps_more_frames(face_transition):
    seqs = [(f"s{i}", "t", Frames(np.roll(face_transition, i, axis=2), 12.0)) for i in range(8)]
    full = build_pack(seqs, ExportOptions(layout=Layout(128, 64), codec="ctx"))
    fitted = build_pack(seqs, ExportOptions(layout=Layout(128, 64), codec="ctx", max_bytes=full.flash_bytes - 300))
    assert fitted.model and fitted.flash_bytes <= full.flash_bytes - 300 and len(fitted.payloads) < 8 * 12
    assert not any("switched" in n for n in fitted.notes)
    few = make_pack(face_transition, codec="ctx")  # 24 frames: the byte codecs keep more of them under the budget
    small = make_pack(face_transition, codec="ctx", max_bytes=few.flash_bytes - 300)
    assert not small.model and any("switched to auto" in n for n in small.notes)


def test_pack_counts_the_model_and_round_trips(tmp_path, face_transition):
    pack = make_pack(face_transition, codec="ctx")
    m = pack.manifest()
    assert m["model_bytes"] == ctx.MODEL_BYTES and bytes.fromhex(m["ctx_model"]) == pack.model
    assert m["total_bytes"] == m["frame_data_bytes"] + ctx.MODEL_BYTES
    assert pack.flash_bytes >= m["total_bytes"]
    write_pack(pack, tmp_path / "p", verify=True)
    bits, _ = manifest.read(tmp_path / "p")
    assert np.array_equal(bits, pack.bits)
    index = (tmp_path / "p" / "index.bin").read_bytes()
    assert index[21] == 1 and index.endswith(pack.model)


def test_a_damaged_model_is_refused(tmp_path, face_transition):
    write_pack(make_pack(face_transition, codec="ctx"), tmp_path / "p")
    path = tmp_path / "p" / "manifest.json"
    m = json.loads(path.read_text())
    m["ctx_model"] = m["ctx_model"][:-2]
    path.write_text(json.dumps(m))
    with pytest.raises(EmosketchError, match="ctx_model has 2055 bytes"):
        manifest.read(tmp_path / "p")
    m["ctx_model"] = None
    path.write_text(json.dumps(m))
    with pytest.raises(EmosketchError, match="context-coded but the pack has no context model"):
        manifest.read(tmp_path / "p")


def test_ctx_refuses_a_grid_it_cannot_cut(face_transition):
    with pytest.raises(EmosketchError, match="--codec ctx"):
        make_pack(face_transition, "gfx", codec="ctx", size=(128, 30))
