"""Hostile input, in one place: names that try to break out of generated code, names the players
reserve, lone surrogates in drawn text and file names, and two runs racing for one output."""

from __future__ import annotations

import ast
import dataclasses
import json
import multiprocessing
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emosketch.atomic import lock_path, output_lock
from emosketch.errors import EmosketchError
from emosketch.export import (
    ExportOptions,
    Layout,
    build_pack,
    html,
    index,
    micropython,
    write_pack,
)
from emosketch.export.escape import c_string, py_literal, script_json, text_bytes
from emosketch.frames import Frames

# Every code point, lone surrogates and control characters included.
ANY_TEXT = st.text(st.characters(blacklist_categories=()), max_size=24)
NASTY = ['"""', "'''", '\\', '*/ int x; /*', '"); system("id"); ("', "a<!--<script>b", "</script><script>alert(1)",
         "\udcff\udc80", "\ud800", "\x00nul", "\r\n\t\x1b[2J", "??=trigraph??/", "é ü 😀", "{name} {0}"]


def tiny_pack(names: list[str], pack_name: str = "hostile"):
    """A pack of len(names) two-frame sequences; its sequences carry `names` with safe identifiers."""
    rng = np.random.default_rng(0)
    seqs = [(f"s{i}", "test", Frames((rng.random((2, 16, 32)) > 0.5).astype(np.uint8) * 255, 8.0))
            for i in range(len(names))]
    pack = build_pack(seqs, ExportOptions(layout=Layout(32, 16), name=pack_name))
    pack.sequences = [dataclasses.replace(s, name=n) for s, n in zip(pack.sequences, names)]
    return pack


# ---- one escaping function per language ----------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_py_literal_is_one_ascii_expression_equal_to_the_text(text):
    lit = py_literal(text)
    assert lit.isascii()
    tree = ast.parse(lit, mode="eval")
    assert isinstance(tree.body, ast.Constant) and tree.body.value == text


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | ANY_TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
                    max_leaves=12))
def test_script_json_never_shows_the_html_tokenizer_a_tag(value):
    out = script_json(value)
    assert not set(out) & set("<>&") and out.isascii()
    assert json.loads(out) == value


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_c_string_is_printable_ascii_with_no_escape_that_runs_on(text):
    lit = c_string(text)
    assert lit.startswith('"') and lit.endswith('"') and lit.isascii()
    body = lit[1:-1]
    assert "??" not in body and '"' not in body.replace('\\042', "")
    # Every backslash starts exactly a 3-digit octal escape.
    i, decoded = 0, bytearray()
    while i < len(body):
        if body[i] == "\\":
            decoded.append(int(body[i + 1:i + 4], 8))
            i += 4
        else:
            decoded.append(ord(body[i]))
            i += 1
    assert bytes(decoded) == text_bytes(text)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(ANY_TEXT, min_size=1, max_size=12))
def test_c_strings_compile_and_read_back_byte_for_byte(tmp_path, texts):
    texts = NASTY + texts
    decls = "\n".join(f"static const char s{i}[] = {c_string(t)};" for i, t in enumerate(texts))
    prints = "\n".join(f"    dump(s{i}, sizeof s{i} - 1);" for i in range(len(texts)))
    src = tmp_path / "s.c"
    src.write_text(f"""#include <stdio.h>
{decls}
static void dump(const char *s, size_t n) {{ size_t i; for (i = 0; i < n; i++) printf("%02x", (unsigned char)s[i]); printf("\\n"); }}
int main(void) {{
{prints}
    return 0;
}}
""")
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", str(src), "-o", str(tmp_path / "s")],
                   check=True, capture_output=True, text=True)
    out = subprocess.run([str(tmp_path / "s")], check=True, capture_output=True, text=True).stdout.split("\n")
    assert [bytes.fromhex(line) for line in out[:len(texts)]] == [text_bytes(t) for t in texts]


# ---- the generated files, whole ------------------------------------------------------------------

def test_a_docstring_breakout_name_is_a_constant_not_code(tmp_path):
    payload = '"""\nimport os; os.system("touch PWNED")\n"""'
    pack = tiny_pack([payload, "plain"])
    source = micropython.render(pack)
    tree = ast.parse(source)
    assigned = {t.targets[0].id: ast.literal_eval(t.value) for t in tree.body
                if isinstance(t, ast.Assign) and t.targets[0].id in ("SEQUENCES", "EMOTIONS")}
    assert assigned["SEQUENCES"] == (payload, "plain")
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert {a.name for n in imports for a in n.names} == {"io", "Pack"}
    assert not (tmp_path / "PWNED").exists()


