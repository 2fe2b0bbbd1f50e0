"""Face framing: the face locator, steady boxes, full-panel windows for every geometry, thin strokes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emosketch.datasets.synthetic import random_identity, render
from emosketch.errors import EmosketchError
from emosketch.export import Dither, ExportOptions, Layout, build_pack
from emosketch.export.dither import dither, narrow, thin, thin_stable, to_bits, widen
from emosketch.export.framing import FRAMINGS, FaceBox, face_window, locate_face, steady_box
from emosketch.export.layout import apply_layout, with_face
from emosketch.frames import Frames

EMOTIONS = ["neutral", "happy", "sad", "surprise", "fear", "anger"]


def faces(n: int, size: int = 64, seed: int = 0):
    rng = np.random.default_rng(seed)
    for k in range(n):
        ident = random_identity(rng=rng)
        yield ident, render(ident, EMOTIONS[k % 6], size=size)


def test_locate_face_finds_the_eyes_and_mouth_of_synthetic_faces():
    err = np.array([(b.eye_y - i.eye_y * 64, b.mouth_y - i.mouth_y * 64, b.cx - 32)
                    for i, img in faces(36) for b in [locate_face(img)]])
    assert np.median(np.abs(err[:, 0])) <= 3.0
    assert np.median(np.abs(err[:, 1])) <= 3.0
    assert np.abs(err[:, 2]).max() <= 2.0
    # the box follows the face: a face drawn 5 px lower is found 5 px lower
    _, img = next(faces(1, seed=4))
    low = np.full_like(img, 255)
    low[5:] = img[:-5]
    a, b = locate_face(img), locate_face(low)
    assert abs((b.eye_y - a.eye_y) - 5) <= 1 and abs((b.mouth_y - a.mouth_y) - 5) <= 1


def test_a_blank_frame_gets_an_aligned_crop_s_proportions_and_tiny_frames_are_refused():
    box = locate_face(np.full((64, 64), 255, np.uint8))
    assert (box.eye_y, box.mouth_y, box.cx) == pytest.approx((0.38 * 64, 0.78 * 64, 32))
    assert apply_layout(np.full((2, 64, 64), 255, np.uint8), Layout(128, 64, "face")).min() == 255
    with pytest.raises(EmosketchError, match="at least 8x8"):
        locate_face(np.zeros((4, 64), np.uint8))


def test_the_box_is_steady_when_the_face_does_not_move():
    ident, _ = next(faces(1, seed=1))
    img = render(ident, "happy", size=64)
    # Two runs of the same still face under different pixel noise: the boxes agree within a pixel.
    boxes = []
    for seed in (0, 1):
        rng = np.random.default_rng(seed)
        noisy = np.stack([np.clip(img.astype(int) + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
                          for _ in range(15)])
        b = steady_box(noisy)
        boxes.append([b.eye_y, b.mouth_y, b.cx])
    assert np.abs(np.subtract(*boxes)).max() < 1.0
    # A sequence whose expression changes gets one box for all its frames: the window never moves.
    seq = np.stack([render(ident, {"neutral": 1 - t, "surprise": t}, size=64) for t in np.linspace(0, 1, 9)])
    layout = Layout(128, 64, "face", box=steady_box(seq))
    still = apply_layout(np.repeat(seq[:1], 3, 0), layout)
    assert (still == still[0]).all()


@pytest.mark.parametrize("size", [(128, 64), (128, 32), (72, 40), (64, 48), (96, 16), (128, 128), (240, 240),
                                  (135, 240), (320, 240)])
def test_every_geometry_gets_a_face_that_fills_its_panel(size):
    w, h = size
    _, img = next(faces(1, seed=2))
    bits = to_bits(apply_layout(img[None], Layout(w, h, "face")), Dither("lineart"))[0]  # framing auto
    rows, cols = np.flatnonzero(bits.any(1)), np.flatnonzero(bits.any(0))
    assert (rows[-1] - rows[0] + 1) >= 0.8 * h and (cols[-1] - cols[0] + 1) >= 0.75 * w
    # today's fit leaves most of a wide panel dark
    if w >= 2 * h:
        fit = to_bits(apply_layout(img[None], Layout(w, h, "fit")), Dither("lineart"))[0]
        assert np.ptp(np.flatnonzero(fit.any(0))) < 0.6 * w


def test_auto_framing_follows_the_panel_shape():
    from emosketch.export.framing import auto_framing

    assert [auto_framing(w, h) for w, h in [(128, 64), (72, 40), (64, 48), (128, 128), (135, 240), (128, 32),
                                             (96, 16)]] == ["brows-chin"] * 5 + ["brows-mouth", "eyes"]
    box = FaceBox(24.0, 50.0, 32.0)
    assert face_window(box, "auto", 96, 16) == face_window(box, "eyes", 96, 16)


def test_face_window_limits_the_stretch_and_zooms_in_around_the_band():
    box = FaceBox(24.0, 50.0, 32.0)
    for framing in FRAMINGS:
        x0, y0, ww, wh = face_window(box, framing, 128, 64, max_stretch=1.5)
        assert (128 / ww) / (64 / wh) <= 1.5 + 1e-6
    a = face_window(box, "brows-chin", 128, 64, zoom=1.0)
    b = face_window(box, "brows-chin", 128, 64, zoom=2.0)
    assert b[2] == pytest.approx(a[2] / 2) and b[0] + b[2] / 2 == pytest.approx(a[0] + a[2] / 2)
    with pytest.raises(EmosketchError, match="framing"):
        Layout(128, 64, "face", framing="nose")


def test_thin_makes_every_stroke_one_pixel_wide_and_keeps_it_whole():
    ink = np.zeros((1, 20, 40), bool)
    ink[0, 8:11, 5:35] = True  # a 3 px thick horizontal stroke
    out = thin(ink)[0]
    cols = out.any(0)
    assert out.sum(0).max() == 1  # one pixel per column
    assert np.flatnonzero(cols).min() <= 7 and np.flatnonzero(cols).max() >= 32  # nearly its whole length
    assert not thin(np.zeros((2, 5, 5), bool)).any()


def test_a_two_pixel_line_redraws_the_skeleton_with_a_2x2_pen():
    ident = random_identity(seed=2)
    gray = apply_layout(np.stack([render(ident, "sad", size=64)]), Layout(128, 64, "face"))
    one, two = to_bits(gray, Dither("lineart", thin=True)), to_bits(gray, Dither("lineart", thin=True, line=2))
    assert np.array_equal(two, widen(one)) and (two & one).sum() == one.sum()  # the skeleton is kept
    pen = one.copy()  # every ink pixel is a skeleton pixel or its right, lower or lower-right neighbour
    pen[:, :, 1:] |= one[:, :, :-1]
    pen[:, 1:, :] |= one[:, :-1, :]
    pen[:, 1:, 1:] |= one[:, :-1, :-1]
    assert np.array_equal(two, pen)
    bar = np.zeros((1, 12, 30), bool)
    bar[0, 5, 3:27] = True  # a one-pixel line becomes exactly two rows
    assert widen(bar)[0].sum(0)[4:27].tolist() == [2] * 23 and _pieces(widen(one)[0]) <= _pieces(one[0])
    with pytest.raises(EmosketchError, match="line width 3"):
        Dither("lineart", thin=True, line=3)


def test_narrow_gives_back_the_skeleton_a_pen_drew_even_at_the_edges():
    rng = np.random.default_rng(3)
    skeleton = rng.random((3, 16, 24)) < 0.08
    skeleton[:, :, -1] = skeleton[:, -1, :] = True  # strokes along the right and bottom edges
    drawn = widen(skeleton)
    back = narrow(drawn)
    assert back is not None and np.array_equal(widen(back), drawn) and not (skeleton & ~back).any()
    assert narrow(back) is None  # a 1 px line is no pen's drawing
    lone = np.zeros((1, 8, 8), bool)
    lone[0, 3, 3] = True
    assert narrow(lone) is None and np.array_equal(narrow(widen(lone))[0], lone[0])
    assert narrow(np.zeros((2, 4, 4), bool)) is not None
    face = np.stack([render(random_identity(seed=1), "happy", size=64)] * 2)
    for polarity, pen in (("ink", 2), ("paper", 1)):  # lit paper is no pen's drawing: stored as it is
        d = Dither("lineart", thin=True, line=2, polarity=polarity)
        pack = build_pack([("idle_happy", "t", Frames(face, 12))], ExportOptions(layout=Layout(128, 64, "face"), dither=d))
        assert pack.pen == pen and np.array_equal(pack.bits, to_bits(apply_layout(face, with_face(Layout(128, 64, "face"), face)), d))


def _pieces(b: np.ndarray) -> int:
    return cv2.connectedComponents(b.astype(np.uint8), connectivity=8)[0] - 1


@pytest.mark.parametrize("width", [3, 5])
def test_stable_thinning_grows_with_a_growing_stroke(width):
    ink = np.zeros((8, 20, 60), bool)
    for i in range(8):
        ink[i, 8:8 + width, 5:25 + 4 * i] = True  # a thick bar that grows 4 px a frame
    out, plain = thin_stable(ink), thin(ink)
    for i in range(8):
        assert _pieces(out[i]) == 1
        assert np.flatnonzero(out[i].any(0)).max() >= np.flatnonzero(plain[i].any(0)).max() - 1
        assert not (out[i] & ~ink[i]).any() and out[i].sum(0).max() == 1


def test_stable_thinning_holds_still_strokes_and_flickers_less_than_plain_thinning():
    ident = random_identity(seed=4)
    gray = np.stack([render(ident, {"neutral": 1 - t, "happy": t}, size=64) for t in np.linspace(0, 1, 12)]
                    + [render(ident, "happy", size=64)] * 3)
    layout = Layout(128, 64, "face")
    ink = dither(apply_layout(gray, layout), Dither("lineart", stable=True))
    out, plain = thin_stable(ink), thin(ink)
    for i in range(len(ink)):
        assert not (out[i] & ~ink[i]).any()  # inside its own ink
        assert np.array_equal(thin(out[i:i + 1])[0], out[i])  # already one pixel wide
        assert _pieces(out[i]) == _pieces(plain[i])  # no stroke broken or lost
    assert np.array_equal(out[-1], out[-2]) and np.array_equal(out[-2], out[-3])  # still ink, still skeleton
    assert (out[1:] != out[:-1]).sum() < 0.9 * (plain[1:] != plain[:-1]).sum()
    assert np.array_equal(to_bits(apply_layout(gray, layout), Dither("lineart", stable=True, thin=True)), out)


def test_a_face_pack_frames_every_sequence_with_one_box_and_follows_zoom_marks():
    ident, _ = next(faces(1, seed=3))
    a = np.stack([render(ident, "neutral", size=64)] * 4)
    b = np.stack([render(ident, {"neutral": 1 - t, "happy": t}, size=64) for t in np.linspace(0, 1, 4)])
    zoomed = Frames(a, 12, [{"zoom": z} for z in (1.0, 1.2, 1.4, 1.6)])
    opts = ExportOptions(layout=Layout(128, 64, "face"), dither=Dither("lineart", thin=True))
    pack = build_pack([("idle_neutral", "x", zoomed), ("neutral_to_happy", "x", Frames(b, 12))], opts)
    box = pack.settings["layout"]["box"]
    assert box is not None and set(box) == {"eye_y", "mouth_y", "cx"}
    first = pack.bits[:4]
    assert len({f.tobytes() for f in first}) == 4  # the zoom marks move an otherwise still loop
    plain = build_pack([("n", "x", Frames(a, 12))], opts)
    assert np.array_equal(plain.bits[0], first[0])  # zoom 1 frames are the unzoomed frame


def test_export_cli_frames_the_face_and_thins_its_strokes(tmp_path):
    import json

    import cv2
    from click.testing import CliRunner

    from emosketch.cli import cli

    _, img = next(faces(1, seed=5))
    cv2.imwrite(str(tmp_path / "face.png"), img)
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "face.png"), "--out", str(tmp_path / "pack"),
                                   "--mode", "face", "--framing", "forehead-chin", "--thin", "--verify"])
    assert res.exit_code == 0, res.output
    settings = json.loads((tmp_path / "pack" / "manifest.json").read_text())["settings"]
    assert settings["layout"]["mode"] == "face" and settings["layout"]["framing"] == "forehead-chin"
    assert settings["layout"]["box"] is not None and settings["dither"]["thin"] is True
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "face.png"), "--out", str(tmp_path / "p2"),
                                   "--mode", "face", "--max-stretch", "0.5"])
    assert res.exit_code != 0 and "max stretch" in res.output


def test_an_sh1107_pack_fills_its_128x128_panel_and_decodes_bit_for_bit(tmp_path):
    from emosketch.export import manifest, write_pack
    from emosketch.export.pixels import pixel_format

    _, img = next(faces(1, seed=2))
    opts = ExportOptions(layout=Layout(128, 128, "face"), dither=Dither("lineart", thin=True), pixel_format="sh1107")
    pack = build_pack([("idle_neutral", "x", Frames(np.stack([img] * 2), 12))], opts)
    assert pack.frame_bytes == 16 * 128
    write_pack(pack, tmp_path / "p", verify=True)
    bits, _ = manifest.read(tmp_path / "p")
    assert np.array_equal(bits, pack.bits)
    rows, cols = np.flatnonzero(bits[0].any(1)), np.flatnonzero(bits[0].any(0))
    assert np.ptp(rows) >= 0.8 * 128 and np.ptp(cols) >= 0.75 * 128
    with pytest.raises(EmosketchError, match="sh1107"):
        pixel_format("sh1107").check(132, 64)


def test_the_cli_offers_exactly_the_exporter_s_dithers_fills_and_framings():
    from emosketch import cli
    from emosketch.export.dither import FILLS, MODES
    from emosketch.export.panel import PANEL

    assert cli.DITHERS == MODES and cli.FILLS == FILLS
    assert cli.PANEL_STROKE_LEVEL == PANEL.dither.stroke_level
    assert cli.FRAMINGS == ("auto", *FRAMINGS)
