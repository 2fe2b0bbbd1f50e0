"""Remake the README's pictures of the shipped generator (run from the repository root):

    python docs/pictures.py                     # needs data/fer6-128 (see `make gpu-data`) for the grid

- docs/realfaces-grid.png: FER+ valid faces (two of each class, the first ones of the split) as
  sketches, then redrawn in each emotion (inked, as `emosketch sample` writes them); generated
  sketches only, no photo. Skipped with a note when data/fer6-SIZE (the generator's size) is absent.
- docs/realfaces-photo.png: the demo photo's sketch, then the photo redrawn in each emotion.
- docs/panel-framing.png: the demo photo redrawn in six emotions on a 128x64 panel, every panel pixel a
  2x2 square: the default drawing (export.panel.PANEL: the whole face 1:1, dark strokes on a lit
  panel); the same with the strokes lit (--polarity ink); the face band of before (FACE_BAND).
- docs/panel-faces.png: the default drawing of three FER+ valid faces (the generator's drawings, no
  photo) in six emotions, at 2x2 per panel pixel. Skipped with a note when ../shared/data/ferplus is absent.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emosketch.datasets.dataset import load  # noqa: E402
from emosketch.export.panel import FACE_BAND, PANEL, Panel, draw, framed  # noqa: E402
from emosketch.gan.sample import ink  # noqa: E402
from emosketch.interpolate.animate import open_renderer  # noqa: E402
from emosketch.interpolate.timeline import pose  # noqa: E402
from emosketch.models import default_generator, demo_photo  # noqa: E402

DATA = ROOT / "data"  # fer6-SIZE inside, at the generator's size
FERPLUS_VALID = ROOT.parent / "shared" / "data" / "ferplus" / "FER2013Valid"


def row(r, face, scale: int) -> np.ndarray:
    codes = r.bank.blend(np.stack([pose(r.classes, e) for e in r.classes]), r.bank.codes(0, 1.0))
    cells = [face.sketch] + [(ink(f / 255.0) * 255).astype(np.uint8) for f in r.render(face, codes)]
    scale = max(1, scale * 64 // r.size)  # a 128 px model's cells as large as a 64 px one's
    big = [cv2.resize(c, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for c in cells]
    return np.concatenate(big, axis=1)


def panel_rows(r, face, drawings: list[Panel], scale: int = 2, gap: int = 4) -> np.ndarray:
    """Rows of 128x64 panels (lit = white), one per drawing, the six emotions across, each panel pixel
    a scale x scale square, gray gaps between."""
    codes = r.bank.blend(np.stack([pose(r.classes, e) for e in r.classes]), r.bank.codes(0, 1.0))
    frames = r.render(face, codes)
    rows = []
    for drawing in drawings:
        bits = draw(frames, framed(drawing, face.sketch[None]))
        cells = [np.pad(np.repeat(np.repeat(np.where(b, 255, 0).astype(np.uint8), scale, 0), scale, 1), gap // 2,
                        constant_values=96) for b in bits]
        rows.append(np.concatenate(cells, axis=1))
    return np.pad(np.concatenate(rows, axis=0), gap // 2, constant_values=96)


def panel_framing(r, face) -> np.ndarray:
    ink = Panel(PANEL.layout, replace(PANEL.dither, polarity="ink"))
    return panel_rows(r, face, [PANEL, ink, FACE_BAND])


def main() -> None:
    r = open_renderer(default_generator(), "cpu")
    face = r.source(demo_photo())
    photo = row(r, face, 4)
    cv2.imwrite(str(ROOT / "docs" / "realfaces-photo.png"), photo)
    print("wrote docs/realfaces-photo.png")
    cv2.imwrite(str(ROOT / "docs" / "panel-framing.png"), panel_framing(r, face))
    print("wrote docs/panel-framing.png")
    if FERPLUS_VALID.is_dir():
        names = ["fer0028768.png", "fer0030322.png", "fer0031349.png"]  # neutral faces of the blind study
        rows = [panel_rows(r, r.source(FERPLUS_VALID / n), [PANEL]) for n in names]
        cv2.imwrite(str(ROOT / "docs" / "panel-faces.png"), np.concatenate(rows, axis=0))
        print("wrote docs/panel-faces.png")
    else:
        print(f"{FERPLUS_VALID} is absent: docs/panel-faces.png is not remade")
    data = DATA / f"fer6-{r.size}"
    if not (data / "meta.json").exists():
        print(f"{data} is absent: the grid is not remade (see `make model` / `make gpu-data` for the prepare command)")
        return
    ds = load(data)
    val = np.flatnonzero(ds.split == 1)
    rows = []
    for ci in range(len(ds.classes)):
        for i in val[ds.labels[val] == ci][:2]:
            rows.append(row(r, r.source_from_gray(np.asarray(ds.images[i]), kind="sketch"), 2))
    cv2.imwrite(str(ROOT / "docs" / "realfaces-grid.png"), np.concatenate(rows, axis=0))
    print("wrote docs/realfaces-grid.png")


if __name__ == "__main__":
    main()
