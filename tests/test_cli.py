"""The command line: help with examples, a working export, and one-line errors that leave nothing behind."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

from emosketch import __version__
from emosketch.cli import cli
from emosketch.frames import Frames, write_frames


@pytest.fixture
def run():
    runner = CliRunner()
    return lambda *args: runner.invoke(cli, [str(a) for a in args])


def test_version_and_help_open_with_examples(run):
    assert run("--version").output.strip().endswith(__version__)
    for cmd in ([], ["export"], ["demo"], ["interpolate"], ["agent"], ["pack"], ["train"], ["sample"], ["slim"]):
        out = run(*cmd, "--help").output
        assert "Example" in out and "emosketch " in out


def test_export_every_kind_of_input(run, tmp_path, face_transition):
    write_frames(tmp_path / "happy.gif", Frames(face_transition, 10))
    write_frames(tmp_path / "sad.mp4", Frames(face_transition[::-1].copy(), 10))
    write_frames(tmp_path / "folder", Frames(face_transition[:3], 10))
    cv2.imwrite(str(tmp_path / "still.png"), face_transition[0])
    marks = [{"sequence": "one"}] * 6 + [{"sequence": "two"}] * 6
    write_frames(tmp_path / "many.npz", Frames(face_transition, 10, marks))
    result = run("export", tmp_path / "happy.gif", tmp_path / "sad.mp4", tmp_path / "folder",
                 tmp_path / "still.png", tmp_path / "many.npz", "--out", tmp_path / "pack", "--verify",
                 "--size", "128x32", "--format", "gfx", "--stable")
    assert result.exit_code == 0, result.output
    assert "verified" in result.output
    m = json.loads((tmp_path / "pack" / "manifest.json").read_text())
    assert [s["name"] for s in m["sequences"]] == ["happy", "sad", "folder", "still", "one", "two"]
    assert [s["frame_count"] for s in m["sequences"]] == [12, 12, 3, 1, 6, 6]
    assert m["display"] == {"width": 128, "height": 32, "controller": "gfx"}
    names = {p.name for p in (tmp_path / "pack").iterdir()}
    assert names == {".emosketch", "manifest.json", "frames.bin", "index.bin", "pack.h", "pack.py", "preview.gif",
                     "contact_sheet.png", "index.html", "emosketch_player.h", "emosketch_player.c",
                     "emosketch_player.py", "emosketch_agent.h", "emosketch_agent.c"}


def test_export_with_the_context_codec(run, tmp_path, face_transition):
    write_frames(tmp_path / "a.npz", Frames(face_transition, 12))
    result = run("export", tmp_path / "a.npz", "--out", tmp_path / "p", "--codec", "ctx", "--verify")
    assert result.exit_code == 0, result.output
    assert "ctx" in result.output and "verified" in result.output
    m = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert {f["codec"] for f in m["frames"]} == {"ctx-key", "ctx"} and m["model_bytes"] == 2056
    bad = run("export", tmp_path / "a.npz", "--out", tmp_path / "q", "--codec", "ctx", "--size", "128x30", "--format", "gfx")
    assert bad.exit_code != 0 and "--codec ctx" in bad.output and not (tmp_path / "q").exists()


def test_export_line_fill_and_pen_coding(run, tmp_path, face_transition):
    from emosketch.export import manifest
    from emosketch.export.dither import Dither, narrow

    write_frames(tmp_path / "a.npz", Frames(face_transition, 12))
    packs = {}
    thin = ["--stroke-level", "96", "--polarity", "ink"]  # lit pixels are the strokes
    for name, options in {"plain": [*thin, "--fill", "bluenoise"], "bare": thin, "two": [*thin, "--thin"],
                          "two-flat": [*thin, "--thin", "--no-pen-coding"], "bold": ["--polarity", "ink"]}.items():
        result = run("export", tmp_path / "a.npz", "--out", tmp_path / name, "--mode", "face", "--verify", *options)
        assert result.exit_code == 0, result.output
        packs[name] = manifest.read(tmp_path / name)
    (plain, m_plain), (bare, m_bare), (two, m_two), (flat, m_flat), (bold, m_bold) = packs.values()
    assert m_bold["settings"]["dither"]["stroke_level"] == 200 and bold.sum() > bare.sum()  # bolder strokes
    assert m_bare["settings"]["dither"]["fill"] == "none" and bare.sum() < plain.sum()
    assert m_two["pen"] == 2 and m_flat["pen"] == 1 and m_plain["pen"] == 1
    assert np.array_equal(two, flat) and narrow(two) is not None  # the same 2 px lines, stored two ways
    assert m_two["frame_data_bytes"] < m_flat["frame_data_bytes"]
    assert Dither(**m_two["settings"]["dither"]).line == 2
    bad = run("export", tmp_path / "a.npz", "--out", tmp_path / "x", "--line", "3")
    assert bad.exit_code != 0 and "--line" in bad.output and not (tmp_path / "x").exists()
    bad = run("export", tmp_path / "a.npz", "--out", tmp_path / "x", "--stroke-level", "300")
    assert bad.exit_code != 0 and "--stroke-level" in bad.output and not (tmp_path / "x").exists()


def test_pack_defaults_to_the_panel_preset(run):
    import re

    from emosketch.export.panel import PANEL

    out = run("pack", "--help").output
    entries = {m.group(1): " ".join(m.group(2).split()) for m in re.finditer(r"^  (--\S+(?: / --\S+)?)(.*?)(?=^  -)", out, re.S | re.M)}
    for option, default in (("--mode", "fit"), ("--fill", "none"), ("--stable / --no-stable", "on for lineart"),
                            ("--thin / --no-thin", "no-thin"), ("--dither", "lineart"), ("--polarity", "paper"),
                            ("--min-stroke", "4"), ("--intensity", "1.0"), ("--stroke-level", str(PANEL.dither.stroke_level))):
        assert re.search(rf"\[default: {default}[];, ]", entries[option]), (option, entries.get(option))
    d = PANEL.dither  # the CLI spells the panel drawing's defaults without importing it: they must agree
    assert (PANEL.layout.mode, d.mode, d.fill, d.stable, d.thin, d.polarity, d.min_stroke, PANEL.layout.zoom) == \
        ("fit", "lineart", "none", True, False, "paper", 4, 1.0)
    from emosketch.interpolate.pack import INTENSITY
    assert INTENSITY == 1.0


def test_max_bytes_reports_what_was_dropped(run, tmp_path, face_transition):
    write_frames(tmp_path / "a.npz", Frames(face_transition, 12))
    result = run("export", tmp_path / "a.npz", "--out", tmp_path / "p", "--max-bytes", 400, "--codec", "auto")
    assert result.exit_code == 0, result.output
    assert "note: dropped" in result.output and "kept" in result.output
    assert json.loads((tmp_path / "p" / "manifest.json").read_text())["flash_bytes"] <= 400


def _png(folder, name="ok.png"):
    cv2.imwrite(str(folder / name), np.zeros((8, 8), np.uint8))


@pytest.mark.parametrize("setup, inputs, options, message", [
    (lambda d: (d / "empty.png").write_bytes(b""), ["empty.png"], [], "empty.png: file is empty"),
    (lambda d: (d / "bad.gif").write_bytes(b"GIF89a..."), ["bad.gif"], [], "bad.gif: not a readable GIF"),
    (lambda d: None, ["missing.png"], [], "missing.png: no such file"),
    (lambda d: np.savez(d / "zero.npz", frames=np.zeros((0, 4, 4), np.uint8)), ["zero.npz"], [], "holds no frames"),
    (lambda d: (_png(d, "a b.png"), _png(d, "a-b.png")), ["a b.png", "a-b.png"], [], "becomes 'a_b'"),
    (_png, ["ok.png"], ["--size", "12"], "WIDTHxHEIGHT"),
    (_png, ["ok.png"], ["--max-bytes", "10"], "even one frame"),
    (_png, ["ok.png"], ["--dither", "atkinson", "--stable"], "--stable needs"),
])
def test_errors_are_one_line_and_leave_nothing(run, tmp_path, setup, inputs, options, message):
    src = tmp_path / "in"
    src.mkdir()
    setup(src)
    result = run("export", *[src / name for name in inputs], *options, "--out", tmp_path / "pack")
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no pack, no temporary folder


def _bomb_png(folder, name="bomb.png", side=30000):
    """A PNG of a few hundred bytes whose header claims side x side pixels (one IDAT of nothing)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
                                + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def _npz_bomb(folder, name="bomb.npz"):
    """An .npz of a few MB whose frames unpack to 700 MB (zeros compress 1000:1)."""
    import zipfile

    header = np.lib.format.header_data_from_array_1_0(np.zeros((700, 1000, 1000), np.uint8))
    with zipfile.ZipFile(folder / name, "w", zipfile.ZIP_DEFLATED) as z, z.open("frames.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        block = bytes(1_000_000)
        for _ in range(700):
            f.write(block)


@pytest.mark.parametrize("setup, inputs, message", [
    (_bomb_png, ["bomb.png"], "bomb.png: image too large"),  # was a traceback, or 1.8 GB for a 30000x30000 1-bit PNG
    (lambda d: _bomb_png(d, side=8000), ["bomb.png"], "more than 50,000,000 pixels"),
    (_npz_bomb, ["bomb.npz"], "it unpacks to 700,000,128 bytes"),  # was 3 GB of memory for a 2.9 MB file
    (lambda d: (d / "t.npz").write_text("hello"), ["t.npz"], "not a readable frames .npz (not an .npz archive)"),
    (lambda d: np.savez(d / "f.npz", frames=np.zeros((2, 8, 8), np.uint8), fps=np.float64("nan")), ["f.npz"],
     "fps nan is not a positive number"),
])
def test_inputs_that_claim_more_than_they_hold_are_refused_before_they_are_unpacked(run, tmp_path, setup, inputs,
                                                                                     message):
    src = tmp_path / "in"
    src.mkdir()
    setup(src)
    result = run("export", *[src / name for name in inputs], "--out", tmp_path / "pack")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and message in lines[0], result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


@pytest.mark.parametrize("args, message", [
    (["interpolate", "--from", "neutral", "--to", "happy", "--frames", "1000000000", "--out", "x.npz"], "--frames"),
    (["interpolate", "--from", "neutral", "--to", "happy", "--hold", "-10", "--out", "x.npz"], "--hold"),
    (["interpolate", "--from", "neutral", "--to", "happy", "--fps", "nan", "--out", "x.npz"], "not a finite number"),
    (["interpolate", "--from", "neutral", "--to", "happy", "--fps", "0", "--out", "x.npz"], "--fps"),
    (["interpolate", "--from", "neutral", "--to", "happy", "--intensity", "nan", "--out", "x.npz"], "not a finite"),
    (["interpolate", "--from", "neutral", "--to", "happy", "--psi", "inf", "--out", "x.npz"], "--psi"),
    (["interpolate", "--from", "neutral", "--to", "happy", "--batch", "0", "--out", "x.npz"], "--batch"),
    (["interpolate", "--from", "neutral", "--to", "happy", "--seed", "99999999999999999999", "--out", "x.npz"], "--seed"),
    (["interpolate", "--from", "neutral", "--to", "happy", "--out", "t.webm"], "cannot write frames as '.webm'"),
    (["interpolate", "--from", "neutral", "--to", "happy", "--out", "t.npz", "--out", "t.m4v"], "'.m4v'"),
    (["pack", "--transition-frames", "1000000000", "--out", "p"], "--transition-frames"),
    (["pack", "--fps", "0", "--out", "p"], "--fps"),
    (["pack", "--max-bytes", "-5", "--out", "p"], "--max-bytes"),
    (["pack", "--frames-out", "f.webm", "--out", "p"], "'.webm'"),
    (["sample", "--input", "x.png", "--styles", "0", "--out", "s"], "--styles"),
    (["slim", "in.pt", "--out", "photo.png"], "name a .pt file"),
    (["stylegan2", "convert", "--model", "m.pkl", "--out", "face.png"], "name a .pt file"),
    (["stylegan2", "generate", "--model", "m.pkl", "--psi", "nan", "--out", "g"], "not a finite number"),
    (["stylegan2", "directions", "--model", "m.pt", "--classifier", "c.pt", "--samples", "1000000000",
      "--out", "d.pt"], "--samples"),
    (["stylegan2", "directions", "--model", "m.pt", "--classifier", "c.pt", "--strength", "nan", "--out", "d.pt"],
     "not a finite number"),
    (["dataset", "info", "ds", "--per-class", "-5"], "--per-class"),
    (["evaluate", "--classifier", "c.pt", "--data", "ds", "--checkpoint", "g.pt", "--faces", "0", "--out", "r"],
     "--faces"),
    (["prepare", "--source", "synthetic", "--workers", "100000", "--out", "ds"], "--workers"),
    (["slim", "in.pt", "--draw-size", "0", "--out", "g.pt"], "--draw-size"),  # it had meant "none", silently
    (["slim", "in.pt", "--mix", "fear=fear:1", "--mix", "fear=sad:1", "--out", "g.pt"], "gives fear more than once"),
    (["sample", "--input", "x.png", "--emotions", ",", "--out", "s"], "names none"),
    (["pack", "--emotions", " , ", "--out", "p"], "names none"),
    (["export", "x.png", "--line", "2", "--out", "p"], "add --thin"),  # it had been ignored without --thin
    (["pack", "--line", "1", "--out", "p"], "add --thin"),
    (["pack", "--framing", "eyes", "--out", "p"], "add --mode face"),  # ignored without it, with exit 0
    (["export", "x.png", "--level", "10", "--out", "p"], "add --dither threshold"),  # each ignored, exit 0
    (["export", "x.png", "--dither", "floyd-steinberg", "--stroke-level", "10", "--out", "p"], "for --dither lineart"),
    (["pack", "--dither", "bayer4", "--fill", "bayer4", "--out", "p"], "for --dither lineart"),
    (["export", "x.png", "--no-pen-coding", "--out", "p"], "add --thin --line 2"),
    (["stylegan2", "generate", "--model", "m.pkl", "--settings", "ds", "--out", "g"], "add --sketch"),
    (["pack", "--thin", "--line", "1", "--pen-coding", "--out", "p"], "add --thin --line 2"),
    (["prepare", "--source", "synthetic", "--map", "contempt=disgust,contempt=anger", "--out", "ds"],
     "'contempt' is mapped twice"),  # the first had been dropped silently
    (["export", "x.png", "--max-stretch", "1.5", "--mode", "fill", "--out", "p"], "add --mode face"),
    (["agent", "--script", "s.yaml", "--plot", "p.gif"], "name it .png"),
    (["agent", "--script", "s.yaml", "--out", "a.gif", "--out", "a.gif"], "is named twice"),
    (["export", "x.png", "--name", " ", "--out", "p"], "give a name of 1 to 64 characters"),
    (["export", "x.png", "--name", "n" * 300, "--out", "p"], "give a name of 1 to 64 characters"),
    (["search", "--target", "happy", "--input", "x.png", "--lr", "nan", "--out", "s.gif"], "not a finite number"),
    (["export", "x.png", "--zoom-to", "nan", "--out", "p"], "not a finite number"),
])
def test_numbers_and_outputs_out_of_bounds_are_refused_before_any_work(run, tmp_path, monkeypatch, args, message):
    """Each was a traceback, a NaN drawing written with exit 0, or memory without bound (22 GB for --frames
    1000000000): now one line and exit 2 as the options are read, before a model or a file is opened."""
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, result.output
    assert list(tmp_path.iterdir()) == []


def test_a_grid_must_be_a_picture_and_a_timeline_must_be_text(run, tmp_path):
    from emosketch.config import read_yaml
    from emosketch.errors import EmosketchError

    result = run("dataset", "info", tmp_path / "ds", "--grid", tmp_path / "g.txt")
    assert result.exit_code == 1 and "--grid" in result.output and "name a picture" in result.output
    (tmp_path / "t.yaml").write_bytes(b"fps: 12\n\xff\xfe timeline: []\n")
    with pytest.raises(EmosketchError, match="not UTF-8 text"):
        read_yaml(tmp_path / "t.yaml", "timeline")


def test_sigterm_unwinds_like_ctrl_c(monkeypatch, capsys):
    """SIGTERM left an output's .lock and .tmp- folder behind; main() now turns it into SystemExit, which runs
    every with-block's cleanup on the way out. It says so in one line (a killed prepare said nothing)."""
    import signal

    from emosketch import cli as cli_module

    with pytest.raises(SystemExit) as exc:
        cli_module._terminated(signal.SIGTERM, None)
    assert exc.value.code == 128 + signal.SIGTERM
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("stopped by SIGTERM:") and "prepare resumes" in err
    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(cli_module.cli, "main", lambda **kw: signal.getsignal(signal.SIGTERM))
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        cli_module.main()
        assert signal.getsignal(signal.SIGTERM) is cli_module._terminated
    finally:
        signal.signal(signal.SIGTERM, before)


def test_existing_output_needs_force(run, tmp_path, face_transition):
    cv2.imwrite(str(tmp_path / "f.png"), face_transition[0])
    assert run("export", tmp_path / "f.png", "--out", tmp_path / "p").exit_code == 0
    again = run("export", tmp_path / "f.png", "--out", tmp_path / "p")
    assert again.exit_code == 1 and "--force" in again.output
    assert run("export", tmp_path / "f.png", "--out", tmp_path / "p", "--force").exit_code == 0


def test_an_output_never_replaces_its_input_or_the_folder_you_are_in(run, tmp_path, face_transition, monkeypatch):
    """export --force replaced an input inside --out; --out . (or "") inside a pack failed with "Device or
    resource busy" and left an empty ..old- folder in it."""
    cv2.imwrite(str(tmp_path / "f.png"), face_transition[0])
    assert run("export", tmp_path / "f.png", "--out", tmp_path / "p").exit_code == 0
    inner = tmp_path / "p" / "preview.gif"
    before = inner.read_bytes()
    res = run("export", inner, "--out", tmp_path / "p", "--force")
    assert res.exit_code == 1 and "is inside --out" in res.output and inner.read_bytes() == before
    res = run("sample", "--input", tmp_path / "p" / "contact_sheet.png", "--out", tmp_path / "p", "--force")
    assert res.exit_code == 1 and "is inside --out" in res.output
    res = run("pack", "--input", tmp_path / "p" / "contact_sheet.png", "--out", tmp_path / "p", "--force")
    assert res.exit_code == 1 and "is inside --out" in res.output
    monkeypatch.chdir(tmp_path / "p")
    listing = sorted(p.name for p in (tmp_path / "p").iterdir())
    for out in (".", "", str(tmp_path)):
        res = run("export", tmp_path / "f.png", "--out", out, "--force")
        assert res.exit_code == 1 and "is the folder you are in, or holds it" in res.output, res.output
        assert sorted(p.name for p in (tmp_path / "p").iterdir()) == listing


def test_a_file_output_never_replaces_an_input_and_frames_out_waits_for_the_pack(run, tmp_path):
    """interpolate, agent and pack --frames-out replaced the photo they read; a pack refused for its budget left
    its --frames-out behind, and --frames-out inside --out made the pack's own folder 'already exist'."""
    import shutil

    from emosketch.models import demo_photo

    shutil.copy(demo_photo(), tmp_path / "me.gif")
    before = (tmp_path / "me.gif").read_bytes()
    script = ROOT / "configs" / "agent-demo.yaml"
    for args in (("interpolate", "--input", tmp_path / "me.gif", "--from", "neutral", "--to", "happy",
                  "--out", tmp_path / "me.gif"),
                 ("agent", "--input", tmp_path / "me.gif", "--script", script, "--out", tmp_path / "me.gif"),
                 ("pack", "--input", tmp_path / "me.gif", "--frames-out", tmp_path / "me.gif", "--out", tmp_path / "p")):
        res = run(*args)
        assert res.exit_code == 2 and "is this command's input" in res.output, res.output
    assert (tmp_path / "me.gif").read_bytes() == before
    res = run("pack", "--input", demo_photo(), "--out", tmp_path / "q", "--frames-out", tmp_path / "q" / "f.npz")
    assert res.exit_code == 2 and "is inside --out" in res.output and not (tmp_path / "q").exists()
    res = run("pack", "--input", demo_photo(), "--emotions", "neutral,happy", "--out", tmp_path / "r",
              "--frames-out", tmp_path / "f.npz", "--max-bytes", "100")
    assert res.exit_code == 1 and "--max-bytes 100" in res.output
    assert not (tmp_path / "f.npz").exists() and not (tmp_path / "r").exists()


def test_a_picture_of_one_flat_tone_is_refused_in_one_line(run, tmp_path):
    """A white picture made an empty pack, "verified", with exit 0 (called a line drawing); a black one rows
    of white PNGs with no note."""
    cv2.imwrite(str(tmp_path / "white.png"), np.full((64, 64), 255, np.uint8))
    res = run("pack", "--input", tmp_path / "white.png", "--emotions", "neutral,happy", "--out", tmp_path / "p")
    assert res.exit_code == 1 and "white.png: the picture is one flat tone (every pixel 255)" in res.output
    assert not (tmp_path / "p").exists()
    cv2.imwrite(str(tmp_path / "black.png"), np.zeros((64, 64), np.uint8))
    res = run("sample", "--input", tmp_path / "black.png", "--out", tmp_path / "s")
    assert res.exit_code == 1 and "one flat tone (every pixel 0)" in res.output and not (tmp_path / "s").exists()


def test_demo_trains_renders_and_packs_then_reuses_its_run(run, tmp_path):
    # The full demo trains for about 10 minutes; two steps on 160 faces exercise the same path.
    out = tmp_path / "demo"
    result = run("demo", "--train", "--out", out, "--steps", 2, "--count", 160)
    assert result.exit_code == 0, result.output
    assert "training 2 steps" in result.output and "verified bit for bit" in result.output
    pack = out / "pack"
    m = json.loads((pack / "manifest.json").read_text())
    assert len(m["sequences"]) == 5 + 5 * 4  # an idle loop per emotion, a transition per ordered pair
    assert m["emotions"]["names"] == ["neutral", "happy", "sad", "surprise", "anger"]
    assert all(t >= 0 for i, row in enumerate(m["emotions"]["transitions"]) for j, t in enumerate(row) if i != j)
    for name in ("pack.h", "emosketch_player.c", "emosketch_player.h", "emosketch_player.py", "index.bin",
                 "index.html"):
        assert (pack / name).exists()
    for name in ("transitions.gif", "transitions.npz", "agent.mp4", "agent.gif", "agent.png"):
        assert (out / name).stat().st_size > 0, name
    again = run("demo", "--train", "--out", out, "--steps", 2, "--count", 160)
    assert again.exit_code == 0 and "reusing the finished run" in again.output, again.output


def test_prepare_and_dataset_info(run, tmp_path):
    from datasets_fixtures import make_folder

    make_folder(tmp_path / "photos")
    result = run("prepare", "--source", f"folder:{tmp_path / 'photos'}", "--size", 32, "--out", tmp_path / "ds",
                 "--map", "sad=neutral", "--face-miss", "keep", "--sketch", "pencil")
    assert result.exit_code == 0, result.output
    assert "6 sketches of 32x32 in 3 classes (neutral, happy, anger)" in result.output
    assert "1 not an image" in result.output
    result = run("dataset", "info", tmp_path / "ds", "--json", "--grid", tmp_path / "grid.png")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert set(summary) >= {"classes", "counts", "totals", "skipped_by_reason", "source", "sketch", "grid"}
    assert summary["totals"]["total"] == 6 and summary["sketch"]["method"] == "pencil"
    assert cv2.imread(str(tmp_path / "grid.png")) is not None
    table = run("dataset", "info", tmp_path / "ds").output
    assert "happy" in table and "skipped 1: image too small" in table


def test_prepare_config_file_and_errors(run, tmp_path):
    (tmp_path / "cfg.yaml").write_text("size: 32\ncount: 16\nsketch: {method: canny}\n")
    ok = run("prepare", "--source", "synthetic", "--config", tmp_path / "cfg.yaml", "--out", tmp_path / "ds")
    assert ok.exit_code == 0 and "16 sketches of 32x32" in ok.output
    (tmp_path / "bad.yaml").write_text("size: 32\nface: {margn: 0.3}\n")
    for args, message in [(["--config", tmp_path / "bad.yaml"], "unknown key 'margn'"),
                          (["--source", "imagenet:x"], "KIND must be one of"),
                          (["--map", "angry"], "expected FROM=TO"),
                          (["--map", "happy=sad=x"], "one = a pair"),
                          (["-j", "0"], "0 is not in the range 1<=x<=64")]:
        argv = ["prepare", "--source", "synthetic", "--out", tmp_path / "x"]
        if "--source" in args:
            argv = ["prepare", "--out", tmp_path / "x"]
        result = run(*argv, *args)
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "x").exists()


