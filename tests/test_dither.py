"""1-bit conversion: each mode's defining property, polarity, and flicker on a slow fade."""

from __future__ import annotations

import numpy as np
import pytest

from emosketch.errors import EmosketchError
from emosketch.export.dither import MODES, Dither, bayer_matrix, blue_noise, dither, to_bits


def ramp(h=32, w=64, t=1) -> np.ndarray:
    return np.repeat(np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))[None], t, 0)


def test_bayer_matrix_is_a_permutation():
    m = bayer_matrix(8)
    assert sorted(m.ravel().tolist()) == list(range(64))
    assert bayer_matrix(2).tolist() == [[0, 2], [3, 1]]


def test_blue_noise_is_a_permutation_and_deterministic():
    b = blue_noise()
    assert sorted(b.ravel().tolist()) == list(range(64 * 64))
    # Blue noise: the lowest 10% of ranks are spread out, no two touching horizontally more than chance.
    low = b < 410
    assert (low & np.roll(low, 1, axis=1)).sum() < 0.5 * low.sum() * 0.1


@pytest.mark.parametrize("mode", MODES)
def test_modes_preserve_mean_tone_on_flat_gray(mode):
    gray = np.full((1, 32, 64), 96, np.uint8)
    ink = dither(gray, Dither(mode=mode))
    assert ink.dtype == bool and ink.shape == gray.shape
    # Within half a quantisation step: bayer2 has only 4 levels, the others 16 or more.
    tolerance = {"bayer2": 0.126, "bayer4": 0.04, "bayer8": 0.02, "bluenoise": 0.02, "floyd-steinberg": 0.02}
    if mode in tolerance:
        assert abs(ink.mean() - (1 - 96 / 255)) < tolerance[mode]


def test_threshold_and_polarity():
    gray = ramp()
    ink = dither(gray, Dither("threshold", level=128))
    assert ink[0, 0, 0] and not ink[0, 0, -1]
    lit = to_bits(gray, Dither("threshold", polarity="paper"))
    assert np.array_equal(lit, ~ink)


def test_lineart_keeps_thin_strokes_solid_and_paper_clean():
    gray = np.full((1, 32, 64), 255, np.uint8)
    gray[0, 16, 4:60] = 150  # a thin stroke that downscaling turned mid-gray
    ink = dither(gray, Dither("lineart"))
    assert ink[0, 16, 4:60].all()
    assert ink.sum() == 56


@pytest.mark.parametrize("stable", [False, True])
def test_lineart_without_fills_draws_the_strokes_and_no_tone(stable):
    gray = np.full((1, 32, 64), 255, np.uint8)
    gray[0, 4:28, 4:28] = 160  # a flat mid-gray cheek: the default dithers it, fill none leaves it paper
    gray[0, 16, 32:60] = 150  # a thin mid-gray stroke
    gray[0, 8:10, 32:60] = 40  # a dark stroke
    filled, bare = dither(gray, Dither("lineart", stable=stable)), dither(gray, Dither("lineart", fill="none", stable=stable))
    assert filled[0, 6:26, 6:26].mean() > 0.2 and not bare[0, 6:26, 6:26].any()
    assert bare[0, 16, 32:60].all() and bare[0, 8:10, 32:60].all()
    assert np.array_equal(bare[0, :, 30:], filled[0, :, 30:])
    with pytest.raises(EmosketchError, match="fill 'dots'"):
        Dither("lineart", fill="dots")


@pytest.mark.parametrize("stable", [False, True])
def test_a_gap_margin_keeps_the_light_gap_between_crowded_strokes(stable):
    gray = np.full((1, 32, 64), 255, np.uint8)
    gray[0, 10, 8:40] = 90  # two strokes two rows apart, and the light gray between them that a shrink left
    gray[0, 11, 8:40] = 190
    gray[0, 12, 8:40] = 90
    gray[0, 24, 8:40] = 150  # a lone thin stroke
    bold = Dither("lineart", fill="none", stroke_level=200, stable=stable)
    plain, gapped = dither(gray, bold), dither(gray, Dither(**{**bold.__dict__, "gap_margin": 10}))
    assert plain[0, 10:13, 12:36].all()  # level 200 merges the pair into one band
    assert gapped[0, 10, 12:36].all() and gapped[0, 12, 12:36].all() and not gapped[0, 11, 12:36].any()
    assert gapped[0, 24, 8:40].all()  # a lone stroke stays whole
    with pytest.raises(EmosketchError, match="gap margin"):
        Dither("lineart", gap_margin=300)


