"""The models that ship with emosketch, so a fresh install redraws a real face with no training.

    from emosketch.models import default_classifier, default_generator
    default_generator()   # Path to the shipped generator checkpoint (a slim one: EMA G, F and E), 128 px
    generator_64()        # Path to the 64 px generator shipped before it
    default_classifier()  # Path to the shipped face classifier (what `emosketch serve` reads faces with)
    default_sketch_classifier()  # Path to the shipped sketch classifier (what `emosketch search` climbs)

How each was made is in docs/model-card.md; `emosketch slim` writes one from a run.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EmosketchError

HERE = Path(__file__).resolve().parent
GENERATOR = "generator-fer6-128.pt"  # FER+ six emotions, 128 px, warp + paint head, guided at 64 and 24 px
GENERATOR_64 = "generator-fer6-coarse-64.pt"  # the 64 px model shipped before it: 3.5x fewer FLOPs a frame
CLASSIFIER = "classifier-fer6-face-64.pt"  # FER+ six emotions, gray face crops at 64 px
SKETCH_CLASSIFIER = "classifier-fer6-sketch-64.pt"  # FER+ six emotions, sketches at 64 px (the guide's config)
DEMO_PHOTO = "astronaut.jpg"  # NASA's portrait of Eileen Collins (public domain), as scikit-image ships it, 256 px


def _shipped(name: str, what: str, option: str) -> Path:
    path = HERE / name
    if not path.exists():
        raise EmosketchError(f"{path}: the shipped {what} is missing from this install; "
                             f"reinstall emosketch or pass {option}")
    return path


def default_generator() -> Path:
    """The shipped generator checkpoint; every command's --checkpoint defaults to it."""
    return _shipped(GENERATOR, "generator", "--checkpoint")


def generator_64() -> Path:
    """The 64 px generator shipped before the 128 px one (the same recipe at 64 px): for slower
    hardware (85 frames/s on one core against 32), or a 64 px drawing."""
    return _shipped(GENERATOR_64, "64 px generator", "--checkpoint")


def default_classifier() -> Path:
    """The shipped face classifier (FER+ face crops, six emotions); serve's --classifier defaults to it."""
    return _shipped(CLASSIFIER, "face classifier", "--classifier")


def default_sketch_classifier() -> Path:
    """The shipped sketch classifier (configs/classifier-guide.yaml on FER+ train sketches): what
    `emosketch search` and the mirror's "make it smile" climb."""
    return _shipped(SKETCH_CLASSIFIER, "sketch classifier", "--classifier")


def demo_photo() -> Path:
    """A real face photo that is free to ship: NASA's public-domain portrait of astronaut Eileen
    Collins (the one scikit-image ships as `skimage.data.astronaut()`), at 256 px."""
    return HERE / DEMO_PHOTO
