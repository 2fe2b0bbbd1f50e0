"""The agent emotion model: an emotional state over neuromodulator-like channels that stimuli
raise and time lets fade, turned into emotion weights every frame.

    agent = Agent(AgentConfig(), classes=["neutral", "happy", "sad", "surprise", "fear", "anger"])
    agent.stimulate("joy", 0.8)
    agent.step(1 / 12)
    agent.weights()      # {"neutral": 0.749..., "happy": 0.251..., ...}: joy still rising
    for _ in range(11):
        agent.step(1 / 12)
    agent.weights()      # {"neutral": 0.346..., "happy": 0.654..., ...}: a second on, risen and fading

A stimulus first flows into its channel over `rise` seconds (so the face moves rather than
jumps), then the channel decays with its own half-life. A stimulus of at least `overthrow` to
a channel that is not the dominant one knocks the dominant channel down to `overthrow_keep` of
its level (through the same rise), so the new emotion takes over at once instead of blending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import from_dict, read_yaml
from ..emotions import canonical
from ..errors import EmosketchError, is_real, shown
from ..frames import MAX_FRAMES
from .timeline import check_draw_fps

MAX_AMOUNT = 1.5  # a stimulus's amount either way, in a script and in serve's /api/agent/stimulate

CHANNELS = ("fear", "mad", "joy", "love", "sad", "surprise", "power")
# A look drawn by no emotion of its own: the face at rest with one mouth corner smiling
# (emosketch.interpolate.render.one_sided), for a model with happy and neutral (can_smirk)
SMIRK = "smirk"


def can_smirk(classes) -> bool:
    """Whether a model of these emotions can draw SMIRK: its rest (neutral) and the smile (happy)."""
    return {"happy", "neutral"} <= set(classes)


# How aroused each channel's feeling is (0 calm .. 1 excited; after Russell's circumplex): the
# script's zoom pushes in by zoom * arousal * level of the dominant channel.
AROUSAL = {"fear": 0.8, "mad": 0.8, "joy": 0.5, "love": 0.3, "sad": 0.2, "surprise": 0.9, "power": 0.6}
ZOOM_SECONDS = 0.6  # the zoom follows the arousal with this time constant: a slow push, a slow pull back


@dataclass
class AgentConfig:
    # seconds for a channel's level to halve with no new stimulus
    half_life: dict[str, float] = field(default_factory=lambda: {
        "fear": 3.0, "mad": 4.0, "joy": 3.0, "love": 6.0, "sad": 8.0, "surprise": 1.0, "power": 5.0})
    # what each channel shows as: a model emotion, a blend of them ({happy: 0.5, anger: 0.5}), "smirk", or
    # a list of those, the first the model can draw is used. Love reads as joy on a face. Power shows as
    # contempt; the shipped model has none, and no blend of its six emotions that blind raters were shown
    # read as confident (benchmarks/looks.py, docs/panel-and-packs.md), so there it shows as a smirk: the
    # face at rest with one mouth corner smiling (a one-sided smile, contempt's own sign).
    emotions: dict[str, str | dict | list] = field(default_factory=lambda: {
        "fear": "fear", "mad": "anger", "joy": "happy", "love": "happy", "sad": "sad",
        "surprise": "surprise", "power": ["contempt", SMIRK]})
    rise: float = 0.15  # seconds for half of a stimulus to reach its channel (0: at once)
    ceiling: float = 1.5  # a channel's level is capped here
    overthrow: float = 0.5  # a stimulus at least this strong to another channel overthrows the dominant one
    overthrow_keep: float = 0.25  # fraction of the overthrown channel's level that is left
    sharpness: float = 2.0  # exponent on the emotion levels before they are shared out: > 1 favours the dominant
    rest: str = "neutral"  # the emotion shown when every channel has faded

    def __post_init__(self) -> None:
        for name in list(self.half_life) + list(self.emotions):
            if name not in CHANNELS:
                raise EmosketchError(f"agent: unknown channel {shown(name)} (channels: {', '.join(CHANNELS)})")
        for name, value in self.emotions.items():
            looks(value, f"agent.emotions.{name}")
        for name, h in self.half_life.items():
            if isinstance(h, bool) or not isinstance(h, (int, float)) or h <= 0:
                raise EmosketchError(f"agent.half_life.{name}: must be a positive number of seconds, got {shown(h)}")
        missing = [c for c in CHANNELS if c not in self.half_life]
        if missing:
            raise EmosketchError(f"agent.half_life: no half-life for {', '.join(missing)}")
        for name, ok, rule in (("rise", self.rise >= 0, ">= 0"), ("ceiling", self.ceiling > 0, "> 0"),
                               ("overthrow_keep", 0 <= self.overthrow_keep <= 1, "from 0 to 1"),
                               ("sharpness", self.sharpness > 0, "> 0")):
            if not ok:
                raise EmosketchError(f"agent.{name} must be {rule}, got {shown(getattr(self, name))}")


def looks(value, where: str) -> list[tuple[tuple[str, float], ...]]:
    """A channel's `emotions` entry -> the looks it may show, in order of preference. A look is a blend:
    ((emotion, weight), ...) sorted by emotion, weights summing to 1 (a plain emotion is ((e, 1.0),))."""
    options = value if isinstance(value, list) else [value]
    if not options:
        raise EmosketchError(f"{where}: an empty list; give an emotion, a blend or a list of them")
    out = []
    for option in options:
        if isinstance(option, str):
            out.append(((canonical(option), 1.0),))
            continue
        if not isinstance(option, dict) or not option:
            raise EmosketchError(f"{where}: expected an emotion, a blend {{emotion: weight}} or a list of them, "
                                 f"got {shown(option)}")
        for e, w in option.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 < w < float("inf"):
                raise EmosketchError(f"{where}: the weight of {shown(e)} must be a positive number, got {shown(w)}")
        total = float(sum(option.values()))
        merged: dict[str, float] = {}
        for e, w in option.items():
            name = canonical(str(e))
            merged[name] = merged.get(name, 0.0) + w / total
        out.append(tuple(sorted(merged.items())))
    return out


def look_name(look: tuple[tuple[str, float], ...]) -> str:
    """'happy', or 'anger 0.5 + happy 0.5' for a blend."""
    return look[0][0] if len(look) == 1 else " + ".join(f"{e} {w:g}" for e, w in look)


class Agent:
    """The state of one agent; `classes` are the emotions the generator knows."""

    def __init__(self, config: AgentConfig | None = None, classes: list[str] | None = None):
        self.config = config or AgentConfig()
        if isinstance(classes, str):  # list("happy") would be five one-letter emotions
            raise EmosketchError(f"agent: classes is a list of emotion names, got the string {shown(classes)}")
        self.classes = list(classes) if classes else []
        self.level = dict.fromkeys(CHANNELS, 0.0)
        self.pending = dict.fromkeys(CHANNELS, 0.0)
        self.time = 0.0
        options = {c: looks(v, f"agent.emotions.{c}") for c, v in self.config.emotions.items()}
        known = set(self.classes) if self.classes else {e for o in options.values() for look in o for e, _ in look}
        if can_smirk(known):
            known.add(SMIRK)
        self.shows = {}  # channel -> the look it drives: the first of its options the model can draw
        for c, o in options.items():
            look = next((look for look in o if all(e in known for e, _ in look)), None)
            if look is not None:
                self.shows[c] = look
        # Reported, never silently dropped: channels whose emotions the model lacks, or that have none.
        self.unmatched = {c: " or ".join(look_name(look) for look in options[c]) if c in options else None
                          for c in CHANNELS if c not in self.shows}
        self.lacked = {c: [e for look in options[c] for e, _ in look if e not in known]  # what each lacks, by name
                       for c in self.unmatched if c in options}
        self.rest = canonical(self.config.rest) if self.config.rest else None
        self.rest_missing = None  # a rest emotion the model lacks: reported, the face at rest is then a blend
        if self.rest is not None and self.classes and self.rest not in self.classes:
            self.rest_missing, self.rest = self.rest, None

    def report(self) -> list[str]:
        """One line per channel the face cannot show."""
        import difflib

        def missing(c: str, e: str) -> str:
            close = [m for n in self.lacked[c] for m in difflib.get_close_matches(n, self.classes, n=1, cutoff=0.7)]
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            have = f" ({', '.join(self.classes)})" if self.classes else ""
            return f"channel {c!r} maps to {e!r}{hint}, which the model{have} does not have: it will not show"

        lines = [missing(c, e) if e else f"channel {c!r} maps to no emotion: it will not show"
                 for c, e in self.unmatched.items()]
        if self.rest_missing is not None:
            lines.append(f"rest {self.rest_missing!r} is not an emotion of the model ({', '.join(self.classes)}): "
                         "at rest the face is an even blend of them")
        return lines

    def channel_for(self, emotion: str) -> str | None:
        """The first channel that shows `emotion` (happy -> joy), or None (neutral has none)."""
        e = canonical(emotion)
        return next((c for c in CHANNELS if self.shows.get(c) == ((e, 1.0),)), None)

    def arousal(self) -> float:
        """The dominant channel's arousal x its level (capped at 1): 0 at rest, up to 0.9 for surprise."""
        d = self.dominant()
        return AROUSAL[d] * min(1.0, self.level[d]) if d else 0.0

    def dominant(self) -> str | None:
        """The channel with the highest level (pending stimuli included), or None at rest."""
        totals = {c: self.level[c] + self.pending[c] for c in CHANNELS}
        best = max(CHANNELS, key=lambda c: totals[c])
        return best if totals[best] > 1e-3 else None

    def stimulate(self, channel: str, amount: float) -> None:
        """Add `amount` (negative soothes) to a channel; it arrives over the next `rise` seconds."""
        if channel not in CHANNELS:
            raise EmosketchError(f"unknown channel {shown(channel)} (channels: {', '.join(CHANNELS)})")
        old = self.dominant()
        if amount >= self.config.overthrow and old is not None and old != channel:
            self.pending[old] -= (1.0 - self.config.overthrow_keep) * (self.level[old] + self.pending[old])
        self.pending[channel] += float(amount)
        if self.config.rise == 0:
            self._flow(1.0)

    def _flow(self, fraction: float) -> None:
        for c in CHANNELS:
            moved = self.pending[c] * fraction
            self.level[c] = min(self.config.ceiling, max(0.0, self.level[c] + moved))
            self.pending[c] -= moved

    def step(self, dt: float) -> None:
        """Advance time by dt seconds: pending stimuli flow in, then every channel decays."""
        if not is_real(dt) or not math.isfinite(dt) or dt < 0:
            raise EmosketchError(f"dt is a finite number of seconds >= 0 (time cannot go back), got {shown(dt)}")
        if self.config.rise > 0:
            self._flow(1.0 - 0.5 ** (dt / self.config.rise))
        for c in CHANNELS:
            self.level[c] *= 0.5 ** (dt / self.config.half_life[c])
        self.time += dt

    def look_levels(self) -> dict[tuple, float]:
        """How strongly each shown look is felt: the sum of the channels that show it, capped at 1."""
        out: dict[tuple, float] = {}
        for c, look in self.shows.items():
            out[look] = out.get(look, 0.0) + self.level[c]
        return {look: min(1.0, v) for look, v in out.items()}

    def emotion_levels(self) -> dict[str, float]:
        """How strongly each shown look is felt, by its name (look_name)."""
        return {look_name(look): v for look, v in self.look_levels().items()}

    def requested(self, emotions: list[str], threshold: float = 0.3) -> str:
        """The emotion a pack's player should be asked to show now (the C and MicroPython players play one emotion
        at a time, not a blend): the emotion of the most felt channel whose emotion the pack has, while that channel
        is felt at least `threshold`, else the rest emotion (or the pack's first). A channel's felt level counts a
        stimulus still rising in, so a strong one that overthrows another goes straight to its own emotion, not
        through the rest. A channel drawn as a blend asks for its heaviest emotion the pack has; a smirk for none."""
        if isinstance(emotions, str) or not emotions:
            raise EmosketchError(f"emotions is the pack's list of emotion names, got {shown(emotions)}")
        names = [canonical(str(e)) for e in emotions]
        rest = self.rest if self.rest in names else names[0]
        felt = sorted(((self.level[c] + self.pending[c], c) for c in self.shows), reverse=True)
        for amount, channel in felt:  # the dominant first; one the pack cannot show gives way to the next
            if amount < threshold:
                break
            held = [(w, e) for e, w in self.shows[channel] if e in names]
            if held:
                return max(held)[1]
        return rest

    def weights(self) -> dict[str, float]:
        """Emotion weights for this frame, summing to 1 over the model's classes.

        The strongest look's level A sets how far the face is from rest: rest gets 1 - A, and the
        looks share A in proportion to level ** sharpness; a blend passes its share on to its emotions.
        A smirk's share is drawn as neutral here, its one-sided smile by smirk()."""
        return self.pose()[0]

    def smirk(self) -> float:
        """How far one mouth corner smiles this frame (0..1): the smirk's share of the face
        (emosketch.interpolate.render.Renderer.render_weights draws it)."""
        return self.pose()[1]

    def pose(self) -> tuple[dict[str, float], float]:
        """(weights(), smirk()) from one sharing out of the looks."""
        w = self._shares()
        side = w.pop(SMIRK, 0.0)
        if side:
            w["neutral"] = w.get("neutral", 0.0) + side
        return w, side

    def _shares(self) -> dict[str, float]:
        levels = self.look_levels()
        names = self.classes or sorted({e for look in self.shows.values() for e, _ in look if e != SMIRK} |
                                       ({self.rest} if self.rest else set()))
        w = dict.fromkeys(names, 0.0)
        powered = {look: v ** self.config.sharpness for look, v in levels.items() if v > 0}
        powered = {look: p for look, p in powered.items() if p > 0}  # a level decayed so far its power underflows
        total = sum(powered.values())
        strength = max(levels.values(), default=0.0)
        if self.rest is None:  # no rest emotion: the looks share everything
            strength = 1.0 if total > 0 else 0.0
        for look, p in powered.items():
            for e, part in look:
                w[e] = w.get(e, 0.0) + strength * p / total * part
        if self.rest is not None:
            w[self.rest] += 1.0 - strength
        elif total == 0:
            for e in w:
                w[e] = 1.0 / len(w)
        return w


