"""Pixel formats: documented byte/bit positions and bit-exact round trips through every codec."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emosketch.errors import EmosketchError
from emosketch.export import codec
from emosketch.export.pixels import FORMATS, pixel_format

# (x, y) -> (byte, bit) for a 128x64 frame, written out by hand from the datasheets.
KNOWN = {
    "ssd1306": {(0, 0): (0, 0), (7, 0): (7, 0), (0, 7): (0, 7), (127, 63): (1023, 7)},
    "sh1106": {(0, 0): (2, 0), (7, 0): (9, 0), (0, 7): (2, 7), (127, 63): (7 * 132 + 129, 7)},
    "sh1107": {(0, 0): (0, 0), (7, 0): (7, 0), (0, 7): (0, 7), (127, 63): (1023, 7)},  # 128x64 of its 128x128 pages
    "gfx": {(0, 0): (0, 7), (7, 0): (0, 0), (0, 7): (112, 7), (127, 63): (1023, 0)},
    "xbm": {(0, 0): (0, 0), (7, 0): (0, 7), (0, 7): (112, 0), (127, 63): (1023, 7)},
}


@pytest.mark.parametrize("name", sorted(FORMATS))  # a format with no datasheet row here fails
def test_known_pixels_land_in_documented_byte_and_bit(name):
    fmt = FORMATS[name]
    for (x, y), (byte, bit) in KNOWN[name].items():
        bits = np.zeros((1, 64, 128), bool)
        bits[0, y, x] = True
        packed = fmt.pack(bits)[0]
        expected = np.zeros(fmt.frame_bytes(128, 64), np.uint8)
        expected[byte] = 1 << bit
        assert np.array_equal(packed, expected), (name, x, y)
        assert fmt.bit_of(x, y, 128) == (byte, bit)


def test_frame_sizes():
    assert FORMATS["ssd1306"].frame_bytes(128, 64) == 1024
    assert FORMATS["ssd1306"].frame_bytes(128, 32) == 512
    assert FORMATS["sh1106"].frame_bytes(128, 64) == 132 * 8
    assert FORMATS["gfx"].frame_bytes(13, 5) == 2 * 5  # rows padded to whole bytes
    assert FORMATS["ssd1306"].frame_bytes(72, 40) == 72 * 5


def test_aliases_and_unknown_format():
    assert pixel_format("MONO_HLSB").name == "gfx"
    assert pixel_format("u8g2").name == "xbm"
    with pytest.raises(EmosketchError, match="pixel format 'rgb565'"):
        pixel_format("rgb565")


def test_sh1106_refuses_pictures_wider_than_its_ram():
    with pytest.raises(EmosketchError, match="132-column"):
        FORMATS["sh1106"].pack(np.zeros((1, 8, 131), bool))


frames_strategy = st.tuples(st.integers(1, 4), st.integers(1, 70), st.integers(1, 130), st.integers(0, 2**32 - 1),
                            st.floats(0.0, 1.0))


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("codec_name", ["raw", "rle", "delta", "auto"])
@settings(max_examples=25, deadline=None)
@given(spec=frames_strategy)
def test_round_trip_random_bitmaps(name, codec_name, spec):
    t, h, w, seed, density = spec
    fmt = FORMATS[name]
    if fmt.ram_columns:  # a page controller's RAM bounds the width (sh1107: 128 columns)
        w = min(w, fmt.ram_columns - fmt.column_offset)
    rng = np.random.default_rng(seed)
    bits = rng.random((t, h, w)) < density
    packed = fmt.pack(bits)
    payloads = codec.encode_frames(packed, codec_name, keyframes={0})
    decoded = codec.decode_frames(payloads, fmt.frame_bytes(w, h))
    assert np.array_equal(decoded, packed)
    assert np.array_equal(fmt.unpack(decoded, w, h), bits)


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("codec_name", ["raw", "rle", "delta", "auto"])
def test_round_trip_real_line_art(name, codec_name, face_transition):
    from emosketch.export import Dither, Layout
    from emosketch.export.dither import to_bits
    from emosketch.export.layout import apply_layout

    bits = to_bits(apply_layout(face_transition, Layout(128, 64)), Dither())
    fmt = FORMATS[name]
    packed = fmt.pack(bits)
    payloads = codec.encode_frames(packed, codec_name, keyframes={0})
    assert np.array_equal(fmt.unpack(codec.decode_frames(payloads, packed.shape[1]), 128, 64), bits)
    size = sum(len(p) for _, p in payloads)
    if codec_name != "raw":
        assert size < packed.size  # line art always compresses
    if codec_name in ("delta", "auto"):
        rle_size = sum(len(p) for _, p in codec.encode_frames(packed, "rle", keyframes={0}))
        assert size < rle_size  # consecutive frames share most bytes
