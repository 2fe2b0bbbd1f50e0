"""Blind legibility benchmark: does a person read the face on the panel, and its emotion?

    python benchmarks/legibility.py make --out bench-out/legibility            # sheets, key, brief
    python benchmarks/legibility.py make --out bench-out/legibility --sharp 5 --fer 5 --real 4
    python benchmarks/legibility.py make --out bench-out/l2 --model ft=runs/ft/checkpoint.pt \\
        --conditions gray,gray@ft,default,default@ft,real-sketch,real-photo     # another generator beside
    python benchmarks/legibility.py score --key bench-out/legibility/key.json \\
        bench-out/legibility/answers/*.json --out bench-out                      # the table and JSON
    python benchmarks/legibility.py score --study benchmarks/legibility-studies/round2 \\
        --study benchmarks/legibility-studies/round3 --same head-paper-clean=default   # studies pooled
    python benchmarks/legibility.py score --study .../round17 --study .../round20 \\
        --same round17:default=before --same round17:default@jb=default         # renamed in one study only

`make` redraws real faces with the shipped generator in six emotions and shows each result in every
rendering under test (the panel drawings of emosketch.export.panel, at the panel's real pixels), beside
the generator's own gray sketch and two real baselines (the sketches of labelled FER+ faces, and
those faces' photos Floyd-Steinberg dithered on the panel). The faces are sharp portraits (the demo
photo and neutral faces of ../shared/data/hires) and neutral FER+ faces (../shared/data/ferplus),
never copied into the project. Every tile gets a number; the tiles of all conditions are shuffled
together onto numbered sheets (every sheet mixes conditions) in `OUT/sheets/`, with the rater brief
below. The key (tile -> condition, face, emotion) is written beside that folder, never into it.

Give a rater only the `sheets/` folder. A rater answers in one JSON file per rater:

    {"1": {"face": 2, "emotion": "happy"}, "2": {"face": 0, "emotion": "?"}, ...}

`score` reads the key and the answer files and prints, per condition (and per face source and per
emotion): face seen at once (face 2), face seen at all (face 1 or 2), emotion read as intended,
"can't tell", the raters' count, and the agreement between raters (the share of rater pairs giving
the same emotion to a tile, and Fleiss' kappa). Chance for the emotion is 1/6. With --frontal the
neutral FER+ faces are split by whether the photo path's face detector finds a frontal face in them
(a face turned away or covered by a hand mostly has none). With --readable gray every drawn face is
split by whether its own gray sketch was seen at once in at least half its ratings: what each
rendering keeps on the faces whose drawing reads at all, and what it shows of the rest; --per-face
prints each drawn face's share seen at once in every condition. With
--twins default=default-twin (a study made with both) the very same tiles, shown twice in different
places, tell how far a tile's reading depends on where it is shown, against the raters' own spread.

RATER BRIEF (this, and the sheets, is all a rater sees)
--------------------------------------------------------
Each sheet shows numbered tiles. Each tile is a small picture as a tiny screen would show it,
enlarged so that every screen pixel is a square of several pixels. Rate every tile on every sheet,
on first impression (look for a few seconds; do not study it or compare it with other tiles):

- face: 2 if you see a face at once; 1 if you see a face only with effort; 0 if you see no face.
- emotion: the one emotion the face shows, one of: neutral, happy, sad, surprise, fear, anger.
  Answer "?" if you cannot tell (or see no face).

Write one JSON object mapping each tile number to your answer, e.g.
{"1": {"face": 2, "emotion": "happy"}, "2": {"face": 1, "emotion": "?"}}, with an answer for
every tile number on the sheets.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import FERPLUS, HIRES, guarded, table, write_json  # noqa: E402

EMOTIONS = ("neutral", "happy", "sad", "surprise", "fear", "anger")
FERPLUS_VALID = FERPLUS / "FER2013Valid"
SCALE = 3  # screen pixels are shown as SCALE x SCALE squares
PANEL_W, PANEL_H = 128, 64
# FER+ vote columns after the box: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
FERPLUS_VOTES = {"neutral": 0, "happy": 1, "surprise": 2, "sad": 3, "anger": 4, "fear": 6}
BRIEF = __doc__.split("RATER BRIEF (this, and the sheets, is all a rater sees)\n" + "-" * 56 + "\n")[1]


# ---- tiles and sheets ----------------------------------------------------------------------------

def tile_image(picture: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """A tile as a rater sees it: panel pixels (bool, True = lit) as light on a dark screen, or a gray
    sketch (uint8) on paper, centred on a panel-sized canvas; every pixel a scale x scale square.
    A gray sketch taller than the panel (a 128 px generator's) is shown at the size a 64 px one is:
    resampled (area) to the panel's height, times scale, so that its finer pixels show."""
    if picture.dtype == bool:
        img = np.where(picture, 255, 0).astype(np.uint8)
        return np.repeat(np.repeat(img, scale, 0), scale, 1)
    h, w = picture.shape
    if h > PANEL_H:
        side = PANEL_H * scale
        fine = cv2.resize(picture, (round(w * side / h), side), interpolation=cv2.INTER_AREA)
        if fine.shape[1] > PANEL_W * scale:
            raise ValueError(f"a gray tile of {w}x{h} does not fit the {PANEL_W}x{PANEL_H} panel")
        out = np.full((PANEL_H * scale, PANEL_W * scale), 255, np.uint8)
        x0 = (out.shape[1] - fine.shape[1]) // 2
        out[:, x0:x0 + fine.shape[1]] = fine
        return out
    if w > PANEL_W:
        raise ValueError(f"a gray tile of {w}x{h} does not fit the {PANEL_W}x{PANEL_H} panel")
    img = np.full((PANEL_H, PANEL_W), 255, np.uint8)
    y0, x0 = (PANEL_H - h) // 2, (PANEL_W - w) // 2
    img[y0:y0 + h, x0:x0 + w] = picture
    return np.repeat(np.repeat(img, scale, 0), scale, 1)


def _mixed_order(conditions: list[str], per_sheet: int, seed: int) -> list[int]:
    """A shuffled order of the tiles in which every sheet holds more than one condition (where there is
    more than one)."""
    rng = np.random.default_rng(seed)
    want = min(2, len(set(conditions)))
    for _ in range(1000):
        order = [int(i) for i in rng.permutation(len(conditions))]
        sheets = [order[s:s + per_sheet] for s in range(0, len(order), per_sheet)]
        if all(len({conditions[i] for i in sheet}) >= min(want, len(sheet)) for sheet in sheets):
            return order
    raise RuntimeError("could not mix the conditions on every sheet")


def write_study(tiles: list[tuple[np.ndarray, dict]], out: Path, per_sheet: int = 10, columns: int = 2,
                scale: int = SCALE, seed: int = 0, brief: str = BRIEF) -> dict:
    """Shuffle tiles (picture, key entry with at least 'condition' and 'emotion') onto numbered sheets
    in out/sheets/ with the rater brief, and write the key to out/key.json (outside sheets/).
    Returns the key: {tile number: entry}."""
    out = Path(out)
    answers = out / "answers"
    if answers.is_dir() and any(answers.iterdir()):  # a rated study: a new key would re-score its answers wrongly
        raise SystemExit(f"{out} holds a rated study ({answers} has answers): its key.json must not change; make "
                         "the new study in another folder")
    sheets_dir = out / "sheets"
    sheets_dir.mkdir(parents=True, exist_ok=True)
    for old in sheets_dir.glob("sheet-*.png"):
        old.unlink()
    order = _mixed_order([t[1]["condition"] for t in tiles], per_sheet, seed)
    key: dict[str, dict] = {}
    label_h, gap = 26, 14
    tw, th = PANEL_W * scale, PANEL_H * scale
    for sheet_no, start in enumerate(range(0, len(order), per_sheet), 1):
        picks = order[start:start + per_sheet]
        rows = -(-len(picks) // columns)
        sheet = np.full((gap + rows * (label_h + th + gap), gap + columns * (tw + gap)), 160, np.uint8)
        for k, i in enumerate(picks):
            number = start + k + 1
            picture, entry = tiles[i]
            key[str(number)] = {**entry, "sheet": sheet_no}
            r, c = divmod(k, columns)
            x, y = gap + c * (tw + gap), gap + r * (label_h + th + gap)
            cv2.putText(sheet, str(number), (x, y + label_h - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.75, 0, 2, cv2.LINE_AA)
            sheet[y + label_h:y + label_h + th, x:x + tw] = tile_image(picture, scale)
        cv2.imwrite(str(sheets_dir / f"sheet-{sheet_no:02d}.png"), sheet)
    (sheets_dir / "BRIEF.md").write_text(
        f"# Rater brief\n\nThere are {len(order)} tiles, numbered 1 to {len(order)}, on "
        f"{-(-len(order) // per_sheet)} sheets.\n\n{brief}")
    (out / "key.json").write_text(json.dumps(key, indent=1))
    return key


# ---- scoring --------------------------------------------------------------------------------------

def _read_answers(answers: dict, where: str) -> dict[str, tuple[int, str]]:
    out = {}
    for tile, a in answers.items():
        if not isinstance(a, dict) or a.get("face") not in (0, 1, 2):
            raise ValueError(f"{where}: tile {tile}: expected {{'face': 0|1|2, 'emotion': ...}}, got {a!r}")
        e = str(a.get("emotion", "?")).strip().lower()
        out[str(tile)] = (int(a["face"]), e if e in EMOTIONS else "?")
    return out


def fleiss_kappa(ratings: list[list[str]], categories: list[str]) -> float | None:
    """Fleiss' kappa of tiles each rated by the same number (>= 2) of raters."""
    rows = [r for r in ratings if len(r) >= 2]
    if not rows or len({len(r) for r in rows}) != 1:
        return None
    n = len(rows[0])
    counts = np.array([[r.count(c) for c in categories] for r in rows], np.float64)
    p_i = ((counts * (counts - 1)).sum(1)) / (n * (n - 1))
    p_j = counts.sum(0) / counts.sum()
    pe = float((p_j ** 2).sum())
    return None if pe >= 1 else float((p_i.mean() - pe) / (1 - pe))


def _summary(key: dict, raters: dict[str, dict], tiles: list[str]) -> dict:
    """Rates over the tiles' ratings (every rater's answer to each tile counts once)."""
    votes = [(t, raters[r][t]) for t in tiles for r in raters if t in raters[r]]
    n = len(votes)
    if n == 0:
        return {"tiles": len(tiles), "ratings": 0}
    pairs = [(a[1], b[1]) for t in tiles
             for a, b in itertools.combinations([raters[r][t] for r in raters if t in raters[r]], 2)]
    kappa = fleiss_kappa([[raters[r][t][1] for r in raters if t in raters[r]] for t in tiles], list(EMOTIONS) + ["?"])
    return {
        "tiles": len(tiles), "ratings": n,
        "face_at_once": sum(f == 2 for _, (f, _) in votes) / n,
        "face_at_all": sum(f >= 1 for _, (f, _) in votes) / n,
        "emotion": sum(e == key[t]["emotion"] for t, (_, e) in votes) / n,
        "cant_tell": sum(e == "?" for _, (_, e) in votes) / n,
        "agreement": (sum(a == b for a, b in pairs) / len(pairs)) if pairs else None,
        "kappa": kappa,
    }


def score(key: dict, answers: dict[str, dict]) -> dict:
    """key: tile -> entry; answers: rater name -> that rater's answer file (tile -> face, emotion).
    Returns per condition: the summary, per emotion, per face source."""
    raters = {name: _read_answers(a, name) for name, a in answers.items()}
    for name, a in raters.items():
        unknown = sorted(set(a) - set(key), key=lambda s: (len(s), s))
        if unknown:
            raise ValueError(f"{name}: tiles not in the key: {', '.join(unknown[:5])}")
    by_condition: dict[str, list[str]] = {}
    for t, entry in key.items():
        by_condition.setdefault(entry["condition"], []).append(t)
    result = {"raters": sorted(raters), "coverage": {r: len(a) / len(key) for r, a in raters.items()},
              "conditions": {}}
    for cond, tiles in by_condition.items():
        row = _summary(key, raters, tiles)
        row["per_emotion"] = {e: _summary(key, raters, [t for t in tiles if key[t]["emotion"] == e])
                              for e in EMOTIONS if any(key[t]["emotion"] == e for t in tiles)}
        sources = sorted({key[t].get("source", "") for t in tiles})
        row["per_source"] = {s: _summary(key, raters, [t for t in tiles if key[t].get("source", "") == s])
                             for s in sources}
        result["conditions"][cond] = row
    result["all"] = _summary(key, raters, list(key))
    return result


def frontal(path: Path) -> bool:
    """Whether the face detector the photo path uses (datasets.face.detect, Haar, frontal) finds a face
    in a FER+ face enlarged 4x (cubic): a face turned away or covered mostly has none."""
    from emosketch.datasets.face import detect

    if not path.is_file():  # before OpenCV, which would warn first
        raise SystemExit(f"{path}: not here; --frontal reads the study's FER+ faces (../shared/data/ferplus beside "
                         "the project) to find which have a frontal face: score without --frontal where they are absent")
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise SystemExit(f"{path}: cannot be read (the frontal split needs the study's FER+ faces)")
    h, w = gray.shape
    return detect(cv2.resize(gray, (4 * w, 4 * h), interpolation=cv2.INTER_CUBIC)) is not None


def split_frontal(key: dict, folder: Path = FERPLUS_VALID) -> dict:
    """The key with each neutral FER+ face's source ("fer") split by whether a frontal face is found in it."""
    found: dict[str, bool] = {}
    out = {}
    for t, entry in key.items():
        if entry.get("source") == "fer":
            name = entry["face"]
            if name not in found:
                found[name] = frontal(folder / name)
            entry = {**entry, "source": "fer, frontal face found" if found[name] else "fer, no frontal face found"}
        out[t] = entry
    return out


def split_collections(key: dict, pool_paths: list[Path] | None = None) -> dict:
    """The key with each sharp portrait's source ("sharp") split by the collection it comes from: the demo photo,
    or the folder of ../shared/data/hires it is in (jaffe: studio portraits, frontal and evenly lit; katstudz; mux:
    news and web photos). A face in none of them stays "sharp"."""
    from emosketch.models import demo_photo

    where = {Path(p).name: Path(p).parent.parent.name for p in (sharp_pool() if pool_paths is None else pool_paths)}
    where[demo_photo().name] = "the demo photo"
    out = {}
    for t, entry in key.items():
        if entry.get("source") == "sharp" and entry["face"] in where:
            entry = {**entry, "source": f"sharp, {where[entry['face']]}"}
        out[t] = entry
    return out


def _face_of(tile: str, entry: dict) -> tuple[str, str, str]:
    """A key entry's drawn face: (study, source, file); its study is the tile's prefix in a pooled key."""
    return tile.rpartition(":")[0], entry.get("source", ""), entry["face"]


def _seen_at_once(key: dict, answers: dict[str, dict]) -> dict[tuple, dict[str, list[bool]]]:
    """Per drawn face (_face_of), per condition: every rating of its tiles, True where it saw a face at once."""
    raters = [_read_answers(a, name) for name, a in answers.items()]
    faces: dict[tuple, dict[str, list[bool]]] = {}
    for t, entry in key.items():
        faces.setdefault(_face_of(t, entry), {}).setdefault(entry["condition"], []).extend(
            r[t][0] == 2 for r in raters if t in r)
    return faces


def split_readable(key: dict, answers: dict[str, dict], cond: str) -> dict:
    """The key with each drawn face's source split by whether its tiles of condition `cond` (in the same
    study) were seen as a face at once in at least half their ratings: what the other conditions read on
    faces whose own `cond` drawing reads, and on the rest. Faces without `cond` tiles keep their source."""
    seen = {who: conds[cond] for who, conds in _seen_at_once(key, answers).items() if conds.get(cond)}
    if not seen:
        raise SystemExit(f"--readable {cond}: no tile of that condition in the key")
    out = {}
    for t, entry in key.items():
        votes = seen.get(_face_of(t, entry))
        if votes:
            reads = "read" if sum(votes) >= len(votes) / 2 else "not read"
            entry = {**entry, "source": f"{entry.get('source', '')}, {cond} {reads} at once"}
        out[t] = entry
    return out


def twin_agreement(key: dict, answers: dict[str, dict], cond: str, twin: str) -> dict:
    """How far one tile's reading depends on where it is shown: `twin` draws the very tiles of `cond`, shown
    elsewhere on the sheets. Each pair (same study, face and emotion) is read by each half of the raters
    (their first half by name against the second): the mean absolute difference in the share who saw a face at
    once, between the two halves on one tile (the raters' own spread) and between one half on the tile and the
    other half on its twin (the spread and where it was shown). Equal figures: the place does not matter."""
    raters = {name: _read_answers(a, name) for name, a in answers.items()}
    pairs: dict[tuple, dict[str, str]] = {}
    for t, entry in key.items():
        if entry["condition"] in (cond, twin):
            pairs.setdefault((*_face_of(t, entry), entry["emotion"]), {})[entry["condition"]] = t
    same, cross, twins = [], [], []
    for p in pairs.values():
        if len(p) != 2:
            continue
        a, b = p[cond], p[twin]
        study = a.rpartition(":")[0]
        names = sorted(n for n in raters if n.rpartition(":")[0] == study and a in raters[n] and b in raters[n])
        if len(names) < 2:
            continue
        first, second = names[:len(names) // 2], names[len(names) // 2:]

        def seen(tile: str, group: list[str]) -> float:
            return sum(raters[n][tile][0] == 2 for n in group) / len(group)

        same += [abs(seen(a, first) - seen(a, second)), abs(seen(b, first) - seen(b, second))]
        cross += [abs(seen(a, first) - seen(b, second)), abs(seen(b, first) - seen(a, second))]
        twins.append((seen(a, names), seen(b, names)))
    if not twins:
        raise SystemExit(f"--twins {cond}={twin}: no tile of {cond} has a twin in {twin}")
    return {"pairs": len(twins), "at_once": float(np.mean([x for x, _ in twins])),
            "at_once_twin": float(np.mean([y for _, y in twins])),
            "halves_same_tile": float(np.mean(same)), "halves_tile_and_twin": float(np.mean(cross)),
            "all_raters_tile_and_twin": float(np.mean([abs(x - y) for x, y in twins]))}


def per_face(key: dict, answers: dict[str, dict]) -> list[dict]:
    """Each drawn face (study, source, file) with the share of its ratings that saw a face at once, per
    condition: where a face is lost, and whether every drawing of it loses it alike."""
    return [{"study": study, "source": source, "face": face,
             **{c: sum(v) / len(v) for c, v in sorted(conds.items()) if v}}
            for (study, source, face), conds in sorted(_seen_at_once(key, answers).items())]


def pool(studies: list[tuple[Path, Path, list[Path]]], same: dict[str, str]) -> tuple[dict, dict, dict]:
    """Studies (folder, key file, answer files) as one: tiles and raters named by study where there is
    more than one, conditions renamed by `same`: {OLD: NEW} in every study, {"FOLDER:OLD": NEW} in the
    study of that folder name only (which wins). Returns (key, answers by rater, descriptions)."""
    key, answers, descriptions = {}, {}, {}
    for folder, key_file, files in studies:
        tag = f"{folder.name}:" if len(studies) > 1 else ""

        def renamed(c: str, folder=folder) -> str:
            return same.get(f"{folder.name}:{c}", same.get(c, c))

        for t, entry in json.loads(key_file.read_text()).items():
            key[tag + t] = {**entry, "condition": renamed(entry["condition"])}
        cond_file = key_file.with_name("conditions.json")
        if cond_file.exists():
            for c, what in json.loads(cond_file.read_text()).items():
                descriptions.setdefault(renamed(c), what)
        for f in files:
            name = tag + f.stem
            if name in answers:  # raters' files of one name in different folders (r1/answers.json, r2/...)
                name = tag + f"{f.parent.name}/{f.stem}"
            if name in answers:
                raise ValueError(f"{f}: a second answer file named {name!r}; give each rater's file its own name")
            answers[name] = {tag + t: a for t, a in json.loads(f.read_text()).items()}
    return key, answers, descriptions


def report(result: dict, descriptions: dict | None = None) -> str:
    descriptions = descriptions or {}
    rows, emo_rows = [], []
    for cond, row in result["conditions"].items():
        name = descriptions.get(cond, cond)
        rows.append({"condition": name, "tiles": row["tiles"], "ratings": row["ratings"],
                     **{k: row.get(k) for k in ("face_at_once", "face_at_all", "emotion", "cant_tell", "agreement")}})
        for src, s in row["per_source"].items():
            if len(row["per_source"]) > 1:
                rows.append({"condition": f"  {src} faces", "tiles": s["tiles"], "ratings": s["ratings"],
                             **{k: s.get(k) for k in ("face_at_once", "face_at_all", "emotion", "cant_tell",
                                                       "agreement")}})
        emo_rows.append({"condition": name, **{e: row["per_emotion"][e]["emotion"]
                                               for e in EMOTIONS if e in row["per_emotion"]}})
    a = result["all"]
    lines = [f"raters: {len(result['raters'])} ({', '.join(result['raters'])}); every tile's answer from each "
             f"rater counts once; chance for the emotion is 1/6",
             table(rows, ["condition", "tiles", "ratings", "face_at_once", "face_at_all", "emotion", "cant_tell",
                          "agreement"]),
             "", "emotion read as intended, per intended emotion:",
             table(emo_rows, ["condition", *EMOTIONS]),
             "", "agreement over all tiles: " + (
                 "one rater, none to compare" if a.get("agreement") is None else
                 f"{a['agreement']:.3f} of rater pairs give the same emotion; Fleiss' kappa "
                 f"{a['kappa'] if a.get('kappa') is None else round(a['kappa'], 3)}")]
    return "\n".join(lines)


# ---- the study's tiles ----------------------------------------------------------------------------

def _ferplus_rows(folder: Path) -> list[tuple[str, np.ndarray]]:
    import csv

    rows = []
    with open(folder / "label.csv", newline="") as f:
        for rec in csv.reader(f):
            rows.append((rec[0], np.array([int(v) for v in rec[2:12]])))
    return rows


def ferplus_faces(emotion: str, count: int, skip: set[str], seed: int, among: set[str] | None = None) -> list[Path]:
    """`count` FER+ valid faces that at least 7 of 10 annotators gave `emotion` (clear examples),
    picked at random by seed (only file names in `among`, when given); none asked for reads nothing
    (FER+ may be absent)."""
    if count <= 0:
        return []
    col = FERPLUS_VOTES[emotion]
    names = sorted(n for n, v in _ferplus_rows(FERPLUS_VALID)
                   if v[col] >= 7 and n not in skip and (among is None or n in among))
    rng = np.random.default_rng(seed)
    return [FERPLUS_VALID / n for n in rng.choice(names, min(count, len(names)), replace=False)]


def sharp_pool() -> list[Path]:
    """The neutral sharp portraits the study draws from (../shared/data/hires): one per JAFFE poser, the
    first 20 of katstudz and of mux; none where the data is absent."""
    posers = {}
    for p in sorted((HIRES / "jaffe" / "neutral").glob("*")):
        posers.setdefault(p.name.split(".")[0], p)
    return [*posers.values(), *sorted((HIRES / "katstudz" / "neutral").glob("*"))[:20],
            *sorted((HIRES / "mux" / "neutral").glob("*"))[:20]]


def sharp_faces(count: int, seed: int, among: set[str] | None = None) -> list[Path]:
    """The demo photo and `count` - 1 portraits of sharp_pool, picked by seed; with `among`, `count` portraits
    of those whose file names it lists (the demo photo only if it is listed)."""
    from emosketch.models import demo_photo

    if among is not None:
        pool = [p for p in [demo_photo(), *sharp_pool()] if Path(p).name in among]
        rng = np.random.default_rng(seed)
        return [Path(p) for p in rng.choice(pool, min(count, len(pool)), replace=False)] if count > 0 and pool else []
    pool = sharp_pool()
    rng = np.random.default_rng(seed)
    picks = [Path(p) for p in rng.choice(pool, min(count - 1, len(pool)), replace=False)] if count > 1 else []
    return [demo_photo(), *picks][:count]


@dataclass(frozen=True)
class Condition:
    what: str  # what a reader of the report is told it is (raters never see it)
    panel: object = None  # the panel drawing (export.panel.Panel); None: the gray sketch itself
    zoom: float = 1.0
    intensity: float = 1.0  # of the expression (> 1 exaggerates)
    smooth: float = 0.0  # Gaussian blur (sigma, pixels) of the gray frame before the panel draws it
    close: int = 0  # morphological closing of the drawn strokes by a close x close square (joins broken strokes)
    draw_size: int | None = None  # the shipped generator made to draw at this side (gan.checkpoint.lift);
    # None: at its own size
    paint: bool = True  # False: the generator's paint mask held shut, so its edit is the warp alone
    sketch: tuple = ()  # real-sketch conditions: (key, value) pairs over the model's sketch settings
    # (a bolder or cleaner line style); with a panel, the real sketch is shown through it
    margin: float | None = None  # the margin around a photo's face box (a fraction of the box on each
    # side) for the face the generator redraws; None: the checkpoint's own
    anchor: bool = False  # every emotion's field taken relative to the neutral style's field on the same
    # face (gan.networks.WarpHead flow_offset): neutral draws the face's own sketch, the others move from it
    mix: tuple = ()  # (emotion, ((name, weight), ...)) pairs: that emotion drawn as this blend of the styles
    # (interpolate.paths blend: the anchor plus each weight times the style's step from it)
    only: tuple = ()  # draw only these emotions (a variant of one emotion's look); () draws all six
    face: tuple = ()  # (key, value) pairs over the model's face-crop settings for photos (e.g. upright)
    gray_side: int | None = None  # the gray sketch shrunk (area) to this side first: the gray a panel of that
    # many rows could show, at the panel's own pixels
    widen: float = 1.0  # the drawing stretched this much wider before the panel lays it out (the issue allows
    # up to about 1.15x): a wider face, its features on more of the panel's columns
    vignette: float = 0.0  # the drawing's corners made paper before the panel lays it out: ink outside an ellipse
    # this many times the one inscribed in the square drawing goes (0 = off)


PLAIN_CROP = (("upright", False),)  # photos cropped without the upright search: plain-crop, and the real
# baselines, which are framed as in every round
FEAR_HAPPY4 = (("fear", (("fear", 1.0), ("happy", 0.4))),)
NEUTRAL_HAPPY2 = (("neutral", (("neutral", 1.0), ("happy", 0.2))),)  # raters read plain neutral as sad 0.3 of the time
FEAR_SURPRISE4 = (("fear", (("fear", 1.0), ("surprise", 0.4))),)  # and fear as sad 0.3: wider eyes, an open mouth


def vignetted(frame: np.ndarray, size: float) -> np.ndarray:
    """A square drawing with paper outside an ellipse `size` times the inscribed one (its corners: a portrait's
    collar, a flag, the hair at the crop's edges), the edge feathered over 4% of the side."""
    h, w = frame.shape
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot((xx + 0.5 - w / 2) / (w / 2), (yy + 0.5 - h / 2) / (h / 2)) / size
    keep = np.clip((1.04 - r) / 0.08, 0, 1)
    return (255 - (255 - frame.astype(np.float32)) * keep).astype(np.uint8)


def conditions() -> dict[str, Condition]:
    """Every condition the study can show, by a stable id."""
    from emosketch.export.panel import FACE_BAND, PANEL, Panel

    base = replace(PANEL.dither, min_stroke=0)
    ink, paper = replace(base, polarity="ink"), replace(base, polarity="paper")
    head = PANEL.layout
    clean = Panel(head, replace(paper, min_stroke=4))
    return {
        "gray": Condition("the generator's gray sketch (64 px; a 128 px model's shown at the same size)"),
        "face-band": Condition("panel: the brows-chin band stretched, thinned, 2 px pen (the default before)",
                               FACE_BAND),
        "head-ink": Condition("panel: the whole face 1:1, line art, strokes lit", Panel(head, ink)),
        "head-ink-zoom": Condition("panel: the whole face 1:1 zoomed 1.25x, strokes lit", Panel(head, ink), 1.25),
        "head-ink-x1.4": Condition("panel: the whole face 1:1, strokes lit, intensity 1.4", Panel(head, ink),
                                   intensity=1.4),
        "head-paper": Condition("panel: the whole face 1:1, line art, paper lit (dark strokes)", Panel(head, paper)),
        "head-paper-clean": Condition("panel: as head-paper, specks under 4 px dropped", clean),
        "head-paper-clean8": Condition("panel: as head-paper, specks under 8 px dropped",
                                       Panel(head, replace(paper, min_stroke=8))),
        "head-paper-smooth": Condition("panel: as head-paper-clean, the gray blurred (sigma 0.7 px) first", clean,
                                       smooth=0.7),
        "head-paper-clean-x1.3": Condition("panel: as head-paper-clean, intensity 1.3", clean, intensity=1.3),
        "head-paper-clean-zoom": Condition("panel: as head-paper-clean, zoomed 1.15x", clean, 1.15),
        "default": Condition("panel: export.panel.PANEL, the default as it is now", PANEL),
        "default-x1.3": Condition("panel: the default, intensity 1.3", PANEL, intensity=1.3),
        "default-x0.8": Condition("panel: the default, intensity 0.8 (smaller edits)", PANEL, intensity=0.8),
        "default-warp-only": Condition("panel: the default, the generator's paint shut (its edit is the warp "
                                       "alone: strokes move, none appear or go)", PANEL, paint=False),
        "default-fill": Condition("panel: the default with blue-noise tonal fills", Panel(head, replace(
            PANEL.dither, fill="bluenoise"))),
        "default-96": Condition("panel: the default before round 23, line art's stroke level 96 (thinner strokes)",
                                Panel(head, replace(PANEL.dither, stroke_level=96))),
        "default-bold": Condition("panel: the default, bolder strokes (line art's stroke level 200, not 96: "
                                  "every pixel darker than 200 of 255 is ink)", Panel(head, replace(
                                      PANEL.dither, stroke_level=200))),
        "default-bold240": Condition("panel: the default, bolder still (line art's stroke level 240: every pixel "
                                     "darker than 240 of 255 after the shrink is ink)", Panel(head, replace(
                                         PANEL.dither, stroke_level=240))),
        "default-close": Condition("panel: the default, strokes closed by a 2x2 square", PANEL, close=2),
        "default-fill-x1.3": Condition("panel: the default with blue-noise tonal fills, intensity 1.3", Panel(
            head, replace(PANEL.dither, fill="bluenoise")), intensity=1.3),
        "lift128-fit": Condition("panel: the generator drawing at 128 px (lift), the whole face in the panel's "
                                 "height (shrunk 2x), as the default", PANEL, draw_size=128),
        "lift128-band": Condition("panel: the generator drawing at 128 px (lift), the face band at 1:1 "
                                  "(face framing, no stretch), as the default's dither",
                                  Panel(replace(head, mode="face", max_stretch=1.0), PANEL.dither), draw_size=128),
        "oval": Condition("panel: the default, the drawing clipped to a head oval and the oval drawn (a closed "
                          "outline; export.layout.head_oval)", Panel(replace(head, oval="outline"), PANEL.dither)),
        "ink-shrink": Condition("panel: the default, a drawing larger than the panel shrunk with its ink kept "
                                "(export.layout shrink 'ink': strokes widened by the shrink factor first)",
                                Panel(replace(head, shrink="ink"), PANEL.dither)),
        "skeleton": Condition("panel: the default, the 128 px drawing shrunk with each stroke carried over as a "
                              "continuous one-pixel line (export.layout shrink 'skeleton'; dark areas stay filled)",
                              Panel(replace(head, shrink="skeleton"), PANEL.dither)),
        "clean24": Condition("panel: the default, the drawing's ink specks of under 24 px at its own resolution "
                             "dropped before it is shrunk", Panel(replace(head, source_speck=24), PANEL.dither)),
        "clean48": Condition("panel: the default, the drawing's ink specks of under 48 px at its own resolution "
                             "dropped before it is shrunk (export.layout source_speck: hair texture, stubble)",
                             Panel(replace(head, source_speck=48), PANEL.dither)),
        "ink-clean48": Condition("panel: as clean48, and shrunk with its ink kept (strokes widened by the shrink "
                                 "factor first: bolder)", Panel(replace(head, source_speck=48, shrink="ink"),
                                                                PANEL.dither)),
        "oval-clip": Condition("panel: the default, the drawing clipped to the head oval (no outline drawn)",
                               Panel(replace(head, oval="clip"), PANEL.dither)),
        "real-sketch-oval": Condition("real sketches through the default panel with the head oval (clipped, "
                                      "outline drawn)", Panel(replace(head, oval="outline"), PANEL.dither)),
        "default-m20": Condition("panel: the default, photos framed by the face box + 20% a side (the framing "
                                 "before 2026-12-04's round 14)", PANEL, margin=0.2),
        "default-m10": Condition("panel: the default, photos framed closer (face box + 10% a side, as a FER+ "
                                 "crop frames its face)", PANEL, margin=0.1),
        "default-m0": Condition("panel: the default, photos framed to the face box alone (no margin)", PANEL,
                                margin=0.0),
        "anchored": Condition("panel: the default, each emotion's warp taken relative to the neutral style's "
                              "warp on the same face (neutral is the face's own sketch)", PANEL, anchor=True),
        "gray-anchored": Condition("the generator's gray 64 px sketch, each emotion's warp relative to neutral's",
                                   anchor=True),
        "gray-m10": Condition("the generator's gray 64 px sketch, photos framed with 10% a side", margin=0.1),
        "fear-x1.4": Condition("panel: the default, fear drawn at 1.4 times its strength (the other emotions as they "
                               "are); fear tiles only", PANEL, mix=(("fear", (("fear", 1.4),)),), only=("fear",)),
        "fear-x1.8": Condition("panel: the default, fear drawn at 1.8 times its strength; fear tiles only", PANEL,
                               mix=(("fear", (("fear", 1.8),)),), only=("fear",)),
        "default-twin": Condition("panel: the default again, the very tiles of `default` shown a second time elsewhere "
                                  "on the sheets (how far raters agree with themselves on one tile)", PANEL),
        "input-gray": Condition("the generator's input in gray, the neutral face's own sketch, unedited (one tile a "
                                "face; a 128 px sketch shown at the size of a 64 px one)"),
        "input-panel": Condition("panel: the default drawing of the generator's input, the neutral face's own "
                                 "sketch, unedited (one tile a face)", PANEL),
        "fear-happy4": Condition("panel: the default, fear drawn as fear + 0.4 happy (its turned-down mouth "
                                 "stretched wide open); fear tiles only", PANEL, mix=FEAR_HAPPY4, only=("fear",)),
        "fear-happy6": Condition("panel: the default, fear drawn as fear + 0.6 happy; fear tiles only", PANEL,
                                 mix=(("fear", (("fear", 1.0), ("happy", 0.6))),), only=("fear",)),
        "fear-x1.2-happy6": Condition("panel: the default, fear drawn as 1.2 fear + 0.6 happy; fear tiles only",
                                      PANEL, mix=(("fear", (("fear", 1.2), ("happy", 0.6))),), only=("fear",)),
        "gray-fear-happy4": Condition("the generator's gray sketch, fear drawn as fear + 0.4 happy; fear tiles "
                                      "only", mix=FEAR_HAPPY4, only=("fear",)),
        "gray-neutral-happy2": Condition("the generator's gray sketch, neutral drawn as neutral + 0.2 happy; neutral "
                                         "tiles only", mix=NEUTRAL_HAPPY2, only=("neutral",)),
        "gray-fear-surprise4": Condition("the generator's gray sketch, fear drawn as fear + 0.4 surprise; fear tiles "
                                         "only", mix=FEAR_SURPRISE4, only=("fear",)),
        "neutral-happy2": Condition("panel: the default, neutral drawn as neutral + 0.2 happy; neutral tiles only",
                                    PANEL, mix=NEUTRAL_HAPPY2, only=("neutral",)),
        "fear-surprise4": Condition("panel: the default, fear drawn as fear + 0.4 surprise; fear tiles only", PANEL,
                                    mix=FEAR_SURPRISE4, only=("fear",)),
        "gray-sigma18": Condition("the generator's gray sketch of photos sketched with bolder lines (xdog sigma 1.8 "
                                  "px at 128 px, not 1.2)", sketch=(("sigma", 1.8),)),
        "sigma18": Condition("panel: the default, photos sketched with bolder lines (xdog sigma 1.8 px at 128 px, "
                             "not 1.2) before the generator redraws them", PANEL, sketch=(("sigma", 1.8),)),
        "gray-flow6": Condition("the generator's gray sketch of photos sketched with the edge response smoothed "
                                "along the edges' flow (sketch flow 6 px at 128 px: continuous lines, less texture)",
                                sketch=(("flow", 6.0),)),
        "flow6": Condition("panel: the default, photos sketched with the edge response smoothed along the edges' "
                           "flow (sketch flow 6 px at 128 px) before the generator redraws them", PANEL,
                           sketch=(("flow", 6.0),)),
        "flow3": Condition("panel: the default, photos sketched with the edge response smoothed along the edges' "
                           "flow (sketch flow 3 px at 128 px) before the generator redraws them", PANEL,
                           sketch=(("flow", 3.0),)),
        "ink0": Condition("panel: the default with photos sketched with no ink floor (sketch min_ink 0: the default "
                          "until round 100)", PANEL, sketch=(("min_ink", 0.0),)),
        "gray-ink0": Condition("the generator's gray sketch, photos sketched with no ink floor (sketch min_ink 0: the "
                               "default until round 100)", sketch=(("min_ink", 0.0),)),
        "inkmax17": Condition("panel: the default, photos sketched with at most 17% ink (sketch max_ink 0.17, the "
                              "training sketches' upper quartile: a textured face's faintest strokes, hair or stubble, "
                              "left out)", PANEL, sketch=(("max_ink", 0.17),)),
        "gray-inkmax17": Condition("the generator's gray sketch, photos sketched with at most 17% ink (sketch max_ink "
                                   "0.17)", sketch=(("max_ink", 0.17),)),
        "wide1.15": Condition("panel: the default, the drawing 1.15x wider (the stretch the issue allows): the face "
                              "on 15% more of the panel's columns", PANEL, widen=1.15),
        "relight": Condition("panel: the default, photos with one side lit and the other in shadow evened out before "
                             "they are sketched (sketch relight 1: the face over its 12 px blur, as far as its halves' "
                             "light differs by 25 to 50% of its mean)", PANEL, sketch=(("relight", 1.0),)),
        "gray-relight": Condition("the generator's gray sketch, photos with uneven light evened out before they are "
                                  "sketched (sketch relight 1)", sketch=(("relight", 1.0),)),
        "input-gray-relight": Condition("the generator's input in gray, the face's own sketch after relight 1, "
                                        "unedited (one tile a face)", sketch=(("relight", 1.0),)),
        "tone110": Condition("panel: the default, a dark photo's face lifted to mid-gray before it is sketched (sketch "
                             "tone 110: a gamma brings the median of the face's middle up to 110 where it is darker)",
                             PANEL, sketch=(("tone", 110),)),
        "gray-tone110": Condition("the generator's gray sketch, a dark photo's face lifted to mid-gray before it is "
                                  "sketched (sketch tone 110)", sketch=(("tone", 110),)),
        "vignette1.1": Condition("panel: the default, the drawing's corners made paper first (ink outside an ellipse "
                                 "1.1 times the one inscribed in the square drawing goes: a collar, a flag, stray hair)",
                                 PANEL, vignette=1.1),
        "vignette1.0": Condition("panel: the default, ink outside the ellipse inscribed in the square drawing made "
                                 "paper first", PANEL, vignette=1.0),
        "ink14": Condition("panel: the default, photos sketched with at least 14% ink (sketch min_ink 0.14: a pale, "
                           "low-contrast face's XDoG threshold lowered until its fainter edges are drawn)", PANEL,
                           sketch=(("min_ink", 0.14),)),
        "gray-ink14": Condition("the generator's gray sketch, photos sketched with at least 14% ink (sketch min_ink "
                                "0.14)", sketch=(("min_ink", 0.14),)),
        "zoom1.25": Condition("panel: the default zoomed 1.25x (the middle of the 128 px drawing, 102 px, on the "
                              "panel's 64 rows)", PANEL, 1.25),
        "zoom1.5": Condition("panel: the default zoomed 1.5x (the middle of the 128 px drawing, 85 px, on the "
                             "panel's 64 rows)", PANEL, 1.5),
        "detail48": Condition("panel: the default, photos brought to 48 px of detail before they are sketched (sketch "
                              "detail 48: shrunk by area and enlarged back, as FER+'s 48 px faces are for training)",
                              PANEL, sketch=(("detail", 48),)),
        "gray-detail48": Condition("the generator's gray sketch, photos brought to 48 px of detail before they are "
                                   "sketched (sketch detail 48)", sketch=(("detail", 48),)),
        "spots10": Condition("panel: the default, photos sketched with their darkest 10% filled with ink (sketch "
                             "spots 10: dark hair, brows, pupils as solid masses) before the generator redraws them",
                             PANEL, sketch=(("spots", 10.0),)),
        "spots15": Condition("panel: the default, photos sketched with their darkest 15% filled with ink (sketch "
                             "spots 15) before the generator redraws them", PANEL, sketch=(("spots", 15.0),)),
        "gray-spots15": Condition("the generator's gray sketch of photos sketched with their darkest 15% filled with "
                                  "ink (sketch spots 15)", sketch=(("spots", 15.0),)),
        "upright": Condition("panel: the default, a photo whose face the cascade misses looked for again in a "
                             "border and turned up to 30 degrees, and cropped upright (face_crop upright; the "
                             "default from round 77 on)", PANEL, face=(("upright", True),)),
        "plain-crop": Condition("panel: the default, photos cropped without the upright search (the default until "
                                "round 76: a face the cascade misses is drawn whole)", PANEL,
                                face=PLAIN_CROP),
        "gray-plain-crop": Condition("the generator's gray sketch, photos cropped without the upright search",
                                     face=PLAIN_CROP),
        "gray-upright": Condition("the generator's gray sketch, a face the cascade misses found in a border or "
                                  "turned, and cropped upright (face_crop upright)", face=(("upright", True),)),
        "gaps10": Condition("panel: the default, where strokes crowd the lighter pixels between them kept paper "
                            "(line art's gap margin 10: ink only where darker than its 5x5 mean plus 10 levels)",
                            Panel(PANEL.layout, replace(PANEL.dither, gap_margin=10))),
        "gray64": Condition("the generator's gray sketch shrunk to 64 px (area), shown at the panel's pixels: the "
                            "gray the panel's 64 rows could show, without the 1-bit step", gray_side=64),
        "real-sketch": Condition("real FER+ sketches (gray)"),
        "real-sketch-panel": Condition("real sketches through the default panel", PANEL),
        "real-bold-panel": Condition("real sketches, bolder lines (xdog sigma 2.0, specks under 30 px at 128 px "
                                     "dropped), through the default panel", PANEL,
                                     sketch=(("sigma", 2.0), ("min_speck", 30))),
        "real-bolder-panel": Condition("real sketches, bolder and cleaner (xdog sigma 2.6, specks under 80 px at "
                                       "128 px dropped), through the default panel", PANEL,
                                       sketch=(("sigma", 2.6), ("min_speck", 80))),
        "real-photo": Condition("real FER+ photos, Floyd-Steinberg, 64 px 1:1 on the panel, light lit"),
        "real-photo-negative": Condition("real FER+ photos, Floyd-Steinberg, 64 px 1:1 on the panel, dark lit"),
    }


def overridden(settings: dict, part: str, pairs) -> dict:
    """A checkpoint's dataset settings with (key, value) `pairs` over one of its parts ("sketch", "face_crop")."""
    return {**settings, part: {**(settings.get(part) or {}), **dict(pairs)}}


def framed_source(renderer, path: Path, margin: float | None, sketch: tuple = (), face: tuple = ()):
    """The face `renderer` redraws from the image at `path`; with `margin`, a photo is framed by its face
    box plus that fraction a side instead of the checkpoint's own framing; with `sketch` or `face`, (key,
    value) pairs over the checkpoint's sketch or face-crop settings, a photo is sketched or framed with
    those instead."""
    if margin is None and not sketch and not face:
        return renderer.source(image=path)
    from emosketch.datasets.decode import decode_file
    from emosketch.datasets.photo import with_photo_margin

    settings = renderer.state.get("dataset", {})
    if margin is not None:
        settings = with_photo_margin(settings, margin)
    if sketch:
        settings = overridden(settings, "sketch", sketch)
    if face:
        settings = overridden(settings, "face_crop", face)
    return renderer.source_from_gray(decode_file(path), "auto", settings)


def anchored_render(renderer, face, styles, rest) -> np.ndarray:
    """G(face, s) for each style with the warp taken relative to the field of the `rest` style ([1, D],
    neutral) on the same face: uint8 [T, S, S]."""
    import torch

    from emosketch.tensors import to_tensor, to_uint8

    g = renderer.nets.generator
    x = to_tensor(face.sketch[None], renderer.device)
    with torch.no_grad():
        rest_flow = g(x, rest.to(renderer.device), parts=True)[1]["flow"]
        y = g(x.expand(len(styles), -1, -1, -1), styles.to(renderer.device), flow_offset=rest_flow)
    return to_uint8(y[:, 0])


def shut_paint(renderer):
    """`renderer` with its generator's paint mask held shut (a hook on the warp head's paint layer sets
    the mask's logit to -30): the edit is the displacement field alone."""

    def hook(_module, _inputs, out):
        out = out.clone()
        out[:, 0] = -30.0
        return out

    warp = renderer.nets.generator.warp
    if warp is None:
        raise SystemExit("default-warp-only needs a warp generator")
    warp.paint.register_forward_hook(hook)
    return renderer


def lifted_renderer(checkpoint: Path, size: int):
    """A Renderer of `checkpoint` made to draw at `size` (gan.checkpoint.lift)."""
    import tempfile

    from emosketch.gan.checkpoint import lift, load_checkpoint, save_checkpoint
    from emosketch.interpolate.render import Renderer

    with tempfile.TemporaryDirectory() as tmp:
        save_checkpoint(Path(tmp) / "lifted.pt", lift(load_checkpoint(checkpoint), size))
        return Renderer(Path(tmp) / "lifted.pt", "cpu")


STUDY = ("gray", "face-band", "default", "head-ink", "real-sketch", "real-photo")


def labelled_sharp_faces(emotion: str, count: int, seed: int) -> list[Path]:
    """`count` sharp faces labelled `emotion` (../shared/data/hires/katstudz), picked by seed."""
    names = sorted((HIRES / "katstudz" / emotion).glob("*"))
    rng = np.random.default_rng(seed)
    return [Path(p) for p in rng.choice(names, min(count, len(names)), replace=False)] if names else []


def real_sketch(gray: np.ndarray, settings: dict, size: int, overrides: tuple) -> np.ndarray:
    """A real face's sketch through the model's face crop and sketch settings, with `overrides`."""
    from emosketch.datasets.photo import model_input

    # as the training data were sketched (no photo ink floor), unless an override says otherwise
    data = overridden(overridden(settings, "sketch", (("min_ink", 0.0), *overrides)), "face_crop", PLAIN_CROP)
    return model_input(gray, data, size, "sketch", "photo")[0]


def split_condition(cond: str) -> tuple[str, str | None]:
    """'default@bend' -> ('default', 'bend'): a condition drawn by the generator given as --model bend=PATH;
    'default' -> ('default', None), drawn by the shipped generator."""
    base, _, model = cond.partition("@")
    return base, model or None


def study_tiles(sharp: int, fer: int, real: int, seed: int, chosen: tuple[str, ...] = STUDY,
                real_sharp: int = 0, models: dict[str, str] | None = None, fer_among: set[str] | None = None,
                sharp_among: set[str] | None = None) -> list:
    """Every tile of the study: (picture, key entry). `models` names other generators (NAME -> checkpoint)
    that conditions suffixed @NAME are drawn by; `fer_among`, when given, the FER+ file names the neutral
    FER+ faces are picked from (a study of the faces a condition changes)."""
    import torch

    from emosketch.datasets.decode import decode_file
    from emosketch.datasets.photo import model_input
    from emosketch.export import Dither, Layout
    from emosketch.export.panel import Panel, draw
    from emosketch.interpolate.render import Renderer
    from emosketch.interpolate.timeline import pose
    from emosketch.models import default_generator

    known, models = conditions(), dict(models or {})
    for cond in chosen:
        base, model = split_condition(cond)
        if base not in known:
            raise SystemExit(f"unknown condition {base!r}: expected some of {', '.join(known)}")
        if model is not None and model not in models:
            raise SystemExit(f"condition {cond!r}: no --model {model}=CHECKPOINT given")
        if model is not None and base.startswith("real"):
            raise SystemExit(f"condition {cond!r}: real faces are not drawn by a generator")
    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "2"))))
    checkpoints = {None: default_generator(), **models}
    renderers = {}  # (model, draw size, paint) -> Renderer
    for cond in chosen:
        base, model = split_condition(cond)
        c = known[base]
        which = (model, c.draw_size, c.paint)
        if which in renderers or base.startswith("real"):
            continue
        rr = lifted_renderer(checkpoints[model], c.draw_size) if c.draw_size else Renderer(checkpoints[model], "cpu")
        renderers[which] = rr if c.paint else shut_paint(rr)
    r = renderers.get((None, None, True)) or Renderer(default_generator(), "cpu")
    emotions = [e for e in EMOTIONS if e in r.classes]
    tiles: list[tuple[np.ndarray, dict]] = []
    sources = [("sharp", p) for p in sharp_faces(sharp, seed, sharp_among)]
    neutral = ferplus_faces("neutral", fer, set(), seed, fer_among)
    sources += [("fer", p) for p in neutral]
    for source, path in sources:
        sketched = {}  # a face is sketched once per size and framing
        drawn = {}
        for cond in chosen:
            base, model = split_condition(cond)
            if base.startswith("real"):
                continue
            c = known[base]
            which = (model, c.draw_size, c.paint)
            rr = renderers[which]
            if (rr.size, c.margin, c.sketch, c.face) not in sketched:
                sketched[rr.size, c.margin, c.sketch, c.face] = framed_source(rr, path, c.margin, c.sketch, c.face)
            face = sketched[rr.size, c.margin, c.sketch, c.face]
            if base.startswith("input"):  # the unedited sketch the generator starts from (a neutral face)
                pic = draw(face.sketch[None], c.panel)[0] if c.panel is not None else face.sketch
                tiles.append((pic, {"condition": cond, "source": source, "face": path.name, "emotion": "neutral"}))
                continue
            k = c.intensity
            shown = [e for e in emotions if not c.only or e in c.only]
            mixes = {e: dict(blend) for e, blend in c.mix}
            how = (k, which, c.margin, c.sketch, c.face, c.anchor, c.mix, c.only)
            if how not in drawn:
                codes = rr.bank.codes(seed, 1.0)
                styles = rr.bank.blend(np.array([pose(rr.classes, mixes.get(e, e), k) for e in shown]), codes)
                if c.anchor:
                    rest = rr.bank.blend(np.array([pose(rr.classes, "neutral", 1.0)]), codes)
                    drawn[how] = anchored_render(rr, face, styles, rest)
                else:
                    drawn[how] = rr.render(face, styles)
            frames = drawn[how]
            if c.smooth:
                frames = np.stack([cv2.GaussianBlur(f, (0, 0), c.smooth) for f in frames])
            if c.vignette:
                frames = np.stack([vignetted(f, c.vignette) for f in frames])
            if c.widen != 1.0:
                frames = np.stack([cv2.resize(f, (round(f.shape[1] * c.widen), f.shape[0]),
                                              interpolation=cv2.INTER_AREA if c.widen < 1 else cv2.INTER_LINEAR)
                                   for f in frames])
            if c.gray_side and c.panel is None:
                frames = np.stack([cv2.resize(f, (c.gray_side, c.gray_side), interpolation=cv2.INTER_AREA)
                                   for f in frames])
            pics = frames if c.panel is None else draw(frames, c.panel, np.full(len(shown), c.zoom))
            if c.close:
                lit_is_ink = c.panel.dither.polarity == "ink"
                kernel = np.ones((c.close, c.close), np.uint8)
                ink = [cv2.morphologyEx((p == lit_is_ink).view(np.uint8), cv2.MORPH_CLOSE, kernel) > 0 for p in pics]
                pics = np.stack([i if lit_is_ink else ~i for i in ink])
            for e, pic in zip(shown, pics):
                tiles.append((pic, {"condition": cond, "source": source, "face": path.name, "emotion": e}))
    used = {p.name for p in neutral}
    data = r.state.get("dataset", {})
    photo_layout = Layout(PANEL_W, PANEL_H, "fit")
    for e in emotions:
        labelled = [("real", p) for p in ferplus_faces(e, real, used, seed + 1)] + \
            [("real-sharp", p) for p in labelled_sharp_faces(e, real_sharp, seed + 1)]
        for source, path in labelled:
            gray = decode_file(path)
            crop, _ = model_input(gray, overridden(data, "face_crop", PLAIN_CROP), r.size, "face")
            pics = {"real-photo": draw(crop[None], Panel(photo_layout, Dither("floyd-steinberg", polarity="paper")))[0],
                    "real-photo-negative": draw(crop[None], Panel(photo_layout, Dither("floyd-steinberg")))[0]}
            for cond in chosen:
                c = known[split_condition(cond)[0]]
                if cond.startswith("real-sketch") or cond.startswith("real-bold"):
                    sk = real_sketch(gray, data, r.size, c.sketch)
                    pics[cond] = sk if c.panel is None else draw(sk[None], c.panel)[0]
                if cond in pics:
                    tiles.append((pics[cond], {"condition": cond, "source": source, "face": path.name, "emotion": e}))
    return tiles


