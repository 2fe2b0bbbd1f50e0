"""StyleGAN2-ADA network pickles, read safely and run with emosketch's own implementation.

    from emosketch.gan.stylegan2 import load_stylegan2, StyleGAN2
    G = load_stylegan2("network-snapshot-000400.pkl")   # executes nothing from the file
    ws = G.mapping(z, c, truncation_psi=0.7)             # [N, num_ws, w_dim]
    img = G.synthesis(ws, noise_mode="const")            # [N, C, R, R], about [-1, 1]
    G.save("ffhq.pt")                                    # weights and plain values only
    G = StyleGAN2.load("ffhq.pt")                        # torch.load(weights_only=True)

`open_stylegan2(path)` takes either file. See snapshot.py for what is allowed in a pickle and why
nothing in it runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ...checkpoints import check_finite, check_shapes, load_checkpoint, save_checkpoint
from ...errors import EmosketchError, is_whole
from .networks import Generator
from .snapshot import MAX_PLAIN, _values, build_generator, checked_kwargs, read_snapshot

FORMAT = "emosketch-stylegan2"
VERSION = 1
DRAWS = ("photo", "sketch")  # what the model's images are: photos get sketched for the panel


class StyleGAN2(Generator):
    """A StyleGAN2-ADA generator with emosketch's metadata: class names for a conditional model,
    emotion directions in W for an unconditional one, and what its images are."""

    def __init__(self, *args, class_names: list[str] | None = None, draws: str = "photo",
                 directions: dict | None = None, source: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.class_names = self.checked_names(class_names)
        if draws not in DRAWS:
            raise EmosketchError(f"draws {draws!r}: expected photo or sketch")
        self.draws = draws
        self.directions = directions  # {"classes", "vectors" [C, w_dim], "strength", "scores", ...}
        self.source = source

    def checked_names(self, class_names: list[str] | None) -> list[str] | None:
        """Class names for this model's classes: one each, none empty, none twice."""
        if not class_names:
            return None
        if isinstance(class_names, str):  # 'abcdefgh' had been eight one-letter classes
            raise EmosketchError(f"class names are a list, one a class, got the string {class_names!r}")
        names = list(class_names)
        if not all(str(c).strip() for c in names) or len(set(names)) != len(names):
            raise EmosketchError(f"class names {names}: each one given once, none empty")
        if len(names) != self.c_dim:
            raise EmosketchError(f"{len(names)} class names for a model with c_dim {self.c_dim}"
                                 f"{' (an unconditional model has no classes)' if self.c_dim == 0 else ''}")
        return names

    # ---- inputs ---------------------------------------------------------------------------------

    def labels(self, cls: int | str | None, n: int) -> torch.Tensor:
        """One-hot class rows [n, c_dim] for a class index or name (an empty [n, 0] when unconditional)."""
        if not is_whole(n) or n < 1:
            raise EmosketchError(f"n must be a whole number of rows from 1 up, got {n!r}")
        if isinstance(cls, (bool, float)):  # 2.7 had been read as class 2
            raise EmosketchError(f"class {cls!r}: a whole number or a name")
        if self.c_dim == 0:
            if cls is not None:
                raise EmosketchError("this model is unconditional: it takes no --class")
            return torch.zeros(n, 0)
        if cls is None:
            raise EmosketchError(f"this model is conditional on {self.c_dim} classes: give a class "
                                 f"(0-{self.c_dim - 1}{', or a name: ' + ', '.join(self.class_names) if self.class_names else ''})")
        i = self.class_index(cls)
        c = torch.zeros(n, self.c_dim)
        c[:, i] = 1
        return c

    def class_index(self, cls: int | str) -> int:
        if isinstance(cls, str) and not cls.strip().lstrip("+-").isdigit():  # "-1" is a number out of range
            if not self.class_names:
                raise EmosketchError(f"class {cls!r}: this model's classes have no names; give a number "
                                     f"0-{self.c_dim - 1}, or name them with `emosketch stylegan2 convert --classes`")
            from ...emotions import canonical

            try:
                name = canonical(cls)
            except ValueError:
                name = cls
            names = [n.lower() for n in self.class_names]
            if name.lower() not in names:
                raise EmosketchError(f"class {cls!r} is not one of {', '.join(self.class_names)}")
            return names.index(name.lower())
        i = int(cls)
        if not 0 <= i < self.c_dim:
            raise EmosketchError(f"class {i} is outside 0-{self.c_dim - 1}")
        return i

    def latents(self, seeds) -> torch.Tensor:
        """z for each seed, as the official generate.py draws it: RandomState(seed).randn(z_dim)."""
        if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__len__") or not len(seeds) or not all(
                is_whole(s) and 0 <= s < 2**32 for s in seeds):
            raise EmosketchError(f"seeds must be a list of whole numbers from 0 to 2**32 - 1, at least one; got "
                                 f"{str(seeds)[:60]!r}")  # '01' had been seeds 0 and 1
        return torch.from_numpy(np.stack([np.random.RandomState(int(s)).randn(self.z_dim) for s in seeds])).float()

    # ---- emosketch's own format -------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Weights and plain values only, written atomically; `StyleGAN2.load` reads it with weights_only."""
        payload = {"kwargs": self.init_kwargs,
                   "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()},
                   "class_names": self.class_names, "draws": self.draws, "directions": self.directions,
                   "source": self.source}
        save_checkpoint(path, payload, FORMAT, VERSION)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu") -> StyleGAN2:
        payload = load_checkpoint(path, FORMAT, VERSION, "emosketch StyleGAN2 file")
        kwargs = checked_kwargs(payload.get("kwargs"), f"{path}:")
        weights = payload.get("state_dict")
        if not isinstance(weights, dict):
            raise EmosketchError(f"{path}: it holds no state_dict of weights")
        meta = dict(class_names=payload.get("class_names"), draws=payload.get("draws", "photo"),
                    directions=payload.get("directions"), source=payload.get("source", ""))
        for key, value in meta.items():  # plain values, read and JSON-encoded by info: bounded, not recursed into
            if _values(value, {}, 0) > MAX_PLAIN:
                raise EmosketchError(f"{path}: its {key} holds more than {MAX_PLAIN:,} values or is nested more "
                                     "than 16 deep; the file is damaged or hostile")
        with torch.device("meta"):  # the layout without its memory: does the file fill it?
            check_shapes(cls(**kwargs, **meta), weights, path, "StyleGAN2")
        G = cls(**kwargs, **meta)
        try:
            G.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise EmosketchError(f"{path}: weights do not fit the stored layout ({str(exc).splitlines()[0]})") from None
        return G.eval().requires_grad_(False).to(device)

    def describe(self) -> dict:
        s = self.synthesis
        kw = self.init_kwargs["synthesis_kwargs"]
        return {"z_dim": self.z_dim, "c_dim": self.c_dim, "w_dim": self.w_dim, "num_ws": self.num_ws,
                "img_resolution": self.img_resolution, "img_channels": self.img_channels,
                "architecture": kw.get("architecture", "skip"), "mapping_layers": self.mapping.num_layers,
                "fp16_blocks": [r for r in s.block_resolutions if getattr(s, f"b{r}").use_fp16],
                "parameters": sum(p.numel() for p in self.parameters()),
                "class_names": self.class_names, "draws": self.draws,
                "directions": None if not self.directions else {
                    "classes": list(self.directions["classes"]), "scores": self.directions.get("scores")},
                "source": self.source}


