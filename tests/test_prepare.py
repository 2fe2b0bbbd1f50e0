"""prepare: every layout to a Sketch dataset, skips with reasons, class selection, resume, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import FERPLUS
from datasets_fixtures import (
    make_affectnet,
    make_affectnet96,
    make_fer2013,
    make_ferplus,
    make_folder,
)

from emosketch.datasets import prepare as prep
from emosketch.datasets.dataset import info, load, sample_grid
from emosketch.datasets.prepare import PrepareConfig, prepare
from emosketch.datasets.readers import read_ferplus
from emosketch.datasets.sampler import balanced_indices, balanced_sampler
from emosketch.datasets.sketch import SketchConfig
from emosketch.errors import EmosketchError

LAYOUTS = {"affectnet": make_affectnet, "affectnet96": make_affectnet96, "fer2013": make_fer2013,
           "ferplus": make_ferplus, "folder": make_folder}


def quiet(**kw) -> dict:
    return {"progress": False, "log": lambda _msg: None, **kw}


@pytest.mark.parametrize("kind", sorted(LAYOUTS))
def test_each_layout_prepares_with_skips_and_reasons(tmp_path, kind):
    src = tmp_path / ("fer2013.csv" if kind == "fer2013" else kind)
    if kind != "fer2013":
        src.mkdir()
    expected = LAYOUTS[kind](src)
    meta = prepare(f"{kind}:{src}", tmp_path / "out", PrepareConfig(size=32, chunk=2), **quiet())
    ds = load(tmp_path / "out")
    assert len(ds) == expected["kept"] == meta["count"]
    assert ds.images.shape == (expected["kept"], 32, 32) and ds.images.dtype == np.uint8
    assert ds.labels.dtype == np.int16 and ds.split.dtype == np.uint8
    assert ds.faces is not None and ds.faces.shape == ds.images.shape
    assert meta["skipped_by_reason"] == expected["skipped"]
    assert all(set(s) == {"item", "reason"} for s in meta["skipped"])
    assert meta["sketch"]["method"] == "xdog" and meta["face_crop"]["miss"] == "keep"
    assert set(np.unique(ds.images)) <= {0, 255}
    assert not list(tmp_path.glob(".out.partial*"))


def test_labels_and_splits_follow_the_source(tmp_path):
    make_fer2013(tmp_path / "fer.csv")
    prepare(f"fer2013:{tmp_path / 'fer.csv'}", tmp_path / "out", PrepareConfig(size=32), **quiet())
    ds = load(tmp_path / "out")
    assert [ds.classes[i] for i in ds.labels] == ["happy", "sad", "anger", "neutral", "surprise", "disgust"]
    assert ds.split.tolist() == [0, 0, 1, 2, 0, 0]  # Training, Training, PublicTest, PrivateTest, Training x2
    prepare(f"fer2013:{tmp_path / 'fer.csv'}", tmp_path / "merged", PrepareConfig(size=32, mapping={"disgust": "anger"}),
            **quiet())
    merged = load(tmp_path / "merged")
    assert [merged.classes[i] for i in merged.labels] == ["happy", "sad", "anger", "neutral", "surprise", "anger"]


def test_affectnet_uses_boxes_and_keeps_train_val(tmp_path):
    make_affectnet(tmp_path / "an")
    meta = prepare(f"affectnet:{tmp_path / 'an'}", tmp_path / "out", PrepareConfig(size=32), **quiet())
    assert meta["face_crop"]["used"] == {"box": 5}
    assert sorted(load(tmp_path / "out").split.tolist()) == [0, 0, 0, 1, 1]


def test_ferplus_majority_rule_and_soft_labels(tmp_path):
    make_ferplus(tmp_path / "fp")
    prepare(f"ferplus:{tmp_path / 'fp'}", tmp_path / "out", PrepareConfig(size=32, soft_labels=True), **quiet())
    ds = load(tmp_path / "out")
    assert [ds.classes[i] for i in ds.labels] == ["happy", "neutral", "anger"] * 2
    soft = np.load(tmp_path / "out" / "soft_labels.npy")
    assert soft.shape == (6, 3) and np.allclose(soft.sum(1), 1)
    happy, neutral, anger = (ds.classes.index(c) for c in ("happy", "neutral", "anger"))
    assert soft[0, happy] == pytest.approx(0.8) and soft[0, neutral] == pytest.approx(0.2)
    assert soft[2, anger] == pytest.approx(1.0)  # its 3 contempt votes name no class of this dataset
    prepare(f"ferplus:{tmp_path / 'fp'}", tmp_path / "merged",
            PrepareConfig(size=32, soft_labels=True, mapping={"contempt": "anger"}), **quiet())
    assert np.load(tmp_path / "merged" / "soft_labels.npy")[2, anger] == pytest.approx(1.0)


def test_class_selection_renaming_and_merging(tmp_path):
    make_affectnet96(tmp_path / "a96")
    cfg = PrepareConfig(size=32, classes=["happy", "anger", "frustration"], mapping={"contempt": "frustration",
                                                                                     "Angry": "anger"})
    meta = prepare(f"affectnet96:{tmp_path / 'a96'}", tmp_path / "out", cfg, **quiet())
    assert meta["classes"] == ["happy", "anger", "frustration"]
    assert meta["skipped_by_reason"]["class not selected"] == 3  # sad x2 (one broken), neutral
    with pytest.raises(EmosketchError, match="class\\(es\\) fear not in"):
        prepare(f"affectnet96:{tmp_path / 'a96'}", tmp_path / "o2", PrepareConfig(classes=["fear"]), **quiet())
    with pytest.raises(EmosketchError, match="--map contemt=...: no item of .* is labelled or voted 'contemt'"):
        prepare(f"affectnet96:{tmp_path / 'a96'}", tmp_path / "o3", PrepareConfig(mapping={"contemt": "anger"}),
                **quiet())
    with pytest.raises(EmosketchError, match="both sides must be class names"):
        prepare(f"affectnet96:{tmp_path / 'a96'}", tmp_path / "o4", PrepareConfig(mapping={"contempt": 3}), **quiet())
    assert not (tmp_path / "o3").exists() and not (tmp_path / "o4").exists()


def test_synthetic_splits_hold_out_whole_identities(tmp_path):
    meta = prepare("synthetic", tmp_path / "out", PrepareConfig(size=32, count=160, seed=3), **quiet())
    ds = load(tmp_path / "out")
    ident = np.load(tmp_path / "out" / "identity.npy")
    assert len(ds) == 160 and meta["classes"][0] == "neutral"
    train, test = set(ident[ds.split == 0]), set(ident[ds.split == 2])
    assert train and test and not (train & test)
    assert np.bincount(ds.labels).tolist() == [20] * 8


def test_options_a_source_cannot_use_are_refused_or_noted(tmp_path):
    """--soft-labels on a source without votes wrote no soft_labels.npy and said nothing; sketch settings
    for synthetic faces (drawn as line drawings already) were dropped silently."""
    make_folder(tmp_path / "f")
    with pytest.raises(EmosketchError, match="only a ferplus source has; this folder source has none"):
        prepare(f"folder:{tmp_path / 'f'}", tmp_path / "soft", PrepareConfig(size=32, soft_labels=True), **quiet())
    assert not (tmp_path / "soft").exists() and not (tmp_path / ".soft.partial").exists()
    messages: list[str] = []
    cfg = PrepareConfig(size=32, count=16, sketch=SketchConfig(method="canny"))
    prepare("synthetic", tmp_path / "syn", cfg, progress=False, log=messages.append)
    assert any("sketch settings are not used" in m for m in messages)
    messages.clear()
    prepare("synthetic", tmp_path / "syn2", PrepareConfig(size=32, count=16), progress=False, log=messages.append)
    assert not any("sketch settings" in m for m in messages)


@pytest.mark.parametrize("folder, advice", [("very.happy", "--map very.happy=veryhappy"),
                                            ("2face", "--map 2face=face"),  # not from a digit
                                            ("Sad Face", "--map sad face=sadface"),
                                            ("sad=x", "as sadx (its name holds '=' or ','")])  # it advised --map sad=x=sadx
def test_a_class_name_no_pack_can_show_gets_advice_that_works(tmp_path, folder, advice):
    make_folder(tmp_path / "f")
    (tmp_path / "f" / "happy").rename(tmp_path / "f" / folder)
    with pytest.raises(EmosketchError, match="a class name is lower-case letters") as info:
        prepare(f"folder:{tmp_path / 'f'}", tmp_path / "out", PrepareConfig(size=32), **quiet())
    assert advice in str(info.value), str(info.value)


def test_label_lists_cannot_name_files_outside_the_dataset_and_a_nan_box_is_no_box(tmp_path):
    """A FER+ label.csv row of /etc/hostname or ../../etc/passwd made prepare open that file; a face box of NaN
    dropped a usable face as "error: ValueError"."""
    import csv

    make_ferplus(tmp_path / "fp")
    (tmp_path / "secret.png").write_bytes((tmp_path / "fp" / "FER2013Train" / "fer0.png").read_bytes())
    happy = [2, 8, 0, 0, 0, 0, 0, 0, 0, 0]
    with open(tmp_path / "fp" / "FER2013Train" / "label.csv", "a", newline="") as fh:
        csv.writer(fh).writerows([[str(tmp_path / "secret.png"), "(0, 0, 48, 48)", *happy],
                                  ["../../secret.png", "(0, 0, 48, 48)", *happy],
                                  ["fer0.png", "(nan, 0, 48, 48)", *happy]])
    index = read_ferplus(tmp_path / "fp")
    outside = [k for k, why in index.skipped if why == "names a file outside the dataset folder"]
    assert len(outside) == 2 and not any("secret" in item.ref[1] for item in index.items)
    nan_row = [item for item in index.items if item.key == "FER2013Train/fer0.png"]
    assert len(nan_row) == 2 and nan_row[-1].box is None  # kept, its face found in the image


def test_a_test_fraction_of_0_makes_no_test_split():
    """split_fractions [0.9, 0.1, 0.0] put 8 of 200 faces in the test split: rounding's leftover went to test."""
    from emosketch.datasets.readers import Item

    items = [Item(f"k{i}", "happy", None, ("file", "x")) for i in range(37)]
    splits = prep.assign_splits(items, [0] * 37, [0.9, 0.1, 0.0], seed=0)
    assert splits.count(prep.TEST) == 0 and splits.count(prep.VAL) == 4 and splits.count(prep.TRAIN) == 33


