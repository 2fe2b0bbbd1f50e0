"""What the command line writes to a terminal: no control sequence from a name or a request gets through."""

from __future__ import annotations

import io
import logging
import os
import pty
import select
import subprocess
import sys
import unicodedata

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emosketch.terminal import BIDI, KEPT, Guarded, guard_streams, raw, safe


def _bad(ch: str) -> bool:
    return ch in BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp")


@given(st.text(alphabet=st.characters(codec=None)))
def test_safe_leaves_no_control_character(text):
    shown = safe(text)
    assert not any(_bad(ch) for ch in shown)
    assert shown == "".join(ch if not _bad(ch) else _escape(ch) for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return "\\x" + format(code - 0xDC00, "02x")
    return "\\x" + format(code, "02x") if code < 0x100 else "\\u" + format(code, "04x")


@given(st.text(alphabet=st.characters(codec=None)))
def test_safe_keeps_only_what_it_is_told(text):
    shown = safe(text, KEPT)
    assert not any(_bad(ch) and ch not in KEPT for ch in shown)
    assert shown.count("\n") == text.count("\n") and shown.count("\t") == text.count("\t")


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))))
def test_printable_text_is_unchanged(text):
    text = "".join(ch for ch in text if ch not in BIDI)
    assert safe(text) == text


def test_escapes_read_as_what_they_stand_for():
    assert safe("a\x1b]0;title\x07b") == "a\\x1b]0;title\\x07b"
    assert safe("x\ry") == "x\\x0dy"
    assert safe("\x9b2J") == "\\x9b2J"  # the one-byte CSI of C1
    assert safe("a\udcffb") == "a\\xffb"  # a file name's byte that is not UTF-8
    assert safe("\u202egpj.exe") == "\\u202egpj.exe"
    assert safe("line\u2028break") == "line\\u2028break"
    assert safe("Zoë 顔 😀") == "Zoë 顔 😀"
    assert safe("a\nb") == "a\\x0ab" and safe("a\nb", "\n") == "a\nb"


def test_guarded_stream_escapes_what_click_writes():
    out = io.StringIO()
    click.echo("wrote pack\x1b[2J\x1b]52;c;ZXZpbA==\x07: 3 frames", file=Guarded(out), color=True)
    assert out.getvalue() == "wrote pack\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07: 3 frames\n"


def test_guarded_stream_is_a_text_stream():
    out = io.StringIO()
    g = Guarded(out)
    with pytest.raises(TypeError):
        g.write(b"")  # click treats a stream that takes bytes as a binary one
    assert g.write("a\x00b") == 3 and out.getvalue() == "a\\x00b"
    g.writelines(["c\n", "\x1bd"])
    assert out.getvalue() == "a\\x00bc\n\\x1bd"
    assert g.isatty() is False and raw(g) is out and raw(out) is out


def test_a_log_line_of_a_request_path_is_escaped():
    """The mirror logs an unexpected error's method and URL path; the path is the client's."""
    out = io.StringIO()
    handler = logging.StreamHandler(Guarded(out))
    log = logging.getLogger("emosketch.test-terminal")
    log.addHandler(handler)
    try:
        log.error("%s %s", "GET", "/api/\x1b[2J\x1b[3J")
    finally:
        log.removeHandler(handler)
    assert "\x1b" not in out.getvalue() and "/api/\\x1b[2J" in out.getvalue()


def test_guard_streams_wraps_once(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    guard_streams()
    guard_streams()
    assert isinstance(sys.stdout, Guarded) and not isinstance(sys.stdout.raw, Guarded)
    assert isinstance(sys.stderr, Guarded) and not isinstance(sys.stderr.raw, Guarded)


ENTRY = "import sys; from emosketch.cli import main; sys.argv[0] = 'emosketch'; main()"


def test_command_line_error_names_a_hostile_path_escaped(tmp_path):
    name = "no\x1b]0;owned\x07such\rX\u202e"
    run = subprocess.run([sys.executable, "-c", ENTRY, "dataset", "info", name], capture_output=True, cwd=tmp_path)
    assert run.returncode != 0
    err = run.stderr.decode()
    assert "\x1b" not in err and "\r" not in err and "\u202e" not in err and "\x07" not in err
    assert "no\\x1b]0;owned\\x07such\\x0dX\\u202e: no such dataset folder" in err


@pytest.mark.parametrize("encoding", ["ascii", "utf-8"])
def test_an_ascii_terminal_is_guarded_too(tmp_path, encoding):
    """With an ASCII stdout click wrote to the stream's binary buffer, past the guard (found in review)."""
    name = "no\x1b]0;owned\x07such-é"
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    run = subprocess.run([sys.executable, "-c", ENTRY, "dataset", "info", name], capture_output=True, cwd=tmp_path,
                         env=env)
    assert run.returncode == 1 and b"\x1b" not in run.stderr and b"\x07" not in run.stderr
    assert b"no\\x1b]0;owned\\x07such-" in run.stderr
    code = ("import click; from emosketch.terminal import guard_streams; guard_streams(); "
            "click.echo('A\\x1b]0;pwned\\x07B caf\\u00e9')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env).stdout
    assert b"\x1b" not in out and out.startswith(b"A\\x1b]0;pwned\\x07B caf")


def test_on_a_terminal_nothing_is_stripped_but_escapes_are_shown(tmp_path):
    """On a terminal click writes ANSI sequences as they are; the guard still shows them as text."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command line on a terminal
        os.chdir(tmp_path)
        os.execv(sys.executable, [sys.executable, "-c", ENTRY, "dataset", "info", "x\x1b[31mred\x1b[0m"])
    seen = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
    assert b"\x1b" not in seen and b"x\\x1b[31mred\\x1b[0m: no such dataset folder" in seen


def test_a_path_holding_a_line_break_stays_on_its_line(tmp_path):
    """A line break is kept in what the command line writes (its messages have lines), but not inside a name: the
    'wrote' line and an error naming such a path are each one line."""
    from emosketch.models import default_sketch_classifier

    out = tmp_path / "two\nlines.pt"
    run = subprocess.run([sys.executable, "-c", ENTRY, "slim", str(default_sketch_classifier()), "--out", str(out)],
                         capture_output=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    wrote = run.stdout.decode().splitlines()
    assert len(wrote) == 1 and wrote[0].startswith(f"wrote {tmp_path}/two\\x0alines.pt: classifier"), wrote
    assert out.exists()  # the file itself has the name it was given
    run = subprocess.run([sys.executable, "-c", ENTRY, "dataset", "info", "no\nsuch"], capture_output=True,
                         cwd=tmp_path)
    assert run.returncode == 1
    lines = run.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: no\\x0asuch: no such dataset folder"), lines


def test_a_reader_that_stops_early_is_no_error(synthetic, tmp_path):
    """`emosketch dataset info DS | head -1` printed 'Error: Broken pipe' when head had gone (2 runs in 3)."""
    read, write = os.pipe()
    os.close(read)  # the reader has gone before the first line: every write meets a closed pipe
    run = subprocess.run([sys.executable, "-c", ENTRY, "dataset", "info", str(synthetic)], stdout=write,
                         stderr=subprocess.PIPE, cwd=tmp_path)
    os.close(write)
    assert b"Error" not in run.stderr and b"Traceback" not in run.stderr and b"Exception" not in run.stderr, run.stderr
    assert run.returncode == 1  # click's exit for a closed pipe: quiet, and not a success
