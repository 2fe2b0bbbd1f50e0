"""Damaged packs on the device players: a corrupted flash or a hand-edited header is refused with a
documented error, never read or written past its bounds. The C players (OLED and TFT) run under
AddressSanitizer and UBSan, every bit of a pack flipped in turn; the C decoder under libFuzzer."""

from __future__ import annotations

import os
import re
import resource
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from test_players import state_machine_pack

from emosketch.export import Dither, index, write_pack
from emosketch.export.players import C_PLAYER, TFT_PLAYER

FUZZ = Path(__file__).resolve().parent / "fuzz"
HARNESS = FUZZ / "es_pack_fuzz.c"
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
NO_LEAK_CHECK = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0"}  # the test hosts keep their tables to the end
ES_ERR = {"GEOMETRY": 1, "OFFSETS": 2, "CODEC": 3, "SEQUENCES": 4, "EMOTIONS": 5}
needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")

# Packs of every pixel format, codec family and pen coding, small enough to flip every bit of.
PACKS = {
    "ssd1306-auto-pen": dict(dither=Dither("lineart", thin=True, line=2), codec="auto"),
    "sh1106-ctx-pen": dict(dither=Dither("lineart", thin=True, line=2), pixel_format="sh1106", codec="ctx"),
    "gfx-ctx": dict(pixel_format="gfx", codec="ctx", panel=(96, 32)),
    "gfx-delta": dict(pixel_format="gfx", codec="delta", panel=(90, 30)),
    "xbm-raw-pen": dict(dither=Dither("lineart", thin=True, line=2), pixel_format="xbm", codec="raw", panel=(90, 30)),
    "ssd1306-rle-odd": dict(codec="rle", panel=(72, 36)),
}


def serialize(pack) -> bytes:
    """A pack as the fuzz harness reads it: uint32 len(index.bin), index.bin, frames.bin."""
    idx = index.render(pack)
    return struct.pack("<I", len(idx)) + idx + pack.data


def small_pack(kind: str):
    kw = dict(PACKS[kind])
    return state_machine_pack(frames_per_idle=3, frames_per_transition=4, size=64, **kw)


def gcc(out: Path, sources: list[Path], include: list[Path], *defines: str) -> Path:
    cmd = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-g", *SANITIZE, *defines,
           *(f"-I{p}" for p in include), *map(str, sources), "-o", str(out)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


# --- The OLED player: es_player_init checks the descriptor -------------------------------------------

DESCRIPTOR_HOST = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emosketch_player.h"
#include "pack.h"

/* host FIELD VALUE: pack_pack with one field or table entry changed, in heap copies of exactly
 * their own size; prints es_player_init's verdict, then plays 40 frames with requests. */
