"""Blind look benchmark: which word does a blended expression read as, on the panel?

    python benchmarks/looks.py make --out bench-out/looks                 # sheets, brief, key
    python benchmarks/looks.py score --key bench-out/looks/key.json r1.json r2.json r3.json --out bench-out
    python benchmarks/looks.py make --model runs/c7/checkpoint.pt --looks "power=contempt:1" --looks happy=happy:1
    python benchmarks/looks.py make --looks smirk=neutral:1/happy:1 --looks neutral=neutral:1   # one-sided

The agent's "power" channel has no emotion of its own in the shipped model (it has no contempt),
so it must show as a blend of the ones it has. This benchmark asks blind raters which word each
tile reads as. Every look (a blend of the model's emotions, LOOKS) redraws the same faces (sharp
portraits and neutral FER+ faces, as benchmarks/legibility.py picks them), drawn on the panel as the
agent shows them (emosketch.export.panel.PANEL, at its real pixels). The plain happy, anger and
neutral faces are looks too: the baselines a blend must beat. Tiles of all looks are shuffled
together onto numbered sheets with the brief below; the key is written beside the sheets, never
into them. `score` prints, per look, how often each word was given, and the agreement between
raters.

RATER BRIEF (this, and the sheets, is all a rater sees)
--------------------------------------------------------
Each sheet shows numbered tiles. Each tile is a small picture as a tiny screen would show it,
enlarged so that every screen pixel is a square of several pixels. Rate every tile on every sheet,
on first impression (look for a few seconds; do not study it or compare it with other tiles):

- word: the one word, from this list, that best fits how the face looks:
  afraid, angry, confident, happy, neutral, proud, sad, smug, surprised.
  Answer "?" if you cannot tell (or see no face).

Write one JSON object mapping each tile number to your answer, e.g.
{"1": {"word": "sad"}, "2": {"word": "?"}}, with an answer for every tile number on the sheets.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from legibility import (  # noqa: E402
    FERPLUS_VALID,
    HIRES,
    ferplus_faces,
    fleiss_kappa,
    pool,
    sharp_faces,
    study_cli,
    write_study,
)
from report import guarded, table, write_json  # noqa: E402

WORDS = ("afraid", "angry", "confident", "happy", "neutral", "proud", "sad", "smug", "surprised")  # round 1's
# list had no "smug" (the word for contempt), rounds 1 and 2 no "proud" (the agent's power channel should
# read as confident or proud); from round 3 on it has both
BRIEF = __doc__.split("RATER BRIEF (this, and the sheets, is all a rater sees)\n" + "-" * 56 + "\n")[1]
LOOKS = {  # look -> weights over the model's emotions (emosketch.interpolate.timeline.pose)
    "happy": {"happy": 1.0},
    "anger": {"anger": 1.0},
    "neutral": {"neutral": 1.0},
    "smile+anger": {"happy": 0.5, "anger": 0.5},
    "smile+anger+calm": {"happy": 0.35, "anger": 0.35, "neutral": 0.3},
    "slight-smile": {"happy": 0.4, "neutral": 0.6},
    "stern": {"anger": 0.4, "neutral": 0.6},
}


def parse_look(text: str) -> tuple[str, dict]:
    """'power=contempt:0.6,neutral:0.4' -> ('power', {'contempt': 0.6, 'neutral': 0.4}); a one-sided look
    'smirk=neutral:1/happy:1' (the face in the first pose, its lower right in the second:
    emosketch.interpolate.render.one_sided) -> ('smirk', {'base': {'neutral': 1.0}, 'side': {'happy': 1.0}});
    or one line."""
    name, sep, spec = text.partition("=")
    region = "mouth" if "|" in spec else "side"
    try:
        if not sep or not name.strip() or spec.count("/") + spec.count("|") > 1:
            raise ValueError
        poses = [{e.strip(): float(w) for e, w in (part.split(":") for part in half.split(","))}
                 for half in spec.replace("|", "/").split("/")]
    except ValueError:
        raise SystemExit(f"--looks {text!r:.80}: expected NAME=EMOTION:WEIGHT[,EMOTION:WEIGHT...]"
                         "[/EMOTION:WEIGHT...] (after / the pose of the face's lower right, after | the pose "
                         "of the face below the nose)") from None
    return name.strip(), (poses[0] if len(poses) == 1 else {"base": poses[0], region: poses[1]})


def look_poses(look: dict) -> tuple[dict, dict | None, str | None]:
    """A look -> (its pose, the pose of its lower right or below its nose or None, "side" or "mouth" or None)."""
    if "base" not in look:
        return look, None, None
    region = "mouth" if "mouth" in look else "side"
    return look["base"], look[region], region


def look_tiles(sharp: int, fer: int, seed: int, looks: dict[str, dict] = LOOKS, model: str | None = None) -> list:
    """Every tile: (panel pixels, key entry {condition: look, emotion: look, source, face}); drawn by
    `model` (a generator checkpoint), or by the shipped one."""
    import torch

    from emosketch.export.panel import PANEL, draw
    from emosketch.interpolate.render import Renderer, one_sided, with_mouth
    from emosketch.interpolate.timeline import pose
    from emosketch.models import default_generator

    torch.set_num_threads(max(1, int(os.environ.get("OMP_NUM_THREADS", "2"))))
    r = Renderer(model or default_generator(), "cpu")
    codes = r.bank.codes(seed, 1.0)
    halves = [look_poses(w) for w in looks.values()]
    weights = np.array([pose(r.classes, base, where=f"look {name}: ") for name, (base, _, _) in zip(looks, halves)])
    sided = [i for i, (_, side, _) in enumerate(halves) if side is not None]  # only these are drawn twice
    names = list(looks)
    sides = np.array([pose(r.classes, halves[i][1], where=f"look {names[i]}: ") for i in sided])
    sources = [("sharp", p) for p in sharp_faces(sharp, seed)] + \
        [("fer", p) for p in ferplus_faces("neutral", fer, set(), seed)]
    tiles = []
    for source, path in sources:
        face = r.source(image=path)
        frames = r.render(face, r.bank.blend(weights, codes))
        if sided:
            other = r.render(face, r.bank.blend(sides, codes))
            for j, i in enumerate(sided):
                compose = with_mouth if halves[i][2] == "mouth" else one_sided
                frames[i] = compose(frames[i][None], other[j][None])[0]
        pics = draw(frames, PANEL)
        for name, pic in zip(looks, pics):
            tiles.append((pic, {"condition": name, "emotion": name, "source": source, "face": path.name}))
    return tiles


def score(key: dict, answers: dict[str, dict]) -> dict:
    """Per look: the share of each word over every rater's answer to its tiles, and the agreement
    (the share of rater pairs giving a tile the same word, and Fleiss' kappa)."""
    raters = {}
    for name, a in answers.items():
        got = {}
        for tile, ans in a.items():
            if str(tile) not in key:
                raise ValueError(f"{name}: tile {tile} is not in the key")
            word = str(ans.get("word", "?") if isinstance(ans, dict) else "?").strip().lower()
            got[str(tile)] = word if word in WORDS else "?"
        raters[name] = got
    by_look: dict[str, list[str]] = {}
    for t, entry in key.items():
        by_look.setdefault(entry["condition"], []).append(t)
    out = {"raters": sorted(raters), "looks": {}}
    for look, tiles in by_look.items():
        votes = [raters[r][t] for t in tiles for r in raters if t in raters[r]]
        pairs = [(a, b) for t in tiles for a, b in itertools.combinations([raters[r][t] for r in raters if t in raters[r]], 2)]
        out["looks"][look] = {
            "tiles": len(tiles), "ratings": len(votes),
            "words": {w: votes.count(w) / len(votes) for w in (*WORDS, "?")} if votes else {},
            "agreement": sum(a == b for a, b in pairs) / len(pairs) if pairs else None,
            "kappa": fleiss_kappa([[raters[r][t] for r in raters if t in raters[r]] for t in tiles], [*WORDS, "?"]),
        }
    return out


def main() -> None:
    ap, mk, sub = study_cli(__doc__, 2, "bench-out/looks", 4, 4)
    mk.add_argument("--seed", type=int, default=0)
    mk.add_argument("--per-sheet", type=int, default=10)
    mk.add_argument("--model", help="the generator that draws every look (default: the shipped one)")
    mk.add_argument("--looks", action="append", default=[], metavar="NAME=EMOTION:W[,EMOTION:W]",
                    help="a look (repeat for each); default: LOOKS, the blends of round 1")
    sc = sub.add_parser("score", help="score answer files against the key")
    sc.add_argument("answers", nargs="+", help="one JSON answer file per rater")
    sc.add_argument("--key", required=True)
    sc.add_argument("--out", default="bench-out")
    args = ap.parse_args()
    if args.verb == "make":
        if not FERPLUS_VALID.exists() or not HIRES.exists():
            print(f"skipped: the faces need {FERPLUS_VALID} and {HIRES}")
            return
        looks = dict(parse_look(t) for t in args.looks) if args.looks else LOOKS
        key = write_study(look_tiles(args.sharp, args.fer, args.seed, looks, args.model), Path(args.out),
                          args.per_sheet, seed=args.seed, brief=BRIEF)
        (Path(args.out) / "looks.json").write_text(json.dumps(looks, indent=1))
        print(f"{len(key)} tiles in {args.out}/sheets (give raters only that folder); key: {args.out}/key.json")
        return
    key, answers, _ = pool([(Path(args.key).parent, Path(args.key), [Path(a) for a in args.answers])], {})
    result = score(key, answers)
    rows = [{"look": look, "ratings": r["ratings"], **{w: r["words"].get(w) for w in (*WORDS, "?")},
             "agreement": r["agreement"]} for look, r in result["looks"].items()]
    print(f"raters: {len(result['raters'])}; the share of answers giving each word, per look")
    print(table(rows, ["look", "ratings", *WORDS, "?", "agreement"]))
    weights = Path(args.key).parent / "looks.json"  # the study's own looks, written by make
    write_json(args.out, "looks.json", {"looks_weights": json.loads(weights.read_text()) if weights.exists() else LOOKS,
                                        **result})


if __name__ == "__main__":
    guarded(main)
