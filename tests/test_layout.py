"""Layout onto the display: fill covers the screen, fit letterboxes, stretch ignores aspect, zoom ramps."""

from __future__ import annotations

import numpy as np
import pytest

from emosketch.errors import EmosketchError
from emosketch.export.layout import Layout, apply_layout, parse_geometry


def square_with_dot() -> np.ndarray:
    img = np.full((1, 100, 100), 255, np.uint8)
    img[0, 45:55, 45:55] = 0  # a dark square in the middle
    return img


@pytest.mark.parametrize("text, size", [("128x64", (128, 64)), ("96X16", (96, 16)), (" 72 x 40 ", (72, 40))])
def test_parse_geometry(text, size):
    assert parse_geometry(text) == size


@pytest.mark.parametrize("text", ["128", "x64", "0x64", "128x-1", "axb"])
def test_bad_geometry(text):
    with pytest.raises(EmosketchError, match="size"):
        parse_geometry(text)


@pytest.mark.parametrize("w, h", [(128, 64), (128, 32), (64, 48), (72, 40), (96, 16), (13, 7)])
@pytest.mark.parametrize("mode", ["fill", "fit", "stretch"])
def test_output_shape(w, h, mode):
    out = apply_layout(square_with_dot(), Layout(w, h, mode))
    assert out.shape == (1, h, w) and out.dtype == np.uint8


def test_fill_crops_without_bars_and_fit_letterboxes():
    img = np.zeros((1, 100, 100), np.uint8)  # all ink: any paper in the output is a bar
    fill = apply_layout(img, Layout(128, 64, "fill"))
    fit = apply_layout(img, Layout(128, 64, "fit"))
    assert fill.max() == 0
    assert (fit[0, :, :20] == 255).all() and (fit[0, :, -20:] == 255).all() and (fit[0, :, 40:88] == 0).all()


def test_stretch_keeps_everything():
    img = square_with_dot()
    out = apply_layout(img, Layout(128, 64, "stretch"))
    ys, xs = np.nonzero(out[0] < 128)
    assert abs(xs.mean() - 63.5) < 2 and abs(ys.mean() - 31.5) < 2
    assert 10 <= xs.max() - xs.min() + 1 <= 15  # 10 px of 100 -> ~13 of 128


def test_focus_moves_the_window():
    img = np.full((1, 100, 100), 255, np.uint8)
    img[0, 5:15, 45:55] = 0  # a mark near the top
    centred = apply_layout(img, Layout(128, 64, "fill", focus=(0.5, 0.5)))
    top = apply_layout(img, Layout(128, 64, "fill", focus=(0.5, 0.0)))
    assert centred.min() == 255  # the mark is cropped away
    assert top.min() == 0


def test_zoom_magnifies_and_ramps():
    img = square_with_dot()
    flat = apply_layout(np.repeat(img, 5, 0), Layout(64, 64, "fill", zoom=1.0))
    ramp = apply_layout(np.repeat(img, 5, 0), Layout(64, 64, "fill", zoom=1.0, zoom_to=4.0))
    widths = [(frame < 128).any(axis=0).sum() for frame in ramp]
    assert widths == sorted(widths) and widths[-1] >= 3.5 * widths[0]
    assert all((f == flat[0]).all() for f in flat)


def test_bad_layout_values():
    with pytest.raises(EmosketchError, match="layout mode"):
        Layout(mode="crop")
    with pytest.raises(EmosketchError, match="focus"):
        Layout(focus=(1.5, 0.5))
    with pytest.raises(EmosketchError, match="zoom"):
        Layout(zoom=0.0)
