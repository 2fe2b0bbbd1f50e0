"""The blind legibility benchmark (benchmarks/legibility.py): sheets that never carry the key, and
scores that come out right for known answers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import legibility  # noqa: E402


def tiny_tiles(n_per: int = 6) -> list:
    """Two panel conditions and a gray one, one tile per emotion each (n_per emotions)."""
    rng = np.random.default_rng(0)
    tiles = []
    for cond in ("panel-a", "panel-b"):
        for e in legibility.EMOTIONS[:n_per]:
            tiles.append((rng.random((64, 128)) > 0.8, {"condition": cond, "source": "fer", "emotion": e}))
    for e in legibility.EMOTIONS[:n_per]:
        tiles.append((rng.integers(0, 256, (64, 64), dtype=np.uint8), {"condition": "gray", "source": "sharp",
                                                                       "emotion": e}))
    return tiles


def test_make_writes_mixed_numbered_sheets_and_keeps_the_key_apart(tmp_path):
    tiles = tiny_tiles()
    key = legibility.write_study(tiles, tmp_path / "study", per_sheet=4, scale=2, seed=3)
    sheets = tmp_path / "study" / "sheets"
    files = sorted(p.name for p in sheets.iterdir())
    assert files == ["BRIEF.md"] + [f"sheet-{i:02d}.png" for i in range(1, 6)]  # 18 tiles, 4 a sheet
    assert not (sheets / "key.json").exists() and (tmp_path / "study" / "key.json").exists()
    brief = (sheets / "BRIEF.md").read_text()
    for word in ("panel-a", "panel-b", "gray", "condition", "sharp", "fer"):
        assert word not in brief  # nothing of the key, nor what the conditions are, reaches a rater
    assert "18 tiles" in brief and '"face"' in brief
    assert sorted(key, key=int) == [str(i) for i in range(1, 19)]
    assert sorted((e["condition"], e["emotion"]) for e in key.values()) == \
        sorted((t[1]["condition"], t[1]["emotion"]) for t in tiles)
    for s in range(1, 6):  # every sheet mixes conditions
        assert len({e["condition"] for e in key.values() if e["sheet"] == s}) >= 2
    # each tile is drawn at the fixed scale: panel pixels as 2x2 squares, lit = white
    sheet = cv2.imread(str(sheets / "sheet-01.png"), cv2.IMREAD_GRAYSCALE)
    assert sheet.shape[1] == 14 + 2 * (128 * 2 + 14)
    first = next(t for t in tiles if t[1] == {k: v for k, v in key["1"].items() if k != "sheet"})
    shown = sheet[14 + 26:14 + 26 + 128, 14:14 + 256]
    want = legibility.tile_image(first[0], 2)
    assert np.array_equal(shown, want)


def test_make_never_writes_a_new_key_over_a_rated_study(tmp_path):
    """make --out into a copy of a rated round replaced its key.json and kept its answers: the gray sketch's
    score fell from 0.80 to 0.13 with exit 0."""
    study = tmp_path / "study"
    legibility.write_study(tiny_tiles(), study, per_sheet=4, scale=2, seed=3)
    key = (study / "key.json").read_bytes()
    legibility.write_study(tiny_tiles(), study, per_sheet=4, scale=2, seed=3)  # not yet rated: made again
    (study / "answers").mkdir()
    (study / "answers" / "r1.json").write_text("{}")
    with pytest.raises(SystemExit, match="holds a rated study"):
        legibility.write_study(tiny_tiles(), study, per_sheet=4, scale=2, seed=4)
    assert (study / "key.json").read_bytes() == key


def test_a_128_px_gray_sketch_shows_at_the_size_of_a_64_px_one():
    small = np.full((64, 64), 255, np.uint8)
    small[20:22, 10:54] = 0
    big = cv2.resize(small, (128, 128), interpolation=cv2.INTER_NEAREST)
    big[0, 0] = 0  # one fine pixel more than the 64 px sketch has
    a, b = legibility.tile_image(small, 3), legibility.tile_image(big, 3)
    assert a.shape == b.shape == (64 * 3, 128 * 3)
    rows_a = np.flatnonzero(a[:, 192] < 128)
    rows_b = np.flatnonzero(b[:, 192] < 128)
    assert abs(rows_a.mean() - rows_b.mean()) <= 1  # the same stroke lands at the same place
    assert b[0, 96] < 255 and a[0, 96] == 255  # the fine pixel shows at the top-left corner of the face
    with pytest.raises(ValueError, match="does not fit"):
        legibility.tile_image(np.zeros((128, 300), np.uint8), 3)


def test_score_counts_known_answers():
    key = {"1": {"condition": "x", "emotion": "happy", "source": "fer"},
           "2": {"condition": "x", "emotion": "sad", "source": "sharp"},
           "3": {"condition": "y", "emotion": "fear", "source": "real"}}
    answers = {
        "r1": {"1": {"face": 2, "emotion": "happy"}, "2": {"face": 1, "emotion": "sad"},
               "3": {"face": 0, "emotion": "?"}},
        "r2": {"1": {"face": 2, "emotion": "Happy"}, "2": {"face": 0, "emotion": "anger"},
               "3": {"face": 2, "emotion": "fear"}},
        "r3": {"1": {"face": 1, "emotion": "sad"}, "2": {"face": 2, "emotion": "sad"},
               "3": {"face": 2, "emotion": "fear"}},
    }
    res = legibility.score(key, answers)
    x, y = res["conditions"]["x"], res["conditions"]["y"]
    assert x["ratings"] == 6 and y["ratings"] == 3
    assert x["face_at_once"] == pytest.approx(3 / 6) and x["face_at_all"] == pytest.approx(5 / 6)
    assert x["emotion"] == pytest.approx(4 / 6) and x["cant_tell"] == 0
    assert y["emotion"] == pytest.approx(2 / 3) and y["cant_tell"] == pytest.approx(1 / 3)
    assert x["per_emotion"]["happy"]["emotion"] == pytest.approx(2 / 3)
    assert x["per_source"]["sharp"]["emotion"] == pytest.approx(2 / 3)
    # tile 1: happy, happy, sad -> 1 of 3 pairs agree; tile 2: sad, anger, sad -> 1 of 3
    assert x["agreement"] == pytest.approx(2 / 6)
    assert y["agreement"] == pytest.approx(1 / 3)  # ?, fear, fear
    assert "x" in legibility.report(res)


def test_fleiss_kappa_is_one_for_full_agreement_and_near_zero_for_chance():
    cats = ["a", "b"]
    assert legibility.fleiss_kappa([["a", "a", "a"], ["b", "b", "b"]], cats) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noise = [[str(v) for v in rng.choice(cats, 3)] for _ in range(4000)]
    assert abs(legibility.fleiss_kappa(noise, cats)) < 0.05


def test_score_refuses_bad_answers():
    key = {"1": {"condition": "x", "emotion": "happy"}}
    with pytest.raises(ValueError, match="tile 1"):
        legibility.score(key, {"r1": {"1": {"face": 5, "emotion": "happy"}}})
    with pytest.raises(ValueError, match="not in the key"):
        legibility.score(key, {"r1": {"9": {"face": 1, "emotion": "happy"}}})


def test_the_committed_study_rescores(tmp_path):
    """The kept key and answers of the blind study give the figures the README reports."""
    study = Path(__file__).resolve().parents[1] / "benchmarks" / "legibility-studies" / "round1"
    key = json.loads((study / "key.json").read_text())
    answers = {p.stem: json.loads(p.read_text()) for p in sorted((study / "answers").glob("*.json"))}
    res = legibility.score(key, answers)
    assert len(answers) >= 3 and all(v == 1.0 for v in res["coverage"].values())
    assert res["conditions"]["face-band"]["emotion"] == pytest.approx(12 / 180)


def test_studies_pool_with_their_own_raters_and_renamed_conditions(tmp_path):
    for name, cond in (("r1", "old-id"), ("r2", "new-id")):
        d = tmp_path / name
        (d / "answers").mkdir(parents=True)
        (d / "key.json").write_text(json.dumps({"1": {"condition": cond, "emotion": "sad"}}))
        (d / "answers" / "a.json").write_text(json.dumps({"1": {"face": 2, "emotion": "sad"}}))
        (d / "answers" / "b.json").write_text(json.dumps({"1": {"face": 1, "emotion": "?" if name == "r1" else "sad"}}))
    studies = [(tmp_path / n, tmp_path / n / "key.json", sorted((tmp_path / n / "answers").glob("*.json")))
               for n in ("r1", "r2")]
    key, answers, _ = legibility.pool(studies, {"old-id": "new-id"})
    assert set(key) == {"r1:1", "r2:1"} and {e["condition"] for e in key.values()} == {"new-id"}
    res = legibility.score(key, answers)
    row = res["conditions"]["new-id"]
    assert row["ratings"] == 4 and row["emotion"] == pytest.approx(3 / 4)
    assert row["agreement"] == pytest.approx(1 / 2)  # pairs only within a study's own raters
    # a rename scoped to one study's folder leaves the same id in the other studies alone, and wins there
    key, _, _ = legibility.pool(studies, {"r2:new-id": "renamed", "new-id": "everywhere"})
    assert key["r2:1"]["condition"] == "renamed" and key["r1:1"]["condition"] == "old-id"
    key, _, _ = legibility.pool(studies, {"r1:old-id": "x", "old-id": "y"})
    assert key["r1:1"]["condition"] == "x"


def test_raters_files_of_one_name_stay_apart(tmp_path):
    """Raters who each wrote answers.json in their own folder are three raters, not one (the second
    file used to replace the first), and one rater's score reports no agreement instead of failing."""
    key = tmp_path / "key.json"
    key.write_text(json.dumps({"1": {"condition": "x", "emotion": "sad"}}))
    files = []
    for name, emotion in (("r1", "sad"), ("r2", "happy"), ("r3", "sad")):
        (tmp_path / name).mkdir()
        files.append(tmp_path / name / "answers.json")
        files[-1].write_text(json.dumps({"1": {"face": 2, "emotion": emotion}}))
    _, answers, _ = legibility.pool([(tmp_path, key, files)], {})
    assert len(answers) == 3
    res = legibility.score(json.loads(key.read_text()), answers)
    assert res["conditions"]["x"]["emotion"] == pytest.approx(2 / 3)
    _, one, _ = legibility.pool([(tmp_path, key, files[:1])], {})
    assert "one rater, none to compare" in legibility.report(legibility.score(json.loads(key.read_text()), one))


