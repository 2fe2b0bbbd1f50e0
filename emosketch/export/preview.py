"""Previews that look like the panel: an animated GIF of every sequence and a PNG contact sheet."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from ..errors import EmosketchError
from ..frames import gif_delays, gif_step, write_image
from ..text import put_text
from .pack import Pack

PANELS = {
    "white": (255, 255, 255),
    "blue": (90, 200, 255),
    "yellow": (255, 214, 0),
    "green": (80, 255, 140),
}
YELLOW_ROWS = 16  # two-colour modules: the top 16 rows are yellow, the rest blue
GRID_RGB = (28, 28, 28)
OFF_RGB = (0, 0, 0)


def panel_colours(panel: str, height: int) -> np.ndarray:
    """uint8 [height, 3] RGB colour of a lit pixel on each row of the panel."""
    key = panel.strip().lower()
    if key == "yellow-blue":
        rows = np.array([PANELS["yellow"]] * min(YELLOW_ROWS, height) +
                        [PANELS["blue"]] * max(0, height - YELLOW_ROWS), np.uint8)
        return rows.reshape(height, 3)
    if key in PANELS:
        rgb = PANELS[key]
    elif re.fullmatch(r"#[0-9a-fA-F]{6}", key):
        rgb = tuple(int(key[i:i + 2], 16) for i in (1, 3, 5))
    else:
        raise EmosketchError(f"panel colour {panel!r}: expected {', '.join(PANELS)}, yellow-blue or #RRGGBB")
    return np.tile(np.array(rgb, np.uint8), (height, 1))


def panel_palette(panel: str, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The preview's palette, uint8 [K, 3] (0 off, 1 grid, then each lit colour), and each panel
    row's lit-colour index, uint8 [height]."""
    colours = panel_colours(panel, height)
    lit, row_index = np.unique(colours, axis=0, return_inverse=True)
    palette = np.concatenate([np.array([OFF_RGB, GRID_RGB], np.uint8), lit.astype(np.uint8)])
    return palette, (row_index.reshape(-1) + 2).astype(np.uint8)


def panel_indices(bits: np.ndarray, row_index: np.ndarray, scale: int = 4, grid: bool = False) -> np.ndarray:
    """bool [T, H, W] -> uint8 [T, H*scale, W*scale] palette indices (see panel_palette)."""
    idx = np.where(bits, row_index[None, :, None], np.uint8(0)).astype(np.uint8)
    idx = idx.repeat(scale, axis=1).repeat(scale, axis=2)
    if grid and scale >= 3:
        idx[:, scale - 1::scale, :] = 1
        idx[:, :, scale - 1::scale] = 1
    return idx


def render_panel(bits: np.ndarray, panel: str = "white", scale: int = 4, grid: bool = False) -> np.ndarray:
    """bool [T, H, W] -> uint8 RGB [T, H*scale, W*scale, 3]: lit pixels in the panel colour on black."""
    palette, row_index = panel_palette(panel, bits.shape[1])
    return np.ascontiguousarray(palette[panel_indices(bits, row_index, scale, grid)])


PREVIEW_FRAMES = 360  # at most this many frames in preview.gif (30 s at 12 fps): its memory is bounded


def preview_sample(pack: Pack, most: int = PREVIEW_FRAMES) -> tuple[list[int], list[float]]:
    """The frames preview.gif shows and each one's duration in ms: every frame of a pack of up to
    `most` frames; of a longer one every k-th frame of each sequence, each held for the k frames it
    stands for, so the preview keeps the pack's timing and every sequence (and past 50 fps, which a GIF cannot
    play, every gif_step-th frame)."""
    every = max(1, -(-len(pack.bits) // most))
    frames, durations = [], []
    for s in pack.sequences:
        ms = 1000.0 / s.fps
        k = max(every, gif_step(s.fps))  # past 50 fps a GIF would play at 10 fps: fewer frames, held longer
        for i in range(0, s.count, k):
            frames.append(s.first + i)
            durations.append(ms * min(k, s.count - i))
    return frames, durations


def write_gif(pack: Pack, path: Path, panel: str = "white", scale: int = 4, grid: bool = False,
              most: int = PREVIEW_FRAMES) -> Path:
    """preview.gif: the panel at `scale`, from preview_sample (palette frames, rendered one by one)."""
    from PIL import Image

    frames, durations = preview_sample(pack, most)
    palette, row_index = panel_palette(panel, pack.height)

    def image(i: int):
        img = Image.fromarray(panel_indices(pack.bits[i:i + 1], row_index, scale, grid)[0], mode="P")
        img.putpalette(palette.reshape(-1).tolist())
        return img

    first = image(frames[0])
    rest = (image(i) for i in frames[1:])
    delays = gif_delays(durations)
    first.save(path, format="GIF", save_all=True, append_images=rest, loop=0,
               duration=delays if len(delays) > 1 else delays[0],
               optimize=False, disposal=1)
    return path


def read_gif(path: Path, scale: int = 4) -> np.ndarray:
    """Read a preview GIF back to bool [T, H, W] lit pixels (sampling each pixel's centre)."""
    import imageio.v3 as iio

    rgb = iio.imread(path, index=None)
    centres = rgb[:, scale // 2::scale, scale // 2::scale, :3]
    return centres.max(axis=-1) > 64


def contact_sheet(pack: Pack, panel: str = "white", per_row: int = 8, scale: int = 2) -> np.ndarray:
    """uint8 RGB image: one row per sequence, `per_row` frames sampled evenly, labelled."""
    h, w = pack.height * scale, pack.width * scale
    gap, label_h = 6, 18
    rows = []
    for s in pack.sequences:
        idx = np.unique(np.linspace(s.first, s.first + s.count - 1, min(per_row, s.count)).round().astype(int))
        tiles = render_panel(pack.bits[idx], panel, scale)
        row = np.full((label_h + h, per_row * (w + gap) + gap, 3), 40, np.uint8)
        for j, tile in enumerate(tiles):
            x = gap + j * (w + gap)
            row[label_h:, x:x + w] = tile
        put_text(row, f"{s.name}  ({s.count} frames, {s.fps:.1f} fps)", (gap, 13),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (230, 230, 230), 1, cv2.LINE_AA)
        rows.append(row)
        rows.append(np.full((gap, row.shape[1], 3), 40, np.uint8))
    return np.concatenate(rows)


def write(pack: Pack, folder: Path, panel: str = "white", grid: bool = False, scale: int = 4) -> list[Path]:
    gif = write_gif(pack, folder / "preview.gif", panel, scale, grid)
    sheet = folder / "contact_sheet.png"
    write_image(sheet, cv2.cvtColor(contact_sheet(pack, panel), cv2.COLOR_RGB2BGR))
    return [gif, sheet]
