"""What the panel shows: one function from gray frames (and a zoom) to the panel's lit pixels.

Packs, previews, the side-by-side view, the mirror and the TFT packs all draw through `draw`, so a
change to the drawing reaches every output at once, and benchmarks/legibility.py's blind study rates
exactly what this module draws.

The default (`PANEL`) was chosen by that study (README, "The face on the panel"): the whole drawing
fills the panel's height at its own pixels (a 64 px face is drawn 1:1 in the middle of a 128x64
panel, a larger one is brought down to the height), so the face keeps its proportions, its closed
outline and its continuous strokes; strokes and the dark areas that carry an expression (an open
mouth, brows, pupils) are kept as they are, not thinned, and drawn dark on a lit panel, as a sketch
is drawn on paper (lit strokes on a dark panel read as a negative, and less well), with specks of
under 4 pixels dropped, every pixel darker than 200 of 255 ink (bold strokes: a 128 px drawing's thin
strokes stay whole when it is shrunk to the panel; blind round 23 saw a face at once 0.77 with them,
0.54 without, at the same emotion). `FACE_BAND`, the previous default (the
brows-to-chin band stretched across the panel, thinned and redrawn with a 2 px pen), is kept for
the smallest packs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import EmosketchError, shown
from .dither import Dither, to_bits
from .layout import Layout, apply_layout, with_face


@dataclass(frozen=True)
class Panel:
    """A panel drawing: where the frame goes on the panel, and how its gray becomes lit pixels."""

    layout: Layout  # framing and zoom onto the display's width x height
    dither: Dither  # gray -> 1 bit

    @property
    def width(self) -> int:
        return self.layout.width

    @property
    def height(self) -> int:
        return self.layout.height

    def sized(self, width: int, height: int) -> Panel:
        """The same drawing on a panel of another size."""
        return replace(self, layout=replace(self.layout, width=width, height=height))


# The default of every command that shows the panel: the whole face at 1:1 (letterboxed, never
# stretched), line art with the dark areas kept, stable from frame to frame, not thinned, drawn dark
# on a lit panel (as the sketch is drawn on paper), specks of under 4 pixels dropped, strokes bold.
PANEL = Panel(Layout(128, 64, "fit"), Dither("lineart", stable=True, fill="none", polarity="paper", min_stroke=4,
                                            line=2,  # line: the pen of --thin
                                            stroke_level=200))  # bold: round 23 saw a face at once 0.77, not 0.54

# The previous default, for the smallest packs (about 12:1 with the context codec): the brows-to-chin
# band across the whole panel, strokes thinned and redrawn with a 2x2 pen. Blind raters read its
# emotion at chance (README, "The face on the panel").
FACE_BAND = Panel(Layout(128, 64, "face"), Dither("lineart", stable=True, thin=True, fill="none", line=2))

PRESETS = {"head": PANEL, "face-band": FACE_BAND}  # --panel names


def preset(name: str) -> Panel:
    """A panel drawing by its --panel name."""
    try:
        return PRESETS[name]
    except KeyError:
        raise EmosketchError(f"panel {name!r}: expected one of {', '.join(PRESETS)}") from None


def draw(frames: np.ndarray, panel: Panel = PANEL, zooms=None) -> np.ndarray:
    """Gray frames uint8 [T, H, W] (255 = paper) -> what the panel shows: bool [T, height, width],
    True = a lit pixel. `zooms`, one per frame, animate the zoom (layout.frame_zooms)."""
    if not isinstance(panel, Panel) or not isinstance(panel.layout, Layout) or not isinstance(panel.dither, Dither):
        raise EmosketchError(f"panel must be a Panel(Layout, Dither), e.g. PANEL, got {shown(panel)}")
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 3 or 0 in frames.shape:
        what = f"{frames.dtype} {frames.shape}" if isinstance(frames, np.ndarray) else type(frames).__name__
        raise EmosketchError(f"frames must be uint8 [T, H, W] (255 = paper) with T, H and W at least 1, got {what}")
    return to_bits(apply_layout(frames, panel.layout, zooms), panel.dither)


def framed(panel: Panel, frames: np.ndarray) -> Panel:
    """The drawing with its face box found in `frames` where its layout frames a face (one steady box
    for every sequence drawn with it)."""
    return replace(panel, layout=with_face(panel.layout, frames))
