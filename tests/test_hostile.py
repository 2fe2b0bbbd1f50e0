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

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emosketch.atomic import lock_path, output_lock
from emosketch.errors import EmosketchError
from emosketch.export import ExportOptions, Layout, build_pack, write_pack
from emosketch.export import c_header, html, micropython
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
    assert values["SEQUENCES"] == tuple(names)
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
