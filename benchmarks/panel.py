"""Panel benchmark: does the emotion still read once a generated face is laid out and dithered for the panel?

    python benchmarks/panel.py --out bench-out                 # the shipped generator, 200 FER+ valid faces
    python benchmarks/panel.py --out bench-out --faces 400 --checkpoint runs/x/checkpoint.pt
    python benchmarks/panel.py --out bench-out --packs-only     # the pack and flicker tables alone (no FER+ needed)
    python benchmarks/panel.py --out bench-out --reading-only   # the judges' reading table alone

FER+ valid faces are redrawn by the generator in every other emotion (the transitions' end frames).
Each result is laid out on a 128x64 panel (today's `fit`, and the face framings) and dithered, then
the judges read the panel frame as a person sees it (`shown`: at its real pixels, the judge's 64 px
window at the panel's centre, nothing undone). Beside it, the information the panel keeps (not legibility, which
only people measure: benchmarks/legibility.py): the lit pixels brought back to the judge's input, the
framing undone (the panel mapped back onto the 64 px sketch, paper where the panel did not show it), read by judges A and B of
benchmarks/realfaces.py (sketch CNNs trained on FER+ train sketches only). It reports the target
accuracy after the panel beside the accuracy on the same laid-out frames before quantisation
(gray), and their ratio (the goal for the full-screen framing: >= 0.9), and beside the accuracy on
the generated sketch itself (what the framing and its resampling cost on their own). Beside it: the strokes' width on the panel,
and for a pack of the demo photo (six emotions) the compression ratio and the flicker of the stable
dither against Floyd-Steinberg's. Skipped, with a note, when ../shared/data/ferplus is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from realfaces import FERPLUS, JUDGES, real_dataset, train_judge  # noqa: E402
from report import existing, guarded, table, whole  # noqa: E402

from emosketch.datasets.dataset import load  # noqa: E402
from emosketch.evaluate.classifier import load_classifier  # noqa: E402
from emosketch.evaluate.generator import translation_pairs  # noqa: E402
from emosketch.export import Dither, Layout  # noqa: E402
from emosketch.export.dither import thin, to_bits  # noqa: E402
from emosketch.export.layout import _window, apply_layout, with_face  # noqa: E402
from emosketch.export.pack import dither_sequences  # noqa: E402
from emosketch.export.panel import FACE_BAND, PANEL  # noqa: E402
from emosketch.interpolate.pack import ZOOM_BREATH  # noqa: E402
from emosketch.models import default_generator, demo_photo  # noqa: E402

OLED_DITHER = FACE_BAND.dither  # the face band's dither: strokes only, stable, thinned and redrawn 2 px wide
THIN1 = Dither("lineart", thin=True)  # the default before that: 1 px strokes and blue-noise tonal fills
VARIANTS = [  # name, layout, dither
    ("the whole face 1:1, line art (the default, export.panel.PANEL)", PANEL.layout, PANEL.dither),
    ("fit, lineart with fills", Layout(128, 64, "fit"), Dither("lineart")),
    ("face brows-chin, not thinned", Layout(128, 64, "face"), Dither("lineart")),
    ("face brows-chin, thin 1 px + fills (the old default)", Layout(128, 64, "face"), THIN1),
    ("face brows-chin, thin 1 px, fill none", Layout(128, 64, "face"), Dither("lineart", thin=True, fill="none")),
    ("face brows-chin, thin 2 px + fills", Layout(128, 64, "face"), Dither("lineart", thin=True, line=2)),
    ("face brows-chin, 2 px, fill none, stable (the default before: FACE_BAND)", Layout(128, 64, "face"), OLED_DITHER),
    ("face forehead-chin, FACE_BAND's dither", Layout(128, 64, "face", framing="forehead-chin"), OLED_DITHER),
    ("face brows-chin, stretch <= 1.5, FACE_BAND's dither", Layout(128, 64, "face", max_stretch=1.5), OLED_DITHER),
    ("face head (nothing cropped), FACE_BAND's dither", Layout(128, 64, "face", framing="head"), OLED_DITHER),
]
FS = Dither("floyd-steinberg")
OLED_FACE = Layout(128, 64, "face")
PACKS = [  # framing, layout, dither label, dither, pen coding; each framing's Floyd-Steinberg row is its baseline
    ("fit", PANEL.layout, "lineart fill none --stable (the default, PANEL)", PANEL.dither, True),
    ("fit", Layout(128, 64, "fit"), "lineart", Dither("lineart"), True),
    ("fit", Layout(128, 64, "fit"), "lineart --stable", Dither("lineart", stable=True), True),
    ("fit", Layout(128, 64, "fit"), "floyd-steinberg", FS, True),
    ("brows-chin", OLED_FACE, "lineart --stable", Dither("lineart", stable=True), True),
    ("brows-chin", OLED_FACE, "thin 1 px + fills (the old default)", THIN1, True),
    ("brows-chin", OLED_FACE, "thin 1 px + fills, --stable", Dither("lineart", thin=True, stable=True), True),
    ("brows-chin", OLED_FACE, "thin 1 px, fill none, --stable", Dither("lineart", thin=True, stable=True, fill="none"), True),
    ("brows-chin", OLED_FACE, "2 px, fill none, --stable, --no-pen-coding", OLED_DITHER, False),
    ("brows-chin", OLED_FACE, "2 px, fill none, --stable (FACE_BAND, the smallest)", OLED_DITHER, True),
    ("brows-chin", OLED_FACE, "floyd-steinberg", FS, True),
    ("forehead-chin", Layout(128, 64, "face", framing="forehead-chin"), "the default dither", OLED_DITHER, True),
    ("forehead-chin", Layout(128, 64, "face", framing="forehead-chin"), "floyd-steinberg", FS, True),
    ("head", Layout(128, 64, "face", framing="head"), "the default dither", OLED_DITHER, True),
    ("head", Layout(128, 64, "face", framing="head"), "floyd-steinberg", FS, True),
]


def undo(bits: np.ndarray, layout: Layout, side: int, k: int = 8, gain: float | None = None) -> np.ndarray:
    """The panel's lit pixels back onto the side x side source: each source pixel's share of lit
    panel area (exact, on a k-times finer grid), times the panel pixels per source pixel, so one
    panel-wide line across a source pixel inks it as one source-wide stroke would; paper where the
    panel did not show the source (a gray panel, which is not thinned, uses gain 1). uint8, 0 = ink."""
    x0, y0, ww, wh = _window(layout, side, side, layout.zoom)
    fine = cv2.resize(bits.astype(np.float32), (max(1, round(ww * k)), max(1, round(wh * k))),
                      interpolation=cv2.INTER_NEAREST)
    canvas = np.zeros((side * k, side * k), np.float32)
    ox, oy = round(x0 * k), round(y0 * k)
    ys, xs = slice(max(0, oy), min(side * k, oy + fine.shape[0])), slice(max(0, ox), min(side * k, ox + fine.shape[1]))
    canvas[ys, xs] = fine[ys.start - oy:ys.stop - oy, xs.start - ox:xs.stop - ox]
    cover = cv2.resize(canvas, (side, side), interpolation=cv2.INTER_AREA)
    if gain is None:
        gain = max(1.0, float(np.sqrt(layout.width / ww * layout.height / wh)))
    return (255 * (1 - np.clip(cover * gain, 0, 1))).round().astype(np.uint8)


def as_shown(bits: np.ndarray, side: int, polarity: str = "ink") -> np.ndarray:
    """The panel frame as a person sees it, at its real pixels, with nothing undone: the judge's
    side x side window at the panel's centre (paper beyond the panel), its strokes dark as on the
    sketches the judge learned. uint8, 0 = ink."""
    h, w = bits.shape
    ink = bits if polarity == "ink" else ~bits
    canvas = np.zeros((max(h, side), max(w, side)), bool)
    y0, x0 = (canvas.shape[0] - h) // 2, (canvas.shape[1] - w) // 2
    canvas[y0:y0 + h, x0:x0 + w] = ink
    cy, cx = (canvas.shape[0] - side) // 2, (canvas.shape[1] - side) // 2
    return np.where(canvas[cy:cy + side, cx:cx + side], 0, 255).astype(np.uint8)


@torch.no_grad()
def read(judge, images: np.ndarray) -> np.ndarray:
    from emosketch.tensors import to_tensor

    out = []
    for s in range(0, len(images), 256):
        out.append(judge(to_tensor(images[s:s + 256], "cpu")).argmax(1).numpy())
    return np.concatenate(out)


def stroke_width(bits: np.ndarray) -> float:
    """Lit pixels per pixel of their one-pixel skeleton: 1.0 = every stroke is one clean line."""
    lit = int(bits.sum())
    return lit / max(1, int(thin(bits).sum()))


def exaggerated(tr, sources: np.ndarray, targets: np.ndarray, seeds: np.ndarray, k: float) -> np.ndarray:
    """The translations at intensity k: s = s_neutral + k (s_target - s_neutral) at each pair's latent
    (what `pose(..., intensity)` does for packs and timelines). uint8 sketches."""
    from emosketch.gan.networks import z_codes
    from emosketch.tensors import to_tensor, to_uint8

    n = tr.nets
    neutral = tr.classes.index("neutral")
    out = []
    with torch.no_grad():
        for a in range(0, len(sources), 64):
            z = z_codes(seeds[a:a + 64], n.mapping.latent_dim)
            y = torch.as_tensor(targets[a:a + 64], dtype=torch.long)
            s0 = n.mapping(z, torch.full_like(y, neutral))
            s = s0 + k * (n.mapping(z, y) - s0)
            out.append(to_uint8(n.generator(to_tensor(sources[a:a + 64], "cpu"), s)[:, 0]))
    return np.concatenate(out)


TRANSITION_STEPS, IDLE_STEPS = 10, 12  # as `emosketch pack` makes them (--transition-frames, --idle-frames)
HISTORY = [  # the stable dither's hysteresis (gray levels): OLED_DITHER's, and wider bands
    (f"the default ({OLED_DITHER.hysteresis})", OLED_DITHER)] + [
    (f"hysteresis {h}", replace(OLED_DITHER, hysteresis=h)) for h in (40, 56, 72)]


def history_rows(tr, judges: dict, src_u8: np.ndarray, targets: np.ndarray, seeds: np.ndarray,
                 side: int) -> list[dict]:
    """The stable dither has a history: a pixel holds until its gray clearly crosses, so the frame a
    pack shows at the end of a transition depends on the frames before it. Per pair, the end frame
    (the target at intensity 1, full screen, face brows-chin) is read as a pack dithers it today: as
    the first frame of the target's idle loop (breathing +-12% in intensity and +-4% in zoom) dithered
    after one round of the loop, which every transition into it ends on (export.pack.dither_sequences); and as
    packs were dithered before: at the end of a cosine-eased transition from another emotion (picked
    at random) dithered forwards, per hysteresis. Beside them the frame dithered alone, as the reading
    table dithers it, and the gray frame's reading, which the ratio (the goal: >= 0.9) is against."""
    n_classes = len(tr.classes)
    starts = (targets + np.random.default_rng(1).integers(1, n_classes, len(targets))) % n_classes
    ts = 0.5 - 0.5 * np.cos(np.pi * np.arange(1, TRANSITION_STEPS + 1) / TRANSITION_STEPS)

    def frames(k, t=None):  # [N, H, W] uint8 at intensity k, or along start -> target at t
        if t is None:
            return exaggerated(tr, src_u8, targets, seeds, k)
        out = tr.along_path(src_u8, starts, targets, np.full(len(targets), t), seeds)
        return (np.clip(out, 0, 1) * 255).round().astype(np.uint8)

    wave = np.sin(2 * np.pi * np.arange(IDLE_STEPS) / IDLE_STEPS)
    idle = np.stack([frames(1.0 + 0.12 * w) for w in wave], 1)  # [N, steps, H, W]; pack's breath of 12%
    zooms = (1.0 + ZOOM_BREATH * wave).tolist()
    path = np.stack([frames(1.0, t) for t in ts], 1)
    layout = Layout(128, 64, "face")
    lays = [with_face(layout, src[None]) for src in src_u8]
    gray = [undo(1 - apply_layout(p[-1:], lay)[0].astype(np.float32) / 255, lay, side, gain=1.0)
            for p, lay in zip(path, lays)]
    gray_acc = {j: float((read(m, np.stack(gray)) == targets).mean()) for j, m in judges.items()}
    alone = [to_bits(apply_layout(p[-1:], lay), OLED_DITHER)[0] for p, lay in zip(path, lays)]
    cases = [("alone: the end frame dithered by itself", None, None)]
    cases.append(("the idle loop's first frame after a round (how packs dither today)", OLED_DITHER, "idle"))
    cases += [(f"forward through the transition, {name} (how packs dithered before)", d, "forward") for name, d in HISTORY]
    rows = []
    for label, d, how in cases:
        ends, flips = [], []
        for k, lay in enumerate(lays):
            if how is None:
                ends.append(alone[k])
                continue
            if how == "idle":  # dithered as a pack dithers its idle loops; transitions end on its first frame
                bits = dither_sequences(["idle_target"], [apply_layout(idle[k], lay, zooms)], d)[0]
                ends.append(bits[0])
            else:
                bits = to_bits(apply_layout(path[k], lay), d)
                ends.append(bits[-1])
            flips.append((bits[1:] != bits[:-1]).sum() / (len(bits) - 1))
        row = {"end_frame": label, "flips_per_frame": float(np.mean(flips)) if flips else None,
               "differs_from_alone_px": float(np.mean([(e != a).sum() for e, a in zip(ends, alone)]))}
        backs = np.stack([undo(e, lay, side) for e, lay in zip(ends, lays)])
        for j, m in judges.items():
            row[f"gray_{j}"], row[f"acc_{j}"] = gray_acc[j], float((read(m, backs) == targets).mean())
            row[f"ratio_{j}"] = row[f"acc_{j}"] / max(gray_acc[j], 1e-9)
        rows.append(row)
    return rows


