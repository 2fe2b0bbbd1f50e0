"""Checkpoints are data: one .pt file of tensors and plain values, written atomically, stamped with
a format name and version, and read back with torch.load(weights_only=True)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from .atomic import atomic_file
from .emotions import canonical, class_name_ok
from .errors import EmosketchError, shown

MAX_CLASS_NAME = 40  # characters of a class name read from a file


def save_checkpoint(path: str | Path, state: dict, format_name: str, version: int) -> None:
    """Write atomically: a failed write (a full disk, which torch reports as a RuntimeError rather
    than an OSError) leaves the previous checkpoint in place and is one line that names the path."""
    try:
        with atomic_file(path) as tmp:
            torch.save({**state, "format": format_name, "version": version}, tmp)
    except RuntimeError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        raise EmosketchError(f"{path}: could not write the checkpoint ({lines[0][:120]}); is the disk full? "
                             "The previous checkpoint, if any, is unchanged") from None


def load_checkpoint(path: str | Path, format_name: str, version: int, noun: str = "checkpoint") -> dict:
    """The checkpoint's dict, or EmosketchError naming what is wrong (missing, unreadable, another
    format, another version); `noun` names what was expected, e.g. "classifier checkpoint"."""
    path = Path(path)
    if not path.exists():
        raise EmosketchError(f"{path}: no such {noun}")
    try:
        with warnings.catch_warnings():  # torch warns about the pickle protocol of files it then refuses
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise EmosketchError(f"{path}: not a readable {noun}: {describe_unreadable(path, exc)}") from None
    if not isinstance(state, dict) or state.get("format") != format_name:
        if not isinstance(state, dict):
            got = f"a {type(state).__name__}"
        elif state.get("format"):
            got = f"an {shown(state['format'])} file"
        else:
            keys = [shown(k, 24) for k in list(state)[:4]]
            got = (f"a torch.save dict that no emosketch command wrote; keys {', '.join(keys) or 'none'}"
                   f"{', ...' if len(state) > 4 else ''}")
        raise EmosketchError(f"{path}: not an {format_name} checkpoint (it is {got})")
    if state.get("version") != version:
        raise EmosketchError(f"{path}: {format_name} version {state.get('version')} is not supported "
                             f"(this emosketch reads version {version})")
    return state


def stored_format(path: str | Path) -> str | None:
    """The format a checkpoint file names, or None for any file that is not one (quietly: torch warns about the
    pickle protocol of files it then refuses)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 -- the loader that reads it for real names what is wrong
        return None
    return state.get("format") if isinstance(state, dict) else None


