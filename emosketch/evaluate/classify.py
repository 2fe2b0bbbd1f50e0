"""Classify image files with a trained classifier: photos go through the same face crop and sketch as
the classifier's training data did; sketches are used as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..datasets.decode import Skip, decode_file
from ..datasets.photo import looks_like_sketch, model_input  # noqa: F401 (looks_like_sketch: the old home)
from ..datasets.sketch import SketchConfig
from ..errors import EmosketchError
from .classifier import load_classifier, pick_device, predict


def prepare_image(gray: np.ndarray, state: dict, kind: str = "auto",
                  fallback: SketchConfig | None = None) -> tuple[np.ndarray, str]:
    """A decoded image -> what the classifier `state` was trained on (datasets.photo.model_input)."""
    data = state.get("dataset", {})
    return model_input(gray, data, int(data.get("size") or state["image_size"]), state["input"], kind, fallback)


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