def test_the_looks_study_scores_words_per_look(tmp_path):
    """benchmarks/looks.py: its own brief (words, not the six emotions) on sheets that keep the key
    apart, and the share of each word per look."""
    import looks

    rng = np.random.default_rng(0)
    tiles = [(rng.random((64, 128)) > 0.8, {"condition": look, "emotion": look, "source": "fer"})
             for look in ("smirk", "happy") for _ in range(3)]
    key = legibility.write_study(tiles, tmp_path / "s", per_sheet=3, scale=1, seed=0, brief=looks.BRIEF)
    brief = (tmp_path / "s" / "sheets" / "BRIEF.md").read_text()
    assert "confident" in brief and "smirk" not in brief and '"word"' in brief
    smirks = [t for t, e in key.items() if e["condition"] == "smirk"]
    answers = {"a": {t: {"word": "confident" if t in smirks else "happy"} for t in key},
               "b": {t: {"word": "confident" if t == smirks[0] else "Happy"} for t in key}}
    res = looks.score(key, answers)
    assert res["looks"]["smirk"]["words"]["confident"] == pytest.approx(4 / 6)
    assert res["looks"]["smirk"]["words"]["happy"] == pytest.approx(2 / 6)
    assert res["looks"]["happy"]["words"]["happy"] == 1.0 and res["looks"]["happy"]["agreement"] == 1.0
    assert res["looks"]["smirk"]["agreement"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="not in the key"):
        looks.score(key, {"a": {"999": {"word": "sad"}}})
    assert "smug" in brief and "proud" in brief  # contempt's word, and power's beside confident
    assert looks.parse_look(" power = contempt:0.6, neutral:0.4") == ("power", {"contempt": 0.6, "neutral": 0.4})
    assert looks.parse_look("smirk=neutral:1/happy:0.6,neutral:0.4") == (
        "smirk", {"base": {"neutral": 1.0}, "side": {"happy": 0.6, "neutral": 0.4}})
    assert looks.parse_look("afraid=fear:1|surprise:1") == ("afraid", {"base": {"fear": 1.0}, "mouth": {"surprise": 1.0}})
    assert looks.look_poses({"happy": 1.0}) == ({"happy": 1.0}, None, None)
    assert looks.look_poses({"base": {"neutral": 1.0}, "side": {"happy": 1.0}}) == (
        {"neutral": 1.0}, {"happy": 1.0}, "side")
    assert looks.look_poses({"base": {"fear": 1.0}, "mouth": {"neutral": 1.0}}) == (
        {"fear": 1.0}, {"neutral": 1.0}, "mouth")
    for bad in ("power", "=happy:1", "power=happy", "power=happy:x", "power=happy:1,", "s=neutral:1/",
                "s=neutral:1/happy:1/sad:1", "s=fear:1|", "s=fear:1|sad:1/happy:1"):
        with pytest.raises(SystemExit, match="expected NAME=EMOTION:WEIGHT"):
            looks.parse_look(bad)


