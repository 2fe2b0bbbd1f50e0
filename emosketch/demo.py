"""The built-in demo: synthetic line-drawn faces get an idle loop per emotion and a transition for
every ordered pair, and the frames become a verified OLED pack that the device players can run.
Runs in seconds on a CPU and needs no data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from .datasets.synthetic import expression, random_identity, render_expression
from .export import Dither, ExportOptions, Layout, build_pack, write_pack
from .frames import Frames, split_sequences, write_frames

DEMO_FPS = 12.0


def smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3 - 2 * t)


DEMO_EMOTIONS = ("neutral", "happy", "sad", "surprise", "anger")
BLINK = (1.0, 1.0, 1.0, 1.0, 0.6, 0.15, 0.6, 1.0)  # eyelid opening over an idle loop


def idle_frames(emotion: str, seed: int = 7, size: int = 256) -> np.ndarray:
    """An emotion's idle loop: the full expression with one blink, uint8 [8, size, size]."""
    identity = random_identity(seed=seed)
    base = expression(emotion)
    return np.stack([render_expression(identity, replace(base, eye_open=base.eye_open * k), size) for k in BLINK])


def transition_frames(a: str, b: str, seed: int = 7, size: int = 256, frames: int = 10) -> np.ndarray:
    """From emotion a to emotion b with smoothstep easing, uint8 [frames, size, size]."""
    identity = random_identity(seed=seed)
    return np.stack([render_expression(identity, expression({a: 1.0 - float(t), b: float(t)}), size)
                     for t in smoothstep(np.linspace(0.0, 1.0, frames))])


def demo_sequences(seed: int = 7, size: int = 256, emotions: tuple[str, ...] = DEMO_EMOTIONS) -> Frames:
    """An idle loop per emotion and a transition for every ordered pair, marked with sequence names
    the device players understand (idle_<e>, <a>_to_<b>)."""
    parts, marks = [], []
    for e in emotions:
        seq = idle_frames(e, seed, size)
        parts.append(seq)
        marks += [{"sequence": f"idle_{e}", "emotion": e}] * len(seq)
    for a in emotions:
        for b in emotions:
            if a != b:
                seq = transition_frames(a, b, seed, size)
                parts.append(seq)
                marks += [{"sequence": f"{a}_to_{b}", "emotion": {a: 0.0, b: 1.0}}] * len(seq)
    return Frames(np.concatenate(parts), DEMO_FPS, marks)


def run_demo(out: str | Path, progress: Callable[[str], None] = print) -> dict[str, Path]:
    """Write the demo's frames, source GIF and OLED pack into `out`; returns what was written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress("rendering synthetic face idle loops and transitions ...")
    frames = demo_sequences()
    npz = write_frames(out / "frames.npz", frames)
    gif = write_frames(out / "transitions.gif", frames)
    progress("exporting a 128x64 SSD1306 pack ...")
    opts = ExportOptions(layout=Layout(128, 64, "fill", focus=(0.5, 0.56), zoom=1.0),
                         dither=Dither("lineart"), name="pack")
    sequences = [(name, str(npz), part) for name, part in split_sequences(frames, "demo")]
    pack = build_pack(sequences, opts)
    pack_dir = write_pack(pack, out / "pack", force=True, verify=True, panel="yellow-blue", grid=True)
    m = pack.manifest()
    progress(f"pack: {len(pack.payloads)} frames, {m['total_bytes']} bytes "
             f"({m['raw_bytes'] / m['total_bytes']:.1f}:1 vs raw), verified bit for bit")
    return {"frames": npz, "source GIF": gif, "pack": pack_dir, "browser preview": pack_dir / "index.html",
            "C header (with emosketch_player.c/.h)": pack_dir / "pack.h",
            "MicroPython player (with frames.bin, index.bin)": pack_dir / "emosketch_player.py",
            "panel preview": pack_dir / "preview.gif"}
