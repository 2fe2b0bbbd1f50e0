"""Face framing: where the eyes and mouth are in a face sketch (or a face crop), and the window of
it that fills a panel with the face ("brows to chin across all 128 columns").

`locate_face` fits a face-feature template (two eyes, the brows above them, the mouth below) to the
image's horizontal strokes over position and scale; `steady_box` takes the median over a sequence,
so the window does not move while the face does not. `face_window` turns a box and a framing name
into the source rectangle that `layout.apply_layout` maps onto the panel.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import EmosketchError

MOUTH = 1.05  # the mouth line lies this many inter-ocular distances below the eye line (template)

# Each framing's band, in units of the eye-to-mouth distance d: how far its top lies above the eye
# line, which line its bottom is measured from and how far below that, and the face width it shows.
FRAMINGS = {
    "brows-chin": (0.45, "mouth", 0.55, 2.3),  # the default: the whole expression, brows to chin
    "forehead-chin": (1.0, "mouth", 0.6, 2.4),
    "head": (1.6, "mouth", 1.3, 3.6),  # head and shoulders room (paper beyond the crop)
    "brows-mouth": (0.45, "mouth", 0.25, 2.3),
    "eyes": (0.45, "eye", 0.35, 2.2),  # the brows and eyes alone
}


def auto_framing(width: int, height: int) -> str:
    """The framing that suits a panel's shape: brows to chin on 2:1 and squarer panels (128x64,
    72x40, 64x48, 128x128, TFTs), brows to mouth on 3:1 to 5:1 (128x32), the eyes alone on strips
    wider than that (96x16)."""
    aspect = width / height
    return "eyes" if aspect > 5 else "brows-mouth" if aspect >= 3 else "brows-chin"


@dataclass(frozen=True)
class FaceBox:
    """Where a face's features are, in source pixels."""

    eye_y: float  # the eye line
    mouth_y: float  # the mouth line
    cx: float  # the face's centre column (between the eyes)

    @property
    def d(self) -> float:
        return max(1.0, self.mouth_y - self.eye_y)


def _strokes(gray: np.ndarray) -> np.ndarray:
    """Horizontal stroke energy: brows, eyes and mouth are horizontal; face contours and hair mostly not."""
    g = gray.astype(np.float32) / 255
    gy = np.abs(cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))
    gx = np.abs(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3))
    return np.clip(gy - 0.5 * gx, 0, None)


def _template(s: float) -> tuple[np.ndarray, int, int]:
    """The feature template for half an inter-ocular distance `s`; returns it and its anchor
    (the point between the eyes) as (column, row) inside it."""
    half_w, top = int(np.ceil(2.0 * s)), int(np.ceil(0.8 * s))
    bottom = int(np.ceil((2 * MOUTH + 0.45) * s))
    xs = np.arange(-half_w, half_w + 1, dtype=np.float32)[None, :]
    ys = np.arange(-top, bottom + 1, dtype=np.float32)[:, None]

    def blob(x, y, sx, sy, a=1.0):
        return a * np.exp(-0.5 * (((xs - x) / sx) ** 2 + ((ys - y) / sy) ** 2))

    t = (blob(-s, 0, 0.35 * s, 0.14 * s) + blob(s, 0, 0.35 * s, 0.14 * s)  # eyes
         + blob(-s, -0.5 * s, 0.4 * s, 0.12 * s, 0.6) + blob(s, -0.5 * s, 0.4 * s, 0.12 * s, 0.6)  # brows
         + blob(0, 2 * MOUTH * s, 0.55 * s, 0.14 * s) + blob(0, 1.35 * s, 0.25 * s, 0.1 * s, 0.3))  # mouth, nose
    return t.astype(np.float32), half_w, top