def test_stable_flips_far_fewer_pixels_than_error_diffusion_on_a_slow_fade():
    base = ramp(32, 64)[0].astype(int)
    fade = np.stack([np.clip(base + k, 0, 255) for k in range(0, 24, 2)]).astype(np.uint8)

    def flips(d: Dither) -> int:
        ink = dither(fade, d)
        return int((ink[1:] != ink[:-1]).sum())

    fs = flips(Dither("floyd-steinberg"))
    assert flips(Dither("bluenoise", stable=True)) * 10 <= fs
    assert flips(Dither("bayer4", stable=True)) <= flips(Dither("bayer4"))


def test_stable_lineart_holds_strokes_that_waver():
    # A faint one-pixel line whose contrast wavers around the stroke test (40 levels darker than
    # around it): plain lineart flips it every frame, the stable mode keeps it once drawn; the first
    # frame is the plain one.
    frames = np.full((10, 16, 16), 255, np.uint8)
    frames[:, 8, 2:14] = np.array([205, 220] * 5, np.uint8)[:, None]
    plain, stable = dither(frames, Dither("lineart")), dither(frames, Dither("lineart", stable=True))
    assert np.array_equal(stable[0], plain[0]) and stable[0].any()
    assert (plain[1:] != plain[:-1]).sum() >= 9 * stable[0].sum() and (stable[1:] != stable[:-1]).sum() == 0


def test_stable_needs_a_mask_mode():
    with pytest.raises(EmosketchError, match="--stable needs"):
        Dither("atkinson", stable=True)


def test_error_diffusion_runs_frames_independently():
    frames = np.stack([ramp()[0], ramp()[0][:, ::-1]])
    both = dither(frames, Dither("atkinson"))
    assert np.array_equal(both[1], dither(frames[1:], Dither("atkinson"))[0])


@pytest.mark.parametrize("mode, stable", [(m, False) for m in MODES] +
                         [(m, True) for m in MODES if m not in ("floyd-steinberg", "atkinson", "otsu")])
def test_dithering_in_chunks_gives_the_frames_of_one_pass(mode, stable, monkeypatch):
    from emosketch.export import dither as module

    rng = np.random.default_rng(3)
    fade = np.clip(np.linspace(90, 170, 23)[:, None, None] + rng.normal(0, 20, (23, 12, 16)), 0, 255).astype(np.uint8)
    d = Dither(mode=mode, stable=stable)
    whole = dither(fade, d)
    monkeypatch.setattr(module, "CHUNK", 5)  # 23 frames: chunks of 5, 5, 5, 5 and 3
    monkeypatch.setattr(module, "DIFFUSE_CHUNK", 5)
    assert np.array_equal(dither(fade, d), whole)


@pytest.mark.parametrize("kwargs, words", [
    ({"stable": "no"}, "stable 'no': expected True or False"), ({"thin": 1}, "thin 1"),
    ({"mode": "threshold", "stable": True, "hysteresis": 10**9}, "hysteresis"),  # froze the animation
    ({"hysteresis": -50}, "hysteresis"), ({"stroke_contrast": -10**9}, "stroke contrast"),  # every pixel ink
    ({"hysteresis": float("nan")}, "whole number"), ({"level": 2.5}, "whole number"), ({"min_stroke": 3.5}, "whole number"),
    ({"gap_margin": 1.5}, "whole number")])
def test_a_dither_that_would_draw_wrong_quietly_is_refused(kwargs, words):
    with pytest.raises(EmosketchError, match=words):
        Dither(**kwargs)


def test_a_dither_keeps_what_is_legal():
    assert Dither(hysteresis=0, stroke_contrast=0).hysteresis == 0
    assert Dither(level=np.int64(100), stable=np.bool_(True)).level == 100
    assert Dither(gap_margin=None).gap_margin is None and Dither(gap_margin=-64).gap_margin == -64
