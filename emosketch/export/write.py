"""Writing a pack: every output format into one folder, atomically, verified bit for bit if asked.
The writers (manifest, index, c_header, micropython, preview, html, players) import only the pack
model (pack.py); this module is the one that imports them all."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import atomic_dir
from ..errors import EmosketchError
from . import c_header, html, index, manifest, micropython, players, preview
from .pack import Pack


def write_pack(pack: Pack, out: str | Path, force: bool = False, verify: bool = False,
               panel: str = "white", grid: bool = False, scale: int = 4) -> Path:
    """Write every format of the pack into the folder `out`, atomically.

    With verify=True the written manifest.json + frames.bin are decoded and compared bit for bit
    with pack.bits, and index.bin + frames.bin are read by the device player (players.device_check), before
    the folder is renamed into place; a mismatch leaves nothing behind.
    """
    c_header.check(pack)
    with atomic_dir(out, overwrite=force) as tmp:
        manifest.write(pack, tmp)
        index.write(pack, tmp)
        c_header.write(pack, tmp)
        players.write(tmp)
        micropython.write(pack, tmp)
        preview.write(pack, tmp, panel=panel, grid=grid, scale=scale)
        html.write(pack, tmp, panel=panel)
        if verify:
            decoded, _ = manifest.read(tmp)
            if decoded.shape != pack.bits.shape or not np.array_equal(decoded, pack.bits):
                bad = int(np.flatnonzero((decoded != pack.bits).reshape(len(decoded), -1).any(1))[0]) \
                    if decoded.shape == pack.bits.shape else -1
                raise EmosketchError(f"{out}: verification failed: frame {bad} does not decode to what "
                                     "was encoded (pack not written)")
            try:
                players.device_check(tmp)
            except ValueError as exc:
                raise EmosketchError(f"{out}: verification failed: the device player refuses it: {exc} "
                                     "(pack not written)") from None
    return Path(out)
