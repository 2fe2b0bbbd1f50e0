"""Face crop: the dataset's face box when it has one, else OpenCV's bundled Haar cascade; a margin,
a square crop, and a configurable policy for images where no face is found."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise EmosketchError(f"face detector {self.detector!r}: expected one of {', '.join(DETECTORS)}")
        if self.miss not in MISS_POLICIES:
            raise EmosketchError(f"face miss policy {self.miss!r}: expected one of {', '.join(MISS_POLICIES)}")
        if not 0 <= self.margin <= 2:
            raise EmosketchError(f"face margin {self.margin}: expected a fraction between 0 and 2")

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
