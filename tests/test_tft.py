"""Colour TFT packs: RGB565 in ink and paper colours, the span codec on 16-bit pixels, the C player
core against the Python decoder, the Arduino examples, and `pack --tft`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emosketch.errors import EmosketchError
from emosketch.export.players import TFT_EXAMPLES
from emosketch.export.tft import (
    PANELS,
    TftOptions,
    build_tft_pack,
    decode_tft_pack,
    parse_colour,
    rgb565,
    shade_table,
    span_decode,
    span_encode,
    to_rgb565,
    write_tft_pack,
)
from emosketch.frames import Frames


def test_colours_become_rgb565():
    assert rgb565(parse_colour("white")) == 0xFFFF and rgb565(parse_colour("#000")) == 0
    assert rgb565(parse_colour("#ff0000")) == 0xF800 and rgb565(parse_colour("00ff00")) == 0x07E0
    assert rgb565(parse_colour("#0000FF")) == 0x001F
    for bad in ("#12345", "blurple", "", "#gggggg"):
        with pytest.raises(EmosketchError, match="colour"):
            parse_colour(bad)
    table = shade_table(parse_colour("yellow"), parse_colour("black"), 4)
    assert table[0] == 0 and table[-1] == rgb565(parse_colour("yellow")) and len(set(table.tolist())) == 4
    gray = np.array([[255, 0, 128]], np.uint8)
    assert to_rgb565(gray, table).tolist() == [[table[0], table[3], table[1]]]
    with pytest.raises(EmosketchError, match="shades"):
        shade_table((0, 0, 0), (255, 255, 255), 1)


frames_16 = st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.lists(st.sampled_from([0, 0, 0, 1, 0xFFFF, 0x1234, 0xF800]), min_size=n, max_size=n),
    st.lists(st.sampled_from([0, 0, 1, 0xFFFF, 0x1234]), min_size=n, max_size=n)))


@settings(max_examples=200, deadline=None)
@given(frames_16)
def test_spans_round_trip_any_frame_against_any_previous_one(pair):
    cur, prev = (np.array(v, np.uint16) for v in pair)
    data = span_encode(cur, prev)
    assert np.array_equal(span_decode(data, prev), cur)


def test_spans_are_small_for_small_changes_and_long_spans_split():
    prev = np.zeros((300, 300), np.uint16)  # 90,000 pixels: longer than a uint16 count
    cur = prev.copy()
    assert np.array_equal(span_decode(span_encode(cur, prev), prev), cur)
    assert len(span_encode(cur, prev)) == 6  # two skips with uint16 counts
    cur[150, 10:20] = 0xFFFF  # a run
    cur[151, 10:13] = [1, 2, 3]  # a literal
    data = span_encode(cur, prev)
    assert len(data) < 30 and np.array_equal(span_decode(data, prev), cur)
    full = np.full((300, 300), 0x1234, np.uint16)
    assert np.array_equal(span_decode(span_encode(full, prev), prev), full)
    for bad in (b"\x7f\x01", b"\xc0", b"\x40\x01", b"\x3f\xff\xff"):
        with pytest.raises(EmosketchError, match="span stream"):
            span_decode(bad, np.zeros(4, np.uint16))


def face_sequences(face_transition):
    return [("idle_neutral", "test", Frames(face_transition[:3], 10.0)),
            ("neutral_to_happy", "test", Frames(face_transition, 12.0)),
            ("happy_to_neutral", "test", Frames(face_transition[::-1].copy(), 12.0))]


@pytest.mark.parametrize("panel", sorted(PANELS))
def test_a_tft_pack_fills_its_panel_and_decodes_from_its_files(face_transition, tmp_path, panel):
    opts = TftOptions(panel=panel, ink="#4cc3ff", paper="#101010", name="pack")
    pack = build_tft_pack(face_sequences(face_transition), opts)
    w, h = PANELS[panel]
    assert pack.words.shape == (3 + 12 + 12, h, w)
    assert set(np.unique(pack.words).tolist()) <= set(pack.table.tolist())
    ink = pack.words != pack.table[0]
    rows, cols = np.flatnonzero(ink.any(axis=(0, 2))), np.flatnonzero(ink.any(axis=(0, 1)))
    src = (face_transition < 128).any(axis=0)  # the drawing's own extent in its frames
    src_rows, src_cols = np.flatnonzero(src.any(1)), np.flatnonzero(src.any(0))
    scale = min(w, h) / face_transition.shape[1]  # the whole face on the panel's shorter side
    assert np.ptp(cols) >= 0.9 * scale * np.ptp(src_cols) and np.ptp(rows) >= 0.9 * scale * np.ptp(src_rows)
    aspect = (np.ptp(cols) / np.ptp(rows)) / (np.ptp(src_cols) / np.ptp(src_rows))
    assert 1 / 1.15 < aspect < 1.15  # as the panel drawing lays it out: never stretched
    folder = write_tft_pack(pack, tmp_path / "pack")
    assert np.array_equal(decode_tft_pack(folder), pack.words)
    m = json.loads((folder / "manifest.json").read_text())
    assert m["raw_bytes"] / m["total_bytes"] > 5 and m["panel"] == panel
    assert [s["ident"] for s in m["sequences"]] == ["idle_neutral", "neutral_to_happy", "happy_to_neutral"]
    assert {p.name for p in folder.iterdir()} >= {"frames.bin", "manifest.json", "pack_tft.h", "emosketch_tft.c",
                                                 "emosketch_tft.h", "preview.gif", "tft_espi", "adafruit_gfx"}


HOST_HEAD = r"""
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "emosketch_tft.h"
#include "pack_tft.h"