def test_a_photo_without_a_frontal_face_gets_a_note(run, tmp_path):
    from emosketch.cli import face_note
    from emosketch.models import demo_photo

    rng = np.random.default_rng(0)
    blank = cv2.GaussianBlur(rng.integers(0, 255, (160, 160), dtype=np.uint8), (0, 0), 6)  # no face in it
    cv2.imwrite(str(tmp_path / "noface.png"), blank)
    result = run("interpolate", "--input", tmp_path / "noface.png", "--from", "neutral", "--to", "happy",
                 "--frames", 3, "--hold", 0, "--out", tmp_path / "a.npz")
    assert result.exit_code == 0, result.output
    assert "(whole" in result.output and result.output.count("note: no frontal face found") == 1
    result = run("interpolate", "--input", demo_photo(), "--from", "neutral", "--to", "happy",
                 "--frames", 3, "--hold", 0, "--out", tmp_path / "b.npz")
    assert result.exit_code == 0, result.output
    assert "no frontal face" not in result.output
    assert face_note("photo -> sketch (haar)") is None and face_note("sketch as is") is None
    assert "give --as photo" in face_note("sketch as is (read as a drawing)")  # a chart or a drawing, guessed
    assert "turned away" in face_note("photo -> sketch (whole; prepare's default sketch settings)")


