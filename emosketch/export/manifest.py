"""The pack's core files, manifest.json and frames.bin, and the reference decoder that reads them back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import EmosketchError, shown
from . import codec as codecs
from . import ctx
from .dither import widen
from .pack import FORMAT_NAME, FORMAT_VERSION, MAX_FRAME_BYTES, Pack
from .pixels import pixel_format

CODEC_IDS = {name: cid for cid, name in codecs.NAMES.items()}
MAX_DECODED_PIXELS = 1 << 30  # what read() may hold: 1 GiB of pixels (131,072 frames of 128x64)


def write(pack: Pack, folder: Path) -> list[Path]:
    (folder / "frames.bin").write_bytes(pack.data)
    (folder / "manifest.json").write_text(json.dumps(pack.manifest(), indent=1) + "\n")
    return [folder / "frames.bin", folder / "manifest.json"]


def _count(entry, key: str, where: str, folder: Path) -> int:
    """A non-negative whole number from a manifest entry, or one line naming it."""
    v = entry.get(key) if isinstance(entry, dict) else None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise EmosketchError(f"{folder}: manifest.json {where} {key} is {shown(v)}, not a whole number >= 0")
    return v


def _list(manifest: dict, key: str, folder: Path) -> list:
    v = manifest.get(key)
    if not isinstance(v, list):
        raise EmosketchError(f"{folder}: manifest.json {key} is {shown(v)}, not a list")
    return v


def load(folder: str | Path) -> tuple[dict, list[tuple[int, bytes]]]:
    """Read manifest.json and split frames.bin into (codec id, payload) per frame."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        data = (folder / "frames.bin").read_bytes()
    except FileNotFoundError as exc:
        raise EmosketchError(f"{folder}: not a pack ({Path(exc.filename).name} is missing)") from exc
    except (OSError, ValueError, RecursionError) as exc:
        raise EmosketchError(f"{folder}: unreadable pack ({type(exc).__name__}: {str(exc)[:100]})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise EmosketchError(f"{folder}: manifest.json is not an {FORMAT_NAME} manifest")
    if manifest.get("version") != FORMAT_VERSION:
        raise EmosketchError(f"{folder}: pack version {shown(manifest.get('version'))} is not supported "
                             f"(this emosketch reads version {FORMAT_VERSION})")
    payloads, at = [], 0
    for i, entry in enumerate(_list(manifest, "frames", folder)):
        start, size = _count(entry, "offset", f"frame {i}", folder), _count(entry, "size", f"frame {i}", folder)
        codec = entry.get("codec")
        if start + size > len(data) or not isinstance(codec, str) or codec not in CODEC_IDS:
            raise EmosketchError(f"{folder}: frame {i} is outside frames.bin or has an unknown codec")
        if start != at:  # as in a device's index.bin: each frame starts where the one before ends, none shared
            raise EmosketchError(f"{folder}: frame {i} starts at byte {start} of frames.bin, not at {at}, where "
                                 + (f"frame {i - 1} ends" if i else "the first frame starts"))
        payloads.append((CODEC_IDS[entry["codec"]], data[start:start + size]))
        at = start + size
    if at != len(data):
        raise EmosketchError(f"{folder}: its frames end at byte {at}, frames.bin at {len(data)}")
    return manifest, payloads


def read(folder: str | Path) -> tuple[np.ndarray, dict]:
    """Decode a written pack: bool [T, H, W] lit pixels, and its manifest."""
    manifest, payloads = load(folder)
    folder = Path(folder)
    if not isinstance(manifest.get("pixel_format"), str) or not isinstance(manifest.get("display"), dict):
        raise EmosketchError(f"{folder}: manifest.json lacks its pixel_format or display")
    fmt = pixel_format(manifest["pixel_format"])
    w, h = (_count(manifest["display"], k, "display", folder) for k in ("width", "height"))
    if not (w and h) or fmt.frame_bytes(w, h) > MAX_FRAME_BYTES:
        raise EmosketchError(f"{folder}: manifest.json display {w}x{h} is not a panel a pack can hold")
    frame_bytes = fmt.frame_bytes(w, h)
    try:
        model = bytes.fromhex(manifest.get("ctx_model") or "")
    except (TypeError, ValueError) as exc:
        raise EmosketchError(f"{folder}: manifest.json has an unreadable ctx_model") from exc
    if model and len(model) != ctx.MODEL_BYTES:
        raise EmosketchError(f"{folder}: ctx_model has {len(model)} bytes, expected {ctx.MODEL_BYTES}")
    if len(payloads) * w * h > MAX_DECODED_PIXELS:
        raise EmosketchError(f"{folder}: {len(payloads)} frames of {w}x{h} decode to more than "
                             f"{MAX_DECODED_PIXELS >> 30} GiB of pixels, more than a pack is read back at")
    # Each sequence starts on a key frame, so decode them one at a time; as a device, the sequences must
    # tile the frames in order (a frame decoded twice could make a small pack decode to gigabytes)
    parts, done = [], 0
    for i, seq in enumerate(_list(manifest, "sequences", folder)):
        first, count = (_count(seq, k, f"sequence {i}", folder) for k in ("first_frame", "frame_count"))
        if first + count > len(payloads):
            raise EmosketchError(f"{folder}: sequence {i} runs to frame {first + count}, past the pack's "
                                 f"{len(payloads)} frames")
        if first != done or not count:
            raise EmosketchError(f"{folder}: sequence {i} holds frames {first} to {first + count - 1}; the "
                                 f"sequences must hold every frame once, in order (frame {done} next)")
        done += count
        try:
            raw = codecs.decode_frames(payloads[first:first + count], frame_bytes, ctx.Grid.of(fmt, w, h), model,
                                       first=first)
        except EmosketchError as exc:
            raise EmosketchError(f"{folder}: {exc}") from None
        parts.append(fmt.unpack(raw, w, h))
    if manifest.get("pen", 1) not in (1, 2):
        raise EmosketchError(f"{folder}: pen {shown(manifest.get('pen'))} is not 1 or 2")
    if manifest.get("pen", 1) == 2:  # stored skeletons, drawn with the 2x2 pen
        parts = [widen(p) for p in parts]
    if done != len(payloads):
        raise EmosketchError(f"{folder}: its sequences hold {done} of its {len(payloads)} frames")
    bits = np.concatenate(parts) if parts else np.zeros((0, h, w), bool)
    return bits, manifest
