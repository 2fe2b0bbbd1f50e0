"""The built-in demo, end to end on a CPU with no data to fetch: a real photo (the public-domain NASA
portrait of astronaut Eileen Collins that ships with emosketch) redrawn by the shipped generator ->
a tour of emotions, an agent-driven video and an OLED pack with its browser preview.

With train=True it is the from-scratch path instead: synthetic line-drawn faces -> the tiny
generator training -> the same outputs; a second run reuses the finished training."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .config import SHIPPED
from .errors import EmosketchError
from .frames import Frames, write_image

CONFIGS = SHIPPED  # the demo's configs ship in the package (a checkout's configs/ links to them)
EMOTIONS = ("neutral", "happy", "sad", "surprise", "anger")  # the pack's emotions: 5 loops, 20 transitions
FACES = 4000  # synthetic faces to train on (500 identities x 8 emotions)
STEPS = 1200  # the tiny config's schedule squeezed into ~10 minutes on 2 cores, so the demo stays under 15


def _config(name: str) -> Path:
    path = CONFIGS / name
    if not path.exists():
        raise EmosketchError(f"{path}: the demo's config is missing from the installed package: reinstall emosketch")
    return path


def _dataset(out: Path, count: int, progress: Callable[[str], None]) -> Path:
    from .datasets.prepare import PrepareConfig, prepare

    data = out / "data" / "synthetic-64"
    if (data / "meta.json").exists():
        progress(f"[1/5] synthetic faces: reusing {data}")
        return data
    progress(f"[1/5] synthetic faces: drawing {count} at 64 px into {data}")
    prepare("synthetic", data, PrepareConfig(size=64, count=count, seed=0), progress=False, log=lambda _m: None)
    return data


def _training(out: Path, data: Path, steps: int | None, progress: Callable[[str], None]) -> Path:
    from .config import load_config
    from .gan.checkpoint import load_checkpoint
    from .gan.train import TrainConfig, train

    run = out / "run"
    ckpt = run / "checkpoint.pt"
    cfg = load_config(TrainConfig, _config("train-tiny-cpu.yaml"), {})
    if steps is not None:
        cfg = replace(cfg, steps=steps, checkpoint_every=min(cfg.checkpoint_every, steps),
                      sample_every=min(cfg.sample_every, steps))
    if ckpt.exists():
        state = load_checkpoint(ckpt)
        if state["step"] >= state["config"]["steps"]:
            progress(f"[2/5] generator: reusing the finished run in {run} (step {state['step']})")
            if state["config"]["steps"] != cfg.steps:
                progress(f"  note: it was trained for {state['config']['steps']} steps, not {cfg.steps}; "
                         f"delete {run} to train again")
            return ckpt
        progress(f"[2/5] generator: resuming {run} at step {state['step']} of {state['config']['steps']}")
        train(cfg, data, run, resume=True, log=progress)
        return ckpt
    if run.exists() and any(run.iterdir()):
        progress(f"[2/5] generator: {run} holds no checkpoint yet; starting it again")
        for p in sorted(run.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
    progress(f"[2/5] generator: training {cfg.steps} steps of configs/train-tiny-cpu.yaml into {run} "
             f"(about {cfg.steps * cfg.batch_size / 16 / 60:.0f} minutes on 2 cores; Ctrl-C keeps the progress "
             "and the next run resumes)")
    train(cfg, data, run, log=progress)
    return ckpt


# What the demo writes in its folder (with train, its data and run too), its folders marked "/" (it owns them
# whole): the only entries --out may hold, and its marker's listing
WRITTEN = ("face.png", "transitions.gif", "transitions.npz", "agent.mp4", "agent.gif", "agent.png", "pack/", "data/",
           "run/")


def check_demo_folder(out: Path) -> None:
    """Refuse a demo folder that is a file, or that holds an entry the demo did not write (or holds no marker):
    the demo writes into it file by file and would replace a user's face.png or agent.png."""
    from .atomic import MARKER, some

    if out.exists() and not out.is_dir():
        raise EmosketchError(f"{out}: is a file, not a folder; choose another --out")
    if not out.is_dir():
        return
    entries = [e.name for e in out.iterdir()]
    ours = {w.rstrip("/") for w in WRITTEN} | {MARKER}
    other = sorted(n for n in entries if n not in ours  # nor a killed writer's hidden leftovers
                   and not (n.startswith(".") and (n.endswith(".lock") or ".tmp-" in n or ".old-" in n)))
    if other:
        raise EmosketchError(f"{out}: holds {some(other)}, which the demo did not write; choose another --out or "
                             "move them out")
    if entries and MARKER not in entries:
        raise EmosketchError(f"{out}: holds files emosketch did not write (no {MARKER} marker), which the demo would "
                             "overwrite; choose another --out or empty it")