def test_a_config_number_must_be_finite(run, tmp_path):
    (tmp_path / "c.yaml").write_text("lr: .nan\n")
    result = run("classifier", "train", "--data", tmp_path / "ds", "--config", tmp_path / "c.yaml", "--out",
                 tmp_path / "c.pt")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and "lr: expected a finite number, got nan" in lines[0]


def test_an_error_no_check_caught_is_still_one_line(run, tmp_path, monkeypatch):
    """A second audit found about twenty values (agent durations of 3000 s, train's checkpoint_every 0, a NaN
    in a prepare option) that ended in a traceback: the CLI shows any such error as one line, exit 1, and
    EMOSKETCH_DEBUG=1 lets it through with its traceback."""
    import emosketch.datasets.dataset as dataset

    def broken(path):
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(dataset, "load", broken)
    result = run("dataset", "info", tmp_path)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(lines) == 1 and "unexpected ZeroDivisionError: float division by zero" \
        in lines[0] and "Traceback" not in result.output
    monkeypatch.setattr(dataset, "load", lambda path: (_ for _ in ()).throw(MemoryError()))
    result = run("dataset", "info", tmp_path)
    assert result.exit_code == 1 and "out of memory" in result.output
    alloc = RuntimeError("[enforce fail at alloc_cpu.cpp:127] data. DefaultCPUAllocator: can't allocate memory: "
                         "you tried to allocate 4294967296 bytes. Error code 12 (Cannot allocate memory)")
    monkeypatch.setattr(dataset, "load", lambda path: (_ for _ in ()).throw(alloc))  # torch's, from --batch 4096
    result = run("dataset", "info", tmp_path)
    assert result.exit_code == 1 and "out of memory: a smaller job" in result.output and "enforce" not in result.output
    monkeypatch.setenv("EMOSKETCH_DEBUG", "1")
    monkeypatch.setattr(dataset, "load", broken)
    assert isinstance(run("dataset", "info", tmp_path).exception, ZeroDivisionError)


