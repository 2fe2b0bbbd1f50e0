"""Face crop: the dataset's face box when it has one, else OpenCV's bundled Haar cascade; a margin,
a square crop, and a configurable policy for images where no face is found.

With `upright`, a face the cascade misses is looked for again in the image enlarged, set in a plain
border (a face that fills its picture, as in a tight crop) and turned by up to 30 degrees either way (a
tilted head); the crop is then turned so that the face stands upright."""

from __future__ import annotations

import threading
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
    upright: bool | None = None  # where the cascade finds no face, look again with the image in a border and
    # turned by up to 30 degrees, and crop the face turned upright (find_upright). None: photos get it
    # (for_photos), a dataset's own crops do not

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
        """The crop a photo gets when a model trained on this data reads it: framed with photo_margin where
        there is one, and upright unless the settings say otherwise."""
        margin = self.margin if self.photo_margin is None else self.photo_margin
        return replace(self, margin=margin, upright=True if self.upright is None else self.upright)

    def to_dict(self) -> dict:
        return asdict(self)


_CASCADES = threading.local()  # one cascade per thread: a CascadeClassifier is not safe to share across threads


def cascade() -> cv2.CascadeClassifier:
    """The frontal-face Haar cascade shipped inside opencv-python(-headless) 4.x, loaded once per thread:
    OpenCV's detectMultiScale keeps scratch state in the classifier, so two threads sharing one fail (the
    mirror's uploads run in a thread pool)."""
    found = getattr(_CASCADES, "cascade", None)
    if found is None:
        path = getattr(getattr(cv2, "data", None), "haarcascades", None)
        if path is None or not hasattr(cv2, "CascadeClassifier"):
            raise EmosketchError("this OpenCV has no Haar cascades (OpenCV 5 wheels dropped them): "
                                 "install opencv-python-headless>=4.8,<5")
        found = cv2.CascadeClassifier(path + "haarcascade_frontalface_default.xml")
        if found.empty():
            raise EmosketchError(f"cannot load {path}haarcascade_frontalface_default.xml")
        _CASCADES.cascade = found
    return found


def detect_all(gray: np.ndarray, min_face: float = 0.2) -> list[tuple[int, int, int, int]]:
    """Every frontal face (x, y, w, h), the largest first."""
    side = max(8, int(min(gray.shape) * min_face))
    faces = cascade().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=4, minSize=(side, side))
    return [tuple(int(v) for v in f) for f in sorted(faces, key=lambda f: -int(f[2]) * int(f[3]))]


def detect(gray: np.ndarray, min_face: float = 0.2) -> tuple[int, int, int, int] | None:
    """The largest frontal face (x, y, w, h), or None."""
    faces = detect_all(gray, min_face)
    return faces[0] if faces else None


OTHER_FACE = 0.5  # a face at least this share of the largest's area is another person, not a stray box
MANY = ", the largest of "  # how crop_face says it drew one face of several: "haar, the largest of 2 faces"


def people_in(how: str) -> int:
    """How many people's faces a crop's `how` says were found (1 unless it names several)."""
    return int(how.split(MANY)[1].split()[0]) if MANY in how else 1


def found_by(how: str) -> str:
    """A crop's `how` without the count of faces: what found the face ("haar")."""
    return how.split(MANY)[0]


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


TURNS = (0, -10, 10, -20, 20, -30, 30)  # degrees, counter-clockwise: the turns find_upright tries, in order
SEARCH_SIDE = 192  # find_upright looks at an image with its short side at this many pixels
MAX_ASPECT = 3  # find_upright skips a picture more than this many times as long as it is wide (or wide as long)


UPRIGHT_MIN_FACE = 0.6  # find_upright's smallest face, a share of the image's short side: it looks for a face
# that fills most of its picture (a close-up or a face crop), where a smaller box is mostly a part of that face
# (an eye and a brow) that the cascade takes for one; round 69 cropped three such boxes from FER+ faces