def test_an_edited_meta_json_is_one_line_or_read_as_far_as_it_goes(tmp_path):
    """dataset info on a meta.json without its source, or with a source or skipped list of the wrong type, was
    "unexpected TypeError: 'NoneType' object is not subscriptable"."""
    prepare("synthetic", tmp_path / "ds", PrepareConfig(size=32, count=16), **quiet())
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    (tmp_path / "ds" / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if k != "source"}))
    assert info(load(tmp_path / "ds"))["source"]["kind"] == "unknown"
    for key, value in (("source", "x"), ("skipped_by_reason", [1])):
        (tmp_path / "ds" / "meta.json").write_text(json.dumps(meta | {key: value}))
        with pytest.raises(EmosketchError, match=f"its {key} is .*, not an object; the dataset is damaged"):
            load(tmp_path / "ds")


def test_a_folder_source_counts_what_it_does_not_read():
    """A FIFO and a link to /dev/zero in a class folder, and a class folder holding only an empty folder, were
    dropped unsaid."""
    import os
    import tempfile

    from emosketch.datasets.readers import read_folder

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_folder(root / "f")
        os.mkfifo(root / "f" / "happy" / "pipe.png")
        (root / "f" / "happy" / "zero.png").symlink_to("/dev/zero")
        (root / "f" / "neutral" / "sub").mkdir(parents=True)
        index = read_folder(root / "f")
        why = dict(index.skipped)
        assert why["happy/pipe.png"] == why["happy/zero.png"] == "not a regular file"
        assert why["neutral/"] == "a class folder with no files"
        assert not any("pipe" in item.key or "zero" in item.key for item in index.items)