def exaggeration_rows(tr, judges: dict, src_u8: np.ndarray, targets: np.ndarray, seeds: np.ndarray,
                      side: int) -> list[dict]:
    """Does an exaggerated emotion read better on the panel? Target accuracy of the sketch itself and
    after the default panel (face brows-chin, OLED_DITHER), per intensity."""
    layout, d = Layout(128, 64, "face"), OLED_DITHER
    rows = []
    for k in (1.0, 1.25, 1.5):
        gen = exaggerated(tr, src_u8, targets, seeds, k)
        backs = []
        for src, img in zip(src_u8, gen):
            lay = with_face(layout, src[None])
            backs.append(undo(to_bits(apply_layout(img[None], lay), d)[0], lay, side))
        row = {"intensity": k, "edit_pixels": float((np.abs(gen.astype(int) - src_u8) > 64).mean())}
        for j, m in judges.items():
            row[f"sketch_{j}"] = float((read(m, gen) == targets).mean())
            row[f"panel_{j}"] = float((read(m, np.stack(backs)) == targets).mean())
        rows.append(row)
    return rows


def vector_strokes(img: np.ndarray, layout: Layout) -> np.ndarray:
    """The sketch as vectors: inked at its own 64 px (lineart), thinned to one-pixel skeletons, and each
    skeleton link drawn again as a one-pixel line at panel scale. bool [H, W], True = lit."""
    side = img.shape[0]
    skel = thin(to_bits(img[None], Dither("lineart")))[0]
    x0, y0, ww, wh = _window(layout, side, side, layout.zoom)
    sx, sy = layout.width / ww, layout.height / wh
    canvas = np.zeros((layout.height, layout.width), np.uint8)

    def at(y, x):  # the pixel centre on the panel, in 1/16 px (cv2's shift=4)
        return (int(round(((x + 0.5 - x0) * sx - 0.5) * 16)), int(round(((y + 0.5 - y0) * sy - 0.5) * 16)))

    ys, xs = np.nonzero(skel)
    for y, x in zip(ys, xs):
        linked = False
        for dy, dx in ((0, 1), (1, -1), (1, 0), (1, 1)):
            v, u = y + dy, x + dx
            if 0 <= v < side and 0 <= u < side and skel[v, u]:
                cv2.line(canvas, at(y, x), at(v, u), 255, 1, cv2.LINE_8, shift=4)
                linked = True
        if not linked:
            cv2.line(canvas, at(y, x), at(y, x), 255, 1, cv2.LINE_8, shift=4)
    return canvas > 0


