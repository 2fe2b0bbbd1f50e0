"""`emosketch prepare`: a face dataset -> a cached Sketch dataset (images.npy, labels.npy, split.npy,
meta.json, faces.npy).

The job is split into fixed chunks of items. Each finished chunk is saved under a hidden
`.NAME.partial` folder beside the output, so a killed run resumes where it stopped; the final
arrays are assembled chunk by chunk into memory-mapped files (bounded memory) and the folder is
renamed into place only when complete. The same inputs, settings and seed give the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import re
import shutil
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .. import __version__
from ..atomic import MARKER, atomic_file, check_target, mark, output_lock, publish_dir
from ..emotions import EMOTIONS, canonical, canonical_list, class_name_ok
from ..errors import EmosketchError, is_whole, shown
from ..progress import progress as progress_bar
from .decode import MAX_PIXELS, MIN_SIDE, Skip, decode_file
from .face import FaceConfig, crop_face, found_by, framing_margin
from .readers import SPLIT_NAMES, TEST, TRAIN, VAL, Index, Item, fer2013_fields, read_source
from .sketch import SketchConfig, sketch
from .synthetic import random_identity, render

FORMAT_NAME = "emosketch-sketch-dataset"
FORMAT_VERSION = 1


MAX_COUNT = 2_000_000  # synthetic faces at most (2 M sketches of 128 px are 33 GB)


@dataclass(frozen=True)
class PrepareConfig:
    size: int = 128  # side of the square face and sketch, in pixels
    classes: list[str] | None = None  # classes to keep, in this order (default: all the source has)
    mapping: dict[str, str] = field(default_factory=dict)  # rename or merge classes, e.g. {angry: anger, contempt: disgust}
    sketch: SketchConfig = SketchConfig()
    face: FaceConfig = FaceConfig()
    seed: int = 0  # for synthetic faces and for splits of sources without them
    count: int = 8000  # synthetic faces to render (--source synthetic only)
    split_fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])  # train/val/test for sources without splits
    keep_faces: bool = True  # also write faces.npy (the gray face crops before sketching)
    soft_labels: bool = False  # also write soft_labels.npy from annotator votes (FER+)
    min_side: int = MIN_SIDE  # smaller images are skipped
    max_pixels: int = MAX_PIXELS  # larger images are skipped (decompression-bomb guard)
    chunk: int = 256  # items per resumable unit of work

    def __post_init__(self) -> None:
        for name in ("size", "seed", "count", "chunk", "min_side", "max_pixels"):
            value = getattr(self, name)
            if not is_whole(value):  # 32.5 failed after the job began
                raise EmosketchError(f"{name} must be a whole number, got {shown(value)}")
        if not 16 <= self.size <= 1024:
            raise EmosketchError(f"size {self.size}: must be between 16 and 1024 pixels")
        if not 1 <= self.count <= MAX_COUNT:  # each face is listed before any is drawn: 10**8 had needed 40 GB
            raise EmosketchError(f"count {self.count:,}: synthetic faces from 1 to {MAX_COUNT:,}")
        fractions = self.split_fractions
        if not isinstance(fractions, (list, tuple)) or len(fractions) != 3 or not all(
                isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f) and f >= 0
                for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
            raise EmosketchError(f"split_fractions {shown(fractions)}: three fractions that sum to 1")
        if self.chunk < 1:
            raise EmosketchError("chunk must be at least 1")
        if not 1 <= self.min_side <= 4096 or self.max_pixels < 1:
            raise EmosketchError(f"min_side {self.min_side}: from 1 to 4096 pixels; max_pixels {self.max_pixels}: "
                                 "at least 1")


# ---- labels and splits ---------------------------------------------------------------------------

def class_mapping(raw: dict) -> dict[str, str]:
    """The --map (or config `mapping`) pairs, canonical: FROM -> TO class names, both non-empty text."""
    if not isinstance(raw, dict):
        raise EmosketchError(f"mapping: expected FROM: TO pairs, e.g. {{angry: anger}}, got {shown(raw)}")
    out = {}
    for k, v in raw.items():
        if not isinstance(k, str) or not isinstance(v, str) or not k.strip() or not v.strip():
            raise EmosketchError(f"mapping {shown(k)}: {shown(v)}: both sides must be class names, e.g. contempt=disgust")
        out[canonical(k)] = canonical(v)
    return out


def resolve_classes(index: Index, cfg: PrepareConfig) -> tuple[list[str], list[int], list[int]]:
    """Map and select classes. Returns (classes, label per kept item, indices of kept items);
    items of unselected classes are added to index.skipped."""
    mapping = class_mapping(cfg.mapping)
    labelled = {item.label for item in index.items} | {n for item in index.items for n in (item.votes or {})}
    unused = [k for k in mapping if k not in labelled]
    if unused:  # a misspelt FROM would otherwise merge nothing, silently
        raise EmosketchError(f"--map {unused[0]}=...: no item of {index.path} is labelled or voted "
                             f"{unused[0]!r} (its labels: {', '.join(sorted(labelled)) or 'none'})")
    mapped = [mapping.get(item.label, item.label) for item in index.items]
    present = set(mapped)
    if cfg.classes:
        try:
            classes = canonical_list(cfg.classes)
        except ValueError as exc:
            raise EmosketchError(f"--classes: {exc}; name each class once (merge classes with --map)") from None
        absent = [c for c in classes if c not in present]
        if absent:
            empty = [key for key, why in index.skipped if why == "a class folder with no files"
                     and canonical(key.rstrip("/").split("/")[-1]) in absent]
            hint = f"; {', '.join(empty)} {'is a folder' if len(empty) == 1 else 'are folders'} with no files" \
                if empty else ""
            raise EmosketchError(f"class(es) {', '.join(absent)} not in {index.path} "
                                 f"(it has {', '.join(sorted(present)) or 'no labelled items'}{hint})")
    else:
        classes = [e for e in EMOTIONS if e in present] + sorted(present - set(EMOTIONS))
    if not classes:
        reasons = Counter(reason for _, reason in index.skipped).most_common(4)
        why = f" (skipped: {', '.join(f'{n} {r}' for r, n in reasons)})" if reasons else ""
        raise EmosketchError(f"{index.path}: no labelled items to prepare{why}")
    for c in classes:  # a checkpoint with such a class is refused: say so before the work
        if not class_name_ok(c):
            plain = re.sub(r"^[0-9]+", "", re.sub(r"[^a-z0-9]", "", c.lower()))
            plain = plain if plain and plain != "seq" else "other"
            how = (f"e.g. --map {c:.40}={plain:.40}" if not set(c) & set("=,") else  # --map cannot name it
                   f"e.g. as {plain:.40} (its name holds '=' or ',', which --map cannot name; a --config YAML's "
                   "mapping can)")
            raise EmosketchError(f"class {c!r:.50}: a class name is lower-case letters and digits from a letter, and "
                                 f"not 'seq', so that a pack can show it; rename it, {how}")
    position = {c: i for i, c in enumerate(classes)}
    labels, kept = [], []
    for i, (item, name) in enumerate(zip(index.items, mapped)):
        if name in position:
            labels.append(position[name])
            kept.append(i)
        else:
            index.skipped.append((item.key, "class not selected"))
    return classes, labels, kept


def assign_splits(items: list[Item], labels: list[int], fractions: list[float], seed: int) -> list[int]:
    """Keep the source's splits; items without one are split by class (or by group: a synthetic
    identity stays in one split), with a seeded shuffle."""
    splits = [item.split for item in items]
    todo = [i for i, s in enumerate(splits) if s is None]
    if not todo:
        return splits
    rng = np.random.default_rng(seed + 7919)
    units: dict[object, list[int]] = {}
    grouped = all(items[i].group is not None for i in todo)
    for i in todo:
        units.setdefault(items[i].group if grouped else i, []).append(i)
    # Stratify: groups (or single items) of each class are shuffled and cut by the fractions.
    by_class: dict[int, list[object]] = {}
    for unit, members in units.items():
        by_class.setdefault(0 if grouped else labels[members[0]], []).append(unit)
    for _, unit_list in sorted(by_class.items()):
        order = rng.permutation(len(unit_list))
        n = len(unit_list)
        n_train = int(round(fractions[0] * n))
        n_val = int(round(fractions[1] * n))
        if fractions[2] <= 0:  # no test split asked for: what rounding leaves goes to train, not to test
            n_train = n - n_val
        for rank, j in enumerate(order):
            split = TRAIN if rank < n_train else VAL if rank < n_train + n_val else TEST
            for i in units[unit_list[j]]:
                splits[i] = split
    return splits


# ---- one item, one chunk --------------------------------------------------------------------------

def _fer2013_pixels(path: str, offset: int, column: int, min_side: int) -> np.ndarray:
    with open(path, "rb") as fh:
        fh.seek(offset)
        fields = fer2013_fields(fh.readline())
    if column >= len(fields) or not fields[column]:
        raise Skip("corrupt image", "no pixel string")
    try:
        pixels = np.array([int(v) for v in fields[column].split()], np.int64)
    except ValueError:
        raise Skip("corrupt image", "pixels are not whole numbers") from None
    side = int(round(len(pixels) ** 0.5))
    if side * side != len(pixels):
        raise Skip("corrupt image", f"{len(pixels)} pixel values, not a square's (48x48 is 2,304)")
    if pixels.min() < 0 or pixels.max() > 255:
        raise Skip("corrupt image", f"pixel values from {pixels.min()} to {pixels.max()}, not 0 to 255")
    if side < min_side:
        raise Skip("image too small", f"{side}x{side} (min_side {min_side})")
    return pixels.reshape(side, side).astype(np.uint8)


def process_item(item: Item, cfg: PrepareConfig) -> tuple[np.ndarray, np.ndarray, str]:
    """-> (face crop, sketch, how the face was found). Raises Skip."""
    kind = item.ref[0]
    if kind == "synthetic":
        _, identity_seed, intensity = item.ref
        face = render(random_identity(seed=identity_seed), item.label, intensity, cfg.size)
        return face, face, "synthetic"
    if kind == "fer2013":
        gray = _fer2013_pixels(item.ref[1], item.ref[2], item.ref[3], cfg.min_side)
        box = (0, 0, gray.shape[1], gray.shape[0])  # FER2013 rows are face crops already
    else:
        gray = decode_file(item.ref[1], cfg.min_side, cfg.max_pixels)
        box = item.box
    face, how = crop_face(gray, cfg.size, cfg.face, box)
    return face, sketch(face, cfg.sketch), how


def process_chunk(items: list[Item], cfg: PrepareConfig) -> dict:
    n, s = len(items), cfg.size
    faces = np.full((n, s, s), 255, np.uint8)
    sketches = np.full((n, s, s), 255, np.uint8)
    ok = np.zeros(n, bool)
    notes: list[str] = []
    for i, item in enumerate(items):
        try:
            faces[i], sketches[i], how = process_item(item, cfg)
            ok[i] = True
            notes.append(how)
        except Skip as exc:
            notes.append(exc.reason)
        except Exception as exc:  # one bad item never stops a batch
            notes.append(f"error: {type(exc).__name__}")
    return {"faces": faces, "sketches": sketches, "ok": ok, "notes": np.array(notes)}


def _worker_init(parent: int) -> None:
    cv2.setNumThreads(1)
    _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    """A worker ends when the prepare that started it dies, even by SIGKILL (which gives the pool
    no chance to stop it): Linux's PR_SET_PDEATHSIG, and a check for a parent already gone."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        return  # not Linux: the pool's own shutdown is all there is
    if os.getppid() != parent:
        os._exit(1)


