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


def classify_files(checkpoint: str | Path | list, paths: list[str | Path], kind: str = "auto", top: int = 3,
                   device: str = "auto") -> list[dict]:
    """One result per path: label, confidence and the top classes (with "model", the classifier that read
    it), or the reason it was skipped. `checkpoint` may be a list: each image goes to the first classifier that
    reads its kind (the shipped face classifier takes photos, the sketch classifier drawings)."""
    dev = pick_device(device)
    checkpoints = list(checkpoint) if isinstance(checkpoint, (list, tuple)) else [checkpoint]
    loaded = [load_classifier(c, dev) for c in checkpoints]
    results: list[dict] = []
    queued: list[list[tuple[int, np.ndarray]]] = [[] for _ in loaded]
    for path in paths:
        try:
            gray = decode_file(path)
        except Skip as exc:  # one bad file is reported, never stops the batch
            results.append({"file": str(path), "error": str(exc)})
            continue
        refused = None
        for i, (_, state) in enumerate(loaded):
            try:
                image, how = prepare_image(gray, state, kind)
            except (Skip, EmosketchError) as exc:
                refused = refused or exc  # the first classifier's reason, when none reads it
                continue
            results.append({"file": str(path), "input": how, "model": str(checkpoints[i])})
            queued[i].append((len(results) - 1, image))
            break
        else:
            results.append({"file": str(path), "error": str(refused)})
    for (model, state), items in zip(loaded, queued):
        classes, size = state["classes"], state["image_size"]
        for slot, image in items:
            p = predict(model, np.asarray(image)[None], size, device=dev)[0]
            order = np.argsort(-p)[:top]
            results[slot] |= {"label": classes[order[0]], "confidence": float(p[order[0]]),
                              "top": [{"label": classes[i], "p": float(p[i])} for i in order]}
    return results