def test_a_real_sketch_condition_draws_in_its_own_line_style():
    """real-bold-panel and real-bolder-panel override the model's sketch settings: bolder lines are
    more ink than the model's own style, on the same face."""
    from emosketch.datasets.synthetic import random_identity, render

    rng = np.random.default_rng(0)
    face = render(random_identity(rng), {"happy": 1.0}, 128)
    face = cv2.GaussianBlur(face, (0, 0), 2.0)  # photo-like: soft edges for the sketch to find
    settings = {"sketch": {"method": "xdog"}, "face_crop": {"detector": "none"}}
    known = legibility.conditions()
    inks = [(legibility.real_sketch(face, settings, 64, known[c].sketch) < 128).mean()
            for c in ("real-sketch", "real-bold-panel", "real-bolder-panel")]
    assert inks[0] < inks[1] < inks[2]
    assert known["real-bold-panel"].panel is not None and known["real-sketch"].panel is None


def test_warp_only_shuts_the_generators_paint():
    """default-warp-only: the paint mask is held shut, so the edit is the displacement field alone."""
    import torch

    from emosketch.interpolate.render import Renderer
    from emosketch.models import default_generator

    r = legibility.shut_paint(Renderer(default_generator(), "cpu"))
    x = torch.ones(2, 1, r.size, r.size)
    x[:, :, 20:44, 30:32] = -1
    s = r.bank.codes()[:2]
    with torch.no_grad():
        _, parts = r.nets.generator(x, s, parts=True)
        fresh = Renderer(default_generator(), "cpu").nets.generator(x, s, parts=True)[1]
    assert parts["mask"].max() < 1e-6 < fresh["mask"].max()
    assert not legibility.conditions()["default-warp-only"].paint


