"""Real photos from ../shared/data/ferplus through the whole exporter (skips when that folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FERPLUS

from emosketch.export import Dither, ExportOptions, Layout, build_pack, manifest, write_pack
from emosketch.frames import Frames, read_image

pytestmark = pytest.mark.skipif(not (FERPLUS / "FER2013Valid").is_dir(),
                                reason=f"real FER+ faces not found at {FERPLUS}")


@pytest.mark.parametrize("mode", ["floyd-steinberg", "bluenoise", "lineart"])
def test_real_faces_round_trip_in_every_format(tmp_path, any_format, mode):
    files = sorted((FERPLUS / "FER2013Valid").glob("*.png"))[:16]
    faces = np.stack([read_image(f) for f in files])  # 48x48 gray photos
    assert faces.shape == (16, 48, 48)
    opts = ExportOptions(layout=Layout(128, 64, "fill", focus=(0.5, 0.45)), dither=Dither(mode),
                         pixel_format=any_format)
    pack = build_pack([("ferplus", str(files[0].parent), Frames(faces, 4.0))], opts)
    write_pack(pack, tmp_path / "p", verify=True)
    bits, m = manifest.read(tmp_path / "p")
    assert np.array_equal(bits, pack.bits) and bits.shape == (16, 64, 128)
    assert 0.05 < bits.mean() < 0.95  # a photo dithers to a real picture, not a blank screen
