"""What a warp generator's displacement field does, per emotion: how far it moves the strokes, how much
it bends them, and how much of it depends on the face (rather than being one template per emotion).

    python benchmarks/field.py --out bench-out                        # the shipped generator
    python benchmarks/field.py --out bench-out --generator jitter=runs/fer6-jitter-ft/checkpoint.pt

Faces: FER+ valid sketches (data/fer6-SIZE's val split, at the model's size; --faces of them) and the sharp portraits of the
legibility study (the demo photo first), each redrawn in every emotion at latent seed 0. Per
generator and emotion:

- shift_px: the mean displacement, in pixels of the model's side; max_px: the largest;
- bend: the field's mean squared gradient, (px/px)^2 (gan.losses.bending);
- face_share: the share of the field's energy that differs between faces,
  E_faces |f - mean_f|^2 / E_faces |f|^2. Near 0: every face gets the same field (a template, which
  moves the cheeks where the eyes are on a face framed otherwise); near 1: the field is all face.

The baseline row is a field that is exactly a template (face_share 0 by construction): the mean of
the shipped model's fields, the same for every face. A benchmark, not a test: it prints a table and
writes field.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import guarded, named_checkpoints, whole  # noqa: E402

from emosketch.gan.losses import bending  # noqa: E402
from emosketch.interpolate.render import Renderer, Source  # noqa: E402
from emosketch.interpolate.timeline import pose  # noqa: E402
from emosketch.models import default_generator  # noqa: E402
from emosketch.tensors import to_tensor  # noqa: E402

DATA = ROOT / "data"  # fer6-SIZE, prepared at the model's size (or the other one): the FER+ valid sketches


def fer_data(size: int) -> Path | None:
    """The prepared FER+ sketches to draw the faces from: at the model's size if prepared, else at another."""
    return next((p for p in (DATA / f"fer6-{size}", DATA / "fer6-128", DATA / "fer6-64") if p.exists()), None)


def faces_of(r: Renderer, n_fer: int, n_sharp: int) -> list[tuple[str, Source]]:
    """(source kind, face) for FER+ valid sketches and the legibility study's sharp portraits."""
    from emosketch.datasets.dataset import load
    from emosketch.tensors import resize_batch

    faces = []
    data = fer_data(r.size)
    if data is not None and n_fer:
        ds = load(data)
        rows = ds.indices("val")[:n_fer]
        for row in rows:
            sk = resize_batch(np.asarray(ds.images[row])[None], r.size)[0]
            faces.append(("fer", Source(sk, sk, f"{data.name} val #{row}")))
    elif n_fer:
        print(f"({DATA}/fer6-{r.size} absent, and fer6-128 and fer6-64: FER+ faces left out; emosketch prepare "
              f"--source ferplus:../shared/data/ferplus --size {r.size} --classes neutral,happy,sad,surprise,fear,anger "
              f"--out data/fer6-{r.size})")
    if n_sharp:
        import legibility

        for p in legibility.sharp_faces(n_sharp, 0):
            faces.append(("sharp", r.source(image=p)))
    return faces


def fields(r: Renderer, faces: list[tuple[str, Source]]) -> np.ndarray:
    """Displacement fields in pixels: [faces, emotions, 2, S, S]."""
    g = r.nets.generator
    if g.warp is None:
        raise SystemExit("not a warp generator: it has no displacement field")
    codes = r.bank.blend(np.array([pose(r.classes, e, 1.0) for e in r.classes]), r.bank.codes(0, 1.0))
    out = []
    with torch.no_grad():
        for _, face in faces:
            x = to_tensor(face.sketch[None], r.device).expand(len(codes), -1, -1, -1)
            flow = g(x, codes.to(r.device), parts=True)[1]["flow"]
            out.append((flow * (r.size / 2)).cpu().numpy())  # grid_sample units -> pixels
    return np.stack(out)


def face_share(f: np.ndarray) -> float:
    """The share of fields' energy [faces, 2, S, S] that differs between the faces."""
    energy = float((f ** 2).sum((1, 2, 3)).mean())
    spread = float(((f - f.mean(0, keepdims=True)) ** 2).sum((1, 2, 3)).mean())
    return spread / max(energy, 1e-12)


def rows_for(name: str, f: np.ndarray, classes: list[str], kinds: list[str]) -> list[dict]:
    rows = []
    for e, emotion in enumerate(classes):
        fe = np.ascontiguousarray(f[:, e])  # [faces, 2, S, S]
        mag = np.sqrt((fe ** 2).sum(1))
        row = {"generator": name, "emotion": emotion, "shift_px": round(float(mag.mean()), 3),
               "max_px": round(float(mag.max()), 2), "bend": round(float(bending(torch.from_numpy(fe))), 3),
               "face_share": round(face_share(fe), 3)}
        for kind in ("fer", "sharp"):
            pick = [i for i, k in enumerate(kinds) if k == kind]
            if len(pick) > 1:
                row[f"face_share_{kind}"] = round(face_share(fe[pick]), 3)
        rows.append(row)
    return rows


def main() -> None:
    from report import table

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--generator", action="append", default=[], metavar="NAME=CHECKPOINT",
                    help="a warp generator to measure beside the shipped one (repeatable)")
    ap.add_argument("--faces", type=whole(0), default=64, help="FER+ valid sketches")
    ap.add_argument("--sharp", type=whole(0), default=8, help="sharp portraits (the demo photo first)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    models = [("shipped", default_generator()), *named_checkpoints(args.generator, "--generator")]
    rows = []
    for i, (name, ckpt) in enumerate(models):
        r = Renderer(ckpt, "cpu", mean_samples=256)
        faces = faces_of(r, args.faces, args.sharp)
        kinds = [k for k, _ in faces]
        f = fields(r, faces)
        if i == 0:
            template = np.broadcast_to(f.mean(0, keepdims=True), f.shape)
            rows += rows_for("template (the shipped mean field, every face alike)", template, r.classes, kinds)
        rows += rows_for(name, f, r.classes, kinds)
    cols = ["generator", "emotion", "shift_px", "max_px", "bend", "face_share", "face_share_fer", "face_share_sharp"]
    n_fer, n_sharp = kinds.count("fer"), kinds.count("sharp")  # the faces measured, not the ones asked for
    print(f"Displacement fields on {n_fer} FER+ valid sketches and {n_sharp} sharp portraits, latent seed 0")
    print(table(rows, cols))
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "field.json"
    path.write_text(json.dumps({"faces": n_fer, "sharp": n_sharp, "rows": rows}, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    guarded(main)