def test_same_inputs_give_the_same_bytes_with_any_workers(tmp_path):
    make_folder(tmp_path / "f")
    for name, workers in (("a", 1), ("b", 1), ("c", 2)):
        prepare(f"folder:{tmp_path / 'f'}", tmp_path / name, PrepareConfig(size=32, chunk=2), workers=workers,
                **quiet())
    for file in ("images.npy", "faces.npy", "labels.npy", "split.npy"):
        a = (tmp_path / "a" / file).read_bytes()
        assert a == (tmp_path / "b" / file).read_bytes() == (tmp_path / "c" / file).read_bytes(), file


def test_interrupted_run_resumes_to_the_same_result(tmp_path, monkeypatch):
    cfg = PrepareConfig(size=32, count=96, chunk=16)
    prepare("synthetic", tmp_path / "whole", cfg, **quiet())

    real = prep.process_chunk
    calls = {"n": 0}

    def dies_on_third(items, c):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(items, c)

    monkeypatch.setattr(prep, "process_chunk", dies_on_third)
    said = []
    with pytest.raises(KeyboardInterrupt):  # a stop, not an error: the CLI says "interrupted" and exits 130
        prepare("synthetic", tmp_path / "out", cfg, progress=False, log=said.append)
    assert any("stopped with 4 of 6 chunks left" in m and "run the same command again" in m for m in said)
    assert not (tmp_path / "out").exists() and (tmp_path / ".out.partial").exists()
    monkeypatch.setattr(prep, "process_chunk", real)
    messages = []
    prepare("synthetic", tmp_path / "out", cfg, progress=False, log=messages.append)
    assert any("resuming: 2 of 6 chunks" in m for m in messages)
    for file in ("images.npy", "labels.npy", "split.npy"):
        assert (tmp_path / "whole" / file).read_bytes() == (tmp_path / "out" / file).read_bytes()
    assert not (tmp_path / ".out.partial").exists()


def test_partial_from_other_settings_is_restarted(tmp_path, monkeypatch):
    def boom(items, c):
        raise KeyboardInterrupt

    monkeypatch.setattr(prep, "process_chunk", boom)
    with pytest.raises(KeyboardInterrupt):
        prepare("synthetic", tmp_path / "out", PrepareConfig(size=32, count=16), **quiet())
    monkeypatch.undo()
    messages = []
    prepare("synthetic", tmp_path / "out", PrepareConfig(size=48, count=16), progress=False, log=messages.append)
    assert any("starting afresh" in m for m in messages)
    assert load(tmp_path / "out").images.shape[1] == 48


def test_existing_output_is_kept_unless_forced(tmp_path):
    prepare("synthetic", tmp_path / "out", PrepareConfig(size=32, count=8), **quiet())
    with pytest.raises(EmosketchError, match="already exists"):
        prepare("synthetic", tmp_path / "out", PrepareConfig(size=32, count=8), **quiet())
    prepare("synthetic", tmp_path / "out", PrepareConfig(size=32, count=16), force=True, **quiet())
    assert len(load(tmp_path / "out")) == 16


def test_bad_sources_are_clear_errors(tmp_path):
    for spec, message in [("imagenet:/x", "KIND must be one of"), ("ferplus", "give the dataset's path"),
                          (f"ferplus:{tmp_path}", r"not a FER\+ folder"), (f"affectnet:{tmp_path}", "not an AffectNet"),
                          (f"folder:{tmp_path / 'nope'}", "no such file")]:
        with pytest.raises(EmosketchError, match=message):
            prepare(spec, tmp_path / "out", PrepareConfig(), **quiet())


