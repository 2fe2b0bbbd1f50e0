"""Robust decoding of dataset images: whatever the file holds, a uint8 gray image or a Skip with a reason.

Handles EXIF orientation, gray / RGB / RGBA / palette / CMYK / 16-bit / 1-bit images; truncated files,
non-images, images too small to hold a face and decompression bombs become skips, never crashes.
Only the formats in frames.IMAGE_FORMATS are read, by their first bytes, before any decoder sees the data: an
EPS, PDF or SVG never reaches a plugin that runs an outside program (PIL's EPS plugin runs Ghostscript).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..frames import (
    MAX_IMAGE_PIXELS,
    MAX_JPEG_SCANS,
    READS,
    HeaderError,
    ReadError,
    header_size,
    image_format,
    jpeg_scans,
    read_regular,
)

MIN_SIDE = 16  # smaller images cannot hold a usable face
MAX_PIXELS = MAX_IMAGE_PIXELS  # larger images are refused before decoding (decompression-bomb guard)
CHUNK_PIXELS = 1 << 20  # 16-bit and float images are scaled to 8 bits this many pixels at a time


class Skip(Exception):
    """One dataset item cannot be used; `reason` is a short stable phrase counted in meta.json."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def decode_bytes(data: bytes, min_side: int = MIN_SIDE, max_pixels: int = MAX_PIXELS,
                 max_side: int | None = None) -> np.ndarray:
    """Decode image bytes to uint8 gray [H, W] (alpha laid on white), upright per EXIF. Only IMAGE_FORMATS
    are read; more than max_pixels is refused before decoding. max_side: the longest side is shrunk
    to it (a JPEG is decoded at a reduced scale when it can be)."""
    if not data:
        raise Skip("empty file")
    fmt = _readable_format(data)
    scans = jpeg_scans(data) if fmt == "JPEG" else 0
    if scans > MAX_JPEG_SCANS:  # each scan is a pass over the whole picture
        raise Skip("corrupt image", f"a JPEG of {scans:,} scans, at most {MAX_JPEG_SCANS}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's "Corrupt EXIF data" and the like, once per picture read (a
            # server's console had 605 of them for 960 uploads); what spoils a picture raises instead
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[fmt])
            w, h = img.size
            if w * h > max_pixels:
                raise Skip("image too large", f"{w}x{h}, {w * h / 1e6:.1f} megapixels; at most {max_pixels / 1e6:g}: "
                                              "shrink it first")
            if max_side and max(w, h) > max_side:
                img.draft(img.mode, (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            img.load()
    except Skip:
        raise
    except UnidentifiedImageError:
        raise Skip("not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Skip("image too large", "decompression bomb") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Skip("corrupt image", str(exc)[:80]) from None
    except Exception as exc:  # a damaged header's field of the wrong type (a TIFF offset given as a fraction:
        # TypeError) is a corrupt image too, never a crash of the command or a 500 from the mirror
        raise Skip("corrupt image", f"{type(exc).__name__}: {exc}"[:80]) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data": the turn is then left out, as below
            img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block is not worth losing the picture for
        pass
    shape = img.size  # as sent (after the EXIF turn): what a message quotes
    if max_side and max(img.size) >= 2 * max_side:
        try:  # whole-pixel boxes first, so the conversions below run on the small image
            img = img.reduce(max(img.size) // max_side)
        except ValueError:  # 16-bit gray has no reduce: to_gray scales it in chunks
            pass
    if min(img.size) < min_side:
        raise Skip("image too small", f"{shape[0]}x{shape[1]}" + (f", shrunk to {img.size[0]}x{img.size[1]} as it was "
                                                                  f"read (at most {max_side} px a side)"
                                                                  if img.size != shape else "")
                   + f"; at least {min_side} px a side")
    gray = to_gray(img)
    del img
    if max_side and max(gray.shape) > max_side:
        import cv2

        f = max_side / max(gray.shape)
        size = (max(1, round(gray.shape[1] * f)), max(1, round(gray.shape[0] * f)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray


def _readable_format(data: bytes) -> str:
    """The IMAGE_FORMATS name of the bytes, or Skip: nothing else reaches a decoder."""
    fmt = image_format(data)
    if fmt is None:
        raise Skip("not an image", f"emosketch reads {READS}")
    return fmt


def _scaled(img: Image.Image, factor: float) -> np.ndarray:
    """round(pixels * factor) clipped to uint8, CHUNK_PIXELS at a time: no copy of the whole image in
    its own 16- or 32-bit pixels, nor in float64."""
    w, h = img.size
    out = np.empty((h, w), np.uint8)
    rows = max(1, CHUNK_PIXELS // max(1, w))
    for y in range(0, h, rows):
        chunk = np.asarray(img.crop((0, y, w, min(h, y + rows))), dtype=np.float64)
        out[y:y + rows] = np.clip(np.nan_to_num(chunk * factor + 0.5, nan=0.0), 0, 255)  # NaN: black, not a warning
    return out


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from an image's header, without decoding it; IMAGE_FORMATS only."""
    try:
        return header_size(data, formats=(_readable_format(data),))
    except HeaderError as exc:
        raise Skip("image too large" if exc.bomb else "corrupt image", exc.detail) from None


def _largest(img: Image.Image) -> float:
    """The largest pixel value of a one-band image, CHUNK_PIXELS at a time (Pillow's getextrema refuses
    some 16-bit modes, such as big-endian I;16B)."""
    w, h = img.size
    rows = max(1, CHUNK_PIXELS // max(1, w))
    return max(float(np.asarray(img.crop((0, y, w, min(h, y + rows)))).max()) for y in range(0, h, rows))


def to_gray(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        return _scaled(img, 255.0 / (65535.0 if _largest(img) > 255 else 255.0))
    if img.mode == "F":
        return _scaled(img, 255.0 if _largest(img) <= 1.0 else 1.0)
    if img.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa") or "transparency" in img.info:
        img = img.convert("RGBA")
        paper = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(paper, img)
    if img.mode == "LAB":  # Pillow has no conversion of it to gray: its lightness band is one
        return np.asarray(img.getchannel("L"), dtype=np.uint8).copy()
    try:
        return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    except ValueError as exc:  # a mode Pillow cannot turn gray
        raise Skip("unsupported image mode", f"{img.mode}: {exc}"[:80]) from None


def decode_file(path: str | Path, min_side: int = MIN_SIDE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    try:
        data = read_regular(path)
    except FileNotFoundError:
        raise Skip("missing file") from None
    except ReadError as exc:
        raise Skip("unreadable file", exc.why) from None
    return decode_bytes(data, min_side, max_pixels)
