"""Atomic outputs: work is written under a temporary name and renamed into place only when whole."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import glob
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import EmosketchError


def _hidden(name: str) -> str:
    """The part of an output's name that its hidden lock and temporary names carry: the name itself, or for a
    name near the 255-byte limit, its start and a hash (".NAME.lock" would not fit)."""
    raw = os.fsencode(name)  # a name from argv may hold bytes that are not UTF-8 (surrogate-escaped)
    if len(raw) <= 200:
        return name
    import hashlib

    return os.fsdecode(raw[:120]) + "-" + hashlib.sha1(raw).hexdigest()[:16]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish_mode(path: Path, mode: int) -> None:
    """mkstemp/mkdtemp make private (0600/0700) entries; give them the usual umask permissions."""
    os.chmod(path, mode & ~_umask())


MARKER = ".emosketch"  # in every folder emosketch writes: --force replaces only folders that hold it
# What a pack's or dataset's writer puts in a folder it stamps (manifest.json, meta.json): the files --force may
# replace in such a folder written before markers listed their files
STAMPED_FILES = re.compile(r"(manifest|meta)\.json|(frames|index)\.bin|index\.html|preview\.gif|contact_sheet\.png"
                           r"|[A-Za-z_]\w*\.(h|py|npy)|emosketch_\w+\.c|(adafruit_gfx|tft_espi)(/\w+\.ino)?")


def mark(folder: Path, entries: list[str] | None = None) -> None:
    """Write MARKER into a folder emosketch has written, listing every entry in it (or `entries`, where an entry
    that ends in "/" is a folder emosketch owns whole), so that a later --force replaces the folder only while
    it holds nothing else."""
    if entries is None:
        entries = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.name != MARKER)
    (folder / MARKER).write_text(json.dumps({"written_by": "emosketch", "entries": entries},
                                            ensure_ascii=False) + "\n", errors="surrogateescape")


def owned(folder: Path) -> bool:
    """True for a folder that emosketch wrote (its marker, or a dataset's or pack's own format stamp)
    or an empty one: the only folders that --force may replace."""
    if not folder.is_dir():
        return False
    if (folder / MARKER).exists() or not any(folder.iterdir()):
        return True
    return _stamped(folder)


def _stamped(folder: Path) -> bool:
    for stamp in ("meta.json", "manifest.json"):
        try:
            if str(json.loads((folder / stamp).read_text()).get("format", "")).startswith("emosketch"):
                return True
        except (OSError, ValueError, AttributeError):
            pass
    return False


def foreign(folder: Path) -> list[str]:
    """The entries of an emosketch output folder that emosketch did not write there: those its marker does not
    list (in a folder it lists as owned whole that holds a marker of its own, those that marker does not list),
    or in a stamped folder with no marker, those no pack or dataset writer makes. [] for a folder whose
    marker lists nothing (written before markers listed their entries)."""
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.name != MARKER)
    try:
        listed = json.loads((folder / MARKER).read_text(errors="surrogateescape"))["entries"]
    except FileNotFoundError:
        return [f for f in found if not STAMPED_FILES.fullmatch(f)] if _stamped(folder) else []
    except (OSError, ValueError, TypeError, KeyError):
        return []  # a marker from before the listing: the folder as a whole is emosketch's
    if not isinstance(listed, list):
        return []
    known = {str(e) for e in listed}
    whole = tuple(e for e in known if e.endswith("/"))  # folders emosketch owns with all they hold
    inner = []  # but one that holds a marker of its own (the demo's pack/) is read by its own listing
    for w in whole:
        if (folder / w / MARKER).is_file():
            inner += [w + f for f in foreign(folder / w)]
    return sorted(inner + [f for f in found if f not in known and f + "/" not in known and not f.startswith(whole)])


def some(names: list[str], shown: int = 3) -> str:
    """The first few of `names` for a message: "a, b, c and 12 more"."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown:,} more" if len(names) > shown else "")