def upscaler_rows(judges: dict, src_u8: np.ndarray, gen: np.ndarray, targets: np.ndarray, side: int) -> list[dict]:
    """The ways to enlarge the 64 px face onto the panel (the default framing), read back the same way."""
    from emosketch.export.layout import PAPER

    base = Layout(128, 64, "face")

    def warp(img, lay, flags):
        x0, y0, ww, wh = _window(lay, side, side, lay.zoom)
        sx, sy = lay.width / ww, lay.height / wh
        m = np.array([[sx, 0, (0.5 - x0) * sx - 0.5], [0, sy, (0.5 - y0) * sy - 0.5]], np.float64)
        return cv2.warpAffine(img, m, (lay.width, lay.height), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=PAPER)

    ways = {
        "nearest (blocky pixels), lineart": lambda img, lay: to_bits(warp(img, lay, cv2.INTER_NEAREST)[None],
                                                                     Dither("lineart"))[0],
        "bilinear, lineart, thin 1 px (the old default)": lambda img, lay: to_bits(apply_layout(img[None], lay),
                                                                                  THIN1)[0],
        "bilinear, the default dither (2 px, fill none)": lambda img, lay: to_bits(apply_layout(img[None], lay),
                                                                                  OLED_DITHER)[0],
        "bicubic, lineart, thin": lambda img, lay: to_bits(warp(img, lay, cv2.INTER_CUBIC)[None],
                                                           Dither("lineart", thin=True))[0],
        "vectorised strokes (64 px skeleton redrawn at panel scale)": vector_strokes,
    }
    rows = []
    for name, way in ways.items():
        backs, bits_all = [], []
        for src, img in zip(src_u8, gen):
            lay = with_face(base, src[None])
            bits = way(img, lay)
            bits_all.append(bits)
            backs.append(undo(bits, lay, side))
        row = {"upscaler": name, "stroke_width": stroke_width(np.stack(bits_all)),
               "lit": float(np.stack(bits_all).mean())}
        for j, m in judges.items():
            row[f"acc_{j}"] = float((read(m, np.stack(backs)) == targets).mean())
        rows.append(row)
    return rows