def find_upright(gray: np.ndarray, min_face: float = UPRIGHT_MIN_FACE,
                 turns: tuple[int, ...] = TURNS) -> tuple[float, float, float, float] | None:
    """A face the plain cascade misses: the image (its short side scaled to SEARCH_SIDE px) is set in a
    border of its median gray half its short side wide, so that a face filling the whole picture can be
    found, and turned by each angle of `turns` in order; only faces of at least `min_face` of the image's
    short side count, and none in a picture more than MAX_ASPECT times as long as it is wide. A face found
    with no turn wins at once; else the angle is the mean of the angles within 10 degrees of the one the
    cascade is surest of, weighted by how sure it is at each, and at least two such angles must find it (a
    turned face found at one angle alone was as often a worse crop as a better one in rounds 71-74).
    Returns the face's centre x, y and side in `gray`'s pixels and the angle (degrees, counter-clockwise)
    that turns it upright; None when no face is found at any angle."""
    h, w = gray.shape
    if max(h, w) > MAX_ASPECT * min(h, w):
        return None  # a strip: no face fills most of it, and its enlarged search image would be huge
    scale = SEARCH_SIDE / min(h, w)
    big = cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))),
                     interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    pad = min(big.shape) // 2
    framed = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(np.median(big)))
    centre = (framed.shape[1] / 2, framed.shape[0] / 2)
    side = max(8, int(min(big.shape) * min_face))
    found = []  # (how sure, angle, the face's centre and side in `gray`'s pixels)
    for angle in turns:
        turn = cv2.getRotationMatrix2D(centre, angle, 1.0)
        turned = cv2.warpAffine(framed, turn, (framed.shape[1], framed.shape[0]), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE) if angle else framed
        faces, _, weights = cascade().detectMultiScale3(turned, scaleFactor=1.1, minNeighbors=4,
                                                        minSize=(side, side), outputRejectLevels=True)
        if len(faces) == 0:
            continue
        weights = np.ravel(weights)
        i = int(np.argmax(weights))
        x, y, fw, fh = faces[i]
        cx, cy = cv2.invertAffineTransform(turn) @ np.array([x + fw / 2, y + fh / 2, 1.0])  # back to unturned
        found.append((float(weights[i]), angle, ((cx - pad) / scale, (cy - pad) / scale, max(fw, fh) / scale)))
        if angle == 0:
            break
    if not found:
        return None
    _, best, (cx, cy, fside) = max(found, key=lambda f: f[0])
    near = [(max(f[0], 1e-3), f[1]) for f in found if abs(f[1] - best) <= 10]
    if best != 0 and len(near) < 2:
        return None  # a turned face found at one angle alone: too unsure of the face, and of its angle
    angle = sum(wt * a for wt, a in near) / sum(wt for wt, _ in near)
    return float(cx), float(cy), float(fside), float(angle)


def crop_turned(gray: np.ndarray, size: int, cx: float, cy: float, side: float, angle: float) -> np.ndarray:
    """The side x side square centred on (cx, cy), turned by `angle` degrees (counter-clockwise) about its
    centre, at size x size. Where it reaches beyond the image, the gap is filled smoothly from the pixels
    around it (inpainted), so that a sketch of it draws no edge along the image's border."""
    shrink = int(side / size / 1.5)  # a large photo is first shrunk by area (warpAffine only interpolates)
    if shrink >= 2:
        gray = cv2.resize(gray, (max(1, gray.shape[1] // shrink), max(1, gray.shape[0] // shrink)),
                          interpolation=cv2.INTER_AREA)
        cx, cy, side = cx / shrink, cy / shrink, side / shrink
    m = cv2.getRotationMatrix2D((cx, cy), angle, size / side)
    m[:, 2] += (size / 2 - cx, size / 2 - cy)
    flags = cv2.INTER_LINEAR if side >= size else cv2.INTER_CUBIC
    face = cv2.warpAffine(gray, m, (size, size), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.full(gray.shape, 255, np.uint8), m, (size, size), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    gap = cv2.dilate((inside == 0).astype(np.uint8), np.ones((3, 3), np.uint8))
    return cv2.inpaint(face, gap, 3, cv2.INPAINT_TELEA) if gap.any() else face


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
    """Crop the face of `gray` to a size x size square. Returns (face, how): how is 'box', 'haar' ('haar, the
    largest of N faces' where N people's faces are found),
    'haar, upright' (cfg.upright: found by find_upright; with the angle it was turned by) or 'whole'.
    Raises Skip('no face found') when the detector misses and the policy is 'skip'."""
    face, how, _ = crop_face_at(gray, size, cfg, box)
    return face, how


def crop_face_at(gray: np.ndarray, size: int, cfg: FaceConfig = FaceConfig(),
                 box: tuple[float, float, float, float] | None = None,
                 ) -> tuple[np.ndarray, str, tuple[int, int, int, int]]:
    """crop_face, also returning the square it cropped as (x, y, side, side) in `gray`'s pixels (a face
    cropped turned: the square of the same side and centre, unturned)."""
    h, w = gray.shape
    how = "whole"
    if box is not None and cfg.detector == "auto":
        how = "box"
    elif cfg.detector in ("auto", "haar"):
        faces = detect_all(gray, cfg.min_face)
        box = faces[0] if faces else None
        if box is not None:
            people = 1 + sum(w * h >= OTHER_FACE * box[2] * box[3] for _, _, w, h in faces[1:])
            how = "haar" if people == 1 else f"haar{MANY}{people} faces"
        else:
            found = find_upright(gray) if cfg.upright else None
            if found is not None and found[3] == 0:  # found upright, in the border: cropped as any face
                cx, cy, side, _ = found
                box, how = (cx - side / 2, cy - side / 2, side, side), "haar, upright"
            elif found is not None:  # found turned: cropped turned upright, no wider than the picture
                cx, cy, side, angle = found
                side = min(side * (1 + 2 * cfg.margin), h, w)
                face = crop_turned(gray, size, cx, cy, side, angle)
                x0, y0, s = int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side))
                return face, f"haar, upright (turned {angle:+.0f} deg)", (x0, y0, s, s)
            elif cfg.miss == "skip":
                raise Skip("no face found")
    if how == "whole":
        box = (0, 0, w, h)
    x0, y0, side = square_around(box, cfg.margin if how != "whole" else 0.0, (h, w))
    crop = gray[y0:y0 + side, x0:x0 + side]
    interp = cv2.INTER_AREA if side >= size else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp), how, (x0, y0, side, side)
