"""Readers for the face datasets people have. Each lists the dataset's items (where the picture is,
its label, its split, its face box) without decoding any image, so any size is indexed in little
memory. Items that cannot be used (labels that are not emotions, rows without a majority) are
listed as skipped with their reason."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..emotions import EMOTIONS, canonical
from ..errors import EmosketchError, shown

KINDS = ("affectnet", "affectnet96", "fer2013", "ferplus", "folder", "synthetic")
TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")

AFFECTNET_CODES = {8: "not an emotion: none", 9: "not an emotion: uncertain", 10: "not an emotion: no-face"}
FER2013_CODES = ("anger", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER2013_USAGE = {"training": TRAIN, "publictest": VAL, "privatetest": TEST}
FERPLUS_VOTES = ("neutral", "happy", "surprise", "sad", "anger", "disgust", "fear", "contempt", "unknown", "nf")
FERPLUS_SPLITS = {"fer2013train": TRAIN, "fer2013valid": VAL, "fer2013test": TEST,
                  "train": TRAIN, "valid": VAL, "val": VAL, "test": TEST}
FOLDER_SPLITS = {"train": TRAIN, "training": TRAIN, "val": VAL, "valid": VAL, "validation": VAL, "test": TEST}


@dataclass
class Item:
    key: str  # stable name in reports: a path relative to the dataset, or "file.csv:row"
    label: str  # canonical class name as the source gives it
    split: int | None  # TRAIN, VAL, TEST; None when the source has no splits
    ref: tuple  # how to load it: ("file", path) | ("fer2013", csv path, byte offset) | ("synthetic", seed, intensity)
    box: tuple[float, float, float, float] | None = None  # face box (x, y, w, h) from the dataset
    votes: dict[str, float] | None = None  # FER+ annotator votes per emotion, for soft labels
    group: int | None = None  # items of one group share a split (a synthetic identity)


@dataclass
class Index:
    kind: str
    path: str
    items: list[Item] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)


def usable_box(box: tuple[float, ...]) -> tuple[float, ...] | None:
    """A labelled face box (x, y, width, height) as given, or None when it cannot be used: not four finite
    numbers, or empty (the face is then found in the image, as when a list gives no box)."""
    return box if len(box) == 4 and all(map(math.isfinite, box)) and box[2] > 0 and box[3] > 0 else None


def parse_source(spec: str) -> tuple[str, Path | None]:
    """'ferplus:/data/ferplus' -> ('ferplus', Path); 'synthetic' -> ('synthetic', None)."""
    kind, _, path = spec.partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise EmosketchError(f"--source {spec!r}: KIND must be one of {', '.join(KINDS)} (as KIND:PATH)")
    if kind == "synthetic":
        return kind, None
    if not path:
        raise EmosketchError(f"--source {spec!r}: give the dataset's path, e.g. {kind}:/data/{kind}")
    root = Path(path).expanduser()
    if not root.exists():
        raise EmosketchError(f"{root}: no such file or folder (--source {kind})")
    return kind, root


def read_text(path: Path) -> str:
    """A label file's text (UTF-8, with or without a BOM), or one line that names the file and the
    first byte that is not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EmosketchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EmosketchError(f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                             "save it as UTF-8") from None


def _csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[dict]:
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    try:
        fields = reader.fieldnames or []
    except csv.Error as exc:
        raise EmosketchError(f"{path}: line 1: not a CSV header ({exc})") from None
    missing = [c for c in required if c not in fields]
    if missing:
        raise EmosketchError(f"{path}: missing column(s) {', '.join(missing)} (has {shown(fields)})")
    return _checked(reader, path)


def _checked(rows, path: Path) -> Iterator:
    """A csv reader's rows, its errors (a field past the csv module's 131,072 characters, a NUL) as one line
    naming the file and the line."""
    try:
        yield from rows
    except csv.Error as exc:
        raise EmosketchError(f"{path}: line {rows.line_num}: not a readable CSV row ({exc})") from None


