"""The documentation: the site builds strictly, a broken link or picture fails that build, the README
stays short, and every `emosketch` command example of the guides and of `--help` runs."""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import cv2
import pytest
from click.testing import CliRunner
from conftest import STYLEGAN2

from emosketch.cli import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FER6 = ("neutral", "happy", "sad", "surprise", "fear", "anger")


def build_site(root: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(root / "mkdocs.yml"),
                           "--site-dir", str(site)], capture_output=True, text=True, env=env, cwd=root, timeout=300)


def copy_of_the_docs(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(DOCS, root / "docs")
    shutil.copy(ROOT / "mkdocs.yml", root)
    (root / "emosketch").symlink_to(ROOT / "emosketch")  # the API reference reads the docstrings there
    return root


def test_the_site_builds_strictly(tmp_path):
    res = build_site(ROOT, tmp_path / "site")
    assert res.returncode == 0, res.stdout + res.stderr
    api = (tmp_path / "site" / "python-api.html").read_text()
    assert "default_generator" in api and "ExportOptions" in api  # the reference comes from the docstrings
    assert (tmp_path / "site" / "demo-transitions.gif").exists()


def test_a_broken_link_a_missing_picture_or_a_broken_reference_fails_the_build(tmp_path):
    root = copy_of_the_docs(tmp_path)
    guide = root / "docs" / "on-the-device.md"
    text = guide.read_text()
    guide.write_text(text.replace("(mirror.md#on-a-device)", "(mirror.md#no-such-section)", 1)
                     + "\n[the wiring](wiring.md)\n\n![a panel](no-such-picture.png)\n")
    res = build_site(root, tmp_path / "site")
    out = res.stdout + res.stderr
    assert res.returncode != 0
    assert "wiring.md" in out and "no-such-picture.png" in out and "#no-such-section" in out, out

    guide.write_text(text + "\n::: emosketch.no_such_module.nothing\n")
    res = build_site(root, tmp_path / "site2")
    assert res.returncode != 0 and "no_such_module" in res.stdout + res.stderr


def test_the_readme_is_short_and_its_links_resolve():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    first_screen = "\n".join(text.splitlines()[:60])
    assert "make demo" in first_screen and "make test" in first_screen and "emosketch pack" in first_screen
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets
    for target in targets:
        if not target.startswith(("http://", "https://", "#")):
            assert (ROOT / target.split("#")[0]).exists(), target
    for page in ("getting-started", "datasets-and-training", "model-card", "panel-and-packs", "on-the-device",
                 "mirror", "stylegan2", "python-api", "reliability", "figures"):
        assert f"docs/{page}.md" in text, page


# --- the command examples -------------------------------------------------------------------------

def _command_lines(text: str) -> list[str]:
    """The `emosketch ...` lines of a text's sh code blocks, continuation lines joined."""
    lines, block = [], False
    for raw in text.replace("\\\n", " ").splitlines():
        if raw.startswith("```"):
            block = raw.strip() == "```sh"
            continue
        if block and raw.strip().startswith("emosketch "):
            lines.append(" ".join(raw.split()))
    return lines


def _help_lines(command: click.Command, path: str = "emosketch") -> list[str]:
    """The `emosketch ...` example lines of a command's --help, and of its subcommands'."""
    found = [" ".join(line.split()) for line in (command.help or "").splitlines()
             if line.strip().startswith("emosketch ")]
    for name, sub in getattr(command, "commands", {}).items():
        found += _help_lines(sub, f"{path} {name}")
    return found


def examples() -> list[tuple[str, str]]:
    seen, out = set(), []
    sources = [("README", (ROOT / "README.md").read_text())]
    sources += [(f"docs/{p.name}", p.read_text()) for p in sorted(DOCS.glob("*.md"))]
    found = [(where, line) for where, text in sources for line in _command_lines(text)]
    found += [("--help", line) for line in _help_lines(cli)]
    for where, line in found:
        if line not in seen:
            seen.add(line)
            out.append((where, line))
    return out


def args_of(line: str) -> list[str]:
    """The example's arguments, as a shell gives them: `$(emosketch files NAME)` is the path that command prints."""
    from emosketch.cli import file_paths

    args = shlex.split(line, comments=True)[1:]
    return [str(file_paths()[m.group(1)]) if (m := re.fullmatch(r"\$\(emosketch files ([a-z-]+)\)", a)) else a
            for a in args]


# Examples that are parsed (every option and choice checked) but not run, and why.
NOT_RUN = {
    "serve": "a server that runs until Ctrl-C (tests/test_serve.py and test_browser.py run it)",
    "affectnet:/data/AffectNet": "an absolute path to the full AffectNet (tests/test_prepare.py reads its layout)",
    "ffhq-emotions.pt": "the output of `stylegan2 directions` on a face model (tests/test_stylegan2.py runs directions)",
    "configs/train-ferplus-coarse-8k.yaml": "needs the two FER+ guides of `make model` (its own chain, 87 minutes)",
    "runs/fer6-coarse8k/checkpoint.pt --out emosketch/models": "writes into the package's shipped models",
}

# Options appended so that an example runs on small inputs in seconds (click takes an option's
# last value); the command itself stays as the guide writes it.
SMALL = {
    "pack": ["--transition-frames", "2", "--idle-frames", "2", "--device", "cpu"],
    "interpolate": ["--fps", "3", "--device", "cpu"],
    "agent": ["--device", "cpu"],
    "sample": ["--device", "cpu"],
    "search": ["--steps", "2", "--device", "cpu"],
    "train": ["--steps", "2", "--device", "cpu"],
    "classifier": ["--epochs", "1", "--max-minutes", "0.01", "--device", "cpu"],
    "evaluate": ["--faces", "4", "--device", "cpu"],
    "demo": ["--steps", "2", "--count", "64"],
    "directions": ["--samples", "64"],
    "generate": ["--seeds", "0-1"],
}

# What the fast suite runs: the README's examples, the parsing-only ones and the quick commands.
# The rest (rendering, training, judging) runs with -m slow.
FAST = ("--help", "--version", "dataset info", "emosketch export", "stylegan2 info")


def not_run_reason(line: str) -> str | None:
    return next((why for key, why in NOT_RUN.items() if key in line), None)


def small_args(args: list[str]) -> list[str]:
    key = args[1] if args[0] == "stylegan2" else args[0]
    return args + SMALL.get(key, [])


def parse_only(args: list[str]) -> None:
    """Resolve the command and parse its options as click would, without running it."""
    ctx = cli.make_context("emosketch", list(args))
    command = cli
    while isinstance(command, click.Group):
        name, command, rest = command.resolve_command(ctx, ctx._protected_args + ctx.args)
        ctx = command.make_context(name, list(rest), parent=ctx)


@pytest.fixture(scope="session")
def workspace(tmp_path_factory, synthetic, generator, trained, face_transition):
    """A folder holding a small stand-in for every file the examples name (the shipped model and the
    demo photo where they name a face or a photo), with ../shared/data/ferplus beside it."""
    from datasets_fixtures import make_fer2013, make_folder
    from PIL import Image

    from emosketch.frames import Frames, write_frames
    from emosketch.models import default_classifier, default_generator, demo_photo, generator_64

    base = tmp_path_factory.mktemp("docs-examples")
    ws = base / "main"
    ws.mkdir()
    six_class_ferplus(base / "shared" / "data" / "ferplus")
    for name in ("me.jpg", "face.jpg", "photo.jpg"):
        shutil.copy(demo_photo(), ws / name)
    for name in ("face.png", "drawing.png"):
        Image.open(demo_photo()).convert("L").save(ws / name)
    (ws / "configs").symlink_to(ROOT / "configs")
    from emosketch.datasets.prepare import PrepareConfig, prepare

    (ws / "data").mkdir()
    prepare("synthetic", base / "synthetic-64", PrepareConfig(size=64, count=96, seed=3), progress=False,
            log=lambda m: None)  # the 64 px datasets the configs of 64 px models ask for
    for name in ("synthetic-128", "ferplus-128", "an5-128"):
        (ws / "data" / name).symlink_to(synthetic)
    for name in ("synthetic-64", "ferplus-64"):
        (ws / "data" / name).symlink_to(base / "synthetic-64")
    prepare("synthetic", ws / "data" / "fer6-64", PrepareConfig(size=64, count=96, seed=3, classes=list(FER6)),
            progress=False, log=lambda m: None)  # the six emotions of the 64 px model the fine-tunes start from
    (ws / "data" / "ferplus").symlink_to(base / "shared" / "data" / "ferplus", target_is_directory=True)
    (ws / "demo-train" / "run").mkdir(parents=True)  # what `make demo --train` leaves (the guides use it)
    shutil.copy(generator, ws / "demo-train" / "run" / "checkpoint.pt")
    (ws / "demo-train" / "data").mkdir()
    (ws / "demo-train" / "data" / "synthetic-64").symlink_to(synthetic)
    for run in ("tiny", "fer", "fer6-128-cpu"):  # full training checkpoints (slim --resumable reads one)
        (ws / "runs" / run).mkdir(parents=True)
        shutil.copy(generator, ws / "runs" / run / "checkpoint.pt")
    for run in ("fer6-coarse8k", "fer6", "fer6-jitter-ft", "fer6-jitterbend-ft"):  # runs of the 64 px recipe: the
        (ws / "runs" / run).mkdir(parents=True)  # fine-tunes' configs init from them, so their model must match
        shutil.copy(generator_64(), ws / "runs" / run / "checkpoint.pt")
    (ws / "emosketch" / "models").mkdir(parents=True)  # copies, never links: an example may write here
    shutil.copy(default_generator(), ws / "emosketch" / "models" / "generator-fer6-128.pt")
    for name in ("clf.pt", "clf-sketch.pt", "clf-synthetic.pt", "runs/fer6-face.pt"):
        shutil.copy(trained[0], ws / name)
    from emosketch.evaluate.classifier import ClassifierConfig, train_classifier

    guide = ClassifierConfig(image_size=32, width=8, epochs=1, samples_per_epoch=256)  # the six emotions' guides
    train_classifier(ws / "data" / "fer6-64", ws / "runs" / "fer6-guide.pt", guide, device="cpu", progress=False,
                     log=lambda m: None)
    shutil.copy(ws / "runs" / "fer6-guide.pt", ws / "runs" / "fer6-guide-coarse.pt")
    shutil.copy(default_classifier(), ws / "clf-face.pt")
    frames = Frames(face_transition, 12.0)
    for name in ("happy.gif", "sad.gif", "transition.mp4", "t.npz", "many.npz", "frames.npz"):
        write_frames(ws / name, frames)
    write_frames(ws / "frames", frames)
    make_fer2013(ws / "fer2013.csv")
    make_folder(ws / "photos")
    shutil.copy(demo_photo(), ws / "photos" / "me.jpg")
    (ws / "my-script.yaml").write_text("fps: 6\nduration: 1\nstimuli:\n  - {t: 0.2, channel: joy, amount: 0.9}\n")
    if STYLEGAN2.exists():
        shutil.copy(STYLEGAN2 / "uncond-rgb-32.pkl", ws / "network-snapshot-000400.pkl")
        shutil.copy(STYLEGAN2 / "cond-gray-64.pkl", ws / "cond.pkl")
        runner = CliRunner()
        for pkl, out, extra in (("cond.pkl", "cond.pt", ["--classes", "neutral,happy,sad,surprise,fear,disgust,anger,contempt"]),
                                ("network-snapshot-000400.pkl", "ffhq.pt", [])):
            res = runner.invoke(cli, ["stylegan2", "convert", "--model", str(ws / pkl), "--out", str(ws / out), *extra])
            assert res.exit_code == 0, res.output
    return ws


def six_class_ferplus(root: Path) -> None:
    """A FER+ folder (both splits, label.csv with the ten vote columns) with two faces of each of the
    six emotions the guides' examples prepare."""
    import csv

    from datasets_fixtures import face, write_img

    columns = {"neutral": 0, "happy": 1, "surprise": 2, "sad": 3, "anger": 4, "fear": 6}
    for split in ("FER2013Train", "FER2013Valid"):
        rows = []
        for i, (emotion, col) in enumerate((e, c) for e, c in columns.items() for _ in range(2)):
            name = f"fer{i}.png"
            write_img(root / split / name, cv2.resize(face(i, emotion), (48, 48)))
            votes = [0] * 10
            votes[col] = 8
            votes[0 if col else 1] += 2
            rows.append([name, "(0, 0, 48, 48)", *votes])
        with open(root / split / "label.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(rows)


def _inputs_for(ws: Path, args: list[str], where: Path) -> None:
    """Link the workspace's stand-ins into a fresh folder, leaving out what the example writes."""
    outs = {args[i + 1].rstrip("/") for i, a in enumerate(args[:-1]) if a in ("--out", "-o", "--grid", "--plot")}
    if "--resume" in args:  # the output is the run it resumes
        outs = set()
    for entry in ws.iterdir():
        if entry.name not in outs:
            (where / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    for out in outs:
        parent = (where / out).parent
        folder = where
        for part in parent.relative_to(where).parts:  # an output inside a linked folder: make each folder real,
            folder = folder / part  # so that nothing is written into the shared workspace
            if folder.is_symlink():
                target = folder.resolve()
                folder.unlink()
                shutil.copytree(target, folder, symlinks=True)
        if parent != where and not parent.exists():
            parent.mkdir(parents=True)
        if (where / out).is_symlink() or (where / out).is_file():  # a stand-in of the same name as the output
            (where / out).unlink()
        elif (where / out).is_dir():
            shutil.rmtree(where / out)
    if args[0] == "classify":  # photos need a classifier trained on photos' sketches: the shipped one
        from emosketch.models import default_sketch_classifier

        for name in ("clf.pt", "clf-sketch.pt"):
            (where / name).unlink()
            (where / name).symlink_to(default_sketch_classifier())


EXAMPLES = examples()


def _param(where: str, line: str):
    fast = where == "README" or not_run_reason(line) is not None or any(key in line for key in FAST)
    marks = [] if fast else [pytest.mark.slow]
    return pytest.param(line, id=f"{where}: {line[10:70]}", marks=marks)


@pytest.mark.parametrize("line", [_param(w, line) for w, line in EXAMPLES])
def test_the_example_runs(line, workspace, tmp_path, monkeypatch):
    args = args_of(line)
    needs_stylegan2 = any(name in line for name in ("network-snapshot", "cond.p", "ffhq"))
    if needs_stylegan2 and not STYLEGAN2.exists():
        pytest.skip(f"{STYLEGAN2} is absent")
    here = tmp_path / "ws"
    here.mkdir()
    (tmp_path / "shared").symlink_to(workspace.parent / "shared", target_is_directory=True)  # ../shared/data/...
    _inputs_for(workspace, args, here)
    monkeypatch.chdir(here)
    reason = not_run_reason(line)
    if reason is not None:
        parse_only(args)
        return
    args = [m for a in args for m in (sorted(glob.glob(a)) or [a] if "*" in a else [a])]  # as a shell would
    res = CliRunner().invoke(cli, small_args(args))
    assert res.exit_code == 0, f"{line}\n{res.output}\n{res.exception!r}"


def test_every_example_is_found():
    lines = [line for _, line in EXAMPLES]
    assert len(lines) > 60
    assert any(line.startswith("emosketch pack --input me.jpg --out me-pack") for line in lines)
    assert any("stylegan2 info" in line for line in lines)  # from --help and from the guides


def test_pack_names_its_header_pack_whatever_the_folder(workspace, tmp_path, monkeypatch):
    """The Arduino examples include "pack.h" and use pack_pack: `pack` writes those names by default."""
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, ["pack", "--checkpoint", str(workspace / "runs/tiny/checkpoint.pt"),
                                   "--data", str(workspace / "data/synthetic-64"), "--emotions", "happy,sad",
                                   *SMALL["pack"], "--out", "me-pack"])
    assert res.exit_code == 0, res.output
    header = (tmp_path / "me-pack" / "pack.h").read_text()
    assert "pack_pack" in header and "PACK_EMOTION_HAPPY" in header
    for sketch in (ROOT / "emosketch" / "export" / "players").rglob("*.ino"):
        text = sketch.read_text()
        assert "emosketch export" not in text, sketch
        assert '#include "pack.h"' in text or '#include "pack_tft.h"' in text, sketch


def test_the_benchmark_commands_name_options_the_benchmarks_take():
    """Figures cite the command that measured them: each benchmark file exists and knows each option."""
    text = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))])
    commands = re.findall(r"benchmarks/(\w+)\.py((?: --?[\w-]+(?:[ =][^\s`|)]+)?)*)", text)
    assert len({name for name, _ in commands}) >= 10
    for name, options in commands:
        source = (ROOT / "benchmarks" / f"{name}.py").read_text()
        for option in re.findall(r"(--[\w-]+)", options):
            assert f'"{option}"' in source, f"benchmarks/{name}.py has no {option}"