static uint16_t screen[PACK_HEIGHT][PACK_WIDTH];

static void span(void *ctx, uint16_t x, uint16_t y, uint16_t n, const uint8_t *words, uint16_t colour)
{
    uint16_t i;
    (void)ctx;
    for (i = 0; i < n; i++)
        screen[y][x + i] = words ? (uint16_t)(words[2 * i] | (words[2 * i + 1] << 8)) : colour;
}
"""

C_HOST = HOST_HEAD + r"""
int main(int argc, char **argv)
{
    es_tft_player player;
    uint32_t now = 0;
    unsigned step = 0, steps = (unsigned)atoi(argv[1]);
    int a = 2;
    memset(screen, 0xAA, sizeof screen);  /* the player starts on any screen: a key frame paints it all */
    es_tft_player_init(&player, &pack_tft_pack, 0);
    while (step < steps) {
        while (a + 1 < argc && (unsigned)atoi(argv[a]) == step) {  /* requests: step emotion pairs */
            es_tft_player_request(&player, (uint8_t)atoi(argv[a + 1]));
            a += 2;
        }
        if (es_tft_player_update(&player, now, span, 0)) {
            fwrite(screen, sizeof screen, 1, stdout);
            step++;
        }
        now += 10;
    }
    /* a damaged frame is refused, not overrun */
    {
        es_tft_pack bad = pack_tft_pack;
        static const uint8_t junk[] = {0x7f, 0x01};
        static const uint32_t offs[] = {0, 2, 2};
        bad.data = junk;
        bad.offsets = offs;
        bad.frame_count = 2;
        fprintf(stderr, "damaged:%d\n", es_tft_draw_frame(&bad, 0, 1, span, 0));
    }
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
@pytest.mark.parametrize("flags", [[], ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]],
                         ids=["plain", "asan-ubsan"])
def test_the_c_player_runs_the_emotion_state_machine_on_the_python_decoders_frames(face_transition, tmp_path, flags):
    hostile = 'idle happy */ "x" \\ ??='  # a name that must reach C only through the escaping function
    seqs = face_sequences(face_transition) + [("idle_happy", "test", Frames(face_transition[-2:], 10.0)),
                                                (hostile, "test", Frames(face_transition[:2], 10.0))]
    pack = build_tft_pack(seqs, TftOptions(panel="st7789-135x240", name="pack"))
    folder = write_tft_pack(pack, tmp_path / "pack")
    assert hostile not in (folder / "pack_tft.h").read_text()
    (tmp_path / "host.c").write_text(C_HOST)
    exe = tmp_path / "host"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-g", *flags,
                    f"-I{folder}", str(tmp_path / "host.c"), str(folder / "emosketch_tft.c"), "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    # emotions: neutral (0), happy (1). idle_neutral = frames 0-2, neutral_to_happy 3-14,
    # happy_to_neutral 15-26, idle_happy 27-28. Ask for happy at step 2 (mid loop: the transition waits
    # for the loop's pose, its first frame, shown again at step 3), neutral at step 8 (mid transition: it
    # waits), happy at 9 (replaces it: the transition's own target, so nothing more is pending).
    run = subprocess.run([str(exe), "40", "2", "1", "8", "0", "9", "1"], check=True, capture_output=True)
    drawn = np.frombuffer(run.stdout, np.uint16).reshape(40, *pack.words.shape[1:])
    expected = [0, 1, 2, 0] + list(range(3, 15)) + [27, 28] * 12
    assert np.array_equal(drawn, pack.words[expected[:40]])
    assert b"damaged:0" in run.stderr