def run_demo(out: str | Path, progress: Callable[[str], None] = print, steps: int | None = STEPS,
             count: int = FACES, train: bool = False) -> dict[str, Path]:
    """Run the demo in `out` (with `train`: run, finish or reuse its training); returns what was written. The
    folder is locked for the run: a second demo into it refuses at once."""
    from .atomic import output_lock

    out = Path(out)
    check_demo_folder(out)
    with output_lock(out):
        return _run_demo(out, progress, steps, count, train)


def _run_demo(out: Path, progress: Callable[[str], None], steps: int | None, count: int,
              train: bool) -> dict[str, Path]:
    from .atomic import mark
    from .export import ExportOptions
    from .export.pack import panel_codec
    from .export.panel import PANEL
    from .interpolate.agent import load_script, run_script
    from .interpolate.animate import STILL, still
    from .interpolate.pack import emotion_pack, sequences
    from .interpolate.plot import write_agent_plot
    from .interpolate.render import Renderer, write_outputs
    from .interpolate.timeline import load_timeline

    check_demo_folder(out)  # again under the lock: filled since the first look
    out.mkdir(parents=True, exist_ok=True)
    # what the demo may write, listed before it writes: --force of another command replaces the folder only
    # while it holds nothing else (an empty marker had let it delete a user's notes beside the demo's files)
    mark(out, list(WRITTEN))
    started = time.time()
    if train:
        data = _dataset(out, count, progress)
        ckpt = _training(out, data, steps, progress)
        r = Renderer(ckpt, "cpu")
        from .datasets.dataset import load

        ds = load(data)
        test = ds.indices("test")
        neutral = [i for i, row in enumerate(test) if ds.classes[ds.labels[row]] == "neutral"]
        face = r.source(data=data, index=neutral[0] if neutral else 0)
    else:
        from .models import default_generator, demo_photo

        ckpt = default_generator()
        progress(f"[1/5] generator: the shipped model, {ckpt}")
        r = Renderer(ckpt, "cpu")
        face = r.source(image=demo_photo())
        progress(f"[2/5] face: {demo_photo()} (NASA's portrait of Eileen Collins, public domain): {face.how}")
    written: dict[str, Path] = {"face sketch": out / "face.png"}

    write_image(out / "face.png", face.sketch)

    progress("[3/5] transitions: configs/timeline-demo.yaml")
    plan = load_timeline(_config("timeline-demo.yaml"), r.classes)
    tour = Frames(r.render(face, r.plan_codes(plan)), plan.fps, plan.marks())
    if still(tour.frames, plan.poses()):  # a short --train run's generator: said, not shown as a still "tour"
        progress(f"  note: {STILL}")
    written["transitions (source | sketch | OLED)"] = write_outputs(tour, [out / "transitions.gif"],
                                                                    original=face.original)[0]
    written["transition frames (for emosketch export)"] = write_outputs(tour, [out / "transitions.npz"])[0]

    progress("[4/5] agent: configs/agent-demo.yaml")
    script = load_script(_config("agent-demo.yaml"))
    trace = run_script(script, r.classes)
    for note in trace.notes:
        progress(f"  note: {note}")
    agent_frames = r.render_weights(face, trace.weights, trace.smirk)
    agent = Frames(agent_frames, script.fps, trace.marks())
    paths = write_outputs(agent, [out / "agent.mp4", out / "agent.gif"], original=face.original)
    written["agent video"], written["agent GIF"] = paths
    written["agent plot"] = write_agent_plot(out / "agent.png", trace, agent_frames)

    progress(f"[5/5] OLED pack: {len(EMOTIONS)} idle loops and {len(EMOTIONS) * (len(EMOTIONS) - 1)} transitions")
    frames = sequences(r, face, list(EMOTIONS))
    opts = ExportOptions(layout=PANEL.layout, dither=PANEL.dither,
                         codec=panel_codec("ssd1306", PANEL.width, PANEL.height),
                         name="pack")
    pack, folder = emotion_pack(frames, out / "pack", opts, force=True, panel="yellow-blue", face=face)
    m = pack.manifest()
    progress(f"pack: {len(pack.payloads)} frames, {m['total_bytes']} bytes "
             f"({m['raw_bytes'] / m['total_bytes']:.1f}:1 vs raw), verified bit for bit; "
             f"demo took {time.time() - started:.0f} s")
    written.update({"pack": folder, "browser preview": folder / "index.html",
                    "C header (with emosketch_player.c/.h)": folder / "pack.h",
                    "MicroPython player (with frames.bin, index.bin)": folder / "emosketch_player.py",
                    "panel preview": folder / "preview.gif", "generator checkpoint": ckpt})
    return written
