"""RLE and delta codecs: exact inverses, sensible sizes, clear errors on corrupt streams."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emosketch.errors import EmosketchError
from emosketch.export import codec


@given(st.binary(min_size=0, max_size=600))
def test_rle_round_trip_any_bytes(data):
    assert bytes(codec.rle_decode(codec.rle_encode(data), len(data))) == data


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(1, 300)), max_size=12))
def test_rle_round_trip_runs(runs):
    data = b"".join(bytes([v]) * n for v, n in runs)
    enc = codec.rle_encode(data)
    assert bytes(codec.rle_decode(enc, len(data))) == data
    assert len(enc) <= len(data) + len(data) // 128 + 1  # never much worse than raw


def test_rle_sizes():
    # 1024 zero bytes: seven runs of 130 (control 255) and one of 114 (control 239).
    assert codec.rle_encode(bytes(1024)) == bytes([255, 0]) * 7 + bytes([239, 0])
    # Runs shorter than 3 stay inside literals: 1, 2, 2, 3, 3 -> literal of 4, then a run of 3.
    assert codec.rle_encode(bytes([1, 2, 2, 3, 3, 3])) == bytes([2, 1, 2, 2, 128, 3])


def test_delta_is_xor_against_previous_frame():
    a = np.zeros((2, 1024), np.uint8)
    a[1, 10] = 0x81
    payloads = codec.encode_frames(a, "delta", keyframes={0})
    assert [cid for cid, _ in payloads] == [codec.RLE, codec.DELTA]
    assert np.array_equal(codec.decode_frames(payloads, 1024), a)


def test_auto_never_bigger_than_any_single_codec(rng):
    frames = (rng.random((6, 256)) < 0.5).astype(np.uint8) * 255
    frames[3:] = frames[2]  # a still stretch: delta wins
    sizes = {}
    for name in ("raw", "rle", "delta", "auto"):
        sizes[name] = sum(len(p) for _, p in codec.encode_frames(frames, name, keyframes={0}))
    assert sizes["auto"] <= min(sizes["raw"], sizes["rle"], sizes["delta"])


@pytest.mark.parametrize("stream, message", [
    (bytes([5, 1, 2]), "overruns|gives"),
    (bytes([200]), "ends inside a run"),
    (bytes([255, 7]), "gives 130 bytes"),
])
def test_corrupt_rle_is_a_clear_error(stream, message):
    with pytest.raises(EmosketchError, match=message):
        codec.rle_decode(stream, 1024)


def test_delta_first_frame_is_refused():
    with pytest.raises(EmosketchError, match="no previous frame"):
        codec.decode_frames([(codec.DELTA, b"")], 4)


def test_unknown_codec_name():
    with pytest.raises(EmosketchError, match="codec 'lz4'"):
        codec.encode_frames(np.zeros((1, 4), np.uint8), "lz4", keyframes={0})
