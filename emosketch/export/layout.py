"""Layout of frames of any size onto the display geometry: the face filling the panel (face), fill
(crop), fit (letterbox) or stretch, with a focus point and a zoom factor that may ramp over a
sequence or be given per frame."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..errors import EmosketchError, is_real, is_whole, shown
from .dither import despeckle, thin
from .framing import FRAMINGS, FaceBox, face_window, steady_box

MODES = ("face", "fill", "fit", "stretch")
MAX_SIDE, MAX_PIXELS = 4096, 1 << 20  # a panel's side and area at most (a pack's frame holds at most 524,280 pixels)
OVALS = ("none", "clip", "outline")  # the head oval: none; clip the drawing to it; clip and draw it
SHRINKS = ("area", "ink", "skeleton")  # how a frame larger than the screen is shrunk: area averaging; ink kept
# first; or its strokes' one-pixel skeletons carried over (see _skeleton_shrink; blind round 52 saw a face at once
# 0.34 with it against the default's 0.73: on this panel a face needs the strokes' weight)
PAPER = 255  # what letterbox bars and out-of-image areas are filled with
# The head oval in a face crop (emosketch's crops put the detected face box, with a 0.2 margin, in the
# middle): its centre and semi-axes as fractions of the frame's width and height.
OVAL_CENTRE = (0.5, 0.52)
OVAL_AXES = (0.41, 0.47)


def parse_geometry(text: str) -> tuple[int, int]:
    """'128x64' -> (128, 64)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not m:
        raise EmosketchError(f"size {text!r}: expected WIDTHxHEIGHT, e.g. 128x64")
    if max(len(m.group(1).lstrip("0")), len(m.group(2).lstrip("0"))) > 4:  # int() of 4,300+ digits raises
        raise EmosketchError(f"size {text[:40]!r}: width and height must be 1..4096")
    w, h = int(m.group(1)), int(m.group(2))
    if not (1 <= w <= 4096 and 1 <= h <= 4096):
        raise EmosketchError(f"size {text!r}: width and height must be 1..4096")
    return w, h


