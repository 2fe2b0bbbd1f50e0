"""Face crop: the dataset's face box when it has one, else OpenCV's bundled Haar cascade; a margin,
a square crop, and a configurable policy for images where no face is found."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import cv2
import numpy as np

from ..errors import EmosketchError
from .decode import Skip

DETECTORS = ("auto", "haar", "none")  # auto: the dataset's box if any, else haar
MISS_POLICIES = ("keep", "skip")  # keep: use the whole image (centre square); skip: drop the item


@dataclass(frozen=True)
class FaceConfig:
    detector: str = "auto"
    margin: float = 0.2  # added around a face box, as a fraction of its size on each side
    miss: str = "keep"  # what to do when the detector finds no face
    min_face: float = 0.2  # smallest face the detector looks for, as a fraction of the image's short side
    photo_margin: float | None = None  # the margin a photo's Haar box gets when a model trained on this data
    # redraws it, where that differs from `margin`: data cropped by the dataset's own boxes (FER+'s whole
    # 48 px images) frames its faces closer than a Haar box plus `margin` would, so prepare measures it
    # (framing_margin) and a photo is framed as the training faces were. None: `margin`

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise EmosketchError(f"face detector {self.detector!r}: expected one of {', '.join(DETECTORS)}")
        if self.miss not in MISS_POLICIES:
            raise EmosketchError(f"face miss policy {self.miss!r}: expected one of {', '.join(MISS_POLICIES)}")
        if not 0 <= self.margin <= 2:
            raise EmosketchError(f"face margin {self.margin}: expected a fraction between 0 and 2")
        if self.photo_margin is not None and not 0 <= self.photo_margin <= 2:
            raise EmosketchError(f"face photo_margin {self.photo_margin}: expected a fraction between 0 and 2")

    def for_photos(self) -> FaceConfig:
        """The crop a photo gets when a model trained on this data reads it."""
        return self if self.photo_margin is None else replace(self, margin=self.photo_margin)

    def to_dict(self) -> dict:
        return asdict(self)


_CASCADE: cv2.CascadeClassifier | None = None


def cascade() -> cv2.CascadeClassifier:
    """The frontal-face Haar cascade shipped inside opencv-python(-headless) 4.x (loaded once per process)."""
    global _CASCADE
    if _CASCADE is None:
        path = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if path is None or not hasattr(cv2, "CascadeClassifier"):
            raise EmosketchError("this OpenCV has no Haar cascades (OpenCV 5 wheels dropped them): "
                                 "install opencv-python-headless>=4.8,<5")
        _CASCADE = cv2.CascadeClassifier(path + "haarcascade_frontalface_default.xml")
        if _CASCADE.empty():
            raise EmosketchError(f"cannot load {path}haarcascade_frontalface_default.xml")
    return _CASCADE


def detect(gray: np.ndarray, min_face: float = 0.2) -> tuple[int, int, int, int] | None:
    """The largest frontal face (x, y, w, h), or None."""
    side = max(8, int(min(gray.shape) * min_face))
    faces = cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(side, side))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
    return int(x), int(y), int(w), int(h)


def framing_margin(faces: np.ndarray, min_face: float = 0.2, sample: int = 400,
                   min_found: int = 20) -> tuple[float | None, int, int]:
    """The margin that frames a photo's Haar box as these face crops frame their faces: the Haar
    cascade is run on up to `sample` of the crops (evenly spaced, enlarged to 192 px and set in a
    plain border half their side wide, so that a face filling its crop is found as it would be in a
    photo), and a box that is a share b of its crop's side means a margin of (1/b - 1)/2 a side (the
    median). Returns (margin rounded to 0.01, or None when fewer than `min_found` faces were found;
    found; tried)."""
    n = len(faces)
    picks = np.unique(np.linspace(0, n - 1, min(sample, n)).round().astype(int)) if n else []
    shares = []
    for i in picks:
        face = cv2.resize(np.asarray(faces[i]), (192, 192), interpolation=cv2.INTER_CUBIC)
        pad = 96
        big = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(np.median(face)))
        box = detect(big, min_face * 192 / 384)
        if box is not None:
            shares.append(max(box[2], box[3]) / 192)
    if len(shares) < min_found:
        return None, len(shares), len(picks)
    margin = min(2.0, max(0.0, (1 / float(np.median(shares)) - 1) / 2))
    return round(margin, 2), len(shares), len(picks)


def square_around(box: tuple[float, float, float, float], margin: float, shape: tuple[int, int]) -> tuple[int, int, int]:
    """(x0, y0, side) of a square that holds `box` plus margin, shrunk and shifted to stay inside the image."""
    x, y, w, h = box
    height, width = shape
    side = int(round(min(max(w, h) * (1 + 2 * margin), width, height)))
    side = max(1, side)
    cx, cy = x + w / 2, y + h / 2
    x0 = int(round(min(max(cx - side / 2, 0), width - side)))
    y0 = int(round(min(max(cy - side / 2, 0), height - side)))
    return x0, y0, side


def crop_face(gray: np.ndarray, size: int, cfg: FaceConfig = FaceConfig(),
              box: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, str]:
    """Crop the face of `gray` to a size x size square. Returns (face, how): how is 'box', 'haar' or
    'whole'. Raises Skip('no face found') when the detector misses and the policy is 'skip'."""
    face, how, _ = crop_face_at(gray, size, cfg, box)
    return face, how


def crop_face_at(gray: np.ndarray, size: int, cfg: FaceConfig = FaceConfig(),
                 box: tuple[float, float, float, float] | None = None,
                 ) -> tuple[np.ndarray, str, tuple[int, int, int, int]]:
    """crop_face, also returning the square it cropped as (x, y, side, side) in `gray`'s pixels."""
    h, w = gray.shape
    how = "whole"
    if box is not None and cfg.detector == "auto":
        how = "box"
    elif cfg.detector in ("auto", "haar"):
        box = detect(gray, cfg.min_face)
        if box is not None:
            how = "haar"
        elif cfg.miss == "skip":
            raise Skip("no face found")
    if how == "whole":
        box = (0, 0, w, h)
    x0, y0, side = square_around(box, cfg.margin if how != "whole" else 0.0, (h, w))
    crop = gray[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side >= size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp), how, (x0, y0, side, side)