int main(int argc, char **argv)
{
    es_pack k = pack_pack;
    es_player p;
    const char *f = argv[1];
    long v = atol(argv[2]), i;
    uint8_t *buf = malloc(PACK_FRAME_BYTES);
    int16_t *idle = malloc(sizeof pack_idle), *trans = malloc(sizeof pack_transitions);
    uint16_t *seqs = malloc(sizeof pack_sequences);
    uint32_t *offs = malloc(sizeof pack_offsets);
    int err, shown = 0;
    if (argc != 3) return 2;
    memcpy(idle, pack_idle, sizeof pack_idle);
    memcpy(trans, pack_transitions, sizeof pack_transitions);
    memcpy(seqs, pack_sequences, sizeof pack_sequences);
    memcpy(offs, pack_offsets, sizeof pack_offsets);
    k.idle = idle; k.transitions = trans; k.sequences = seqs; k.offsets = offs;
    if (!strcmp(f, "width")) k.width = (uint16_t)v;
    else if (!strcmp(f, "height")) k.height = (uint16_t)v;
    else if (!strcmp(f, "column_offset")) k.column_offset = (uint16_t)v;
    else if (!strcmp(f, "stride")) k.stride = (uint16_t)v;
    else if (!strcmp(f, "frame_bytes")) k.frame_bytes = (uint16_t)v;
    else if (!strcmp(f, "frame_count")) k.frame_count = (uint16_t)v;
    else if (!strcmp(f, "sequence_count")) k.sequence_count = (uint16_t)v;
    else if (!strcmp(f, "emotion_count")) k.emotion_count = (uint8_t)v;
    else if (!strcmp(f, "pen")) k.pen = (uint8_t)v;
    else if (!strcmp(f, "data_bytes")) k.data_bytes = (uint32_t)v;
    else if (!strcmp(f, "model")) k.model = 0;
    else if (!strcmp(f, "idle")) idle[1] = (int16_t)v;
    else if (!strcmp(f, "transition")) trans[1] = (int16_t)v;
    else if (!strcmp(f, "sequence_first")) seqs[3 * (PACK_SEQUENCE_COUNT - 1)] = (uint16_t)v;
    else if (!strcmp(f, "sequence_count_of_last")) seqs[3 * (PACK_SEQUENCE_COUNT - 1) + 1] = (uint16_t)v;
    else if (!strcmp(f, "sequence_ms")) seqs[2] = (uint16_t)v;
    else if (!strcmp(f, "offset")) offs[2] = (uint32_t)v;
    else if (strcmp(f, "none")) return 2;
    err = es_player_init(&p, &k, buf, 0);
    printf("%d ", err);
    for (i = 0; i < 40; i++) {
        if (i % 6 == 3) es_player_request(&p, (uint8_t)(i % 4));
        shown += es_player_update(&p, (uint32_t)(i * 1000));
    }
    printf("%d\n", shown);
    return 0;
}
"""


@pytest.fixture(scope="module")
def descriptor_host(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    folder = tmp_path_factory.mktemp("descriptor") / "pack"
    write_pack(state_machine_pack(dither=Dither("lineart", thin=True, line=2), codec="ctx", size=64), folder)
    (folder / "host.c").write_text(DESCRIPTOR_HOST)
    return gcc(folder / "host", [folder / "host.c", folder / "emosketch_player.c"], [folder])


def run_descriptor(exe: Path, field: str, value: int) -> tuple[int, int]:
    run = subprocess.run([str(exe), field, str(value)], capture_output=True, text=True, env=NO_LEAK_CHECK)
    assert run.returncode == 0, run.stderr[-3000:]  # ASan/UBSan stop the run with a report
    err, shown = run.stdout.split()
    return int(err), int(shown)


@pytest.mark.parametrize("field, value, error", [
    ("height", 65, "GEOMETRY"), ("width", 129, "GEOMETRY"), ("width", 0, "GEOMETRY"), ("height", 0, "GEOMETRY"),
    ("column_offset", 1, "GEOMETRY"), ("stride", 64, "GEOMETRY"), ("frame_bytes", 2048, "GEOMETRY"),
    ("pen", 3, "GEOMETRY"), ("height", 60000, "GEOMETRY"),
    ("data_bytes", 10, "OFFSETS"), ("offset", 0xFFFFFFF0, "OFFSETS"), ("frame_count", 5000, "OFFSETS"),
    ("model", 0, "CODEC"),
    ("sequence_count", 0, "SEQUENCES"), ("sequence_first", 60000, "SEQUENCES"),
    ("sequence_count_of_last", 0, "SEQUENCES"), ("sequence_ms", 0, "SEQUENCES"),
    ("sequence_count", 2, "SEQUENCES"), ("sequence_count", 9, "SEQUENCES"), ("idle", 300, "EMOTIONS"), ("idle", -1, "EMOTIONS"),
    ("transition", 7000, "EMOTIONS"), ("transition", -2, "EMOTIONS"), ("emotion_count", 200, "EMOTIONS"),
])
def test_the_c_player_refuses_a_damaged_descriptor(descriptor_host, field, value, error):
    """The probe's cases (height 65, width 129 wrote past the frame in pen_pass; an idle or transition
    entry past the sequences read past them in seq_field) and their neighbours: es_player_init
    returns the documented code, and the refused player shows nothing."""
    assert run_descriptor(descriptor_host, "none", 0) == (0, 40)
    assert run_descriptor(descriptor_host, field, value) == (ES_ERR[error], 0)


@pytest.fixture(scope="module")
def sweep_exe(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    folder = tmp_path_factory.mktemp("sweep")
    return gcc(folder / "sweep", [HARNESS, C_PLAYER[1]], [C_PLAYER[0].parent], "-DES_SWEEP")


def sweep(exe: Path, data: bytes, first: int, end: int, folder: Path) -> dict[str, int]:
    (folder / "pack.in").write_bytes(data)
    run = subprocess.run([str(exe), str(folder / "pack.in"), str(first), str(end)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    counts = {}
    for line in run.stdout.splitlines():
        words = line.split()
        if words[0] == "ES_ERR":
            counts[f"ES_ERR {words[1]}"] = int(words[2])
        else:
            counts.update({words[i]: int(words[i + 1]) for i in range(0, len(words), 2)})
    return counts


@pytest.mark.parametrize("kind", sorted(PACKS))
def test_every_bit_flip_of_a_pack_index_is_refused_or_played_in_bounds(sweep_exe, tmp_path, kind):
    """Each bit of index.bin's header and tables (not the context model), flipped in turn: the C
    player refuses the pack or plays it without a read or write out of bounds (ASan/UBSan)."""
    pack = small_pack(kind)
    data = serialize(pack)
    model_at = 4 + len(index.render(pack)) - len(pack.model)
    got = sweep(sweep_exe, data, 4, model_at, tmp_path)
    assert got["unflipped"] == 0 and got["refused"] > 0 and got["played"] > 0
    assert got["ES_ERR 1"] >= 40  # the 22-byte header alone: width, height, stride, frame bytes
    assert got["ES_ERR 2"] > 0 and got["ES_ERR 4"] > 0 and got["ES_ERR 5"] > 0


def test_flipped_frame_data_is_decoded_in_bounds(sweep_exe, tmp_path):
    """Every bit of frames.bin of a context-coded pen pack and a delta pack, flipped in turn."""
    for kind in ("sh1106-ctx-pen", "gfx-delta"):
        pack = small_pack(kind)
        data = serialize(pack)
        got = sweep(sweep_exe, data, len(data) - min(len(pack.data), 600), len(data), tmp_path)
        assert got["played"] == min(len(pack.data), 600) * 8


# --- The TFT player core ---------------------------------------------------------------------------

TFT_HOST = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "emosketch_tft.h"
#include "pack_tft.h"

static void span(void *ctx, uint16_t x, uint16_t y, uint16_t n, const uint8_t *words, uint16_t colour)
{
    const es_tft_pack *k = ctx;
    (void)words; (void)colour;
    if (!n || (uint32_t)x + n > k->width || y >= k->height) abort();  /* a span off the screen */
}

static int play(const es_tft_pack *k)
{
    es_tft_player p;
    int i, err = es_tft_player_init(&p, k, 0);
    for (i = 0; i < 30; i++) {
        if (i % 5 == 2) es_tft_player_request(&p, (uint8_t)(i % 3));
        if (es_tft_player_update(&p, (uint32_t)(i * 1000), span, (void *)k) && err) abort();
    }
    return err;
}

/* Each bit of the descriptor's numbers and of its tables, flipped in turn, in heap copies of exactly
 * their own size: prints "refused N played N" and the count per error code. */
int main(void)
{
    es_tft_pack k = pack_tft_pack;
    uint32_t *offs = malloc(sizeof pack_tft_offsets);
    uint16_t *seqs = malloc(sizeof pack_tft_sequences);
    int16_t *idle = malloc(sizeof pack_tft_idle), *trans = malloc(sizeof pack_tft_transitions);
    uint8_t *data = malloc(sizeof pack_tft_data);
    struct { void *at; size_t bytes; } fields[] = {
        {&k.width, 2}, {&k.height, 2}, {&k.frame_count, 2}, {&k.sequence_count, 2}, {&k.emotion_count, 1},
        {&k.data_bytes, 4}, {offs, sizeof pack_tft_offsets}, {seqs, sizeof pack_tft_sequences},
        {idle, sizeof pack_tft_idle}, {trans, sizeof pack_tft_transitions}};
    unsigned f, bit, counts[8] = {0}, played = 0, refused = 0;
    memcpy(offs, pack_tft_offsets, sizeof pack_tft_offsets);
    memcpy(seqs, pack_tft_sequences, sizeof pack_tft_sequences);
    memcpy(idle, pack_tft_idle, sizeof pack_tft_idle);
    memcpy(trans, pack_tft_transitions, sizeof pack_tft_transitions);
    memcpy(data, pack_tft_data, sizeof pack_tft_data);
    k.offsets = offs; k.sequences = seqs; k.idle = idle; k.transitions = trans; k.data = data;
    if (play(&k) != ES_TFT_OK) return 3;
    for (f = 0; f < sizeof fields / sizeof fields[0]; f++) {
        for (bit = 0; bit < 8u * fields[f].bytes; bit++) {
            uint8_t *b = (uint8_t *)fields[f].at + bit / 8u;
            int err;
            *b ^= (uint8_t)(1u << (bit % 8u));
            err = play(&k);
            *b ^= (uint8_t)(1u << (bit % 8u));
            if (err) { refused++; counts[err & 7]++; } else played++;
        }
    }
    k.width = 0;  /* no single flip makes it 0: the division by the width it guards */
    if (play(&k) != ES_TFT_ERR_GEOMETRY || es_tft_draw_frame(&k, 0, 1, span, &k)) return 4;
    printf("refused %u played %u\n", refused, played);
    for (f = 1; f < 8; f++) if (counts[f]) printf("ES_TFT_ERR %u %u\n", f, counts[f]);
    return 0;
}
"""


