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


@pytest.mark.parametrize("text, size", [("128x64", (128, 64)), ("96X16", (96, 16)), (" 72 x 40 ", (72, 40)),
                                        ("0004096x00064", (4096, 64))])
def test_parse_geometry(text, size):
    assert parse_geometry(text) == size


@pytest.mark.parametrize("text", ["128", "x64", "0x64", "128x-1", "axb"])
def test_bad_geometry(text):
    with pytest.raises(EmosketchError, match="size"):
        parse_geometry(text)


@pytest.mark.parametrize("text", ["4097x64", "10000x64", "9" * 5000 + "x1", "1x" + "9" * 5000])
def test_a_size_past_4096_is_refused_however_many_digits(text):
    with pytest.raises(EmosketchError, match="must be 1..4096"):  # 4,300 digits and more: no ValueError from int()
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


@pytest.mark.parametrize("side", [48, 64, 128])
def test_head_oval_clips_the_surroundings_and_closes_the_head(side):
    import cv2

    from emosketch.export.layout import head_oval

    rng = np.random.default_rng(0)
    frames = np.where(rng.random((3, side, side)) < 0.3, 0, 255).astype(np.uint8)  # ink everywhere
    clipped = head_oval(frames, "clip")
    corner = side // 16
    assert (clipped[:, :corner, :corner] == 255).all() and (clipped[:, -corner:, -corner:] == 255).all()
    centre = slice(side // 2 - 4, side // 2 + 4)
    assert np.array_equal(clipped[:, centre, centre], frames[:, centre, centre])  # the face is left as it is
    drawn = head_oval(np.full((2, side, side), 255, np.uint8), "outline")
    assert np.array_equal(drawn[0], drawn[1])  # the same oval in every frame: it never flickers
    ring = (drawn[0] == 0).astype(np.uint8)
    assert ring.sum() > 2 * side  # a ring around the face, not a dot
    # closed: paper inside the ring does not reach the frame's corner (4-connected)
    count, labels = cv2.connectedComponents(1 - ring, connectivity=4)
    assert labels[side // 2, side // 2] != labels[0, 0]
    outlined = head_oval(frames, "outline")
    assert (outlined <= clipped).all() and (outlined[:, :corner, :corner] == 255).all()
    assert head_oval(frames, "none") is frames


def test_oval_is_drawn_through_the_layout_and_checked():
    from emosketch.export.layout import head_oval

    frames = np.full((2, 64, 64), 255, np.uint8)
    frames[:, :6, :] = 0  # hair along the top edge, outside the oval
    layout = Layout(128, 64, "fit", oval="outline")
    assert np.array_equal(apply_layout(frames, layout), apply_layout(head_oval(frames), Layout(128, 64, "fit")))
    assert (apply_layout(frames, layout)[:, :3] == 255).all()
    with pytest.raises(EmosketchError, match="oval 'square'"):
        Layout(oval="square")
    with pytest.raises(EmosketchError, match="oval 'square'"):
        head_oval(frames, "square")


def test_ink_shrink_keeps_a_thin_stroke_dark_where_area_fades_it():
    frame = np.full((128, 128), 255, np.uint8)
    frame[64, 10:118] = 0  # a 1 px line
    area = apply_layout(frame[None], Layout(128, 64, "fit"))[0]
    ink = apply_layout(frame[None], Layout(128, 64, "fit", shrink="ink"))[0]
    assert area.min() >= 100  # averaged with paper: too light for the dither's strokes
    assert (ink[31:34, 40:80].min(axis=0) == 0).all()  # whole and black
    same = np.full((64, 64), 255, np.uint8)
    same[32, 5:60] = 0
    assert np.array_equal(apply_layout(same[None], Layout(128, 64, "fit", shrink="ink")),
                          apply_layout(same[None], Layout(128, 64, "fit")))  # at 1:1 it changes nothing
    with pytest.raises(EmosketchError, match="shrink"):
        Layout(shrink="max")


def test_skeleton_shrink_keeps_a_stroke_one_continuous_line_and_a_dark_area_filled():
    import cv2

    frame = np.full((128, 128), 255, np.uint8)
    cv2.line(frame, (10, 20), (110, 60), 0, 3)  # a 3 px stroke at a slant
    cv2.circle(frame, (64, 100), 10, 0, -1)  # a dark area, an open mouth
    out = apply_layout(frame[None], Layout(128, 64, "fit", shrink="skeleton"))[0]
    area = apply_layout(frame[None], Layout(128, 64, "fit"))[0]
    line = (out < 128)[:40]
    count, _ = cv2.connectedComponents(line.view(np.uint8), connectivity=8)
    assert count == 2  # paper and one unbroken line
    assert line.sum(axis=0).max() <= 2  # one pixel wide (two where the slant steps)
    assert line.sum() < (area < 200)[:40].sum()  # thinner than what area averaging inks
    assert (out[47:53, 61:67] < 110).all()  # the disc stays filled
    same = np.full((64, 64), 255, np.uint8)
    same[32, 5:60] = 0
    assert np.array_equal(apply_layout(same[None], Layout(128, 64, "fit", shrink="skeleton")),
                          apply_layout(same[None], Layout(128, 64, "fit")))  # at 1:1 it changes nothing


def test_source_specks_go_before_the_shrink_and_strokes_stay():
    frame = np.full((128, 128), 255, np.uint8)
    frame[64, 10:118] = 0  # a stroke of 108 px
    frame[20:22, 20:22] = 0  # a speck of 4 px, with a gray fringe
    frame[19, 19:23] = 180
    frame[100:104, 100:106] = 0  # a mark of 24 px
    clean = apply_layout(frame[None], Layout(128, 64, "fit", source_speck=24))[0]
    plain = apply_layout(frame[None], Layout(128, 64, "fit"))[0]
    assert plain[10, 42] < 200 and (clean[8:12, 40:44] == 255).all()  # the speck and its fringe are paper
    assert np.array_equal(clean[28:36], plain[28:36])  # the stroke is untouched
    assert np.array_equal(clean[48:54], plain[48:54])  # so is the mark of 24 px, at the limit
    assert np.array_equal(apply_layout(frame[None], Layout(128, 64, "fit", source_speck=0)), plain[None])
    with pytest.raises(EmosketchError, match="source speck"):
        Layout(source_speck=-1)


def test_per_frame_zooms_are_held_within_the_zoom_range():
    """pack --zoom 20 (in its documented range) failed with "per-frame zooms: expected 12 values between 0.05
    and 20": its idle loops' breath took the zoom past 20. The zoom now stops at the range's ends."""
    from emosketch.export.layout import frame_zooms

    assert frame_zooms(Layout(128, 64, zoom=20.0), 3, [0.9, 1.0, 1.1]).tolist() == [18.0, 20.0, 20.0]
    assert frame_zooms(Layout(128, 64, zoom=0.05), 2, [0.9, 1.1]).tolist() == [0.05, 0.05 * 1.1]
    for bad in ([float("nan"), 1.0], [1.0], [0.0, 1.0]):
        with pytest.raises(EmosketchError, match="per-frame zooms: expected 2 finite values above 0"):
            frame_zooms(Layout(128, 64), 2, bad)


@pytest.mark.parametrize("kwargs, words", [
    ({"width": 0}, "panel size 0x64"), ({"width": -8}, "panel size -8x64"), ({"width": 128.5}, "whole numbers"),
    ({"width": "128"}, "whole numbers"), ({"width": True}, "whole numbers"),
    ({"width": 4096, "height": 4096}, "more than the 1,048,576 a panel may have"),  # each side legal, too many pixels
    ({"width": 100_000, "height": 100_000}, "whole numbers from 1 to 4096"),  # panel.draw had tried to take 9.3 GiB
    ({"focus": (0.2,)}, "a pair"), ({"focus": (0.2, 0.3, 0.9)}, "a pair"), ({"focus": 0.5}, "a pair"),
    ({"focus": (float("nan"), 0.5)}, "fraction"), ({"zoom": None}, "zoom None"), ({"zoom": "2"}, "zoom '2'"),
    ({"zoom": float("nan")}, "zoom nan"), ({"max_stretch": "2"}, "max stretch"),
    ({"box": {"x": 1}}, "expected eye_y, mouth_y and cx"), ({"box": (0, 0, 10, 10)}, "a FaceBox")])
def test_a_layout_that_would_fail_deep_inside_is_refused_when_made(kwargs, words):
    """These had been accepted, then failed inside apply_layout (ZeroDivisionError, IndexError, 'tuple' object
    has no attribute 'd') after the inputs were read, or asked numpy for gigabytes."""
    with pytest.raises(EmosketchError, match=words):
        Layout(**kwargs)


def test_a_layout_keeps_what_is_legal():
    from emosketch.export.framing import FaceBox
    from emosketch.export.panel import PANEL

    assert Layout(np.int64(96), 16, focus=[0.5, 0.4]).focus == (0.5, 0.4)  # a manifest's list, numpy sides
    assert Layout(4096, 64).width == 4096 and Layout(1024, 1024).height == 1024
    assert Layout(box={"eye_y": 20.0, "mouth_y": 40.0, "cx": 32.0}).box == FaceBox(20.0, 40.0, 32.0)
    with pytest.raises(EmosketchError, match="panel size 100000x100000"):
        PANEL.sized(100_000, 100_000)
    with pytest.raises(EmosketchError, match="panel size 0x0"):
        PANEL.sized(0, 0)
