"""Timelines: keyframed walks between emotions at a frame rate, from YAML or built in code.

    fps: 12
    loop: 2                      # play the whole list twice (optional)
    timeline:
      - {emotion: neutral, hold: 1.0}          # cut to neutral, hold it 1 s
      - {to: happy, over: 0.8, ease: sigmoid}  # move to happy in 0.8 s
      - {hold: 2.0}
      - {to: sad, over: 1.0, intensity: 1.3, hold: 0.5}   # exaggerated sadness, then hold
      - {to: {happy: 0.5, surprise: 0.5}, over: 0.6}       # a blend (weights add up: 1 is the usual strength)
      - {repeat: 3, steps: [{to: anger, over: 0.3}, {to: neutral, over: 0.3}]}
      - {to: surprise, over: 1.0, zoom: 1.5}   # push in while surprise rises (zoom eases with the move)
      - {to: neutral, over: 1.5, zoom: 1.0}    # and pull back at rest

A plan is what the renderer needs: for every frame a start pose, an end pose (emotion weights)
and an eased position t between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import read_yaml
from ..easing import EASINGS, ease
from ..emotions import canonical
from ..errors import EmosketchError, is_whole, shown
from ..export.pack import MIN_FPS
from ..frames import MAX_FRAMES  # one animation at most: 27 min at 12 fps, 330 MB at 128 px

DEFAULT_EASE = "cosine"
MAX_FPS = 240  # the fastest drawn; the slowest is the slowest a pack plays (MIN_FPS)


def check_draw_fps(fps: object, where: str = "") -> None:
    """Refuse a frame rate that is not a number from MIN_FPS to MAX_FPS (NaN, a bool or a string from a
    settings file included); `where` names the file it came from."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not MIN_FPS <= fps <= MAX_FPS:
        raise EmosketchError(f"{where + ': ' if where else ''}fps must be a number from {MIN_FPS:g} to {MAX_FPS}, "
                             f"got {shown(fps)}")
MAX_STEPS = 10 * MAX_FRAMES  # steps a timeline visits at most, its repeats and loop multiplied out: a step
# may add no frame (a cut, a loop of nothing), so the frame bound alone let `loop: 1000000000` run for minutes
MAX_NESTING = 32  # repeats inside repeats at most (a YAML alias that holds itself would nest for ever)
MAX_INTENSITY = 3.0  # an emotion's strength at most, as the CLI's --intensity: past it the face turns to ink
KEYS = {"emotion", "to", "over", "ease", "hold", "intensity", "repeat", "steps", "zoom"}