@needs_gcc
def test_every_bit_flip_of_a_tft_descriptor_is_refused_or_played_on_screen(tmp_path):
    """Width 0 divided by zero and unchecked idle/transition entries read past the tables: now each
    flip of the descriptor or its tables is refused (es_tft_player_init's ES_TFT_ERR_*) or plays
    with every span on the screen and every read in bounds."""
    import numpy as np

    from emosketch.export.tft import TftOptions, build_tft_pack, write_tft_pack
    from emosketch.frames import Frames

    frames = state_machine_pack(size=64).bits[:4].astype(np.uint8) * 255
    seqs = [("idle_neutral", "t", Frames(frames[:2], 10.0)), ("idle_happy", "t", Frames(frames[2:], 10.0)),
            ("neutral_to_happy", "t", Frames(frames, 10.0))]
    folder = write_tft_pack(build_tft_pack(seqs, TftOptions(panel="st7789-135x240", name="pack")), tmp_path / "pack")
    (folder / "host.c").write_text(TFT_HOST)
    exe = gcc(folder / "host", [folder / "host.c", TFT_PLAYER[1]], [folder, TFT_PLAYER[0].parent])
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=NO_LEAK_CHECK)
    assert run.returncode == 0, run.stderr[-3000:]
    counts = dict(re.findall(r"(refused|played|ES_TFT_ERR \d) (\d+)", run.stdout))
    assert int(counts["refused"]) > 0 and int(counts["played"]) > 0
    assert all(f"ES_TFT_ERR {code}" in counts for code in (2, 4, 5)), run.stdout