def locate_face(gray: np.ndarray) -> FaceBox:
    """The eye line, mouth line and centre column of the face in a uint8 gray sketch or face crop
    (255 = paper). The face is assumed upright, with its eyes in the upper two thirds. An image with
    no face-like strokes (blank paper) gets the usual proportions of an aligned face crop."""
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.shape[0] < 8 or gray.shape[1] < 8:
        raise EmosketchError(f"locate_face: expected a gray image of at least 8x8, got shape {gray.shape}")
    h, w = gray.shape
    raw = _strokes(gray)
    energy = cv2.GaussianBlur(raw, (0, 0), max(0.5, 0.02 * w))
    best, found = -2.0, (0.38 * h, 0.78 * h, w / 2)
    if float(raw.max()) < 1e-3:  # no strokes at all
        return FaceBox(*found)
    for s in np.arange(0.09 * w, 0.3 * w, max(0.5, 0.01 * w)):
        t, half_w, top = _template(float(s))
        th, tw = t.shape
        pad = cv2.copyMakeBorder(energy, th, th, tw, tw, cv2.BORDER_CONSTANT, value=0)
        score = cv2.matchTemplate(pad, t, cv2.TM_CCOEFF_NORMED)
        rows, cols = np.mgrid[0:score.shape[0], 0:score.shape[1]]
        ay, ax = rows + top - th, cols + half_w - tw  # the anchor in image pixels
        ok = (ay >= 0.08 * h) & (ay <= 0.65 * h) & (ax >= 0.3 * w) & (ax <= 0.7 * w) & (ay + 2 * MOUTH * s <= h)
        score = np.where(ok & np.isfinite(score), score, -2.0)  # flat windows (blank paper) score NaN
        i = np.unravel_index(int(np.argmax(score)), score.shape)
        if score[i] > best:
            best, found = float(score[i]), (float(ay[i]), float(ay[i] + 2 * MOUTH * s), float(ax[i]))
    eye_y, mouth_y, cx = found
    # The mouth line: the strongest horizontal stroke near where the template put it.
    s = (mouth_y - eye_y) / (2 * MOUTH)
    column = cv2.GaussianBlur(raw, (0, 0), max(0.5, 0.04 * w))[:, int(round(min(max(cx, 0), w - 1)))]
    lo, hi = int(max(0, mouth_y - 0.35 * s)), int(min(h - 1, mouth_y + 0.35 * s))
    if hi > lo:
        mouth_y = lo + float(np.argmax(column[lo:hi + 1]))
    return FaceBox(eye_y, mouth_y, cx)


def steady_box(frames: np.ndarray, samples: int = 15) -> FaceBox:
    """One box for a whole sequence: the median of the boxes of up to `samples` evenly spread
    frames. Identical frames give exactly the same box, and an expression that opens the mouth in a
    few frames does not move it."""
    frames = np.asarray(frames)
    picks = np.unique(np.linspace(0, len(frames) - 1, min(samples, len(frames))).round().astype(int))
    boxes = np.array([[b.eye_y, b.mouth_y, b.cx] for b in (locate_face(frames[i]) for i in picks)])
    e, m, c = np.median(boxes, axis=0)
    return FaceBox(float(e), float(m), float(c))


def face_window(box: FaceBox, framing: str, panel_w: int, panel_h: int, max_stretch: float = 3.0,
                zoom: float = 1.0) -> tuple[float, float, float, float]:
    """The source rectangle (x0, y0, width, height) that shows `framing` of the face on a
    panel_w x panel_h panel. The band fills the panel's height and the face its width; where that
    would stretch the face by more than `max_stretch` in one direction, the window grows in the
    other (paper or more of the head shows) instead. zoom > 1 pushes in around the band's centre."""
    if framing == "auto":
        framing = auto_framing(panel_w, panel_h)
    if framing not in FRAMINGS:
        raise EmosketchError(f"framing {framing!r}: expected auto or one of {', '.join(FRAMINGS)}")
    if max_stretch < 1.0:
        raise EmosketchError(f"max stretch {max_stretch}: must be >= 1 (1 keeps the face's proportions)")
    above, line, below, width = FRAMINGS[framing]
    d = box.d
    top = box.eye_y - above * d
    bottom = (box.mouth_y if line == "mouth" else box.eye_y) + below * d
    wh, ww = bottom - top, width * d
    cy = (top + bottom) / 2
    sx, sy = panel_w / ww, panel_h / wh
    if sx > sy * max_stretch:  # too wide a stretch: show more than the face's width
        ww = panel_w / (sy * max_stretch)
    elif sy > sx * max_stretch:  # too tall a stretch: show more than the band
        wh = panel_h / (sx * max_stretch)
    ww, wh = ww / zoom, wh / zoom
    return box.cx - ww / 2, cy - wh / 2, ww, wh
