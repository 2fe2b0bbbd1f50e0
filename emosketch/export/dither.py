"""1-bit conversion of grayscale frames: thresholds, error diffusion, ordered and blue-noise masks,
a line-art mode, and temporal hysteresis so still areas of an animation do not flicker.

Every function takes uint8 [T, H, W] (255 = paper) and returns bool [T, H, W] where True = ink.
Polarity (which of ink or paper lights the OLED) is applied by `to_bits`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import EmosketchError, is_whole

MODES = ("lineart", "threshold", "otsu", "floyd-steinberg", "atkinson",
         "bayer2", "bayer4", "bayer8", "bluenoise")
MASK_MODES = ("bayer2", "bayer4", "bayer8", "bluenoise", "lineart", "threshold")
FILLS = ("bluenoise", "bayer2", "bayer4", "bayer8", "none")  # lineart's tonal fills; none draws strokes only
POLARITIES = ("ink", "paper")  # ink: dark strokes light the pixels (default); paper: the background does


@dataclass(frozen=True)
class Dither:
    mode: str = "lineart"  # one of MODES
    level: int = 128  # gray level below which a pixel is ink, for 'threshold'
    stable: bool = False  # temporal hysteresis: a pixel flips only when it clearly crosses its threshold (lineart: its strokes too)
    hysteresis: int = 24  # half-width of the dead band around a pixel's threshold, in gray levels
    stroke_level: int = 96  # lineart: darker than this is a stroke, always ink
    stroke_contrast: int = 40  # lineart: this much darker than the local mean is a (thin) stroke
    paper_level: int = 232  # lineart: lighter than this is paper, never dithered
    fill: str = "bluenoise"  # lineart: mask used for tonal fills (one of FILLS; none: strokes only)
    polarity: str = "ink"  # one of POLARITIES
    thin: bool = False  # thin every stroke to one pixel after dithering (enlarged faces: no doubled lines); with stable, a still stroke keeps its skeleton
    line: int = 1  # with thin: the width in pixels the one-pixel skeleton is redrawn at (1 or 2)
    min_stroke: int = 0  # ink specks of fewer pixels than this (8-connected) are dropped: clutter, not features
    gap_margin: int | None = None  # lineart: ink only where a pixel is darker than its 5x5 mean plus this many
    # levels, so that where strokes crowd (an eye, hair) the lighter pixels between them stay paper; None: off

    def __post_init__(self) -> None:
        for name in ("stable", "thin"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):  # stable="no" had been truthy: on
                raise EmosketchError(f"{name} {getattr(self, name)!r}: expected True or False")
        for name in ("level", "hysteresis", "stroke_level", "stroke_contrast", "paper_level", "min_stroke",
                     "gap_margin"):
            value = getattr(self, name)
            if not (value is None and name == "gap_margin") and not is_whole(value):
                raise EmosketchError(f"{name} {value!r}: expected a whole number of gray levels or pixels")
        if not 0 <= self.hysteresis <= 128:  # 10**9 froze the animation on its first frame
            raise EmosketchError(f"hysteresis {self.hysteresis}: from 0 to 128 gray levels")
        if not 0 <= self.stroke_contrast <= 255:  # -10**9 made every pixel ink
            raise EmosketchError(f"stroke contrast {self.stroke_contrast}: from 0 to 255 gray levels")
        if self.line not in (1, 2):
            raise EmosketchError(f"line width {self.line}: expected 1 or 2 pixels")
        if self.mode not in MODES:
            raise EmosketchError(f"dither {self.mode!r}: expected one of {', '.join(MODES)}")
        if self.polarity not in POLARITIES:
            raise EmosketchError(f"polarity {self.polarity!r}: expected one of {', '.join(POLARITIES)}")
        if self.fill not in FILLS:
            raise EmosketchError(f"lineart fill {self.fill!r}: expected one of {', '.join(FILLS)}")
        if self.stable and self.mode not in MASK_MODES:
            raise EmosketchError(
                f"--stable needs a screen-fixed mask ({', '.join(MASK_MODES)}); "
                f"{self.mode} diffuses error differently in every frame")
        if self.gap_margin is not None and not -64 <= self.gap_margin <= 255:
            raise EmosketchError(f"gap margin {self.gap_margin}: from -64 to 255 gray levels")
        if not 0 <= self.min_stroke <= 64:
            raise EmosketchError(f"min stroke {self.min_stroke}: from 0 (keep every speck) to 64 pixels")
        for name in ("level", "stroke_level", "paper_level"):
            if not 0 <= getattr(self, name) <= 256:
                raise EmosketchError(f"{name} {getattr(self, name)}: must be a gray level 0..256")


# ---- masks ---------------------------------------------------------------------------------------

def bayer_matrix(n: int) -> np.ndarray:
    """The n x n Bayer index matrix (n a power of two), values 0 .. n*n-1."""
    m = np.zeros((1, 1), np.int64)
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return m


@functools.lru_cache(maxsize=4)
def blue_noise(size: int = 64, sigma: float = 1.9, seed: int = 0) -> np.ndarray:
    """A size x size blue-noise rank matrix (values 0 .. size*size-1) by void-and-cluster (Ulichney 1993).

    Deterministic for a seed; computed once per process (about 0.2 s for 64 x 64).
    """
    n = size * size
    d = np.minimum(np.arange(size), size - np.arange(size)).astype(np.float64)
    kernel = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * sigma * sigma))
    kernel_f = np.fft.rfft2(kernel)

    def energy(pattern: np.ndarray) -> np.ndarray:
        return np.fft.irfft2(np.fft.rfft2(pattern) * kernel_f, s=pattern.shape)

    def splat(e: np.ndarray, idx: int, sign: float) -> None:
        y, x = divmod(idx, size)
        e += sign * np.roll(np.roll(kernel, y, axis=0), x, axis=1)

    rng = np.random.default_rng(seed)
    pattern = np.zeros((size, size))
    pattern.flat[rng.choice(n, n // 10, replace=False)] = 1
    e = energy(pattern)
    # Relax the initial pattern: move the tightest cluster into the largest void until stable.
    for _ in range(4 * n):
        cluster = int(np.argmax(np.where(pattern > 0, e, -np.inf)))
        pattern.flat[cluster] = 0
        splat(e, cluster, -1.0)
        void = int(np.argmin(np.where(pattern > 0, np.inf, e)))
        if void == cluster:
            pattern.flat[cluster] = 1
            splat(e, cluster, 1.0)
            break
        pattern.flat[void] = 1
        splat(e, void, 1.0)
    ranks = np.zeros(n, np.int64)
    ones = int(pattern.sum())
    # Phase 1: rank the initial ones by removing tightest clusters.
    work, we = pattern.copy(), e.copy()
    for rank in range(ones - 1, -1, -1):
        cluster = int(np.argmax(np.where(work > 0, we, -np.inf)))
        work.flat[cluster] = 0
        splat(we, cluster, -1.0)
        ranks[cluster] = rank
    # Phases 2 and 3: fill the largest voids (the tightest clusters of zeros are the same pixels).
    for rank in range(ones, n):
        void = int(np.argmin(np.where(pattern > 0, np.inf, e)))
        pattern.flat[void] = 1
        splat(e, void, 1.0)
        ranks[void] = rank
    return ranks.reshape(size, size)


def threshold_mask(name: str, height: int, width: int) -> np.ndarray:
    """A screen-fixed float32 threshold map in gray levels (0..255) tiled over height x width."""
    if name == "bluenoise":
        ranks = blue_noise()
    else:
        ranks = bayer_matrix(int(name.removeprefix("bayer")))
    levels = ranks.size
    tile = ((ranks + 0.5) / levels * 255.0).astype(np.float32)
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]))
    return np.tile(tile, reps)[:height, :width]


# ---- error diffusion ----------------------------------------------------------------------------

FLOYD_STEINBERG = ((0, 1, 7 / 16), (1, -1, 3 / 16), (1, 0, 5 / 16), (1, 1, 1 / 16))
ATKINSON = ((0, 1, 1 / 8), (0, 2, 1 / 8), (1, -1, 1 / 8), (1, 0, 1 / 8), (1, 1, 1 / 8), (2, 0, 1 / 8))


def _diffuse(gray: np.ndarray, taps: tuple[tuple[int, int, float], ...]) -> np.ndarray:
    """Error diffusion run on all frames at once: the pixel loop is sequential within a frame but the
    frames are independent, so each step is one vector operation across the T frames."""
    t, h, w = gray.shape
    buf = np.zeros((h + 2, w + 4, t), np.float32)
    buf[:h, 2:w + 2] = gray.transpose(1, 2, 0).astype(np.float32) / 255.0
    paper = np.empty((h, w, t), bool)
    err = np.empty(t, np.float32)
    part = np.empty(t, np.float32)
    for y in range(h):
        for x in range(w):
            old = buf[y, x + 2]
            new = old >= 0.5
            paper[y, x] = new
            np.subtract(old, new, out=err)
            for dy, dx, weight in taps:
                np.multiply(err, weight, out=part)
                target = buf[y + dy, x + 2 + dx]
                np.add(target, part, out=target)
    return ~paper.transpose(2, 0, 1)


# ---- the modes -----------------------------------------------------------------------------------

def _hysteresis(gray: np.ndarray, thresholds: np.ndarray, band: float, prev: np.ndarray | None = None) -> np.ndarray:
    """Ink where gray < threshold, but a pixel keeps its previous state while it stays inside
    threshold +- band: slow fades then flip few pixels per frame. `prev` is the state of the frame
    before gray[0] (the end of the previous chunk), if any."""
    ink = np.empty(gray.shape, bool)
    g = gray.astype(np.float32)
    ink[0] = g[0] < thresholds if prev is None else np.where(np.abs(g[0] - thresholds) <= band, prev, g[0] < thresholds)
    for i in range(1, len(g)):
        ink[i] = np.where(np.abs(g[i] - thresholds) <= band, ink[i - 1], g[i] < thresholds)
    return ink


def _masked(gray: np.ndarray, thresholds: np.ndarray, d: Dither, prev: np.ndarray | None) -> np.ndarray:
    if d.stable:
        return _hysteresis(gray, thresholds, d.hysteresis, prev)
    return gray < thresholds


def _contrast(gray: np.ndarray) -> np.ndarray:
    """How much darker each pixel is than its 5x5 neighbourhood, in gray levels."""
    local = np.empty(gray.shape, np.float32)
    for i, frame in enumerate(gray):
        local[i] = cv2.blur(frame.astype(np.float32), (5, 5), borderType=cv2.BORDER_REPLICATE)
    return local - gray


def _strokes(gray: np.ndarray, d: Dither) -> np.ndarray:
    """Line-art strokes: dark pixels, and pixels clearly darker than their neighbourhood (thin lines
    that downscaling turned gray)."""
    return (gray < d.stroke_level) | (_contrast(gray) > d.stroke_contrast)


CHUNK = 256  # frames dithered at once: the float work space stays a few MB at any frame count
# Error diffusion loops over pixels in Python, vectorised across the frames of a chunk: larger
# chunks keep its speed (about 36 MB of work space at 128x64).
DIFFUSE_CHUNK = 1024


def dither(gray: np.ndarray, d: Dither) -> np.ndarray:
    """uint8 [T, H, W] -> bool [T, H, W] ink map, by the mode in `d`. Frames are dithered CHUNK at
    a time (the stable modes carry their state across chunks), so memory grows only by the output."""
    if gray.ndim != 3 or gray.dtype != np.uint8:
        raise ValueError(f"expected uint8 [T, H, W], got {gray.dtype} {gray.shape}")
    t, h, w = gray.shape
    if d.mode == "otsu":
        # One level for the whole sequence, so the level itself cannot flicker between frames.
        level, _ = cv2.threshold(gray.reshape(-1, w), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        return gray <= level
    ink = np.empty((t, h, w), bool)
    state = None  # the stable modes' masked state at the end of the last chunk
    chunk = DIFFUSE_CHUNK if d.mode in ("floyd-steinberg", "atkinson") else CHUNK
    for start in range(0, t, chunk):
        ink[start:start + chunk], state = _dither_chunk(gray[start:start + chunk], d, state)
    return ink


def _dither_chunk(gray: np.ndarray, d: Dither, prev: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    _, h, w = gray.shape
    if d.mode == "threshold":
        masked = _masked(gray, np.full((h, w), d.level - 0.5, np.float32), d, prev)
        return masked, masked[-1]
    if d.mode == "floyd-steinberg":
        return _diffuse(gray, FLOYD_STEINBERG), None
    if d.mode == "atkinson":
        return _diffuse(gray, ATKINSON), None
    if d.mode in ("bayer2", "bayer4", "bayer8", "bluenoise"):
        masked = _masked(gray, threshold_mask(d.mode, h, w), d, prev)
        return masked, masked[-1]
    # lineart: strokes are thresholded, only the tonal areas between stroke and paper are dithered.
    if d.fill == "none":  # strokes only: no pixel of a tonal area is ever ink
        fill_thresholds = np.full((h, w), -np.inf, np.float32)
    else:
        mask = threshold_mask(d.fill, h, w)
        fill_thresholds = d.stroke_level + mask / 255.0 * max(1, d.paper_level - d.stroke_level)
    if d.stable:
        # The hysteresis covers the strokes too: how far a pixel is past any of the three tests (dark,
        # darker than around it, under its fill threshold), in gray levels; > 0 is ink.
        g = gray.astype(np.float32)
        contrast = _contrast(gray)
        score = np.maximum(np.maximum(d.stroke_level - g, contrast - d.stroke_contrast), fill_thresholds - g)
        if d.gap_margin is not None:  # and under its neighbourhood's mean plus the margin
            score = np.minimum(score, contrast + d.gap_margin)
        ink = _hysteresis(-score, np.zeros((h, w), np.float32), d.hysteresis, prev)
        ink &= gray < d.paper_level
        return ink, ink[-1]
    masked = _masked(gray, fill_thresholds, d, prev)
    ink = masked | _strokes(gray, d)
    ink &= gray < d.paper_level
    if d.gap_margin is not None:
        ink &= _contrast(gray) > -d.gap_margin
    return ink, masked[-1]


def to_bits(gray: np.ndarray, d: Dither) -> np.ndarray:
    """uint8 [T, H, W] -> bool [T, H, W] where True = a lit OLED pixel."""
    ink = dither(gray, d)
    if d.min_stroke > 1:
        ink = despeckle(ink, d.min_stroke)
    if d.thin and d.stable:
        ink = thin_stable(ink)
    elif d.thin:
        ink = np.concatenate([thin(ink[s:s + CHUNK]) for s in range(0, len(ink), CHUNK)]) if len(ink) else ink
    if d.thin and d.line == 2:
        ink = widen(ink)
    return ink if d.polarity == "ink" else ~ink


def despeckle(ink: np.ndarray, min_pixels: int) -> np.ndarray:
    """bool [T, H, W] ink without the 8-connected pieces of fewer than `min_pixels` pixels."""
    out = np.empty_like(ink)
    for i, frame in enumerate(ink):
        count, labels, stats, _ = cv2.connectedComponentsWithStats(frame.view(np.uint8), connectivity=8)
        keep = stats[:, cv2.CC_STAT_AREA] >= min_pixels
        keep[0] = False  # the background
        out[i] = keep[labels]
    return out


def widen(ink: np.ndarray) -> np.ndarray:
    """A one-pixel skeleton redrawn two pixels wide: each ink pixel also inks its right, lower and
    lower-right neighbours (a 2x2 pen), so every stroke is one even 2 px line. bool [T, H, W]."""
    out = ink.copy()
    out[:, :, 1:] |= ink[:, :, :-1]
    out[:, 1:, :] |= out[:, :-1, :].copy()
    return out


def narrow(ink: np.ndarray) -> np.ndarray | None:
    """The inverse of widen: the pixels whose 2x2 pen square lies inside `ink` (the edges count as ink,
    where the pen's square runs off the frame), or None when widening them does not give `ink` back,
    i.e. `ink` is not drawn with that pen. A pack stores these and its player redraws them with the
    pen (Pack.pen): a one-pixel skeleton codes in fewer bytes than its two-pixel line. bool [T, H, W]."""
    t, h, w = ink.shape
    pad = np.ones((t, h + 1, w + 1), bool)
    pad[:, :h, :w] = ink
    out = pad[:, :-1, :-1] & pad[:, :-1, 1:] & pad[:, 1:, :-1] & pad[:, 1:, 1:]
    return out if np.array_equal(widen(out), ink) else None


STABLE_THIN_RADIUS = 0  # a frame's own skeleton is taken within this many pixels of changed ink (0 measured best)


def thin_stable(ink: np.ndarray, radius: int = STABLE_THIN_RADIUS, widen: int = 4) -> np.ndarray:
    """Thinning that holds still where the ink holds still: bool [T, H, W] -> bool [T, H, W].

    Zhang-Suen peels a stroke a layer at a time, so a change at one edge of a thick stroke can move
    its skeleton pixels a few pixels away. Here each frame after the first takes its own skeleton
    only near change (within `radius` pixels of a pixel whose ink changed) and the previous frame's
    skeleton everywhere else; along the seam between the two, both are kept and the union is thinned
    again. Where that splits an ink component into more (or fewer) pieces than the frame's own
    skeleton does, the fresh region grows by a pixel inside that component, `widen` times at most,
    then the component takes the frame's own skeleton. So no stroke breaks, a growing stroke grows
    its skeleton, and every frame is a one-pixel skeleton inside its own ink.
    """
    out = np.empty(ink.shape, bool)
    near = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    ring = np.ones((3, 3), np.uint8)
    skeletons = np.concatenate([thin(ink[s:s + CHUNK]) for s in range(0, len(ink), CHUNK)]) if len(ink) else ink
    for i, skel in enumerate(skeletons):
        if i == 0:
            out[0] = skel
            continue
        changed = cv2.dilate((ink[i] != ink[i - 1]).view(np.uint8), near)
        if not changed.any():
            out[i] = out[i - 1]
            continue
        count, labels = cv2.connectedComponents(ink[i].view(np.uint8), connectivity=8)
        want = _pieces(skel, labels, count)
        for _ in range(widen + 1):
            seam = cv2.dilate(changed, ring).astype(bool)
            held = thin(((skel & seam) | (out[i - 1] & ~changed.astype(bool)))[None])[0]
            bad = np.isin(labels, np.flatnonzero(_pieces(held, labels, count) != want))
            if not bad.any():
                break
            changed = np.where(bad, cv2.dilate(changed, ring), changed)
        out[i] = np.where(bad, skel, held)
    return out


def _pieces(skel: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """How many 8-connected pieces of `skel` lie in each of the `count` labelled ink components."""
    n, parts = cv2.connectedComponents(skel.view(np.uint8), connectivity=8)
    pairs = np.unique(labels[skel].astype(np.int64) * n + parts[skel])
    return np.bincount(pairs // n, minlength=count)


def thin(ink: np.ndarray, max_iter: int = 16) -> np.ndarray:
    """Zhang-Suen thinning of bool [T, H, W] ink maps: every stroke becomes one pixel wide, its
    length and connectivity kept (an enlarged face's strokes stay one clean line on the panel)."""
    img = np.pad(np.asarray(ink, bool), ((0, 0), (1, 1), (1, 1)))
    for _ in range(max_iter):
        changed = False
        for step in (0, 1):
            p = img.astype(np.uint8)
            # neighbours P2..P9, clockwise from north
            n = [p[:, :-2, 1:-1], p[:, :-2, 2:], p[:, 1:-1, 2:], p[:, 2:, 2:],
                 p[:, 2:, 1:-1], p[:, 2:, :-2], p[:, 1:-1, :-2], p[:, :-2, :-2]]
            b = sum(n)
            a = sum(((n[k] == 0) & (n[(k + 1) % 8] == 1)).astype(np.uint8) for k in range(8))
            if step == 0:
                c1, c2 = n[0] * n[2] * n[4], n[2] * n[4] * n[6]
            else:
                c1, c2 = n[0] * n[2] * n[6], n[0] * n[4] * n[6]
            core = img[:, 1:-1, 1:-1]
            remove = core & (b >= 2) & (b <= 6) & (a == 1) & (c1 == 0) & (c2 == 0)
            if remove.any():
                core[remove] = False
                changed = True
        if not changed:
            break
    return img[:, 1:-1, 1:-1].copy()