# --- The MicroPython player ------------------------------------------------------------------------

DAMAGE_SCRIPT = """
from emosketch_player import Pack, Player
out = open("out.bin", "w")
for name in %r:
    try:
        pack = Pack(index=open("idx_" + name, "rb").read(), frames=open("frm_" + name, "rb"))
    except ValueError as e:
        out.write(name + " refused " + str(e) + "\\n")
        continue
    player = Player(pack, None, 0)
    n = len(player.buf)
    try:
        for step in range(12):
            player.next_frame()
        verdict = "played"
    except ValueError as e:
        verdict = "corrupt " + str(e)
    if not len(player.buf) == len(player.stored) == n == pack.frame_bytes:
        verdict = "resized"
    out.write(name + " " + verdict + "\\n")
out.close()
"""


def damaged_packs(pack) -> dict[str, tuple[bytes, bytes]]:
    """The probe's corruptions of a pack's index.bin and frames.bin: {case: (index, frames)}."""
    idx, data = bytearray(index.render(pack)), bytes(pack.data)
    n = len(pack.payloads)
    codecs_at = index.HEADER.size + 4 * (n + 1)
    names_at = codecs_at + n + 6 * len(pack.sequences)
    idle_at = names_at + sum(1 + len(s.name) for s in pack.sequences) + sum(1 + len(e) for e in pack.emotions["names"])
    first = pack.offsets[0], pack.offsets[1]
    cases = {}

    def case(name, at=None, value=b"", frames=data, index_=None):
        changed = bytearray(idx if index_ is None else index_)
        if at is not None:
            changed[at:at + len(value)] = value
        cases[name] = (bytes(changed), frames)

    case("sound")
    case("raw-frame-of-the-wrong-length", codecs_at + 1, b"\x00")  # an RLE frame read as RAW
    literal = bytearray(data)
    literal[first[0]] = 0x7F  # a 128-byte literal in a shorter frame
    case("literal-past-the-frame", frames=bytes(literal))
    runs = bytearray(data)
    runs[first[0]:first[1]] = b"\xff" * (first[1] - first[0])  # runs of 130 bytes, past the 1024
    case("runs-past-the-frame", frames=bytes(runs))
    case("end-before-start", index.HEADER.size + 4 * 2, struct.pack("<I", 1))
    case("frames-truncated", frames=data[:len(data) // 2])
    case("index-truncated-in-header", index_=idx[:10])
    case("index-truncated-in-offsets", index_=idx[:index.HEADER.size + 9])
    case("index-truncated-in-names", index_=idx[:names_at + 3])
    case("index-truncated-in-tables", index_=idx[:idle_at + 3])
    case("name-not-utf8", names_at + 1, b"\xff\xfe")
    case("name-length-past-the-end", names_at, b"\xff")
    case("height-65", 8, struct.pack("<H", 65))
    case("width-129", 6, struct.pack("<H", 129))
    case("column-offset", 12, struct.pack("<H", 1))
    case("frame-count", 16, struct.pack("<H", n + 1))
    case("idle-past-the-sequences", idle_at + 2, struct.pack("<h", 99))
    case("transition-below-minus-one", idle_at + 2 * 3 + 2, struct.pack("<h", -5))
    case("codec-unknown", codecs_at, b"\x09")
    return cases


# What each corruption must give: "refused" by Pack(), "corrupt" from next_frame(), or "played".
DAMAGE_VERDICTS = {
    "sound": "played", "raw-frame-of-the-wrong-length": "corrupt", "literal-past-the-frame": "corrupt",
    "runs-past-the-frame": "corrupt", "end-before-start": "refused", "frames-truncated": "refused",
    "index-truncated-in-header": "refused", "index-truncated-in-offsets": "refused",
    "index-truncated-in-names": "refused", "index-truncated-in-tables": "refused", "name-not-utf8": "refused",
    "name-length-past-the-end": "refused", "height-65": "refused", "width-129": "refused", "column-offset": "refused",
    "frame-count": "refused", "idle-past-the-sequences": "refused", "transition-below-minus-one": "refused",
    "codec-unknown": "refused"}


def write_damaged(tmp_path) -> tuple[Path, list[str]]:
    pack = state_machine_pack(codec="rle", size=64)
    folder = tmp_path / "pack"
    write_pack(pack, folder)
    cases = damaged_packs(pack)
    assert set(cases) == set(DAMAGE_VERDICTS)
    for name, (idx, frames) in cases.items():
        (folder / f"idx_{name}").write_bytes(idx)
        (folder / f"frm_{name}").write_bytes(frames)
    return folder, sorted(cases)


def assert_verdicts(report: str) -> None:
    got = {line.split()[0]: line.split(" ", 1)[1] for line in report.splitlines()}
    assert {name: v.split()[0] for name, v in got.items()} == DAMAGE_VERDICTS, report
    for name, v in got.items():  # each refusal says what is wrong with the pack
        assert v == "played" or "index.bin is damaged" in v or "corrupt frame" in v or "ends inside" in v \
            or "not an emosketch index.bin" in v, (name, v)


def test_the_micropython_player_refuses_damaged_packs_without_resizing_its_buffer(tmp_path, monkeypatch):
    """Under CPython with a stand-in framebuf: every corruption is a ValueError that says what is
    wrong (not struct.error, IndexError or UnicodeDecodeError), and the frame buffer keeps its size."""
    from conftest import fake_framebuf, load_module

    folder, names = write_damaged(tmp_path)
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    monkeypatch.setitem(sys.modules, "emosketch_player", load_module(folder / "emosketch_player.py"))
    monkeypatch.chdir(folder)
    exec(DAMAGE_SCRIPT % (names,), {"__name__": "__main__"})
    assert_verdicts((folder / "out.bin").read_text())


def test_real_micropython_refuses_damaged_packs_without_resizing_its_buffer(tmp_path):
    """The same corruptions on real MicroPython, where a resized bytearray leaves framebuf reading
    freed memory."""
    from conftest import micropython_missing, run_micropython

    if micropython_missing():
        pytest.skip(micropython_missing())
    folder, names = write_damaged(tmp_path)
    out, _ = run_micropython(folder, DAMAGE_SCRIPT % (names,))
    assert_verdicts(out.decode())


# --- A context-coded frame cut short, its offsets agreeing --------------------------------------------

def cut_pack(kind: str, folder: Path) -> tuple[Path, Path, int]:
    """The pack written sound, and again with the middle frame of its first emotion's idle loop cut
    by one byte (every offset after it moved to agree): (sound folder, cut folder, that frame)."""
    import dataclasses

    pack = small_pack(kind)
    cut = pack.sequences[pack.emotions["idle"][0]].first + 1
    payloads = list(pack.payloads)
    payloads[cut] = (payloads[cut][0], payloads[cut][1][:-1])
    assert payloads[cut + 1][0] == 4  # a ctx delta frame follows, built on the cut one
    write_pack(pack, folder / "sound")
    write_pack(dataclasses.replace(pack, payloads=payloads), folder / "cut")
    return folder / "sound", folder / "cut", cut


def assert_never_shown(sound: list[str], cut: list[str], frame: int) -> None:
    """Lines "FRAME shown HEX" or "FRAME corrupt ..." from playing the sound and the cut pack: the cut
    frame and the delta frame after it are never shown (the loop starts again from its key frame),
    and each frame shown is the sound pack's."""
    shown = {int(line.split()[0]): line.split()[2] for line in sound}
    assert all(line.split()[1] == "shown" for line in sound), sound
    verdicts = [(int(line.split()[0]), line.split()[1]) for line in cut]
    assert verdicts[:4] == [(frame - 1, "shown"), (frame, "corrupt"), (frame - 1, "shown"), (frame, "corrupt")], cut
    assert {f for f, v in verdicts if v == "shown"} == {frame - 1}, cut
    for line in cut:
        f, verdict, *rest = line.split()
        if verdict == "shown":
            assert rest[0] == shown[int(f)], f"frame {f} shown with other pixels than the sound pack's"


CUT_HOST = r"""
#include <stdio.h>
#include "emosketch_player.h"
#include "pack.h"

/* Plays 12 frames of emotion 0's idle loop: "FRAME shown HEX" or "FRAME corrupt", then es_decode_frame's
 * verdict on every frame in order. */
int main(void)
{
    static uint8_t buf[PACK_FRAME_BYTES];
    es_player p;
    unsigned i, j;
    if (es_player_init(&p, &pack_pack, buf, 0) != ES_OK) return 3;
    for (i = 0; i < 12; i++) {
        uint16_t ms = es_player_next(&p);
        printf("%u %s ", (unsigned)p.frame, ms ? "shown" : "corrupt");
        for (j = 0; ms && j < PACK_FRAME_BYTES; j++) printf("%02x", buf[j]);
        printf("\n");
    }
    for (i = 0; i < PACK_FRAME_COUNT; i++) printf("decode %u %d\n", i, es_decode_frame(&pack_pack, (uint16_t)i, buf));
    return 0;
}
"""


@needs_gcc
@pytest.mark.parametrize("kind", ["sh1106-ctx-pen", "gfx-ctx"])
def test_the_c_player_shows_nothing_of_a_context_coded_frame_cut_short(tmp_path, kind):
    """The encoder strips a frame's trailing zeros, so a frame cut short by a byte, its offsets
    agreeing, passed every check and played garbage. Its range coder does not end on its last byte:
    es_decode_frame refuses it, and the player shows neither it nor the delta frame built on it."""
    sound, cut, frame = cut_pack(kind, tmp_path)
    out = {}
    for folder in (sound, cut):
        (folder / "host.c").write_text(CUT_HOST)
        exe = gcc(folder / "host", [folder / "host.c", folder / "emosketch_player.c"], [folder])
        run = subprocess.run([str(exe)], capture_output=True, text=True, env=NO_LEAK_CHECK)
        assert run.returncode == 0, run.stderr[-3000:]
        out[folder] = run.stdout.splitlines()
    refused = [int(line.split()[1]) for line in out[cut] if line.startswith("decode") and line.endswith(" 0")]
    assert refused and refused[0] == frame and set(refused) <= {frame, frame + 1}  # frame + 1 decoded on the garbage
    assert not [line for line in out[sound] if line.startswith("decode") and line.endswith(" 0")]
    assert_never_shown(*([line for line in out[f] if not line.startswith("decode")] for f in (sound, cut)), frame)


CUT_SCRIPT = """
from emosketch_player import Pack, Player
out = open("out.bin", "w")
player = Player(Pack("."), None, 0)
for step in range(12):
    try:
        player.next_frame()
        out.write("%d shown %s\\n" % (player.frame, "".join("%02x" % b for b in player.buf)))
    except ValueError as e:
        out.write("%d corrupt %s\\n" % (player.frame, e))
out.close()
"""


@pytest.mark.parametrize("kind", ["sh1106-ctx-pen", "gfx-ctx"])
def test_the_micropython_player_refuses_a_context_coded_frame_cut_short(tmp_path, monkeypatch, kind):
    """The same cut under CPython with a stand-in framebuf: a ValueError for the cut frame ("corrupt
    frame N"), the delta frame built on it never shown, and every frame shown is the sound pack's."""
    from conftest import fake_framebuf, load_module

    sound, cut, frame = cut_pack(kind, tmp_path)
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    lines = {}
    for folder in (sound, cut):
        monkeypatch.setitem(sys.modules, "emosketch_player", load_module(folder / "emosketch_player.py"))
        monkeypatch.chdir(folder)
        exec(CUT_SCRIPT, {"__name__": "__main__"})
        lines[folder] = (folder / "out.bin").read_text().splitlines()
    assert f"{frame} corrupt corrupt frame {frame} (context-coded data cut short or damaged)" in lines[cut]
    assert_never_shown(lines[sound], lines[cut], frame)


def test_real_micropython_refuses_a_context_coded_frame_cut_short(tmp_path):
    """The same on real MicroPython, for the page format with the 2 px pen."""
    from conftest import micropython_missing, run_micropython

    if micropython_missing():
        pytest.skip(micropython_missing())
    sound, cut, frame = cut_pack("sh1106-ctx-pen", tmp_path)
    lines = [run_micropython(f, CUT_SCRIPT)[0].decode().splitlines() for f in (sound, cut)]
    assert_never_shown(*lines, frame)


# --- libFuzzer over the C decoder -------------------------------------------------------------------

def fuzz_build(tmp_path) -> Path:
    """The harness built with clang's libFuzzer, ASan and UBSan; skips when clang cannot (make clang)."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (make clang: Debian's clang, whose libFuzzer the fuzz tests use)")
    exe = tmp_path / "es_pack_fuzz"
    cmd = ["clang", "-std=c99", "-O1", "-g", "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all",
           f"-I{C_PLAYER[0].parent}", str(HARNESS), str(C_PLAYER[1]), "-o", str(exe)]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode and "libclang_rt.fuzzer" in run.stderr:
        pytest.skip("clang has no libFuzzer here (Debian: libclang-rt-dev)")
    assert run.returncode == 0, run.stderr[-3000:]
    return exe


def fuzz(tmp_path, seconds: int) -> int:
    """Runs the fuzzer for `seconds` from a seed corpus of real packs; returns the executions it made.
    A crash, leak or sanitizer report fails the test with the reproducer's path."""
    exe = fuzz_build(tmp_path)
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for kind in PACKS:
        (seeds / kind).write_bytes(serialize(small_pack(kind)))
    found = tmp_path / "found"  # libFuzzer writes what it finds into the first folder
    found.mkdir()
    # libFuzzer reads its RSS as the peak (getrusage), and Linux carries a process's peak across fork and
    # exec: the fuzzer starts at this test process's peak (over 2 GB after the GAN tests) and would stop at
    # once with "out-of-memory". So its RSS budget is 2 GB above that peak; one allocation stays within 2 GB.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    run = subprocess.run([str(exe), f"-max_total_time={seconds}", "-timeout=20", f"-rss_limit_mb={peak_mb + 2048}",
                          "-malloc_limit_mb=2048",
                          "-max_len=16384", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/", str(found),
                          str(seeds)], capture_output=True, text=True, timeout=seconds + 120)
    assert run.returncode == 0, run.stderr[-4000:]
    execs = int(re.search(r"stat::number_of_executed_units:\s*(\d+)", run.stderr).group(1))
    return execs