def pose(classes: list[str], emotion: str | dict, intensity: float = 1.0, where: str = "") -> np.ndarray:
    """An emotion (or a mapping emotion -> weight) as a weight vector over `classes`, times intensity."""
    if isinstance(classes, str):  # 'neutral,happy' would be searched as a string: 'sad' is not in it, 'app' is
        raise EmosketchError(f"classes is a list of the model's emotion names, got the string {shown(classes)}")
    w = np.zeros(len(classes))
    items = {emotion: 1.0} if isinstance(emotion, str) else emotion
    if not isinstance(items, dict) or not items:
        raise EmosketchError(f"{where}expected an emotion name or a mapping of emotion: weight, got {shown(emotion)}")
    for name, value in items.items():
        c = canonical(str(name))
        if c not in classes:
            raise EmosketchError(f"{where}emotion {shown(name)} is not one of the model's: {', '.join(classes)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not -4 <= value <= 4:
            raise EmosketchError(f"{where}weight of {shown(name)} must be a number from -4 to 4, got {shown(value)}")
        w[classes.index(c)] += float(value)
    if not w.any():  # no emotion at all: the style code of nothing the model was taught
        raise EmosketchError(f"{where}a blend needs a weight other than 0, got {shown(emotion)}")
    # The weights add up (the face draws sum w_e s_e): {happy: 1, surprise: 1} is both at full strength, twice
    # the strength of {happy: 0.5, surprise: 0.5}. Their total is an intensity, bounded as one.
    strength = float(np.abs(w).sum()) * float(intensity)
    if strength > MAX_INTENSITY + 1e-9:
        raise EmosketchError(f"{where}a blend's weights add up to its strength, and {shown(emotion)}"
                             f"{f' at intensity {float(intensity):g}' if intensity != 1 else ''} is {strength:g}; "
                             f"at most {MAX_INTENSITY:g} (as --intensity: past it the face turns to ink). Weights that "
                             "add up to 1 blend the emotions at the face's usual strength")
    return w * float(intensity)


@dataclass
class Plan:
    """Per frame: start pose a [T, C], end pose b [T, C], eased position t [T], and a label."""

    classes: list[str]
    fps: float
    a: np.ndarray
    b: np.ndarray
    t: np.ndarray
    labels: list[str] = field(default_factory=list)
    zoom: np.ndarray | None = None  # [T] per-frame zoom, when the timeline sets one

    def __len__(self) -> int:
        return len(self.t)

    def poses(self) -> np.ndarray:
        """The linear blend of each frame's poses: [T, C] (what a crossfade of weights would show)."""
        return self.a + (self.b - self.a) * self.t[:, None]

    def marks(self, sequence: str | None = None) -> list[dict]:
        out = []
        for i, w in enumerate(self.poses()):
            m: dict[str, Any] = {"emotion": {c: round(float(v), 4) for c, v in zip(self.classes, w) if abs(v) > 1e-6},
                                 "step": self.labels[i] if self.labels else ""}
            if sequence:
                m["sequence"] = sequence
            if self.zoom is not None:
                m["zoom"] = round(float(self.zoom[i]), 4)
            out.append(m)
        return out


class _Builder:
    def __init__(self, classes: list[str], fps: float):
        self.classes, self.fps = classes, fps
        self.current: np.ndarray | None = None
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.t: list[float] = []
        self.labels: list[str] = []
        self.zoom = 1.0  # the zoom now
        self.zooms: list[float] = []
        self.zoomed = False  # whether any step set a zoom
        self.visited = 0  # steps visited, repeats multiplied out
        self.at = 0.0  # the timeline's clock, in frames: where the frames written should end

    def visit(self, where: str) -> None:
        self.visited += 1
        if self.visited > MAX_STEPS:
            raise EmosketchError(f"{where}the timeline visits more than {MAX_STEPS:,} steps (its repeats and loop "
                                 "multiplied): give fewer repeats")

    def frames(self, seconds: float) -> int:
        """How many frames a step of `seconds` gets: as many as bring the frames written to the timeline's own
        clock, rounded (so steps of 1.5 frames take 2 and 1 in turn, and the whole keeps the length written,
        where each rounded alone had drifted a third too long), and at least one (a move ends on its target)."""
        end = self.at + seconds * self.fps  # a float: a hold of 1e308 s is past the bound, not an overflow
        if end >= MAX_FRAMES + 0.5 or len(self.t) >= MAX_FRAMES:
            raise EmosketchError(f"the timeline runs past {MAX_FRAMES:,} frames ({MAX_FRAMES / self.fps:,.0f} s at "
                                 f"{self.fps:g} fps): make it shorter or lower its fps")
        n = math.floor(end + 0.5) - len(self.t)
        if n < 1:  # a step shorter than what is left of a frame still shows: the clock moves on with it
            n, end = 1, float(len(self.t) + 1)
        self.at = end
        return n

    def hold(self, seconds: float, label: str, where: str) -> None:
        if self.current is None:
            raise EmosketchError(f"{where}a hold needs an emotion first (start with {{emotion: NAME}})")
        for _ in range(self.frames(seconds)):
            self.a.append(self.current)
            self.b.append(self.current)
            self.t.append(1.0)
            self.labels.append(label)
            self.zooms.append(self.zoom)

    def move(self, target: np.ndarray, seconds: float, easing: str, label: str, where: str,
             zoom: float | None = None) -> None:
        if self.current is None:
            raise EmosketchError(f"{where}a move needs an emotion to start from (start with {{emotion: NAME}})")
        if not self.t:  # a timeline that opens with a move shows its start pose first
            self.hold(0.0, label, where)
        n = self.frames(seconds)
        start_zoom, end_zoom = self.zoom, self.zoom if zoom is None else zoom
        # The start pose is the previous frame; the move's frames end exactly on the target.
        for t in ease(easing, np.arange(1, n + 1) / n):
            self.a.append(self.current)
            self.b.append(target)
            self.t.append(float(t))
            self.labels.append(label)
            self.zooms.append(start_zoom + (end_zoom - start_zoom) * float(t))
        self.current, self.zoom = target, end_zoom

    def plan(self) -> Plan:
        if not self.t:
            raise EmosketchError("the timeline has no frames (give a hold or a move)")
        return Plan(self.classes, self.fps, np.array(self.a), np.array(self.b), np.array(self.t), self.labels,
                    np.array(self.zooms) if self.zoomed else None)


def _number(entry: dict, key: str, where: str, minimum: float = 0.0) -> float:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        least = "above 0" if 0 < minimum < 1e-6 else f">= {minimum:g}"  # a move's over: 1e-09 was its floor's words
        read = " (YAML reads a number too large for a float, such as 1e400, as infinity)" if value in (
            math.inf, -math.inf) else ""
        raise EmosketchError(f"{where}{key} must be a finite number {least}, got {shown(value)}{read}")
    return float(value)


def _label(target: Any) -> str:
    """A step's target as its frames' mark: a name, or a mapping of names to numbers; anything else is
    refused by pose(), and only quoted (bounded) here."""
    if isinstance(target, str) or (isinstance(target, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) for k, v in target.items())):
        return str(target)
    return shown(target)


