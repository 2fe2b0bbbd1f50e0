"""Robust decoding: every kind of image decodes to gray; every kind of bad file is a Skip with a reason."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from emosketch.datasets.decode import Skip, decode_bytes, decode_file


def encode(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16", "1", "CMYK", "LA"])
def test_every_mode_decodes_to_gray(mode):
    img = Image.new("RGB", (40, 30), (200, 100, 50)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out = decode_bytes(encode(img, fmt))
    assert out.shape == (30, 40) and out.dtype == np.uint8


def test_transparent_pixels_lie_on_white_paper():
    img = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    assert decode_bytes(encode(img)).min() == 255


def test_sixteen_bit_keeps_its_range():
    arr = np.full((20, 20), 65535, np.uint16)
    arr[:10] = 0
    out = decode_bytes(encode(Image.fromarray(arr)))
    assert out[0, 0] == 0 and out[-1, -1] == 255


def test_tiffs_in_big_endian_16_bit_and_in_lab_decode_to_gray():
    """Both gave the mirror a 500: Pillow's getextrema refuses I;16B, and LAB has no conversion to gray."""
    arr = np.full((20, 20), 65535, ">u2")
    arr[:10] = 1000
    img = Image.frombytes("I;16B", (20, 20), arr.tobytes())
    out = decode_bytes(encode(img, "TIFF"))
    assert out[0, 0] == round(1000 * 255 / 65535) and out[-1, -1] == 255
    lab = Image.merge("LAB", [Image.new("L", (20, 20), 30), Image.new("L", (20, 20), 128), Image.new("L", (20, 20), 128)])
    assert decode_bytes(encode(lab, "TIFF")).max() == 30  # its lightness band
    from emosketch.datasets.decode import to_gray

    hsv = Image.new("RGB", (20, 20), (10, 200, 90)).convert("HSV")
    assert to_gray(hsv).shape == (20, 20)


def test_a_mode_pillow_cannot_turn_gray_is_a_skip(monkeypatch):
    from emosketch.datasets.decode import to_gray

    def refuse(self, mode=None, *a, **kw):
        raise ValueError(f"conversion from {self.mode} to {mode} not supported")

    monkeypatch.setattr(Image.Image, "convert", refuse)
    with pytest.raises(Skip, match="unsupported image mode: RGB"):
        to_gray(Image.new("RGB", (20, 20)))


def _tiff_with_strip_offsets_of_type(kind: int) -> bytes:
    """A 16x16 gray TIFF whose StripOffsets tag has TIFF type `kind` (4 LONG is right; 5 RATIONAL and
    11 FLOAT are damage that Pillow meets with a TypeError)."""
    side, entries = 16, []
    ifd = 8
    extra = ifd + 2 + 12 * 9 + 4  # where the rational's 8 bytes go
    pixels = extra + 8
    for tag, typ, value in ((256, 3, side), (257, 3, side), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, kind, None),
                            (277, 3, 1), (278, 3, side), (279, 4, side * side)):
        if tag == 273:
            entries.append(struct.pack("<HHII", tag, typ, 1, extra) if typ == 5 else
                           struct.pack("<HHIf", tag, typ, 1, float(pixels)) if typ == 11 else
                           struct.pack("<HHII", tag, typ, 1, pixels))
        else:
            entries.append(struct.pack("<HHIHH", tag, typ, 1, value, 0) if typ == 3 else
                           struct.pack("<HHII", tag, typ, 1, value))
    head = b"II*\x00" + struct.pack("<IH", ifd, len(entries)) + b"".join(entries) + bytes(4)
    return head + struct.pack("<II", pixels, 1) + bytes(range(256))


@pytest.mark.parametrize("kind", [5, 11])
def test_a_header_field_of_the_wrong_type_is_a_corrupt_image_not_a_crash(kind):
    """The mirror answered such a TIFF with 500 (TypeError); it is a Skip, as any damage is."""
    assert decode_bytes(_tiff_with_strip_offsets_of_type(4)).shape == (16, 16)  # the same file, undamaged
    with pytest.raises(Skip, match="corrupt image"):
        decode_bytes(_tiff_with_strip_offsets_of_type(kind))


def test_a_float_image_of_nan_decodes_without_a_warning():
    import warnings

    img = Image.fromarray(np.full((20, 20), np.nan, np.float32), "F")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gray = decode_bytes(encode(img, "TIFF"))
    assert gray.shape == (20, 20) and gray.dtype == np.uint8


def test_exif_orientation_is_applied():
    img = Image.new("L", (40, 20), 255)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = decode_bytes(encode(img, "JPEG", exif=exif.tobytes()))
    assert out.shape == (40, 20)


def _huge_png_header() -> bytes:
    """A PNG that claims 30000 x 30000 pixels: a decompression bomb's header."""
    data = encode(Image.new("L", (1, 1)))
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return data[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"this is a text file, not a picture", "not an image"),
    (encode(Image.new("L", (64, 64), 128))[:60], "corrupt image"),  # truncated
    (encode(Image.new("L", (1, 1))), "image too small"),
    (_huge_png_header(), "image too large"),
])
def test_bad_bytes_are_skips_with_reasons(data, reason):
    with pytest.raises(Skip) as err:
        decode_bytes(data)
    assert err.value.reason == reason


def test_missing_file(tmp_path):
    with pytest.raises(Skip, match="missing file"):
        decode_file(tmp_path / "nope.jpg")
