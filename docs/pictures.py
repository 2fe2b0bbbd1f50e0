"""Remake the README's pictures of the shipped generator (run from the repository root):

    python docs/pictures.py                     # needs data/fer6-64 (see `make model`) for the grid

- docs/realfaces-grid.png: FER+ valid faces (two of each class, the first ones of the split) as
  sketches, then redrawn in each emotion; generated sketches only, no photo. Skipped with a note when
  data/fer6-64 is absent.
- docs/realfaces-photo.png: the demo photo's sketch, then the photo redrawn in each emotion.
- docs/panel-framing.png: the demo photo redrawn in five emotions on a 128x64 panel, one row per
  layout and dither: fit; face forehead-chin; face brows-chin with the old 1 px strokes and fills;
  face brows-chin with the default (OLED_DITHER: 2 px strokes only).
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emosketch.datasets.dataset import load  # noqa: E402
from emosketch.export import Dither, Layout  # noqa: E402
from emosketch.export.dither import OLED_DITHER, to_bits  # noqa: E402
from emosketch.export.layout import OLED, apply_layout, with_face  # noqa: E402
from emosketch.interpolate.animate import open_renderer  # noqa: E402
from emosketch.interpolate.timeline import pose  # noqa: E402
from emosketch.models import default_generator, demo_photo  # noqa: E402

DATA = ROOT / "data" / "fer6-64"


def row(r, face, scale: int) -> np.ndarray:
    codes = r.bank.blend(np.stack([pose(r.classes, e) for e in r.classes]), r.bank.codes(0, 1.0))
    cells = [face.sketch] + list(r.render(face, codes))
    big = [cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for c in cells]
    return np.concatenate(big, axis=1)


def panel_framing(r, face, scale: int = 2, gap: int = 4) -> np.ndarray:
    """Rows of 128x64 panels (lit = white), the emotions across, gray gaps between."""
    emotions = ["neutral", "happy", "sad", "surprise", "anger"]
    codes = r.bank.blend(np.stack([pose(r.classes, e) for e in emotions]), r.bank.codes(0, 1.0))
    frames = r.render(face, codes)
    ways = [(Layout(128, 64, "fit"), Dither("lineart")),
            (Layout(128, 64, "face", framing="forehead-chin"), OLED_DITHER),
            (OLED, Dither("lineart", thin=True)),
            (OLED, OLED_DITHER)]
    rows = []
    for layout, dither in ways:
        lay = with_face(layout, face.sketch[None])
        cells = [np.where(to_bits(apply_layout(f[None], lay), dither)[0], 255, 0).astype(np.uint8) for f in frames]
        cells = [np.pad(cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST), gap // 2,
                        constant_values=96) for c in cells]
        rows.append(np.concatenate(cells, axis=1))
    return np.pad(np.concatenate(rows, axis=0), gap // 2, constant_values=96)


def main() -> None:
    r = open_renderer(default_generator(), "cpu")
    face = r.source(demo_photo())
    photo = row(r, face, 4)
    cv2.imwrite(str(ROOT / "docs" / "realfaces-photo.png"), photo)
    print("wrote docs/realfaces-photo.png")
    cv2.imwrite(str(ROOT / "docs" / "panel-framing.png"), panel_framing(r, face))
    print("wrote docs/panel-framing.png")
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
