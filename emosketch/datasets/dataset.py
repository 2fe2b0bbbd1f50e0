"""Reading a Sketch dataset written by `emosketch prepare`: memory-mapped arrays, a summary, and a
sample grid of faces beside their sketches."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..checkpoints import check_classes
from ..errors import EmosketchError, shown
from ..text import put_text
from .prepare import FORMAT_NAME, FORMAT_VERSION
from .readers import SPLIT_NAMES


@dataclass
class SketchDataset:
    path: Path
    images: np.ndarray  # uint8 [N, S, S], memory-mapped; 255 = paper
    labels: np.ndarray  # int16 [N], index into classes
    split: np.ndarray  # uint8 [N]: 0 train, 1 val, 2 test
    classes: list[str]
    meta: dict
    faces: np.ndarray | None = None  # uint8 [N, S, S] face crops, when prepare kept them

    def __len__(self) -> int:
        return len(self.labels)

    def indices(self, split: str | int) -> np.ndarray:
        code = SPLIT_NAMES.index(split) if isinstance(split, str) else split
        return np.flatnonzero(self.split == code)


NPY_MAGIC = b"\x93NUMPY"


def _array(file: Path, mmap_mode: str | None = None) -> np.ndarray:
    """One array file of a dataset, or one line on what is wrong with it: numpy takes any file that is not
    .npy or .npz for pickled data, so a text or truncated file is named for what it is first."""
    try:
        with open(file, "rb") as fh:
            head = fh.read(len(NPY_MAGIC))
        if head != NPY_MAGIC:
            what = "empty" if not head else "not a NumPy .npy array file"
            raise EmosketchError(f"{file.parent}: damaged dataset ({file.name} is {what}; run prepare again)")
        return np.load(file, mmap_mode=mmap_mode, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise EmosketchError(f"{file.parent}: damaged dataset ({file.name}: {exc})") from None


def load(path: str | Path) -> SketchDataset:
    path = Path(path)
    meta_path = path / "meta.json"
    if not meta_path.exists():
        partial = path.parent / f".{path.name}.partial"
        hint = f" (an unfinished run is in {partial}: run prepare again to resume)" if partial.exists() else ""
        if not path.exists():
            raise EmosketchError(f"{path}: no such dataset folder; make one with emosketch prepare "
                                 f"--source KIND:PATH --out {path}")
        if path.is_dir():  # a folder of pictures, most likely: it is prepare's source, not its output
            hint = hint or (f"; if it holds face pictures, make a dataset of them with emosketch prepare --source "
                            f"folder:{path} --out data/{path.resolve().name or 'faces'}")
            raise EmosketchError(f"{path}: not a sketch dataset (no meta.json){hint}")
        raise EmosketchError(f"{path}: a file, not a sketch dataset folder (emosketch prepare writes those; "
                             "a picture is read with --input)")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise EmosketchError(f"{meta_path}: unreadable ({exc})") from None
    if not isinstance(meta, dict):
        raise EmosketchError(f"{meta_path}: not a dataset description (a JSON {type(meta).__name__})")
    if meta.get("format") != FORMAT_NAME or meta.get("version") != FORMAT_VERSION:
        raise EmosketchError(f"{path}: dataset format {meta.get('format')} v{meta.get('version')} is not "
                             f"{FORMAT_NAME} v{FORMAT_VERSION}")
    images = _array(path / "images.npy", "r")
    labels = _array(path / "labels.npy")
    split = _array(path / "split.npy")
    faces = _array(path / "faces.npy", "r") if (path / "faces.npy").exists() else None
    classes = meta.get("classes")
    check_classes(classes, meta_path)
    for key, kind in (("source", dict), ("skipped_by_reason", dict), ("sketch", dict), ("face_crop", dict)):
        if key in meta and not isinstance(meta[key], kind):  # an edited meta.json: one line, not a TypeError later
            raise EmosketchError(f"{meta_path}: its {key} is {shown(meta[key], 40)}, not an object; the dataset is "
                                 "damaged: run prepare again")
    for name, arr, ndim in (("images", images, 3), ("faces", faces, 3), ("labels", labels, 1), ("split", split, 1)):
        if arr is None:
            continue
        if arr.ndim != ndim or (ndim == 3 and arr.shape[1] != arr.shape[2]):
            raise EmosketchError(f"{path}: {name}.npy has shape {arr.shape}; expected "
                                 f"{'[N, S, S]' if ndim == 3 else '[N]'}")
        if ndim == 3 and arr.dtype != np.uint8 or ndim == 1 and arr.dtype.kind not in "iu":
            raise EmosketchError(f"{path}: {name}.npy holds {arr.dtype}; expected "
                                 f"{'uint8' if ndim == 3 else 'integers'}")
    if not (len(images) == len(labels) == len(split)) or (faces is not None and len(faces) != len(images)):
        raise EmosketchError(f"{path}: images, labels and split have different lengths")
    for key, held in (("count", len(images)), ("size", images.shape[1] if len(images) else meta.get("size"))):
        if key in meta and meta[key] != held:  # arrays swapped in from another dataset, or meta.json edited
            raise EmosketchError(f"{path}: meta.json says {key} {shown(meta[key])}, but images.npy holds {held}; "
                                 "the dataset is damaged: run prepare again")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise EmosketchError(f"{path}: labels.npy holds {int(labels.min())}..{int(labels.max())}, outside the "
                             f"{len(classes)} classes of meta.json")
    if len(split) and (split.min() < 0 or split.max() >= len(SPLIT_NAMES)):
        raise EmosketchError(f"{path}: split.npy holds {int(split.min())}..{int(split.max())}; expected 0 train, "
                             "1 val or 2 test")
    return SketchDataset(path, images, labels, split, list(classes), meta, faces)


def info(ds: SketchDataset) -> dict:
    """Counts per class and split, and skipped inputs by reason."""
    counts = {}
    for ci, name in enumerate(ds.classes):
        row = {s: int(((ds.labels == ci) & (ds.split == k)).sum()) for k, s in enumerate(SPLIT_NAMES)}
        row["total"] = sum(row.values())
        counts[name] = row
    totals = {s: int((ds.split == k).sum()) for k, s in enumerate(SPLIT_NAMES)} | {"total": len(ds)}
    return {"path": str(ds.path), "size": int(ds.images.shape[1]) if len(ds) else ds.meta.get("size"),
            "classes": ds.classes, "counts": counts, "totals": totals,
            "source": ds.meta.get("source") or {"kind": "unknown", "path": "not recorded"}, "sketch": ds.meta.get("sketch"),
            "face_crop": ds.meta.get("face_crop"), "skipped_by_reason": ds.meta.get("skipped_by_reason", {})}


def sample_grid(ds: SketchDataset, per_class: int = 6, seed: int = 0, show_faces: bool = True,
                tile: int = 96) -> np.ndarray:
    """uint8 gray image: one row per class, `per_class` samples, each face beside its sketch."""
    rng = np.random.default_rng(seed)
    pad, label_w = 4, 90
    use_faces = show_faces and ds.faces is not None and ds.meta.get("source", {}).get("kind") != "synthetic"
    cell = tile * (2 if use_faces else 1) + pad
    rows = []
    for ci, name in enumerate(ds.classes):
        row = np.full((tile + pad, label_w + per_class * cell), 255, np.uint8)
        put_text(row, name, (4, tile // 2 + 5), cv2.FONT_HERSHEY_SIMPLEX, 0.45, 0, 1, cv2.LINE_AA)
        pool = np.flatnonzero(ds.labels == ci)
        picks = rng.choice(pool, min(per_class, len(pool)), replace=False) if len(pool) else []
        for j, idx in enumerate(sorted(picks)):
            x = label_w + j * cell
            parts = ([ds.faces[idx]] if use_faces else []) + [ds.images[idx]]
            for k, img in enumerate(parts):
                row[pad:pad + tile, x + k * tile:x + (k + 1) * tile] = cv2.resize(
                    np.asarray(img), (tile, tile), interpolation=cv2.INTER_AREA)
        rows.append(row)
    return np.concatenate(rows) if rows else np.full((tile, tile), 255, np.uint8)


def check_trainable(ds: SketchDataset, path: str | Path) -> None:
    """Refuse a dataset a model cannot learn from: fewer than two classes (a generator met NaN losses at step 1,
    and a classifier scored 1.000 on one class), or a class with no training face (it trained without a word)."""
    if len(ds.classes) < 2:
        raise EmosketchError(f"{path}: one class ({', '.join(ds.classes) or 'none'}); training needs two classes or "
                             "more (prepare with more --classes)")
    counts = np.bincount(np.asarray(ds.labels)[ds.indices("train")], minlength=len(ds.classes))
    empty = [c for c, n in zip(ds.classes, counts) if n == 0]
    if empty:  # a model would list the class, and never learn it: asked for it, it would draw another
        elsewhere = int(np.isin(np.asarray(ds.labels), [ds.classes.index(c) for c in empty]).sum())
        raise EmosketchError(f"{path}: class(es) {', '.join(empty)} have no face in the train split ({elsewhere} in "
                             "val and test); give them training faces, or prepare with --classes that leave them out")
