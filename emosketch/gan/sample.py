"""Using a trained generator: redraw sketches (or photos, through the dataset's face crop and sketch)
in chosen emotions, and the Translator that `emosketch evaluate --checkpoint` judges."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import torch

from .. import checkpoints
from ..atomic import atomic_dir
from ..datasets.decode import Skip, decode_file
from ..datasets.photo import model_input
from ..datasets.sketch import SketchConfig
from ..emotions import pick_emotions
from ..errors import EmosketchError, is_whole, shown
from ..frames import GIF_SUFFIXES, IMAGE_SUFFIXES, write_image
from ..tensors import pick_device, resize_batch, to_tensor
from ..text import labelled_columns
from .checkpoint import INFERENCE, load_checkpoint
from .networks import ModelConfig, Networks, mean_styles, z_codes


def load_generator(path: str | Path, device: torch.device | str = "cpu") -> tuple[Networks, dict]:
    """The EMA networks of a checkpoint (eval mode) and its plain values."""
    state = load_checkpoint(path)
    return networks_from_state(state, path, device), state


def networks_from_state(state: dict, path: str | Path, device: torch.device | str = "cpu") -> Networks:
    """A generator checkpoint's EMA networks (eval mode), every part of it checked first: its config,
    classes, weight shapes and values, and its dataset settings (what a photo is read with); `path`
    names it in errors."""
    from ..config import from_dict
    from ..datasets.photo import photo_configs

    checkpoints.require(state, {"config": dict, "classes": list, "ema": dict, "image_size": int}, path)
    checkpoints.require(state["config"], {"model": dict}, f"{path}:config")
    checkpoints.check_classes(state["classes"], path)
    model = from_dict(ModelConfig, state["config"]["model"], f"{path}:config.model")
    if state["image_size"] != model.out_size:
        raise EmosketchError(f"{path}: image_size {state['image_size']} is not the size its model draws "
                             f"({model.out_size})")
    # The EMA holds G, F and E (checkpoints before 2026-12-02 also held an EMA of D, which sampling
    # never used); D keeps its fresh weights.
    weights = {name: {k.split(".", 1)[1]: v for k, v in state["ema"].items() if k.startswith(name + ".")}
               for name in INFERENCE}
    with torch.device("meta"):  # the config's networks without their memory: is it the model the file holds?
        shapes = Networks(model, len(state["classes"]))
    for name in INFERENCE:
        checkpoints.check_shapes(getattr(shapes, name), weights[name], path, name)
    d_params = sum(p.numel() for p in shapes.discriminator.parameters())
    if d_params > 4 * sum(v.numel() for w in weights.values() for v in w.values()):  # D is built fresh
        raise EmosketchError(f"{path}: its config makes a discriminator of {d_params:,} parameters, out of all "
                             "proportion to the weights it holds; nothing was built")
    nets = Networks(model, len(state["classes"]))
    for name in INFERENCE:
        checkpoints.load_weights(getattr(nets, name), weights[name], path, name)
    if state.get("mixes"):
        from .mixes import mix_matrix

        nets.mapping.mix = mix_matrix(state["mixes"], state["classes"], f"{path}: mixes")
    try:
        photo_configs(state.get("dataset") or {})
    except EmosketchError as exc:
        raise EmosketchError(f"{path}: {exc}") from None
    return nets.to(device).eval()


class LoadedGenerator:
    """A generator checkpoint loaded for inference, once: its EMA networks on a device, its emotions,
    its image size and latent size. GanTranslator (evaluation) and interpolate's Renderer (frames)
    are built on it."""

    def __init__(self, checkpoint: str | Path, device: str | torch.device = "auto"):
        self.device = pick_device(device) if isinstance(device, str) else device
        self.nets, self.state = load_generator(checkpoint, self.device)
        self.classes: list[str] = list(self.state["classes"])
        self.size = int(self.state["image_size"])

    @property
    def latent_dim(self) -> int:
        return self.nets.mapping.latent_dim

    def emotions(self, names: list[str] | None) -> list[str]:
        """Names in any spelling -> this model's classes (all of them for None), or one line."""
        return pick_emotions(names, self.classes)

    @torch.no_grad()
    def redraw(self, x: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
        """G(x, s): sketches [N, 1, S, S] in [-1, 1] redrawn with style codes [N, D]."""
        return self.nets.generator(x, styles)


INK_LEVEL = 0.5  # gray in [0, 1]: darker is ink


def ink(sketches: np.ndarray, level: float = INK_LEVEL) -> np.ndarray:
    """Pure ink and paper, as the training sketches are (datasets.sketch binarizes them): the network
    draws their strokes with soft, anti-aliased edges, which it cannot help, and a judge fitted on real
    sketches can read those edges as another kind of picture (benchmarks/realfaces.py measures both).
    float [0, 1] in -> float32 0.0 / 1.0 out, same shape."""
    return (np.asarray(sketches) >= level).astype(np.float32)


class GanTranslator:
    """A trained generator behind the evaluation protocol (emosketch.evaluate.generator.Translator).
    Its sketches are inked (see ink()) unless ink=False asks for the network's own gray output."""

    def __init__(self, checkpoint: str | Path, device: str = "auto", batch: int = 64, ink: bool = True,
                 psi: float = 1.0):
        if not is_whole(batch) or not 1 <= batch <= 4096:
            raise EmosketchError(f"batch must be a whole number from 1 to 4,096, got {shown(batch)}")
        if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not math.isfinite(psi):
            raise EmosketchError(f"psi must be a finite number, got {shown(psi)}")
        self.g = LoadedGenerator(checkpoint, device)
        self.device, self.nets, self.state = self.g.device, self.g.nets, self.g.state
        self.classes, self.size = self.g.classes, self.g.size
        self.batch, self.ink = batch, ink
        self.psi = psi  # truncation toward each emotion's mean style, as pack's and interpolate's --psi
        self._means = None

    @torch.no_grad()
    def codes(self, targets: torch.Tensor, seeds) -> torch.Tensor:
        """The style code of each (target, seed): F(z_seed, target), truncated toward the target's mean style
        by psi (1 keeps it, 0 gives the mean; as interpolate.paths.StyleBank)."""
        s = self.nets.mapping(z_codes(seeds, self.g.latent_dim).to(self.device), targets)
        if self.psi == 1:
            return s
        if self._means is None:
            self._means = mean_styles(self.nets.mapping, len(self.classes), self.device)
        m = self._means[targets]
        return m + self.psi * (s - m)

    def _batches(self, images: np.ndarray, styles):
        """(sketches at the model's size on its device, their style codes) a batch at a time; styles(a, b) gives
        the codes of images[a:b]."""
        for s in range(0, len(images), self.batch):
            x = to_tensor(resize_batch(np.asarray(images[s:s + self.batch]), self.size), self.device)
            yield x, styles(s, s + len(x))

    @torch.no_grad()
    def _run(self, images: np.ndarray, styles) -> np.ndarray:
        out = []
        for x, codes in self._batches(images, styles):
            y = self.g.redraw(x, codes)
            out.append(((y[:, 0].float().clamp(-1, 1) + 1) / 2).cpu().numpy())
        res = np.concatenate(out)
        side = np.asarray(images).shape[1]
        if side != self.size:  # back to the caller's size, for comparisons with its images
            res = np.stack([cv2.resize(r, (side, side), interpolation=cv2.INTER_AREA if side < self.size
                                       else cv2.INTER_LINEAR) for r in res])
        return ink(res) if self.ink else res.astype(np.float32)

    def _check(self, images, seeds, **classes) -> None:
        """Refuse what would be drawn wrong without an error: images that are not uint8 [N, S, S] sketches (a float
        one came out black), a class index outside the model's (-1 had wrapped round to the last), and counts of
        targets or seeds that are not one an image (1 target for 2 images had been broadcast)."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 3 or not len(images) or images.shape[1] != images.shape[2]:
            raise EmosketchError(f"images must be uint8 [N, S, S] sketches (255 = paper), N at least 1; got "
                                 f"{images.dtype} {images.shape}")
        for name, values in (("seeds", seeds), *classes.items()):
            v = np.asarray(values)
            if v.shape != (len(images),):
                raise EmosketchError(f"{name}: one a picture ({len(images)}), got shape {v.shape}")
        for name, values in classes.items():
            v = np.asarray(values)
            if v.dtype.kind not in "iu" or v.min() < 0 or v.max() >= len(self.classes):
                raise EmosketchError(f"{name}: class indices from 0 to {len(self.classes) - 1} ({', '.join(self.classes)}), "
                                     f"got {shown(v.tolist())}")

    def _target_codes(self, targets, seeds):
        """styles(a, b) for _batches: the codes of each image's target emotion and seed, as translate() draws them."""
        targets = torch.as_tensor(np.asarray(targets), dtype=torch.long, device=self.device)
        return lambda a, b: self.codes(targets[a:b], seeds[a:b])

    def translate(self, images, targets, seeds, rows=None):
        self._check(images, seeds, targets=targets)
        return self._run(images, self._target_codes(targets, seeds))

    @torch.no_grad()
    def paint_masks(self, images, targets, seeds) -> torch.Tensor | None:
        """The warp head's paint mask [N, 1, S, S] (0: the source's strokes only moved) of each drawing translate()
        makes, or None for a generator without a warp head."""
        self._check(images, seeds, targets=targets)
        masks = []
        for x, codes in self._batches(images, self._target_codes(targets, seeds)):
            mask = self.nets.generator(x, codes, parts=True)[1]["mask"]
            if mask is None:
                return None
            masks.append(mask.float().cpu())
        return torch.cat(masks)

    def along_path(self, images, start, end, t, seeds, rows=None):
        self._check(images, seeds, start=start, end=end)
        tv = np.asarray(t, np.float64)
        if tv.shape != (len(images),) or not np.all((tv >= 0) & (tv <= 1)):  # False for NaN: NaN drew black
            raise EmosketchError(f"t: one a picture ({len(images)}), each from 0 to 1; got {shown(np.asarray(t).tolist())}")
        start = torch.as_tensor(np.asarray(start), dtype=torch.long, device=self.device)
        end = torch.as_tensor(np.asarray(end), dtype=torch.long, device=self.device)
        tt = torch.as_tensor(np.asarray(t), dtype=torch.float32, device=self.device)

        def styles(a, b):  # both ends truncated by psi, as translate's codes
            s0, s1 = self.codes(start[a:b], seeds[a:b]), self.codes(end[a:b], seeds[a:b])
            return s0 + (s1 - s0) * tt[a:b, None]

        return self._run(images, styles)


READ_SUFFIXES = IMAGE_SUFFIXES | GIF_SUFFIXES  # a GIF is read as its first frame, as when it is named alone


def _cell_name(stem: str, emotion: str, k: int, styles: int) -> str:
    """The file of one redrawing: NAME_EMOTION.png, with the style's number when there are several."""
    return f"{stem}_{emotion}{'' if styles == 1 else f'_{k}'}.png"


def _inputs(paths: list[Path]) -> list[Path]:
    """The pictures to redraw: each file named, and the pictures in each folder named; each file once."""
    files, seen = [], set()
    for p in paths:
        found = sorted(f for f in p.iterdir() if f.suffix.lower() in READ_SUFFIXES) if p.is_dir() else [p]
        if p.is_dir() and not found:
            raise EmosketchError(f"{p}: folder holds no pictures ({', '.join(sorted(READ_SUFFIXES))})")
        for f in found:
            if f.resolve() not in seen:  # the same file named twice (a/x.png and a/../a/x.png) is drawn once
                seen.add(f.resolve())
                files.append(f)
    if not files:
        raise EmosketchError("no input images found")
    return files


def sample(checkpoint: str | Path, inputs: list[str | Path], emotions: list[str] | None, out: str | Path,
           styles: int = 1, seed: int = 0, kind: str = "auto", device: str = "auto",
           force: bool = False, gray: bool = False) -> dict:
    """For each input, a row [input sketch | each emotion (x styles)] saved as NAME.png, plus one PNG
    per emotion: inked sketches, or the network's gray output with `gray`. Returns what was written and
    what was skipped."""
    tr = GanTranslator(checkpoint, device, ink=not gray)
    wanted = tr.g.emotions(emotions)
    data = tr.state.get("dataset", {})
    written, skipped = [], []
    files = _inputs([Path(p) for p in inputs])
    names: dict[str, Path] = {}
    for path in files:  # each input's row and cells are named by its stem: no two may share a name
        for name in [f"{path.stem}.png"] + [_cell_name(path.stem, e, k, styles) for e in wanted
                                            for k in range(styles)]:
            if name in names and names[name] != path:
                raise EmosketchError(f"{names[name]} and {path} would both be written as {name}; rename one, or "
                                     "sample them into two folders")
            names[name] = path
    with atomic_dir(out, overwrite=force) as tmp:
        for path in files:
            try:
                sketch, how = model_input(decode_file(path), data, int(data.get("size") or tr.size), "sketch", kind,
                                          SketchConfig())
            except (Skip, EmosketchError) as exc:
                skipped.append({"file": str(path), "error": str(exc)})
                continue
            src = resize_batch(sketch[None], tr.size)
            cells, labels = [src[0]], ["input"]
            for e in wanted:
                for k in range(styles):
                    labels.append(e if styles == 1 else f"{e} {k}")
                    y = tr.translate(src, np.array([tr.classes.index(e)]), np.array([seed + k]))[0]
                    img = (y * 255).round().astype(np.uint8)
                    cells.append(img)
                    write_image(tmp / _cell_name(path.stem, e, k, styles), img)
            write_image(tmp / f"{path.stem}.png", labelled_columns(np.concatenate(cells, axis=1), tr.size, labels))
            written.append({"file": str(path), "input": how, "row": f"{path.stem}.png"})
        if not written:
            raise EmosketchError("no input could be used: " + "; ".join(f"{s['file']}: {s['error']}" for s in skipped))
    return {"written": written, "skipped": skipped, "emotions": wanted}
