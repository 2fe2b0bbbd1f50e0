"""From a photo to what a model was trained on: the face crop and sketch settings that a dataset
was prepared with (meta.json's `face_crop` and `sketch`, which checkpoints copy as `dataset`)."""

from __future__ import annotations

import numpy as np

from .face import FaceConfig, crop_face
from .sketch import SketchConfig, sketch


def photo_configs(settings: dict) -> tuple[FaceConfig, SketchConfig | None]:
    """The face crop and sketch configs stored in dataset settings; no sketch config when the data
    was drawn rather than sketched from photos (synthetic faces)."""
    face = settings.get("face_crop") or {}
    face_cfg = FaceConfig(**{k: v for k, v in face.items() if k in FaceConfig.__dataclass_fields__})
    sk = settings.get("sketch") or {}
    sketch_cfg = SketchConfig(**{k: v for k, v in sk.items() if k in SketchConfig.__dataclass_fields__}) \
        if sk.get("method") in ("xdog", "pencil", "canny") else None
    return face_cfg, sketch_cfg


def photo_to_sketch(gray: np.ndarray, settings: dict, size: int,
                    box: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, str]:
    """A gray photo -> its face crop at size x size, sketched with the settings (prepare's defaults
    where they have none). A fixed `box` (x, y, w, h) keeps the crop steady over an animation.
    Returns (sketch, how the face was found)."""
    face_cfg, sketch_cfg = photo_configs(settings)
    face, how = crop_face(gray, size, face_cfg, box=box)
    return sketch(face, sketch_cfg or SketchConfig()), how
