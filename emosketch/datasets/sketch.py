"""Face photo -> line sketch: XDoG (Winnemöller et al. 2012), pencil dodge-blend, Canny; optional
binarisation and removal of small specks. Deterministic and weight-free.

XDoG can also be smoothed along the image's edge flow (`flow`), in the spirit of the flow-based
DoG of Kang, Lee and Chui (2007): the edge response is averaged along each edge's own direction,
so that an edge's pieces join into one continuous line and texture with no direction (skin, hair
strands, stubble) averages away. And the darkest part of the photo can be filled with ink (`spots`,
the comic inker's "spotted blacks"): dark hair, brows, pupils and an open mouth become solid masses.

All functions take and return uint8 gray images with 255 = paper, 0 = ink. Line scales are given
in pixels of a 128-pixel face and scaled with the image, so a 64 px and a 256 px face of the same
person get the same drawing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from ..errors import EmosketchError

METHODS = ("xdog", "pencil", "canny")
REFERENCE_SIZE = 128  # sigma and blur values below are in pixels at this face size


@dataclass(frozen=True)
class SketchConfig:
    method: str = "xdog"  # xdog, pencil or canny
    sigma: float = 1.2  # xdog: inner Gaussian sigma, px at 128 px; sets the line width
    k: float = 1.6  # xdog: ratio of the outer to the inner sigma
    tau: float = 0.98  # xdog: weight of the outer Gaussian (edge sensitivity)
    epsilon: float = -0.01  # xdog: threshold of the soft step, on [0, 1] gray
    phi: float = 200.0  # xdog: sharpness of the soft step
    pencil_blur: float = 6.0  # pencil: blur sigma of the dodge layer, px at 128 px
    canny_low: int = 40  # canny: hysteresis thresholds on 0..255 gray
    canny_high: int = 110
    clahe: float = 2.0  # local contrast equalisation before sketching (clip limit; 0 = off)
    binarize: bool = True  # Otsu-threshold the drawing to pure ink and paper
    min_speck: int = 10  # remove ink specks smaller than this many pixels at 128 px (0 = keep all)
    flow: float = 0.0  # xdog: smooth the edge response along the edges' flow, Gaussian sigma in px at 128 px
    # (continuous lines, less texture; 0 = off, plain XDoG)
    spots: float = 0.0  # fill the darkest `spots` percent of the face (its photo blurred by 2 px at 128 px) with ink,
    # masses of under 3x3 px at 128 px dropped (0 = off: lines only)
    min_ink: float = 0.0  # xdog: where the face's sketch would hold less ink than this share of its pixels, its
    # threshold is lowered until it holds this much (a pale, low-contrast face gets its fainter edges); 0 = off
    max_ink: float = 0.0  # xdog: where the sketch would hold more ink than this share, its threshold is raised until
    # it holds this much (the faintest texture, hair or stubble, left out); 0 = off
    detail: int = 0  # the face brought to this many pixels of detail first: shrunk to detail x detail by area and
    # enlarged back (bicubic), as a 48 px FER face is enlarged to the model's size; 0 = off: the face as it is
    relight: float = 0.0  # where one side of the face is lit and the other in shadow, divide out the light (the face
    # over its 12 px blur at 128 px, a self-quotient image), this much at most: 0 = off; the share used grows from
    # 0 where the two halves' light differs by 25% of its mean to `relight` at 50% (an evenly lit face is untouched)

    tone: int = 0  # where the middle of the face crop is darker than this gray level (its median, 0..255), a gamma
    # brings that median up to it before the sketch, so a dark face's eyes and mouth get the contrast a mid-toned
    # face has; 0 = off (a face as light as this, or lighter, is untouched)

    def __post_init__(self) -> None:
        if not 0 <= self.tone <= 254:
            raise EmosketchError(f"sketch tone {self.tone}: from 0 (off) to 254, a gray level")
        if self.method not in METHODS:
            raise EmosketchError(f"sketch method {self.method!r}: expected one of {', '.join(METHODS)}")
        if self.sigma <= 0 or self.k <= 1 or self.pencil_blur <= 0:
            raise EmosketchError("sketch: sigma and pencil_blur must be > 0 and k > 1")
        # values that draw every face as blank paper (or pure noise) with exit 0: one line instead
        if not 0 < self.tau <= 2:
            raise EmosketchError(f"sketch tau {self.tau}: from above 0 to 2 (0.98 draws the training sketches)")
        if not 0 < self.phi <= 10000:
            raise EmosketchError(f"sketch phi {self.phi}: from above 0 to 10000 (the soft step's sharpness)")
        if not -1 <= self.epsilon <= 1:
            raise EmosketchError(f"sketch epsilon {self.epsilon}: from -1 to 1 (the soft step's threshold)")
        if not 0 <= self.clahe <= 40 or self.min_speck < 0:
            raise EmosketchError(f"sketch clahe {self.clahe} (0 off, up to 40) and min_speck {self.min_speck} "
                                 "(pixels, >= 0)")
        if not 0 <= self.canny_low < self.canny_high <= 255:
            raise EmosketchError(f"sketch canny_low {self.canny_low} and canny_high {self.canny_high}: "
                                 "0 <= low < high <= 255")
        if not 0 <= self.flow <= 16:
            raise EmosketchError(f"sketch flow {self.flow}: from 0 (off) to 16 px")
        if not 0 <= self.spots <= 50:
            raise EmosketchError(f"sketch spots {self.spots}: from 0 (off) to 50 percent of the face")
        if not 0 <= self.min_ink <= 0.5:
            raise EmosketchError(f"sketch min_ink {self.min_ink}: from 0 (off) to 0.5 of the face")
        if not 0 <= self.max_ink <= 1 or (self.max_ink and self.max_ink < self.min_ink):
            raise EmosketchError(f"sketch max_ink {self.max_ink}: 0 (off), or from min_ink to 1")
        if self.detail != 0 and not 16 <= self.detail <= 1024:
            raise EmosketchError(f"sketch detail {self.detail}: 0 (off) or from 16 to 1024 px")
        if not 0 <= self.relight <= 1:
            raise EmosketchError(f"sketch relight {self.relight}: from 0 (off) to 1")

    def to_dict(self) -> dict:
        return asdict(self)


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REPLICATE)


def edge_tangents(gray: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The unit direction along the edges at every pixel (x and y parts, float32): the minor eigenvector
    of the structure tensor smoothed by a Gaussian of `sigma` px. Its sign is arbitrary."""
    g = gray.astype(np.float32) / 255.0
    ix = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    iy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    jxx, jxy, jyy = (_blur(a, sigma) for a in (ix * ix, ix * iy, iy * iy))
    theta = 0.5 * np.arctan2(2.0 * jxy, jxx - jyy)  # the gradient's direction (major eigenvector)
    return (-np.sin(theta)).astype(np.float32), np.cos(theta).astype(np.float32)


