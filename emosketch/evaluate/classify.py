"""Classify image files with a trained classifier: photos go through the same face crop and sketch as
the classifier's training data did; sketches are used as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets.decode import Skip, decode_file
from ..datasets.face import FaceConfig, crop_face
from ..datasets.photo import photo_configs
from ..datasets.sketch import SketchConfig, sketch
from ..errors import EmosketchError
from .classifier import load_classifier, pick_device, predict


def looks_like_sketch(gray: np.ndarray) -> bool:
    """Line art: most pixels are close to paper or ink, and most of it is paper. Sketches (also
    antialiased ones) score 0.83-1.0 on the first test, FER photos at most 0.41."""
    near_extremes = ((gray < 40) | (gray > 215)).mean()
    return near_extremes > 0.75 and (gray > 215).mean() > 0.5


def _configs(state: dict) -> tuple[FaceConfig, SketchConfig | None, int]:
    data = state.get("dataset", {})
    face_cfg, sketch_cfg = photo_configs(data)
    return face_cfg, sketch_cfg, int(data.get("size") or state["image_size"])


def prepare_image(gray: np.ndarray, state: dict, kind: str = "auto",
                  fallback: SketchConfig | None = None) -> tuple[np.ndarray, str]:
    """A decoded image -> what the classifier was trained on (sketch or face crop). Returns (image, how).
    `fallback` sketches photos for a model whose data has no sketch settings (synthetic drawings);
    without it such a model refuses photos."""
    face_cfg, sketch_cfg, size = _configs(state)
    defaults = sketch_cfg is None and fallback is not None
    sketch_cfg = sketch_cfg or fallback
    if kind == "auto":
        kind = "sketch" if looks_like_sketch(gray) else "photo"
    if kind == "sketch":
        if state["input"] == "face":
            raise EmosketchError("this classifier reads face photos, not sketches")
        side = min(gray.shape)
        y0, x0 = (gray.shape[0] - side) // 2, (gray.shape[1] - side) // 2
        return gray[y0:y0 + side, x0:x0 + side], "sketch as is"
    face, how = crop_face(gray, size, face_cfg)
    if state["input"] == "face":
        return face, f"face ({how})"
    if sketch_cfg is None:
        raise EmosketchError("this classifier was trained on synthetic drawings and has no sketch settings "
                             "for photos; give it line drawings, or train one on a dataset prepared from photos "
                             "(emosketch prepare, then emosketch classifier train)")
    if defaults:
        return sketch(face, sketch_cfg), f"photo -> sketch ({how}; prepare's default sketch settings, as the " \
                                         "model was trained on synthetic drawings that have none)"
    return sketch(face, sketch_cfg), f"photo -> sketch ({how})"


def classify_files(checkpoint: str | Path, paths: list[str | Path], kind: str = "auto", top: int = 3,
                   device: str = "auto") -> list[dict]:
    """One result per path: label, confidence and the top classes, or the reason it was skipped."""
    dev = pick_device(device)
    model, state = load_classifier(checkpoint, dev)
    classes = state["classes"]
    results, images, slots = [], [], []
    for path in paths:
        try:
            image, how = prepare_image(decode_file(path), state, kind)
        except (Skip, EmosketchError) as exc:  # one bad file is reported, never stops the batch
            results.append({"file": str(path), "error": str(exc)})
            continue
        results.append({"file": str(path), "input": how})
        images.append(image)
        slots.append(len(results) - 1)
    if images:
        size = state["image_size"]
        probs = np.concatenate([predict(model, np.asarray(img)[None], size, device=dev) for img in images])
        for slot, p in zip(slots, probs):
            order = np.argsort(-p)[:top]
            results[slot] |= {"label": classes[order[0]], "confidence": float(p[order[0]]),
                              "top": [{"label": classes[i], "p": float(p[i])} for i in order]}
    return results