def _entries(builder: _Builder, entries: Any, where: str, depth: int = 0) -> None:
    if not isinstance(entries, list):
        raise EmosketchError(f"{where}expected a list of steps, got {shown(entries)}")
    if depth > MAX_NESTING:
        raise EmosketchError(f"{where}loops nested more than {MAX_NESTING} deep (a YAML alias that holds itself?)")
    builder.visit(where)  # a list of no steps, repeated, still costs a visit
    for i, entry in enumerate(entries):
        at = f"{where}entry {i + 1}: "
        builder.visit(at)
        if not isinstance(entry, dict):
            raise EmosketchError(f"{at}expected a mapping such as {{to: happy, over: 1.0}}, got {shown(entry)}")
        if not entry:
            raise EmosketchError(f"{at}empty step")
        unknown = sorted(set(entry) - KEYS)
        if unknown:
            raise EmosketchError(f"{at}unknown key {shown(unknown[0])} (known keys: {', '.join(sorted(KEYS))})")
        if "repeat" in entry or "steps" in entry:
            if set(entry) - {"repeat", "steps"} or "steps" not in entry:
                raise EmosketchError(f"{at}a loop is {{repeat: N, steps: [...]}} and nothing else")
            times = entry.get("repeat", 1)
            if isinstance(times, bool) or not isinstance(times, int) or times < 1:
                raise EmosketchError(f"{at}repeat must be a whole number >= 1, got {shown(times)}")
            for _ in range(times):
                _entries(builder, entry["steps"], f"{at}(in steps) ", depth + 1)
            continue
        if "emotion" in entry and "to" in entry:
            raise EmosketchError(f"{at}give emotion (a cut) or to (a move), not both")
        intensity = _number(entry, "intensity", at) if "intensity" in entry else 1.0
        if intensity == 0:  # every weight times 0: no emotion at all
            raise EmosketchError(f"{at}intensity must be above 0 (0 draws no emotion), got 0")
        if intensity > MAX_INTENSITY:
            raise EmosketchError(f"{at}intensity must be at most {MAX_INTENSITY:g} (as --intensity), got {intensity:g}")
        easing = entry.get("ease", DEFAULT_EASE)
        easing = easing.strip().lower() if isinstance(easing, str) else easing  # as emotion names: Sigmoid too
        if not isinstance(easing, str) or easing not in EASINGS:
            raise EmosketchError(f"{at}ease {shown(easing)}: expected one of {', '.join(EASINGS)}")
        if "ease" in entry and "to" not in entry:
            raise EmosketchError(f"{at}ease applies to a move (to: ...)")
        if "over" in entry and "to" not in entry:
            raise EmosketchError(f"{at}over applies to a move (to: ...)")
        label = _label(entry.get("to", entry.get("emotion", "hold")))
        zoom = None
        if "zoom" in entry:
            zoom = _number(entry, "zoom", at, 0.05)
            if zoom > 20:
                raise EmosketchError(f"{at}zoom must be between 0.05 and 20, got {shown(zoom)}")
            builder.zoomed = True
            if "to" not in entry:  # a cut or a hold: the zoom changes at once
                builder.zoom = zoom
        if "emotion" in entry:
            builder.current = pose(builder.classes, entry["emotion"], intensity, at)
        elif "to" in entry:
            over = _number(entry, "over", at, 1e-9) if "over" in entry else 1.0
            builder.move(pose(builder.classes, entry["to"], intensity, at), over, easing, label, at, zoom)
        elif "intensity" in entry:
            raise EmosketchError(f"{at}intensity applies to an emotion or a move")
        if "hold" in entry:
            builder.hold(_number(entry, "hold", at), label, at)
        elif "emotion" in entry and not any(k in entry for k in ("to", "hold")) and i == len(entries) - 1:
            builder.hold(1.0 / builder.fps, label, at)  # a final cut still shows one frame


