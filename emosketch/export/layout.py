"""Layout of frames of any size onto the display geometry: fill (crop), fit (letterbox) or stretch,
with a focus point and a zoom factor that may ramp over a sequence."""

from __future__ import annotations

import re
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import EmosketchError

MODES = ("fill", "fit", "stretch")
PAPER = 255  # what letterbox bars and out-of-image areas are filled with


def parse_geometry(text: str) -> tuple[int, int]:
    """'128x64' -> (128, 64)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise EmosketchError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 128x64")
    w, h = int(m.group(1)), int(m.group(2))
    if not (1 <= w <= 4096 and 1 <= h <= 4096):
        raise EmosketchError(f"size {text!r}: width and height must be 1..4096")
    return w, h


@dataclass(frozen=True)
class Layout:
    width: int = 128  # display width in pixels
    height: int = 64  # display height in pixels
    mode: str = "fill"  # fill: crop to cover the screen; fit: letterbox; stretch: ignore aspect
    focus: tuple[float, float] = (0.5, 0.5)  # point of the source kept in view, as fractions of its width and height
    zoom: float = 1.0  # magnification over the mode's natural scale (>1 zooms in)
    zoom_to: float | None = None  # when set, the zoom ramps linearly from `zoom` to this over a sequence

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise EmosketchError(f"layout mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if not all(0.0 <= f <= 1.0 for f in self.focus):
            raise EmosketchError(f"focus {self.focus}: each coordinate must be a fraction in [0, 1]")
        for z in (self.zoom, self.zoom_to):
            if z is not None and not (0.05 <= z <= 20.0):
                raise EmosketchError(f"zoom {z}: must be between 0.05 and 20")


def _window(layout: Layout, src_w: int, src_h: int, zoom: float) -> tuple[float, float, float, float]:
    """The source rectangle (x0, y0, width, height), in source pixels, that maps onto the screen."""
    aspect = layout.width / layout.height
    if layout.mode == "stretch":
        ww, wh = src_w / zoom, src_h / zoom
    elif layout.mode == "fill":
        ww = min(src_w, src_h * aspect) / zoom
        wh = ww / aspect
    else:  # fit
        ww = max(src_w, src_h * aspect) / zoom
        wh = ww / aspect
    cx, cy = layout.focus[0] * src_w, layout.focus[1] * src_h
    # Keep the window inside the image where it is smaller than it; centre it where it is larger.
    cx = min(max(cx, ww / 2), src_w - ww / 2) if ww <= src_w else src_w / 2
    cy = min(max(cy, wh / 2), src_h - wh / 2) if wh <= src_h else src_h / 2
    return cx - ww / 2, cy - wh / 2, ww, wh


def _render(frame: np.ndarray, rect: tuple[float, float, float, float], out_w: int, out_h: int) -> np.ndarray:
    x0, y0, ww, wh = rect
    src_h, src_w = frame.shape
    xa, ya = int(round(x0)), int(round(y0))
    xb, yb = max(xa + 1, int(round(x0 + ww))), max(ya + 1, int(round(y0 + wh)))
    pad = (max(0, -ya), max(0, yb - src_h), max(0, -xa), max(0, xb - src_w))
    if any(pad):
        frame = cv2.copyMakeBorder(frame, *pad, cv2.BORDER_CONSTANT, value=PAPER)
        xa, xb, ya, yb = xa + pad[2], xb + pad[2], ya + pad[0], yb + pad[0]
    crop = frame[ya:yb, xa:xb]
    shrink = crop.shape[1] >= out_w and crop.shape[0] >= out_h
    return cv2.resize(crop, (out_w, out_h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def apply_layout(frames: np.ndarray, layout: Layout) -> np.ndarray:
    """Lay uint8 [T, H, W] frames of any size onto the display: uint8 [T, layout.height, layout.width]."""
    if frames.ndim != 3:
        raise ValueError(f"expected [T, H, W] frames, got shape {frames.shape}")
    t, src_h, src_w = frames.shape
    out = np.empty((t, layout.height, layout.width), np.uint8)
    zooms = (np.full(t, layout.zoom) if layout.zoom_to is None
             else np.linspace(layout.zoom, layout.zoom_to, t) if t > 1 else np.array([layout.zoom]))
    rect = None
    for i in range(t):
        if rect is None or layout.zoom_to is not None:
            rect = _window(layout, src_w, src_h, float(zooms[i]))
        out[i] = _render(frames[i], rect, layout.width, layout.height)
    return out