# ---- the command line -----------------------------------------------------------------------------

def study_cli(doc: str, examples: int, out: str, sharp: int, fer: int):
    """The command line a blind study shares (this one, benchmarks/looks.py): its docstring's first
    paragraph as the description, its `examples` lines after it as the epilog, and a `make` verb with
    --out, --sharp and --fer. Returns (parser, make's parser, the verbs)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(doc.split("\n")[2:2 + examples]))
    sub = ap.add_subparsers(dest="verb", required=True)
    mk = sub.add_parser("make", help="write the sheets, the brief and the key")
    mk.add_argument("--out", default=out)
    mk.add_argument("--sharp", type=int, default=sharp, help="sharp portraits (the demo photo first)")
    mk.add_argument("--fer", type=int, default=fer, help="neutral FER+ faces")
    return ap, mk, sub


def main() -> None:
    ap, mk, sub = study_cli(__doc__, 7, "bench-out/legibility", 5, 5)
    mk.add_argument("--real", type=int, default=4, help="real FER+ faces per emotion for the baselines")
    mk.add_argument("--real-sharp", type=int, default=0,
                    help="also this many labelled sharp faces (hires/katstudz) per emotion for the real conditions")
    mk.add_argument("--conditions", default=",".join(STUDY),
                    help="comma-separated condition ids (see conditions()); default: %(default)s")
    mk.add_argument("--model", action="append", default=[], metavar="NAME=CHECKPOINT",
                    help="another generator; conditions suffixed @NAME (e.g. default@NAME, gray@NAME) are drawn by it")
    mk.add_argument("--fer-among", metavar="FILE",
                    help="pick the neutral FER+ faces only from the file names listed in FILE (one a line): a study "
                         "of the faces a condition changes")
    mk.add_argument("--sharp-among", metavar="FILE",
                    help="pick the sharp portraits only from the file names listed in FILE (one a line)")
    mk.add_argument("--per-sheet", type=int, default=10)
    mk.add_argument("--seed", type=int, default=0)
    sc = sub.add_parser("score", help="score answer files against the key, or whole studies pooled")
    sc.add_argument("answers", nargs="*", help="one JSON answer file per rater (with --key)")
    sc.add_argument("--key", help="the study's key.json")
    sc.add_argument("--study", action="append", default=[],
                    help="a study folder (key.json, conditions.json, answers/*.json); repeat to pool studies")
    sc.add_argument("--same", action="append", default=[], metavar="OLD=NEW",
                    help="pool condition OLD with NEW (the same drawing under another id in an older study); "
                         "FOLDER:OLD=NEW renames it in the study of that folder name only")
    sc.add_argument("--frontal", action="store_true",
                    help="split the neutral FER+ faces by whether the face detector finds a frontal face in them "
                         "(needs ../shared/data/ferplus)")
    sc.add_argument("--collections", action="store_true",
                    help="split the sharp portraits by collection: the demo photo, hires/jaffe (studio portraits), "
                         "hires/katstudz, hires/mux (news and web photos); needs ../shared/data/hires")
    sc.add_argument("--readable", metavar="CONDITION",
                    help="split the drawn faces by whether their CONDITION tiles (e.g. gray) were seen as a face at "
                         "once in at least half their ratings: each condition on the faces whose own drawing reads")
    sc.add_argument("--twins", metavar="COND=TWIN",
                    help="TWIN draws the very tiles of COND, shown elsewhere on the sheets: how far a tile's reading "
                         "(face at once) depends on where it is shown, against the raters' own spread")
    sc.add_argument("--per-face", action="store_true",
                    help="also print each drawn face's share seen at once per condition")
    sc.add_argument("--out", default="bench-out")
    args = ap.parse_args()
    if args.verb == "make":
        if not FERPLUS_VALID.exists() or not HIRES.exists():
            print(f"skipped: the study's faces need {FERPLUS_VALID} and {HIRES}")
            return
        chosen = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
        bad = [m for m in args.model if "=" not in m]
        if bad:
            raise SystemExit(f"--model {bad[0]!r}: expected NAME=CHECKPOINT")
        models = dict(m.split("=", 1) for m in args.model)
        def listed(file):
            return {line.strip() for line in Path(file).read_text().splitlines() if line.strip()} if file else None

        tiles = study_tiles(args.sharp, args.fer, args.real, args.seed, chosen, args.real_sharp, models,
                            listed(args.fer_among), listed(args.sharp_among))
        key = write_study(tiles, Path(args.out), args.per_sheet, seed=args.seed)
        known = conditions()
        described = {}
        for c in chosen:
            base, model = split_condition(c)
            described[c] = known[base].what + (f" (drawn by the generator {models[model]})" if model else "")
        (Path(args.out) / "conditions.json").write_text(json.dumps(described, indent=1))
        print(f"{len(key)} tiles on {len(list((Path(args.out) / 'sheets').glob('sheet-*.png')))} sheets in "
              f"{args.out}/sheets (give raters only that folder); key: {args.out}/key.json")
        return
    if bool(args.key) == bool(args.study) or (args.key and not args.answers):
        raise SystemExit("give --key KEY with answer files, or one or more --study FOLDER")
    studies = [(Path(args.key).parent, Path(args.key), [Path(p) for p in args.answers])] if args.key else \
        [(Path(d), Path(d) / "key.json", sorted((Path(d) / "answers").glob("*.json"))) for d in args.study]
    for _, key_file, _answers in studies:  # a path given from another folder had been a 16-line FileNotFoundError
        if not key_file.is_file():
            raise SystemExit(f"{key_file}: no such key (a --study folder holds key.json; the committed rounds are in "
                             "benchmarks/legibility-studies/, relative to the repository's root)")
    bad = [a for a in args.same if "=" not in a]
    if bad:
        raise SystemExit(f"--same {bad[0]}: give OLD=NEW, or STUDY:OLD=NEW")
    key, answers, descriptions = pool(studies, dict(a.split("=", 1) for a in args.same))
    if args.frontal:
        key = split_frontal(key)
    if args.collections:
        key = split_collections(key)
    if args.readable:
        key = split_readable(key, answers, args.readable)
    result = score(key, answers)
    print(report(result, descriptions))
    if args.per_face:
        faces = [f for f in per_face(key, answers) if not f["source"].startswith("real")]
        conds = sorted({c for f in faces for c in f} - {"study", "source", "face"})
        result["per_face"] = faces
        print("\nface seen at once, per drawn face and condition:")
        print(table(faces, ["study", "source", "face", *conds]))
    if args.twins:
        cond, _, twin = args.twins.partition("=")
        result["twins"] = twin_agreement(key, answers, cond, twin)
        tw = result["twins"]
        print(f"\n{cond} and its twin {twin} ({tw['pairs']} pairs): seen at once {tw['at_once']:.3f} and "
              f"{tw['at_once_twin']:.3f}; mean difference in the share at once, half the raters against the other "
              f"half: {tw['halves_same_tile']:.3f} on one tile, {tw['halves_tile_and_twin']:.3f} on a tile and its "
              f"twin; all raters, a tile against its twin: {tw['all_raters_tile_and_twin']:.3f}")
    write_json(args.out, "legibility.json", {"conditions_described": descriptions, **result})


if __name__ == "__main__":
    guarded(main)