@settings(max_examples=25, deadline=None)
@given(st.lists(ANY_TEXT, min_size=1, max_size=5))
def test_the_module_parses_and_its_constants_equal_any_names(names):
    tree = ast.parse(micropython.render(tiny_pack(names)))
    values = {t.targets[0].id: ast.literal_eval(t.value) for t in tree.body if isinstance(t, ast.Assign)}
    # the names as index.bin holds them (ASCII, 255 bytes), which the player matches: quotes, backslashes and
    # newlines still pass through the escaping, as every character does in tests of py_literal itself
    assert values["SEQUENCES"] == tuple(index.stored_name(n) for n in names)
    assert isinstance(tree.body[0].value, ast.Constant)  # the docstring is still the docstring


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_the_header_compiles_and_its_names_read_back(tmp_path):
    names = [n for n in NASTY if "\x00" not in n]  # the header's names are NUL-terminated C strings
    pack = tiny_pack(names)
    write_pack(pack, tmp_path / "p")
    (tmp_path / "p" / "main.c").write_text("""#define HOSTILE_WITH_NAMES
#include <stdio.h>
#include <string.h>
#include "hostile.h"
int main(void) {
    unsigned s, i;
    for (s = 0; s < HOSTILE_SEQUENCE_COUNT; s++) {
        const char *n = hostile_sequence_names[s];
        for (i = 0; i < strlen(n); i++) printf("%02x", (unsigned char)n[i]);
        printf("\\n");
    }
    return 0;
}
""")
    exe = tmp_path / "host"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", str(tmp_path / "p" / "main.c"),
                    str(tmp_path / "p" / "emosketch_player.c"), "-o", str(exe)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split("\n")
    assert [bytes.fromhex(line) for line in out[:len(names)]] == [text_bytes(n) for n in names]
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert [s["name"] for s in manifest["sequences"]] == names


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_page_script_runs_to_its_end_with_hostile_names(tmp_path):
    pack = tiny_pack(NASTY)
    page = html.render(pack)
    # An HTML tokenizer ends the script at the first '</script' and is thrown off by '<!--': with
    # the data escaped, the only ones left are the page's own.
    assert page.count("<script>") == 1 and page.count("</script>") == 1 and "<!--" not in page
    script = page.split("<script>")[1].split("</script>")[0]
    script += "\nconsole.log(JSON.stringify(MANIFEST.sequences.map(s => s.name)));\n"
    script += "console.log(decodeFrames(MANIFEST, b64bytes(DATA_B64)).length);\n"
    (tmp_path / "run.js").write_text(script, encoding="utf-8")
    out = subprocess.run(["node", str(tmp_path / "run.js")], check=True, capture_output=True, text=True).stdout
    names_line, frames_line = out.strip().split("\n")
    assert json.loads(names_line) == NASTY and int(frames_line) == len(pack.payloads)


# ---- names the players own -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["es", "es_pack", "emosketch_player", "io"])
def test_reserved_pack_names_are_refused_before_anything_is_written(tmp_path, name):
    pack = tiny_pack(["a"], pack_name=name)
    with pytest.raises(EmosketchError, match="reserved"):
        write_pack(pack, tmp_path / "p")
    assert not (tmp_path / "p").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, macro", [("size", "SIZE_WIDTH"), ("int8", "INT8_WIDTH"), ("uint_fast16", "UINT_FAST16_WIDTH"),
                                         ("u8g2", "U8G2_H")])
def test_a_pack_name_whose_macro_the_c_library_defines_is_refused(tmp_path, name, macro):
    """--name size wrote #define SIZE_WIDTH over <stdint.h>'s (compilers warn "redefined"), and --name u8g2 a
    U8G2_H guard that hides u8g2.h: refused before anything is written, naming the macro."""
    with pytest.raises(EmosketchError, match=f"would define {macro}, which the C library or a display library"):
        write_pack(tiny_pack(["a"], pack_name=name), tmp_path / "p")
    assert not (tmp_path / "p").exists()
    write_pack(tiny_pack(["a"], pack_name="face"), tmp_path / "p")  # FACE_WIDTH is no library's


def test_emotions_named_by_digits_or_keywords_are_one_name_everywhere_and_keep_their_transitions(tmp_path):
    """idle_2, idle_int and 2_to_int: the C header named the emotions seq_2 and seq_int where the manifest and
    index.bin said 2 and int, and the transition between them was left out without a word (its identifier,
    seq_2_to_int, read as no transition)."""
    import json

    rng = np.random.default_rng(0)
    seqs = [(n, "test", Frames((rng.random((2, 16, 32)) > 0.5).astype(np.uint8) * 255, 8.0))
            for n in ("idle_2", "idle_int", "2_to_int")]
    folder = write_pack(build_pack(seqs, ExportOptions(layout=Layout(32, 16), name="p")), tmp_path / "p")
    emotions = json.loads((folder / "manifest.json").read_text())["emotions"]
    assert emotions["names"] == ["2", "int"] and emotions["transitions"][0][1] == 2
    header = (folder / "p.h").read_text()
    assert 'p_emotion_names[] ES_PROGMEM P_UNUSED = "2,int";' in header
    assert "P_EMOTION_SEQ_2 = 0," in header and "P_EMOTION_SEQ_INT = 1," in header  # C names stay identifiers


