"""The probe's weak cases: each bad option, file or config is one line and a non-zero exit, with no
traceback and nothing left behind (export, checkpoints, train, StyleGAN2 files, the pack decoder)."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from emosketch.cli import cli
from emosketch.errors import EmosketchError


def one_line_error(args: list[str], words: str) -> None:
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1 and isinstance(r.exception, SystemExit), r.output
    assert "Traceback" not in r.output and r.output.startswith("Error: ") and r.output.count("\n") == 1, r.output
    assert re.search(words, r.output), r.output


@pytest.fixture
def face(tmp_path):
    path = tmp_path / "face.png"
    Image.fromarray((np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)).save(path)
    return path


# --- export ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fps", ["0.01", "-5", "nan", "inf", "0"])
def test_export_refuses_a_frame_rate_a_pack_cannot_hold(tmp_path, face, fps):
    one_line_error(["export", str(face), "--out", str(tmp_path / "p"), "--fps", fps],
                   rf"--fps {fps if fps != '0' else '0'}: a pack plays from 0.02 to 1000 frames per second")
    assert not (tmp_path / "p").exists()


def test_a_frame_rate_inside_a_file_is_checked_too(tmp_path):
    from emosketch.export import ExportOptions, build_pack
    from emosketch.frames import Frames

    with pytest.raises(EmosketchError, match="fps must be a number from 0.02 to 1000, got 0.001"):
        Frames(np.full((2, 64, 128), 255, np.uint8), fps=0.001)
    frames = Frames(np.full((2, 64, 128), 255, np.uint8), fps=12)
    frames.fps = 0.001  # changed after it was made
    with pytest.raises(EmosketchError, match="frame rate 0.001: a pack plays from 0.02"):
        build_pack([("s", "f.npz", frames)], ExportOptions())


def test_export_refuses_a_frame_too_large_for_the_pack_before_any_work(tmp_path, face, monkeypatch):
    import emosketch.export as export

    monkeypatch.setattr(export, "read_frames", lambda *a: (_ for _ in ()).throw(AssertionError("read")))
    one_line_error(["export", str(face), "--out", str(tmp_path / "p"), "--size", "4096x4096"],
                   r"panel size 4096x4096: 16,777,216 pixels, more than the 1,048,576 a panel may have")
    one_line_error(["export", str(face), "--out", str(tmp_path / "p"), "--size", "1024x1024"],
                   r"size 1024x1024: a ssd1306 frame of 131,072 bytes does not fit a pack \(at most 65,535")
    one_line_error(["export", str(face), "--out", str(tmp_path / "p"), "--size", "1024x512"], "65,536 bytes")
    assert not (tmp_path / "p").exists()


def test_export_names_a_dangling_out_link_not_a_temporary_path(tmp_path, face):
    link = tmp_path / "pack"
    link.symlink_to(tmp_path / "nowhere" / "pack")
    one_line_error(["export", str(face), "--out", str(link)], r"pack: is a symbolic link to .*nowhere/pack, which "
                                                              r"does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["face.png", "pack"]


def test_export_refuses_a_fifo_as_input_instead_of_waiting_on_it(tmp_path):
    fifo = tmp_path / "face.png"
    os.mkfifo(fifo)
    one_line_error(["export", str(fifo), "--out", str(tmp_path / "p")], "not a regular file or folder")
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.new("L", (32, 32), 200).save(folder / "0.png")
    os.mkfifo(folder / "1.png")
    one_line_error(["export", str(folder), "--out", str(tmp_path / "p")], r"1\.png: not a regular file")
    assert not (tmp_path / "p").exists()


# --- checkpoints ---------------------------------------------------------------------------------------

def _edited_generator(tmp_path, edit):
    import torch

    from emosketch.models import default_generator

    state = torch.load(default_generator(), weights_only=True)
    edit(state)
    torch.save(state, tmp_path / "g.pt")
    return tmp_path / "g.pt"


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_generator_with_non_finite_weights_is_refused_on_load(tmp_path, value):
    from emosketch.gan.sample import load_generator

    def poison(state):
        key = next(k for k, v in state["ema"].items() if k.startswith("generator.") and v.is_floating_point())
        state["ema"][key].fill_(value)

    path = _edited_generator(tmp_path, poison)
    with pytest.raises(EmosketchError, match="generator weight .* holds NaN or infinite values"):
        load_generator(path)
    one_line_error(["pack", "--checkpoint", str(path), "--out", str(tmp_path / "p")], "NaN or infinite")
    assert not (tmp_path / "p").exists()


def test_a_classifier_with_a_nan_weight_is_refused_on_load(tmp_path):
    import torch

    from emosketch.emotion_cnn import load_classifier
    from emosketch.models import default_classifier

    state = torch.load(default_classifier(), weights_only=True)
    key = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][key].view(-1)[0] = float("nan")
    torch.save(state, tmp_path / "c.pt")
    with pytest.raises(EmosketchError, match="classifier weight .* holds NaN"):
        load_classifier(tmp_path / "c.pt")


@pytest.mark.parametrize("name", ["Happy", " happy", "happy\n", "angry", "joy\x00", "x" * 41])
def test_a_class_name_that_no_channel_would_show_is_refused(tmp_path, name):
    from emosketch.gan.sample import load_generator

    def rename(state):
        state["classes"][1] = name

    with pytest.raises(EmosketchError, match="is not an emotion name as emosketch writes them") as info:
        load_generator(_edited_generator(tmp_path, rename))
    assert "\n" not in str(info.value)


# --- train ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    from emosketch.datasets.prepare import PrepareConfig, prepare

    out = tmp_path_factory.mktemp("data") / "syn32"
    prepare("synthetic", out, PrepareConfig(size=32, count=24, seed=1), progress=False, log=lambda m: None)
    return out


@pytest.mark.parametrize("yaml, words", [
    ("lr: .nan", r"lr: expected a finite number, got nan"),  # every config number must be finite
    ("lr: -1", r"lr -1.0: a learning rate in \(0, 1\]"),
    ("lr_mapping: .inf", r"lr_mapping: expected a finite number, got inf"),
    ("betas: [0.5, 1.5]", r"betas \[0.5, 1.5\]: two numbers in \[0, 1\)"),
    ("batch_size: 100000000", "batch_size 100000000: from 2 to 4096"),
    ("batch_size: -8", "batch_size -8: from 2 to 4096"),
    ("ema_beta: 1.0", "ema_beta 1.0: from 0 to below 1"),  # the averaged generator would never move
    ("lambda_cyc: -3", "lambda_cyc -3.0: a loss weight from 0 to 10000"),  # rewarded the opposite, with exit 0
    ("seed: -5", "seed -5: a whole number from 0"),
    ("ada: {target: 5}", r"ada: target in \(0, 1\)"),  # p would only ever fall
    ("model: {image_size: 1024}", "model.image_size 1024 is larger than the dataset's 32 px sketches"),
])
def test_a_train_config_it_cannot_run_is_one_line_and_leaves_no_run_folder(tmp_path, tiny_data, monkeypatch, yaml,
                                                                           words):
    from emosketch.gan import train

    def no_build(*a, **kw):
        raise AssertionError("the networks were built")

    monkeypatch.setattr(train, "Trainer", no_build)
    (tmp_path / "c.yaml").write_text(yaml + "\nsteps: 2\n")
    one_line_error(["train", "--config", str(tmp_path / "c.yaml"), "--data", str(tiny_data),
                    "--out", str(tmp_path / "run"), "--device", "cpu"], words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]  # no run folder, no lock file


@pytest.mark.parametrize("text", ["", "# every line a comment\n", "{}\n"])
def test_a_config_file_that_sets_nothing_is_refused_not_run_on_every_default(tmp_path, tiny_data, text):
    """An empty train config started a 20,000-step run on the defaults without a word."""
    (tmp_path / "c.yaml").write_text(text)
    one_line_error(["train", "--config", str(tmp_path / "c.yaml"), "--data", str(tiny_data),
                    "--out", str(tmp_path / "run"), "--device", "cpu"], "the config sets nothing")
    one_line_error(["prepare", "--source", "synthetic", "--config", str(tmp_path / "c.yaml"),
                    "--out", str(tmp_path / "ds")], "the config sets nothing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


# --- the Python reference decoder ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def written_pack(tmp_path_factory):
    from emosketch.export import ExportOptions, build_pack
    from emosketch.export.write import write_pack
    from emosketch.frames import Frames

    frames = np.full((3, 64, 128), 255, np.uint8)
    frames[:, 20:40, 30:90] = 0
    out = tmp_path_factory.mktemp("pack") / "p"
    write_pack(build_pack([("s", "x", Frames(frames))], ExportOptions()), out)
    return out


@pytest.mark.parametrize("edit, words", [
    (lambda m: [1, 2], "not an emosketch"),
    (lambda m: "text", "not an emosketch"),
    (lambda m: m["frames"][0].update(offset=-1), "frame 0 offset is -1, not a whole number >= 0"),
    (lambda m: m["frames"][1].update(size=-5), "frame 1 size is -5"),
    (lambda m: m["frames"][0].update(offset=True), "offset is True"),
    (lambda m: m["frames"][0].update(size="9"), "size is '9'"),
    (lambda m: m.update(frames={"a": 1}), "frames is {'a': 1}, not a list"),
    (lambda m: m["frames"].__setitem__(0, 7), "frame 0 offset is None"),
    (lambda m: m["sequences"][0].update(first_frame=-1), "sequence 0 first_frame is -1"),
    (lambda m: m["sequences"][0].update(frame_count=-2), "sequence 0 frame_count is -2"),
    (lambda m: m["sequences"][0].update(frame_count=99), "sequence 0 runs to frame 99, past the pack's 3 frames"),
    (lambda m: m.update(sequences=None), "sequences is None, not a list"),
    (lambda m: m["display"].update(width=-128), "display width is -128"),
    (lambda m: m["display"].update(width=0), "display 0x64 is not a panel"),
    (lambda m: m["display"].update(width=4096, height=4096), "display 4096x4096 is not a panel"),
    (lambda m: m.update(display=[128, 64]), "lacks its pixel_format or display"),
    (lambda m: m["frames"][2].update(size=10 ** 6), "frame 2 is outside frames.bin"),
    (lambda m: m["frames"][2].update(codec="zip"), "frame 2 is outside frames.bin or has an unknown codec"),
    (lambda m: m["frames"][1].update(codec={"a": 1}), "frame 1 is outside frames.bin or has an unknown codec"),
    (lambda m: m["frames"][1].update(codec=["rle"]), "frame 1 is outside frames.bin or has an unknown codec"),
    (lambda m: m.update(version=99), "pack version 99 is not supported (this emosketch reads version"),
    (lambda m: m.update(ctx_model="zz"), "manifest.json has an unreadable ctx_model"),
    (lambda m: m.update(ctx_model="00ff"), "ctx_model has 2 bytes, expected"),
    (lambda m: m.update(pen=3), "pen 3 is not 1 or 2"),
    (lambda m: m.update(pen=None), "pen None is not 1 or 2"),
    (lambda m: "{not json", "unreadable pack (JSONDecodeError"),
])
def test_the_reference_decoder_refuses_a_damaged_manifest_in_one_line(tmp_path, written_pack, edit, words):
    import json
    import shutil

    from emosketch.export import manifest

    pack = tmp_path / "p"
    shutil.copytree(written_pack, pack)
    m = json.loads((pack / "manifest.json").read_text())
    edited = edit(m)
    (pack / "manifest.json").write_text(edited if isinstance(edited, str) and edited.startswith("{") else
                                        json.dumps(m if edited is None else edited))
    with pytest.raises(EmosketchError, match=re.escape(words)) as info:
        manifest.read(pack)
    assert "\n" not in str(info.value) and str(info.value).startswith(f"{pack}: ")
    bits, _ = manifest.read(written_pack)  # the pack as written still decodes
    assert bits.shape == (3, 64, 128)


# --- StyleGAN2 converted files -------------------------------------------------------------------------

def test_a_converted_stylegan2_file_with_a_deeply_nested_plain_value_is_one_line(tmp_path):
    """`stylegan2 info` on a file whose `source` was a list nested 20,000 deep: RecursionError."""
    import sys
    import threading

    import torch
    from test_limits import _tiny_stylegan2

    path = _tiny_stylegan2().save(tmp_path / "g.pt")
    payload = torch.load(path, weights_only=True)
    deep: list = []
    for _ in range(20_000):
        deep = [deep]
    payload["source"] = deep

    def save():  # pickling it needs a deep stack; reading it back must not
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(100_000)
        try:
            torch.save(payload, path)
        finally:
            sys.setrecursionlimit(limit)

    size = threading.stack_size(512 * 1024 * 1024)
    try:
        thread = threading.Thread(target=save)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(size)
    one_line_error(["stylegan2", "info", "--model", str(path)], "its source holds more than 10,000 values or is "
                                                                "nested more than 16 deep")


def test_class_names_nested_deep_are_quoted_in_bounded_words():
    from emosketch.checkpoints import check_classes

    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    for classes in (["happy", deep], deep):
        with pytest.raises(EmosketchError, match=r"its classes must be non-empty strings \(got \[\[\["):
            check_classes(classes, "g.pt")


def test_the_reference_decoder_takes_a_frame_of_exactly_the_largest_size(tmp_path, written_pack):
    """2040x257 in gfx is 65,535 bytes a frame: the decoder gets past the size check (and then finds
    that this pack's frames are not that size); 2048x257 is refused by it."""
    import json
    import shutil

    from emosketch.export import manifest

    pack = tmp_path / "p"
    shutil.copytree(written_pack, pack)
    m = json.loads((pack / "manifest.json").read_text())
    for width, refused in ((2040, False), (2048, True)):
        m.update(pixel_format="gfx", display={"width": width, "height": 257})
        (pack / "manifest.json").write_text(json.dumps(m))
        with pytest.raises(EmosketchError) as info:
            manifest.read(pack)
        assert ("is not a panel a pack can hold" in str(info.value)) == refused, str(info.value)


def test_a_pen_2_pack_is_drawn_with_the_wide_pen(tmp_path, written_pack):
    import json
    import shutil

    from emosketch.export import manifest

    pack = tmp_path / "p"
    shutil.copytree(written_pack, pack)
    m = json.loads((pack / "manifest.json").read_text())
    m["pen"] = 2
    (pack / "manifest.json").write_text(json.dumps(m))
    thin, _ = manifest.read(written_pack)
    wide, _ = manifest.read(pack)
    assert wide.sum() > thin.sum() and (wide | thin).sum() == wide.sum()


# --- the checkpoint checks, one by one (each refusal and its words; `make mutate` found them untested) ---

class _RunsCode:
    ran = False

    def __reduce__(self):
        return (_mark_ran, ())


def _mark_ran():
    _RunsCode.ran = True
    return {"format": "x", "version": 1}


def test_load_checkpoint_refuses_code_other_formats_and_versions_in_words(tmp_path):
    import torch

    from emosketch.checkpoints import load_checkpoint

    torch.save({"format": "x", "version": 1, "w": torch.zeros(2)}, tmp_path / "ok.pt")
    assert load_checkpoint(tmp_path / "ok.pt", "x", 1)["w"].device.type == "cpu"
    torch.save(_RunsCode(), tmp_path / "code.pt")
    cases = [
        ("code.pt", "x", 1, r"code.pt: not a readable thing: it holds objects that would run code on load"),
        ("ok.pt", "y", 1, r"ok.pt: not an y checkpoint \(it is an 'x' file\)"),
        ("ok.pt", "x", 2, r"ok.pt: x version 1 is not supported \(this emosketch reads version 2\)"),
        ("none.pt", "x", 1, r"none.pt: no such thing"),
    ]
    torch.save([1, 2], tmp_path / "list.pt")
    cases.append(("list.pt", "x", 1, r"list.pt: not an x checkpoint \(it is a list\)"))
    torch.save({"a": 1}, tmp_path / "plain.pt")  # it said "(it is None)"
    cases.append(("plain.pt", "x", 1, r"not an x checkpoint \(it is a torch.save dict that no emosketch command "
                                      r"wrote; keys 'a'\)"))
    for name, fmt, version, words in cases:
        with pytest.raises(EmosketchError, match=words):
            load_checkpoint(tmp_path / name, fmt, version, "thing")
    assert not _RunsCode.ran


def test_require_names_the_missing_or_mistyped_field():
    from emosketch.checkpoints import require

    require({"n": 3, "s": "a"}, {"n": int, "s": str}, "c.pt")
    for state, words in (({"s": "a"}, "c.pt: the checkpoint has no 'n'; it is damaged"),
                         ({"n": True, "s": "a"}, "c.pt: 'n' is a bool, expected a int"),
                         ({"n": 3, "s": 4}, "c.pt: 's' is a int, expected a str")):
        with pytest.raises(EmosketchError, match=re.escape(words)):
            require(state, {"n": int, "s": str}, "c.pt")


def test_check_classes_names_each_kind_of_bad_list():
    from emosketch.checkpoints import check_classes

    check_classes(["happy", "sad", "a" * 40], "c.pt")
    for classes, words in (("happy", "must be a non-empty list of names (got 'happy')"),
                           ([], "must be a non-empty list of names (got [])"),
                           (["happy", ""], "must be non-empty strings (got '')"),
                           (["happy", 3], "must be non-empty strings (got 3)"),
                           (["sad", "happy", "sad", "happy", "fear"], "its classes name happy, sad more than once"),
                           (["a" * 41], "at most 40, not 'seq'"),
                           (["happy", "a.b"], "class 'a.b' is not an emotion name"),  # no pack could show these
                           (["very_happy"], "lower-case letters and digits from a letter"),
                           (["seq"], "class 'seq' is not"), (["3d"], "class '3d' is not")):
        with pytest.raises(EmosketchError, match=re.escape("c.pt: its class")) as info:
            check_classes(classes, "c.pt")
        assert words in str(info.value), str(info.value)


def test_check_shapes_and_load_weights_name_what_does_not_fit():
    import torch

    from emosketch.checkpoints import check_shapes, load_weights

    with torch.device("meta"):
        shape = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 4))
    good = {k: torch.ones(v.shape) for k, v in shape.state_dict().items()}
    check_shapes(shape, good, "c.pt", "G")
    real = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 4))
    load_weights(real, good, "c.pt", "G")
    assert all(bool((p == 1).all()) for p in real.parameters())
    for edit, words in (
        (lambda w: w.pop("0.bias"), "(missing '0.bias'); nothing was built"),
        (lambda w: w.update(extra=torch.zeros(1)), "(unexpected 'extra')"),
        (lambda w: w.update({"1.weight": torch.zeros(4, 3)}), "('1.weight' is [4, 3], the config makes it [4, 2])"),
        (lambda w: w.update({"0.bias": [1.0, 2.0]}), "the G weight '0.bias' is not a tensor"),
        (lambda w: w["1.bias"].__setitem__(2, float("inf")), "its G weight '1.bias' holds NaN or infinite values"),
    ):
        weights = {k: v.clone() for k, v in good.items()}
        edit(weights)
        with pytest.raises(EmosketchError, match=re.escape("c.pt: ")) as info:
            check_shapes(shape, weights, "c.pt", "G")
        assert words in str(info.value), str(info.value)
        if "nothing was built" not in words and "unexpected" not in words and "is [4, 3]" not in words:
            with pytest.raises(EmosketchError, match=re.escape(words)):
                load_weights(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 4)), weights, "c.pt", "G")
    weights = {k: v.clone() for k, v in good.items()} | {"1.weight": torch.zeros(4, 3)}
    with pytest.raises(EmosketchError, match=re.escape("c.pt: its G weights do not fit the model its config describes "
                                                       "(size mismatch for 1.weight")):
        load_weights(torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 4)), weights, "c.pt", "G")