def follow_zoom(current: float, target: float, dt: float) -> float:
    """One step of the zoom's first-order lag (time constant ZOOM_SECONDS) towards `target`."""
    return current + (1.0 - np.exp(-dt / ZOOM_SECONDS)) * (target - current)


@dataclass
class Stimulus:
    t: float  # seconds from the start
    channel: str
    amount: float


@dataclass
class Script:
    fps: float
    duration: float
    stimuli: list[Stimulus]
    agent: AgentConfig
    zoom: float = 0.0  # push-in at full arousal of the dominant channel (0.3 = 30% closer); 0 = none


def parse_script(data: Any, where: str = "script") -> Script:
    """{fps, duration, zoom, agent: {...AgentConfig}, stimuli: [{t, channel, amount}, ...]} -> Script."""
    if isinstance(data, list):
        data = {"stimuli": data}
    if not isinstance(data, dict):
        raise EmosketchError(f"{where}: expected a mapping with a 'stimuli' list")
    unknown = sorted(set(data) - {"fps", "duration", "agent", "stimuli", "zoom"})
    if unknown:
        raise EmosketchError(f"{where}: unknown key {shown(unknown[0])} (known keys: agent, duration, fps, stimuli, zoom)")
    settings = data.get("agent") or {}
    if isinstance(settings, dict):  # a channel the script names changes that channel; the others keep their defaults
        defaults = AgentConfig()
        settings = {**settings, **{k: {**getattr(defaults, k), **settings[k]} for k in ("emotions", "half_life")
                                   if isinstance(settings.get(k), dict)}}
    try:
        agent = from_dict(AgentConfig, settings, f"{where}: agent")
    except EmosketchError as exc:  # the settings' own checks name the setting; the file is named here
        raise EmosketchError(str(exc) if str(exc).startswith(where) else f"{where}: {exc}") from None
    stimuli = []
    raw = data.get("stimuli")
    if not isinstance(raw, list) or not raw:
        raise EmosketchError(f"{where}: 'stimuli' must be a non-empty list of {{t, channel, amount}}")
    for i, entry in enumerate(raw):
        at = f"{where}: stimulus {i + 1}"
        if not isinstance(entry, dict):
            raise EmosketchError(f"{at}: expected {{t: SECONDS, channel: NAME, amount: NUMBER}}, got {shown(entry)}")
        for key in entry:
            if key not in ("t", "channel", "amount"):
                raise EmosketchError(f"{at}: unknown key {shown(key)} (known keys: amount, channel, t)")
        for key in ("t", "channel", "amount"):
            if key not in entry:
                raise EmosketchError(f"{at}: missing key {shown(key)}")
        for key in ("t", "amount"):
            v = entry[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or (key == "t" and v < 0):
                raise EmosketchError(f"{at}: {key} must be a number{' >= 0' if key == 't' else ''}, got {shown(v)}")
        if entry["channel"] not in CHANNELS:
            raise EmosketchError(f"{at}: unknown channel {shown(entry['channel'])} (channels: {', '.join(CHANNELS)})")
        if not -MAX_AMOUNT <= entry["amount"] <= MAX_AMOUNT:
            raise EmosketchError(f"{at}: amount must be from -{MAX_AMOUNT:g} to {MAX_AMOUNT:g} (as the mirror's "
                                 f"stimulate), got {shown(entry['amount'])}")
        stimuli.append(Stimulus(float(entry["t"]), str(entry["channel"]), float(entry["amount"])))
    stimuli.sort(key=lambda s: s.t)
    fps = data.get("fps", 12.0)
    check_draw_fps(fps, where)
    duration = data.get("duration", stimuli[-1].t + 4.0)
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not 0 < duration < math.inf:
        raise EmosketchError(f"{where}: duration must be a positive number of seconds, got {shown(duration)}")
    late = [s for s in stimuli if s.t >= duration]
    if late:
        raise EmosketchError(f"{where}: a stimulus at {late[0].t:g} s is at or after the end, {duration:g} s: it would "
                             "never show; lengthen duration or move it")
    if round(duration * fps) > MAX_FRAMES:
        raise EmosketchError(f"{where}: {duration:g} s at {fps:g} fps is {round(duration * fps):,} frames, more than "
                             f"{MAX_FRAMES:,}: a shorter duration or a lower fps")
    zoom = data.get("zoom", 0.0)
    if isinstance(zoom, bool) or not isinstance(zoom, (int, float)) or not 0 <= zoom <= 2:
        raise EmosketchError(f"{where}: zoom must be a number from 0 (none) to 2, got {shown(zoom)}")
    return Script(float(fps), float(duration), stimuli, agent, float(zoom))


def load_script(path: str | Path) -> Script:
    return parse_script(read_yaml(path, "script"), str(path))


@dataclass
class Trace:
    """An agent run, frame by frame."""

    times: np.ndarray  # [T] seconds
    levels: np.ndarray  # [T, len(CHANNELS)]
    weights: np.ndarray  # [T, len(classes)]
    classes: list[str]
    dominant: list[str | None]
    stimuli: list[Stimulus]
    notes: list[str]
    zoom: np.ndarray | None = None  # [T] per-frame zoom, when the script asks for one
    smirk: np.ndarray | None = None  # [T] the one-sided smile (Agent.smirk), when a channel shows one

    def marks(self) -> list[dict]:
        zoom = self.zoom if self.zoom is not None else [None] * len(self.times)
        side = self.smirk if self.smirk is not None else [0.0] * len(self.times)
        return [{"t": round(float(t), 4), "dominant": d,
                 "emotion": {c: round(float(v), 4) for c, v in zip(self.classes, w) if v > 1e-4},
                 **({"smirk": round(float(k), 4)} if k > 1e-4 else {}),
                 **({"zoom": round(float(z), 4)} if z is not None else {})}
                for t, w, d, z, k in zip(self.times, self.weights, self.dominant, zoom, side)]


def run_script(script: Script, classes: list[str]) -> Trace:
    """Play the stimuli through a fresh agent at the script's frame rate."""
    agent = Agent(script.agent, classes)
    n = max(1, int(round(script.duration * script.fps)))
    dt = 1.0 / script.fps
    pending = list(script.stimuli)
    times, levels, weights, dominant, arousal, smirk = [], [], [], [], [], []
    clock = 0.0  # the agent's own time: each stimulus lands at its t, not at the frame after it
    for i in range(n):
        now = i * dt
        while pending and pending[0].t <= now + 1e-9:
            s = pending.pop(0)
            agent.step(max(0.0, s.t - clock))
            clock = max(clock, s.t)
            agent.stimulate(s.channel, s.amount)
        agent.step(max(0.0, now - clock))  # the frame shows the state at its own time (it had shown 1/fps on)
        clock = max(clock, now)
        w, side = agent.pose()
        times.append(now)
        levels.append([agent.level[c] for c in CHANNELS])
        weights.append([w.get(c, 0.0) for c in classes])
        smirk.append(side)
        dominant.append(agent.dominant())
        arousal.append(agent.arousal())
    zoom = None
    if script.zoom:
        # The push follows the dominant channel's arousal x level, eased by a first-order lag.
        zoom, z = np.empty(n), 0.0
        for i, v in enumerate(arousal):
            z = follow_zoom(z, script.zoom * v, dt)
            zoom[i] = 1.0 + z
    return Trace(np.array(times), np.array(levels), np.array(weights), list(classes), dominant,
                 list(script.stimuli), agent.report(), zoom, np.array(smirk) if any(smirk) else None)