@pytest.mark.parametrize("sequence", ["count", "idle_count"])
def test_a_symbol_defined_twice_is_refused(tmp_path, sequence):
    rng = np.random.default_rng(0)
    frames = Frames((rng.random((2, 16, 32)) > 0.5).astype(np.uint8) * 255, 8.0)
    pack = build_pack([(sequence, "test", frames), ("idle_happy", "test", frames)],
                      ExportOptions(layout=Layout(32, 16), name="p"))
    with pytest.raises(EmosketchError, match="P_EMOTION_COUNT twice"):
        write_pack(pack, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# ---- text that OpenCV draws ----------------------------------------------------------------------

SURROGATE_LABEL = "sad\udcff\ud800\n\x00é"


def test_lone_surrogates_in_drawn_labels_do_not_crash(tmp_path):
    """cv2.putText segfaults on a lone surrogate: run each drawing path in a child process."""
    script = f"""
import numpy as np
from emosketch.text import put_text, text_size
from emosketch.export import preview
import cv2
img = np.zeros((40, 200), np.uint8)
put_text(img, {SURROGATE_LABEL!r}, (2, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.4, 255)
text_size({SURROGATE_LABEL!r}, cv2.FONT_HERSHEY_SIMPLEX, 0.4)
print("drawn")
"""
    done = subprocess.run([_python(), "-c", script], capture_output=True, text=True)
    assert done.returncode == 0 and "drawn" in done.stdout, done.stderr


def test_pack_preview_and_dataset_grid_draw_surrogate_names(tmp_path, synthetic_tiny):
    pack = tiny_pack([SURROGATE_LABEL, "x"])
    write_pack(pack, tmp_path / "p", grid=True)
    assert (tmp_path / "p" / "contact_sheet.png").exists() and (tmp_path / "p" / "preview.gif").exists()
    from emosketch.datasets.dataset import load, sample_grid

    ds = load(synthetic_tiny)
    ds.classes[0] = SURROGATE_LABEL
    assert sample_grid(ds, per_class=1).ndim == 2


def _python() -> str:
    import sys

    return sys.executable


@pytest.fixture
def synthetic_tiny(tmp_path):
    from emosketch.datasets.prepare import PrepareConfig, prepare

    out = tmp_path / "syn"
    prepare("synthetic", out, PrepareConfig(size=32, count=16), progress=False, log=lambda m: None)
    return out


def test_a_non_utf8_file_name_does_not_stop_prepare(tmp_path):
    from datasets_fixtures import face, write_img

    from emosketch.datasets.dataset import load
    from emosketch.datasets.prepare import PrepareConfig, prepare

    src = tmp_path / "faces"
    for i, emotion in enumerate(["happy", "sad", "happy", "sad"]):
        write_img(src / emotion / f"{i}.png", face(i, emotion))
    raw = os.fsencode(src / "happy") + b"/caf\xe9-\xff.png"  # Latin-1 bytes: not UTF-8
    write_img(tmp_path / "tmp.png", face(9, "happy"))
    os.replace(tmp_path / "tmp.png", raw)
    meta = prepare(f"folder:{src}", tmp_path / "out", PrepareConfig(size=32, chunk=2), progress=False,
                   log=lambda m: None)
    assert meta["count"] == 5
    assert len(load(tmp_path / "out").images) == 5


# ---- two runs, one output ------------------------------------------------------------------------

def _hold(target: str, ready, release) -> None:
    with output_lock(target):
        ready.set()
        release.wait(20)


def test_a_second_run_into_a_locked_output_refuses_and_names_the_first(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path / "out"), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(EmosketchError, match=rf"pid {holder.pid}\b"):
            with output_lock(tmp_path / "out"):
                pass
    finally:
        release.set()
        holder.join(30)
    with output_lock(tmp_path / "out") as path:  # free again once the holder is gone
        assert path == lock_path(tmp_path / "out") and path.read_text().strip() == str(os.getpid())
    assert not lock_path(tmp_path / "out").exists()


def test_an_output_that_cannot_be_written_is_named_not_its_lock_file(tmp_path, monkeypatch):
    """A folder the kernel refuses (sysfs, a read-only mount: root passes os.access there) is one line about
    the output the user named; it had named the hidden .NAME.lock file."""
    import emosketch.atomic as atomic

    real = os.open

    def refuse(path, *a, **kw):
        if str(path).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *a, **kw)

    monkeypatch.setattr(atomic.os, "open", refuse)
    with pytest.raises(EmosketchError) as refused:
        with output_lock(tmp_path / "pk"):
            pass
    assert str(refused.value) == f"{tmp_path / 'pk'}: cannot write there (Permission denied); choose another path"


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path / "out"), ready, release))
    holder.start()
    assert ready.wait(30)
    holder.kill()
    holder.join(30)
    with output_lock(tmp_path / "out"):
        pass


def test_prepare_and_train_take_the_lock(tmp_path, synthetic):
    from emosketch.datasets.prepare import PrepareConfig, prepare
    from emosketch.gan.train import TrainConfig, train

    ctx = multiprocessing.get_context("spawn")
    for target in (tmp_path / "data", tmp_path / "run"):
        ready, release = ctx.Event(), ctx.Event()
        holder = ctx.Process(target=_hold, args=(str(target), ready, release))
        holder.start()
        try:
            assert ready.wait(30)
            with pytest.raises(EmosketchError, match="another emosketch run"):
                if target.name == "data":
                    prepare("synthetic", target, PrepareConfig(size=32, count=8), progress=False, log=lambda m: None)
                else:
                    train(TrainConfig(steps=1), synthetic, target, device="cpu", progress=False, log=lambda m: None)
        finally:
            release.set()
            holder.join(30)
        assert not target.exists()


def test_a_short_assembled_array_is_never_published(tmp_path, monkeypatch):
    from emosketch.datasets import prepare as prep

    real = prep._assemble

    def truncating(partial, *args, **kw):
        meta = real(partial, *args, **kw)
        with open(partial / "images.npy", "r+b") as fh:  # what a second writer's truncation leaves
            fh.truncate(200)
        return meta

    monkeypatch.setattr(prep, "_assemble", truncating)
    with pytest.raises(EmosketchError, match="images.npy"):
        prep.prepare("synthetic", tmp_path / "out", prep.PrepareConfig(size=32, count=8), progress=False,
                     log=lambda m: None)
    assert not (tmp_path / "out").exists()


# ---- one line instead of a traceback -------------------------------------------------------------

