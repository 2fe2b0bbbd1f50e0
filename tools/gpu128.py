"""The 128 px generator's run on a lent GPU (issue 33), in pieces small enough to carry there.

The device machine gets the working tree and the paths named in `carry` (64 MiB in all), never
../shared. So the FER+ sketches travel as one compressed file of bit-packed binary sketches:

    python tools/gpu128.py pack --data data/fer6-128 --out .gpu/fer6-128.npz     # here (about 12 MB)
    python tools/gpu128.py unpack .gpu/fer6-128.npz --out /tmp/fer6-128            # there

and tools/gpu128.sh runs the whole job there: unpack, the two guides, a short probe of the training
speed, then training sized to the time budget, and the slim checkpoint, the log and the sample grids
into $OUT. `make gpu-data` makes the carried file; the README of the model card says how to run it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pack(data: Path, out: Path) -> dict:
    """A prepared dataset of binary sketches -> one .npz: the sketches bit-packed, labels, split,
    meta.json's text. Refuses sketches that are not pure ink and paper (they would not round-trip)."""
    from emosketch.datasets.dataset import load

    ds = load(data)
    images = np.asarray(ds.images)
    if not np.isin(images, (0, 255)).all():
        raise SystemExit(f"{data}: its sketches are not binary (0 and 255 only); pack keeps only binary ones")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, bits=np.packbits(images == 0, axis=-1), shape=np.array(images.shape),
                        labels=np.asarray(ds.labels), split=np.asarray(ds.split),
                        meta=np.frombuffer((data / "meta.json").read_bytes(), np.uint8))
    tmp.replace(out)
    return {"sketches": len(images), "side": images.shape[1], "bytes": out.stat().st_size}


def unpack(packed: Path, out: Path) -> Path:
    """The .npz of `pack` -> a dataset folder that emosketch.datasets.dataset.load reads (no face crops)."""
    with np.load(packed, allow_pickle=False) as z:
        shape = tuple(int(v) for v in z["shape"])
        ink = np.unpackbits(z["bits"], axis=-1, count=shape[-1]).astype(bool)
        images = np.where(ink, 0, 255).astype(np.uint8).reshape(shape)
        labels, split, meta = z["labels"], z["split"], z["meta"].tobytes()
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "images.npy", images)
    np.save(tmp / "labels.npy", labels)
    np.save(tmp / "split.npy", split)
    (tmp / "meta.json").write_bytes(meta)
    (tmp / ".emosketch").write_text("written by emosketch\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)
    return out


RESERVED = ("steps", "guide", "extra_guides")  # gpu128.sh sets these itself: steps from BUDGET, the guides it trains


def set_keys(config: str, extra: str, reserved: tuple[str, ...] = ()) -> str:
    """The config's text with EXTRA's top-level keys ("key: value", one a line) set: a key the config gives on one
    line is replaced in place, a new one appended. A key whose value in the config spans lines (a mapping or a
    list) is refused, since one line cannot replace it, and so is a `reserved` key. Every line of EXTRA must be a
    key and a value."""
    lines = config.splitlines()
    for raw in extra.splitlines():
        if not raw.strip():
            continue
        key, sep, value = raw.partition(":")
        if not sep or not key.isidentifier() or not value.strip():  # an identifier has no spaces: no indented key
            raise SystemExit(f"EXTRA line {raw!r:.60}: expected 'key: value', a training key at the top level")
        if key in reserved:
            raise SystemExit(f"EXTRA key {key}: the script sets it (steps from BUDGET, the guides it trains)")
        i = next((i for i, line in enumerate(lines) if line.startswith(key + ":")), None)
        if i is None:
            lines.append(f"{key}:{value}")
            continue
        rest = lines[i].split(":", 1)[1].split("#", 1)[0].strip()
        if not rest or (i + 1 < len(lines) and lines[i + 1][:1] in (" ", "\t")):
            raise SystemExit(f"EXTRA key {key}: its value in the config spans lines; set one-line keys only")
        lines[i] = f"{key}:{value}"
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[4:6]))
    sub = ap.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("pack", help="a prepared dataset -> one carried .npz")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    u = sub.add_parser("unpack", help="the carried .npz -> a dataset folder")
    u.add_argument("packed", type=Path)
    u.add_argument("--out", type=Path, required=True)
    k = sub.add_parser("keys", help="a training config with the EXTRA environment variable's keys set")
    k.add_argument("config", type=Path)
    k.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    if args.verb == "keys":
        import os

        args.out.write_text(set_keys(args.config.read_text(), os.environ.get("EXTRA", ""), RESERVED))
        return
    if args.verb == "pack":
        print(json.dumps(pack(args.data, args.out)))
    else:
        print(f"wrote {unpack(args.packed, args.out)}")


if __name__ == "__main__":
    main()
