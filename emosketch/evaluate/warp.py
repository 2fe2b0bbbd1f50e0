"""The warp baseline: what moving a sketch's strokes along each emotion's average motion scores,
with no training at all. Every generator is judged beside it.

Each emotion's motion is the dense optical flow (Farnebäck) from the mean face of the train split's
neutral faces to the mean face of that emotion's, both at the dataset's size. Faces in a face
dataset are cropped to their box, so the means are aligned faces and their flow is where the
features move on average: mouth corners up for happy, the jaw down for surprise. A face redrawn as
emotion e is its sketch warped by `exaggerate` times e's flow (the average motion is small: 1 to 3
pixels at 64 px). "To neutral" is no motion, so it scores what the input does.

This stands in for landmark motion (per-class mean landmark offsets and a thin-plate spline), which
needs a face-mesh model; the offline one ships in mediapipe 0.10, which pins numpy<2 and OpenCV's
contrib build. The flow of the aligned means needs only OpenCV.

    tr = WarpTranslator.fit(load("data/fer6-64"))
    happy = tr.translate(sketches, np.full(len(sketches), tr.classes.index("happy")), seeds)
"""

from __future__ import annotations

import cv2
import numpy as np

from ..datasets.dataset import SketchDataset
from ..errors import EmosketchError

NEUTRAL = "neutral"


def mean_faces(ds: SketchDataset, split: str = "train", chunk: int = 4096) -> np.ndarray:
    """float32 [classes, S, S]: the mean gray face crop (the mean sketch where the dataset keeps no
    faces) of each class in the split."""
    source = ds.faces if ds.faces is not None else ds.images
    idx = ds.indices(split)
    labels = ds.labels[idx]
    size = source.shape[1]
    sums = np.zeros((len(ds.classes), size, size), np.float64)
    counts = np.zeros(len(ds.classes), np.int64)
    for s in range(0, len(idx), chunk):
        rows, lab = idx[s:s + chunk], labels[s:s + chunk]
        batch = np.asarray(source[rows], np.float64)
        np.add.at(sums, lab, batch)
        counts += np.bincount(lab, minlength=len(ds.classes))
    if (counts == 0).any():
        missing = [c for c, n in zip(ds.classes, counts) if n == 0]
        raise EmosketchError(f"{ds.path}: no {split} faces of {', '.join(missing)} to average")
    return (sums / counts[:, None, None]).astype(np.float32)


def emotion_flows(means: np.ndarray, neutral: int) -> np.ndarray:
    """float32 [classes, S, S, 2]: where each pixel of the neutral mean face moves to in each class's
    mean face (dx, dy in pixels); zero for neutral itself."""
    ref = np.clip(means[neutral], 0, 255).astype(np.uint8)
    side = means.shape[1]
    win = max(5, side // 4) | 1  # about an eye's width and more
    flows = np.zeros((*means.shape, 2), np.float32)
    for c, m in enumerate(means):
        if c != neutral:
            flow = cv2.calcOpticalFlowFarneback(ref, np.clip(m, 0, 255).astype(np.uint8), None, 0.5, 3, win,
                                                10, 5, 1.1, cv2.OPTFLOW_FARNEBACK_GAUSSIAN)
            # smooth at the scale of a feature: exaggerated, the flow's pixel noise would shred strokes
            flows[c] = cv2.GaussianBlur(flow, (0, 0), side / 16)
    return flows


def warp(image: np.ndarray, motion: np.ndarray) -> np.ndarray:
    """float32 [S, S] in [0, 1]: the uint8 sketch with each feature moved by motion [S, S, 2] (pixels;
    the backward map `image(p - motion(p))`, which is close to the forward move for smooth fields)."""
    side = image.shape[0]
    if motion.shape[0] != side:  # the flows were fitted at another size: scale the field with the image
        scale = side / motion.shape[0]
        motion = cv2.resize(motion, (side, side), interpolation=cv2.INTER_LINEAR) * scale
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    out = cv2.remap(np.asarray(image, np.float32), xs - motion[..., 0], ys - motion[..., 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out / 255.0


class WarpTranslator:
    """The input sketch warped along the target emotion's mean motion (see the module docstring)."""

    def __init__(self, classes: list[str], flows: np.ndarray, exaggerate: float = 3.0):
        if NEUTRAL not in classes:
            raise EmosketchError(f"the warp baseline moves faces away from neutral; classes {classes} have none")
        if flows.shape[0] != len(classes):
            raise EmosketchError(f"{flows.shape[0]} flows for {len(classes)} classes")
        self.classes, self.flows, self.exaggerate = list(classes), flows.astype(np.float32), float(exaggerate)

    @classmethod
    def fit(cls, ds: SketchDataset, exaggerate: float = 3.0, split: str = "train") -> WarpTranslator:
        if NEUTRAL not in ds.classes:
            raise EmosketchError(f"{ds.path}: the warp baseline needs a neutral class (classes {ds.classes})")
        return cls(ds.classes, emotion_flows(mean_faces(ds, split), ds.classes.index(NEUTRAL)), exaggerate)

    def translate(self, images, targets, seeds, rows=None):
        return np.stack([warp(img, self.exaggerate * self.flows[t]) for img, t in zip(np.asarray(images), targets)])

    def along_path(self, images, start, end, t, seeds, rows=None):
        out = []
        for img, a, b, u in zip(np.asarray(images), start, end, t):
            motion = (1 - float(u)) * self.flows[a] + float(u) * self.flows[b]
            out.append(warp(img, self.exaggerate * motion))
        return np.stack(out)