def test_info_grid_and_load_errors(tmp_path):
    prepare("synthetic", tmp_path / "out", PrepareConfig(size=32, count=64), **quiet())
    ds = load(tmp_path / "out")
    summary = info(ds)
    assert summary["totals"]["total"] == 64 and summary["counts"]["happy"]["total"] == 8
    grid = sample_grid(ds, per_class=3)
    assert grid.ndim == 2 and grid.shape[0] == 8 * (96 + 4)
    with pytest.raises(EmosketchError, match="not a sketch dataset") as caught:
        load(tmp_path)
    assert f"--source folder:{tmp_path} --out data/{tmp_path.name}" in str(caught.value)  # never --out the photos
    (tmp_path / "me.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(EmosketchError, match="a file, not a sketch dataset folder") as caught:
        load(tmp_path / "me.jpg")
    assert "--out" not in str(caught.value)
    labels = (tmp_path / "out" / "labels.npy").read_bytes()
    for damage, words in ((b"0\n1\n2\n", "labels.npy is not a NumPy .npy array file"), (b"", "labels.npy is empty"),
                          (labels[:len(labels) // 2], "labels.npy: ")):
        (tmp_path / "out" / "labels.npy").write_bytes(damage)
        with pytest.raises(EmosketchError, match=f"damaged dataset \\({words}") as caught:
            load(tmp_path / "out")
        assert "pickle" not in str(caught.value) and "\n" not in str(caught.value)
    (tmp_path / "out" / "labels.npy").write_bytes(labels)
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    (tmp_path / "out" / "meta.json").write_text(json.dumps({**meta, "count": 65}))
    with pytest.raises(EmosketchError, match="meta.json says count 65, but images.npy holds 64"):
        load(tmp_path / "out")


def test_balanced_sampling_draws_classes_equally():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10)
    drawn = np.bincount(labels[balanced_indices(labels, 30000, seed=1)], minlength=3) / 30000
    assert np.allclose(drawn, 1 / 3, atol=0.02)
    sampler = balanced_sampler(labels, num_samples=30000, seed=1)
    drawn = np.bincount(labels[list(sampler)], minlength=3) / 30000
    assert np.allclose(drawn, 1 / 3, atol=0.02)


@pytest.mark.skipif(not (FERPLUS / "FER2013Train").is_dir(), reason=f"real FER+ faces not found at {FERPLUS}")
def test_real_ferplus_counts_match_its_readme():
    index = read_ferplus(FERPLUS)
    counts = {}
    for item in index.items:
        counts.setdefault(item.split, {}).setdefault(item.label, 0)
        counts[item.split][item.label] += 1
    assert counts[0] == {"neutral": 7485, "happy": 7080, "surprise": 2748, "sad": 2388, "anger": 1648,
                         "fear": 346, "disgust": 52, "contempt": 76}
    assert counts[1]["contempt"] == 9 and counts[1]["neutral"] == 1062


@pytest.mark.skipif(not (FERPLUS / "FER2013Valid").is_dir(), reason=f"real FER+ faces not found at {FERPLUS}")
def test_real_ferplus_faces_prepare(tmp_path):
    root = tmp_path / "fp" / "FER2013Valid"
    root.mkdir(parents=True)
    lines = (FERPLUS / "FER2013Valid" / "label.csv").read_text().splitlines()[:40]
    (root / "label.csv").write_text("\n".join(lines) + "\n")
    for line in lines:  # link, never copy, the real images
        name = line.split(",")[0]
        (root / name).symlink_to(FERPLUS / "FER2013Valid" / name)
    meta = prepare(f"ferplus:{tmp_path / 'fp'}", tmp_path / "out", PrepareConfig(size=64), **quiet())
    ds = load(tmp_path / "out")
    assert len(ds) == meta["count"] > 20 and set(ds.split.tolist()) == {1}
    ink = (ds.images < 128).mean(axis=(1, 2))
    assert (ink > 0.01).all() and (ink < 0.5).all()  # real drawings, neither blank nor black
    assert json.loads((tmp_path / "out" / "meta.json").read_text())["source"]["kind"] == "ferplus"


def test_a_source_with_no_usable_face_is_an_error(tmp_path):
    (tmp_path / "f" / "happy").mkdir(parents=True)
    (tmp_path / "f" / "happy" / "a.png").write_bytes(b"not a png")
    (tmp_path / "f" / "happy" / "b.txt").write_text("nor this")
    with pytest.raises(EmosketchError, match="no usable face in 2 items \\(skipped: 2 not an image\\)"):
        prepare(f"folder:{tmp_path / 'f'}", tmp_path / "out", PrepareConfig(size=32), **quiet())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_box_cropped_data_records_how_a_photo_should_be_framed(tmp_path):
    """FER+-style data (every crop the dataset's own box) gets a measured photo margin; a photo crop at
    its Haar box alone measures close, one with a wide margin measures wide; Haar-cropped data gets none."""
    import csv

    import cv2

    from emosketch.datasets.decode import decode_file
    from emosketch.datasets.face import FaceConfig, crop_face
    from emosketch.models import demo_photo

    make_ferplus(tmp_path / "fp")  # 6 faces: too few to measure (20 must be found)
    meta = prepare(f"ferplus:{tmp_path / 'fp'}", tmp_path / "out", PrepareConfig(size=32), **quiet())
    assert meta["face_crop"]["photo_margin"] is None and meta["face_crop"]["photo_margin_measured"]["tried"] == 6
    photo = decode_file(demo_photo())
    margins = {}
    for margin in (0.0, 0.3):
        root = tmp_path / f"photo{margin}"
        rows = []
        for split in ("FER2013Train", "FER2013Valid"):
            (root / split).mkdir(parents=True)
            rows = []
            for i in range(16):  # the same face, shifted by a pixel or two
                crop, _ = crop_face(np.roll(photo, (i % 3, i // 4), (0, 1)), 48, FaceConfig(margin=margin))
                cv2.imwrite(str(root / split / f"f{i}.png"), crop)
                rows.append([f"f{i}.png", "(0, 0, 48, 48)", 10, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            with open(root / split / "label.csv", "w", newline="") as fh:
                csv.writer(fh).writerows(rows)
        meta = prepare(f"ferplus:{root}", tmp_path / f"out{margin}", PrepareConfig(size=48), **quiet())
        assert meta["face_crop"]["used"] == {"box": 32} and meta["face_crop"]["photo_margin_measured"]["found"] >= 20
        margins[margin] = meta["face_crop"]["photo_margin"]
        assert load(tmp_path / f"out{margin}").meta["face_crop"]["photo_margin"] == margins[margin]
    assert margins[0.0] < 0.15 < margins[0.3]
    make_folder(tmp_path / "f")
    meta = prepare(f"folder:{tmp_path / 'f'}", tmp_path / "fold", PrepareConfig(size=32), **quiet())
    assert meta["face_crop"]["photo_margin"] is None and "photo_margin_measured" not in meta["face_crop"]


def test_a_csv_field_past_the_csv_modules_limit_is_one_line(tmp_path):
    """A label file with a field of 200,000 characters was a traceback (_csv.Error)."""
    from datasets_fixtures import make_ferplus

    make_ferplus(tmp_path / "fp")
    label = tmp_path / "fp" / "FER2013Train" / "label.csv"
    label.write_text(label.read_text() + "x" * 200_000 + ",1\n")
    with pytest.raises(EmosketchError, match=r"label.csv: line \d+: not a readable CSV row"):
        prepare(f"ferplus:{tmp_path / 'fp'}", tmp_path / "out", PrepareConfig(size=32), **quiet())


def test_a_partial_folder_is_never_emptied_of_files_prepare_did_not_write_and_a_damaged_plan_restarts(tmp_path):
    partial = tmp_path / ".out.partial"
    partial.mkdir()
    (partial / "mine.txt").write_text("a user's notes")
    with pytest.raises(EmosketchError, match="holds mine.txt, which prepare did not write"):
        prepare("synthetic", tmp_path / "out", PrepareConfig(size=32, count=16), **quiet())
    assert (partial / "mine.txt").read_text() == "a user's notes"
    (partial / "mine.txt").unlink()
    (partial / "plan.json").write_text("{bad")  # a plan cut short by a kill
    messages = []
    prepare("synthetic", tmp_path / "out", PrepareConfig(size=32, count=16), progress=False, log=messages.append)
    assert any("plan is damaged" in m for m in messages) and load(tmp_path / "out").images.shape[0] == 16


def test_a_class_whose_every_item_was_skipped_is_named(tmp_path):
    for name, ok in (("happy", True), ("sad", False)):
        (tmp_path / "src" / name).mkdir(parents=True)
        for i in range(3):
            path = tmp_path / "src" / name / f"{i}.png"
            if ok:
                cv2.imwrite(str(path), (np.random.default_rng(i).random((48, 48)) * 255).astype(np.uint8))
            else:
                path.write_text("not a picture")
    messages = []
    meta = prepare(f"folder:{tmp_path / 'src'}", tmp_path / "out", PrepareConfig(size=32), progress=False,
                   log=messages.append)
    assert meta["classes"] == ["happy", "sad"] and sum(meta["counts"]["sad"].values()) == 0
    assert any("class(es) sad kept no usable face" in m for m in messages)


def test_what_lies_beside_train_val_test_folders_is_counted_as_skipped(tmp_path):
    img = (np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)
    for folder in ("train/happy", "val/happy", "sad"):
        (tmp_path / "src" / folder).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / "src" / folder / "a.png"), img)
    (tmp_path / "src" / "notes.txt").write_text("x")
    meta = prepare(f"folder:{tmp_path / 'src'}", tmp_path / "out", PrepareConfig(size=32), **quiet())
    assert meta["skipped_by_reason"]["beside the train/val/test folders"] == 2 and meta["classes"] == ["happy"]



def test_a_min_side_below_one_is_refused():
    """min_side -5 had kept 1-pixel images the docs say are skipped."""
    with pytest.raises(EmosketchError, match="min_side -5: from 1 to 4096"):
        PrepareConfig(min_side=-5)


def test_training_refuses_a_dataset_of_one_class_before_any_work(tmp_path):
    """A one-class dataset (prepare --classes happy) had met NaN losses at train's step 1 and scored 1.000 as a
    classifier; both now refuse it in one line and write nothing."""
    from emosketch.evaluate.classifier import ClassifierConfig, train_classifier
    from emosketch.gan.train import TrainConfig, train

    (tmp_path / "src" / "happy").mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(tmp_path / "src" / "happy" / f"{i}.png"),
                    (np.random.default_rng(i).random((48, 48)) * 255).astype(np.uint8))
    prepare(f"folder:{tmp_path / 'src'}", tmp_path / "ds", PrepareConfig(size=32), progress=False, log=lambda m: None)
    with pytest.raises(EmosketchError, match="one class \\(happy\\); training needs two classes"):
        train(TrainConfig(steps=2, batch_size=2), tmp_path / "ds", tmp_path / "run", device="cpu", progress=False,
              log=lambda m: None)
    with pytest.raises(EmosketchError, match="one class \\(happy\\)"):
        train_classifier(tmp_path / "ds", tmp_path / "c.pt", ClassifierConfig(epochs=1), device="cpu", progress=False,
                         log=lambda m: None)
    assert not (tmp_path / "run").exists() and not (tmp_path / "c.pt").exists()


def test_a_fer2013_row_with_a_usage_it_does_not_know_is_skipped_and_counted(tmp_path):
    """A row whose Usage was "Bogus" went into the train split unreported."""
    from emosketch.datasets.readers import read_fer2013

    pixels = " ".join(["128"] * 48 * 48)
    (tmp_path / "fer.csv").write_text("emotion,pixels,Usage\n"
                                      f"3,{pixels},Training\n4,{pixels},Bogus\n0,{pixels},\n")
    index = read_fer2013(tmp_path / "fer.csv")
    assert [(i.label, i.split) for i in index.items] == [("happy", 0)]
    assert index.skipped == [("fer.csv:3", "unknown Usage 'Bogus'"), ("fer.csv:4", "no Usage")]


def test_a_link_to_nothing_in_a_folder_source_is_counted_as_skipped(tmp_path):
    from emosketch.datasets.readers import read_folder

    for name in ("happy", "sad"):
        (tmp_path / name).mkdir()
        cv2.imwrite(str(tmp_path / name / "0.png"), np.full((48, 48), 128, np.uint8))
    (tmp_path / "sad" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    index = read_folder(tmp_path)
    assert len(index.items) == 2 and index.skipped == [("sad/gone.png", "missing file (a link to nothing)")]


@pytest.mark.parametrize("kwargs, words", [
    ({"count": 10**12}, "count 1,000,000,000,000: synthetic faces from 1 to 2,000,000"),  # 7 TiB asked of numpy
    ({"count": 0}, "count 0"), ({"size": 32.5}, "size must be a whole number"), ({"chunk": 2.5}, "chunk must be"),
    ({"size": "64"}, "size must be a whole number"), ({"split_fractions": [float("nan"), 0.5, 0.5]}, "split_fractions"),
    ({"split_fractions": "abc"}, "split_fractions"), ({"seed": None}, "seed must be")])
def test_a_prepare_config_is_checked_before_the_job_starts(kwargs, words, tmp_path):
    """count=10**8 had listed 40 GB of faces before drawing one; size 32.5 failed after .partial was made."""
    with pytest.raises(EmosketchError, match=words):
        PrepareConfig(**kwargs)
    with pytest.raises(EmosketchError, match="cfg must be a PrepareConfig"):
        prepare("synthetic", tmp_path / "ds", {"size": 32}, progress=False)
    assert not (tmp_path / "ds").exists() and not list(tmp_path.iterdir())


def test_a_source_with_no_test_split_says_to_evaluate_on_val(tmp_path):
    """FER+ as it is often shared has no FER2013Test: prepare wrote a dataset with an empty test split and said
    nothing, and evaluate's default --split test then failed after its LPIPS note."""
    from datasets_fixtures import make_ferplus

    make_ferplus(tmp_path / "fer")
    said = []
    prepare(f"ferplus:{tmp_path / 'fer'}", tmp_path / "ds", PrepareConfig(size=32), progress=False, log=said.append)
    assert any("no face is in the test split" in m and "--split val" in m for m in said)
    from emosketch.evaluate.report import judge_translator

    notes = []  # evaluate says so before its LPIPS note and before any model is read
    with pytest.raises(EmosketchError, match=r"the test split is empty \(try --split val\)"):
        judge_translator(None, "x", tmp_path / "ds", tmp_path / "no-classifier.pt", tmp_path / "rep", log=notes.append)
    assert notes == []
    said.clear()
    prepare("synthetic", tmp_path / "syn", PrepareConfig(size=32, count=40), progress=False, log=said.append)
    assert not any("test split" in m for m in said)  # a source with a test split is quiet


def test_a_fer2013_csv_is_read_as_any_csv_reader_reads_it(tmp_path):
    """A CSV written with every field quoted (Python's csv.QUOTE_ALL, a spreadsheet's export) could not be read:
    its header was refused as the very header expected, quoted rows were 'corrupt', and a label written 3.0 (pandas,
    for a column that held a NaN) was a bad label. It now reads byte for byte as the plain file does."""
    import csv as csvlib

    rng = np.random.default_rng(0)
    rows = [(code, " ".join(map(str, rng.integers(0, 256, 48 * 48))), usage)
            for code, usage in [(3, "Training"), (4, "PublicTest"), (0, "PrivateTest"), (6, "Training")]]
    with open(tmp_path / "plain.csv", "w", newline="") as f:
        w = csvlib.writer(f)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerows(rows)
    with open(tmp_path / "quoted.csv", "w", newline="", encoding="utf-8-sig") as f:  # a BOM too
        w = csvlib.writer(f, quoting=csvlib.QUOTE_ALL, lineterminator="\r\n")
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerows([(f"{code}.0", px, usage) for code, px, usage in rows])
    for name in ("plain", "quoted"):
        prepare(f"fer2013:{tmp_path / name}.csv", tmp_path / f"ds-{name}", PrepareConfig(size=32), progress=False,
                log=lambda m: None)
    said = []
    prepare(f"fer2013:{tmp_path / 'plain.csv'}", tmp_path / "ds-again", PrepareConfig(size=32), progress=False,
            log=said.append)  # the face detector's pass after the bar, seconds on a large file, is said
    assert any(m.startswith("measuring how these crops frame their faces") for m in said), said
    plain, quoted = load(tmp_path / "ds-plain"), load(tmp_path / "ds-quoted")
    assert len(plain) == 4 and plain.classes == quoted.classes
    assert np.array_equal(plain.images, quoted.images) and np.array_equal(plain.labels, quoted.labels)
    assert list(plain.split) == list(quoted.split) == [0, 1, 2, 0]
    # a file with no header names what it found in a line, not its 2,304 pixel values
    (tmp_path / "bare.csv").write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    with pytest.raises(EmosketchError) as info:
        prepare(f"fer2013:{tmp_path / 'bare.csv'}", tmp_path / "ds-bare", PrepareConfig(size=32), progress=False)
    assert "not a FER2013 CSV" in str(info.value) and len(str(info.value)) < 300
    # when nothing is left, the error says why
    (tmp_path / "bad.csv").write_text("emotion,pixels,Usage\n" + "".join(f"9,{r[1]},Training\n" for r in rows))
    with pytest.raises(EmosketchError, match="no labelled items to prepare \\(skipped: 4 bad label\\)"):
        prepare(f"fer2013:{tmp_path / 'bad.csv'}", tmp_path / "ds-bad", PrepareConfig(size=32), progress=False)


def test_a_fer2013_row_names_why_its_pixels_are_not_a_face(tmp_path):
    from emosketch.datasets.decode import Skip
    from emosketch.datasets.prepare import _fer2013_pixels

    cases = {"2303": " ".join(["1"] * 2303), "300": " ".join(["300"] * 2304), "x": "1 2 x 4", "": ""}
    for words, pixels in zip(["2303 pixel values", "from 300 to 300", "not whole numbers", "no pixel string"],
                             cases.values()):
        (tmp_path / "f.csv").write_text(f"emotion,pixels,Usage\n3,{pixels},Training\n")
        with pytest.raises(Skip) as info:
            _fer2013_pixels(str(tmp_path / "f.csv"), len("emotion,pixels,Usage\n"), 1, 8)
        assert words in str(info.value.args), info.value.args


def test_training_refuses_a_class_with_no_training_face(tmp_path):
    """train/{happy,sad} beside val/{happy,sad,anger}: the generator and the classifier trained without a word, and
    the model listed anger, a class it never saw."""
    from emosketch.evaluate.classifier import ClassifierConfig, train_classifier
    from emosketch.gan.train import TrainConfig, train

    rng = np.random.default_rng(0)
    for split, classes in (("train", ("happy", "sad")), ("val", ("happy", "sad", "anger"))):
        for c in classes:
            (tmp_path / "src" / split / c).mkdir(parents=True)
            for i in range(3):
                cv2.imwrite(str(tmp_path / "src" / split / c / f"{i}.png"),
                            (rng.random((48, 48)) * 255).astype(np.uint8))
    prepare(f"folder:{tmp_path / 'src'}", tmp_path / "ds", PrepareConfig(size=32), progress=False, log=lambda m: None)
    words = "class\\(es\\) anger have no face in the train split \\(3 in val and test\\)"
    with pytest.raises(EmosketchError, match=words):
        train(TrainConfig(steps=2, batch_size=2), tmp_path / "ds", tmp_path / "run", device="cpu", progress=False,
              log=lambda m: None)
    with pytest.raises(EmosketchError, match=words):
        train_classifier(tmp_path / "ds", tmp_path / "c.pt", ClassifierConfig(epochs=1), device="cpu", progress=False,
                         log=lambda m: None)
    assert not (tmp_path / "run").exists() and not (tmp_path / "c.pt").exists()


@pytest.mark.parametrize("layout, per_class, words", [
    ("train-only", 3, "no face is in the val or the test split (the source gives none"),
    ("flat", 2, "no face is in the val or the test split (too few faces a class for split_fractions"),
])
def test_an_empty_split_is_said_with_its_cause(tmp_path, layout, per_class, words):
    """A folder of 6 faces a class (stratified 5/1/0) was told 'the source has none: FER+ without FER2013Test',
    and a folder with train/ alone was told nothing."""
    rng = np.random.default_rng(1)
    for c in ("happy", "sad"):
        folder = tmp_path / "src" / ("train" if layout == "train-only" else "") / c
        folder.mkdir(parents=True)
        for i in range(per_class):
            cv2.imwrite(str(folder / f"{i}.png"), (rng.random((48, 48)) * 255).astype(np.uint8))
    said = []
    prepare(f"folder:{tmp_path / 'src'}", tmp_path / "ds", PrepareConfig(size=32), progress=False, log=said.append)
    assert any(words in m and "give the source some" in m for m in said), said
    assert not any("FER2013Test" in m for m in said) or layout == "train-only"


def test_a_run_stopped_by_sigterm_says_where_it_will_resume(tmp_path, monkeypatch):
    """SIGTERM (the CLI's handler raises SystemExit 143) left out the line Ctrl-C gets: how many chunks are left."""
    cfg = PrepareConfig(size=32, count=96, chunk=16)
    real = prep.process_chunk
    calls = {"n": 0}

    def terminated_on_third(items, c):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit(143)
        return real(items, c)

    monkeypatch.setattr(prep, "process_chunk", terminated_on_third)
    said = []
    with pytest.raises(SystemExit):
        prepare("synthetic", tmp_path / "out", cfg, progress=False, log=said.append)
    assert any("stopped with 4 of 6 chunks left" in m for m in said), said


def test_a_folder_source_counts_every_file_it_does_not_read(tmp_path):
    """A class folder beside train/val/test holding 6 pictures was '1 skipped'; a file beside the class folders
    and a link to a folder inside a class (followed, it could loop) were dropped without a count."""
    from emosketch.datasets.readers import read_folder

    img = (np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)
    split = tmp_path / "split"
    for folder in ("train/happy", "train/sad", "neutral"):
        (split / folder).mkdir(parents=True)
    for i in range(6):
        cv2.imwrite(str(split / "neutral" / f"{i}.png"), img)
    cv2.imwrite(str(split / "train" / "happy" / "a.png"), img)
    cv2.imwrite(str(split / "train" / "sad" / "a.png"), img)
    index = read_folder(split)
    assert [why for _, why in index.skipped] == ["beside the train/val/test folders"] * 6
    flat = tmp_path / "flat"
    for c in ("happy", "sad"):
        (flat / c).mkdir(parents=True)
        cv2.imwrite(str(flat / c / "a.png"), img)
    (flat / "README.txt").write_text("my faces")
    (flat / "happy" / "sadlink").symlink_to(flat / "sad")
    (flat / "happy" / "up").symlink_to(flat)
    index = read_folder(flat)
    assert len(index.items) == 2
    assert sorted(index.skipped) == [("README.txt", "beside the class folders"),
                                     ("happy/sadlink/", "a link to a folder (not followed)"),
                                     ("happy/up/", "a link to a folder (not followed)")]


def test_an_affectnet96_folder_says_what_its_labels_csv_leaves_out_or_contradicts(tmp_path):
    """A row labelled happy for a picture in anger/ was read as happy, and a picture labels.csv does not list
    was dropped, both without a word."""
    from datasets_fixtures import face, write_img

    from emosketch.datasets.readers import read_affectnet96

    make_affectnet96(tmp_path)
    write_img(tmp_path / "anger" / "extra.png", face(9, "anger", 96))
    rows = (tmp_path / "labels.csv").read_text().replace("anger/image0000000.png,anger", "anger/image0000000.png,happy")
    (tmp_path / "labels.csv").write_text(rows)
    index = read_affectnet96(tmp_path)
    assert ("anger/image0000000.png", "label differs from its class folder") in index.skipped
    assert ("anger/extra.png", "not in labels.csv") in index.skipped
    assert len(index.items) == 6  # the six other rows, the unreadable one among them (decoding skips it later)


def test_a_class_asked_for_whose_folder_is_empty_is_named_as_such(tmp_path):
    img = (np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)
    for c in ("happy", "sad", "fear"):
        (tmp_path / "src" / c).mkdir(parents=True)
    for c in ("happy", "sad"):
        cv2.imwrite(str(tmp_path / "src" / c / "a.png"), img)
    with pytest.raises(EmosketchError, match="class\\(es\\) fear not in .* \\(it has happy, sad; fear/ is a folder "
                                             "with no files\\)"):
        prepare(f"folder:{tmp_path / 'src'}", tmp_path / "ds", PrepareConfig(size=32, classes=["happy", "fear"]),
                progress=False)


def test_a_picture_linked_twice_is_read_once(tmp_path):
    """neutral/link.jpg -> n00.jpg was kept twice, one copy in train and one in val."""
    from emosketch.datasets.readers import read_folder

    img = (np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)
    for c in ("happy", "neutral"):
        (tmp_path / c).mkdir()
        cv2.imwrite(str(tmp_path / c / "a.png"), img)
    (tmp_path / "neutral" / "link.png").symlink_to("a.png")
    index = read_folder(tmp_path)
    assert sorted(i.key for i in index.items) == ["happy/a.png", "neutral/a.png"]  # a copy is a file of its own
    assert index.skipped == [("neutral/link.png", "the same file as another (a link)")]


def test_a_second_ctrl_c_while_workers_stop_still_ends_the_run(tmp_path):
    """`prepare -j 2` stopped by Ctrl-C waited for its workers' chunks; a second Ctrl-C broke off that wait, and the
    interpreter then hung at exit on the pool's thread, for ever. The workers are now ended at once, and the run
    exits 130 with its done chunks kept."""
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "syn"
    cmd = [sys.executable, "-m", "emosketch.cli", "prepare", "--source", "synthetic", "--count", "40000", "--size", "64",
           "--out", str(out), "-j", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    chunks = tmp_path / ".syn.partial" / "chunks"
    deadline = time.time() + 120
    def done_chunks() -> list:  # a finished chunk, not the temporary file or the lock of one being written
        return [p for p in chunks.iterdir() if p.suffix == ".npz" and not p.name.startswith(".")] if chunks.is_dir() else []

    while time.time() < deadline and not done_chunks():
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    try:
        output, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("prepare hung after a second Ctrl-C")
    assert proc.returncode == 130 and "interrupted" in output, output[-2000:]
    assert done_chunks() and not out.exists()