def is_converted(payload) -> bool:
    return isinstance(payload, dict) and payload.get("format") == FORMAT


def load_stylegan2(path: str | Path, device: torch.device | str = "cpu",
                   class_names: list[str] | None = None) -> StyleGAN2:
    """A network-snapshot pickle's G_ema as a StyleGAN2 module (eval mode, no gradients), built
    without executing anything from the file."""
    device = _device(device)
    if Path(path).is_file() and _head(path) == b"PK":  # torch's zip format, not a pickle
        raise EmosketchError(f"{path}: not a snapshot pickle but a torch file (a converted emosketch file?); "
                             "open_stylegan2 reads either kind, StyleGAN2.load a converted file")
    return from_snapshot(read_snapshot(path), Path(path).name, device, class_names, where=path)


def _device(device: torch.device | str) -> torch.device:
    """A device named as the commands name it ('tpu' is one line, not torch's list of every device type)."""
    from ...tensors import pick_device

    return device if isinstance(device, torch.device) else pick_device(str(device))


def from_snapshot(snap: dict, name: str, device: torch.device | str = "cpu",
                  class_names: list[str] | None = None, where: str | Path | None = None) -> StyleGAN2:
    """The StyleGAN2 module of a snapshot that read_snapshot has already read; errors name `where` (its path)."""
    where = where or name
    try:
        G = build_generator(snap["G_ema"], lambda **kw: StyleGAN2(**kw, class_names=class_names, source=name))
    except EmosketchError as exc:
        raise EmosketchError(f"{where}: {exc}") from None
    check_finite(G.state_dict(), where, "StyleGAN2")  # as a converted file's: NaN weights drew blank faces
    return G.eval().requires_grad_(False).to(device)


def _head(path: str | Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(2)


def is_pickle(path: str | Path) -> bool:
    """A pickle (protocol 2+ starts with 0x80), as opposed to torch's zip format."""
    return _head(path)[:1] == b"\x80"


def open_stylegan2(path: str | Path, device: torch.device | str = "cpu") -> StyleGAN2:
    """A snapshot pickle or a converted emosketch file, whichever `path` is."""
    path = Path(path)
    if not path.is_file():
        raise EmosketchError(f"{path}: " + ("a folder, not a model file (a .pkl snapshot or a converted .pt)"
                                            if path.is_dir() else "no such file"))
    device = _device(device)
    return load_stylegan2(path, device) if is_pickle(path) else StyleGAN2.load(path, device)


def looks_like_stylegan2(path: str | Path) -> bool:
    """True for a snapshot pickle or a converted file, without loading the networks of a StarGAN checkpoint."""
    path = Path(path)
    if not path.is_file():
        return False
    if is_pickle(path):
        return True
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return False
    return is_converted(payload)


__all__ = ["StyleGAN2", "load_stylegan2", "open_stylegan2", "looks_like_stylegan2", "is_converted"]
