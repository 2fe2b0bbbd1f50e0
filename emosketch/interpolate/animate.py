"""The jobs behind `emosketch interpolate`, `emosketch agent` and `emosketch pack`: a checkpoint
and a face in, videos, frame files, plots and OLED packs out."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..emotions import canonical, pick_emotions
from ..errors import EmosketchError
from ..export import ExportOptions
from ..frames import Frames
from .agent import load_script, run_script
from .pack import ZOOM_BREATH, emotion_pack, sequences
from .plot import write_agent_plot
from .render import Renderer, write_outputs
from .timeline import load_timeline, transition


def open_renderer(checkpoint: str | Path, device: str = "auto", batch: int = 32) -> Renderer:
    """The renderer for a generator file: a StarGAN checkpoint that redraws a given face, or a
    StyleGAN2 snapshot or converted file that draws the face of a seed."""
    from ..gan.stylegan2 import looks_like_stylegan2

    if looks_like_stylegan2(checkpoint):
        from .stylegan import StyleGanRenderer

        return StyleGanRenderer(checkpoint, device, batch)
    return Renderer(checkpoint, device, batch)


def transition_video(checkpoint: str | Path, outputs: list[str | Path], image=None, data=None, index: int = 0,
                     kind: str = "auto", timeline: str | Path | None = None, start: str | None = None,
                     end: str | None = None, frames: int = 31, hold: int = 6, easing: str = "sigmoid",
                     fps: float | None = None, mode: str = "lerp", space: str = "style", seed: int = 0,
                     seed_to: int | None = None, psi: float = 1.0, intensity: float = 1.0,
                     side: bool = False, device: str = "auto", batch: int = 32) -> dict:
    """Frames along a timeline file, or from one emotion to another, written to every output."""
    if not outputs:
        raise EmosketchError("give at least one output (.gif, .mp4, .npz or a folder)")
    r = open_renderer(checkpoint, device, batch)
    face = r.source(image, data, index, kind, seed=seed)
    if timeline is not None:
        if start or end:
            raise EmosketchError("give --timeline or --from/--to, not both")
        plan = load_timeline(timeline, r.classes, fps)
    else:
        if not (start and end):
            raise EmosketchError("give --timeline FILE, or --from EMOTION and --to EMOTION")
        plan = transition(r.classes, canonical(start), canonical(end), frames, easing, fps or 12.0, hold, intensity)
    codes = r.plan_codes(plan, seed, psi, mode, space, seed_to)
    pixels = r.render(face, codes)
    result = Frames(pixels, plan.fps, plan.marks())
    written = write_outputs(result, outputs, original=face.original if side else None)
    return {"frames": len(pixels), "fps": plan.fps, "written": [str(p) for p in written], "face": face.how,
            "classes": r.classes}


def agent_video(checkpoint: str | Path, script: str | Path, outputs: list[str | Path], image=None, data=None,
                index: int = 0, kind: str = "auto", plot: str | Path | None = None, seed: int = 0,
                psi: float = 1.0, side: bool = False, device: str = "auto", batch: int = 32) -> dict:
    """An agent's stimulus script played through the generator: frames, and a plot of the channels."""
    if not outputs and plot is None:
        raise EmosketchError("give at least one output (.gif, .mp4, .npz, a folder) or --plot")
    scr = load_script(script)
    r = open_renderer(checkpoint, device, batch)
    face = r.source(image, data, index, kind, seed=seed)
    trace = run_script(scr, r.classes)
    pixels = r.render(face, r.weight_codes(trace.weights, seed, psi))
    result = Frames(pixels, scr.fps, trace.marks())
    written = write_outputs(result, outputs, original=face.original if side else None)
    if plot is not None:
        written.append(write_agent_plot(plot, trace, pixels))
    dominant = [d for d in trace.dominant if d]
    return {"frames": len(pixels), "fps": scr.fps, "written": [str(p) for p in written], "face": face.how,
            "notes": trace.notes, "stimuli": len(scr.stimuli),
            "dominant_changes": sum(1 for a, b in zip(dominant, dominant[1:]) if a != b)}


def face_pack(checkpoint: str | Path, out: str | Path, image=None, data=None, index: int = 0, kind: str = "auto",
              emotions: list[str] | None = None, transition_frames: int = 10, idle_frames: int = 12,
              easing: str = "cosine", fps: float = 12.0, seed: int = 0, psi: float = 1.0,
              opts: ExportOptions | None = None, force: bool = False, panel: str = "white",
              device: str = "auto", batch: int = 32, frames_out: str | Path | None = None,
              zoom_breath: float = ZOOM_BREATH, tft=None) -> dict:
    """An OLED pack: an idle loop per emotion and a transition for every ordered pair; with `tft`
    (export.tft.TftOptions), a colour TFT pack of the same sequences instead."""
    r = open_renderer(checkpoint, device, batch)
    wanted = pick_emotions(emotions, r.classes)
    face = r.source(image, data, index, kind, seed=seed)
    frames = sequences(r, face, wanted, transition_frames, idle_frames, easing, fps, seed, psi,
                       zoom_breath=zoom_breath)
    if frames_out is not None:
        write_outputs(frames, [frames_out])
    if tft is not None:
        from ..export.framing import steady_box
        from ..export.tft import build_tft_pack, write_tft_pack
        from ..frames import split_sequences

        tpack = build_tft_pack([(name, "generator", part) for name, part in split_sequences(frames, "frames")], tft,
                               box=steady_box(face.sketch[None]))
        folder = write_tft_pack(tpack, out, force=force)
        n = len(wanted)
        return {"pack": str(folder), "emotions": wanted, "idle_loops": n, "transitions": n * (n - 1),
                "frames": len(tpack.payloads), "bytes": len(tpack.data), "raw_bytes": tpack.raw_bytes,
                "face": face.how, "notes": []}
    pack, folder = emotion_pack(frames, out, opts, force, panel, face)
    m = pack.manifest()
    n = len(wanted)
    return {"pack": str(folder), "emotions": wanted, "idle_loops": n, "transitions": n * (n - 1),
            "frames": len(pack.payloads), "bytes": m["total_bytes"], "raw_bytes": m["raw_bytes"],
            "face": face.how, "notes": list(pack.notes)}


def crossfade(first: np.ndarray, last: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The plain baseline a transition should beat: pixels blended from one end frame to the other."""
    w = np.asarray(t, np.float32)[:, None, None]
    return ((1 - w) * first[None].astype(np.float32) + w * last[None].astype(np.float32)).round().astype(np.uint8)