def smooth_along_flow(d: np.ndarray, tx: np.ndarray, ty: np.ndarray, sigma: float) -> np.ndarray:
    """`d` averaged along the flow (tx, ty) with Gaussian weights of `sigma` px: from every pixel, one
    step at a time both ways along the local edge direction (re-read at each step, kept pointing the same
    way), for 2 sigma px (a line integral convolution)."""
    if sigma <= 0:
        return d
    h, w = d.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    acc, total = d.astype(np.float32).copy(), 1.0
    for sign in (1.0, -1.0):
        px, py = xx.copy(), yy.copy()
        dx, dy = tx * sign, ty * sign
        for step in range(1, int(np.ceil(2 * sigma)) + 1):
            px += dx
            py += dy
            nx = cv2.remap(tx, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            ny = cv2.remap(ty, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            same = np.where(nx * dx + ny * dy < 0, -1.0, 1.0).astype(np.float32)
            dx, dy = nx * same, ny * same
            weight = float(np.exp(-step * step / (2.0 * sigma * sigma)))
            acc += weight * cv2.remap(d, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            total += weight
    return acc / total


def xdog(gray: np.ndarray, sigma: float = 1.2, k: float = 1.6, tau: float = 0.98, epsilon: float = -0.01,
         phi: float = 200.0, flow: float = 0.0, min_ink: float = 0.0, max_ink: float = 0.0) -> np.ndarray:
    """eXtended Difference of Gaussians: D = G_sigma*I - tau * G_{k sigma}*I on [0, 1] gray, then the
    soft step T(u) = 1 if u >= epsilon else 1 + tanh(phi (u - epsilon)). `sigma` is in pixels. With
    `flow` (px), D is first averaged along the edges' own direction (smooth_along_flow), read from the
    structure tensor smoothed over 2 sigma px (at least 1.5). With `min_ink`, a picture whose pixels
    below epsilon are fewer than that share gets epsilon at that share (its fainter edges drawn); with `max_ink`,
    one with more gets it likewise (its faintest texture left out)."""
    img = gray.astype(np.float32) / 255.0
    d = _blur(img, sigma) - tau * _blur(img, sigma * k)
    if flow > 0:
        d = smooth_along_flow(d, *edge_tangents(gray, max(1.5, 2.0 * sigma)), flow)
    if min_ink > 0 and (d < epsilon).mean() < min_ink:  # too little ink: the threshold at that share of pixels
        epsilon = float(np.quantile(d, min_ink))
    elif max_ink > 0 and (d < epsilon).mean() > max_ink:  # too much: likewise
        epsilon = float(np.quantile(d, max_ink))
    out = np.where(d >= epsilon, 1.0, 1.0 + np.tanh(phi * (d - epsilon)))
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def pencil(gray: np.ndarray, blur: float = 6.0) -> np.ndarray:
    """Colour-dodge of the image with its blurred negative: the classic pencil-sketch look."""
    inverted_blur = _blur(255 - gray, blur)
    return cv2.divide(gray, 255 - inverted_blur, scale=256)


def canny(gray: np.ndarray, low: int = 40, high: int = 110, scale: float = 1.0) -> np.ndarray:
    """Canny edges drawn as ink; edges are thickened at large sizes so line width follows the face."""
    edges = cv2.Canny(_blur(gray, 0.8 * scale), low, high)
    width = int(round(scale))
    if width > 1:
        edges = cv2.dilate(edges, np.ones((width, width), np.uint8))
    return 255 - edges


def remove_specks(sketch: np.ndarray, min_pixels: int) -> np.ndarray:
    """Turn ink components smaller than `min_pixels` (8-connected) into paper."""
    if min_pixels <= 1:
        return sketch
    ink = (sketch < 128).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    small = stats[:, cv2.CC_STAT_AREA] < min_pixels
    small[0] = False  # label 0 is the background
    if not small[1:].any():
        return sketch
    out = sketch.copy()
    out[small[labels]] = 255
    return out


def dark_masses(face: np.ndarray, percent: float) -> np.ndarray:
    """Where the face photo is darkest: its `percent` darkest pixels after a 2 px blur (at 128 px), with
    masses thinner than 3 px (at 128 px) opened away. bool, the face's shape."""
    scale = face.shape[0] / REFERENCE_SIZE
    smooth = _blur(face, 2.0 * scale)
    mass = (smooth <= np.percentile(smooth, percent)).astype(np.uint8)
    side = max(1, int(round(3 * scale)))
    return cv2.morphologyEx(mass, cv2.MORPH_OPEN, np.ones((side, side), np.uint8)) > 0


UNEVEN = (0.25, 0.5)  # the halves' light differing by this share of its mean: relight starts, and is full


def _middle(image: np.ndarray) -> np.ndarray:
    """The middle 60% of a face crop each way: the face itself, without the crop's edges."""
    h, w = image.shape
    return image[int(0.2 * h):int(0.8 * h), int(0.2 * w):int(0.8 * w)]


def uneven_light(face: np.ndarray) -> tuple[float, np.ndarray]:
    """How unevenly a face crop is lit (the difference of its left and right halves' light, over the middle 60%
    of the crop, as a share of the mean light there) and the light itself (the crop blurred by 12 px at 128 px)."""
    light = cv2.GaussianBlur(face.astype(np.float32) + 1, (0, 0), 12 * face.shape[0] / REFERENCE_SIZE)
    mid = _middle(light)
    half = mid.shape[1] // 2
    return float(abs(mid[:, :half].mean() - mid[:, half:].mean()) / mid.mean()), light


def even_light(face: np.ndarray, strength: float) -> np.ndarray:
    """The face with its light divided out (a self-quotient image at the face's own mean brightness), blended in
    as far as the face is unevenly lit (UNEVEN) and at most `strength`: a face half in shadow gets the features
    in the shadow drawn as those in the light are. (A hard shadow edge across flat background can leave a line.)"""
    uneven, light = uneven_light(face)
    share = strength * float(np.clip((uneven - UNEVEN[0]) / (UNEVEN[1] - UNEVEN[0]), 0, 1))
    if share <= 0:
        return face
    flat = (face.astype(np.float32) + 1) / light * light.mean()
    return np.clip((1 - share) * face + share * flat, 0, 255).astype(np.uint8)


def lift_tone(face: np.ndarray, target: int) -> np.ndarray:
    """The face with a gamma that brings the median of its middle 60% up to `target` where it is darker (a dark
    face, or one in dim light); a face as light or lighter is returned as it is."""
    median = float(np.median(_middle(face)))
    if median >= target:
        return face
    gamma = np.log(target / 255.0) / np.log(max(median, 1.0) / 255.0)
    table = np.clip(255.0 * (np.arange(256) / 255.0) ** gamma + 0.5, 0, 255).astype(np.uint8)
    return table[face]


def sketch(face: np.ndarray, cfg: SketchConfig = SketchConfig()) -> np.ndarray:
    """Draw a square uint8 gray face crop as a line sketch of the same size."""
    if face.ndim != 2 or face.dtype != np.uint8:
        raise ValueError(f"expected a uint8 gray image, got {face.dtype} {face.shape}")
    scale = face.shape[0] / REFERENCE_SIZE
    if 0 < cfg.detail < min(face.shape):
        small = cv2.resize(face, (cfg.detail, cfg.detail), interpolation=cv2.INTER_AREA)
        face = cv2.resize(small, (face.shape[1], face.shape[0]), interpolation=cv2.INTER_CUBIC)
    if cfg.relight > 0:
        face = even_light(face, cfg.relight)
    if cfg.tone > 0:
        face = lift_tone(face, cfg.tone)
    gray = face
    if cfg.clahe > 0:
        tiles = max(1, min(8, face.shape[0] // 16))
        gray = cv2.createCLAHE(clipLimit=cfg.clahe, tileGridSize=(tiles, tiles)).apply(face)
    if cfg.method == "xdog":
        out = xdog(gray, cfg.sigma * scale, cfg.k, cfg.tau, cfg.epsilon, cfg.phi, cfg.flow * scale, cfg.min_ink,
                   cfg.max_ink)
    elif cfg.method == "pencil":
        out = pencil(gray, cfg.pencil_blur * scale)
    else:
        out = canny(gray, cfg.canny_low, cfg.canny_high, scale)
    if cfg.binarize:
        if out.min() == out.max():
            out = np.full_like(out, 255)
        else:
            _, out = cv2.threshold(out, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    if cfg.spots > 0:
        out = np.where(dark_masses(face, cfg.spots), 0, out).astype(np.uint8)
    return remove_specks(out, int(round(cfg.min_speck * scale * scale)))
