"""From a photo to what a model was trained on: the face crop and sketch settings that a dataset
was prepared with (meta.json's `face_crop` and `sketch`, which checkpoints copy as `dataset`)."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ..errors import EmosketchError
from .face import FaceConfig, crop_face, detect
from .sketch import SketchConfig, sketch

# A photo's XDoG sketch holds at least this share of ink (SketchConfig.min_ink; the lower quartile of the FER+
# training sketches), unless the settings name their own: a pale or low-contrast photo's sketch otherwise keeps
# only its darkest features (the eyes), and people do not see a face in it (blind rounds 97-100).
PHOTO_MIN_INK = 0.14


def photo_configs(settings: dict) -> tuple[FaceConfig, SketchConfig | None]:
    """The face crop a photo gets (the data's framing, FaceConfig.for_photos) and the sketch config
    stored in dataset settings, with a floor on its ink (PHOTO_MIN_INK) where they set none; no sketch
    config when the data was drawn rather than sketched from photos (synthetic faces)."""
    if not isinstance(settings, dict) or not all(isinstance(settings.get(k) or {}, dict) for k in ("face_crop", "sketch")):
        raise EmosketchError("the checkpoint's dataset settings are damaged (face_crop and sketch must be mappings)")
    try:
        face_cfg = _face_config(settings.get("face_crop") or {}).for_photos()
        sk = settings.get("sketch") or {}
        sketch_cfg = SketchConfig(**{k: v for k, v in sk.items() if k in SketchConfig.__dataclass_fields__}) \
            if sk.get("method") in ("xdog", "pencil", "canny") else None
    except TypeError as exc:  # a setting of the wrong type: a damaged checkpoint
        raise EmosketchError(f"the checkpoint's dataset settings are damaged ({exc})") from None
    if sketch_cfg is not None and sketch_cfg.method == "xdog" and "min_ink" not in sk:
        sketch_cfg = replace(sketch_cfg, min_ink=PHOTO_MIN_INK)
    return face_cfg, sketch_cfg


def _face_config(face: dict) -> FaceConfig:
    """A FaceConfig from stored face-crop settings (keys it does not know, such as `used`, are skipped)."""
    return FaceConfig(**{k: v for k, v in face.items() if k in FaceConfig.__dataclass_fields__})


def with_photo_margin(settings: dict, margin: float) -> dict:
    """Dataset settings (a checkpoint's `dataset`) in which a photo's face box gets `margin` a side
    (FaceConfig.photo_margin), for a model whose data was framed closer or wider than its settings say."""
    face = {**(settings.get("face_crop") or {}), "photo_margin": margin}
    _face_config(face)  # the bounds, before anything is written
    return {**settings, "face_crop": face}


def photo_to_sketch(gray: np.ndarray, settings: dict, size: int,
                    box: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, str]:
    """A gray photo -> its face crop at size x size, sketched with the settings (prepare's defaults
    where they have none). A fixed `box` (x, y, w, h) keeps the crop steady over an animation.
    Returns (sketch, how the face was found)."""
    face_cfg, sketch_cfg = photo_configs(settings)
    face, how = crop_face(gray, size, face_cfg, box=box)
    return sketch(face, sketch_cfg or SketchConfig()), how


MIN_DRAWN = 16  # a drawing darker than 192 on fewer pixels is blank paper, at any size (a FER+ sketch shrunk to 48 px has 130 or more)
SMALL_DRAWING = 48  # a drawing's short side under which its antialiased edges may outnumber its paper and ink


def looks_like_sketch(gray: np.ndarray) -> bool:
    """Line art: most pixels are close to paper or ink, and most of it is paper. Sketches (also
    antialiased ones) score 0.83-1.0 on the first test, FER photos at most 0.41. A drawing under 48 px is
    mostly the soft edges of its strokes (a 24 px synthetic face: 0.46-0.77 near paper or ink), so there a
    picture whose mid-tones nearly all touch paper reads as line art too: in a drawing they are stroke edges
    (0.89-1.0 of them of 600 synthetic faces of 16-32 px), in a photo they are skin, which touches no paper
    (FER+ and sharp photos shrunk to 32 px: 3 of 600 pass, washed-out ones)."""
    paper, ink = gray > 215, gray < 40
    if (paper | ink).mean() > 0.75 and paper.mean() > 0.5:
        return True
    if min(gray.shape) >= SMALL_DRAWING or paper.mean() <= 0.3:
        return False
    mid = ~(paper | ink)
    touching = cv2.dilate(paper.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return (mid & touching).sum() > 0.6 * mid.sum()


def photo_face_in(gray: np.ndarray) -> bool:
    """Whether a picture that looks like line art as a whole holds a photographed face: a portrait cut out onto
    a white or transparent ground is mostly paper, but the face the detector finds in it is skin, with the
    mid-tones a drawing's face lacks."""
    scale = min(1.0, 512 / max(gray.shape))  # the detector on at most 512 px a side: fast, and faces stay large
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    box = detect(small, min_face=0.05)  # a head and shoulders set small on a large white page, too
    if box is None:
        return False
    x, y, w, h = box
    return not looks_like_sketch(small[y:y + h, x:x + w])


def drawn_whole(how: str) -> bool:
    """Whether a photo's model input, as model_input describes it (`how`), is the whole picture: no face was
    found in it (and people seldom see a face in its drawing on the panel)."""
    return "(whole" in how


def model_input(gray: np.ndarray, settings: dict, size: int, reads: str = "sketch", kind: str = "auto",
                fallback: SketchConfig | None = None) -> tuple[np.ndarray, str]:
    """model_input_and_face without the face crop."""
    image, how, _ = model_input_and_face(gray, settings, size, reads, kind, fallback)
    return image, how


def model_input_and_face(gray: np.ndarray, settings: dict, size: int, reads: str = "sketch", kind: str = "auto",
                         fallback: SketchConfig | None = None) -> tuple[np.ndarray, str, np.ndarray | None]:
    """A decoded gray image -> what a model reads: its face crop (`reads` "face") or the sketch of it
    ("sketch"), through the dataset `settings` it was trained on, at `size`. `kind` says whether the
    image is a photo or already a sketch (auto: guess). `fallback` sketches photos for a model whose
    data has no sketch settings (synthetic drawings); without it such a model refuses photos.
    Returns (image, how it was made, the face crop a photo's image was made from or None for a drawing). A
    picture of one flat tone holds no face or drawing: refused."""
    if gray.size and int(gray.min()) == int(gray.max()):  # a blank pack "verified", or rows of white PNGs, exit 0
        raise EmosketchError(f"the picture is one flat tone (every pixel {int(gray.min())}): there is no face or "
                             "drawing in it to redraw")
    face_cfg, sketch_cfg = photo_configs(settings)
    defaults = sketch_cfg is None and fallback is not None
    sketch_cfg = sketch_cfg or fallback
    guessed = kind == "auto"
    if guessed:
        kind = "sketch" if looks_like_sketch(gray) and not photo_face_in(gray) else "photo"
    if kind == "sketch":
        if reads == "face":
            raise EmosketchError("this classifier reads face photos, not sketches")
        strokes = int((gray < 192).sum())
        if strokes < MIN_DRAWN:  # a white picture with a speck drew a blank face and packed it
            raise EmosketchError(f"the picture is nearly blank ({strokes} dark pixel(s) of {gray.size:,}): there is "
                                 "no drawing in it to redraw")
        side = min(gray.shape)
        y0, x0 = (gray.shape[0] - side) // 2, (gray.shape[1] - side) // 2
        return gray[y0:y0 + side, x0:x0 + side], "sketch as is" + (" (read as a drawing)" if guessed else ""), None
    face, how = crop_face(gray, size, face_cfg)
    if reads == "face":
        return face, f"face ({how})", face
    if sketch_cfg is None:
        raise EmosketchError("this classifier was trained on synthetic drawings and has no sketch settings "
                             "for photos; give it line drawings" + (" (if this is one, read as a photo, pass --as "
                                                                    "sketch)" if guessed else "") +
                             ", or train one on a dataset prepared from photos (emosketch prepare, then emosketch "
                             "classifier train)")
    if defaults:
        return sketch(face, sketch_cfg), f"photo -> sketch ({how}; prepare's default sketch settings, as the " \
                                         "model was trained on synthetic drawings that have none)", face
    return sketch(face, sketch_cfg), f"photo -> sketch ({how})", face