def pack_figures(checkpoint: str) -> list[dict]:
    """Compression ratio and flicker of a pack of the demo photo, per framing (idle loops breathing in
    intensity and zoom, as `emosketch pack` makes them)."""
    from emosketch.export import ExportOptions, build_pack
    from emosketch.export.pack import _zooms
    from emosketch.frames import split_sequences
    from emosketch.interpolate.animate import open_renderer
    from emosketch.interpolate.pack import sequences

    r = open_renderer(checkpoint, "cpu")
    face = r.source(demo_photo())
    frames = sequences(r, face, list(r.classes))
    rows = []
    for name, layout, label, dd, pen_coding in PACKS:
        parts = [(n, "generator", part) for n, part in split_sequences(frames, "frames")]
        opts = ExportOptions(layout=with_face(layout, face.sketch[None]), dither=dd,  # as face_pack frames it
                             pen_coding=pen_coding)
        pack = build_pack(parts, opts)
        m = pack.manifest()
        flips, floor, unexplained = [], [], {8: [], 16: []}
        for s, (_, _, part) in zip(pack.sequences, parts):
            b = pack.bits[s.first:s.first + s.count]
            flip = b[1:] != b[:-1]
            flips += flip.sum(axis=(1, 2)).tolist()
            # Flicker proper: flips that the face's motion does not explain, where no gray pixel of
            # the laid-out frame within one pixel changed by `level` gray levels or more.
            gray = apply_layout(part.frames, opts.layout, _zooms(part)).astype(np.int16)  # as build_pack lays it out
            moved = np.stack([cv2.dilate(np.abs(g).clip(0, 255).astype(np.uint8), np.ones((3, 3), np.uint8))
                              for g in gray[1:] - gray[:-1]])
            for level, found in unexplained.items():
                found += (flip & (moved < level)).sum(axis=(1, 2)).tolist()
            # A floor for any quantiser that shows the motion: each pixel that differs between a
            # transition's first and last frames flips at least once on the way.
            if "_to_" in s.name:
                floor.append((b[-1] != b[0]).sum() / (len(b) - 1))
        seams = seam_flips({sq.name: pack.bits[sq.first:sq.first + sq.count] for sq in pack.sequences})
        if dd.stable:  # as packs were dithered before export.pack.dither_sequences joined them: each sequence by itself
            alone = {n: to_bits(apply_layout(part.frames, opts.layout, _zooms(part)), dd) for n, _, part in parts}
            seams.update({f"{k}_per_sequence": v for k, v in seam_flips(alone).items()})
        ctx_m = build_pack(parts, replace(opts, codec="ctx")).manifest()  # the model counts in its bytes
        rows.append({"framing": name, "dither": label, "ratio": m["raw_bytes"] / m["total_bytes"],
                     "bytes": m["total_bytes"], "ctx_ratio": ctx_m["raw_bytes"] / ctx_m["total_bytes"],
                     "ctx_bytes": ctx_m["total_bytes"], "mean_flips_per_frame": float(np.mean(flips)),
                     "transition_floor_per_frame": float(np.mean(floor)),
                     **{f"unexplained_{level}_per_frame": float(np.mean(v)) for level, v in unexplained.items()},
                     **seams})
    return rows


