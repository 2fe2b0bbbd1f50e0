"""Sketch methods: lines at edges, clean paper elsewhere, line scale that follows the image size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emosketch.datasets.sketch import METHODS, SketchConfig, remove_specks, sketch, xdog
from emosketch.errors import EmosketchError


def photo(size: int) -> np.ndarray:
    """A smooth 'face': a dark disk with two eyes on a mid-gray background."""
    img = np.full((size, size), 170, np.uint8)
    s = size / 128
    cv2.circle(img, (64 * size // 128, 64 * size // 128), int(40 * s), 70, -1, cv2.LINE_AA)
    for x in (48, 80):
        cv2.circle(img, (int(x * s), int(54 * s)), int(6 * s), 20, -1, cv2.LINE_AA)
    return cv2.GaussianBlur(img, (0, 0), 1.0 * s)


@pytest.mark.parametrize("method", METHODS)
def test_methods_draw_edges_and_leave_flat_areas_blank(method):
    out = sketch(photo(128), SketchConfig(method=method, clahe=0))
    assert out.shape == (128, 128) and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 255}  # binarised by default
    assert out[5:20, 5:20].min() == 255  # flat background stays paper
    yy, xx = np.mgrid[:128, :128]
    ring = (np.abs(np.hypot(yy - 64, xx - 64) - 40) < 4) & (out == 0)  # ink on the disk's outline
    angles = np.degrees(np.arctan2(yy[ring] - 64, xx[ring] - 64))
    covered = len(np.unique((angles // 10).astype(int)))
    assert covered >= 32  # the outline is drawn nearly all the way round (36 sectors)


def test_xdog_line_scale_follows_image_size():
    small = sketch(photo(64), SketchConfig(clahe=0))
    large = sketch(photo(256), SketchConfig(clahe=0))
    ink_small, ink_large = (small < 128).mean(), (large < 128).mean()
    assert ink_small > 0 and abs(ink_large - ink_small) / ink_small < 0.5


def test_xdog_soft_output_without_binarisation():
    out = xdog(photo(128))
    assert 0 < len(np.unique(out)) and out.dtype == np.uint8


def test_remove_specks_keeps_lines():
    img = np.full((40, 40), 255, np.uint8)
    img[5, 5] = 0  # a 1-pixel speck
    img[20, 5:35] = 0  # a 30-pixel line
    out = remove_specks(img, 4)
    assert out[5, 5] == 255 and (out[20, 5:35] == 0).all()


def test_bad_config():
    with pytest.raises(EmosketchError, match="sketch method 'ink'"):
        SketchConfig(method="ink")