def check_place(target: str | os.PathLike) -> None:
    """Refuse an output whose folder cannot be made, before any work is done: a file (or a link to nowhere)
    where one of its folders goes, or a nearest existing folder emosketch may not write into."""
    target = Path(target)
    for parent in target.parents:
        if parent.is_symlink() and not parent.exists():
            raise EmosketchError(f"{target}: {parent} is a symbolic link to {os.readlink(parent)}, which does not "
                                 "exist; choose another path")
        if not parent.exists():
            continue
        if not parent.is_dir():
            raise EmosketchError(f"{target}: {parent} is a file, not a folder; choose another path")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise EmosketchError(f"{target}: cannot write into {parent} ({_why_not(parent)}); choose another path")
        return


def _why_not(folder: Path) -> str:
    """Why a folder cannot be written: on a read-only file system, or not this user's to write."""
    try:
        return "a read-only file system" if os.statvfs(folder).f_flag & os.ST_RDONLY else "permission denied"
    except OSError:
        return "permission denied"


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse a folder output before any work is done: one that exists (unless overwrite), a regular
    file where the folder goes, a link to nowhere, or a folder emosketch did not write."""
    check_place(target)
    if target.is_symlink() and not target.exists():
        raise EmosketchError(f"{target}: is a symbolic link to {os.readlink(target)}, which does not exist; "
                             "remove the link or choose another --out")
    here = Path.cwd().resolve()
    if target.exists() and (target.resolve() == here or target.resolve() in here.parents):
        raise EmosketchError(f"{str(target) or '.'}: is the folder you are in, or holds it; an output folder is "
                             "written whole beside it and then replaces it, so name a new folder, e.g. --out pack")
    if not target.exists() or _empty_dir(target):  # an empty folder made for the output holds nothing to lose
        return
    if not overwrite:
        raise EmosketchError(f"{target}: already exists (pass --force to replace it)")
    if not target.is_dir():
        raise EmosketchError(f"{target}: is a file, not a folder; choose another --out")
    if not owned(target):
        raise EmosketchError(f"{target}: was not written by emosketch (no {MARKER} marker); --force replaces only "
                             "emosketch's own outputs, so move it away or choose another --out")
    extra = foreign(target)
    if extra:
        raise EmosketchError(f"{target}: holds {some(extra)}, which emosketch did not write there; --force replaces "
                             "the folder whole, so move them out first or choose another --out")


def check_outside(target: Path, inputs) -> None:
    """Refuse an input inside an output folder that exists: replacing the folder would delete the input."""
    if not target.exists():
        return
    where = target.resolve()
    for item in inputs:
        path = Path(item).resolve()
        if path == where or where in path.parents:
            raise EmosketchError(f"{item}: is inside --out {target}, which is replaced whole; move it out first, "
                                 "or write elsewhere")


def _empty_dir(path: Path) -> bool:
    """A real folder (not a link) with nothing in it."""
    return path.is_dir() and not path.is_symlink() and next(os.scandir(path), None) is None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    for root, _dirs, files in os.walk(folder):
        for name in files:
            _fsync(Path(root) / name)
        _fsync(Path(root))


WRITE_ERRORS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "over the disk quota",
                errno.EFBIG: "larger than this process may write (ulimit -f)", errno.EROFS: "a read-only file system"}


def _named(exc: OSError, tmp: Path, target: Path) -> OSError | EmosketchError:
    """An error writing the output, told by the output the user named (a full disk, a read-only one, or any
    error on the hidden temporary path); any other (reading an input) as it is."""
    if exc.errno in WRITE_ERRORS:
        return EmosketchError(f"{target}: {WRITE_ERRORS[exc.errno]} while writing it; {target.name or target} was "
                              "left as it was")
    if str(tmp) in str(exc.filename or "") or str(tmp) in str(exc):
        return EmosketchError(f"{target}: cannot write it ({exc.strerror or exc.__class__.__name__})")
    return exc


def publish_dir(folder: Path, target: Path) -> None:
    """Put a finished folder in `target`'s place: fsynced, then renamed over it (an existing target
    is first moved aside, so there is no moment without one of the two), then the parent fsynced."""
    _publish_mode(folder, 0o777)
    _fsync_tree(folder)
    if target.exists():
        if not _empty_dir(target) and (not owned(target) or foreign(target)):  # filled since check_target: keep it
            raise EmosketchError(f"{target}: files appeared in it while it was written; it was left as it was")
        old = Path(tempfile.mkdtemp(prefix=f".{_hidden(target.name)}.old-", dir=target.parent))
        os.replace(target, old / "previous")
        os.replace(folder, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(folder, target)
    _fsync(target.parent)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary folder beside `target`; rename it to `target` when the block succeeds.

    The target is locked for the block (output_lock), checked before any work (check_target), and
    the new folder is fsynced and marked as emosketch's (mark: the marker lists what it holds) before
    the rename. On any exception the temporary folder is removed and an existing `target` is left
    untouched.
    """
    target = Path(target)
    check_target(target, overwrite)
    with output_lock(target):
        tmp = Path(tempfile.mkdtemp(prefix=f".{_hidden(target.name)}.tmp-", dir=target.parent))
        try:
            yield tmp
            mark(tmp)
            publish_dir(tmp, target)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _named(exc, tmp, target) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `target` (same suffix); it replaces `target` on success, after
    the file is fsynced (and the folder after the rename). The target is locked for the block (a second
    writer refuses at once), and what a killed writer of it left is removed first."""
    target = Path(target)
    check_place(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_dir():
        raise EmosketchError(f"{target}: is a folder, not a file; choose another path")
    with output_lock(target):
        try:
            fd, name = tempfile.mkstemp(prefix=f".{_hidden(target.stem)}.tmp-", suffix=target.suffix,
                                        dir=target.parent)
        except OSError as exc:
            raise EmosketchError(f"{target}: cannot write it there ({exc.strerror or exc})") from None
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            _publish_mode(tmp, 0o666)
            _fsync(tmp)
            os.replace(tmp, target)
            _fsync(target.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _named(exc, tmp, target) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def remove_stale(target: str | os.PathLike) -> int:
    """Delete the temporary files and folders (.NAME.tmp-*, .STEM.tmp-*SUFFIX, .NAME.old-*) that a
    killed writer of `target` left beside it. Call it only while holding the target's lock (or the
    lock of the folder it lives in). Returns how many were removed."""
    target = Path(target)
    if not target.parent.is_dir():
        return 0
    name, stem, suffix = (glob.escape(x) for x in (_hidden(target.name), _hidden(target.stem), target.suffix))
    patterns = [f".{name}.tmp-*", f".{name}.old-*"]  # escaped: an output named a[1].gif removes only its own
    if target.suffix:
        patterns.append(f".{stem}.tmp-*{suffix}")
    removed = 0
    for pattern in patterns:
        for stale in target.parent.glob(pattern):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
            removed += 1
    return removed


def lock_path(target: str | os.PathLike) -> Path:
    target = Path(target)
    return target.parent / f".{_hidden(target.name)}.lock"


@contextlib.contextmanager
def output_lock(target: str | os.PathLike) -> Iterator[Path]:
    """Hold an exclusive lock on the output `target` for the block: a lock file beside it
    (.NAME.lock) that holds this process's pid, locked with fcntl.flock. A second run that wants the
    same output refuses at once with an error that names the live one. The kernel drops the lock
    when its holder dies, so a killed run never leaves a stale lock behind."""
    path = lock_path(target)
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:  # the user named the output, not its hidden lock file
            raise EmosketchError(f"{target}: cannot write there ({exc.strerror or exc.__class__.__name__}); "
                                 "choose another path") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise EmosketchError(f"{target}: another emosketch run (pid {holder}) is writing it; wait for it "
                                 f"to finish or stop it (lock: {path})") from None
        try:  # the holder before us may have removed the file after we opened it: lock the new one
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        remove_stale(target)  # no live writer can hold them now
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield path
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
