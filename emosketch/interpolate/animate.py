"""The jobs behind `emosketch interpolate`, `emosketch agent` and `emosketch pack`: a checkpoint
and a face in, videos, frame files, plots and OLED packs out."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..emotions import canonical, pick_emotions
from ..errors import EmosketchError
from ..export import ExportOptions
from ..frames import Frames
from ..progress import stage
from .agent import load_script, run_script
from .pack import INTENSITY, ZOOM_BREATH, emotion_pack, pack_frames, sequences
from .plot import write_agent_plot
from .render import Renderer, Source, write_outputs
from .timeline import load_timeline, transition


def open_renderer(checkpoint: str | Path, device: str = "auto", batch: int = 32) -> Renderer:
    """The renderer for a generator file: a StarGAN checkpoint that redraws a given face, or a
    StyleGAN2 snapshot or converted file that draws the face of a seed."""
    from ..gan.stylegan2 import looks_like_stylegan2

    if looks_like_stylegan2(checkpoint):
        from .stylegan import StyleGanRenderer

        return StyleGanRenderer(checkpoint, device, batch)
    return Renderer(checkpoint, device, batch)


@contextmanager
def drawing(r: Renderer, total: int, show: bool):
    """A progress bar over the `total` frames `r` draws inside the block (none when show is False)."""
    from ..progress import progress

    bar = progress(total, "drawing", "frame", enabled=show, leave=False)
    r.drawn = bar.update
    try:
        yield
    finally:
        r.drawn = None
        bar.close()


@dataclass(frozen=True)
class FaceSource:
    """Where the face to redraw comes from: an image file (a photo, cropped and sketched as the
    model's data was, or a sketch), or test face number `index` of a sketch dataset."""

    image: str | Path | None = None
    data: str | Path | None = None
    index: int = 0  # which test face of `data`
    kind: str = "auto"  # how to read `image`: auto, photo or sketch

    def load(self, renderer, seed: int = 0) -> Source:
        """The face, through the renderer's model (`seed` picks it for generators that draw their own)."""
        return renderer.source(self.image, self.data, self.index, self.kind, seed=seed)


@dataclass(frozen=True)
class Styles:
    seed: int = 0  # latent seed: which variant of each emotion's style
    psi: float = 1.0  # truncation toward each emotion's mean style (0 = the mean, 1 = none)


@dataclass(frozen=True)
class TransitionSpec:
    """`emosketch interpolate`: a timeline file, or a move from one emotion to another."""

    outputs: tuple[str | Path, ...]  # .gif, .mp4, .npz or folders
    timeline: str | Path | None = None  # a YAML timeline (or start and end)
    start: str | None = None  # the emotion the move starts from
    end: str | None = None  # ... and ends on
    frames: int = 31  # frames of the move, both ends included
    hold: int = 6  # frames to hold the end emotion
    easing: str = "sigmoid"
    fps: float | None = None  # default: the timeline's, else 12
    mode: str = "lerp"  # how style codes are interpolated: lerp or slerp
    space: str = "style"  # style: between codes at one latent; z: also slerp the latent to seed_to
    seed_to: int | None = None
    intensity: float = 1.0  # strength of both emotions (> 1 exaggerates)
    side: bool = False  # GIF/MP4 show source | sketch | OLED preview


@dataclass(frozen=True)
class AgentSpec:
    """`emosketch agent`: a stimulus script played through the agent."""

    script: str | Path
    outputs: tuple[str | Path, ...] = ()
    plot: str | Path | None = None  # a PNG of the channels over time
    side: bool = False


@dataclass(frozen=True)
class PackSpec:
    """`emosketch pack`: an idle loop per emotion and a transition for every ordered pair."""

    out: str | Path
    emotions: tuple[str, ...] | None = None  # default: all of the model's
    transition_frames: int = 10
    idle_frames: int = 12
    easing: str = "cosine"
    fps: float = 12.0
    opts: ExportOptions | None = None  # layout, dither, pixel format, budget (default: the OLED preset)
    force: bool = False  # replace the pack folder
    panel: str = "white"  # preview colour
    frames_out: str | Path | None = None  # also keep the gray frames
    zoom_breath: float = ZOOM_BREATH  # idle loops breathe in zoom by +- this
    intensity: float = INTENSITY  # every emotion's strength (> 1 exaggerates)
    tft: Any = None  # export.tft.TftOptions: a colour TFT pack instead of an OLED pack


STILL = ("every frame is the same picture, though the emotions asked for change: this generator draws no "
         "emotion yet (a short training run's does not); train it longer, or leave --checkpoint out for the "
         "shipped model")


def still(pixels: np.ndarray, poses: np.ndarray) -> bool:
    """Whether frames asked to show different emotions all came out the same picture."""
    asked = np.asarray(poses)
    return len(pixels) > 1 and bool(np.ptp(asked, axis=0).max() > 0.1) and bool((pixels == pixels[0]).all())


@dataclass
class VideoResult:
    frames: int
    fps: float
    written: list[str]
    face: str  # how the face was found
    notes: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    stimuli: int = 0  # agent: stimuli in the script
    dominant_changes: int = 0  # agent: changes of the dominant channel


@dataclass
class PackResult:
    pack: str  # the folder
    emotions: list[str]
    idle_loops: int
    transitions: int
    frames: int
    bytes: int
    raw_bytes: int
    face: str
    notes: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    model_bytes: int = 0  # of `bytes`, the context codec's model (0 for the byte codecs and TFT packs)


def transition_video(checkpoint: str | Path, spec: TransitionSpec, *, face: FaceSource, styles: Styles = Styles(),
                     device: str = "auto", batch: int = 32, show_progress: bool = False) -> VideoResult:
    """Frames along a timeline file, or from one emotion to another, written to every output."""
    if not spec.outputs:
        raise EmosketchError("give at least one output (.gif, .mp4, .npz or a folder)")
    r = open_renderer(checkpoint, device, batch)
    src = face.load(r, styles.seed)
    if spec.timeline is not None:
        if spec.start or spec.end:
            raise EmosketchError("give --timeline or --from/--to, not both")
        plan = load_timeline(spec.timeline, r.classes, spec.fps)
    else:
        if not (spec.start and spec.end):
            raise EmosketchError("give --timeline FILE, or --from EMOTION and --to EMOTION")
        plan = transition(r.classes, canonical(spec.start), canonical(spec.end), spec.frames, spec.easing,
                          spec.fps or 12.0, spec.hold, spec.intensity)
    codes = r.plan_codes(plan, styles.seed, styles.psi, spec.mode, spec.space, spec.seed_to)
    with drawing(r, len(codes), show_progress):
        pixels = r.render(src, codes)
    written = write_outputs(Frames(pixels, plan.fps, plan.marks()), list(spec.outputs),
                            original=src.original if spec.side else None)
    notes = [STILL] if still(pixels, plan.poses()) else []
    return VideoResult(len(pixels), plan.fps, [str(p) for p in written], src.how, notes, classes=list(r.classes))


def agent_video(checkpoint: str | Path, spec: AgentSpec, *, face: FaceSource, styles: Styles = Styles(),
                device: str = "auto", batch: int = 32, show_progress: bool = False) -> VideoResult:
    """An agent's stimulus script played through the generator: frames, and a plot of the channels."""
    if not spec.outputs and spec.plot is None:
        raise EmosketchError("give at least one output (.gif, .mp4, .npz, a folder) or --plot")
    if spec.plot is not None and Path(spec.plot).resolve() in {Path(p).resolve() for p in spec.outputs}:
        raise EmosketchError(f"{spec.plot} is both the plot and an output; the plot would be written over it")
    scr = load_script(spec.script)
    r = open_renderer(checkpoint, device, batch)
    src = face.load(r, styles.seed)
    trace = run_script(scr, r.classes)
    sided = r.smirk_sides(trace.weights, trace.smirk)  # a smirking frame is drawn twice
    with drawing(r, len(trace.weights) + (0 if sided is None else len(sided[1])), show_progress):
        pixels = r.render_weights(src, trace.weights, trace.smirk, styles.seed, styles.psi)
    written = write_outputs(Frames(pixels, scr.fps, trace.marks()), list(spec.outputs),
                            original=src.original if spec.side else None)
    if spec.plot is not None:
        written.append(write_agent_plot(spec.plot, trace, pixels))
    dominant = [d for d in trace.dominant if d]
    notes = list(trace.notes) + ([STILL] if still(pixels, trace.weights) else [])
    return VideoResult(len(pixels), scr.fps, [str(p) for p in written], src.how, notes, list(r.classes),
                       len(scr.stimuli), sum(1 for a, b in zip(dominant, dominant[1:]) if a != b))


def face_pack(checkpoint: str | Path, spec: PackSpec, *, face: FaceSource, styles: Styles = Styles(),
              device: str = "auto", batch: int = 32, show_progress: bool = False) -> PackResult:
    """An OLED pack: an idle loop per emotion and a transition for every ordered pair; with spec.tft
    (export.tft.TftOptions), a colour TFT pack of the same sequences instead."""
    from ..atomic import check_target

    check_target(Path(spec.out), spec.force)  # before the drawing: an --out that exists had cost 10-30 s first
    r = open_renderer(checkpoint, device, batch)
    wanted = pick_emotions(list(spec.emotions) if spec.emotions else None, r.classes)
    src = face.load(r, styles.seed)
    n = len(wanted)
    with drawing(r, pack_frames(n, spec.transition_frames, spec.idle_frames), show_progress):
        frames = sequences(r, src, wanted, spec.transition_frames, spec.idle_frames, spec.easing, spec.fps,
                           styles.seed, styles.psi, zoom_breath=spec.zoom_breath, intensity=spec.intensity)
    stage(f"packing {len(frames)} frames: drawn for the panel, coded, written and verified", show_progress)
    if spec.tft is not None:
        from ..export.framing import steady_box
        from ..export.tft import build_tft_pack, write_tft_pack
        from ..frames import split_sequences

        tpack = build_tft_pack([(name, "generator", part) for name, part in split_sequences(frames, "frames")],
                               spec.tft, box=steady_box(src.sketch[None]))
        folder = write_tft_pack(tpack, spec.out, force=spec.force)
        written = _frames_out(frames, spec)
        return PackResult(str(folder), wanted, n, n * (n - 1), len(tpack.payloads), len(tpack.data), tpack.raw_bytes,
                          src.how, written=written)
    pack, folder = emotion_pack(frames, spec.out, spec.opts, spec.force, spec.panel, src)
    written = _frames_out(frames, spec)
    m = pack.manifest()
    return PackResult(str(folder), wanted, n, n * (n - 1), len(pack.payloads), m["total_bytes"], m["raw_bytes"],
                      src.how, list(pack.notes), written, m.get("model_bytes", 0))


def _frames_out(frames: Frames, spec: PackSpec) -> list[str]:
    """--frames-out, written once the pack is (a pack refused for its budget left the frames behind)."""
    return [str(p) for p in write_outputs(frames, [spec.frames_out])] if spec.frames_out is not None else []


def crossfade(first: np.ndarray, last: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The plain baseline a transition should beat: pixels blended from one end frame to the other."""
    w = np.asarray(t, np.float32)[:, None, None]
    return ((1 - w) * first[None].astype(np.float32) + w * last[None].astype(np.float32)).round().astype(np.uint8)