def describe_unreadable(path: Path, exc: BaseException) -> str:
    """What a file that torch.load(weights_only=True) refused is, in words."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as err:
        return f"cannot read it ({err.strerror or err})"
    message = str(exc)
    if size == 0:
        return "it is an empty file (0 bytes)"
    if head[:1] == b"\x80":
        return ("it is a bare pickle, not a PyTorch checkpoint (emosketch reads only torch.save files of tensors and "
                "plain values; a StyleGAN2-ADA snapshot converts with `emosketch stylegan2 convert`)")
    if "GLOBAL" in message:
        named = [line.strip() for line in message.splitlines() if "GLOBAL" in line]
        return f"it holds objects that would run code on load, which weights_only refuses ({named[0][:100]})"
    if head.startswith(b"PK\x03\x04"):
        return f"it is a damaged or truncated zip archive ({size} bytes)"
    try:
        head.decode("utf-8")
        return f"it is a text file ({size} bytes), not a PyTorch checkpoint"
    except UnicodeDecodeError:
        return f"it is not a PyTorch checkpoint ({size} bytes of unknown data)"


def require(state: Mapping, fields: dict[str, type], where: str | Path) -> None:
    """Each named field is present and of its type, or one line that names the first that is not."""
    for key, kind in fields.items():
        if key not in state:
            raise EmosketchError(f"{where}: the checkpoint has no {key!r}; it is damaged or not written by emosketch")
        if not isinstance(state[key], kind) or (kind is int and isinstance(state[key], bool)):
            raise EmosketchError(f"{where}: {key!r} is a {type(state[key]).__name__}, expected a {kind.__name__}")


def check_classes(classes, where: str | Path) -> None:
    """A checkpoint's or dataset's classes: a non-empty list of distinct, non-empty strings."""
    if not isinstance(classes, list | tuple) or not classes:
        raise EmosketchError(f"{where}: its classes must be a non-empty list of names (got {shown(classes)})")
    bad = [c for c in classes if not isinstance(c, str) or not c.strip()]
    if bad:
        raise EmosketchError(f"{where}: its classes must be non-empty strings (got {shown(bad[0], 40)})")
    if len(set(classes)) != len(classes):
        twice = sorted({c for c in classes if classes.count(c) > 1})
        raise EmosketchError(f"{where}: its classes name {', '.join(twice)} more than once")
    # The agent, packs and the API match emotions by their canonical names: a class spelled "Happy ",
    # "angry" or "joy\n" would be a class no channel ever shows, an emotion silently dropped.
    for c in classes:
        if len(c) > MAX_CLASS_NAME or not c.isprintable() or canonical(c) != c or not class_name_ok(c):
            raise EmosketchError(f"{where}: its class {c!r:.50} is not an emotion name as emosketch writes them "
                                 f"(lower-case letters and digits from a letter, at most {MAX_CLASS_NAME}, not 'seq', "
                                 f"the canonical spelling: {canonical(c)!r:.50}); the file is damaged or hostile")


def check_finite(weights: Mapping, where: str | Path, what: str) -> None:
    """NaN or infinite weights draw a blank (or garbage) face that every later check passes. A tensor whose
    storage holds fewer values than it claims (a stride of 0 repeats one value: a 22 KB file claimed 1.5
    billion weights, and the model built for them took 6.8 GB) is refused too, before anything is built."""
    for k, v in weights.items():
        if not isinstance(v, torch.Tensor):
            continue
        if v.numel() and v.untyped_storage().nbytes() < v.numel() * v.element_size():
            raise EmosketchError(f"{where}: its {what} weight {k!r:.80} claims {v.numel():,} values but its storage "
                                 f"holds {v.untyped_storage().nbytes() // v.element_size():,}; the file is damaged or "
                                 "hostile, so it is not used")
        if not bool(torch.isfinite(v).all()):
            raise EmosketchError(f"{where}: its {what} weight {k!r:.80} holds NaN or infinite values; "
                                 "the file is damaged (or training diverged), so it is not used")


def check_shapes(module: torch.nn.Module, weights: Mapping, where: str | Path, what: str) -> None:
    """The stored weights have exactly the names and shapes of `module`'s state dict, or one line.
    Meant for a module built on the meta device, before the real one is built: a config that would
    allocate gigabytes is refused by the tensors the file really holds."""
    bad = [k for k, v in weights.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise EmosketchError(f"{where}: the {what} weight {bad[0]!r} is not a tensor")
    check_finite(weights, where, what)
    wanted = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    missing = [k for k in wanted if k not in weights]
    extra = [k for k in weights if k not in wanted]
    wrong = [k for k in wanted if k in weights and tuple(weights[k].shape) != wanted[k]]
    if missing or extra or wrong:
        detail = (f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}" if extra else
                  f"{wrong[0]!r} is {list(weights[wrong[0]].shape)}, the config makes it {list(wanted[wrong[0]])}")
        raise EmosketchError(f"{where}: its {what} weights do not fit the model its config describes ({detail[:160]}); "
                             "nothing was built")


def load_weights(module: torch.nn.Module, weights: Mapping, where: str | Path, what: str) -> None:
    """module.load_state_dict(weights), with a missing key, an extra key or a wrong shape or dtype
    reported as one line."""
    bad = [k for k, v in weights.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise EmosketchError(f"{where}: the {what} weight {bad[0]!r} is not a tensor")
    check_finite(weights, where, what)
    try:
        module.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
        raise EmosketchError(f"{where}: its {what} weights do not fit the model its config describes "
                             f"({detail[:160]})") from None