TFT_STUBS = {
    "Arduino.h": "#pragma once\n#include <stdint.h>\nunsigned long millis();\n",
    "SPI.h": "#pragma once\n",
    "Adafruit_GFX.h": "#pragma once\n",
    "TFT_eSPI.h": """#pragma once
#include <Arduino.h>
struct TFT_eSPI { void init(); void setRotation(int); void fillScreen(uint16_t); void startWrite(); void endWrite();
  void drawFastHLine(int, int, int, uint16_t); void setAddrWindow(int, int, int, int); void pushColor(uint16_t); };
""",
    "Adafruit_ST7789.h": """#pragma once
#include <Arduino.h>
struct Adafruit_ST7789 { Adafruit_ST7789(int, int, int); void init(int, int); void fillScreen(uint16_t);
  void startWrite(); void endWrite(); void writeFastHLine(int, int, int, uint16_t); void writePixel(int, int, uint16_t); };
""",
    "Adafruit_ILI9341.h": """#pragma once
#include <Arduino.h>
struct Adafruit_ILI9341 { Adafruit_ILI9341(int, int, int); void begin(); void setRotation(int); void fillScreen(uint16_t);
  void startWrite(); void endWrite(); void writeFastHLine(int, int, int, uint16_t); void writePixel(int, int, uint16_t); };
""",
}


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")
@pytest.mark.parametrize("example,defines", [("tft_espi", []), ("adafruit_gfx", ["-DEMOSKETCH_ILI9341=0"]),
                                             ("adafruit_gfx", ["-DEMOSKETCH_ILI9341=1"])])
def test_tft_examples_compile_against_the_library_apis(face_transition, tmp_path, example, defines):
    assert sorted(p.name for p in TFT_EXAMPLES.iterdir()) == ["adafruit_gfx", "tft_espi"]
    folder = write_tft_pack(build_tft_pack(face_sequences(face_transition), TftOptions(name="pack")), tmp_path / "pack")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for name, text in TFT_STUBS.items():
        (stubs / name).write_text(text)
    subprocess.run(["g++", "-std=c++11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-x", "c++", *defines,
                    f"-I{stubs}", f"-I{folder}", "-include", "Arduino.h", str(folder / example / f"{example}.ino")],
                   check=True, capture_output=True, text=True)


