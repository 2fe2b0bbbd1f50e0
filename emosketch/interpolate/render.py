"""Rendering walks through style space into frames: a trained generator, a source face, and
the style codes of a plan (timeline or transition) or an agent trace, batched on the device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..errors import EmosketchError, is_whole, shown
from ..export.panel import PANEL, Panel, draw
from ..frames import Frames, to_gray, write_frames
from .agent import can_smirk
from .paths import StyleBank, lerp, slerp
from .timeline import Plan


@dataclass
class Source:
    sketch: np.ndarray  # uint8 [S, S] at the model's size, what the generator redraws
    original: np.ndarray  # uint8 gray: a photo's face crop, or the sketch or dataset face it came from
    how: str  # e.g. "photo -> sketch (haar)", "sketch as is", "dataset data/x #12 (happy)"


KINDS = ("auto", "photo", "sketch")  # what a face image is: told apart by its look (auto), or said
MAX_BATCH = 4096  # codes drawn per forward pass at most
MAX_MEAN_SAMPLES = 1_000_000  # latents averaged for each emotion's mean style at most


def check_counts(batch: object, mean_samples: object) -> None:
    """Refuse a batch or a mean-samples count that is not a whole number from 1 up (batch -1 had drawn no frame
    at all, mean_samples 0 NaN codes and black frames), both without an error."""
    for name, value, most in (("batch", batch, MAX_BATCH), ("mean_samples", mean_samples, MAX_MEAN_SAMPLES)):
        if not is_whole(value) or not 1 <= value <= most:
            raise EmosketchError(f"{name} must be a whole number from 1 to {most:,}, got {shown(value)}")


def check_codes(codes: object, dim: int) -> None:
    """Refuse style codes that are not a finite float tensor [N, dim]: NaN codes drew black frames."""
    if not isinstance(codes, torch.Tensor) or codes.ndim != 2 or codes.shape[1] != dim or not codes.is_floating_point():
        what = f"{codes.dtype} {tuple(codes.shape)}" if isinstance(codes, torch.Tensor) else type(codes).__name__
        raise EmosketchError(f"style codes must be a float tensor [N, {dim}] (Renderer.plan_codes, weight_codes or "
                             f"bank.blend make them), got {what}")
    if not torch.isfinite(codes).all():
        raise EmosketchError("style codes hold NaN or infinite values (a NaN psi or weight?)")


def check_source(source: object, size: int) -> None:
    """Refuse a face that is not a Source whose sketch is uint8 [size, size]."""
    sketch = getattr(source, "sketch", None)
    if not isinstance(sketch, np.ndarray) or sketch.dtype != np.uint8 or sketch.shape != (size, size):
        what = f"{sketch.dtype} {sketch.shape}" if isinstance(sketch, np.ndarray) else type(source).__name__
        raise EmosketchError(f"the face must be a Source (Renderer.source makes one) whose sketch is uint8 "
                             f"[{size}, {size}], got {what}")


class Renderer:
    """A checkpoint's EMA generator and mapping network, ready to draw frames for style codes."""

    drawn = None  # called with the count of each batch of frames drawn (a progress bar's update), when set

    def __init__(self, checkpoint: str | Path, device: str = "auto", batch: int = 32, mean_samples: int = 1000):
        from ..gan.sample import LoadedGenerator

        check_counts(batch, mean_samples)
        self.g = LoadedGenerator(checkpoint, device)
        self.device, self.nets, self.state = self.g.device, self.g.nets, self.g.state
        self.classes, self.size = self.g.classes, self.g.size
        self.batch = batch
        self.bank = StyleBank(self.nets.mapping, self.classes, self.device, mean_samples)

    # ---- the face to redraw ------------------------------------------------------------------

    def source(self, image: str | Path | None = None, data: str | Path | None = None, index: int = 0,
               kind: str = "auto", seed: int = 0) -> Source:
        """A face from an image file (photo or sketch), or sample `index` of a sketch dataset's test
        split. (`seed` picks the face only for generators that draw their own, see StyleGanRenderer.)"""
        from ..tensors import resize_batch

        if (image is None) == (data is None):
            raise EmosketchError("give a face image or a dataset (and an index), one of the two")
        if kind not in KINDS:  # 'cartoon' had been read as a photo
            raise EmosketchError(f"kind {shown(kind)}: expected one of {', '.join(KINDS)}")
        if isinstance(image, np.ndarray):  # a picture already decoded
            return self.source_from_gray(image, kind)
        if image is not None:
            from ..datasets.decode import Skip, decode_file

            try:
                gray = decode_file(Path(image))
            except Skip as exc:
                raise EmosketchError(f"{image}: {exc}") from None
            try:
                return self.source_from_gray(gray, kind)
            except EmosketchError as exc:  # what is wrong with the picture, named by its file
                raise EmosketchError(f"{image}: {exc}") from None
        from ..datasets.dataset import load

        ds = load(data)
        rows = ds.indices("test")
        split = "test" if len(rows) else "all"  # a dataset with no test split: its faces, named as such
        rows = rows if len(rows) else np.arange(len(ds))
        if not 0 <= index < len(rows):
            raise EmosketchError(f"{data}: index {index} is outside its {len(rows)} "
                                 f"{'test faces' if split == 'test' else 'faces (it has no test split)'}")
        row = int(rows[index])
        sketch = np.asarray(ds.images[row])
        original = np.asarray(ds.faces[row]) if ds.faces is not None else sketch
        how = f"dataset {data} {'test ' if split == 'test' else ''}#{index} ({ds.classes[ds.labels[row]]})"
        return Source(resize_batch(sketch[None], self.size)[0], original, how)

    def source_from_gray(self, gray: np.ndarray, kind: str = "auto", settings: dict | None = None) -> Source:
        """A decoded gray image (photo or sketch) -> the face to redraw, through the checkpoint's own
        face crop and sketch settings (prepare's defaults for a model that has none), or `settings` given
        in their place (e.g. datasets.photo.with_photo_margin of them)."""
        from ..datasets.photo import model_input_and_face
        from ..datasets.sketch import SketchConfig
        from ..tensors import resize_batch

        if not isinstance(gray, np.ndarray) or gray.size == 0 or gray.ndim not in (2, 3) or (
                gray.ndim == 3 and gray.shape[2] not in (1, 3, 4)):
            what = f"{gray.dtype} {gray.shape}" if isinstance(gray, np.ndarray) else type(gray).__name__
            raise EmosketchError(f"the picture must be an image array [H, W] or [H, W, 3 or 4] (OpenCV's BGR), got {what}")
        gray = to_gray(gray)  # a colour, 16-bit or float [0, 1] picture too: a BGR one had failed to unpack
        data = self.state.get("dataset", {}) if settings is None else settings
        sketch, how, face = model_input_and_face(gray, data, int(data.get("size") or self.size), "sketch", kind,
                                                 SketchConfig())
        # a photo's source is the face crop its sketch was made from (side by side, it stands beside the sketch;
        # the photo's middle square had been shown, a plain background where the face was off centre)
        return Source(resize_batch(sketch[None], self.size)[0], gray if face is None else face, how)

    # ---- style codes ---------------------------------------------------------------------------

    def plan_codes(self, plan: Plan, seed: int = 0, psi: float = 1.0, mode: str = "lerp",
                   space: str = "style", seed_to: int | None = None) -> torch.Tensor:
        """Style codes [T, D] for every frame of a plan.

        style space: every emotion's code at one latent (seed), the frame's start and end poses
        blended from them, and lerp or slerp between the two by the eased t.
        z space: the latent itself moves from seed to seed_to by slerp over the whole plan, and
        each frame's pose is blended from the codes at its own latent."""
        if plan.classes != self.classes:
            raise EmosketchError(f"the plan's emotions {plan.classes} are not the model's {self.classes}")
        if mode not in ("lerp", "slerp"):
            raise EmosketchError(f"mode {mode!r}: expected lerp or slerp")
        if space == "style" and seed_to is not None:
            raise EmosketchError("--seed-to moves the latent, which only --space z does; give --space z too")
        if space == "z" and (seed_to is None or seed_to == seed):
            raise EmosketchError(f"--space z moves the latent from --seed {seed} to --seed-to, another seed; "
                                 "without one it draws as --space style")
        if space == "style":
            codes = self.bank.codes(seed, psi)
            a, b = self.bank.blend(plan.a, codes), self.bank.blend(plan.b, codes)
            t = torch.as_tensor(plan.t, dtype=a.dtype, device=a.device)
            return lerp(a, b, t) if mode == "lerp" else slerp(a, b, t)
        if space != "z":
            raise EmosketchError(f"space {space!r}: expected style or z")
        z0, z1 = self.bank.latents([seed, seed_to])
        u = torch.linspace(0.0, 1.0, len(plan)) if len(plan) > 1 else torch.zeros(1)
        z = slerp(z0[None].expand(len(u), -1), z1[None].expand(len(u), -1), u)
        per_class = torch.stack([self.bank.z_path(e, z, psi) for e in self.classes], 1)  # [T, C, D]
        poses = torch.as_tensor(plan.poses(), dtype=per_class.dtype, device=per_class.device)
        return torch.stack([self.bank.blend(p[None], c)[0] for p, c in zip(poses, per_class)])

    def weight_codes(self, weights: np.ndarray, seed: int = 0, psi: float = 1.0) -> torch.Tensor:
        """The agent's blend sum_e w_e s_e for weights [T, C]: [T, D]."""
        return self.bank.blend(weights, self.bank.codes(seed, psi))

    def smirk_sides(self, weights: np.ndarray, smirk: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """For render_weights: the weights [T, C] of the smiling side (that much of the face's neutral weight
        moved to happy) and the frames [K] drawn twice for it, or None when no frame smirks."""
        if smirk is None or not np.any(np.asarray(smirk) > 0):
            return None
        smirk = np.asarray(smirk, np.float64)
        if smirk.shape != (len(weights),) or not np.all((smirk >= 0) & (smirk <= 1)):
            raise EmosketchError(f"smirk: expected {len(weights)} values from 0 to 1")
        if not can_smirk(self.classes):
            raise EmosketchError(f"a smirk needs happy and neutral; this model has {', '.join(self.classes)}")
        side = np.array(weights, np.float64)
        move = np.minimum(smirk, side[:, self.classes.index("neutral")])
        side[:, self.classes.index("neutral")] -= move
        side[:, self.classes.index("happy")] += move
        return side, np.flatnonzero(move > 0)

    def render_weights(self, source: Source, weights: np.ndarray, smirk: np.ndarray | None = None, seed: int = 0,
                       psi: float = 1.0, batch: int | None = None) -> np.ndarray:
        """The agent's frames: G(source, weight_codes(weights)), uint8 [T, S, S]. Where smirk [T] (the
        agent's one-sided smile, 0..1) is above 0, that much of the face's neutral weight is moved to
        happy on its lower right (one_sided): one mouth corner smiles, the rest of the face does not."""
        frames = self.render(source, self.weight_codes(weights, seed, psi), batch)
        sided = self.smirk_sides(weights, smirk)
        if sided is None:
            return frames
        side, on = sided
        drawn = self.render(source, self.weight_codes(side[on], seed, psi), batch)
        frames[on] = one_sided(frames[on], drawn)
        return frames

    # ---- drawing -------------------------------------------------------------------------------

    @torch.no_grad()
    def render(self, source: Source, codes: torch.Tensor, batch: int | None = None) -> np.ndarray:
        """G(source, s) for every code: uint8 [T, S, S]; `batch` codes per forward pass."""
        from ..tensors import to_tensor, to_uint8

        n = batch or self.batch
        check_counts(n, 1)
        check_source(source, self.size)
        check_codes(codes, self.bank.means.shape[1])
        x1 = to_tensor(source.sketch[None], self.device)
        out = []
        for s in range(0, len(codes), n):
            c = codes[s:s + n].to(self.device)
            y = self.g.redraw(x1.expand(len(c), -1, -1, -1), c)
            out.append(to_uint8(y[:, 0]))
            if self.drawn is not None:
                self.drawn(len(c))
        return np.concatenate(out) if out else np.zeros((0, self.size, self.size), np.uint8)


# one_sided's mask, in fractions of the frame: the drawing's right (the face's left) from x_from to x_to
# (a soft seam through the middle of the mouth), below y_from to y_to (under the eyes, above the mouth)
SIDE_SEAM = (0.45, 0.55)
SIDE_BELOW = (0.50, 0.58)
# with_mouth's mask: the face below y_from to y_to (under the nose's tip, above the mouth) from the other pose
MOUTH_BELOW = (0.58, 0.66)


def side_mask(size: int) -> np.ndarray:
    """one_sided's weight of the side frames, float [size, size] in 0..1: 1 on the drawing's lower
    right (the face's left cheek and mouth corner), 0 on its left and above the mouth, soft seams."""
    c = (np.arange(size) + 0.5) / size
    x = np.clip((c - SIDE_SEAM[0]) / (SIDE_SEAM[1] - SIDE_SEAM[0]), 0, 1)
    y = np.clip((c - SIDE_BELOW[0]) / (SIDE_BELOW[1] - SIDE_BELOW[0]), 0, 1)
    return y[:, None] * x[None, :]


def mouth_mask(size: int) -> np.ndarray:
    """with_mouth's weight of the other frames, float [size, size] in 0..1: 1 across the face below
    the nose (the mouth and jaw), 0 above it (eyes and brows), a soft seam between."""
    c = (np.arange(size) + 0.5) / size
    y = np.clip((c - MOUTH_BELOW[0]) / (MOUTH_BELOW[1] - MOUTH_BELOW[0]), 0, 1)
    return np.repeat(y[:, None], size, axis=1)


def _regional(frames: np.ndarray, other: np.ndarray, mask_of, what: str) -> np.ndarray:
    """`frames` with `other` where mask_of(S) is 1, cross-faded where it is between; or one line."""
    if frames.shape != other.shape or frames.ndim != 3 or frames.shape[1] != frames.shape[2]:
        raise EmosketchError(f"{what}: expected two [T, S, S] stacks of one shape, got {frames.shape} "
                             f"and {other.shape}")
    mask = mask_of(frames.shape[1])
    out = frames.astype(np.float32) * (1 - mask) + other.astype(np.float32) * mask
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def one_sided(frames: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Frames uint8 [T, S, S] with the lower right of the face (side_mask) taken from `side` (the same
    face drawn in another pose): one mouth corner and cheek move and the other stays, as in a smirk
    (one lip corner raised, FACS AU14 on one side). The seam is a soft cross-fade."""
    return _regional(frames, side, side_mask, "one_sided")


def with_mouth(frames: np.ndarray, mouth: np.ndarray) -> np.ndarray:
    """Frames uint8 [T, S, S] with the face below the nose (mouth_mask) taken from `mouth` (the same
    face drawn in another pose): the brows and eyes of one expression with the mouth of another, for
    example fear's raised brows and wide eyes without its turned-down mouth. The seam is soft."""
    return _regional(frames, mouth, mouth_mask, "with_mouth")


def upscale(frames: np.ndarray, side: int) -> np.ndarray:
    """Frames to side x side for viewing (bicubic, clipped)."""
    if frames.shape[1] == side:
        return frames
    return np.stack([cv2.resize(f, (side, side), interpolation=cv2.INTER_CUBIC) for f in frames])


def side_by_side(original: np.ndarray, frames: np.ndarray, side: int = 256, panel: Panel = PANEL,
                 zooms=None) -> np.ndarray:
    """[source | sketch | OLED preview] per frame: uint8 [T, side, 2*side + 2*gap + panel], where
    the panel is the display scaled by side // its width (at least 1), framed in gray, and its cell
    at least side wide."""
    gap = 8
    h, w = original.shape[:2]
    m = min(h, w)
    src = cv2.resize(original[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m], (side, side),
                     interpolation=cv2.INTER_AREA if m > side else cv2.INTER_CUBIC)
    sketches = upscale(frames, side)
    bits = draw(frames, panel, zooms)
    scale = max(1, side // bits.shape[2])
    panel_w, panel_h = bits.shape[2] * scale, bits.shape[1] * scale
    edge = 2  # a gray frame round the panel, so a lit panel's edges show on the white page
    cell = max(side, panel_w + 2 * edge)
    out = np.full((len(frames), max(side, panel_h + 2 * edge), 2 * side + 2 * gap + cell), 255, np.uint8)
    out[:, :side, :side] = src
    out[:, :side, side + gap:2 * side + gap] = sketches
    x0, y0 = 2 * side + 2 * gap + (cell - panel_w) // 2, (out.shape[1] - panel_h) // 2
    out[:, y0 - edge:y0 + panel_h + edge, x0 - edge:x0 + panel_w + edge] = 128
    lit = np.repeat(np.repeat(bits, scale, 1), scale, 2)
    out[:, y0:y0 + panel_h, x0:x0 + panel_w] = np.where(lit, 255, 0).astype(np.uint8)
    return out


def write_outputs(frames: Frames, outputs: list[str | Path], view_side: int = 256,
                  original: np.ndarray | None = None) -> list[Path]:
    """Write frames to each output: .npz keeps the model's pixels (for `emosketch export`);
    GIF, video and folders get a viewing size, or the side-by-side layout when `original` is given."""
    from ..frames import check_output

    for out in outputs:  # every output's kind before any is written
        check_output(out)
    written = []
    view = None
    for out in outputs:
        out = Path(out)
        if out.suffix.lower() == ".npz":
            written.append(write_frames(out, frames))
            continue
        if view is None:
            zooms = ([float(m.get("zoom", 1.0)) for m in frames.marks]
                     if frames.marks and any("zoom" in m for m in frames.marks) else None)
            pixels = (side_by_side(original, frames.frames, view_side, zooms=zooms) if original is not None
                      else upscale(frames.frames, view_side))
            view = Frames(pixels, frames.fps, frames.marks)
        written.append(write_frames(out, view))
    return written