def seam_flips(at: dict[str, np.ndarray]) -> dict[str, float]:
    """Pixels that flip where the players join sequences: an idle loop's wrap from its last frame to
    its first, a transition's end into the idle loop it leads to, and its start from the loop it leaves:
    from the loop's pose (its first frame, and its middle one when it has an even number), where the
    players start it, and from any frame of the loop (as they did before, and still do when the pose is
    over half a second away). `at`: bits per sequence name."""
    joins = [n.split("_to_") for n in at if "_to_" in n]

    def poses(loop: np.ndarray) -> np.ndarray:
        return loop[[0, len(loop) // 2]] if len(loop) % 2 == 0 else loop[:1]

    def start(a: str, b: str, loop: np.ndarray) -> float:
        return float((at[f"{a}_to_{b}"][0] != loop).sum(axis=(1, 2)).mean())

    return {"idle_wrap_px": float(np.mean([(b[-1] != b[0]).sum() for n, b in at.items() if n.startswith("idle_")])),
            "end_seam_px": float(np.mean([(at[f"{a}_to_{b}"][-1] != at[f"idle_{b}"][0]).sum() for a, b in joins])),
            "start_seam_px": float(np.mean([start(a, b, poses(at[f"idle_{a}"])) for a, b in joins])),
            "start_seam_any_px": float(np.mean([start(a, b, at[f"idle_{a}"]) for a, b in joins]))}


def pack_table(checkpoint: str) -> list[dict]:
    """pack_figures with each figure beside Floyd-Steinberg's for the same framing, printed."""
    packs = pack_figures(checkpoint)
    fs = {r["framing"]: r for r in packs if r["dither"] == "floyd-steinberg"}
    for r in packs:
        for key, base_key, vs in (("mean_flips_per_frame", "mean_flips_per_frame", "flicker_vs_floyd_steinberg"),
                                  ("transition_floor_per_frame", "mean_flips_per_frame", "floor_vs_floyd_steinberg"),
                                  ("unexplained_8_per_frame", "unexplained_8_per_frame", "unexplained_8_vs_floyd_steinberg"),
                                  ("unexplained_16_per_frame", "unexplained_16_per_frame", "unexplained_16_vs_floyd_steinberg")):
            base = fs[r["framing"]][base_key]
            r[vs] = r[key] / base if base else None
    print("\nA pack of the demo photo (6 idle loops + 30 transitions), per framing and dither (ratio = raw / packed;"
          " ratio: --codec auto, the byte codecs; ctx_ratio: the context codec, pack's default, its model included). Flips per frame: all; the"
          " transitions' floor; unexplained_N: flips with no gray pixel within 1 px changed by N levels or more")
    print(table(packs, ["framing", "dither", "ratio", "ctx_ratio", "mean_flips_per_frame", "flicker_vs_floyd_steinberg",
                        "transition_floor_per_frame", "floor_vs_floyd_steinberg", "unexplained_8_per_frame",
                        "unexplained_8_vs_floyd_steinberg", "unexplained_16_per_frame",
                        "unexplained_16_vs_floyd_steinberg"]))
    print("\nWhere the players join sequences (pixels flipped): an idle loop's wrap from its last frame to its first, a"
          " transition's end into the idle loop it leads to, and its start from the loop's pose, where the players start"
          " it (start_seam_px), or from any frame of the loop (start_seam_any_px, as they did before); for the stable"
          " dithers also with each sequence dithered by itself (per_sequence: how packs were dithered before)")
    print(table(packs, ["framing", "dither", "mean_flips_per_frame", "idle_wrap_px", "end_seam_px", "start_seam_px",
                        "start_seam_any_px", "idle_wrap_px_per_sequence", "end_seam_px_per_sequence",
                        "start_seam_px_per_sequence"]))
    return packs


PACK_FACES = 8  # FER+ validation faces, evenly spaced by file name, beside the demo photo


def face_pack_table(checkpoint: str, count: int = PACK_FACES) -> list[dict]:
    """The default full-screen pack's ratio, with the context codec (pack's default) and the byte
    codecs, for the demo photo and `count` FER+ validation faces: how one face's figure holds over
    faces (more strokes, more bytes). Printed, with the median and minimum over the FER+ faces."""
    from emosketch.export import ExportOptions, build_pack
    from emosketch.frames import split_sequences
    from emosketch.interpolate.animate import open_renderer
    from emosketch.interpolate.pack import sequences

    r = open_renderer(checkpoint, "cpu")
    faces = [("the demo photo", r.source(demo_photo()))]
    folder = FERPLUS / "FER2013Valid"
    names = sorted(p.name for p in folder.glob("*.png")) if folder.is_dir() else []
    for name in names[::max(1, len(names) // count)][:count]:
        faces.append((name, r.source_from_gray(cv2.imread(str(folder / name), cv2.IMREAD_GRAYSCALE))))
    rows = []
    for name, face in faces:
        parts = [(n, "generator", part) for n, part in split_sequences(sequences(r, face, list(r.classes)), "frames")]
        row = {"face": name}
        for prefix, drawing in (("", PANEL), ("band_", FACE_BAND)):
            layout = with_face(drawing.layout, face.sketch[None])  # as face_pack frames it
            for codec in ("ctx", "auto"):
                m = build_pack(parts, ExportOptions(layout=layout, dither=drawing.dither, codec=codec)).manifest()
                row[f"{prefix}{codec}_ratio"] = m["raw_bytes"] / m["total_bytes"]
                row[f"{prefix}{codec}_bytes"] = m["total_bytes"]
        rows.append(row)
    fer = rows[1:]
    if fer:
        for label, pick in (("median of the FER+ faces", np.median), ("lowest of the FER+ faces", np.min)):
            rows.append({"face": label, **{k: float(pick([f[k] for f in fer])) for k in fer[0] if k.endswith("_ratio")}})
        rows.append({"face": "FER+ faces at 12:1 or more (ctx)", "ctx_ratio": sum(f["ctx_ratio"] >= 12 for f in fer),
                     "band_ctx_ratio": sum(f["band_ctx_ratio"] >= 12 for f in fer)})
    print(f"\nThe default pack (6 idle loops + 30 transitions, the panel's defaults: PANEL) of the demo photo and "
          f"{len(fer)} FER+ validation faces: ratio with the context codec (the default) and with --codec auto; "
          "band_: the face band (FACE_BAND, --mode face --thin), the smallest packs")
    print(table(rows, ["face", "ctx_ratio", "ctx_bytes", "auto_ratio", "auto_bytes", "band_ctx_ratio", "band_ctx_bytes",
                       "band_auto_ratio"]))
    return rows


def tft_figures(checkpoint: str) -> list[dict]:
    """The demo photo's six-emotion pack on each colour TFT: the span codec on 16-bit pixels beside
    the OLED packs' byte codec (XOR delta + byte RLE, keyframes RLE) on the same RGB565 frames."""
    from emosketch.export import ExportOptions, build_pack
    from emosketch.export import codec as byte_codec
    from emosketch.export.framing import steady_box
    from emosketch.export.pack import panel_codec
    from emosketch.export.tft import PANELS, TftOptions, build_tft_pack
    from emosketch.frames import split_sequences
    from emosketch.interpolate.animate import open_renderer
    from emosketch.interpolate.pack import sequences

    r = open_renderer(checkpoint, "cpu")
    face = r.source(demo_photo())
    parts = [(n, "generator", f) for n, f in split_sequences(sequences(r, face, list(r.classes)), "frames")]
    rows = []
    for panel in PANELS:
        for shades in (2, 4):
            pack = build_tft_pack(parts, TftOptions(panel=panel, shades=shades), box=steady_box(face.sketch[None]))
            raw = pack.words.reshape(len(pack.words), -1).astype("<u2").view(np.uint8)
            byte_coded = sum(len(p) for _, p in byte_codec.encode_frames(raw, "auto", set(pack.firsts)))
            row = {"panel": panel, "shades": shades, "frames": len(pack.payloads),
                   "span_bytes": len(pack.data), "span_ratio": pack.raw_bytes / len(pack.data),
                   "byte_codec_bytes": byte_coded, "byte_codec_ratio": pack.raw_bytes / byte_coded,
                   "kb_per_frame": len(pack.data) / len(pack.payloads) / 1024}
            if shades == 2:  # the panel drawing at the TFT's size as a 1-bit gfx pack (pack --size WxH --format gfx),
                # drawn by the adafruit_st7789 example with drawBitmap; raw stays the RGB565 frames' bytes
                w, h = PANELS[panel]
                layout = with_face(replace(PANEL.layout, width=w, height=h), face.sketch[None])  # as face_pack
                opts = ExportOptions(layout=layout, dither=PANEL.dither, pixel_format="gfx",
                                     codec=panel_codec("gfx", w, h))
                one_bit = build_pack(parts, opts).manifest()["total_bytes"]
                row |= {"one_bit_bytes": one_bit, "one_bit_ratio": pack.raw_bytes / one_bit,
                        "one_bit_vs_span": len(pack.data) / one_bit}
            rows.append(row)
    return rows


def tft_table(checkpoint: str) -> list[dict]:
    tft = tft_figures(checkpoint)
    print("\nThe same pack on colour TFTs (RGB565; ratio = raw / packed): the 16-bit span codec vs the byte codec")
    print(table(tft, ["panel", "shades", "frames", "span_bytes", "span_ratio", "byte_codec_bytes",
                      "byte_codec_ratio", "kb_per_frame", "one_bit_bytes", "one_bit_ratio", "one_bit_vs_span"]))
    print("one_bit: the panel drawing at the TFT's size as a 1-bit gfx pack (pack --size WxH --format gfx, the "
          "context codec), drawn by the adafruit_st7789 example; its ratio against the same raw RGB565 bytes")
    return tft


def still_flicker(checkpoint: str, steps: int = 30) -> list[dict]:
    """Dither flicker on a still full-screen face: the demo photo's generated neutral face, whose tone
    fades by 2 gray levels a frame (export.py's flicker test, on the new framing). Nothing moves, so
    every flipped pixel is dither noise."""
    from emosketch.interpolate.animate import open_renderer
    from emosketch.interpolate.timeline import pose

    r = open_renderer(checkpoint, "cpu")
    face = r.source(demo_photo())
    still = r.render(face, r.bank.blend(pose(r.classes, "neutral")[None], r.bank.codes(0, 1.0)))[0]
    rows = []
    for name, layout in (("fit", Layout(128, 64, "fit")), ("face", with_face(Layout(128, 64, "face"), face.sketch[None]))):
        base = apply_layout(still[None], layout)[0].astype(int)
        fade = np.stack([np.clip(base + 2 * k, 0, 255) for k in range(steps)]).astype(np.uint8)
        found = []
        for label, d in (("lineart", Dither("lineart")), ("lineart --stable", Dither("lineart", stable=True)),
                         ("lineart --stable --thin", Dither("lineart", stable=True, thin=True)),
                         ("the default (PANEL): fill none, --stable, paper lit, specks < 4 px dropped", PANEL.dither),
                         ("FACE_BAND's: 2 px, fill none, --stable --thin", OLED_DITHER),
                         ("bluenoise --stable", Dither("bluenoise", stable=True)),
                         ("floyd-steinberg", Dither("floyd-steinberg"))):
            bits = to_bits(fade, d)
            found.append({"layout": name, "dither": label,
                          "mean_flips_per_frame": float((bits[1:] != bits[:-1]).sum(axis=(1, 2)).mean())})
        fs = found[-1]["mean_flips_per_frame"]
        for f in found:
            f["vs_floyd_steinberg"] = f["mean_flips_per_frame"] / fs if fs else None
        rows += found
    return rows


def still_table(checkpoint: str) -> list[dict]:
    flicker = still_flicker(checkpoint)
    print("\nFlicker on a still face whose tone fades 2 levels a frame (pixels flipped per frame)")
    print(table(flicker, ["layout", "dither", "mean_flips_per_frame", "vs_floyd_steinberg"]))
    return flicker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench-out", help="folder for panel.json (and the judges in realfaces/)")
    ap.add_argument("--checkpoint", type=existing, default=None, help="the generator (default: the shipped one)")
    ap.add_argument("--faces", type=whole(1), default=200, help="FER+ valid faces, each redrawn in the 5 other emotions")
    ap.add_argument("--judges", default="A,B", help="which of realfaces.py's CNN judges read the panel")
    ap.add_argument("--no-packs", action="store_true", help="skip the pack ratio and flicker table")
    ap.add_argument("--reading-only", action="store_true",
                    help="only the judges' reading table (the panel as shown, and the information kept)")
    ap.add_argument("--packs-only", action="store_true",
                    help="only the demo photo's packs (OLED and TFT) and still-face flicker tables (no FER+ "
                         "faces or judges needed)")
    args = ap.parse_args()
    judge_names = [j.strip() for j in args.judges.split(",") if j.strip()]
    if not judge_names or set(judge_names) - set(JUDGES):
        ap.error(f"--judges {args.judges!r}: expected some of {', '.join(JUDGES)}, comma-separated")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    out = Path(args.out)
    checkpoint = str(args.checkpoint or default_generator())
    if args.packs_only:
        out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        result = {"checkpoint": checkpoint, "packs": pack_table(checkpoint), "face_packs": face_pack_table(checkpoint),
                  "tft": tft_table(checkpoint), "flicker_still": still_table(checkpoint),
                  "seconds": round(time.perf_counter() - start, 1), "cores": os.cpu_count()}
        (out / "panel-packs.json").write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwrote {out / 'panel-packs.json'}")
        return
    if not (FERPLUS / "FER2013Train").is_dir():
        print(f"(real FER+ faces not found at {FERPLUS}: nothing to measure)")
        return
    from emosketch.gan.sample import GanTranslator

    work = out / "realfaces"
    work.mkdir(parents=True, exist_ok=True)
    data = real_dataset(work, reuse=True)
    ds = load(data)
    judges = {j: load_classifier(train_judge(j, data, work, reuse=True), "cpu")[0].eval() for j in judge_names}
    start = time.perf_counter()
    rows_, images, _, pair_rows, targets, seeds = translation_pairs(ds, "val", args.faces, np.random.default_rng(0))
    sources = images[pair_rows]
    tr = GanTranslator(checkpoint, "cpu", ink=False)  # the panel is drawn from the gray output, as the product does
    gen = (np.clip(tr.translate(sources, targets, seeds), 0, 1) * 255).round().astype(np.uint8)
    side = gen.shape[1]
    src_u8 = (np.clip(sources, 0, 1) * 255).round().astype(np.uint8) if sources.dtype != np.uint8 else sources
    before = {j: float((read(m, gen) == targets).mean()) for j, m in judges.items()}
    rows = [{"variant": "the generated sketch itself", **{f"acc_{j}": before[j] for j in judges},
             "stroke_width": None}]
    for name, layout, d in VARIANTS:
        backs, grays, bits_all, shown = [], [], [], []
        for src, img in zip(src_u8, gen):
            lay = with_face(layout, src[None])  # the framing comes from the source face, steady over its edits
            gray = apply_layout(img[None], lay)
            bits = to_bits(gray, d)[0]
            ink = bits if d.polarity == "ink" else ~bits  # the strokes, whichever of them is lit
            bits_all.append(ink)
            backs.append(undo(ink, lay, side))
            shown.append(as_shown(bits, side, d.polarity))
            grays.append(undo(1 - gray[0].astype(np.float32) / 255, lay, side, gain=1.0))
        row = {"variant": name, "stroke_width": stroke_width(np.stack(bits_all))}
        for j, m in judges.items():
            acc = float((read(m, np.stack(backs)) == targets).mean())
            acc_gray = float((read(m, np.stack(grays)) == targets).mean())
            row[f"gray_{j}"], row[f"acc_{j}"] = acc_gray, acc
            row[f"shown_{j}"] = float((read(m, np.stack(shown)) == targets).mean())
            row[f"ratio_{j}"], row[f"total_{j}"] = acc / max(acc_gray, 1e-9), acc / before[j]
        rows.append(row)
        cv2.imwrite(str(out / f"panel-{len(rows) - 1}.png"),
                    np.concatenate([np.concatenate([np.where(b, 255, 0).astype(np.uint8) for b in bits_all[i:i + 4]], 1)
                                    for i in range(0, 16, 4)], 0))
    print(f"\n{len(targets)} translations ({args.faces} FER+ valid faces x 5 other emotions) by {checkpoint}; "
          "shown: the judges read the panel frame as a person sees it (real pixels, the centre 64 px, nothing undone; "
          "benchmarks/legibility.py asks people). The information kept, not legibility: acc, the panel mapped "
          "back onto the sketch (the framing undone); gray: the same before 1 bit; ratio = acc / gray; "
          "total = acc / the sketch itself")
    print(table(rows, ["variant"] + [f"{k}_{j}" for j in judges for k in ("shown", "gray", "acc", "ratio", "total")]
                + ["stroke_width"]))
    if args.reading_only:
        result = {"checkpoint": checkpoint, "faces": args.faces, "translations": int(len(targets)), "rows": rows,
                  "seconds": round(time.perf_counter() - start, 1), "cores": os.cpu_count()}
        (out / "panel-reading.json").write_text(json.dumps(result, indent=1) + "\n")
        print(f"\nwrote {out / 'panel-reading.json'}")
        return
    ups = upscaler_rows(judges, src_u8, gen, targets, side)
    print("\nEnlarging the 64 px face onto the panel (face brows-chin): target accuracy read back, stroke width")
    print(table(ups, ["upscaler"] + [f"acc_{j}" for j in judges] + ["stroke_width", "lit"]))
    hist = history_rows(tr, judges, src_u8, targets, seeds, side)
    print("\nThe stable dither's history: the transitions' end frame as a pack shows it (face brows-chin, the default "
          "dither unless named), read back; ratio = acc / gray (the goal: >= 0.9)")
    print(table(hist, ["end_frame"] + [f"{k}_{j}" for j in judges for k in ("gray", "acc", "ratio")]
                + ["differs_from_alone_px", "flips_per_frame"]))
    exag = exaggeration_rows(tr, judges, src_u8, targets, seeds, side)
    print("\nIntensity (> 1 exaggerates): target accuracy of the sketch and after the default panel (face, the default dither)")
    print(table(exag, ["intensity"] + [f"{k}_{j}" for j in judges for k in ("sketch", "panel")] + ["edit_pixels"]))
    packs = [] if args.no_packs else pack_table(checkpoint)
    face_packs = [] if args.no_packs else face_pack_table(checkpoint)
    tft = [] if args.no_packs else tft_table(checkpoint)
    flicker = still_table(checkpoint)
    result = {"flicker_still": flicker, "checkpoint": checkpoint, "faces": args.faces, "translations": int(len(targets)), "rows": rows,
              "upscalers": ups, "transitions": hist, "exaggeration": exag, "packs": packs,
              "face_packs": face_packs, "tft": tft, "seconds": round(time.perf_counter() - start, 1), "cores": os.cpu_count()}
    (out / "panel.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {out / 'panel.json'}")


if __name__ == "__main__":
    guarded(main)
