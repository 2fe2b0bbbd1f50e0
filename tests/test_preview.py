"""Previews: the panel GIF reads back to the pack's pixels; colours, grid and contact sheet."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import make_pack

from emosketch.errors import EmosketchError
from emosketch.export import write_pack
from emosketch.export.preview import panel_colours, read_gif, render_panel


def test_gif_preview_reads_back_to_the_pixels(tmp_path, face_transition):
    pack = make_pack(face_transition)
    write_pack(pack, tmp_path / "p")
    back = read_gif(tmp_path / "p" / "preview.gif")
    # GIF writers merge identical consecutive frames, so compare the distinct frames in order.
    distinct = [pack.bits[0]] + [b for a, b in zip(pack.bits, pack.bits[1:]) if not np.array_equal(a, b)]
    assert np.array_equal(back, np.array(distinct))


def test_panel_colours():
    rows = panel_colours("yellow-blue", 64)
    assert tuple(rows[0]) == (255, 214, 0) and tuple(rows[63]) == (90, 200, 255)
    assert tuple(panel_colours("#102030", 2)[1]) == (16, 32, 48)
    with pytest.raises(EmosketchError, match="panel colour"):
        panel_colours("purple-ish", 8)


def test_render_panel_scale_and_grid():
    bits = np.zeros((1, 2, 3), bool)
    bits[0, 1, 2] = True
    img = render_panel(bits, "white", scale=4, grid=True)
    assert img.shape == (1, 8, 12, 3)
    assert tuple(img[0, 5, 9]) == (255, 255, 255) and tuple(img[0, 7, 9]) == (28, 28, 28)
    assert tuple(img[0, 1, 1]) == (0, 0, 0)


def test_contact_sheet_has_a_row_per_sequence(tmp_path, face_transition):
    pack = make_pack(face_transition)
    write_pack(pack, tmp_path / "p")
    sheet = cv2.imread(str(tmp_path / "p" / "contact_sheet.png"))
    assert sheet.shape[0] == 2 * (18 + 64 * 2 + 6)


def test_a_long_pack_previews_a_bounded_sample_with_its_timing(tmp_path, face_transition):
    from emosketch.export.preview import preview_sample, write_gif

    pack = make_pack(face_transition)  # 12 frames at 12 fps and 12 at 8 fps
    frames, durations = preview_sample(pack, most=10)
    assert frames == [0, 3, 6, 9, 12, 15, 18, 21]  # every 3rd frame of each sequence
    assert sum(durations) == pytest.approx(sum(1000 / s.fps * s.count for s in pack.sequences))
    assert preview_sample(pack, most=24) == (list(range(24)), [1000 / 12] * 12 + [125.0] * 12)
    write_gif(pack, tmp_path / "p.gif", most=10)
    back = read_gif(tmp_path / "p.gif")
    distinct = [pack.bits[0]] + [b for a, b in zip(pack.bits[frames], pack.bits[frames][1:]) if not np.array_equal(a, b)]
    assert np.array_equal(back, np.array(distinct))
