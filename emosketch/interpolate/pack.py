"""An OLED pack from a checkpoint and a face: an idle loop per emotion and a transition for every
ordered pair of emotions, named so the device players' state machine finds them (idle_<e>,
<a>_to_<b>), written and verified through the exporter."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..easing import EASINGS, ease
from ..errors import EmosketchError
from ..export import ExportOptions, build_pack, write_pack
from ..export.layout import with_face
from ..export.pack import Pack, panel_codec
from ..export.panel import PANEL
from ..frames import Frames
from .render import Renderer, Source
from .timeline import MAX_FRAMES, check_draw_fps, pose

ZOOM_BREATH = 0.04  # idle loops breathe by +-4% in zoom by default
# The emotions' strength in packs. Blind raters read the panel as well at 1.0 as at 1.3 over three
# rounds (0.66 / 0.65); 1.3 reads fear and surprise better and anger and happy worse
# (docs/panel-and-packs.md, benchmarks/legibility.py), so the model's own strength stays the default.
INTENSITY = 1.0


def pack_frames(emotions: int, transition_frames: int, idle_frames: int) -> int:
    """The frames of a pack of `emotions`: an idle loop each and a transition for every ordered pair."""
    return emotions * idle_frames + emotions * (emotions - 1) * transition_frames


def sequences(renderer: Renderer, source: Source, emotions: list[str], transition_frames: int = 10,
              idle_frames: int = 12, easing: str = "cosine", fps: float = 12.0, seed: int = 0,
              psi: float = 1.0, breath: float = 0.12, zoom_breath: float = ZOOM_BREATH,
              intensity: float = INTENSITY) -> Frames:
    """The frames of the pack, with sequence marks: idle loops first, then the N(N-1) transitions.
    Every emotion is drawn at `intensity` (> 1 exaggerates it: s = anchor + k (s_e - anchor)).

    An idle loop breathes: the emotion's intensity swings by +-breath around it over the loop, so it
    starts and ends on the pose the transitions arrive at and leave from. With zoom_breath it also
    breathes in zoom (1 +- zoom_breath, a 'zoom' mark per frame), so even neutral, which has no
    intensity to swing, moves; transitions are at zoom 1."""
    if len(emotions) < 2:
        raise EmosketchError("a pack needs at least two emotions")
    if easing not in EASINGS:
        raise EmosketchError(f"easing {easing!r}: expected one of {', '.join(EASINGS)}")
    if not 0.0 < intensity <= 3.0:
        raise EmosketchError(f"intensity {intensity}: must be above 0 and at most 3")
    if transition_frames < 2 or idle_frames < 1:
        raise EmosketchError("transition frames must be >= 2 and idle frames >= 1")
    total = pack_frames(len(emotions), transition_frames, idle_frames)
    if total > MAX_FRAMES:
        raise EmosketchError(f"the pack would hold {total:,} frames, more than {MAX_FRAMES:,}: fewer emotions, or "
                             "fewer frames per transition or idle loop")
    check_draw_fps(fps)
    if not (math.isfinite(psi) and math.isfinite(breath)):
        raise EmosketchError(f"psi and breath must be finite numbers, got {psi} and {breath}")
    classes = renderer.classes
    codes = renderer.bank.codes(seed, psi)
    poses, marks = [], []
    if not 0.0 <= zoom_breath <= 0.5:
        raise EmosketchError(f"zoom breath {zoom_breath}: must be between 0 and 0.5")
    wave = np.sin(2 * np.pi * np.arange(idle_frames) / idle_frames)
    for e in emotions:  # the breath swells the face's strength a little past --intensity's bound, by design
        poses += [pose(classes, e) * k for k in intensity * (1.0 + breath * wave)]
        marks += [{"sequence": f"idle_{e}", "emotion": {e: 1.0}, **({"zoom": round(1.0 + zoom_breath * w, 4)}
                                                                   if zoom_breath else {})} for w in wave]
    t = ease(easing, np.arange(1, transition_frames + 1) / transition_frames)
    for a in emotions:
        for b in emotions:
            if a != b:
                pa, pb = pose(classes, a, intensity), pose(classes, b, intensity)
                poses += [pa + (pb - pa) * ti for ti in t]
                marks += [{"sequence": f"{a}_to_{b}", "emotion": {a: round(1 - float(ti), 4), b: round(float(ti), 4)},
                           **({"zoom": 1.0} if zoom_breath else {})} for ti in t]
    styles = renderer.bank.blend(np.array(poses), codes)
    return Frames(renderer.render(source, styles), fps, marks)


def emotion_pack(frames: Frames, out: str | Path, opts: ExportOptions | None = None, force: bool = False,
                 panel: str = "white", face: Source | None = None) -> tuple[Pack, Path]:
    """Frames from `sequences` -> a verified pack folder (manifest, C header, MicroPython, HTML).
    A face layout without a box is framed on the source `face`, every sequence alike."""
    from ..frames import split_sequences

    opts = opts or ExportOptions(layout=PANEL.layout, dither=PANEL.dither,
                                 codec=panel_codec("ssd1306", PANEL.width, PANEL.height),
                                 name="pack")  # pack.h and pack_pack, as `emosketch pack` and the Arduino examples
    if face is not None:
        opts = replace(opts, layout=with_face(opts.layout, face.sketch[None]))
    pack = build_pack([(name, "generator", part) for name, part in split_sequences(frames, "frames")], opts)
    folder = write_pack(pack, out, force=force, verify=True, panel=panel)
    return pack, folder