def test_libfuzzer_finds_nothing_in_the_c_decoder_in_25_seconds(tmp_path):
    """libFuzzer mutates real packs (every pixel format and codec) for 25 s: no crash, no sanitizer report."""
    assert fuzz(tmp_path, 25) > 1000


@pytest.mark.slow
def test_libfuzzer_finds_nothing_in_the_c_decoder_in_10_minutes(tmp_path, capsys):
    """`make test-all` (and `make fuzz`): EMOSKETCH_FUZZ_SECONDS, 600 by default; prints the executions."""
    seconds = int(os.environ.get("EMOSKETCH_FUZZ_SECONDS", "600"))
    execs = fuzz(tmp_path, seconds)
    with capsys.disabled():
        print(f"\nlibFuzzer: {execs} executions of the C player in {seconds} s, nothing found")
    assert execs > 0


def test_the_micropython_player_refuses_a_context_flag_on_rows_that_are_not_whole_blocks(tmp_path, monkeypatch):
    """A gfx pack 20 rows high with its context-model flag and a frame's codec set to context-coded: the decoder
    indexed past the last row (IndexError, which the player does not catch); now the frame is corrupt, as the
    C player has it."""
    from conftest import fake_framebuf, load_module

    pack = state_machine_pack(codec="rle", size=48, panel=(64, 20), pixel_format="gfx")
    folder = tmp_path / "pack"
    write_pack(pack, folder)
    idx = bytearray(index.render(pack))
    idx[index.HEADER.size - 1] |= 1  # the flags byte: a context model follows the tables
    idx[index.HEADER.size + 4 * (len(pack.payloads) + 1)] = 3  # frame 0: a context-coded key frame
    idx += bytes(2056)
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    player = load_module(folder / "emosketch_player.py")
    with open(folder / "frames.bin", "rb") as frames:
        mp_pack = player.Pack(index=bytes(idx), frames=frames)
        buf = bytearray(mp_pack.frame_bytes)
        with pytest.raises(ValueError, match="corrupt frame 0"):
            mp_pack.decode(0, buf)