def test_the_demo_never_overwrites_a_folder_of_someone_elses_files(run, tmp_path):
    """demo --out u replaced u/face.png and u/transitions.gif, a user's own files, with exit 0."""
    user = tmp_path / "u"
    user.mkdir()
    (user / "face.png").write_text("mine")
    result = run("demo", "--out", user)
    assert result.exit_code == 1 and "holds files emosketch did not write" in result.output
    assert (user / "face.png").read_text() == "mine"
    (tmp_path / "f").write_text("a file")
    assert "is a file" in run("demo", "--out", tmp_path / "f").output


@pytest.mark.parametrize("config, values, words", [
    ("classifier", {"epochs": 0}, "classifier epochs 0: at least 1"),
    ("classifier", {"lr": -1.0}, "classifier lr -1.0: above 0, at most 1"),
    ("classifier", {"samples_per_epoch": -5}, "classifier samples_per_epoch -5: from 1 to 10,000,000"),  # was one batch
    ("classifier", {"label_smoothing": 5.0}, "label_smoothing"),
    ("classifier", {"batch_size": 100_000_000}, "batch_size"),
    ("train", {"checkpoint_every": 0}, "checkpoint_every"),
    ("train", {"log_every": 0}, "log_every"),
])
def test_training_configs_refuse_values_that_would_crash_or_claim_a_file_never_written(config, values, words):
    """classifier train --epochs 0 printed "wrote clf.pt" and wrote nothing; checkpoint_every 0 was a
    ZeroDivisionError after the run folder was made."""
    from emosketch.emotion_cnn import ClassifierConfig
    from emosketch.errors import EmosketchError
    from emosketch.gan.train import TrainConfig

    with pytest.raises(EmosketchError, match=re.escape(words)):
        (ClassifierConfig if config == "classifier" else TrainConfig)(**values)


