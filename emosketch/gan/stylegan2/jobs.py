"""The jobs behind `emosketch stylegan2 info|generate|convert`: a snapshot (or a converted file) in,
images, raw outputs and converted models out."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from ...atomic import atomic_dir, atomic_file
from ...errors import EmosketchError
from ...frames import to_gray as frame_gray
from ...frames import write_image
from ...tensors import to_uint8
from . import StyleGAN2, from_snapshot, is_pickle, open_stylegan2


def parse_seeds(text: str) -> list[int]:
    """'0-7,10,12-13' -> [0, ..., 7, 10, 12, 13] (official generate.py's syntax)."""
    seeds: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        try:
            if "-" in part[1:]:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                if hi - lo >= 100_000 or len(seeds) + hi - lo >= 100_000:  # counted before the list is built
                    raise EmosketchError(f"seeds {text!r}: more than 100,000 images; split the job")
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise EmosketchError(f"seeds {text!r}: expected numbers and ranges such as 0-7,10") from None
    if any(s < 0 or s >= 2 ** 32 for s in seeds):
        raise EmosketchError(f"seeds {text!r}: each seed must be in 0 .. 2**32-1")
    if len(seeds) > 100_000:
        raise EmosketchError(f"seeds {text!r}: {len(seeds)} images; split the job (at most 100,000)")
    seen: set[int] = set()
    for s in seeds:  # one image a seed: seedNNNN.png would be written twice
        if s in seen:
            raise EmosketchError(f"seeds {text!r}: seed {s} is given twice")
        seen.add(s)
    return seeds


def to_pixels(images: torch.Tensor) -> np.ndarray:
    """Raw outputs [N, C, R, R] in about [-1, 1] -> uint8 [N, R, R] (gray; gray and alpha, whose alpha is left
    out) or [N, R, R, 3] (RGB; RGBA's alpha left out)."""
    x = to_uint8(images)
    return x[:, 0] if x.shape[1] <= 2 else x[:, :3].transpose(0, 2, 3, 1)


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """uint8 [N, R, R] or [N, R, R, 3] (RGB) -> gray [N, R, R]."""
    if pixels.ndim == 3:
        return pixels
    return np.stack([frame_gray(np.ascontiguousarray(p[:, :, ::-1])) for p in pixels])  # frames reads BGR


def auto_batch(G: StyleGAN2) -> int:
    """Images per forward pass: 32 on a GPU; on the CPU about 64k output pixels, since larger
    batches spill out of the caches there (benchmarks/stylegan2.py: at 256 px one image at a time
    is fastest, at 32 px batches of 32 are 3-5x faster than a loop)."""
    if next(G.parameters()).device.type != "cpu":
        return 32
    return int(min(32, max(1, 2 ** 16 // G.img_resolution ** 2)))


@torch.no_grad()
def synthesize(G: StyleGAN2, seeds: list[int], cls=None, psi: float = 1.0, cutoff: int | None = None,
               noise: str = "const", batch: int | None = None, progress=None) -> dict[str, torch.Tensor]:
    """Images for the seeds, `batch` at a time (None: auto_batch): {"z", "c", "ws", "images"} on the CPU."""
    device = next(G.parameters()).device
    batch = batch or auto_batch(G)
    z_all, c_all = G.latents(seeds), G.labels(cls, len(seeds))
    ws_out, img_out = [], []
    for s in range(0, len(seeds), batch):
        z, c = z_all[s:s + batch].to(device), c_all[s:s + batch].to(device)
        ws = G.mapping(z, c, truncation_psi=psi, truncation_cutoff=cutoff)
        img_out.append(G.synthesis(ws, noise_mode=noise).cpu())
        ws_out.append(ws.cpu())
        if progress is not None:
            progress.update(len(z))
    return {"z": z_all, "c": c_all, "ws": torch.cat(ws_out), "images": torch.cat(img_out)}


def sketch_settings(path: str | Path | None) -> tuple[dict, int, str]:
    """The face crop and sketch settings (and size) of a sketch dataset folder or a generator
    checkpoint; None gives the shipped generator's. Returns (settings, size, what they came from)."""
    if path is None:
        from ...models import default_generator

        path = default_generator()
    path = Path(path)
    if path.is_dir():
        from ...datasets.dataset import load

        meta = load(path).meta
        return {"face_crop": meta.get("face_crop"), "sketch": meta.get("sketch")}, int(meta["size"]), f"dataset {path}"
    from ..checkpoint import load_checkpoint

    state = load_checkpoint(path)
    data = state.get("dataset") if isinstance(state, dict) else None
    if not isinstance(data, dict):
        raise EmosketchError(f"{path}: a checkpoint without dataset settings; give a dataset folder or a "
                             "generator checkpoint trained on prepared photos")
    return data, int(data.get("size") or state.get("image_size") or 64), f"checkpoint {path.name}"


def sketches(gray: np.ndarray, settings: dict, size: int, draws: str = "photo") -> tuple[np.ndarray, list[str]]:
    """Each picture at the sketch size: a photo model's face crop sketched, a sketch model's drawing as it is
    (shrunk, as interpolate takes it); with how each was made."""
    from ...datasets.photo import photo_to_sketch

    out, hows = [], []
    for g in gray:
        if draws == "sketch":
            out.append(cv2.resize(g, (size, size), interpolation=cv2.INTER_AREA))
            hows.append("as drawn")
            continue
        s, how = photo_to_sketch(g, settings, size)
        out.append(s)
        hows.append(how)
    return np.stack(out) if out else np.zeros((0, size, size), np.uint8), hows


def _write_png(path: Path, pixels: np.ndarray) -> None:
    img = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    write_image(path, img)


def generate(model: str | Path, seeds: list[int], out: str | Path, cls=None, psi: float = 1.0,
             cutoff: int | None = None, noise: str = "const", sketch: bool = False,
             settings: str | Path | None = None, batch: int | None = None, device: str = "auto", force: bool = False,
             show_progress: bool = True) -> dict:
    """seedNNNN.png per seed (and sketch/seedNNNN.png with `sketch`), outputs.npz with the raw
    images, ws, z and c, and info.json, written atomically to the folder `out`."""
    from ...progress import progress
    from ...tensors import pick_device

    if not seeds:
        raise EmosketchError("no seeds given")
    if batch is not None and batch < 1:
        raise EmosketchError(f"batch {batch}: expected at least 1")
    G = open_stylegan2(model, pick_device(device))
    ws = G.mapping.num_ws or 1
    if cutoff is not None and not 1 <= cutoff <= ws:  # outside it, the truncation reaches no w or every one
        raise EmosketchError(f"--cutoff {cutoff}: from 1 to this model's {ws} ws (leave it out to truncate every w)")
    sk = sketch_settings(settings) if sketch else None
    with atomic_dir(out, overwrite=force) as tmp:
        bar = progress(len(seeds), "generate", "img", enabled=show_progress)
        res = synthesize(G, seeds, cls, psi, cutoff, noise, batch, bar)
        bar.close()
        pixels = to_pixels(res["images"])
        for s, p in zip(seeds, pixels):
            _write_png(tmp / f"seed{s:04d}.png", p)
        found = []
        if sk is not None:
            drawn, found = sketches(to_gray(pixels), sk[0], sk[1], G.draws)
            (tmp / "sketch").mkdir()
            for s, p in zip(seeds, drawn):
                _write_png(tmp / "sketch" / f"seed{s:04d}.png", p)
        np.savez(tmp / "outputs.npz", seeds=np.asarray(seeds, np.int64), z=res["z"].numpy(), c=res["c"].numpy(),
                 ws=res["ws"].numpy(), images=res["images"].numpy())
        info = {"model": str(model), "seeds": [int(s) for s in seeds], "class": None if cls is None else G.class_index(cls),
                "psi": psi, "cutoff": cutoff, "noise": noise, "resolution": G.img_resolution,
                "channels": G.img_channels,
                "sketch": None if sk is None else {"settings": sk[2], "size": sk[1],
                                                   "faces_found": {h: found.count(h) for h in sorted(set(found))}}}
        (tmp / "info.json").write_text(json.dumps(info, indent=1) + "\n")
    return {"out": str(out), **info}


def check_model_out(source: Path, out: Path, force: bool) -> None:
    """A model file to be written (convert, directions): never the model being read, and another file only
    with force; checked before any work."""
    if out.exists() and source.exists() and out.resolve() == source.resolve():
        raise EmosketchError(f"--out {out} is the model being read; write the new file elsewhere")
    if out.exists() and not force:
        raise EmosketchError(f"{out}: already exists (pass --force to replace it)")


def convert(pickle_path: str | Path, out: str | Path, class_names: list[str] | None = None,
            draws: str | None = None, force: bool = False) -> dict:
    """A snapshot pickle, or a file convert wrote (to rename its classes or say what it draws) -> emosketch's
    own file (weights and plain values, safe to load). draws None keeps a converted file's (a pickle: photo)."""
    source, path = Path(pickle_path), Path(out)
    check_model_out(source, path, force)
    G = open_stylegan2(source)
    if class_names:
        G.class_names = G.checked_names(class_names)
    if draws is not None:
        G.draws = draws
    with atomic_file(path) as tmp:  # published only once it reads back: a failure leaves what was there
        G.save(tmp)
        try:
            back = StyleGAN2.load(tmp)
        except EmosketchError as exc:
            raise EmosketchError(str(exc).replace(str(tmp), str(path)) + " (nothing written)") from None
        for (k, a), b in zip(G.state_dict().items(), back.state_dict().values()):
            if not torch.equal(a, b):
                raise EmosketchError(f"{path}: {k} did not read back exactly (nothing written)")
    return {"out": str(path), "bytes": path.stat().st_size, **G.describe()}


def info(model: str | Path) -> dict:
    """What a snapshot or converted file holds, without generating anything."""
    from .snapshot import Record, read_snapshot

    if not is_pickle(model):
        return {"file": str(model), **open_stylegan2(model).describe()}
    snap = read_snapshot(model)  # read once: the generator and the listing both come from it
    out = {"file": str(model), **from_snapshot(snap, Path(model).name, where=model).describe()}
    out["snapshot"] = {k: (v.class_name if isinstance(v, Record) else v) for k, v in snap.items()
                       if k != "training_set_kwargs"}
    tsk = snap.get("training_set_kwargs")
    if isinstance(tsk, dict):
        out["training_set"] = {k: v for k, v in tsk.items() if isinstance(v, (str, int, float, bool, type(None)))}
    return out