def _prepare_error(source: str, tmp_path, **cfg) -> str:
    from emosketch.datasets.prepare import PrepareConfig, prepare

    with pytest.raises(EmosketchError) as info:
        prepare(source, tmp_path / "out", PrepareConfig(size=32, **cfg), progress=False, log=lambda m: None)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_non_utf8_label_file_is_one_line_that_names_it(tmp_path):
    from datasets_fixtures import make_ferplus

    make_ferplus(tmp_path / "fp")
    label = next((tmp_path / "fp").rglob("label.csv"))
    label.write_bytes(label.read_bytes() + "caf\xe9.png,(0,0,48,48),10,0,0,0,0,0,0,0,0,0\n".encode("latin-1"))
    message = _prepare_error(f"ferplus:{tmp_path / 'fp'}", tmp_path)
    assert str(label) in message and "not UTF-8" in message and "0xe9" in message


def test_bad_rows_are_skipped_not_fatal_or_silently_kept(tmp_path):
    from datasets_fixtures import face, write_img

    from emosketch.datasets.prepare import PrepareConfig, prepare

    root = tmp_path / "an96"
    rows = ["pth,label,relFCs"]
    for i, emotion in enumerate(["happy", "sad", "happy"]):
        write_img(root / emotion / f"{i}.png", face(i, emotion, 64))
        rows.append(f"{emotion}/{i}.png,{emotion},0.9")
    rows.append("happy/short.png")  # no label field
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    meta = prepare(f"affectnet96:{root}", tmp_path / "a", PrepareConfig(size=32), progress=False, log=lambda m: None)
    assert meta["count"] == 3 and meta["skipped_by_reason"].get("bad label") == 1

    pixels = " ".join(["128"] * 48 * 48)
    lines = ["emotion,pixels,Usage", f"3,{pixels},Training", f"4,{pixels},Training", f"-1,{pixels},Training",
             f"3,{' '.join(['9'] * 4)},Training", f"4,{' '.join(['9'] * 100)},Training"]
    (tmp_path / "fer.csv").write_text("\n".join(lines) + "\n")
    meta = prepare(f"fer2013:{tmp_path / 'fer.csv'}", tmp_path / "f", PrepareConfig(size=32), progress=False,
                   log=lambda m: None)
    assert meta["count"] == 2  # -1 is not neutral; 2x2 and 10x10 faces are too small
    assert meta["skipped_by_reason"].get("bad label") == 1 and meta["skipped_by_reason"].get("image too small") == 2


def test_ferplus_rows_with_nan_votes_are_bad_labels(tmp_path):
    from datasets_fixtures import make_ferplus

    from emosketch.datasets.readers import read_ferplus

    make_ferplus(tmp_path / "fp")
    label = next((tmp_path / "fp").rglob("label.csv"))
    label.write_text(label.read_text() + "nan.png,(0,0,48,48),nan,0,0,0,0,0,0,0,0,0\n"
                     "neg.png,(0,0,48,48),-4,1,0,0,0,0,0,0,0,0\n")
    index = read_ferplus(tmp_path / "fp")
    assert not any(item.key.endswith(("nan.png", "neg.png")) for item in index.items)
    assert sum(1 for key, reason in index.skipped if key.endswith(("nan.png", "neg.png")) and reason == "bad label") == 2


def test_a_class_named_twice_is_one_line(tmp_path):
    message = _prepare_error("synthetic", tmp_path, classes=("happy", "happy"), count=8)
    assert "happy" in message and "twice" in message


@pytest.mark.parametrize("content, words", [
    (b"", "empty file"),
    (b"just some text\n", "text file"),
    (b"\x80\x04K\x01.", "bare pickle"),
    (b"PK\x03\x04" + b"\x00" * 40, "truncated zip"),
])
def test_unreadable_checkpoints_say_what_the_file_is(tmp_path, content, words):
    from emosketch.evaluate.classifier import load_classifier
    from emosketch.gan.sample import load_generator

    (tmp_path / "c.pt").write_bytes(content)
    for loader in (load_generator, load_classifier):
        with pytest.raises(EmosketchError, match=words):
            loader(tmp_path / "c.pt")


def test_a_checkpoint_that_would_run_code_is_refused_by_name(tmp_path):
    import torch

    from emosketch.gan.sample import load_generator

    torch.save({"format": "emosketch-generator", "version": 1, "x": _Payload()}, tmp_path / "evil.pt")
    with pytest.raises(EmosketchError, match="would run code.*GLOBAL"):
        load_generator(tmp_path / "evil.pt")
    assert not (tmp_path / "RAN").exists()


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch RAN",))


def _hostile_generator(generator, tmp_path, edit) -> str:
    import torch

    from emosketch.gan.sample import load_generator

    state = torch.load(generator, weights_only=True)
    edit(state)
    torch.save(state, tmp_path / "g.pt")
    with pytest.raises(EmosketchError) as info:
        load_generator(tmp_path / "g.pt")
    assert "\n" not in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("edit, words", [
    (lambda s: s.pop("ema"), "no 'ema'"),
    (lambda s: s.update(classes=[]), "non-empty list"),
    (lambda s: s.update(classes=["happy", 3]), "non-empty strings"),
    (lambda s: s.update(classes=["happy", "happy"]), "more than once"),
    (lambda s: s.update(classes="happy"), "'classes' is a str"),
    (lambda s: s["config"]["model"].update(dim_in=10**6), "model.dim_in 1000000"),
    (lambda s: s["config"]["model"].update(image_size=2**16), "model.image_size"),
    (lambda s: s["ema"].update({next(iter(s["ema"])): __import__("torch").zeros(3, 3)}), "do not fit"),
    (lambda s: s["ema"].update({next(iter(s["ema"])): "text"}), "not a tensor"),
])
def test_hostile_generator_checkpoints_are_one_line(generator, tmp_path, edit, words):
    assert words in _hostile_generator(generator, tmp_path, edit)


