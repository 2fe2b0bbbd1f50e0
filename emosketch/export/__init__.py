"""Export: frames to 1-bit bitmap packs a monochrome panel can play (SSD1306, SH1106 or SH1107 OLEDs, or any
Adafruit GFX or XBM bitmap; `tft` makes packs for colour TFTs).

    from emosketch.export import ExportOptions, export
    pack = export(["happy.gif", "sad.gif"], "pack/", ExportOptions(max_bytes=12300), verify=True)
"""

from __future__ import annotations

from pathlib import Path

from ..atomic import check_outside, check_target
from ..errors import EmosketchError, shown
from ..frames import read_frames, split_sequences
from .dither import Dither
from .layout import Layout, parse_geometry
from .pack import ExportOptions, Pack, build_pack, check_fps, check_geometry
from .write import write_pack

__all__ = ["Dither", "ExportOptions", "Layout", "Pack", "build_pack", "export", "parse_geometry",
           "write_pack"]


def export(inputs: list[str | Path], out: str | Path, opts: ExportOptions, fps: float | None = None,
           force: bool = False, verify: bool = False, panel: str = "white", grid: bool = False) -> Pack:
    """Read every input (image, folder, GIF, video or .npz), build one pack and write it to `out`.

    Each input becomes a sequence named after its file; an .npz whose marks name sequences
    becomes one sequence per name.
    """
    if isinstance(inputs, (str, bytes, Path)):  # a string had been read one character at a time
        raise EmosketchError(f"inputs is a list of files or folders, e.g. [{shown(str(inputs))}]; got one path")
    if not isinstance(opts, ExportOptions):
        raise EmosketchError(f"opts must be an ExportOptions, got {type(opts).__name__}")
    if fps is not None:
        check_fps(fps, "--fps")
    check_geometry(opts)
    check_target(Path(out), force)  # before the inputs are read
    check_outside(Path(out), inputs)
    sequences = []
    for item in inputs:
        path = Path(item)
        frames = read_frames(path, fps)
        stem = path.name if path.is_dir() else path.stem
        for name, part in split_sequences(frames, stem):
            sequences.append((name, str(path), part))
    pack = build_pack(sequences, opts)
    write_pack(pack, out, force=force, verify=verify, panel=panel, grid=grid)
    return pack
