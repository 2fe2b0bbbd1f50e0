"""Remake the README's pictures of the shipped generator (run from the repository root):

    python docs/pictures.py                     # needs data/fer6-64 (see `make model`) for the grid

- docs/realfaces-grid.png: FER+ valid faces (two of each class, the first ones of the split) as
  sketches, then redrawn in each emotion; generated sketches only, no photo. Skipped with a note when
  data/fer6-64 is absent.
- docs/realfaces-photo.png: the demo photo's sketch, then the photo redrawn in each emotion.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emosketch.datasets.dataset import load  # noqa: E402
from emosketch.interpolate.animate import open_renderer  # noqa: E402
from emosketch.interpolate.timeline import pose  # noqa: E402
from emosketch.models import default_generator, demo_photo  # noqa: E402

DATA = ROOT / "data" / "fer6-64"


def row(r, face, scale: int) -> np.ndarray:
    codes = r.bank.blend(np.stack([pose(r.classes, e) for e in r.classes]), r.bank.codes(0, 1.0))
    cells = [face.sketch] + list(r.render(face, codes))
    big = [cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for c in cells]
    return np.concatenate(big, axis=1)


def main() -> None:
    r = open_renderer(default_generator(), "cpu")
    photo = row(r, r.source(demo_photo()), 4)
    cv2.imwrite(str(ROOT / "docs" / "realfaces-photo.png"), photo)
    print("wrote docs/realfaces-photo.png")
    if not (DATA / "meta.json").exists():
        print(f"{DATA} is absent: the grid is not remade (see `make model` for the prepare command)")
        return
    ds = load(DATA)
    val = np.flatnonzero(ds.split == 1)
    rows = []
    for ci in range(len(ds.classes)):
        for i in val[ds.labels[val] == ci][:2]:
            rows.append(row(r, r.source_from_gray(np.asarray(ds.images[i]), kind="sketch"), 2))
    cv2.imwrite(str(ROOT / "docs" / "realfaces-grid.png"), np.concatenate(rows, axis=0))
    print("wrote docs/realfaces-grid.png")


if __name__ == "__main__":
    main()