def test_hostile_classifier_checkpoints_are_one_line(trained, tmp_path):
    import torch

    from emosketch.evaluate.classifier import load_classifier

    path, _ = trained
    for edit, words in [(lambda s: s.update(classes=None), "'classes' is a NoneType"),
                        (lambda s: s["config"].update(width=10**5), r"width 100000 \(4 to 256\)"),
                        (lambda s: s["model"].pop(next(iter(s["model"]))), "do not fit")]:
        state = torch.load(path, weights_only=True)
        edit(state)
        torch.save(state, tmp_path / "c.pt")
        with pytest.raises(EmosketchError, match=words):
            load_classifier(tmp_path / "c.pt")


@pytest.mark.parametrize("damage, words", [
    (lambda d: np.save(d / "images.npy", np.zeros((8, 32, 16), np.uint8)), "shape"),
    (lambda d: np.save(d / "images.npy", np.zeros((8, 32, 32), np.float32)), "float32"),
    (lambda d: np.save(d / "labels.npy", np.full(8, 99, np.int16)), "outside the"),
    (lambda d: np.save(d / "split.npy", np.full(8, 7, np.uint8)), "split.npy holds 7..7"),
    (lambda d: _edit_meta(d, classes=["happy", "happy"]), "more than once"),
    (lambda d: _edit_meta(d, classes=[]), "non-empty list"),
    (lambda d: (d / "meta.json").write_text("[1, 2]"), "not a dataset description"),
])
def test_hostile_datasets_are_refused_on_load(tmp_path, damage, words):
    from emosketch.datasets.dataset import load
    from emosketch.datasets.prepare import PrepareConfig, prepare

    prepare("synthetic", tmp_path / "d", PrepareConfig(size=32, count=8), progress=False, log=lambda m: None)
    damage(tmp_path / "d")
    with pytest.raises(EmosketchError, match=words):
        load(tmp_path / "d")


def _edit_meta(folder, **changes) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(changes)
    (folder / "meta.json").write_text(json.dumps(meta))


# ---- faults, leaks and stale files ---------------------------------------------------------------