# ---- the job --------------------------------------------------------------------------------------

def _fingerprint(cfg: PrepareConfig, index: Index, items: list[Item], labels: list[int], splits: list[int]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"cfg": asdict(cfg), "source": [index.kind, index.path], "version": FORMAT_VERSION},
                        sort_keys=True, default=str).encode())
    for item, label, split in zip(items, labels, splits):
        h.update(f"{item.key}|{label}|{split}|{item.ref}|{item.box}\n".encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def _save_npz(path: Path, **arrays) -> None:
    with atomic_file(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _chunks_todo(chunk_dir: Path, n_chunks: int) -> list[int]:
    return [c for c in range(n_chunks) if not (chunk_dir / f"{c:06d}.npz").exists()]


def _drop_damaged_chunks(chunk_dir: Path, n_chunks: int, cfg: PrepareConfig) -> int:
    """Delete every finished chunk that does not read back whole (a disk fault, a foreign write), so
    that the run makes it again instead of failing on it at assembly; returns how many."""
    dropped = 0
    for c in range(n_chunks):
        path = chunk_dir / f"{c:06d}.npz"
        if not path.exists():
            continue
        try:
            with np.load(path, allow_pickle=False) as data:
                n = len(data["ok"])
                good = all(len(data[k]) == n for k in ("faces", "sketches", "notes")) and \
                    data["sketches"].shape[1:] == (cfg.size, cfg.size)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            good = False
        if not good:
            path.unlink()
            dropped += 1
    return dropped


def _run_chunks(items: list[Item], cfg: PrepareConfig, chunk_dir: Path, todo: list[int], workers: int,
                on_chunk: Callable[[int], None]) -> None:
    def part(c: int) -> list[Item]:
        return items[c * cfg.chunk:(c + 1) * cfg.chunk]

    if workers <= 1:
        for c in todo:
            _save_npz(chunk_dir / f"{c:06d}.npz", **process_chunk(part(c), cfg))
            on_chunk(len(part(c)))
        return
    pending: dict[Future, int] = {}
    queue: Iterator[int] = iter(todo)
    # spawn, not fork: a forked child can inherit a held lock of OpenCV's thread pool and hang.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init,
                               initargs=(os.getpid(),))
    try:
        for c in queue:  # keep at most 2 chunks per worker in flight: bounded memory
            pending[pool.submit(process_chunk, part(c), cfg)] = c
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                c = pending.pop(fut)
                _save_npz(chunk_dir / f"{c:06d}.npz", **fut.result())
                on_chunk(len(part(c)))
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(process_chunk, part(nxt), cfg)] = nxt
    except BaseException:
        # Stopped (Ctrl-C, SIGTERM) or failed: the workers' chunks are not waited for, the workers are ended at
        # once. Waiting for them, as the pool's own exit does, let a second Ctrl-C stop the wait half-way, and the
        # interpreter then hung at exit on the pool's thread (the done chunks are kept: a run resumes from them).
        workers_now = list((getattr(pool, "_processes", None) or {}).values())  # the pool's own, private map
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers_now:
            proc.terminate()
        raise
    pool.shutdown(wait=True)


