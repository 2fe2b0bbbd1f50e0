"""Face-crop benchmark: what the photo path's upright search finds, and what it costs, side by side.

    python benchmarks/facecrop.py --out bench-out          # prints the table, writes bench-out/facecrop.json
    python benchmarks/facecrop.py --out bench-out --fer 200

Each picture is cropped as a photo is for the shipped model (datasets.face.crop_face_at with the model's
photo settings), once with the upright search (the default for photos: FaceConfig.for_photos) and once
without it (face_crop upright false, the crop before 2026-12-06). Per set of pictures, and per way of
cropping: how the faces were found (the plain cascade, found upright in the border, found turned, or the
whole picture), how many crops differ from the crop without the search, and the time a crop takes on one
core (mean and 95th percentile, milliseconds). The sets:
- the demo photo and the blind study's sharp portraits (../shared/data/hires: one neutral photo per JAFFE
  poser, 20 katstudz and 20 mux neutral photos);
- clearly neutral FER+ validation faces (at least 7 of 10 votes; ../shared/data/ferplus), 48 px tight crops;
- the demo photo's face box plus 20% a side (a close-up), turned by -30 to 30 degrees: tilted heads;
- pictures with no face, plain gray and blurred noise (the search's worst case: every turn is tried).
Sets whose data is absent are skipped with a note.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import FERPLUS, guarded, table, whole, write_json  # noqa: E402

FERPLUS_VALID = FERPLUS / "FER2013Valid"


def kind(how: str) -> str:
    """How a face was found, in four kinds."""
    if "turned" in how:
        return "turned"
    return {"haar": "cascade", "haar, upright": "in the border", "whole": "whole picture"}.get(how, how)


def crop_all(pictures: list[np.ndarray], cfg, size: int = 128) -> tuple[list[np.ndarray], list[str], np.ndarray]:
    """Every picture cropped by cfg: (crops, hows, milliseconds each)."""
    from emosketch.datasets.face import crop_face_at

    crops, hows, ms = [], [], []
    for gray in pictures:
        start = time.perf_counter()
        face, how, _ = crop_face_at(gray, size, cfg)
        ms.append((time.perf_counter() - start) * 1000)
        crops.append(face)
        hows.append(how)
    return crops, hows, np.array(ms)


def compare(name: str, pictures: list[np.ndarray], photo_cfg) -> list[dict]:
    """The rows of one set: with and without the upright search."""
    plain_cfg = replace(photo_cfg, upright=False)
    plain, plain_hows, plain_ms = crop_all(pictures, plain_cfg)
    found, hows, ms = crop_all(pictures, photo_cfg)
    rows = []
    for label, crops_, hows_, ms_ in (("without the search", plain, plain_hows, plain_ms),
                                      ("upright search (default)", found, hows, ms)):
        kinds = Counter(kind(h) for h in hows_)
        changed = sum(np.abs(a.astype(int) - b).mean() > 8 for a, b in zip(crops_, plain))
        rows.append({"set": name, "crop": label, "pictures": len(pictures),
                     **{k: kinds.get(k, 0) for k in ("cascade", "in the border", "turned", "whole picture")},
                     "crops_changed": int(changed), "ms_mean": float(ms_.mean()),
                     "ms_p95": float(np.percentile(ms_, 95))})
    return rows


def sharp_pictures() -> list[np.ndarray]:
    """The demo photo and the blind study's pool of sharp portraits (legibility.sharp_pool)."""
    from legibility import sharp_pool

    from emosketch.datasets.decode import decode_file
    from emosketch.models import demo_photo

    return [decode_file(p) for p in [Path(demo_photo()), *sharp_pool()]]


def fer_pictures(count: int) -> list[np.ndarray]:
    """Up to `count` clearly neutral FER+ validation faces (at least 7 of 10 votes), evenly spaced in file order."""
    from legibility import FERPLUS_VOTES, _ferplus_rows

    if not (FERPLUS_VALID / "label.csv").exists():
        return []
    names = sorted(n for n, votes in _ferplus_rows(FERPLUS_VALID) if votes[FERPLUS_VOTES["neutral"]] >= 7)
    picks = names[::max(1, len(names) // count)][:count]
    return [cv2.imread(str(FERPLUS_VALID / n), cv2.IMREAD_GRAYSCALE) for n in picks]


def tilted_pictures(turns=range(-30, 31, 5), size: int = 96) -> list[np.ndarray]:
    from emosketch.datasets.decode import decode_file
    from emosketch.datasets.face import detect
    from emosketch.models import demo_photo

    gray = decode_file(demo_photo())
    x, y, w, h = detect(gray)
    d = w // 5
    close = cv2.resize(gray[y - d:y + h + d, x - d:x + w + d], (size, size), interpolation=cv2.INTER_AREA)
    centre = (size / 2, size / 2)
    return [cv2.warpAffine(close, cv2.getRotationMatrix2D(centre, t, 1.0), (size, size),
                           borderMode=cv2.BORDER_REPLICATE) for t in turns]


def faceless_pictures(count: int = 20) -> list[np.ndarray]:
    """Half plain gray, half blurred noise (texture everywhere, the cascade's slowest), 256 px, no face."""
    rng = np.random.default_rng(0)
    plain = [np.full((256, 256), int(v), np.uint8) for v in rng.integers(40, 220, count // 2)]
    noise = [cv2.GaussianBlur(rng.integers(0, 256, (256, 256)).astype(np.uint8), (0, 0), 2.0)
             for _ in range(count - count // 2)]
    return plain + noise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.split("\n")[2:4]))
    ap.add_argument("--out", default="bench-out", help="folder for facecrop.json")
    ap.add_argument("--fer", type=whole(1), default=905, help="FER+ faces (905: every clearly neutral validation face)")
    args = ap.parse_args()
    cv2.setNumThreads(1)

    import torch

    from emosketch.datasets.photo import photo_configs
    from emosketch.models import default_generator

    settings = torch.load(default_generator(), map_location="cpu", weights_only=True).get("dataset", {})
    photo_cfg, _ = photo_configs(settings)
    rows = []
    sets = [("the demo photo and sharp portraits", sharp_pictures()), ("neutral FER+ valid faces", fer_pictures(args.fer)),
            ("the demo close-up turned -30..30 deg", tilted_pictures()), ("pictures with no face", faceless_pictures())]
    for name, pictures in sets:
        if not pictures:
            print(f"skipped: {name} (data absent)")
            continue
        rows += compare(name, pictures, photo_cfg)
    print("The photo path's face crop, with and without the upright search; one core; a crop 'changed' differs "
          "from the crop without the search by more than 8 gray levels on average")
    print(table(rows, ["set", "crop", "pictures", "cascade", "in the border", "turned", "whole picture",
                       "crops_changed", "ms_mean", "ms_p95"]))
    write_json(args.out, "facecrop.json", {"rows": rows, "photo_settings": photo_cfg.to_dict()})


if __name__ == "__main__":
    guarded(main)