def test_conditions_name_the_generator_that_draws_them():
    assert legibility.split_condition("default@bend") == ("default", "bend")
    assert legibility.split_condition("gray") == ("gray", None)
    with pytest.raises(SystemExit, match="no --model bend=CHECKPOINT"):
        legibility.study_tiles(1, 0, 0, 0, ("default@bend",))
    with pytest.raises(SystemExit, match="real faces are not drawn"):
        legibility.study_tiles(1, 0, 0, 0, ("real-sketch@b",), models={"b": "b.pt"})
    with pytest.raises(SystemExit, match="unknown condition 'nope'"):
        legibility.study_tiles(1, 0, 0, 0, ("nope@b",), models={"b": "b.pt"})


def test_margin_conditions_frame_the_photo_closer():
    """default-m10 / default-m0: the photo's face box gets that margin; None keeps the checkpoint's."""
    from emosketch.interpolate.render import Renderer
    from emosketch.models import default_generator, demo_photo

    r = Renderer(default_generator(), "cpu")
    known = legibility.conditions()
    assert known["default-m10"].margin == 0.1 and known["default-m0"].margin == 0.0 and known["default"].margin is None
    own = legibility.framed_source(r, demo_photo(), None)
    assert np.array_equal(own.sketch, r.source(image=demo_photo()).sketch)
    close = legibility.framed_source(r, demo_photo(), 0.0)
    assert close.sketch.shape == own.sketch.shape and not np.array_equal(close.sketch, own.sketch)
    assert "haar" in close.how


