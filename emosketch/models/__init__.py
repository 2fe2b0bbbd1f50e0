"""The models that ship with emosketch, so a fresh install redraws a real face with no training.

    from emosketch.models import default_generator
    default_generator()   # Path to the shipped generator checkpoint (a slim one: EMA G, F and E)

How each was made is in README.md ("The shipped model"); `emosketch slim` writes one from a run.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import EmosketchError

HERE = Path(__file__).resolve().parent
GENERATOR = "generator-fer6-warp-64.pt"  # FER+ six emotions, 64 px, warp + paint head
DEMO_PHOTO = "astronaut.jpg"  # NASA's portrait of Eileen Collins (public domain), as scikit-image ships it, 256 px


def default_generator() -> Path:
    """The shipped generator checkpoint; every command's --checkpoint defaults to it."""
    path = HERE / GENERATOR
    if not path.exists():
        raise EmosketchError(f"{path}: the shipped generator is missing from this install; "
                             "reinstall emosketch or pass --checkpoint")
    return path


def demo_photo() -> Path:
    """A real face photo that is free to ship: NASA's public-domain portrait of astronaut Eileen
    Collins (the one scikit-image ships as `skimage.data.astronaut()`), at 256 px."""
    return HERE / DEMO_PHOTO