def parse_timeline(data: Any, classes: list[str], fps: float | None = None, where: str = "timeline") -> Plan:
    """A timeline (a list of steps, or a mapping with fps, loop and timeline) -> Plan."""
    if isinstance(data, dict):
        unknown = sorted(set(data) - {"fps", "loop", "timeline"})
        if unknown:
            raise EmosketchError(f"{where}: unknown key {shown(unknown[0])} (known keys: fps, loop, timeline)")
        if "timeline" not in data:
            raise EmosketchError(f"{where}: no 'timeline' list")
        file_fps = data.get("fps", 12.0)
        loops = data.get("loop", 1)
        steps = data["timeline"]
    else:
        file_fps, loops, steps = 12.0, 1, data
    fps = fps if fps is not None else file_fps
    check_draw_fps(fps, where)
    if isinstance(loops, bool) or not isinstance(loops, int) or loops < 1:
        raise EmosketchError(f"{where}: loop must be a whole number >= 1, got {shown(loops)}")
    builder = _Builder(classes, float(fps))
    for _ in range(loops):
        _entries(builder, steps, f"{where}: ")
    return builder.plan()


def load_timeline(path: str | Path, classes: list[str], fps: float | None = None) -> Plan:
    """A YAML or JSON timeline file (configs/timeline-demo.yaml) as the Plan of its frames for a model of
    `classes`; `fps` overrides the file's own. Errors name the file, the entry and the key."""
    return parse_timeline(read_yaml(path, "timeline"), classes, fps, str(path))


def transition(classes: list[str], start: str, end: str, frames: int, easing: str = DEFAULT_EASE,
               fps: float = 12.0, hold: int = 0, intensity: float = 1.0) -> Plan:
    """start -> end over `frames` frames (the first shows start, the last end), then `hold` frames."""
    for name, value in (("frames", frames), ("hold", hold)):
        if not is_whole(value):
            raise EmosketchError(f"a transition's {name} is a whole number of frames, got {shown(value)}")
    if frames < 2:
        raise EmosketchError(f"a transition needs at least 2 frames, got {frames}")
    if hold < 0 or frames + hold > MAX_FRAMES:
        raise EmosketchError(f"a transition of {frames} frames and a hold of {hold}: the hold is >= 0 and the two "
                             f"{MAX_FRAMES:,} frames at most")
    check_draw_fps(fps)
    if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) or not 0 < intensity <= MAX_INTENSITY:
        raise EmosketchError(f"intensity must be a number above 0 and at most {MAX_INTENSITY:g}, got {shown(intensity)}")
    a, b = pose(classes, start, intensity), pose(classes, end, intensity)
    t = ease(easing, np.linspace(0.0, 1.0, frames))
    t = np.concatenate([t, np.ones(hold)])
    n = len(t)
    return Plan(classes, fps, np.repeat(a[None], n, 0), np.repeat(b[None], n, 0), t,
                [f"{start}_to_{end}"] * n)