def test_a_page_layout_pack_larger_than_an_ssd1306_says_so(run, tmp_path):
    cv2.imwrite(str(tmp_path / "w.png"), np.full((64, 128), 255, np.uint8))
    big = run("export", tmp_path / "w.png", "--size", "256x64", "--out", tmp_path / "p")
    assert big.exit_code == 0 and "note: an SSD1306 shows at most 128x64" in big.output
    small = run("export", tmp_path / "w.png", "--size", "128x32", "--out", tmp_path / "q")
    assert small.exit_code == 0 and "SSD1306 shows" not in small.output


def test_ctrl_c_says_what_was_left_and_exits_130(run, monkeypatch):
    """Outside train's own loop, Ctrl-C had printed click's bare "Aborted!" and exited 1."""
    import emosketch.datasets.dataset as dataset

    monkeypatch.setattr(dataset, "load", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    result = run("dataset", "info", "anything")
    assert result.exit_code == 130 and "interrupted: every output is written whole or not at all" in result.output
    assert "Aborted" not in result.output and "Traceback" not in result.output


def test_the_codec_note_gives_the_reason_a_frame_misses_the_context_codec(capsys):
    """A 320x240 frame, which tiles into 8x8 blocks, was said to lack them: it is too wide for the context codec.
    An sh1106 pack larger than the controller gets the note an ssd1306 one does."""
    from emosketch.cli import _panel_codec

    assert _panel_codec(None, "gfx", 320, 240) == "auto"
    assert "needs frames at most 256 px wide, and a 320x240 gfx frame is not" in capsys.readouterr().out
    _panel_codec(None, "gfx", 90, 30)
    assert "needs whole 8x8 blocks, and a 90x30 gfx frame is not" in capsys.readouterr().out
    _panel_codec(None, "sh1106", 128, 128)
    assert "an SH1106 shows at most 128x64" in capsys.readouterr().out


def test_the_sh1106_driver_note_follows_the_format_by_any_name(run, tmp_path):
    """`pack --format SH1106` (an alias or another case resolves to sh1106) skipped the note that the drivers' SH1106
    support takes the default pack, and `export --format sh1106` never gave it."""
    clip = tmp_path / "clip.npz"
    write_frames(clip, Frames(np.full((2, 64, 64), 255, np.uint8), 10.0))
    res = run("export", clip, "--format", "SH1106", "--out", tmp_path / "p")
    assert res.exit_code == 0, res.output
    assert "make the default ssd1306 pack and use their SH1106 constructor" in res.output
    res = run("export", clip, "--out", tmp_path / "q")
    assert res.exit_code == 0 and "SH1106 constructor" not in res.output