@pytest.mark.skipif(not STYLEGAN2.exists(), reason="the StyleGAN2 test pickles (shared/stylegan2) are absent")
@pytest.mark.parametrize("pickle", ["uncond-rgb-32.pkl", "cond-gray-64.pkl"])
def test_the_python_api_stylegan2_example_runs_on_either_kind_of_model(pickle, tmp_path, monkeypatch):
    """Its G.labels(3, 2) had raised on the unconditional snapshot that the CLI's examples name the same way."""
    text = (DOCS / "python-api.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "load_stylegan2" in b)
    shutil.copy(STYLEGAN2 / pickle, tmp_path / "network-snapshot-000400.pkl")
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(block, "python-api.md", "exec"), names)  # noqa: S102 -- the guide's own example
    assert names["ws"].shape[0] == 2 and names["img"].shape[0] == 2 and (tmp_path / "model.pt").exists()


def test_the_agent_to_serial_recipe_runs(tmp_path, monkeypatch):
    """on-the-device.md's loop that drives a pack from the agent over serial: run with a stand-in for pyserial and a
    clock that stops it after 100 steps (10 s of the agent)."""
    import sys
    import time
    import types

    text = (DOCS / "on-the-device.md").read_text()
    block = text.split("**Driving the face from an agent on a computer.**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "me-pack").mkdir()
    (tmp_path / "me-pack" / "manifest.json").write_text('{"emotions": {"names": ["neutral", "happy", "sad"]}}')
    written = []
    fake = types.ModuleType("serial")
    fake.Serial = lambda port, baud: types.SimpleNamespace(write=written.append)
    monkeypatch.setitem(sys.modules, "serial", fake)

    class Stop(Exception):
        pass

    ticks = []

    def sleep(seconds):
        ticks.append(seconds)
        if len(ticks) >= 100:
            raise Stop

    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Stop):
        exec(compile(block, "on-the-device.md", "exec"), {})  # noqa: S102 -- the guide's own example
    assert written[0] == b"happy\n" and written[-1] == b"neutral\n"  # happy while joy is felt, then back to neutral
    assert all(w in (b"neutral\n", b"happy\n", b"sad\n") for w in written)
    assert all(a != b for a, b in zip(written, written[1:]))