def test_a_pack_past_what_its_tables_count_is_refused_before_work():
    """index.bin counts frames and sequences in 16 bits and emotions in 8: past them, struct.pack failed as the
    tables were written, or the C header put 256u into a uint8_t."""
    from emosketch.export.pack import check_counts

    check_counts(65535, ["idle_happy", "happy_to_sad"])
    for frames, names, words in ((65536, ["idle_happy"], "make 65,536, 1 and 1"),
                                 (10, ["s"] * 65536, "make 10, 65,536 and 1"),
                                 (300, [f"idle_e{i}" for i in range(256)], "300, 256 and 256")):
        with pytest.raises(EmosketchError, match="at most 65,535 frames, 65,535 sequences and 255 emotions") as info:
            check_counts(frames, names)
        assert words in str(info.value)


@pytest.mark.parametrize("name", ["os", "sys", "gc", "json"])
def test_a_pack_named_like_a_module_python_imports_is_refused(tmp_path, name):
    """NAME.py beside the player would shadow that module for whatever imports it there."""
    one_line_error(["export", str(_white_png(tmp_path)), "--name", name, "--out", str(tmp_path / "p")],
                   "is a module Python imports")
    assert not (tmp_path / "p").exists()


def _white_png(folder):
    import cv2

    cv2.imwrite(str(folder / "w.png"), np.full((64, 128), 255, np.uint8))
    return folder / "w.png"