def test_a_damaged_chunk_is_made_again_even_with_force(tmp_path, monkeypatch):
    from emosketch.datasets import prepare as prep

    cfg = prep.PrepareConfig(size=32, count=48, chunk=16)
    quiet = {"progress": False, "log": lambda m: None}
    prep.prepare("synthetic", tmp_path / "whole", cfg, **quiet)
    monkeypatch.setattr(prep, "_assemble", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        prep.prepare("synthetic", tmp_path / "out", cfg, **quiet)
    monkeypatch.undo()
    chunk = tmp_path / ".out.partial" / "chunks" / "000001.npz"
    chunk.write_bytes(chunk.read_bytes()[:300])  # a BadZipFile
    messages = []
    prep.prepare("synthetic", tmp_path / "out", cfg, force=True, progress=False, log=messages.append)
    assert any("1 damaged chunk" in m for m in messages)
    for file in ("images.npy", "labels.npy", "split.npy"):
        assert (tmp_path / "whole" / file).read_bytes() == (tmp_path / "out" / file).read_bytes()


def test_a_full_disk_during_a_checkpoint_save_is_one_line_and_keeps_the_old_one(tmp_path, monkeypatch):
    import torch

    from emosketch import checkpoints

    checkpoints.save_checkpoint(tmp_path / "c.pt", {"step": 1}, "emosketch-test", 1)

    def full(obj, f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:595] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(EmosketchError, match=r"c\.pt: could not write the checkpoint .*disk full"):
        checkpoints.save_checkpoint(tmp_path / "c.pt", {"step": 2}, "emosketch-test", 1)
    monkeypatch.undo()
    assert checkpoints.load_checkpoint(tmp_path / "c.pt", "emosketch-test", 1)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_no_space_left_names_the_output(tmp_path):
    import errno

    from emosketch.atomic import atomic_dir, atomic_file

    for ctx in (atomic_dir(tmp_path / "folder"), atomic_file(tmp_path / "file.bin")):
        with pytest.raises(EmosketchError, match="no space left on device") as info:
            with ctx:
                raise OSError(errno.ENOSPC, "No space left on device")
        assert str(tmp_path) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_atomic_writes_fsync_the_file_and_the_folder(tmp_path, monkeypatch):
    from emosketch import atomic

    synced = []
    real = os.fsync
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    with atomic.atomic_file(tmp_path / "a.txt") as tmp:
        tmp.write_text("x")
    assert any(s.startswith(str(tmp_path / ".a.tmp-")) for s in synced) and str(tmp_path) in synced
    synced.clear()
    with atomic.atomic_dir(tmp_path / "d") as tmp:
        (tmp / "f.txt").write_text("y")
    assert any(s.endswith("f.txt") for s in synced) and str(tmp_path) in synced


def test_a_pickle_as_the_lpips_trunk_is_one_line(tmp_path):
    import pickle

    pytest.importorskip("lpips")
    from emosketch.evaluate.perceptual import lpips_model

    (tmp_path / "alexnet.pth").write_bytes(pickle.dumps({"features.0.weight": [1, 2]}))
    with pytest.raises(EmosketchError, match="not a readable LPIPS trunk: it is a bare pickle"):
        lpips_model(tmp_path / "alexnet.pth")


def test_stale_temporary_files_are_removed_when_the_output_is_next_written(tmp_path):
    from emosketch.atomic import atomic_dir

    (tmp_path / ".pack.tmp-dead1").mkdir()
    (tmp_path / ".pack.tmp-dead1" / "frames.bin").write_bytes(b"x" * 10)
    (tmp_path / ".pack.old-dead2").mkdir()
    (tmp_path / ".other.tmp-keep").mkdir()
    with atomic_dir(tmp_path / "pack") as tmp:
        (tmp / "a").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-keep", "pack"]


def test_an_out_that_is_a_file_is_refused_before_any_work(tmp_path, monkeypatch):
    from emosketch.datasets import prepare as prep
    from emosketch.gan.train import TrainConfig, train

    (tmp_path / "out").write_text("my notes")
    monkeypatch.setattr(prep, "read_source", lambda *a: pytest.fail("work started"))
    with pytest.raises(EmosketchError, match="is a file"):
        prep.prepare("synthetic", tmp_path / "out", prep.PrepareConfig(size=32, count=8), force=True,
                     progress=False, log=lambda m: None)
    with pytest.raises(EmosketchError, match="is a file"):
        train(TrainConfig(steps=1), tmp_path / "nowhere", tmp_path / "out", device="cpu", progress=False,
              log=lambda m: None)
    pack = tiny_pack(["a"])
    with pytest.raises(EmosketchError, match="is a file"):
        write_pack(pack, tmp_path / "out", force=True)
    assert (tmp_path / "out").read_text() == "my notes"


def test_force_replaces_only_emosketchs_own_folders(tmp_path):
    from emosketch.datasets.prepare import PrepareConfig, prepare

    mine = tmp_path / "photos"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(EmosketchError, match="not written by emosketch"):
        prepare("synthetic", mine, PrepareConfig(size=32, count=8), force=True, progress=False, log=lambda m: None)
    with pytest.raises(EmosketchError, match="not written by emosketch"):
        write_pack(tiny_pack(["a"]), mine, force=True)
    assert (mine / "holiday.jpg").read_bytes() == b"precious"
    write_pack(tiny_pack(["a"]), tmp_path / "pack")
    write_pack(tiny_pack(["b"]), tmp_path / "pack", force=True)  # its own output: replaced
    prepare("synthetic", tmp_path / "d", PrepareConfig(size=32, count=8), progress=False, log=lambda m: None)
    prepare("synthetic", tmp_path / "d", PrepareConfig(size=32, count=16), force=True, progress=False,
            log=lambda m: None)


def test_force_keeps_a_users_files_inside_an_emosketch_folder(tmp_path):
    """pack --force, sample --force and export --force had deleted a file the user put in the output folder (an
    Arduino sketch beside the pack's files, notes): the marker lists what emosketch wrote, and only that goes."""
    import json

    from emosketch.atomic import MARKER

    write_pack(tiny_pack(["a"]), tmp_path / "pack")
    listed = json.loads((tmp_path / "pack" / MARKER).read_text())["entries"]
    assert "manifest.json" in listed and "frames.bin" in listed
    (tmp_path / "pack" / "my_sketch.ino").write_text("void loop() {}")
    with pytest.raises(EmosketchError, match=r"pack: holds my_sketch\.ino, which emosketch did not write"):
        write_pack(tiny_pack(["b"]), tmp_path / "pack", force=True)
    assert (tmp_path / "pack" / "my_sketch.ino").read_text() == "void loop() {}"
    (tmp_path / "pack" / "my_sketch.ino").unlink()
    write_pack(tiny_pack(["b"]), tmp_path / "pack", force=True)  # nothing of the user's: replaced
    # a folder stamped by a copied manifest.json, with no marker: the user's sketch folder
    proj = tmp_path / "myproj"
    proj.mkdir()
    for name in ("manifest.json", "frames.bin", "index.bin"):
        (proj / name).write_bytes((tmp_path / "pack" / name).read_bytes())
    (proj / "myproj.ino").write_text("void setup() {}")
    with pytest.raises(EmosketchError, match=r"holds myproj\.ino, which emosketch did not write"):
        write_pack(tiny_pack(["c"]), proj, force=True)
    assert (proj / "myproj.ino").exists()
    (proj / "myproj.ino").unlink()
    write_pack(tiny_pack(["c"]), proj, force=True)  # an older pack folder with no marker is still replaced
    # a marker from before the listing: the folder is emosketch's whole
    old = tmp_path / "old"
    old.mkdir()
    (old / MARKER).write_text("written by emosketch\n")
    (old / "frame00000.png").write_bytes(b"x")
    write_pack(tiny_pack(["a"]), old, force=True)


def test_the_demo_refuses_a_folder_holding_what_it_did_not_write(tmp_path):
    """A folder holding a pack/ (copied from a demo) counted as a demo's: its face.png was replaced."""
    from emosketch.atomic import MARKER
    from emosketch.demo import check_demo_folder

    proj = tmp_path / "proj"
    (proj / "pack").mkdir(parents=True)
    (proj / "pack" / MARKER).write_text("written by emosketch\n")
    (proj / "face.png").write_text("MY PHOTO")
    with pytest.raises(EmosketchError, match="no .emosketch marker"):
        check_demo_folder(proj)
    (proj / MARKER).write_text("")
    (proj / "notes.txt").write_text("mine")
    with pytest.raises(EmosketchError, match=r"holds notes\.txt, which the demo did not write"):
        check_demo_folder(proj)
    (proj / "notes.txt").unlink()
    (proj / ".agent.tmp-dead.gif").write_bytes(b"")  # a killed writer's leftover is not the user's
    check_demo_folder(proj)


def test_a_write_that_fails_quietly_in_a_library_is_an_error(tmp_path, monkeypatch):
    """cv2.imwrite returns False on a full disk, and ffmpeg's failure never reached imageio: a folder of empty
    frames and a cut-off video were published with exit 0, replacing the good ones."""
    import errno

    from emosketch import frames as fr

    good = fr.Frames(np.full((4, 16, 32), 255, np.uint8), 12.0)
    good.frames[:, 4:8, 4:20] = 0
    fr.write_frames(tmp_path / "dir", good)
    fr.write_frames(tmp_path / "v.mp4", good)
    before = (tmp_path / "v.mp4").read_bytes()

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(EmosketchError, match="dir: no space left on device while writing it; dir was left as it was"):
        fr.write_frames(tmp_path / "dir", good)
    monkeypatch.undo()
    assert sorted(p.name for p in (tmp_path / "dir").iterdir() if p.suffix) == [f"frame0000{i}.png" for i in range(4)]
    import imageio.v3 as iio

    def cut(path, *a, **k):  # ffmpeg dies part way: a file too short to open
        Path(path).write_bytes(before[:len(before) // 2])

    monkeypatch.setattr(iio, "imwrite", cut)
    with pytest.raises(EmosketchError, match="v.mp4: the video encoder could not write it whole"):
        fr.write_frames(tmp_path / "v.mp4", good)
    monkeypatch.undo()
    assert (tmp_path / "v.mp4").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_write_errors_name_the_output_and_what_went_wrong(tmp_path):
    import errno

    from emosketch.atomic import atomic_dir, atomic_file

    for code, words in ((errno.EFBIG, r"larger than this process may write \(ulimit -f\)"),
                        (errno.EROFS, "a read-only file system"), (errno.ENOSPC, "no space left on device")):
        with pytest.raises(EmosketchError, match=rf"out\.bin: {words} while writing it") as info:
            with atomic_file(tmp_path / "out.bin"):  # e.g. copying a player file from the package
                raise OSError(code, os.strerror(code), "/usr/lib/python3/site-packages/emosketch/player.c")
        assert "site-packages" not in str(info.value)
        with pytest.raises(EmosketchError, match=rf"d: {words}"):
            with atomic_dir(tmp_path / "d"):
                raise OSError(code, os.strerror(code))
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_single_file_output_is_locked_and_its_stale_temporaries_go(tmp_path):
    """A killed GIF writer's .k.tmp-*.gif stayed for good, and two writers of one file never refused."""
    from emosketch.atomic import atomic_file, output_lock

    (tmp_path / ".k.tmp-dead.gif").write_bytes(b"half")
    (tmp_path / ".other.tmp-keep.gif").write_bytes(b"not k's")
    with atomic_file(tmp_path / "k.gif") as tmp:
        tmp.write_bytes(b"GIF89a")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.tmp-keep.gif", "k.gif"]
    with output_lock(tmp_path / "k.gif"):
        with pytest.raises(EmosketchError, match="another emosketch run"):
            with atomic_file(tmp_path / "k.gif"):
                pass


def test_an_output_whose_name_is_not_utf8_is_written(tmp_path):
    """A name from argv with a byte that is not UTF-8 (surrogate-escaped) had failed in the hidden names."""
    from emosketch.atomic import atomic_dir, atomic_file

    name = os.fsdecode(b"out\xff")
    with atomic_file(tmp_path / f"{name}.gif") as tmp:
        tmp.write_bytes(b"x")
    with atomic_dir(tmp_path / name) as tmp:
        (tmp / os.fsdecode(b"f\xfe.png")).write_bytes(b"y")
    with atomic_dir(tmp_path / name, overwrite=True) as tmp:  # its marker lists the odd name, read back
        (tmp / "g.png").write_bytes(b"z")
    assert sorted(os.listdir(os.fsencode(tmp_path))) == [b"out\xff", b"out\xff.gif"]


def test_force_over_a_demo_folder_keeps_the_users_files(tmp_path):
    """The demo's marker was empty, so export --force over a demo folder deleted a user's notes beside it."""
    from emosketch.atomic import check_target, mark
    from emosketch.demo import WRITTEN

    demo = tmp_path / "demo"
    (demo / "run").mkdir(parents=True)
    mark(demo, list(WRITTEN))  # as the demo marks its folder
    (demo / "face.png").write_bytes(b"png")
    (demo / "run" / "checkpoint.pt").write_bytes(b"pt")  # inside a folder the demo owns whole
    check_target(demo, True)
    (demo / "my-notes.txt").write_text("mine")
    with pytest.raises(EmosketchError, match=r"holds my-notes\.txt, which emosketch did not write"):
        check_target(demo, True)


def test_force_over_a_demo_folder_keeps_a_users_file_inside_its_pack(tmp_path):
    """The demo owns pack/ whole, so a user's sketch put inside the demo's pack went with another command's
    --force; a folder owned whole that holds a marker of its own is read by that marker's listing."""
    from emosketch.atomic import check_target, foreign, mark
    from emosketch.demo import WRITTEN

    demo = tmp_path / "demo"
    (demo / "pack").mkdir(parents=True)
    mark(demo, list(WRITTEN))
    (demo / "pack" / "pack.h").write_text("// pack")
    (demo / "pack" / "frames.bin").write_bytes(b"f")
    mark(demo / "pack")  # as a pack's writer marks its folder: what it wrote
    (demo / "run").mkdir()
    (demo / "run" / "anything.pt").write_bytes(b"pt")  # run/ has no marker: owned whole
    assert foreign(demo) == []
    check_target(demo, True)
    (demo / "pack" / "face.ino").write_text("void setup() {}")
    assert foreign(demo) == ["pack/face.ino"]
    with pytest.raises(EmosketchError, match=r"holds pack/face\.ino, which emosketch did not write"):
        check_target(demo, True)


def test_an_output_name_near_the_limit_gets_hidden_names_that_fit(tmp_path):
    """A 250-byte --out is a legal name, but .NAME.lock and .NAME.tmp-* were not: 'File name too long'."""
    from emosketch.atomic import atomic_dir, atomic_file

    name = "y" * 250
    with atomic_file(tmp_path / f"{name}.gif") as tmp:
        tmp.write_bytes(b"x")
    with atomic_dir(tmp_path / name) as tmp:
        (tmp / "a").write_text("a")
    with atomic_dir(tmp_path / name, overwrite=True) as tmp:
        (tmp / "b").write_text("b")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, f"{name}.gif"])


def test_train_on_a_folder_that_is_not_a_dataset_says_to_prepare(tmp_path):
    from emosketch.gan.train import TrainConfig, train

    (tmp_path / "empty").mkdir()
    for data in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(EmosketchError, match="emosketch prepare"):
            train(TrainConfig(steps=1), data, tmp_path / "run", device="cpu", progress=False, log=lambda m: None)


def test_prepare_workers_die_with_their_parent(tmp_path):
    """SIGKILL the prepare: its spawn workers must not live on."""
    import signal

    script = f"""
import os, sys
from emosketch.datasets.prepare import PrepareConfig, prepare
print(os.getpid(), flush=True)
prepare("synthetic", {str(tmp_path / 'out')!r}, PrepareConfig(size=128, count=40000, chunk=8), workers=2,
        progress=False, log=lambda m: None)
"""
    proc = subprocess.Popen([_python(), "-c", script], stdout=subprocess.PIPE, text=True)
    parent = int(proc.stdout.readline())
    deadline, children = 60 + _now(), []
    while _now() < deadline and len(children) < 2:
        _sleep(0.3)
        children = _children(parent)
    assert len(children) >= 2
    os.kill(parent, signal.SIGKILL)
    proc.wait(30)
    deadline = 30 + _now()
    while _now() < deadline and any(_alive(c) for c in children):
        _sleep(0.2)
    assert not any(_alive(c) for c in children)


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _now() -> float:
    import time

    return time.monotonic()


def _sleep(s: float) -> None:
    import time

    time.sleep(s)


# ---- progress off a terminal ---------------------------------------------------------------------

def test_progress_off_a_terminal_is_a_line_every_30_seconds():
    import io

    from emosketch.progress import LogProgress

    now = [0.0]
    stream = io.StringIO()
    bar = LogProgress(4000, "train", "step", initial=100, stream=stream, clock=lambda: now[0])
    for _ in range(50):
        now[0] += 1.0  # one step a second
        bar.update(1)
        bar.set_postfix(G="0.31")
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # at 30 s, and on close at 50 s
    assert lines[0] == "train: 130/4000 step (3%), 1.00 step/s, ETA 1h04m, G=0.31"
    assert lines[-1].startswith("train: 150/4000 step (4%)")


def test_alternate_guidance_logs_the_latent_steps_too(synthetic, tmp_path):
    from emosketch.gan.networks import ModelConfig
    from emosketch.gan.train import TrainConfig, train

    cfg = TrainConfig(model=ModelConfig(image_size=32, dim_in=8, max_dim=32, style_dim=16, latent_dim=8,
                                        mapping_hidden=32, bottleneck_blocks=1),
                      batch_size=4, steps=4, log_every=2, sample_every=100, checkpoint_every=100, guidance="alternate")
    train(cfg, synthetic, tmp_path / "run", device="cpu", progress=False, log=lambda m: None)
    records = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all("G/adv" in r and "G_ref/adv" in r for r in records)


@pytest.mark.slow
def test_exporting_10000_frames_stays_under_500_mb(tmp_path):
    """The memory bound of the issue, end to end in a fresh process (about 10 s; `make test-all`)."""
    from emosketch.datasets.synthetic import random_identity, render
    from emosketch.frames import write_frames

    base = np.stack([render(random_identity(seed=3), "happy", k, 64) for k in np.linspace(0, 1, 50)])
    write_frames(tmp_path / "f.npz", Frames(np.resize(base, (10_000, 64, 64)), 12.0))
    # The child's own peak: VmHWM belongs to its address space, made at exec. ru_maxrss also counts the
    # parent's resident set, which the child shared until exec (vfork), so it failed under make test-all.
    script = f"""
from emosketch.export import ExportOptions, export
export([{str(tmp_path / 'f.npz')!r}], {str(tmp_path / 'pack')!r}, ExportOptions(), verify=True)
print([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0])
"""
    done = subprocess.run([_python(), "-c", script], capture_output=True, text=True, check=True)
    assert int(done.stdout.split()[-1]) < 500 * 1024
    assert json.loads((tmp_path / "pack" / "manifest.json").read_text())["sequences"][0]["frame_count"] == 10_000


def test_an_alias_named_twice_on_the_command_line_is_one_line(tmp_path):
    from click.testing import CliRunner

    from emosketch.cli import cli
    from emosketch.emotions import canonical_list

    result = CliRunner().invoke(cli, ["prepare", "--source", "synthetic", "--classes", "happy,joy", "--out",
                                      str(tmp_path / "d")])
    assert result.exit_code == 1 and "'joy' appears twice (as 'happy')" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    with pytest.raises(ValueError):  # still a ValueError for callers that catch one
        canonical_list(["sad", "sadness"])