def test_the_micropython_agent_recipe_shows_a_press_and_lets_it_fade(tmp_path, monkeypatch, request):
    """on-the-device.md's MicroPython agent with a button, run under CPython with the player's stand-ins: a bouncing
    press (held for a while) is felt once, the face is asked for happy, and back to neutral as joy fades (felt at
    every bounce, joy reached its 1.5 ceiling and showed for 7 s)."""
    import types

    from conftest import fake_framebuf
    from test_players import state_machine_pack

    from emosketch.export import write_pack
    from emosketch.export.players import MICROPYTHON_PLAYER

    text = (DOCS / "on-the-device.md").read_text()
    block = text.split("On MicroPython, `Player.run(agent=...)`", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    write_pack(state_machine_pack(), tmp_path / "pack")
    shutil.copyfile(MICROPYTHON_PLAYER, tmp_path / MICROPYTHON_PLAYER.name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(sys.modules, "framebuf", fake_framebuf())
    clock = [0]

    class Stop(Exception):
        pass

    class Pin:  # pressed (0) from 1 s to 1.5 s, bouncing for 10 ms at the press and at the release
        IN, PULL_UP = 1, 2

        def __init__(self, *args):
            pass

        def value(self):
            t = clock[0]
            if 1000 <= t < 1010 or 1500 <= t < 1510:
                return (t // 2) % 2
            return 0 if 1010 <= t < 1500 else 1

    monkeypatch.setitem(sys.modules, "machine", types.SimpleNamespace(Pin=Pin))
    monkeypatch.delitem(sys.modules, "emosketch_player", raising=False)
    import emosketch_player  # tmp_path's copy: forgotten again below

    request.addfinalizer(lambda: sys.modules.pop("emosketch_player", None))

    monkeypatch.setattr(emosketch_player, "ticks_ms", lambda: clock[0])
    asked = []

    def sleep_ms(ms):
        clock[0] += ms
        asked.append((clock[0], player.current_emotion()))
        if clock[0] >= 9000:
            raise Stop

    monkeypatch.setattr(emosketch_player, "sleep_ms", sleep_ms)
    names = {"machine": sys.modules["machine"], "oled": None}
    player = None
    real = emosketch_player.Player

    def keep(*args, **kw):
        nonlocal player
        player = real(*args, **kw)
        return player

    monkeypatch.setattr(emosketch_player, "Player", keep)
    with pytest.raises(Stop):
        exec(compile(block.replace('"/pack"', repr(str(tmp_path / "pack"))), "on-the-device.md", "exec"), names)  # noqa: S102
    names["pack"].frames.close()
    happy = [t for t, e in asked if e == "happy"]
    assert happy and 1000 <= happy[0] < 1100  # asked for at the press
    assert 4500 < happy[-1] < 6500 and asked[-1][1] == "neutral"  # joy 0.8, felt once, fades under 0.3 in ~4.3 s
    assert names["agent"].level[2] + names["agent"].pending[2] < 0.3


def test_the_python_api_engine_example_draws_the_panel_bytes(monkeypatch):
    """python-api.md's recipe for a program that drives its own panel: the mirror's engine without its server."""
    import time

    text = (DOCS / "python-api.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "Engine()" in b)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    names: dict = {}
    exec(compile(block, "python-api.md", "exec"), names)  # noqa: S102 -- the guide's own example
    assert len(names["data"]) == 1024 and names["bits"].shape == (64, 128) and names["state"]["levels"]["joy"] > 0
