"""The panel drawing (emosketch.export.panel): the whole face at its own pixels, never stretched, strokes
and dark areas kept; the one function every output draws the panel through."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emosketch.errors import EmosketchError
from emosketch.export.dither import Dither, despeckle, to_bits
from emosketch.export.panel import FACE_BAND, PANEL, draw, preset


def face(size: int = 64) -> np.ndarray:
    """A drawn face: a closed head outline, brows, eyes with dark pupils, an open dark mouth."""
    img = np.full((size, size), 255, np.uint8)
    s = size / 64
    cv2.ellipse(img, (int(32 * s), int(33 * s)), (int(22 * s), int(29 * s)), 0, 0, 360, 0, 1)
    for x in (22, 42):
        cv2.line(img, (int((x - 6) * s), int(20 * s)), (int((x + 6) * s), int(18 * s)), 0, 1)  # brows
        cv2.circle(img, (int(x * s), int(26 * s)), int(3 * s), 0, -1)  # pupils
    cv2.ellipse(img, (int(32 * s), int(46 * s)), (int(7 * s), int(5 * s)), 0, 0, 360, 0, -1)  # an open mouth
    return img


def test_the_default_draws_the_whole_face_one_to_one_in_the_middle():
    f = face()
    bits = draw(f[None])[0]
    assert bits.shape == (64, 128) and PANEL.dither.polarity == "paper"  # a lit panel, dark strokes
    ink = ~bits
    assert not ink[:, :32].any() and not ink[:, 96:].any()  # letterboxed, not stretched across
    assert np.array_equal(bits[:, 32:96], to_bits(f[None], PANEL.dither)[0])  # the drawing's own pixels
    assert ink[46, 64] and ink[26, 32 + 22]  # the open mouth and the pupils stay dark areas
    ring = (f == 0) & (cv2.erode((f == 0).view(np.uint8), np.ones((3, 3), np.uint8)) == 0)
    assert ink[:, 32:96][ring].mean() > 0.95  # the outline stays closed and continuous (not thinned away)


def test_a_larger_face_is_brought_down_to_the_height_keeping_its_proportions():
    big = ~draw(face(128)[None])[0]
    cols = np.flatnonzero(big.any(0))
    rows = np.flatnonzero(big.any(1))
    width, height = cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
    assert 0.87 < (width / height) / (45 / 59) < 1.15  # the head's own aspect, within the 1.15 the design allows


def test_zoom_pushes_in_without_stretching():
    z = ~draw(face()[None], PANEL, [1.25])[0]
    cols = np.flatnonzero(z.any(0))
    assert 52 <= cols[-1] - cols[0] + 1 <= 60  # the 45 px head 1.25x wide, not 2x


def test_the_face_band_is_kept_for_the_smallest_packs():
    assert preset("face-band") is FACE_BAND and preset("head") is PANEL
    with pytest.raises(EmosketchError, match="expected one of"):
        preset("nope")
    band = draw(face()[None], FACE_BAND)[0]
    assert band[:, :20].any() or band[:, 108:].any()  # the band is stretched across the panel


def test_despeckle_drops_small_specks_only():
    ink = np.zeros((1, 20, 20), bool)
    ink[0, 2, 2] = True  # a 1 px speck
    ink[0, 10, 3:12] = True  # a 9 px stroke
    out = despeckle(ink, 4)
    assert not out[0, 2, 2] and out[0, 10, 3:12].all()
    d = Dither("lineart", min_stroke=4)
    gray = np.where(ink, 0, 255).astype(np.uint8)
    assert np.array_equal(to_bits(gray, d), out)
    with pytest.raises(EmosketchError, match="min stroke"):
        Dither(min_stroke=100)


def test_draw_refuses_what_it_cannot_draw():
    """A bool frame had failed inside OpenCV, a float one was drawn as near-black ink, and a panel named as a
    string had no attribute 'layout'."""
    from emosketch.export.panel import PANEL, draw

    ok = np.full((1, 64, 64), 255, np.uint8)
    assert draw(ok, PANEL).shape == (1, 64, 128)
    for bad in (ok.astype(bool), ok / 255.0, ok[0], np.zeros((0, 64, 64), np.uint8), [[[255]]]):
        with pytest.raises(EmosketchError, match=r"frames must be uint8 \[T, H, W\]"):
            draw(bad, PANEL)
    with pytest.raises(EmosketchError, match="panel must be a Panel"):
        draw(ok, "head")
