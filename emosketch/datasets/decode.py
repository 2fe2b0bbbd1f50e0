"""Robust decoding of dataset images: whatever the file holds, a uint8 gray image or a Skip with a reason.

Handles EXIF orientation, gray / RGB / RGBA / palette / CMYK / 16-bit / 1-bit images; truncated files,
non-images, images too small to hold a face and decompression bombs become skips, never crashes.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 16  # smaller images cannot hold a usable face
MAX_PIXELS = 50_000_000  # larger images are refused before decoding (decompression-bomb guard)


class Skip(Exception):
    """One dataset item cannot be used; `reason` is a short stable phrase counted in meta.json."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def decode_bytes(data: bytes, min_side: int = MIN_SIDE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode image bytes to uint8 gray [H, W] (alpha laid on white), upright per EXIF."""
    if not data:
        raise Skip("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise Skip("image too large", f"{w}x{h}")
            img.load()
    except Skip:
        raise
    except UnidentifiedImageError:
        raise Skip("not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise Skip("image too large", "decompression bomb") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Skip("corrupt image", str(exc)[:80]) from None
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block is not worth losing the picture for
        pass
    if min(img.size) < min_side:
        raise Skip("image too small", f"{img.size[0]}x{img.size[1]}")
    return to_gray(img)


def to_gray(img: Image.Image) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        return np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        return np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0) + 0.5, 0, 255).astype(np.uint8)
    if img.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa") or "transparency" in img.info:
        img = img.convert("RGBA")
        paper = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(paper, img)
    return np.asarray(img.convert("L"), dtype=np.uint8).copy()


def decode_file(path: str | Path, min_side: int = MIN_SIDE, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise Skip("missing file") from None
    except OSError as exc:
        raise Skip("unreadable file", exc.strerror or str(exc)) from None
    return decode_bytes(data, min_side, max_pixels)
