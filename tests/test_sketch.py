"""Sketch methods: lines at edges, clean paper elsewhere, line scale that follows the image size."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emosketch.datasets.sketch import (
    METHODS,
    SketchConfig,
    dark_masses,
    edge_tangents,
    remove_specks,
    sketch,
    smooth_along_flow,
    xdog,
)
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


def test_bad_flow():
    with pytest.raises(EmosketchError, match="sketch flow -1"):
        SketchConfig(flow=-1)
    with pytest.raises(EmosketchError, match="sketch flow 20"):
        SketchConfig(flow=20)


def test_bad_spots():
    with pytest.raises(EmosketchError, match="sketch spots 60"):
        SketchConfig(spots=60)


def test_spots_fill_the_darkest_masses_and_nothing_thin():
    img = photo(128)  # the eyes (level 20) are the darkest; the disk (70) next; the background 170
    img[100:103, 5:60] = 0  # a 3 px dark line: darkest of all, but thinner than a mass
    mass = dark_masses(img, 1.5)
    yy, xx = np.mgrid[:128, :128]
    eyes = (np.hypot(yy - 54, xx - 48) < 3) | (np.hypot(yy - 54, xx - 80) < 3)
    assert mass[eyes].all() and not mass[100:103, 5:60].any()  # blurred, the line is no longer darkest
    plain, spotted = sketch(img), sketch(img, SketchConfig(spots=1.5))
    assert (spotted[eyes] == 0).all() and not (plain[eyes] == 0).all()  # the eyes are solid, not outlined
    assert np.array_equal(spotted[~mass], plain[~mass])  # elsewhere the lines are as they were
    assert np.array_equal(sketch(img, SketchConfig(spots=0)), plain)


def test_flow_off_is_plain_xdog():
    img = photo(128)
    assert np.array_equal(xdog(img, flow=0.0), xdog(img))
    assert np.array_equal(sketch(img, SketchConfig(flow=0.0)), sketch(img))


def test_edge_tangents_run_along_an_edge():
    img = np.full((64, 64), 200, np.uint8)
    img[:, 32:] = 60  # a vertical edge
    tx, ty = edge_tangents(img, 2.0)
    assert abs(ty[32, 31]) > 0.99 and abs(tx[32, 31]) < 0.1  # along the edge: vertical
    img = img.T.copy()  # a horizontal edge
    tx, ty = edge_tangents(img, 2.0)
    assert abs(tx[31, 32]) > 0.99 and abs(ty[31, 32]) < 0.1


def test_smoothing_along_the_flow_keeps_a_line_that_runs_with_it():
    d = np.zeros((48, 48), np.float32)
    d[:, 24] = 1.0  # a one-pixel vertical line
    tx, ty = np.zeros_like(d), np.ones_like(d)  # the flow runs down the line
    out = smooth_along_flow(d, tx, ty, 4.0)
    assert np.allclose(out[8:40, 24], 1.0, atol=1e-5) and np.abs(out[:, 23]).max() < 1e-5
    tx, ty = np.ones_like(d), np.zeros_like(d)  # across the line: spread sideways
    out = smooth_along_flow(d, tx, ty, 4.0)
    assert out[24, 24] < 0.2 and out[24, 26] > 0.05 and abs(out[24, 22] - out[24, 26]) < 1e-5


def _dashes_and_specks(seed: int = 0) -> np.ndarray:
    """A gray 'photo': a long dark curve broken into dashes (2 px gaps) and random dark specks elsewhere."""
    rng = np.random.default_rng(seed)
    img = np.full((128, 128), 180, np.uint8)
    t = np.linspace(0.0, np.pi, 400)
    xs, ys = (64 + 44 * np.cos(t)).astype(int), (40 + 60 * np.sin(t)).astype(int)
    for i, (x, y) in enumerate(zip(xs, ys)):
        if (i // 12) % 5 != 4:  # a dash of 4 steps in 5: gaps along the curve
            cv2.circle(img, (int(x), int(y)), 1, 70, -1)
    for _ in range(40):  # texture: isolated specks with no direction
        x, y = rng.integers(30, 98, 2)
        if abs(np.hypot((x - 64) / 44, (y - 40) / 60) - 1) > 0.25:
            cv2.circle(img, (int(x), int(y)), 1, 110, -1)
    return img


def test_sketch_flow_joins_a_broken_line_and_drops_texture():
    img = _dashes_and_specks()
    plain = sketch(img, SketchConfig(clahe=0))
    flowed = sketch(img, SketchConfig(clahe=0, flow=6.0))
    count = lambda s: cv2.connectedComponents((s < 128).astype(np.uint8), connectivity=8)[0] - 1  # noqa: E731
    assert count(flowed) < count(plain) / 2  # the dashes join; the specks average away
    yy, xx = np.mgrid[:128, :128]
    on_curve = np.abs(np.hypot((xx - 64) / 44, (yy - 40) / 60) - 1) < 0.06
    assert (flowed[on_curve] == 0).mean() >= 0.8 * (plain[on_curve] == 0).mean()  # the line itself stays


def test_bad_detail():
    for bad in (-1, 8, 2000):
        with pytest.raises(EmosketchError, match=f"sketch detail {bad}"):
            SketchConfig(detail=bad)


def test_detail_drops_texture_finer_than_it_and_keeps_the_face():
    img = photo(128)
    yy, xx = np.mgrid[:128, :128]
    cheek = (np.hypot(yy - 85, xx - 64) < 12)
    img[cheek & (yy % 5 < 2)] = 20  # fine stripes (a 5 px period): texture finer than 48 px of detail
    plain, coarse = sketch(img, SketchConfig(clahe=0)), sketch(img, SketchConfig(clahe=0, detail=48))
    assert (plain[cheek] == 0).mean() > 0.2  # every stripe drawn
    assert (coarse[cheek] == 0).mean() < 0.5 * (plain[cheek] == 0).mean()
    eyes = (np.hypot(yy - 54, xx - 48) < 9) | (np.hypot(yy - 54, xx - 80) < 9)
    assert (coarse[eyes] == 0).sum() > 0.5 * (plain[eyes] == 0).sum()  # the eyes are still drawn
    ring = (np.abs(np.hypot(yy - 64, xx - 64) - 40) < 4)
    assert (coarse[ring] == 0).sum() > 0.5 * (plain[ring] == 0).sum()  # and the face's outline
    assert np.array_equal(sketch(img, SketchConfig(detail=0)), sketch(img))
    assert np.array_equal(sketch(img, SketchConfig(detail=128)), sketch(img))  # no finer than the face: as is


def test_min_ink_draws_a_pale_faces_fainter_edges_and_leaves_an_inked_one():
    pale = (photo(128).astype(np.float32) * 0.08 + 200).astype(np.uint8)  # the same face at 8% of its contrast
    plain = sketch(pale, SketchConfig(clahe=0))
    floored = sketch(pale, SketchConfig(clahe=0, min_ink=0.08))
    assert (plain < 128).mean() < 0.04 and (floored < 128).mean() > (plain < 128).mean() + 0.02
    yy, xx = np.mgrid[:128, :128]
    ring = np.abs(np.hypot(yy - 64, xx - 64) - 40) < 4
    assert (floored[ring] == 0).sum() > (plain[ring] == 0).sum()  # the outline is among what it gains
    bold = photo(128)
    assert np.array_equal(sketch(bold, SketchConfig(clahe=0, min_ink=0.01)), sketch(bold, SketchConfig(clahe=0)))
    with pytest.raises(EmosketchError, match="min_ink 0.6"):
        SketchConfig(min_ink=0.6)


def test_max_ink_leaves_out_a_busy_faces_faintest_texture():
    rng = np.random.default_rng(0)
    busy = np.clip(photo(128).astype(np.float32) + rng.normal(0, 25, (128, 128)), 0, 255).astype(np.uint8)
    plain = sketch(busy, SketchConfig(clahe=0, min_speck=0))
    capped = sketch(busy, SketchConfig(clahe=0, min_speck=0, max_ink=0.05))
    assert (plain < 128).mean() > 0.06 and (capped < 128).mean() < (plain < 128).mean() - 0.02
    assert not ((capped < 128) & (plain >= 128)).any()  # it only takes ink away
    yy, xx = np.mgrid[:128, :128]
    ring = np.abs(np.hypot(yy - 64, xx - 64) - 40) < 3  # the face's outline, its strongest edge
    kept_ring = (capped[ring] == 0).sum() / (plain[ring] == 0).sum()
    kept_rest = (capped[~ring] == 0).sum() / (plain[~ring] == 0).sum()
    assert kept_ring > 1.5 * kept_rest  # the strongest edges stay, the noise's strokes go first
    assert np.array_equal(sketch(photo(128), SketchConfig(clahe=0, max_ink=0.9)), sketch(photo(128), SketchConfig(clahe=0)))
    with pytest.raises(EmosketchError, match="max_ink 0.1"):
        SketchConfig(min_ink=0.2, max_ink=0.1)


def test_relight_evens_out_a_half_shadowed_face_and_leaves_an_evenly_lit_one():
    from emosketch.datasets.sketch import even_light, uneven_light

    face = photo(128)
    shade = np.ones((128, 128), np.float32)
    shade[:, 64:] = 0.25  # the right half in deep shadow, its edge soft
    shadowed = (face.astype(np.float32) * cv2.GaussianBlur(shade, (0, 0), 3)).astype(np.uint8)
    assert uneven_light(face)[0] < 0.25 < 0.5 < uneven_light(shadowed)[0]
    assert np.array_equal(even_light(face, 1.0), face)  # evenly lit: untouched
    assert np.array_equal(sketch(face, SketchConfig(relight=1.0)), sketch(face, SketchConfig()))
    plain = sketch(shadowed, SketchConfig())
    lit = sketch(shadowed, SketchConfig(relight=1.0))
    eye = (slice(46, 63), slice(72, 89))  # the eye in the shadow
    assert (plain[eye] == 0).sum() < 10 < 50 < (lit[eye] == 0).sum()  # drawn as the eye in the light is
    for bad in (-0.1, 1.5):
        with pytest.raises(EmosketchError, match="relight"):
            SketchConfig(relight=bad)


def test_tone_lifts_a_dark_face_to_mid_gray_and_leaves_a_light_one():
    from emosketch.datasets.sketch import lift_tone

    face = photo(128)
    dark = (face.astype(np.float32) * 0.3).astype(np.uint8)  # the same face in dim light
    middle = (slice(26, 102), slice(26, 102))
    lifted = lift_tone(dark, 110)
    assert np.median(dark[middle]) < 60 and abs(float(np.median(lifted[middle])) - 110) <= 3
    order = np.argsort(dark.ravel(), kind="stable")
    assert (np.diff(lifted.ravel()[order].astype(int)) >= 0).all()  # a darker pixel never ends up lighter
    light = np.clip(face.astype(np.int16) + 60, 0, 255).astype(np.uint8)
    assert np.median(light[middle]) >= 110 and np.array_equal(lift_tone(light, 110), light)  # untouched
    assert np.array_equal(sketch(light, SketchConfig(tone=110)), sketch(light, SketchConfig()))
    assert (sketch(dark, SketchConfig(tone=110)) != sketch(dark, SketchConfig())).any()
    for bad in (-1, 255):
        with pytest.raises(EmosketchError, match="tone"):
            SketchConfig(tone=bad)


@pytest.mark.parametrize("values, words", [
    ({"phi": -200}, "phi -200"), ({"tau": 50}, "tau 50"), ({"epsilon": 3}, "epsilon 3"), ({"clahe": -2}, "clahe -2"),
    ({"min_speck": -10}, "min_speck -10"), ({"canny_low": 500, "canny_high": -3}, "canny_low 500"),
    ({"canny_low": 120, "canny_high": 110}, "low < high"),
])
def test_sketch_settings_that_draw_every_face_blank_are_refused(values, words):
    """phi -200 or tau 50 had drawn every face of a prepared dataset as blank paper, with exit 0."""
    assert (sketch(photo(128), SketchConfig()) == 0).any()  # the defaults draw ink
    with pytest.raises(EmosketchError, match=words):
        SketchConfig(**values)