def prepare(source: str, out: str | Path, cfg: PrepareConfig = PrepareConfig(), workers: int = 1,
            force: bool = False, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Convert `source` ('KIND:PATH' or 'synthetic') into a Sketch dataset at `out`; returns meta.
    The output is locked for the whole run: a second prepare into the same `out` refuses."""
    if not isinstance(cfg, PrepareConfig):
        raise EmosketchError(f"cfg must be a PrepareConfig (PrepareConfig(size=64, ...)), got {type(cfg).__name__}")
    out = Path(out)
    with output_lock(out):
        return _prepare(source, out, cfg, workers, force, progress, log)


def _prepare(source: str, out: Path, cfg: PrepareConfig, workers: int, force: bool, progress: bool,
             log: Callable[[str], None]) -> dict:
    check_target(out, force)
    started = time.time()
    index = read_source(source, cfg.count, cfg.seed)
    if cfg.soft_labels and not any(item.votes is not None for item in index.items):
        raise EmosketchError(f"soft labels are made from annotators' votes, which only a ferplus source has; this "
                             f"{index.kind} source has none (leave --soft-labels out)")
    if index.kind == "synthetic" and cfg.sketch != SketchConfig():
        log("note: synthetic faces are drawn as line drawings already; the sketch settings are not used")
    classes, labels, kept = resolve_classes(index, cfg)
    items = [index.items[i] for i in kept]
    splits = assign_splits(items, labels, list(cfg.split_fractions), cfg.seed)
    fingerprint = _fingerprint(cfg, index, items, labels, splits)

    partial = out.parent / f".{out.name}.partial"
    chunk_dir = partial / "chunks"
    plan = partial / "plan.json"
    if partial.exists():
        foreign = next((p.name for p in partial.iterdir() if not _ours(p.name)), None)
        if foreign is not None:  # never delete what prepare did not write
            raise EmosketchError(f"{partial}: holds {foreign}, which prepare did not write; move it away (prepare keeps "
                                 "its unfinished work in that folder)")
        if _plan_fingerprint(plan) != fingerprint:
            log(f"note: {partial} is from a run with other inputs or settings (or its plan is damaged); starting afresh")
            shutil.rmtree(partial)
    chunk_dir.mkdir(parents=True, exist_ok=True)
    if not plan.exists():
        with atomic_file(plan) as tmp:  # a run killed while writing it leaves the old plan or none, never half of one
            tmp.write_text(json.dumps({"fingerprint": fingerprint, "source": source, "items": len(items)}))
    n_chunks = -(-len(items) // cfg.chunk)
    damaged = _drop_damaged_chunks(chunk_dir, n_chunks, cfg)
    if damaged:
        log(f"note: {damaged} damaged chunk(s) in {partial} will be made again")
    todo = _chunks_todo(chunk_dir, n_chunks)
    if len(todo) < n_chunks:
        log(f"resuming: {n_chunks - len(todo)} of {n_chunks} chunks already done in {partial}")
    done_items = sum(min(cfg.chunk, len(items) - c * cfg.chunk) for c in range(n_chunks) if c not in set(todo))
    bar = progress_bar(len(items), "prepare", "face", initial=done_items, enabled=progress)
    try:
        _run_chunks(items, cfg, chunk_dir, todo, workers, bar.update)
    except (KeyboardInterrupt, SystemExit):  # a stop asked for (Ctrl-C, or SIGTERM, which the CLI turns into an
        # exit), not an error: said, and passed on (the CLI exits 130 or 143)
        log(f"stopped with {len(_chunks_todo(chunk_dir, n_chunks))} of {n_chunks} chunks left in {partial}; run the "
            "same command again to resume")
        raise
    finally:
        bar.close()
    meta = _assemble(partial, chunk_dir, n_chunks, index, items, labels, splits, classes, cfg, source, log)
    if meta["count"] == 0:
        shutil.rmtree(partial)
        reasons = ", ".join(f"{n} {r}" for r, n in list(meta["skipped_by_reason"].items())[:4])
        raise EmosketchError(f"{index.path}: no usable face in {len(items)} items (skipped: {reasons})")
    _check_assembled(partial, meta["count"], cfg)
    missing = [name for name in ("val", "test") if not any(meta["counts"][c][name] for c in classes)]
    if missing:
        asked = dict(zip(("val", "test"), cfg.split_fractions[1:]))
        if all(item.split is not None for item in items):
            why = "the source gives none: FER+ without FER2013Test, or a folder without val/ or test/, say"
        elif all(asked[name] <= 0 for name in missing):
            why = "split_fractions gives it none"
        else:
            why = f"too few faces a class for split_fractions {list(cfg.split_fractions)}"
        where = ("with --split val" if "val" not in missing else
                 "faces it was not trained on: give the source some, or prepare with other split_fractions")
        log(f"note: no face is in the {' or the '.join(missing)} split ({why}); evaluate {where}")
    empty = [c for c in classes if not sum(meta["counts"][c].values())]
    if empty:  # kept, so that labels keep their numbers, but a model would learn nothing of them
        log(f"note: class(es) {', '.join(empty)} kept no usable face (every item skipped, see below); leave them "
            "out with --classes, or fix their files")
    meta["seconds"] = round(time.time() - started, 2)
    (partial / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    shutil.rmtree(chunk_dir)
    plan.unlink()
    mark(partial)
    publish_dir(partial, out)  # the resumable partial folder becomes the dataset, atomically
    return meta


def _ours(name: str) -> bool:
    """Whether a name in the .partial folder is one prepare writes there (or a temporary file of one)."""
    return (name in ("plan.json", "chunks", "meta.json", MARKER, ".plan.json.lock") or name.endswith(".npy")
            or name.startswith(".plan.tmp-"))


def _plan_fingerprint(plan: Path) -> str | None:
    """The fingerprint a resumable run's plan.json holds, or None when it is missing or damaged."""
    try:
        data = json.loads(plan.read_text())
    except (OSError, ValueError):
        return None
    return data.get("fingerprint") if isinstance(data, dict) else None


def _check_assembled(partial: Path, count: int, cfg: PrepareConfig) -> None:
    """Read the assembled arrays back before they are published: every one whole, of the shape and
    dtype the count says, so that a short or damaged file never becomes a dataset."""
    expect = {"images.npy": ((count, cfg.size, cfg.size), np.uint8), "labels.npy": ((count,), np.int16),
              "split.npy": ((count,), np.uint8)}
    if cfg.keep_faces:
        expect["faces.npy"] = ((count, cfg.size, cfg.size), np.uint8)
    for name, (shape, dtype) in expect.items():
        try:
            arr = np.load(partial / name, mmap_mode="r", allow_pickle=False)
            size = (partial / name).stat().st_size
        except (OSError, ValueError) as exc:
            raise EmosketchError(f"{partial / name}: the assembled array is unreadable ({exc}); "
                                 "run the same command again") from exc
        whole = arr.shape == shape and arr.dtype == dtype and size == arr.offset + arr.nbytes
        if not whole:
            raise EmosketchError(f"{partial / name}: the assembled array is {arr.shape} {arr.dtype}, expected "
                                 f"{shape} {np.dtype(dtype)}; run the same command again")


def _assemble(partial: Path, chunk_dir: Path, n_chunks: int, index: Index, items: list[Item], labels: list[int],
              splits: list[int], classes: list[str], cfg: PrepareConfig, source: str, log=print) -> dict:
    """Concatenate the kept items of every chunk into memory-mapped arrays, chunk by chunk."""
    oks, notes = [], []
    for c in range(n_chunks):
        with np.load(chunk_dir / f"{c:06d}.npz") as data:
            oks.append(data["ok"])
            notes.extend(data["notes"].tolist())
    ok = np.concatenate(oks) if oks else np.zeros(0, bool)
    n = int(ok.sum())
    s = cfg.size
    # Plain sequential writes, not a memory map: dirty mapped pages would count against memory.
    outputs = {"images.npy": "sketches"} | ({"faces.npy": "faces"} if cfg.keep_faces else {})
    handles = {}
    for name in outputs:
        handles[name] = open(partial / name, "wb")
        np.lib.format.write_array_header_1_0(
            handles[name], {"descr": "|u1", "fortran_order": False, "shape": (n, s, s)})
    try:
        for c in range(n_chunks):
            with np.load(chunk_dir / f"{c:06d}.npz") as data:
                keep = data["ok"]
                for name, key in outputs.items():
                    handles[name].write(np.ascontiguousarray(data[key][keep]).tobytes())
    finally:
        for fh in handles.values():
            fh.close()
    label_arr = np.asarray(labels, np.int16)[ok]
    split_arr = np.asarray(splits, np.uint8)[ok]
    np.save(partial / "labels.npy", label_arr)
    np.save(partial / "split.npy", split_arr)
    kept_items = [item for item, good in zip(items, ok) if good]
    if cfg.soft_labels and all(item.votes is not None for item in kept_items):
        # Votes follow the same renames and merges as the labels; votes for other classes drop out.
        mapping = class_mapping(cfg.mapping)
        position = {c: i for i, c in enumerate(classes)}
        soft = np.zeros((len(kept_items), len(classes)), np.float32)
        for row, item in enumerate(kept_items):
            for name, votes in item.votes.items():
                col = position.get(mapping.get(name, name))
                if col is not None:
                    soft[row, col] += votes
        soft /= np.maximum(soft.sum(axis=1, keepdims=True), 1e-9)
        np.save(partial / "soft_labels.npy", soft)
    if index.kind == "synthetic":
        np.save(partial / "identity.npy", np.array([item.ref[1] for item in kept_items], np.int64))
        np.save(partial / "intensity.npy", np.array([item.ref[2] for item in kept_items], np.float32))
    skipped = list(index.skipped) + [(item.key, note) for item, note, good in zip(items, notes, ok) if not good]
    crop_methods = Counter(found_by(note) for note, good in zip(notes, ok) if good)
    counts = {name: {SPLIT_NAMES[sp]: int(((label_arr == ci) & (split_arr == sp)).sum()) for sp in (TRAIN, VAL, TEST)}
              for ci, name in enumerate(classes)}
    face_crop = {**cfg.face.to_dict(), "used": dict(crop_methods)}
    if cfg.face.photo_margin is None and cfg.keep_faces and n and crop_methods.get("box", 0) * 2 > n:
        # Crops from the dataset's own boxes: measure how close they frame their faces, so that a photo's
        # Haar box is framed alike when a model trained on them reads it (FaceConfig.photo_margin).
        faces = np.load(partial / "faces.npy", mmap_mode="r")
        log(f"measuring how these crops frame their faces, for photos (the face detector on {min(400, len(faces))} "
            "of them)")
        margin, found, tried = framing_margin(faces, cfg.face.min_face)
        face_crop["photo_margin"] = margin
        face_crop["photo_margin_measured"] = {"found": found, "tried": tried}
    return {
        "format": FORMAT_NAME, "version": FORMAT_VERSION, "emosketch": __version__,
        "classes": classes, "size": cfg.size, "count": n, "counts": counts,
        "source": {"kind": index.kind, "path": index.path, "spec": source},
        "face_crop": face_crop,
        "sketch": cfg.sketch.to_dict() if index.kind != "synthetic" else {"method": "synthetic render"},
        "config": json.loads(json.dumps(asdict(cfg), default=str)),
        "files": sorted(p.name for p in partial.iterdir() if p.suffix == ".npy"),
        "skipped_by_reason": dict(Counter(reason for _, reason in skipped).most_common()),
        "skipped": [{"item": key, "reason": reason} for key, reason in skipped],
    }