def test_pack_tft_from_a_photo(tmp_path):
    from click.testing import CliRunner

    from emosketch.cli import TFT_PANELS, cli
    from emosketch.models import demo_photo

    assert set(TFT_PANELS) == set(PANELS)
    out = tmp_path / "tft"
    r = CliRunner().invoke(cli, ["pack", "--input", str(demo_photo()), "--tft", "ili9341-320x240", "--ink", "cyan",
                                 "--emotions", "neutral,happy", "--transition-frames", "3", "--idle-frames", "2",
                                 "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "verified pixel for pixel" in r.output
    assert "`--size 320x240 --format gfx` (without --tft)" in r.output  # two shades: the 1-bit pack's way
    words = decode_tft_pack(out)
    assert words.shape == (2 * 2 + 2 * 3, 240, 320)
    r = CliRunner().invoke(cli, ["pack", "--input", str(demo_photo()), "--tft", "st7789-240x240", "--ink", "nope",
                                 "--out", str(tmp_path / "x")])
    assert r.exit_code != 0 and "colour 'nope'" in r.output and not (tmp_path / "x").exists()
    for options, words in ((["--tft", "st7789-240x240", "--max-bytes", "100"], "--max-bytes: for OLED packs"),
                           (["--tft", "st7789-240x240", "--size", "128x32", "--codec", "rle"], "--size, --codec: for OLED"),
                           (["--shades", "4"], "--shades: for TFT packs; give --tft"),
                           (["--tft", "st7789-240x240", "--ink", "white", "--paper", "#fff"], "are one colour"),
                           # two colours in 24 bits, one in the panel's 16 (a blank pack, "verified", exit 0)
                           (["--tft", "st7789-240x240", "--ink", "#000000", "--paper", "#060306"], "one colour on the "
                            "panel (RGB565)")):
        r = CliRunner().invoke(cli, ["pack", "--input", str(demo_photo()), *options, "--out", str(tmp_path / "x")])
        assert r.exit_code == 2 and words in r.output and not (tmp_path / "x").exists(), r.output  # before any work


@pytest.mark.parametrize("name, seqs, words", [
    ("emosketch", ["idle_happy"], "reserved for the player's files"),  # its header would be emosketch_tft.h
    ("es", ["idle_happy"], "reserved"),  # es_tft_pack is the player's type
    ("pack", ["idle_count", "idle_happy"], "would define PACK_EMOTION_COUNT twice"),
    ("int16", ["idle_happy"], "would define INT16_WIDTH, which the C library"),  # <stdint.h>'s (C23)
])
def test_a_tft_pack_name_that_would_break_its_header_is_refused_before_work(name, seqs, words):
    """Each compiled to errors or lost the pack's header (a name 'emosketch' overwrote it with the player's)
    while the command said 'verified'; OLED packs were already checked this way."""
    frames = Frames(np.full((2, 64, 64), 255, np.uint8), 10.0)
    with pytest.raises(EmosketchError, match=words):
        build_tft_pack([(s, "test", frames) for s in seqs], TftOptions(panel="st7789-135x240", name=name))
    assert TftOptions().name == "pack"


DAMAGE_HOST = HOST_HEAD + r"""
/* host N [D [MS]]: plays N frames of a copy of the pack whose frame D (1 unless given) is cut a byte short (the
 * byte moved to frame D + 1), writing each screen drawn, and asks for emotion 1 at MS ms if given; prints the
 * updates that drew nothing. */
int main(int argc, char **argv)
{
    es_tft_pack k = pack_tft_pack;
    es_tft_player player;
    uint32_t *offs = malloc(sizeof pack_tft_offsets), now = 0;
    unsigned shown = 0, skipped = 0, steps = (unsigned)atoi(argv[1]);
    unsigned damaged = argc > 2 ? (unsigned)atoi(argv[2]) : 1u, ask = argc > 3 ? (unsigned)atoi(argv[3]) : ~0u;
    memcpy(offs, pack_tft_offsets, sizeof pack_tft_offsets);
    offs[damaged + 1u] -= 1u;
    k.offsets = offs;
    if (es_tft_player_init(&player, &k, 0)) return 3;
    while (shown < steps && now < 100000u) {
        if (now == ask) es_tft_player_request(&player, 1);
        if (es_tft_player_update(&player, now, span, 0)) {
            fwrite(screen, sizeof screen, 1, stdout);
            shown++;
        } else if (!player.started || (int32_t)(player.due - now) <= 0) {
            skipped++;
        }
        now += 10;
    }
    fprintf(stderr, "skipped:%u\n", skipped);
    free(offs);
    return 0;
}
"""


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
def test_the_c_player_goes_on_from_the_next_sequence_after_a_damaged_frame(face_transition, tmp_path):
    """es_tft_player_update ignored a damaged frame: what was drawn up to the damage stayed, and the
    sequence's next frames were drawn over that broken screen. It now goes on from the next sequence, whose
    first frame repaints the screen, so every screen drawn is a frame of the pack."""
    pack = build_tft_pack(face_sequences(face_transition), TftOptions(panel="st7789-135x240", name="pack"))
    folder = write_tft_pack(pack, tmp_path / "pack")
    (tmp_path / "host.c").write_text(DAMAGE_HOST)
    exe = tmp_path / "host"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", f"-I{folder}", str(tmp_path / "host.c"), str(folder / "emosketch_tft.c"),
                    "-o", str(exe)], check=True, capture_output=True, text=True,
                   env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"})
    run = subprocess.run([str(exe), "6"], check=True, capture_output=True)
    drawn = np.frombuffer(run.stdout, np.uint16).reshape(6, *pack.words.shape[1:])
    assert b"skipped:" in run.stderr and int(run.stderr.split(b":")[1]) >= 1
    for screen in drawn:  # idle_neutral's frame 0 each time: frames 1 and 2 are never drawn
        assert np.array_equal(screen, pack.words[0])
    # the loop's first frame, its pose, damaged: a request waiting for the pose begins at the damage (it had
    # waited for ever, and nothing more was drawn)
    seqs = face_sequences(face_transition) + [("idle_happy", "test", Frames(face_transition[-2:], 10.0))]
    pack = build_tft_pack(seqs, TftOptions(panel="st7789-135x240", name="pack"))
    folder = write_tft_pack(pack, tmp_path / "two", force=True)
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all", f"-I{folder}", str(tmp_path / "host.c"), str(folder / "emosketch_tft.c"),
                    "-o", str(exe)], check=True, capture_output=True, text=True,
                   env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"})
    run = subprocess.run([str(exe), "4", "0", "50"], check=True, capture_output=True)
    drawn = np.frombuffer(run.stdout, np.uint16).reshape(4, *pack.words.shape[1:])
    assert np.array_equal(drawn, pack.words[3:7])  # neutral_to_happy from its first frame