def test_the_micropython_player_plays_on_past_a_corrupt_frame(tmp_path, monkeypatch):
    """update(), and so run() and the documented `while True: player.update()`, ended at the first corrupt
    frame with an uncaught ValueError; as the C player does, it now shows nothing for that frame, counts
    it, and goes on from the next sequence."""
    import io

    from conftest import fake_framebuf, load_module

    pack = state_machine_pack(codec="rle", size=48, panel=(64, 24))
    folder = tmp_path / "pack"
    write_pack(pack, folder)
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    player_module = load_module(folder / "emosketch_player.py", "emosketch_player_damaged")
    idx = (folder / "index.bin").read_bytes()
    frames = bytearray((folder / "frames.bin").read_bytes())
    sound = player_module.Pack(index=idx, frames=io.BytesIO(bytes(frames)))
    frames[sound.offsets[1]] = 0x7F  # frame 1 of the first idle loop: a 128-byte literal the frame does not hold
    damaged = player_module.Pack(index=idx, frames=io.BytesIO(bytes(frames)))
    player = player_module.Player(damaged, None, 0)
    shown = sum(player.update(now=1000 * i) for i in range(40))
    assert "corrupt frame 1" in str(player.last_error)
    assert shown == player.damaged == 20  # the idle loop restarts after its frame 1: frame 0 shown, 1 skipped


def test_the_micropython_player_refuses_a_frame_longer_than_its_codec_needs_before_reading_it(tmp_path, monkeypatch):
    """A frame whose offsets span a large frames.bin was read whole into RAM (4 MiB) and only then refused:
    the length is checked against what its codec can need first."""
    import tracemalloc

    from conftest import fake_framebuf, load_module

    folder = tmp_path / "pack"
    write_pack(state_machine_pack(codec="rle", size=48, panel=(64, 24)), folder)
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    player_module = load_module(folder / "emosketch_player.py", "emosketch_player_long")
    w, h = 128, 64
    fb = w * h // 8
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x7f" + bytes(128) + bytes(4 << 20))  # a 128-byte literal, then 4 MiB the frame never needs
    idx = struct.pack("<4sBBHHHHHHHBB", b"ESPK", 1, 0, w, h, w, 0, fb, 1, 1, 0, 0)
    idx += struct.pack("<2I", 0, big.stat().st_size) + bytes([1]) + struct.pack("<3H", 0, 1, 100) + b"\x01a"
    with open(big, "rb") as frames:
        pack = player_module.Pack(index=idx, frames=frames)
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match="corrupt frame 0"):
                pack.decode(0, bytearray(fb))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 64 * 1024