def read_affectnet(root: Path) -> Index:
    """AffectNet: Manually_Annotated_file_lists/{training,validation}.csv with face boxes."""
    lists = root / "Manually_Annotated_file_lists"
    images = root / "Manually_Annotated_Images"
    images = images if images.is_dir() else root
    files = [(lists / "training.csv", TRAIN), (lists / "validation.csv", VAL)]
    if not any(f.exists() for f, _ in files):
        raise EmosketchError(f"{root}: not an AffectNet folder (no Manually_Annotated_file_lists/training.csv "
                             "or validation.csv)")
    index = Index("affectnet", str(root))
    cols = ("subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "expression")
    for path, split in files:
        if not path.exists():
            continue
        for row_no, row in enumerate(_csv_rows(path, cols), start=2):
            key = row["subDirectory_filePath"] or f"{path.name}:{row_no}"
            try:
                code = int(float(row["expression"]))
            except (TypeError, ValueError, OverflowError):  # OverflowError: inf
                index.skipped.append((key, "bad label"))
                continue
            if code in AFFECTNET_CODES:
                index.skipped.append((key, AFFECTNET_CODES[code]))
                continue
            if not 0 <= code < len(EMOTIONS):
                index.skipped.append((key, "bad label"))
                continue
            try:
                box = usable_box(tuple(float(row[c]) for c in ("face_x", "face_y", "face_width", "face_height")))
            except (TypeError, ValueError):
                box = None
            file = _within(images, row["subDirectory_filePath"])
            if file is None:
                index.skipped.append((key, OUTSIDE))
                continue
            index.items.append(Item(key, EMOTIONS[code], split, ("file", str(file)), box))
    return index


OUTSIDE = "names a file outside the dataset folder"


def _within(folder: Path, name: str | None) -> Path | None:
    """A file a label list names, inside `folder`; None for an absolute name, or one that climbs out of it
    with '..' (a list could otherwise make prepare open any file on the machine)."""
    if not name:
        return None
    rel = Path(name.replace("\\", "/"))
    if rel.is_absolute() or ".." in rel.parts or rel.drive:
        return None
    return folder / rel


def read_affectnet96(root: Path) -> Index:
    """The Kaggle 96x96 AffectNet: a folder per class plus labels.csv (pth, label, relFCs)."""
    labels = root / "labels.csv"
    if not labels.exists():
        raise EmosketchError(f"{root}: not an AffectNet 96x96 folder (no labels.csv)")
    index = Index("affectnet96", str(root))
    for row_no, row in enumerate(_csv_rows(labels, ("pth", "label")), start=2):
        key = row["pth"] or f"labels.csv:{row_no}"
        try:
            label = canonical(row["label"])  # None when the row is short
        except (ValueError, TypeError, AttributeError):
            index.skipped.append((key, "bad label"))
            continue
        file = _within(root, row["pth"])
        if file is None:
            index.skipped.append((key, OUTSIDE))
            continue
        folder = canonical(file.relative_to(root).parts[0]) if len(file.relative_to(root).parts) > 1 else None
        if folder in EMOTIONS and label is not None and folder != label:  # one of the two is wrong: neither wins
            index.skipped.append((key, "label differs from its class folder"))
            continue
        index.items.append(Item(key, label, None, ("file", str(file))))
    listed = {Path(item.ref[1]) for item in index.items} | {root / k for k, _ in index.skipped}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for f in sorted(f for f in folder.rglob("*") if f.is_file() and not f.name.startswith(".")):
            if f not in listed:  # a picture labels.csv does not list is not read: counted, never dropped unsaid
                index.skipped.append((str(f.relative_to(root)), "not in labels.csv"))
    return index


def fer2013_fields(line: bytes) -> list[str]:
    """One FER2013 CSV line's fields, read as any CSV reader reads them (quoted or not: a spreadsheet or
    Python's csv module may quote every field)."""
    text = line.decode("utf-8", "replace").strip("\r\n")
    try:
        return [f.strip() for f in next(csv.reader([text]), [])]
    except csv.Error:
        return [f.strip().strip('"') for f in text.split(",")]


def _fer2013_code(text: str) -> int:
    """An emotion code: 3, or 3.0 as pandas writes an integer column that held a NaN."""
    value = float(text)
    if not value.is_integer() or not 0 <= value < len(FER2013_CODES):
        raise ValueError(text)
    return int(value)


def read_fer2013(path: Path) -> Index:
    """FER2013's CSV (emotion, pixels, Usage). Items point at their row's byte offset, so the pixel
    strings are read by the workers, never all at once."""
    if path.is_dir():
        path = path / "fer2013.csv"
    if not path.exists():
        raise EmosketchError(f"{path}: no such FER2013 CSV")
    index = Index("fer2013", str(path))
    with open(path, "rb") as fh:
        first = fh.readline(64 * 1024)
        try:
            first.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise EmosketchError(f"{path}: not UTF-8 text (its header line); save it as UTF-8") from None
        header = fer2013_fields(first.removeprefix(b"\xef\xbb\xbf"))
        cols = {name.lower(): i for i, name in enumerate(header)}
        if not {"emotion", "pixels"} <= set(cols):
            raise EmosketchError(f"{path}: not a FER2013 CSV (its first line's fields are {shown(header, 100)}; "
                                 "expected a header emotion,pixels,Usage)")
        row_no = 1
        while True:
            offset = fh.tell()
            line = fh.readline()
            if not line:
                break
            row_no += 1
            if not line.strip():
                continue
            fields = fer2013_fields(line)
            key = f"{path.name}:{row_no}"
            try:
                label = FER2013_CODES[_fer2013_code(fields[cols["emotion"]])]
            except (ValueError, IndexError, OverflowError):
                index.skipped.append((key, "bad label"))
                continue
            split = None
            if "usage" in cols:  # a row's Usage must say which split: a row without one is not guessed at
                usage = fields[cols["usage"]] if len(fields) > cols["usage"] else ""
                split = FER2013_USAGE.get(usage.lower())
                if split is None:
                    index.skipped.append((key, f"unknown Usage {usage[:20]!r}" if usage else "no Usage"))
                    continue
            index.items.append(Item(key, label, split, ("fer2013", str(path), offset, cols["pixels"])))
    return index


def ferplus_label(votes: list[float]) -> tuple[str | None, str]:
    """The FER+ majority rule: the emotion with more than half of all votes; none when the top vote
    is unknown or not-a-face, or no emotion has a majority. Returns (label, skip reason)."""
    total = sum(votes)
    if total <= 0:
        return None, "FER+: no votes"
    top = int(np.argmax(votes))
    if FERPLUS_VOTES[top] in ("unknown", "nf"):
        return None, "FER+: unknown or not a face"
    if votes[top] * 2 <= total:
        return None, "FER+: no majority"
    return FERPLUS_VOTES[top], ""


def _ferplus_folder(folder: Path, split: int | None, index: Index, prefix: str) -> None:
    reader = csv.reader(io.StringIO(read_text(folder / "label.csv")))
    for row in _checked(reader, folder / "label.csv"):
        if not row:
            continue
        key = f"{prefix}{row[0]}"
        try:
            votes = [float(v) for v in row[2:12]]
            if len(votes) != 10 or not all(math.isfinite(v) and v >= 0 for v in votes):
                raise ValueError
        except ValueError:
            index.skipped.append((key, "bad label"))
            continue
        label, reason = ferplus_label(votes)
        if label is None:
            index.skipped.append((key, reason))
            continue
        try:
            box = usable_box(tuple(float(v) for v in row[1].strip("() ").split(",")))
        except (ValueError, IndexError):
            box = None  # no usable box: the face is found in the image, as when a list gives none
        file = _within(folder, row[0])
        if file is None:
            index.skipped.append((key, OUTSIDE))
            continue
        index.items.append(Item(key, label, split, ("file", str(file)), box,
                                votes=dict(zip(FERPLUS_VOTES[:8], votes[:8]))))


def read_ferplus(root: Path) -> Index:
    """FER+: FER2013Train/FER2013Valid/FER2013Test folders, each with label.csv (file, box, 10 votes)."""
    index = Index("ferplus", str(root))
    if (root / "label.csv").exists():
        _ferplus_folder(root, None, index, "")
        return index
    found = False
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        split = FERPLUS_SPLITS.get(sub.name.lower())
        if split is not None and (sub / "label.csv").exists():
            _ferplus_folder(sub, split, index, f"{sub.name}/")
            found = True
    if not found:
        raise EmosketchError(f"{root}: not a FER+ folder (no label.csv in it or in FER2013Train/Valid/Test)")
    return index


def read_folder(root: Path) -> Index:
    """One sub-folder per class (optionally inside train/val/test folders); every other file counts."""
    index = Index("folder", str(root))
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_dirs = [(d, FOLDER_SPLITS[d.name.lower()]) for d in subdirs if d.name.lower() in FOLDER_SPLITS]
    groups = split_dirs if split_dirs else [(root, None)]
    # what lies beside the class (or train/val/test) folders is not read: counted, a file at a time, never dropped
    beside = "beside the train/val/test folders" if split_dirs else "beside the class folders"
    for p in sorted(root.iterdir()):
        if p.name.startswith(".") or (p.is_dir() and (not split_dirs or p.name.lower() in FOLDER_SPLITS)):
            continue
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() and not p.is_symlink() else [p]
        index.skipped += [(str(f.relative_to(root)), beside) for f in files] or [(f"{p.name}/", beside)]
    seen: set[Path] = set()  # each file read once: a link to a file read already would be a second face of one
    for base, split in groups:
        for class_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            label = canonical(class_dir.name)
            found = 0
            for f in sorted(p for p in class_dir.rglob("*") if not p.name.startswith(".")):
                if f.is_file():
                    key, real = str(f.relative_to(root)), f.resolve()
                    if real in seen:  # counted, never a duplicate that may land in two splits
                        index.skipped.append((key, "the same file as another (a link)"))
                    else:
                        seen.add(real)
                        index.items.append(Item(key, label, split, ("file", str(f))))
                    found += 1
                elif f.is_symlink() and not f.exists():  # counted, as a missing file is
                    index.skipped.append((str(f.relative_to(root)), "missing file (a link to nothing)"))
                    found += 1
                elif f.is_dir() and f.is_symlink():  # not followed (a link to .. would loop): counted
                    index.skipped.append((f"{f.relative_to(root)}/", "a link to a folder (not followed)"))
                    found += 1
                elif not f.is_dir():  # a FIFO, a socket, a device (or a link to one): counted, never opened
                    index.skipped.append((str(f.relative_to(root)), "not a regular file"))
                    found += 1
            if not found:  # the class would vanish from the dataset unsaid
                index.skipped.append((f"{class_dir.relative_to(root)}/", "a class folder with no files"))
    if not index.items and all(why == "a class folder with no files" for _, why in index.skipped):
        raise EmosketchError(f"{root}: no class folders with files (expected {root}/<class>/<image>)")
    return index


def read_synthetic(count: int, seed: int = 0) -> Index:
    """`count` synthetic faces: identities drawn in every emotion, with intensities in [0.6, 1]."""
    if count < 1:
        raise EmosketchError(f"--count {count}: must be at least 1")
    index = Index("synthetic", f"synthetic(count={count}, seed={seed})")
    rng = np.random.default_rng(seed)
    identities = math.ceil(count / len(EMOTIONS))
    intensities = rng.uniform(0.6, 1.0, size=identities * len(EMOTIONS))
    for i in range(count):
        identity, emotion = divmod(i, len(EMOTIONS))
        name = EMOTIONS[emotion]
        strength = 1.0 if name == "neutral" else float(round(intensities[i], 4))
        identity_seed = seed * 1_000_003 + identity
        index.items.append(Item(f"identity{identity}/{name}", name, None, ("synthetic", identity_seed, strength),
                                group=identity))
    return index


def read_source(spec: str, count: int = 8000, seed: int = 0) -> Index:
    kind, root = parse_source(spec)
    if kind == "synthetic":
        return read_synthetic(count, seed)
    return {"affectnet": read_affectnet, "affectnet96": read_affectnet96, "fer2013": read_fer2013,
            "ferplus": read_ferplus, "folder": read_folder}[kind](root)
