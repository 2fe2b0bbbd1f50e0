"""The benchmarks answer a routine mistake in their options as the CLI does: one line and a non-zero exit, before
any work (a `--faces 0` had been a ZeroDivisionError, or minutes of judge training and then a traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"


@pytest.mark.parametrize("script, options, words", [
    ("facecrop.py", ["--fer", "0"], "argument --fer: 0: expected from 1 up"),
    ("export.py", ["--frames", "0"], "argument --frames: 0: expected from 1 to 1,000,000"),
    ("panel.py", ["--judges", "Z"], "--judges 'Z': expected some of A, B"),
    ("panel.py", ["--checkpoint", "/nonexistent.pt"], "/nonexistent.pt: no such file or folder"),
    ("train.py", ["--speed-steps", "zero"], "'zero' is not a whole number"),
    ("realfaces.py", ["--margin", "nan"], "argument --margin: nan: expected from 0 to 1"),
    ("serve.py", ["--threads", "0"], "argument --threads: 0: expected from 1 to 256"),
    ("players.py", ["--parts", "agent,speed"], "--parts: speed; the parts are sizes, decode, avr, panel, agent, bus"),
])
def test_a_routine_mistake_is_one_line_before_any_work(tmp_path, script, options, words):
    run = subprocess.run([sys.executable, str(BENCH / script), "--out", str(tmp_path / "out"), *options],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 2 and words in run.stderr and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert not (tmp_path / "out").exists()


def test_a_library_error_an_os_error_and_ctrl_c_are_one_line(capsys):
    sys.path.insert(0, str(BENCH))
    from report import guarded

    from emosketch.errors import EmosketchError

    def library():
        raise EmosketchError("a\nb: wrong")

    def missing():
        open("/nonexistent/file.json")

    def interrupted():
        raise KeyboardInterrupt

    for main, code, words in ((library, "error: a\\x0ab: wrong", None), (missing, None, None), (interrupted, 130, "interrupted")):
        with pytest.raises(SystemExit) as stop:
            guarded(main)
        if isinstance(code, str):
            assert stop.value.code == code  # the message, one line, printed by SystemExit with exit status 1
        elif code is None:
            assert str(stop.value.code).startswith("error: /nonexistent/file.json: No such file")
        else:
            assert stop.value.code == code and words in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        guarded(lambda: 3)
    assert stop.value.code == 3