def test_anchored_conditions_draw_neutral_as_the_face_itself():
    """anchored: every emotion's warp is relative to the neutral style's on the same face, so neutral
    draws the face's own sketch (the paint is nearly shut) and the other emotions still move it."""
    from emosketch.interpolate.render import Renderer
    from emosketch.interpolate.timeline import pose
    from emosketch.models import default_generator, demo_photo

    r = Renderer(default_generator(), "cpu")
    face = r.source(image=demo_photo())
    codes = r.bank.codes(0, 1.0)
    styles = r.bank.blend(np.array([pose(r.classes, e, 1.0) for e in r.classes]), codes)
    rest = r.bank.blend(np.array([pose(r.classes, "neutral", 1.0)]), codes)
    frames = legibility.anchored_render(r, face, styles, rest)
    plain = r.render(face, styles)
    n = r.classes.index("neutral")
    assert np.abs(frames[n].astype(int) - face.sketch).mean() < 1.0
    assert np.abs(plain[n].astype(int) - face.sketch).mean() > 5 * np.abs(frames[n].astype(int) - face.sketch).mean()
    others = [i for i in range(len(r.classes)) if i != n]
    assert min(np.abs(frames[i].astype(int) - face.sketch).mean() for i in others) > 2.0
    assert legibility.conditions()["anchored"].anchor and not legibility.conditions()["default"].anchor