@dataclass(frozen=True)
class Layout:
    width: int = 128  # display width in pixels
    height: int = 64  # display height in pixels
    mode: str = "fill"  # face: the face fills the panel; fill: crop to cover it; fit: letterbox; stretch: ignore aspect
    focus: tuple[float, float] = (0.5, 0.5)  # point of the source kept in view, as fractions of its width and height
    zoom: float = 1.0  # magnification over the mode's natural scale (>1 zooms in)
    zoom_to: float | None = None  # when set, the zoom ramps linearly from `zoom` to this over a sequence
    framing: str = "auto"  # face mode: the band of the face that fills the panel (framing.FRAMINGS; auto: by shape)
    max_stretch: float = 3.0  # face mode: how much wider than tall the face may be stretched (or taller than wide)
    box: FaceBox | None = None  # face mode: where the face is in the source; None = found in the frames
    oval: str = "none"  # the head oval (OVALS): outline clips the drawing to an oval around the face and draws
    # the oval, a closed head outline (see head_oval)
    shrink: str = "area"  # SHRINKS: where the frame is shrunk onto the screen, area averages it ("area"); "ink"
    # first widens every dark stroke by the shrink factor (a min filter), so that a 128 px drawing's thin
    # strokes stay whole and dark at 64 px instead of fading into gray the dither drops; "skeleton" carries each
    # stroke over as a continuous one-pixel line (dark areas, such as an open mouth, stay filled)
    source_speck: int = 0  # ink specks (darker than mid-gray, 8-connected) of fewer pixels than this at the frame's
    # own resolution become paper before the frame is laid out: a 128 px drawing's clutter (hair texture,
    # stubble) goes before the shrink merges it into marks of the panel's size; 0 keeps every speck

    def __post_init__(self) -> None:
        sides = (self.width, self.height)
        if not all(is_whole(v) and 1 <= v <= MAX_SIDE for v in sides):
            raise EmosketchError(f"panel size {shown(self.width)}x{shown(self.height)}: width and height are whole numbers "
                                 f"from 1 to {MAX_SIDE}")
        if self.width * self.height > MAX_PIXELS:
            raise EmosketchError(f"panel size {self.width}x{self.height}: {self.width * self.height:,} pixels, more than "
                                 f"the {MAX_PIXELS:,} a panel may have")
        if self.mode not in MODES:
            raise EmosketchError(f"layout mode {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.oval not in OVALS:
            raise EmosketchError(f"oval {self.oval!r}: expected one of {', '.join(OVALS)}")
        if self.shrink not in SHRINKS:
            raise EmosketchError(f"shrink {self.shrink!r}: expected one of {', '.join(SHRINKS)}")
        if not 0 <= self.source_speck <= 256:
            raise EmosketchError(f"source speck {self.source_speck}: from 0 (keep every speck) to 256 pixels")
        if self.framing != "auto" and self.framing not in FRAMINGS:
            raise EmosketchError(f"framing {self.framing!r}: expected auto or one of {', '.join(FRAMINGS)}")
        if not (is_real(self.max_stretch) and 1.0 <= self.max_stretch <= 8.0):
            raise EmosketchError(f"max stretch {self.max_stretch}: must be between 1 and 8")
        if not isinstance(self.focus, (tuple, list)) or len(self.focus) != 2 or not all(is_real(f) for f in self.focus):
            raise EmosketchError(f"focus {shown(self.focus)}: a pair (x, y) of fractions of the width and height")
        object.__setattr__(self, "focus", tuple(self.focus))  # a manifest reads it back as a list
        if isinstance(self.box, dict):  # read back from a manifest
            try:
                object.__setattr__(self, "box", FaceBox(**self.box))
            except TypeError:
                raise EmosketchError(f"box {shown(self.box)}: expected eye_y, mouth_y and cx") from None
        if self.box is not None and not isinstance(self.box, FaceBox):
            raise EmosketchError(f"box {shown(self.box)}: a FaceBox(eye_y, mouth_y, cx), or None to find the face")
        if not all(0.0 <= f <= 1.0 for f in self.focus):
            raise EmosketchError(f"focus {self.focus}: each coordinate must be a fraction in [0, 1]")
        for z in (self.zoom, self.zoom_to):
            if z is not None and not (is_real(z) and 0.05 <= z <= 20.0):
                raise EmosketchError(f"zoom {shown(z)}: must be a number between 0.05 and 20")
        if not is_real(self.zoom):
            raise EmosketchError("zoom None: must be a number between 0.05 and 20 (zoom_to is the one that may be None)")


@functools.lru_cache(maxsize=8)
def _oval(h: int, w: int, how: str) -> tuple[np.ndarray, np.ndarray | None]:
    """The head oval of an h x w frame: (what lies outside it, bool [h, w]; with how "outline", the oval
    drawn dark on paper, uint8 [h, w], else None). Computed once per frame size, not per frame."""
    cx, cy = OVAL_CENTRE[0] * w - 0.5, OVAL_CENTRE[1] * h - 0.5
    ax, ay = OVAL_AXES[0] * w, OVAL_AXES[1] * h
    yy, xx = np.mgrid[0:h, 0:w]
    outside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 > 1
    ring = None
    if how == "outline":
        ring = np.full((h, w), PAPER, np.uint8)
        shift = 4  # cv2 draws at 1/16 pixel precision with shift 4
        cv2.ellipse(ring, (round(cx * 16), round(cy * 16)), (round(ax * 16), round(ay * 16)), 0, 0, 360, 0,
                    max(1, round(h / 64)), cv2.LINE_8, shift)
    outside.flags.writeable = False  # shared by every caller through the cache
    if ring is not None:
        ring.flags.writeable = False
    return outside, ring


def head_oval(frames: np.ndarray, how: str = "outline") -> np.ndarray:
    """Face crops uint8 [T, H, W] with what lies outside the head oval (OVAL_CENTRE, OVAL_AXES) turned
    to paper, and with `how` "outline" the oval drawn dark around them, one pixel for every 64 of the
    frame's height: a closed outline for every head, the same in every frame (so it never flickers),
    without the hair, shoulders and background around the face. "none" returns the frames as they are."""
    if how not in OVALS:
        raise EmosketchError(f"oval {how!r}: expected one of {', '.join(OVALS)}")
    if how == "none":
        return frames
    _, h, w = frames.shape
    outside, ring = _oval(h, w, how)
    out = frames.copy()
    out[:, outside] = PAPER
    return out if ring is None else np.minimum(out, ring[None])


def _window(layout: Layout, src_w: int, src_h: int, zoom: float) -> tuple[float, float, float, float]:
    """The source rectangle (x0, y0, width, height), in source pixels, that maps onto the screen."""
    if layout.mode == "face":
        assert layout.box is not None
        return face_window(layout.box, layout.framing, layout.width, layout.height, layout.max_stretch, zoom)
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


def without_specks(frame: np.ndarray, min_pixels: int) -> np.ndarray:
    """A gray frame with its ink specks (pixels darker than mid-gray, 8-connected pieces of fewer than
    `min_pixels`) painted paper, with the gray fringe around them."""
    ink = frame < 128
    kept = despeckle(ink[None], min_pixels)[0]
    specks = ink & ~kept
    if not specks.any():
        return frame
    # a speck's anti-aliased fringe goes with it, unless it touches ink that stays
    drop = (cv2.dilate(specks.view(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~kept
    out = frame.copy()
    out[drop] = PAPER
    return out


def _shrink_factor(rect: tuple[float, float, float, float], out_w: int, out_h: int) -> float:
    """How many times rect is shrunk onto out_w x out_h (the lesser of the two sides)."""
    return min(rect[2] / out_w, rect[3] / out_h)


def _keep_ink(frame: np.ndarray, rect: tuple[float, float, float, float], out_w: int, out_h: int) -> np.ndarray:
    """The frame with every dark stroke widened to the shrink factor of rect onto out_w x out_h (a
    min filter), so that area averaging keeps a thin stroke dark; the frame itself where it shrinks
    less than 1.5x."""
    factor = _shrink_factor(rect, out_w, out_h)
    if factor < 1.5:
        return frame
    k = int(round(factor))
    return cv2.erode(frame, np.ones((k, k), np.uint8), borderType=cv2.BORDER_REPLICATE)


SKELETON_INK = 200  # _skeleton_shrink: darker than this is a stroke at the frame's own resolution (as PANEL's level)
SKELETON_SOLID = 110  # and screen pixels whose area average is darker than this, 3x3 or more, stay a dark area


def _skeleton_shrink(frame: np.ndarray, rect: tuple[float, float, float, float], out_w: int,
                     out_h: int) -> np.ndarray:
    """The frame shrunk onto out_w x out_h with its strokes kept as continuous one-pixel lines: every
    screen pixel that a stroke's skeleton (at the frame's own resolution) passes through is ink (0), a dark
    area of at least 3x3 screen pixels keeps its area average (an open mouth, pupils), the rest is paper."""
    area = _render(frame, rect, out_w, out_h)
    skeleton = thin((frame < SKELETON_INK)[None])[0]
    hit = _render(np.where(skeleton, 0, PAPER).astype(np.uint8), rect, out_w, out_h) < PAPER
    hit = thin(hit[None])[0]  # a slant's pixels fall in two rows of screen pixels: one again
    solid = cv2.morphologyEx((area < SKELETON_SOLID).view(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    return np.where(hit, 0, np.where(solid, area, PAPER)).astype(np.uint8)


def _render_exact(frame: np.ndarray, rect: tuple[float, float, float, float], out_w: int, out_h: int) -> np.ndarray:
    """The rectangle mapped onto the screen at sub-pixel precision (face mode: a slow zoom moves
    smoothly instead of in whole source pixels); area averaging where it shrinks."""
    x0, y0, ww, wh = rect
    sx, sy = out_w / ww, out_h / wh
    if sx < 1 or sy < 1:
        return _render(frame, rect, out_w, out_h)
    m = np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5]], np.float64)
    return cv2.warpAffine(frame, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=PAPER)


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


def with_face(layout: Layout, frames: np.ndarray) -> Layout:
    """The layout with its face box found in `frames` (one steady box for all of them), when it is in
    face mode and has none yet; otherwise the layout itself."""
    if layout.mode != "face" or layout.box is not None:
        return layout
    return replace(layout, box=steady_box(frames))


def frame_zooms(layout: Layout, count: int, zooms=None) -> np.ndarray:
    """Each frame's zoom: `zooms` (one per frame, e.g. from the frames' marks) times the layout's
    zoom, held within 0.05 to 20 (pack --zoom 20 and its idle loops' breath), or the layout's zoom ramp."""
    if zooms is not None:
        z = np.asarray(zooms, np.float64) * layout.zoom
        if z.shape != (count,) or not np.all(np.isfinite(z) & (z > 0)):
            raise EmosketchError(f"per-frame zooms: expected {count} finite values above 0")
        return np.clip(z, 0.05, 20.0)
    if layout.zoom_to is None or count < 2:
        return np.full(count, layout.zoom)
    return np.linspace(layout.zoom, layout.zoom_to, count)


def apply_layout(frames: np.ndarray, layout: Layout, zooms=None) -> np.ndarray:
    """Lay uint8 [T, H, W] frames of any size onto the display: uint8 [T, layout.height, layout.width].
    `zooms`, one per frame, animate the zoom (see frame_zooms)."""
    if frames.ndim != 3:
        raise ValueError(f"expected [T, H, W] frames, got shape {frames.shape}")
    t, src_h, src_w = frames.shape
    layout = with_face(layout, frames)
    out = np.empty((t, layout.height, layout.width), np.uint8)
    z = frame_zooms(layout, t, zooms)
    draw = _render_exact if layout.mode == "face" else _render
    rect, last = None, None
    for i in range(t):
        if rect is None or z[i] != last:
            rect, last = _window(layout, src_w, src_h, float(z[i])), z[i]
        frame = frames[i] if layout.oval == "none" else head_oval(frames[i:i + 1], layout.oval)[0]
        if layout.source_speck > 1:
            frame = without_specks(frame, layout.source_speck)
        if layout.shrink == "ink":
            frame = _keep_ink(frame, rect, layout.width, layout.height)
        if layout.shrink == "skeleton" and _shrink_factor(rect, layout.width, layout.height) >= 1.5:
            out[i] = _skeleton_shrink(frame, rect, layout.width, layout.height)
        else:
            out[i] = draw(frame, rect, layout.width, layout.height)
    return out
