"""The built-in demo: synthetic line-drawn faces move from neutral to each emotion and back, and the
frames become a verified OLED pack with its previews. Runs in seconds on a CPU and needs no data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .datasets.synthetic import random_identity, render
from .emotions import EMOTIONS
from .export import Dither, ExportOptions, Layout, build_pack, write_pack
from .frames import Frames, write_frames

DEMO_FPS = 12.0


def smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3 - 2 * t)


def transition_frames(emotion: str, seed: int = 7, size: int = 256, frames: int = 24,
                      hold: int = 6) -> np.ndarray:
    """neutral -> emotion -> neutral, eased, with a hold at the peak: uint8 [frames + hold, size, size]."""
    identity = random_identity(seed=seed)
    half = frames // 2
    ramp = smoothstep(np.linspace(0.0, 1.0, half))
    intensities = np.concatenate([ramp, np.ones(hold), ramp[::-1]])
    return np.stack([render(identity, emotion, float(k), size) for k in intensities])


def demo_sequences(seed: int = 7, size: int = 256) -> Frames:
    """One transition per emotion, marked with its sequence name and emotion weights."""
    parts, marks = [], []
    for emotion in EMOTIONS[1:]:
        seq = transition_frames(emotion, seed, size)
        parts.append(seq)
        marks += [{"sequence": f"neutral_{emotion}", "emotion": emotion}] * len(seq)
    return Frames(np.concatenate(parts), DEMO_FPS, marks)


def run_demo(out: str | Path, progress: Callable[[str], None] = print) -> dict[str, Path]:
    """Write the demo's frames, source GIF and OLED pack into `out`; returns what was written."""
    from .frames import split_sequences

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    progress("rendering synthetic face transitions ...")
    frames = demo_sequences()
    npz = write_frames(out / "frames.npz", frames)
    gif = write_frames(out / "transitions.gif", frames)
    progress("exporting a 128x64 SSD1306 pack ...")
    opts = ExportOptions(layout=Layout(128, 64, "fill", focus=(0.5, 0.56), zoom=1.0),
                         dither=Dither("lineart"), name="demo")
    sequences = [(name, str(npz), part) for name, part in split_sequences(frames, "demo")]
    pack = build_pack(sequences, opts)
    pack_dir = write_pack(pack, out / "pack", force=True, verify=True, panel="yellow-blue", grid=True)
    m = pack.manifest()
    progress(f"pack: {len(pack.payloads)} frames, {m['total_bytes']} bytes "
             f"({m['raw_bytes'] / m['total_bytes']:.1f}:1 vs raw), verified bit for bit")
    return {"frames": npz, "source GIF": gif, "pack": pack_dir, "browser preview": pack_dir / "index.html",
            "C header": pack_dir / "demo.h", "MicroPython module": pack_dir / "demo.py",
            "panel preview": pack_dir / "preview.gif"}