def test_score_splits_fer_faces_by_a_frontal_face(tmp_path):
    from emosketch.datasets.face import detect
    from emosketch.models import demo_photo

    gray = cv2.imread(str(demo_photo()), cv2.IMREAD_GRAYSCALE)
    x, y, w, h = detect(gray)
    cv2.imwrite(str(tmp_path / "face.png"), cv2.resize(gray[y:y + h, x:x + w], (48, 48), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(tmp_path / "hand.png"), np.full((48, 48), 128, np.uint8))  # nothing a detector finds
    key = {"1": {"condition": "c", "emotion": "happy", "source": "fer", "face": "face.png"},
           "2": {"condition": "c", "emotion": "sad", "source": "fer", "face": "hand.png"},
           "3": {"condition": "c", "emotion": "sad", "source": "sharp", "face": "astronaut.jpg"}}
    split = legibility.split_frontal(key, tmp_path)
    assert [split[t]["source"] for t in "123"] == ["fer, frontal face found", "fer, no frontal face found", "sharp"]
    answers = {"r": {"1": {"face": 2, "emotion": "happy"}, "2": {"face": 0, "emotion": "?"},
                     "3": {"face": 2, "emotion": "sad"}}}
    per = legibility.score(split, answers)["conditions"]["c"]["per_source"]
    assert per["fer, frontal face found"]["emotion"] == 1.0 and per["fer, no frontal face found"]["emotion"] == 0.0
    with pytest.raises(SystemExit, match="gone.png: not here; --frontal reads the study's FER\\+ faces"):
        legibility.split_frontal({"1": {**key["1"], "face": "gone.png"}}, tmp_path)  # before OpenCV's own warning


def test_score_splits_faces_by_whether_their_own_drawing_reads():
    key = {"r1:1": {"condition": "gray", "emotion": "happy", "source": "fer", "face": "a.png"},
           "r1:2": {"condition": "panel", "emotion": "happy", "source": "fer", "face": "a.png"},
           "r1:3": {"condition": "gray", "emotion": "sad", "source": "fer", "face": "b.png"},
           "r1:4": {"condition": "panel", "emotion": "sad", "source": "fer", "face": "b.png"},
           "r2:1": {"condition": "panel", "emotion": "sad", "source": "fer", "face": "b.png"},  # another study
           "r1:5": {"condition": "real", "emotion": "sad", "source": "real", "face": "c.png"}}
    answers = {"x": {"r1:1": {"face": 2, "emotion": "happy"}, "r1:2": {"face": 2, "emotion": "happy"},
                     "r1:3": {"face": 1, "emotion": "?"}, "r1:4": {"face": 0, "emotion": "?"}},
               "y": {"r1:1": {"face": 1, "emotion": "happy"}, "r1:3": {"face": 2, "emotion": "sad"},
                     "r1:4": {"face": 2, "emotion": "sad"}}}
    split = legibility.split_readable(key, answers, "gray")
    assert split["r1:2"]["source"] == "fer, gray read at once"  # 1 of 2 ratings: half reads
    assert split["r1:4"]["source"] == "fer, gray read at once"  # 1 of 2
    answers["y"]["r1:3"] = {"face": 1, "emotion": "sad"}
    split = legibility.split_readable(key, answers, "gray")
    assert split["r1:4"]["source"] == "fer, gray not read at once"
    assert split["r2:1"]["source"] == "fer" and split["r1:5"]["source"] == "real"
    per = legibility.score(split, answers)["conditions"]["panel"]["per_source"]
    assert per["fer, gray read at once"]["face_at_once"] == 1.0
    assert per["fer, gray not read at once"]["face_at_once"] == 0.5
    with pytest.raises(SystemExit, match="no tile of that condition"):
        legibility.split_readable(key, answers, "grey")
    faces = legibility.per_face(key, answers)  # each face's share seen at once, per condition, per study
    assert faces[0] == {"study": "r1", "source": "fer", "face": "a.png", "gray": 0.5, "panel": 1.0}
    assert faces[1] == {"study": "r1", "source": "fer", "face": "b.png", "gray": 0.0, "panel": 0.5}
    assert faces[2]["study"] == "r1" and faces[2]["face"] == "c.png" and faces[3]["study"] == "r2"
    assert "panel" not in faces[3]  # r2:1 has no rating: no share


def test_twins_tell_the_place_a_tile_is_shown_from_the_raters_own_spread():
    key = {"r1:1": {"condition": "d", "emotion": "happy", "source": "fer", "face": "a.png"},
           "r1:2": {"condition": "d2", "emotion": "happy", "source": "fer", "face": "a.png"},
           "r1:3": {"condition": "d", "emotion": "sad", "source": "fer", "face": "a.png"},
           "r1:4": {"condition": "d2", "emotion": "sad", "source": "fer", "face": "a.png"},
           "r1:5": {"condition": "d", "emotion": "fear", "source": "fer", "face": "a.png"}}  # no twin
    seen = {"r1:1": 2, "r1:2": 0, "r1:3": 1, "r1:4": 1, "r1:5": 2}  # happy read at once only where first shown
    answers = {f"r1:rater-{k}": {t: {"face": f, "emotion": "?"} for t, f in seen.items()} for k in range(4)}
    tw = legibility.twin_agreement(key, answers, "d", "d2")
    assert tw["pairs"] == 2 and tw["at_once"] == 0.5 and tw["at_once_twin"] == 0.0
    assert tw["halves_same_tile"] == 0.0 and tw["halves_tile_and_twin"] == 0.5
    assert tw["all_raters_tile_and_twin"] == 0.5
    answers["r1:rater-0"]["r1:2"] = {"face": 2, "emotion": "?"}  # one rater sees the twin at once too
    tw = legibility.twin_agreement(key, answers, "d", "d2")
    assert tw["halves_same_tile"] == pytest.approx(0.125) and tw["at_once_twin"] == pytest.approx(0.125)
    with pytest.raises(SystemExit, match="no tile of d has a twin"):
        legibility.twin_agreement(key, answers, "d", "gray")


def test_a_look_condition_draws_only_its_emotion_as_its_blend():
    """fear-happy4: only fear tiles, drawn as the pose {fear: 1, happy: 0.4}; the default's fear differs."""
    tiles = legibility.study_tiles(1, 0, 0, 0, ("default", "fear-happy4"))
    by = {(t[1]["condition"], t[1]["emotion"]): t[0] for t in tiles}
    assert sorted(e for c, e in by if c == "fear-happy4") == ["fear"]
    assert len([1 for c, _ in by if c == "default"]) == 6
    mixed, plain = by["fear-happy4", "fear"], by["default", "fear"]
    assert mixed.shape == plain.shape == (64, 128) and mixed.dtype == bool
    assert 0.005 < (mixed != plain).mean() < 0.2  # the same face, its mouth redrawn
    assert legibility.conditions()["fear-happy4"].mix == (("fear", (("fear", 1.0), ("happy", 0.4))),)


def test_a_sketch_condition_redraws_the_photo_sketched_with_its_settings():
    """sigma18: the photo is sketched with xdog sigma 1.8 (bolder lines) before the generator redraws it, so its
    tiles differ from the default's (each condition's drawing is its own, not one cached for the other)."""
    from emosketch.interpolate.render import Renderer
    from emosketch.models import default_generator, demo_photo

    r = Renderer(default_generator(), "cpu")
    known = legibility.conditions()
    assert known["sigma18"].sketch == (("sigma", 1.8),) and known["sigma18"].panel is known["default"].panel
    own, bold = legibility.framed_source(r, demo_photo(), None), legibility.framed_source(r, demo_photo(), None,
                                                                                        (("sigma", 1.8),))
    assert (bold.sketch < 128).mean() > (own.sketch < 128).mean() + 0.02  # bolder lines: more ink
    tiles = legibility.study_tiles(1, 0, 0, 0, ("default", "sigma18", "gray", "gray-sigma18"))
    by = {(t[1]["condition"], t[1]["emotion"]): t[0] for t in tiles}
    for e in ("neutral", "surprise"):
        assert (by["sigma18", e] != by["default", e]).mean() > 0.01
        assert np.abs(by["gray-sigma18", e].astype(int) - by["gray", e]).mean() > 1.0


def test_face_and_gray_side_conditions_draw_their_own_tiles():
    """plain-crop frames a photo without the upright search (a tilted close-up is drawn whole, the default turns
    it upright); gray64 shows the gray sketch shrunk to the panel's 64 rows."""
    import cv2

    from emosketch.datasets.decode import decode_file
    from emosketch.datasets.face import detect
    from emosketch.interpolate.render import Renderer
    from emosketch.models import default_generator, demo_photo

    known = legibility.conditions()
    assert known["plain-crop"].face == (("upright", False),) and known["upright"].face == (("upright", True),)
    gray = decode_file(demo_photo())
    x, y, w, h = detect(gray)
    close = cv2.resize(gray[y - w // 5:y + h + w // 5, x - w // 5:x + w + w // 5], (96, 96))
    tilted = cv2.warpAffine(close, cv2.getRotationMatrix2D((48, 48), 25, 1.0), (96, 96), borderMode=cv2.BORDER_REPLICATE)
    r = Renderer(default_generator(), "cpu")
    settings = r.state.get("dataset", {})
    assert "turned" in r.source_from_gray(tilted, "photo", settings).how
    plain = {**settings, "face_crop": {**settings.get("face_crop", {}), "upright": False}}
    assert "(whole" in r.source_from_gray(tilted, "photo", plain).how
    tiles = legibility.study_tiles(1, 0, 0, 0, ("gray", "gray64"))
    by = {(t[1]["condition"], t[1]["emotion"]): t[0] for t in tiles}
    assert by["gray64", "happy"].shape == (64, 64) and by["gray", "happy"].shape == (128, 128)
    small = cv2.resize(by["gray", "happy"], (64, 64), interpolation=cv2.INTER_AREA)
    assert np.abs(small.astype(int) - by["gray64", "happy"]).max() <= 1
    inputs = legibility.study_tiles(1, 0, 0, 0, ("input-gray", "input-panel"))  # the face's own sketch, one tile each
    assert [(t[1]["condition"], t[1]["emotion"]) for t in inputs] == [("input-gray", "neutral"), ("input-panel", "neutral")]
    assert inputs[0][0].dtype == np.uint8 and inputs[0][0].shape == (128, 128)
    assert inputs[1][0].dtype == bool and inputs[1][0].shape == (64, 128)
    twins = legibility.study_tiles(1, 0, 0, 0, ("default", "default-twin"))  # the same tiles a second time
    by = {(t[1]["condition"], t[1]["emotion"]): t[0] for t in twins}
    assert len(by) == 12 and all(np.array_equal(by["default", e], by["default-twin", e]) for e in legibility.EMOTIONS)


def test_score_splits_sharp_portraits_by_collection(tmp_path):
    pool = [tmp_path / "jaffe" / "neutral" / "KA.NE.png", tmp_path / "mux" / "neutral" / "Someone_0001.jpg"]
    key = {"1": {"condition": "panel", "emotion": "happy", "source": "sharp", "face": "KA.NE.png"},
           "2": {"condition": "panel", "emotion": "happy", "source": "sharp", "face": "Someone_0001.jpg"},
           "3": {"condition": "panel", "emotion": "happy", "source": "sharp", "face": "astronaut.jpg"},
           "4": {"condition": "panel", "emotion": "happy", "source": "sharp", "face": "elsewhere.jpg"},
           "5": {"condition": "panel", "emotion": "happy", "source": "fer", "face": "KA.NE.png"}}
    split = legibility.split_collections(key, pool)
    assert [split[t]["source"] for t in "12345"] == [
        "sharp, jaffe", "sharp, mux", "sharp, the demo photo", "sharp", "fer"]
    answers = {"x": {"1": {"face": 2, "emotion": "happy"}, "2": {"face": 0, "emotion": "?"},
                     "3": {"face": 1, "emotion": "happy"}, "4": {"face": 2, "emotion": "sad"},
                     "5": {"face": 2, "emotion": "happy"}}}
    per = legibility.score(split, answers)["conditions"]["panel"]["per_source"]
    assert per["sharp, jaffe"]["face_at_once"] == 1.0 and per["sharp, mux"]["face_at_once"] == 0.0
    assert per["sharp, the demo photo"]["emotion"] == 1.0 and per["sharp"]["emotion"] == 0.0


def test_a_zoomed_condition_shows_the_middle_of_the_drawing_larger():
    known = legibility.conditions()
    assert known["default"].zoom == 1.0 and known["zoom1.25"].zoom == 1.25 and known["zoom1.5"].zoom == 1.5
    assert known["zoom1.5"].panel == known["default"].panel
    assert dict(known["detail48"].sketch) == {"detail": 48} and known["detail48"].panel == known["default"].panel
    assert known["gray-detail48"].panel is None


def test_real_sketches_are_drawn_as_the_data_were_and_ink_conditions_name_their_floor():
    """The real baselines stay the training data's sketches (no photo ink floor); ink0 remakes `default` as it
    drew until round 100, ink14 as it draws now."""
    from emosketch.datasets.photo import PHOTO_MIN_INK, model_input
    from emosketch.models import demo_photo

    known = legibility.conditions()
    assert dict(known["ink0"].sketch) == {"min_ink": 0.0} and dict(known["ink14"].sketch) == {"min_ink": PHOTO_MIN_INK}
    assert known["ink0"].panel == known["default"].panel and known["gray-ink0"].panel is None
    gray = cv2.imread(str(demo_photo()), cv2.IMREAD_GRAYSCALE)
    pale = (gray.astype(np.float32) * 0.15 + 210).astype(np.uint8)
    data = {"sketch": {"method": "xdog"}, "face_crop": {}}
    real = legibility.real_sketch(pale, data, 64, ())
    plain = model_input(pale, {**data, "sketch": {"method": "xdog", "min_ink": 0.0},
                               "face_crop": {"upright": False}}, 64, "sketch", "photo")[0]
    assert np.array_equal(real, plain)
    assert (legibility.real_sketch(pale, data, 64, (("min_ink", 0.14),)) < 128).mean() > (real < 128).mean()


def test_sharp_among_picks_only_the_listed_portraits():
    from emosketch.models import demo_photo

    assert legibility.sharp_faces(3, 0, {demo_photo().name}) == [demo_photo()]  # the only one listed
    assert legibility.sharp_faces(3, 0, {"nobody.jpg"}) == []
    assert legibility.sharp_faces(2, 0)[0] == demo_photo()  # without a list: the demo photo first
    pool = legibility.sharp_pool()
    if pool:
        names = {p.name for p in pool[:4]}
        picked = legibility.sharp_faces(3, 5, names)
        assert len(picked) == 3 and {p.name for p in picked} <= names and demo_photo() not in picked


def test_a_vignette_clears_the_corners_and_keeps_the_middle():
    ink = np.zeros((128, 128), np.uint8)  # all ink
    out = legibility.vignetted(ink, 1.0)
    assert out[0, 0] == out[0, -1] == out[-1, 0] == out[-1, -1] == 255  # the corners: paper
    assert (out[32:96, 32:96] == 0).all() and out[64, 0] < 200 and out[0, 64] < 200  # ink where it touches a side
    assert (legibility.vignetted(ink, 1.5) == 0).all()  # an ellipse past the corners clears nothing



def test_score_names_a_missing_study_and_a_bad_rename_in_one_line(tmp_path):
    """A --study path given from another folder was a 16-line FileNotFoundError, --same nonsense a ValueError."""
    import subprocess

    script = Path(legibility.__file__)
    for args, words in ((["--study", str(tmp_path / "nope")], "nope/key.json: no such key"),
                        (["--study", str(Path(__file__).parents[1] / "benchmarks/legibility-studies/round107"),
                          "--same", "nonsense"], "--same nonsense: give OLD=NEW")):
        run = subprocess.run([sys.executable, str(script), "score", *args, "--out", str(tmp_path / "out")],
                             capture_output=True, text=True)
        assert run.returncode == 1 and words in run.stderr and "Traceback" not in run.stderr, run.stderr
