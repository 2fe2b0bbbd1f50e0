"""The generator and its trainer: shapes, a finite CPU step, checkpoints as data, exact resume,
a SIGTERM that leaves a loadable checkpoint, ADA p, and a learning-rate schedule that ends where it says."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emosketch.errors import EmosketchError
from emosketch.gan.augment import AdaConfig, AdaptiveAugment, augment
from emosketch.gan.checkpoint import load_checkpoint
from emosketch.gan.networks import ModelConfig, Networks
from emosketch.gan.train import TrainConfig, train

TINY = ModelConfig(image_size=32, dim_in=8, max_dim=32, style_dim=16, latent_dim=8, mapping_hidden=32,
                   bottleneck_blocks=1)


def tiny_cfg(**kw) -> TrainConfig:
    base = dict(model=TINY, batch_size=4, steps=6, log_every=1, sample_every=3, checkpoint_every=3)
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("size", [32, 64, 128])
def test_shapes_at_each_size(size):
    cfg = ModelConfig(image_size=size, dim_in=8, max_dim=32, mapping_hidden=32)
    nets = Networks(cfg, 5)
    x, y = torch.randn(3, 1, size, size), torch.tensor([0, 2, 4])
    s = nets.mapping(torch.randn(3, cfg.latent_dim), y)
    assert s.shape == (3, cfg.style_dim) and nets.style_encoder(x, y).shape == (3, cfg.style_dim)
    out = nets.generator(x, s)
    assert out.shape == x.shape and out.abs().max() <= 1
    assert nets.discriminator(x, y)[0].shape == (3,)


def test_bad_sizes():
    with pytest.raises(EmosketchError, match="power of two"):
        ModelConfig(image_size=48)


def test_training_steps_are_finite_and_write_a_run(synthetic, tmp_path):
    result = train(tiny_cfg(), synthetic, tmp_path / "run", device="cpu", progress=False, log=lambda m: None)
    assert result["step"] == 6
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6]
    assert all(isinstance(v, float) and v == v for r in lines for k, v in r.items() if k != "step")
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["step0000003.png", "step0000006.png"]


def test_checkpoint_is_data(synthetic, tmp_path):
    train(tiny_cfg(steps=2), synthetic, tmp_path / "run", device="cpu", progress=False, log=lambda m: None)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert state["format"] == "emosketch-generator" and state["step"] == 2
    assert {"nets", "ema", "optimizers", "ada", "rng", "config", "classes"} <= set(state)
    assert set(state["optimizers"]) == {"generator", "mapping", "style_encoder", "discriminator"}


@pytest.mark.parametrize("recipe", ["residual", "warp, guide and pairs"])
def test_resume_gives_exactly_the_same_next_losses(synthetic, trained, tmp_path, recipe):
    quiet = {"device": "cpu", "progress": False, "log": lambda m: None}
    cfg = tiny_cfg(steps=6, checkpoint_every=100, lambda_mismatch=1.0)  # its loss is in the compared logs too
    if recipe != "residual":  # the real-faces recipe: its jitter and synthetic pairs are random draws too
        cfg = tiny_cfg(steps=6, checkpoint_every=100, lambda_mismatch=1.0, guidance="alternate",
                       model=ModelConfig(**{**TINY.__dict__, "output": "warp"}), guide=str(trained[0]),
                       lambda_guide=1.0, lambda_pair=1.0, lambda_mask=1.0, lambda_flow=0.05, source_jitter=0.08,
                       lambda_mean_change=1.0, mean_change_size=4,  # its moving averages are state too
                       guide_upper={"happy": 1.0})  # a second jitter draw a step
    train(cfg, synthetic, tmp_path / "straight", **quiet)
    train(cfg, synthetic, tmp_path / "split", steps=3, **quiet)
    train(cfg, synthetic, tmp_path / "split", resume=True, **quiet)
    a = (tmp_path / "straight" / "log.jsonl").read_text().splitlines()
    b = (tmp_path / "split" / "log.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in a]
    strip_b = [{k: v for k, v in json.loads(line).items() if k != "images_per_s"} for line in b]
    assert strip == strip_b and len(strip) == 6
    sa = torch.load(tmp_path / "straight" / "checkpoint.pt", weights_only=True)
    sb = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(sa["ema"][k], sb["ema"][k]) for k in sa["ema"])
    # the EMA is of the style networks only: sampling never uses D
    assert {k.split(".")[0] for k in sa["ema"]} == {"generator", "mapping", "style_encoder"}


def test_a_compact_checkpoint_resumes_with_the_same_step_weights_and_draws(synthetic, tmp_path):
    """slim --resumable (gan.checkpoint.compact): every network and its EMA in bfloat16, no optimiser
    moments, about a quarter of the size; a run resumes from it at its step with its weights (to
    bfloat16), its RNG and batch draws, and fresh optimisers. A slim file cannot be compacted."""
    from click.testing import CliRunner

    from emosketch.cli import cli
    from emosketch.gan.checkpoint import compact, slim

    quiet = {"device": "cpu", "progress": False, "log": lambda m: None}
    cfg = tiny_cfg(steps=5, checkpoint_every=100)
    train(cfg, synthetic, tmp_path / "run", steps=3, **quiet)
    full_path = tmp_path / "run" / "checkpoint.pt"
    carry = tmp_path / "carry" / "checkpoint.pt"
    carry.parent.mkdir()
    res = CliRunner().invoke(cli, ["slim", str(full_path), "--resumable", "--out", str(carry)])
    assert res.exit_code == 0, res.output
    assert "resumable" in res.output
    full, small = torch.load(full_path, weights_only=True), torch.load(carry, weights_only=True)
    assert "optimizers" not in small and small["step"] == full["step"] == 3
    assert carry.stat().st_size < 0.4 * full_path.stat().st_size
    assert all(small["nets"][k].dtype == torch.bfloat16 for k in small["nets"] if full["nets"][k].is_floating_point())
    assert small["rng"]["batches"] == full["rng"]["batches"] and torch.equal(small["rng"]["torch"], full["rng"]["torch"])
    bad = CliRunner().invoke(cli, ["slim", str(full_path), "--resumable", "--note", "x", "--out", str(tmp_path / "x.pt")])
    assert bad.exit_code != 0 and "--resumable keeps a run as it is" in bad.output
    with pytest.raises(EmosketchError, match="slim checkpoint has no discriminator"):
        compact(slim(full))
    train(cfg, synthetic, tmp_path / "carry", resume=True, **quiet)
    done = torch.load(carry, weights_only=True)
    assert done["step"] == 5 and set(done["optimizers"]) == set(full["optimizers"])
    steps = [json.loads(line)["step"] for line in (tmp_path / "carry" / "log.jsonl").read_text().splitlines()]
    assert steps == [4, 5]  # it went on from step 3, not from the start


def test_run_guards(synthetic, tmp_path):
    train(tiny_cfg(steps=1), synthetic, tmp_path / "run", device="cpu", progress=False, log=lambda m: None)
    with pytest.raises(EmosketchError, match="already holds a run"):
        train(tiny_cfg(steps=1), synthetic, tmp_path / "run", device="cpu", progress=False, log=lambda m: None)
    with pytest.raises(EmosketchError, match="nothing to resume"):
        train(tiny_cfg(steps=1), synthetic, tmp_path / "empty", resume=True, device="cpu", progress=False)
    with pytest.raises(EmosketchError, match="steps 0: stop at step 1 or later"):
        train(tiny_cfg(steps=1), synthetic, tmp_path / "zero", steps=0, device="cpu", progress=False)
    assert not (tmp_path / "zero").exists()
    notes = []
    train(tiny_cfg(steps=1), synthetic, tmp_path / "run", resume=True, steps=5, device="cpu", progress=False,
          log=notes.append)  # a finished run, asked to go past its schedule, says why it does not
    assert any("past the run's last step, 1" in n for n in notes) and any("at step 1 already" in n for n in notes)
    assert not any("it goes on with" in n for n in notes)
    notes.clear()  # a run resumed with no config (the default one) takes its own, with no size refusal or note
    train(TrainConfig(), synthetic, tmp_path / "run", resume=True, device="cpu", progress=False, log=notes.append)
    assert not any("config differs" in n for n in notes), notes
    train(tiny_cfg(steps=1, lr=0.5), synthetic, tmp_path / "run", resume=True, device="cpu", progress=False,
          log=notes.append)
    assert any("config differs from the checkpoint's (lr)" in n for n in notes), notes
    moved, other = tmp_path / "moved", tmp_path / "other"  # the same data elsewhere, and data sketched otherwise
    shutil.copytree(synthetic, moved)
    shutil.copytree(synthetic, other)
    meta = json.loads((other / "meta.json").read_text())
    (other / "meta.json").write_text(json.dumps(meta | {"sketch": {"method": "canny"}}))
    for data, said in ((moved, False), (other, True)):
        notes.clear()
        train(tiny_cfg(steps=1), data, tmp_path / "run", resume=True, device="cpu", progress=False, log=notes.append)
        assert any("it goes on with" in n and "sketch settings differ" in n for n in notes) == said, notes
    (tmp_path / "run" / "checkpoint.pt").unlink()  # as a run killed before its first checkpoint leaves it
    with pytest.raises(EmosketchError, match="stopped before its first checkpoint, so there is nothing to resume"):
        train(tiny_cfg(steps=1), synthetic, tmp_path / "run", device="cpu", progress=False, log=lambda m: None)
    (tmp_path / "x.pt").write_bytes(b"junk")
    with pytest.raises(EmosketchError, match="not a readable .*checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    torch.save({"format": "emosketch-classifier"}, tmp_path / "c.pt")
    with pytest.raises(EmosketchError, match="not an emosketch-generator checkpoint"):
        load_checkpoint(tmp_path / "c.pt")


def endless_run(synthetic, tmp_path, sample_every: int, log_every: int):
    """A tiny train run through the CLI that goes on until it is stopped: (its folder, its command)."""
    (tmp_path / "cfg.yaml").write_text(textwrap.dedent(f"""
        model: {{image_size: 32, dim_in: 8, max_dim: 32, style_dim: 16, latent_dim: 8, mapping_hidden: 32,
                bottleneck_blocks: 1}}
        batch_size: 4
        steps: 100000
        checkpoint_every: 100000
        sample_every: {sample_every}
        log_every: {log_every}
    """))
    run = tmp_path / "run"
    return run, [sys.executable, "-m", "emosketch.cli", "train", "--config", str(tmp_path / "cfg.yaml"), "--data",
                 str(synthetic), "--out", str(run), "--device", "cpu"]


def test_sigterm_mid_run_leaves_a_loadable_checkpoint(synthetic, tmp_path):
    """Through the CLI: the checkpoint is saved, the exit status is 143 (128 + SIGTERM), and a resume
    drops the log records the killed run wrote after its checkpoint."""
    run, cmd = endless_run(synthetic, tmp_path, sample_every=100000, log_every=1)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = run / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, out
    assert "SIGTERM: saved step" in out
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["step"] >= 3
    # What a SIGKILL after the checkpoint leaves: records past its step, and a save cut short.
    with open(log, "a") as fh:
        fh.write(json.dumps({"step": state["step"] + 1}) + "\n" + '{"step": 99')
    (run / ".checkpoint.tmp-abc123.pt").write_bytes(b"half a checkpoint")
    done = subprocess.run(cmd + ["--resume", "--steps", str(state["step"] + 2)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    steps = [json.loads(line)["step"] for line in log.read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == state["step"] + 2
    assert not list(run.glob(".checkpoint.tmp-*"))


def test_a_stopped_run_logs_the_steps_since_its_last_record(synthetic, tmp_path):
    """The steps between the last log record and a Ctrl-C or SIGTERM were never logged, and a resumed run's first
    record averaged only the steps after the resume: a stop now writes a record at its own step."""
    run, cmd = endless_run(synthetic, tmp_path, sample_every=1, log_every=1000)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((run / "samples").glob("*.png")) if (run / "samples").is_dir() else []) < 3:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, out
    step = load_checkpoint(run / "checkpoint.pt")["step"]
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [step] and step >= 3 and "G/adv" in records[0]


def test_ada_p_rises_when_d_overfits_and_stays_in_range():
    ada = AdaptiveAugment(AdaConfig(interval=1, speed_kimg=0.01), batch_size=4)  # big steps, to reach the ends
    for _ in range(20):
        ada.observe(torch.ones(4))  # D is sure every real is real: overfitting
    assert ada.p == 1.0
    for _ in range(40):
        ada.observe(-torch.ones(4))
    assert ada.p == 0.0
    ada2 = AdaptiveAugment(AdaConfig(), batch_size=8)
    for _ in range(8):
        ada2.observe(torch.ones(8))
    assert ada2.p == pytest.approx(2 * 8 * 4 / 500_000)  # two updates of (batch * interval) / 500k


def test_augment_keeps_shape_range_and_gradients():
    x = (torch.rand(6, 1, 32, 32) * 2 - 1).requires_grad_(True)
    out = augment(x, 1.0, AdaConfig(), torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert torch.equal(augment(x, 0.0, AdaConfig()), x)


def test_lr_schedule_really_decays():
    cfg = TrainConfig(steps=101, lr_decay_start=0.5, lr_final=0.1)
    assert cfg.lr_factor(0) == 1.0 and cfg.lr_factor(50) == 1.0
    assert cfg.lr_factor(100) == pytest.approx(0.1)
    assert cfg.lr_factor(75) == pytest.approx(0.55)
    assert cfg.ds_weight(0) == 1.0 and cfg.ds_weight(101) == 0.0


def test_two_process_torchrun_on_gloo(synthetic, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(textwrap.dedent(f"""
        from emosketch.gan.train import TrainConfig, train
        from emosketch.gan.networks import ModelConfig
        cfg = TrainConfig(model=ModelConfig(image_size=32, dim_in=8, max_dim=32, style_dim=16, latent_dim=8,
                          mapping_hidden=32, bottleneck_blocks=1), batch_size=4, steps=3, log_every=1,
                          sample_every=3, checkpoint_every=3)
        import os, pathlib
        r = train(cfg, {str(synthetic)!r}, {str(tmp_path / 'run')!r}, device="cpu", progress=False)
        # one file per rank: two processes printing to one pipe can interleave their lines
        out = pathlib.Path({str(tmp_path)!r}) / ("rank" + os.environ["RANK"])
        out.write_text(f"{{r['world_size']}} {{r['ranks_in_sync']}} {{r['step']}}")
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    # both ranks: a world of 2, identical weights after 3 steps on different batches
    assert [(tmp_path / f"rank{r}").read_text() for r in (0, 1)] == ["2 True 3", "2 True 3"]
    # rank 0 says the processes found each other, and what batch_size means under torchrun
    assert run.stdout.count("distributed: 2 processes (gloo, on CPUs); batch_size 4 is each process's, 8 a step") == 1
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 3


def test_cli_train_sample_and_evaluate(synthetic, trained, tmp_path):
    import cv2
    import numpy as np
    from click.testing import CliRunner

    from emosketch.cli import cli
    from emosketch.datasets.dataset import load

    (tmp_path / "tiny.yaml").write_text(
        "model: {image_size: 32, dim_in: 8, max_dim: 32, style_dim: 16, latent_dim: 8, mapping_hidden: 32,"
        " bottleneck_blocks: 1}\nbatch_size: 4\nsteps: 2\nlog_every: 1\nsample_every: 2\ncheckpoint_every: 2\n")
    runner = CliRunner()
    res = runner.invoke(cli, ["train", "--config", str(tmp_path / "tiny.yaml"), "--data", str(synthetic), "--out",
                              str(tmp_path / "run"), "--device", "cpu"])
    assert res.exit_code == 0, res.output
    ckpt = tmp_path / "run" / "checkpoint.pt"
    ds = load(synthetic)
    cv2.imwrite(str(tmp_path / "face.png"), np.asarray(ds.images[0]))
    res = runner.invoke(cli, ["sample", "--checkpoint", str(ckpt), "--input", str(tmp_path / "face.png"), "--emotions",
                              "happy,Angry", "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    row = cv2.imread(str(tmp_path / "s" / "face.png"), cv2.IMREAD_GRAYSCALE)  # the input, then each emotion, named
    assert row.shape == (12 + 32, 32 * 3) and (row[:12] < 128).any() and (tmp_path / "s" / "face_anger.png").exists()
    assert set(np.unique(row[12:, 32:])) <= {0, 255}  # inked, like the training sketches (under the labels)
    res = runner.invoke(cli, ["sample", "--checkpoint", str(ckpt), "--input", str(tmp_path / "face.png"), "--emotions",
                              "happy", "--out", str(tmp_path / "sg"), "--gray"])
    assert res.exit_code == 0, res.output
    soft = cv2.imread(str(tmp_path / "sg" / "face_happy.png"), cv2.IMREAD_GRAYSCALE)
    assert not set(np.unique(soft)) <= {0, 255}  # a 2-step model's output is anything but binary
    inked = cv2.imread(str(tmp_path / "s" / "face_happy.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(inked, np.where(soft >= 127.5, 255, 0))  # the same drawing, thresholded at mid-gray
    res = runner.invoke(cli, ["sample", "--checkpoint", str(ckpt), "--input", str(tmp_path / "face.png"), "--emotions",
                              "boredom", "--out", str(tmp_path / "s2")])
    assert res.exit_code == 1 and "boredom" in res.output
    res = runner.invoke(cli, ["sample", "--checkpoint", str(ckpt), "--input", str(tmp_path / "face.png"), "--emotions",
                              ",", "--out", str(tmp_path / "s3")])
    assert res.exit_code == 2 and "names none" in res.output  # not every emotion, silently
    (tmp_path / "junk.png").write_bytes(b"not a picture")
    res = runner.invoke(cli, ["sample", "--checkpoint", str(ckpt), "--input", str(tmp_path / "face.png"), "--input",
                              str(tmp_path / "junk.png"), "--emotions", "happy", "--out", str(tmp_path / "s4")])
    assert res.exit_code == 1 and "1 of 2 inputs could not be redrawn" in res.output  # as classify: exit 1
    assert (tmp_path / "s4" / "face_happy.png").exists() and "skipped" in res.output
    clf, _ = trained
    res = runner.invoke(cli, ["evaluate", "--checkpoint", str(ckpt), "--classifier", str(clf), "--data", str(synthetic),
                              "--faces", "8", "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert rep["generator"] == "run" and rep["translations"] == 8 * 7 and "ground_truth" in rep
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {image_size: 32, widht: 8}\n")
    res = runner.invoke(cli, ["train", "--config", str(bad), "--data", str(synthetic), "--out", str(tmp_path / "r2")])
    assert res.exit_code == 1 and "unknown key 'widht'" in res.output


def test_ink_makes_pure_ink_and_paper_at_mid_gray():
    import numpy as np

    from emosketch.gan.sample import ink

    x = np.array([[0.0, 0.2, 0.4999], [0.5, 0.7, 1.0]], np.float32)
    out = ink(x)
    assert out.dtype == np.float32 and out.shape == x.shape
    assert out.tolist() == [[0, 0, 0], [1, 1, 1]]
    assert ink(x, 0.1).tolist() == [[0, 1, 1], [1, 1, 1]]


def test_sample_grid_rows_are_sources_by_emotions(synthetic, tmp_path):
    import numpy as np

    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Trainer
    from emosketch.tensors import resize_batch

    ds = load(synthetic)
    trainer = Trainer(tiny_cfg(), ds, tmp_path, torch.device("cpu"))
    grid = trainer.sample_grid(n_sources=3)
    assert grid.shape == (3 * 32, 32 * (1 + len(ds.classes))) and grid.dtype == np.uint8
    pool = ds.indices("val")
    rows = pool[np.linspace(0, len(pool) - 1, 3).astype(int)]
    sources = resize_batch(ds.images[rows], 32)
    for i in range(3):  # the first column is each source itself (through [-1, 1] and back)
        assert np.abs(grid[i * 32:(i + 1) * 32, :32].astype(int) - sources[i]).max() <= 1
    # the PNG a run writes names each column above it: the source, then each emotion
    from emosketch.text import labelled_columns

    shown = labelled_columns(grid, 32, ["source", *ds.classes])
    head = shown.shape[0] - grid.shape[0]
    assert head >= 12 and np.array_equal(shown[head:], grid)
    for col in range(1 + len(ds.classes)):  # some ink in every column's label, none across its edges
        assert (shown[:head, col * 32:(col + 1) * 32] < 128).any()


def test_classification_loss_needs_the_head_and_trains_it(synthetic, tmp_path):
    with pytest.raises(EmosketchError, match="lambda_cls > 0 needs model.classifier_head"):
        tiny_cfg(lambda_cls=1.0)
    model = ModelConfig(**{**TINY.__dict__, "classifier_head": True})
    train(tiny_cfg(model=model, lambda_cls=1.0, steps=2), synthetic, tmp_path / "run", device="cpu", progress=False,
          log=lambda m: None)
    logs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(k in logs[-1] for k in ("D/cls", "G_ref/cls")) or all(k in logs[-1] for k in ("D/cls", "G/cls"))
    assert torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["ema"]  # loads as data


@pytest.mark.parametrize("guidance, tags", [("both", {"G/adv", "G_ref/adv"}), ("latent", {"G/adv"}),
                                            ("alternate", {"G/adv", "G_ref/adv"})])
def test_guidance_modes_train_the_styles_they_name(synthetic, tmp_path, guidance, tags):
    train(tiny_cfg(guidance=guidance, steps=2), synthetic, tmp_path / "run", device="cpu", progress=False,
          log=lambda m: None)
    logs = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    seen = {k for rec in logs for k in rec if k.endswith("/adv")}
    assert seen == tags
    with pytest.raises(EmosketchError, match="guidance 'reference'"):
        tiny_cfg(guidance="reference")


def test_mismatch_calls_real_faces_under_other_emotions_heads_fake(synthetic, tmp_path):
    import torch.nn.functional as F

    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Trainer

    def trainer(mismatch):
        cfg = tiny_cfg(lambda_mismatch=mismatch, guidance="alternate")  # one D step per train step
        return Trainer(cfg, load(synthetic), tmp_path, torch.device("cpu"))

    on, calls = trainer(1.0), []
    forward = on.nets.discriminator.forward

    def spy(x, y):
        out = forward(x, y)
        calls.append((y, out[0].detach().clone()))
        return out

    on.nets.discriminator.forward = spy
    for _ in range(3):
        calls.clear()
        state = on.batches.state()
        y_real = torch.from_numpy(on.batches.draw()["y"])
        on.batches.load_state(state)  # the step draws the same batch again
        logs = on.train_step()
        (y_none, logits), (y_fake, _) = calls[:2]  # D step: the reals under every head, then the fakes
        assert y_none is None and logits.shape == (len(y_real), len(on.classes)) and y_fake is not None
        wrong = ~F.one_hot(y_real, len(on.classes)).bool()  # every head but each face's own
        assert logs["D/mismatch"] == pytest.approx(F.softplus(logits[wrong]).mean().item(), rel=1e-5)
        assert logs["D/real"] == pytest.approx(F.softplus(-logits[~wrong]).mean().item(), rel=1e-5)
    off, with_it = trainer(0.0), trainer(1.0)
    assert "D/mismatch" not in off.train_step()
    with_it.train_step()
    d_off, d_on = off.nets.discriminator.state_dict(), with_it.nets.discriminator.state_dict()
    assert not all(torch.equal(d_off[k], d_on[k]) for k in d_off)  # the same draws, a different D update


def reference_step(t) -> dict[str, float]:
    """The training step as it was written first, from the pure losses: every D step draws G's image
    again, and every G step draws its own. The trainer's step draws the first kind's image once."""
    import torch as th

    from emosketch.gan.losses import d_loss, draw, g_loss

    cfg = t.cfg
    t.set_lr()
    b = t.batch()
    z = th.randn(cfg.batch_size, cfg.model.latent_dim, generator=t.gen)
    z2 = th.randn(cfg.batch_size, cfg.model.latent_dim, generator=t.gen)
    logs = {}
    for kind in t.kinds():
        with th.no_grad():
            fake_img = draw(t.run, b, kind, z)[1]
        loss, part, real = d_loss(t.run, t.context(), b, kind, z, fake_img)
        t.opt["discriminator"].zero_grad(set_to_none=True)
        loss.backward()
        t.opt["discriminator"].step()
        t.ada.observe(real)
        logs |= part
    for kind in t.kinds():
        loss, part = g_loss(t.run, t.context(), b, kind, z, z2, draw(t.run, b, kind, z))
        for k in ("generator", "mapping", "style_encoder"):
            t.opt[k].zero_grad(set_to_none=True)
        loss.backward()
        for k in (("generator", "mapping", "style_encoder") if kind == "latent" else ("generator",)):
            t.opt[k].step()
        logs |= part
    t.update_ema()
    t.step += 1
    return logs


@pytest.mark.parametrize("guidance, passes", [("alternate", 2), ("latent", 2), ("both", 5)])
def test_g_steps_first_image_serves_its_d_step_too(synthetic, tmp_path, guidance, passes):
    """G draws the first G step's image once (its D step judges it detached): the same logs and
    weights as the reference loop that draws it again, with one G pass less per step (fake + cycle;
    'both' adds the reference D step's fake and the reference G step's fake + cycle)."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Trainer

    def trainer():
        return Trainer(tiny_cfg(guidance=guidance, lambda_ds=0.0), load(synthetic), tmp_path, torch.device("cpu"))

    once, twice = trainer(), trainer()
    calls = {"once": 0, "twice": 0}
    for name, t in (("once", once), ("twice", twice)):
        forward = t.nets.generator.forward
        t.nets.generator.forward = (lambda x, s, parts=False, name=name, forward=forward:
                                    calls.update({name: calls[name] + 1}) or forward(x, s, parts))

    for step in range(1, 4):
        logs, expected = once.train_step(), reference_step(twice)
        assert {k: logs[k] for k in expected} == expected
        assert calls == {"once": passes * step, "twice": (passes + 1) * step}
    a, b = once.nets.state_dict(), twice.nets.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_matches_torch_and_keeps_channels_last(affine):
    from torch import nn

    from emosketch.gan.networks import InstanceNorm

    ours, theirs = InstanceNorm(6, affine=affine), nn.InstanceNorm2d(6, affine=affine)
    if affine:
        nn.init.normal_(ours.weight)
        nn.init.normal_(ours.bias)
    theirs.load_state_dict(ours.state_dict())  # the same parameters, so checkpoints load either way
    x = (torch.randn(3, 6, 8, 8) * 4 + 2).contiguous(memory_format=torch.channels_last)
    assert torch.allclose(ours(x), theirs(x), atol=1e-5)
    assert ours(x).is_contiguous(memory_format=torch.channels_last)


def test_warp_generator_starts_as_the_identity_and_moves_strokes():
    cfg = ModelConfig(**{**TINY.__dict__, "output": "warp", "warp_grid": 4})
    nets = Networks(cfg, 3)
    x = torch.ones(2, 1, 32, 32)
    x[:, :, 10:22, 15:17] = -1  # a vertical stroke
    s = nets.mapping(torch.randn(2, cfg.latent_dim), torch.tensor([0, 1]))
    out, parts = nets.generator(x, s, parts=True)
    assert out.shape == x.shape and (out - x).abs().max() < 0.02  # a closed mask, no motion yet
    assert parts["flow"].shape == (2, 2, 32, 32) and parts["flow"].abs().max() == 0
    assert parts["mask"].shape == (2, 1, 32, 32)
    # A displacement of the whole field moves the stroke, by at most max_shift of the side.
    with torch.no_grad():
        nets.generator.warp.flow[-1].bias.fill_(5.0)
        nets.generator.warp.style_flow.bias.fill_(1.0)
    moved = nets.generator(x, s)
    assert (moved - x).abs().max() > 1
    assert nets.generator.warp.max_shift == cfg.max_shift
    with pytest.raises(EmosketchError, match="model.output"):
        ModelConfig(output="paint")


def test_flow_offset_moves_strokes_relative_to_another_field():
    """flow_offset: the field applied is the style's less the offset, so an offset equal to the style's
    own field leaves the strokes where they are; a residual generator refuses it."""
    cfg = ModelConfig(**{**TINY.__dict__, "output": "warp", "warp_grid": 4})
    nets = Networks(cfg, 3)
    with torch.no_grad():
        nets.generator.warp.style_flow.weight.normal_(0, 0.5)
    x = torch.ones(2, 1, 32, 32)
    x[:, :, 10:22, 15:17] = -1
    s = nets.mapping(torch.randn(2, cfg.latent_dim), torch.tensor([0, 1]))
    with torch.no_grad():
        moved, parts = nets.generator(x, s, parts=True)
        assert parts["flow"].abs().max() > 0.01 and (moved - x).abs().max() > 0.5
        held, held_parts = nets.generator(x, s, parts=True, flow_offset=parts["flow"])
        assert held_parts["flow"].abs().max() == 0
        assert (held - x).abs().max() < 0.02  # only the nearly shut paint differs from the input
        half = nets.generator(x, s, flow_offset=parts["flow"][:1] * 0.5, parts=True)[1]["flow"]
        assert torch.allclose(half, parts["flow"] - parts["flow"][:1] * 0.5)
    residual = Networks(TINY, 3)
    with pytest.raises(EmosketchError, match="warp generator"):
        residual.generator(x, residual.mapping(torch.randn(2, TINY.latent_dim), torch.tensor([0, 1])),
                           flow_offset=torch.zeros(1, 2, 32, 32))


def test_source_jitter_moves_and_scales_the_sources_only(synthetic):
    """source_jitter: each source is shifted and scaled at random (paper beyond its edges) from the
    batches' saved generator; references stay as prepared; jitter 0 draws exactly as before."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Batches

    ds = load(synthetic)
    plain, moved = Batches(ds, 32, 6, seed=4), Batches(ds, 32, 6, seed=4, jitter=0.15)
    a, b = plain.draw(), moved.draw()
    assert np.array_equal(a["y"], b["y"]) and np.array_equal(a["ref"], b["ref"])
    assert b["x"].shape == a["x"].shape and b["x"].dtype == np.uint8
    assert all(not np.array_equal(u, v) for u, v in zip(a["x"], b["x"]))
    assert abs(int(b["x"].astype(int).sum()) - int(a["x"].astype(int).sum())) < 0.2 * a["x"].size * 255
    again = Batches(ds, 32, 6, seed=4, jitter=0.15)
    assert np.array_equal(again.draw()["x"], b["x"])
    still = Batches(ds, 32, 6, seed=4, jitter=0.0)
    assert np.array_equal(still.draw()["x"], a["x"])
    with pytest.raises(EmosketchError, match="source_jitter"):
        tiny_cfg(source_jitter=0.5)


def test_draw_pairs_draws_a_named_source_and_target_pair_more_often(synthetic):
    """draw_pairs {a>b: w}: G is given faces of emotion a to draw as b w times as often as any other pair;
    the draws come from the batches' saved generator; no draw_pairs draws exactly as before."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Batches

    ds = load(synthetic)
    classes = list(ds.classes)
    a, b = classes[1], classes[2]
    plain = Batches(ds, 32, 8, seed=4)
    assert np.array_equal(plain.draw()["y"], Batches(ds, 32, 8, seed=4, pairs={}).draw()["y"])
    weighted = Batches(ds, 32, 64, seed=4, pairs={f"{a}>{b}": 9.0})
    hits, others = 0, 0
    for _ in range(60):
        d = weighted.draw()
        y, t = d["y"], d["y_trg"]
        hits += int(((y == 1) & (t == 2)).sum())
        others += int(((y == 2) & (t == 1)).sum())
    n = len(classes)
    expected = 9 / (n * n - 1 + 9)  # 9 against 1 for each other pair, the emotions balanced
    assert abs(hits / (60 * 64) - expected) < 0.03
    assert abs(others / (60 * 64) - 1 / (n * n - 1 + 9)) < 0.02
    again = Batches(ds, 32, 64, seed=4, pairs={f"{a}>{b}": 9.0})
    assert np.array_equal(again.draw()["x"], Batches(ds, 32, 64, seed=4, pairs={f"{a}>{b}": 9.0}).draw()["x"])
    with pytest.raises(EmosketchError, match="not among"):
        Batches(ds, 32, 8, seed=4, pairs={f"{a}>nosuch": 2.0})
    with pytest.raises(EmosketchError, match="source>target"):
        tiny_cfg(draw_pairs={"anger": 2.0})
    with pytest.raises(EmosketchError, match="from 0 to 10"):
        tiny_cfg(draw_pairs={"anger>surprise": 11.0})


def test_a_warp_generator_draws_above_its_networks_size():
    """model.draw_size: the networks read the sketch shrunk to image_size, the head moves the full-size
    sketch's own strokes (a 1 px stroke stays 1 px, it is not redrawn from the small copy) and paints at
    full size; the same weights draw at either size."""
    cfg = ModelConfig(**{**TINY.__dict__, "output": "warp", "warp_grid": 4})
    big = ModelConfig(**{**cfg.__dict__, "draw_size": 64})
    assert cfg.out_size == 32 and big.out_size == 64
    nets = Networks(cfg, 3)
    x = torch.ones(2, 1, 64, 64)
    x[:, :, 20:44, 30] = -1  # a 1 px vertical stroke
    s = nets.mapping(torch.randn(2, cfg.latent_dim), torch.tensor([0, 1]))
    with torch.no_grad():
        nets.generator.warp.style_flow.bias.fill_(0.5)  # a motion shared by every face
        nets.generator.warp.paint[-1].bias.copy_(torch.tensor([-20.0, 0.0]))  # no paint
        out, parts = nets.generator(x, s, parts=True)
        small = nets.generator(F.interpolate(x, size=32, mode="area"), s)
    assert out.shape == x.shape and parts["flow"].shape == (2, 2, 64, 64) and parts["mask"].shape == (2, 1, 64, 64)
    ink = (out[0, 0] < 0).float()
    assert 20 <= ink.sum() <= 30 and (ink.sum(1) <= 1).all()  # one moved 1 px stroke, not a 2 px copy
    assert not torch.equal(ink, (x[0, 0] < 0).float())  # it moved
    # the same motion as the small drawing, at twice its pixels
    shrunk = F.interpolate(out, size=32, mode="area")
    assert (shrunk - small).abs().mean() < 0.05
    # the style encoder reads a full-size reference at its own size too
    assert nets.style_encoder(x, torch.tensor([0, 1])).shape == (2, cfg.style_dim)
    for bad in (48, 16, 2048):
        with pytest.raises(EmosketchError, match="draw_size"):
            ModelConfig(**{**cfg.__dict__, "draw_size": bad})
    with pytest.raises(EmosketchError, match="needs model.output: warp"):
        ModelConfig(**{**TINY.__dict__, "draw_size": 64})


def test_lift_makes_a_checkpoint_that_draws_at_the_new_size(tmp_path):
    from emosketch.gan.checkpoint import lift, load_checkpoint, save_checkpoint, slim
    from emosketch.gan.sample import GanTranslator

    cfg = ModelConfig(**{**TINY.__dict__, "output": "warp", "warp_grid": 4})
    nets = Networks(cfg, 3)
    state = {"config": {"model": cfg.__dict__}, "classes": ["neutral", "happy", "sad"], "image_size": 32,
             "step": 1, "dataset": {"size": 32, "sketch": {"method": "xdog"}},
             "ema": {k: v for k, v in nets.state_dict().items()}}
    save_checkpoint(tmp_path / "g32.pt", slim(state))
    lifted = lift(load_checkpoint(tmp_path / "g32.pt"), 64, note="lifted")
    assert lifted["image_size"] == 64 and lifted["dataset"]["size"] == 64
    assert lifted["config"]["model"]["draw_size"] == 64 and lifted["config"]["model"]["image_size"] == 32
    save_checkpoint(tmp_path / "g64.pt", lifted)
    tr = GanTranslator(tmp_path / "g64.pt", "cpu")
    assert tr.size == 64
    faces = np.full((2, 64, 64), 255, np.uint8)
    faces[:, 20:44, 30] = 0
    out = tr.translate(faces, np.array([1, 2]), np.array([0, 1]))
    assert out.shape == (2, 64, 64)
    # what had been drawn wrong without an error: -1 as the last class, one target broadcast over two faces, a
    # float picture drawn black, a NaN position on the path
    for images, targets, words in ((faces, [-1, 1], "class indices from 0 to 2"), (faces, [1], "one a picture"),
                                   (faces / 255.0, [1, 2], "uint8"), (faces[0], [1], "uint8"),
                                   (faces, [1.0, 2.0], "class indices")):
        with pytest.raises(EmosketchError, match=words):
            tr.translate(images, np.array(targets), np.arange(len(targets)))
    with pytest.raises(EmosketchError, match="t: one a picture"):
        tr.along_path(faces, [0, 0], [1, 1], [float("nan"), 0.5], [0, 1])
    assert tr.along_path(faces, [0, 0], [1, 2], [0.0, 0.5], [0, 1]).shape == (2, 64, 64)
    with pytest.raises(EmosketchError, match="batch must be"):
        GanTranslator(tmp_path / "g64.pt", "cpu", batch=0)
    # a file whose image_size is not the size its model draws is refused
    bad = dict(lifted, image_size=32)
    save_checkpoint(tmp_path / "bad.pt", bad)
    with pytest.raises(EmosketchError, match="not the size its model draws"):
        GanTranslator(tmp_path / "bad.pt", "cpu")
    residual = dict(state, config={"model": {**cfg.__dict__, "output": "residual"}})
    with pytest.raises(EmosketchError, match="only a warp generator"):
        lift(residual, 64)


def test_init_starts_g_f_and_e_from_a_generator_checkpoint(synthetic, tmp_path):
    """init: fine-tuning starts from a checkpoint's EMA G, F and E (D fresh); another model or other
    emotions are one line; training draws at the trained size only."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.checkpoint import save_checkpoint, slim
    from emosketch.gan.train import INFERENCE, Trainer

    ds = load(synthetic)
    src = Trainer(tiny_cfg(), ds, tmp_path / "a", torch.device("cpu"))
    src.train_step()
    save_checkpoint(tmp_path / "g.pt", slim(src.state_dict()))
    t = Trainer(tiny_cfg(init=str(tmp_path / "g.pt"), seed=5), ds, tmp_path / "b", torch.device("cpu"))
    for name in INFERENCE:
        ours, theirs = getattr(t.nets, name).state_dict(), src.ema[name].state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
        assert all(torch.equal(t.ema[name].state_dict()[k], theirs[k]) for k in theirs)
    fresh = Trainer(tiny_cfg(seed=5), ds, tmp_path / "c", torch.device("cpu"))
    a, b = fresh.nets.generator.state_dict(), t.nets.generator.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)  # without init: other weights
    t.train_step()  # and it trains on
    wider = ModelConfig(**{**TINY.__dict__, "dim_in": 16})
    with pytest.raises(EmosketchError, match="differs from this config's in dim_in"):
        Trainer(tiny_cfg(model=wider, init=str(tmp_path / "g.pt")), ds, tmp_path / "d", torch.device("cpu"))
    with pytest.raises(EmosketchError, match="train at model.image_size"):
        tiny_cfg(model=ModelConfig(**{**TINY.__dict__, "output": "warp", "draw_size": 64}))


def test_init_mask_shift_reopens_a_shut_paint_mask(synthetic, tmp_path):
    """init_mask_shift: the paint mask's logit bias of the init (G and its EMA) is raised by the shift, so a mask
    shut in the run before opens; all else is the init's. Without init or a warp head it is one line."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.checkpoint import save_checkpoint, slim
    from emosketch.gan.train import Trainer

    ds = load(synthetic)
    model = ModelConfig(**{**TINY.__dict__, "output": "warp"})
    src = Trainer(tiny_cfg(model=model), ds, tmp_path / "a", torch.device("cpu"))
    with torch.no_grad():
        src.ema["generator"].warp.paint[-1].bias[0] = -12.0  # a shut mask
    save_checkpoint(tmp_path / "g.pt", slim(src.state_dict()))

    def opened(shift):
        t = Trainer(tiny_cfg(model=model, init=str(tmp_path / "g.pt"), init_mask_shift=shift), ds,
                    tmp_path / f"b{shift}", torch.device("cpu"))
        x = torch.rand(2, 1, TINY.image_size, TINY.image_size) * 2 - 1
        s = t.nets.mapping(torch.randn(2, TINY.latent_dim), torch.tensor([0, 1]))
        with torch.no_grad():
            _, parts = t.ema["generator"](x, s, parts=True)
            _, parts_g = t.nets.generator(x, s, parts=True)
        biases = (t.nets.generator.warp.paint[-1].bias, t.ema["generator"].warp.paint[-1].bias)
        return parts["mask"].mean().item(), parts_g["mask"].mean().item(), [b.detach().clone() for b in biases]

    shut, shut_g, (b0, _) = opened(0.0)
    open_, open_g, (b5, e5) = opened(5.0)
    assert b5[0] == pytest.approx(b0[0].item() + 5.0) and e5[0] == pytest.approx(b0[0].item() + 5.0)
    assert b5[1] == b0[1]  # the ink channel is the init's
    assert open_ > 50 * shut and open_g > 50 * shut_g
    for bad in ({"init_mask_shift": 5.0}, {"init_mask_shift": 5.0, "init": "g.pt"},
                {"init_mask_shift": -1.0, "init": "g.pt", "model": model}):
        with pytest.raises(EmosketchError, match="init_mask_shift"):
            tiny_cfg(**bad)


def test_style_mask_starts_as_the_plain_head_and_shifts_the_mask_by_style_code():
    """model.style_mask: a zero-initialised linear map from the style code to the mask logit, so a new one draws
    exactly what the same weights draw without it, and a nonzero map opens the mask for one code and not another.
    On a residual generator, or as anything but a boolean, it is one line."""
    warp = ModelConfig(**{**TINY.__dict__, "output": "warp"})
    plain, gated = Networks(warp, 3).generator, Networks(ModelConfig(**{**warp.__dict__, "style_mask": True}), 3).generator
    gated.load_state_dict(plain.state_dict() | {f"warp.style_mask.{k}": v
                                                for k, v in gated.warp.style_mask.state_dict().items()})
    x = torch.rand(2, 1, TINY.image_size, TINY.image_size) * 2 - 1
    s = torch.randn(2, TINY.style_dim)
    with torch.no_grad():
        assert torch.equal(plain(x, s), gated(x, s))
        gated.warp.style_mask.weight.zero_()
        gated.warp.style_mask.weight[0, 0] = 6.0  # codes with a positive first entry open the mask
        s = torch.zeros(2, TINY.style_dim)
        s[0, 0], s[1, 0] = 1.0, -1.0
        _, parts = gated(x, s, parts=True)
        _, base = plain(x, s, parts=True)
    opened, shut = parts["mask"][0].mean().item(), parts["mask"][1].mean().item()
    assert opened > 20 * base["mask"][0].mean().item() and shut < base["mask"][1].mean().item()
    for bad in ({"style_mask": True}, {"style_mask": 1, "output": "warp"}):
        with pytest.raises(EmosketchError, match="style_mask"):
            ModelConfig(**{**TINY.__dict__, **bad})


def test_init_mask_open_opens_the_named_emotions_mask_alone(synthetic, tmp_path):
    """init_mask_open: an init without model.style_mask gains the map, fitted so that the named emotion's codes
    (latent and reference) shift the mask logit by its shift and the others' by about 0; the rest is the init's.
    Without init or style_mask, with a bad shift or an unknown emotion, it is one line."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.checkpoint import save_checkpoint, slim
    from emosketch.gan.train import INFERENCE, Trainer

    ds = load(synthetic)
    model = ModelConfig(**{**TINY.__dict__, "output": "warp"})
    src = Trainer(tiny_cfg(model=model), ds, tmp_path / "a", torch.device("cpu"))
    src.train_step()
    save_checkpoint(tmp_path / "g.pt", slim(src.state_dict()))
    gated = ModelConfig(**{**model.__dict__, "style_mask": True})
    name = ds.classes[1]
    t = Trainer(tiny_cfg(model=gated, init=str(tmp_path / "g.pt"), init_mask_open={name: 6.0}), ds,
                tmp_path / "b", torch.device("cpu"))
    for net in INFERENCE:  # every weight init had is init's
        theirs, ours = src.ema[net].state_dict(), t.ema[net].state_dict()
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for i in range(len(ds.classes)):
            s = t.ema["mapping"](torch.randn(32, TINY.latent_dim, generator=gen), torch.full((32,), i))
            shift = t.ema["generator"].warp.style_mask(s).squeeze(1)
            want = 6.0 if i == 1 else 0.0
            assert abs(shift.mean() - want) < 0.3 and (shift - want).abs().max() < 1.0, (ds.classes[i], shift)
        g_shift = t.nets.generator.warp.style_mask(s)
        assert torch.allclose(g_shift, t.ema["generator"].warp.style_mask(s))
    t.train_step()  # and it trains on
    for bad, match in (({"init_mask_open": {name: 6.0}}, "init_mask_open needs"),
                       ({"init_mask_open": {name: 6.0}, "init": "g.pt", "model": model}, "init_mask_open needs"),
                       ({"init_mask_open": {name: 30.0}, "init": "g.pt", "model": gated}, "from 0 to 20")):
        with pytest.raises(EmosketchError, match=match):
            tiny_cfg(**bad)
    with pytest.raises(EmosketchError, match="not among the dataset's emotions"):
        Trainer(tiny_cfg(model=gated, init=str(tmp_path / "g.pt"), init_mask_open={"nosuch": 6.0}), ds,
                tmp_path / "c", torch.device("cpu"))


def test_init_adds_an_emotion_whose_style_heads_start_from_a_named_one(synthetic, tmp_path):
    """init_new_from: a checkpoint that lacks one of the dataset's emotions starts it from another's
    style heads (F's and E's); the shared emotions keep theirs, by name; anything else is one line."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.checkpoint import save_checkpoint, slim
    from emosketch.gan.train import Trainer

    ds = load(synthetic)
    src = Trainer(tiny_cfg(), ds, tmp_path / "a", torch.device("cpu"))
    src.train_step()
    state = slim(src.state_dict())
    last = len(ds.classes) - 1  # the checkpoint lacks the dataset's last emotion
    state["ema"] = {k: v for k, v in state["ema"].items()
                    if not k.startswith((f"mapping.heads.{last}.", f"style_encoder.heads.{last}."))}
    state["classes"] = ds.classes[:last]
    save_checkpoint(tmp_path / "g6.pt", state)
    with pytest.raises(EmosketchError, match="init_new_from"):
        Trainer(tiny_cfg(init=str(tmp_path / "g6.pt")), ds, tmp_path / "b", torch.device("cpu"))
    with pytest.raises(EmosketchError, match="must be one of its emotions"):
        Trainer(tiny_cfg(init=str(tmp_path / "g6.pt"), init_new_from=ds.classes[last]), ds, tmp_path / "c",
                torch.device("cpu"))
    base = ds.classes.index("neutral")
    t = Trainer(tiny_cfg(init=str(tmp_path / "g6.pt"), init_new_from="neutral", seed=5), ds, tmp_path / "d",
                torch.device("cpu"))
    for net in ("mapping", "style_encoder"):
        ours, theirs = getattr(t.nets, net).heads, getattr(src.ema, net).heads
        for i in range(last):
            assert all(torch.equal(a, b) for a, b in zip(ours[i].parameters(), theirs[i].parameters()))
        assert all(torch.equal(a, b) for a, b in zip(ours[last].parameters(), theirs[base].parameters()))
        assert not all(torch.equal(a, b) for a, b in zip(ours[last].parameters(), theirs[last].parameters()))
    assert all(torch.equal(a, b) for a, b in zip(t.nets.generator.parameters(), src.ema.generator.parameters()))
    z = torch.randn(2, TINY.latent_dim)
    s_new = t.nets.mapping(z, torch.tensor([last, last]))
    assert torch.allclose(s_new, t.nets.mapping(z, torch.tensor([base, base])))  # it starts as neutral
    t.train_step()  # and trains on


def test_guide_classifier_pulls_g_and_stays_frozen(synthetic, trained, tmp_path):
    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Trainer

    clf, _ = trained
    with pytest.raises(EmosketchError, match="lambda_guide > 0 needs guide"):
        tiny_cfg(lambda_guide=1.0)
    model = ModelConfig(**{**TINY.__dict__, "output": "warp"})
    cfg = tiny_cfg(model=model, guide=str(clf), lambda_guide=1.0, lambda_mask=1.0, guidance="alternate")
    t = Trainer(cfg, load(synthetic), tmp_path, torch.device("cpu"))
    guide = t.guides[0][0]
    before = {k: v.clone() for k, v in guide.state_dict().items()}
    logs = {}
    for _ in range(2):
        logs |= t.train_step()
    assert {"G/guide", "G/mask", "G/shift", "G_ref/guide"} <= set(logs)
    assert all(torch.equal(before[k], v) for k, v in guide.state_dict().items())
    g0 = Trainer(cfg, load(synthetic), tmp_path, torch.device("cpu"))  # without the guide: other weights
    g0.guides = []
    g0.train_step()
    fresh = Trainer(cfg, load(synthetic), tmp_path, torch.device("cpu"))
    fresh.train_step()
    a, b = fresh.nets.generator.state_dict(), g0.nets.generator.state_dict()
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_extra_guides_share_the_guide_loss(synthetic, trained, tmp_path):
    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Trainer

    clf, _ = trained
    model = ModelConfig(**{**TINY.__dict__, "output": "warp"})
    one = tiny_cfg(model=model, guide=str(clf), lambda_guide=1.0, guidance="latent")
    two = tiny_cfg(model=model, guide=str(clf), extra_guides=[str(clf)], lambda_guide=1.0, guidance="latent")
    t1 = Trainer(one, load(synthetic), tmp_path, torch.device("cpu"))
    t2 = Trainer(two, load(synthetic), tmp_path, torch.device("cpu"))
    assert len(t1.guides) == 1 and len(t2.guides) == 2
    l1, l2 = t1.train_step(), t2.train_step()
    # the loss is the mean over the guides: the same guide twice pulls exactly as once
    assert l1["G/guide"] == pytest.approx(l2["G/guide"], rel=1e-6)
    a, b = t1.nets.generator.state_dict(), t2.nets.generator.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    with pytest.raises(EmosketchError, match="no such|not found|missing"):
        Trainer(tiny_cfg(model=model, guide=str(clf), extra_guides=[str(tmp_path / "nope.pt")], lambda_guide=1.0),
                load(synthetic), tmp_path, torch.device("cpu"))


def test_guide_weights_scale_the_guide_term_by_target_emotion(synthetic, trained, tmp_path):
    """guide_weights: the guide's cross-entropy of each image is multiplied by its target emotion's weight
    (1 where not named); unknown emotions and weights outside 0..10 are one line."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Trainer

    clf, _ = trained
    ds = load(synthetic)
    model = ModelConfig(**{**TINY.__dict__, "output": "warp"})

    def guide_log(weights):
        cfg = tiny_cfg(model=model, guide=str(clf), lambda_guide=1.0, guidance="latent", guide_weights=weights)
        return Trainer(cfg, ds, tmp_path, torch.device("cpu")).train_step()["G/guide"]

    plain = guide_log({})
    assert guide_log({c: 1.0 for c in ds.classes}) == pytest.approx(plain, rel=1e-6)
    assert guide_log({c: 2.5 for c in ds.classes}) == pytest.approx(2.5 * plain, rel=1e-6)
    assert guide_log({c: 0.0 for c in ds.classes}) == 0.0
    one = guide_log({ds.classes[0]: 3.0})  # only the first emotion's images weigh more
    assert plain <= one <= 3.0 * plain
    with pytest.raises(EmosketchError, match="not among the dataset's emotions"):
        Trainer(tiny_cfg(model=model, guide=str(clf), lambda_guide=1.0, guide_weights={"glee": 2.0}), ds,
                tmp_path, torch.device("cpu"))
    for bad in (-1.0, 11.0, float("nan"), True):
        with pytest.raises(EmosketchError, match="a weight from 0 to 10"):
            tiny_cfg(guide_weights={ds.classes[0]: bad})


def test_adv_weights_scale_g_adversarial_term_by_target_emotion(synthetic, tmp_path):
    """adv_weights: D's verdict on each drawing weighs by its target emotion (1 where not named)."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.losses import adv_loss
    from emosketch.gan.train import Trainer

    logits = torch.tensor([0.5, -1.0, 2.0])
    assert adv_loss(logits, True, torch.ones(3)) == pytest.approx(float(adv_loss(logits, True)))
    assert adv_loss(logits, True, torch.tensor([2.0, 0.0, 0.0])) == pytest.approx(
        2 * float(F.softplus(-logits[0])) / 3)
    ds = load(synthetic)

    def adv_log(weights):
        return Trainer(tiny_cfg(guidance="latent", adv_weights=weights), ds, tmp_path,
                       torch.device("cpu")).train_step()["G/adv"]

    plain = adv_log({})
    assert adv_log({c: 3.0 for c in ds.classes}) == pytest.approx(3.0 * plain, rel=1e-5)
    assert adv_log({c: 0.0 for c in ds.classes}) == 0.0
    with pytest.raises(EmosketchError, match="not among the dataset's emotions"):
        Trainer(tiny_cfg(adv_weights={"glee": 2.0}), ds, tmp_path, torch.device("cpu"))
    with pytest.raises(EmosketchError, match="a weight from 0 to 10"):
        tiny_cfg(adv_weights={ds.classes[0]: -1.0})


def test_mask_weights_scale_the_paint_mask_term_by_target_emotion(synthetic, tmp_path):
    """mask_weights: the warp head's mask term weighs each drawing by its target emotion (1 where not named)."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Trainer

    ds = load(synthetic)
    model = ModelConfig(**{**TINY.__dict__, "output": "warp"})

    def mask_log(weights, key="G/mask"):
        return Trainer(tiny_cfg(model=model, guidance="latent", lambda_mask=1.0, mask_weights=weights), ds,
                       tmp_path, torch.device("cpu")).train_step()[key]

    plain = mask_log({})
    assert plain > 0
    assert mask_log({c: 0.0 for c in ds.classes}, "G/mask_open") == pytest.approx(plain, rel=1e-5)  # unweighted
    assert mask_log({c: 3.0 for c in ds.classes}) == pytest.approx(3.0 * plain, rel=1e-5)
    assert mask_log({c: 0.0 for c in ds.classes}) == 0.0
    partial = mask_log({ds.classes[0]: 0.0})  # the same draws: only the drawings of the first emotion drop out
    assert 0.0 <= partial <= plain
    with pytest.raises(EmosketchError, match="not among the dataset's emotions"):
        Trainer(tiny_cfg(model=model, mask_weights={"glee": 2.0}), ds, tmp_path, torch.device("cpu"))
    with pytest.raises(EmosketchError, match="a weight from 0 to 10"):
        tiny_cfg(mask_weights={ds.classes[0]: 11.0})


def test_guide_upper_reads_the_brows_and_eyes_alone(synthetic, trained, tmp_path):
    """guide_upper: a second guide term, by target emotion (0 where not named), on the drawing with the rows below
    guide_upper_split turned to paper: the lower face gets no pull from it, the upper face does."""
    from emosketch.datasets.dataset import load
    from emosketch.gan.losses import guide_read, upper_face
    from emosketch.gan.train import Trainer

    clf, _ = trained
    ds = load(synthetic)
    model = ModelConfig(**{**TINY.__dict__, "output": "warp"})
    x = torch.rand(3, 1, 16, 16) * 2 - 1
    up = upper_face(x, 0.5)
    assert torch.equal(up[..., :8, :], x[..., :8, :]) and bool((up[..., 8:, :] == 1).all())
    t = Trainer(tiny_cfg(model=model, guide=str(clf), lambda_guide=1.0, guidance="latent",
                         guide_upper={ds.classes[0]: 2.0}), ds, tmp_path, torch.device("cpu"))
    assert t.guide_upper.tolist() == [2.0] + [0.0] * (len(ds.classes) - 1)
    size = t.guides[0][1]
    img = (torch.rand(4, 1, size, size) * 2 - 1).requires_grad_(True)
    y = torch.arange(4) % len(ds.classes)
    guide_read(t.guides, upper_face(img, 0.5), y, torch.ones(4)).backward()
    assert img.grad[..., size // 2:, :].abs().sum() == 0 and img.grad[..., :size // 2, :].abs().sum() > 0
    logs = t.train_step()
    assert logs["G/guide_upper"] >= 0 and "G/guide" in logs

    def upper_log(weights):
        cfg = tiny_cfg(model=model, guide=str(clf), lambda_guide=1.0, guidance="latent", guide_upper=weights)
        return Trainer(cfg, ds, tmp_path, torch.device("cpu")).train_step()["G/guide_upper"]

    assert upper_log({c: 0.0 for c in ds.classes}) == 0.0
    assert upper_log({c: 3.0 for c in ds.classes}) == pytest.approx(3.0 * upper_log({c: 1.0 for c in ds.classes}),
                                                                     rel=1e-5)
    assert "G/guide_upper" not in Trainer(tiny_cfg(model=model, guide=str(clf), lambda_guide=1.0, guidance="latent"),
                                          ds, tmp_path, torch.device("cpu")).train_step()
    with pytest.raises(EmosketchError, match="guide_upper needs guide"):
        tiny_cfg(guide_upper={ds.classes[0]: 1.0})
    with pytest.raises(EmosketchError, match="guide_upper_split"):
        tiny_cfg(guide=str(clf), lambda_guide=1.0, guide_upper={ds.classes[0]: 1.0}, guide_upper_split=0.9)
    with pytest.raises(EmosketchError, match="not among the dataset's emotions"):
        Trainer(tiny_cfg(model=model, guide=str(clf), lambda_guide=1.0, guide_upper={"glee": 1.0}), ds, tmp_path,
                torch.device("cpu"))
    with pytest.raises(EmosketchError, match="a weight from 0 to 10"):
        tiny_cfg(guide=str(clf), lambda_guide=1.0, guide_upper={ds.classes[0]: 11.0})


def test_guide_must_judge_the_same_classes_as_the_data(synthetic, trained, tmp_path):
    from emosketch.datasets.prepare import PrepareConfig, prepare

    clf, _ = trained
    other = tmp_path / "three"
    prepare("synthetic", other, PrepareConfig(size=32, count=60, classes=["happy", "sad", "anger"]),
            progress=False, log=lambda m: None)
    with pytest.raises(EmosketchError, match="guide .* classes"):
        train(tiny_cfg(guide=str(clf), lambda_guide=1.0, steps=1), other, tmp_path / "run", device="cpu",
              progress=False, log=lambda m: None)


def test_synthetic_pairs_give_g_the_exact_answer(synthetic, tmp_path):
    import numpy as np

    from emosketch.datasets.dataset import load
    from emosketch.datasets.synthetic import random_pairs
    from emosketch.gan.train import Trainer

    classes = ["neutral", "happy", "surprise"]
    src, ys, trg, yt = random_pairs(np.random.default_rng(0), classes, 6, 32)
    assert src.shape == trg.shape == (6, 32, 32) and set(ys) | set(yt) <= {0, 1, 2}
    same = ys == yt
    assert all(np.abs(src[i].astype(int) - trg[i]).mean() < 8 for i in np.flatnonzero(same & (ys == 0)))
    assert any(np.abs(src[i].astype(int) - trg[i]).mean() > 1 for i in np.flatnonzero(~same))
    t = Trainer(tiny_cfg(lambda_pair=1.0, guidance="latent"), load(synthetic), tmp_path, torch.device("cpu"))
    assert "G/pair" in t.train_step()


def test_bending_costs_stretch_not_motion(synthetic, tmp_path):
    from emosketch.datasets.dataset import load
    from emosketch.gan.losses import bending
    from emosketch.gan.train import Trainer

    moved = torch.full((2, 2, 16, 16), 3.0)  # every pixel 3 px right and down: the face moved whole
    assert float(bending(moved)) == 0.0
    stretch = torch.zeros(1, 2, 16, 16)
    stretch[:, 0] = torch.arange(16.0) * 0.5  # x displacement grows 0.5 px per px: strokes stretched 1.5x
    assert float(bending(stretch)) == pytest.approx(0.25)
    assert float(bending(2 * stretch)) == pytest.approx(1.0)
    model = ModelConfig(**{**TINY.__dict__, "output": "warp"})
    t = Trainer(tiny_cfg(model=model, lambda_bend=1.0), load(synthetic), tmp_path, torch.device("cpu"))
    logs = t.train_step()
    assert "G/bend" in logs and logs["G/bend"] >= 0
    assert "G/bend" not in Trainer(tiny_cfg(model=model), load(synthetic), tmp_path / "b",
                                   torch.device("cpu")).train_step()


def test_mean_change_reads_the_real_class_means_and_costs_only_a_wrong_mean_change(synthetic, tmp_path):
    from emosketch.datasets.dataset import load
    from emosketch.errors import EmosketchError
    from emosketch.gan.losses import mean_change_error
    from emosketch.gan.train import Trainer, class_means
    from emosketch.tensors import resize_batch

    ds = load(synthetic)
    means = class_means(ds, 16, 4, chunk=5)  # chunks smaller than the split: the sums must still add up
    assert means.shape == (len(ds.classes), 1, 4, 4)
    idx = ds.indices("train")
    for c in range(len(ds.classes)):
        rows = idx[ds.labels[idx] == c]
        want = resize_batch(ds.images[rows], 16).astype(np.float64).reshape(len(rows), 4, 4, 4, 4).mean((0, 2, 4))
        assert np.allclose(means[c, 0].numpy(), want / 127.5 - 1, atol=1e-4)

    def error(fake, source, y, y_trg, running=None, beta=0.0):
        running = torch.zeros_like(means) if running is None else running
        return float(mean_change_error(fake, source, y, y_trg, means, running, beta))

    source = torch.zeros(2, 1, 16, 16)
    y, y_trg = torch.tensor([0, 1]), torch.tensor([1, 1])
    right = source + torch.nn.functional.interpolate(means[y_trg] - means[y], size=16, mode="nearest")
    assert error(right, source, y, y_trg) == pytest.approx(0.0, abs=1e-6)
    # a face's own change is free where the faces' mean is right: two faces of one target, one too dark, one too light
    apart = right.clone()
    apart[0, ..., :4, :4] -= 0.5
    apart[1, ..., :4, :4] += 0.5
    assert error(apart, source, y, y_trg) == pytest.approx(0.0, abs=1e-6)
    # only the pooled ink counts: ink moved within a cell is free; the mean change wrong everywhere is not
    shuffled = right.clone()
    shuffled[..., :4, :4] = right[..., :4, :4].flip(-1)
    assert error(shuffled, source, y, y_trg) == pytest.approx(0.0, abs=1e-6)
    assert error(right + 0.5, source, y, y_trg) == pytest.approx(0.5)
    # the moving average: half the batch's residual, half what was held, and the held value is updated
    held = torch.zeros_like(means)
    held[1] = 0.25
    assert error(right + 0.5, source, y, y_trg, held, 0.5) == pytest.approx(0.375)
    assert torch.allclose(held[1], torch.full_like(held[1], 0.375)) and not held[1].requires_grad
    model = ModelConfig(**{**TINY.__dict__, "output": "warp"})
    t = Trainer(tiny_cfg(model=model, lambda_mean_change=2.0, mean_change_size=4), ds, tmp_path, torch.device("cpu"))
    logs = t.train_step()
    assert logs["G/mean_change"] > 0 and t.mean_residual.abs().sum() > 0
    assert torch.equal(t.state_dict()["mean_residual"], t.mean_residual)
    assert "G/mean_change" not in Trainer(tiny_cfg(model=model), ds, tmp_path / "b", torch.device("cpu")).train_step()
    for bad in ({"mean_change_size": 1}, {"mean_change_decay": 1.0}):
        with pytest.raises(EmosketchError, match="mean_change"):
            tiny_cfg(lambda_mean_change=1.0, **bad)


def test_pair_error_weighs_the_expressions_strokes_and_each_target(synthetic, tmp_path):
    from emosketch.errors import EmosketchError
    from emosketch.gan.losses import pair_error

    source = -torch.ones(1, 1, 16, 16)  # all ink: the identity
    target = source.clone()
    target[..., 10:12, 4:12] = 1.0  # the expression: a stroke became paper
    near = target.clone()
    near[..., 10, 4:12] = -1.0  # G missed half of the changed stroke
    far = target.clone()
    far[..., 0, 4:12] = 1.0  # the same error on the unchanged identity
    assert float(pair_error(near, target, source)) == pytest.approx(float(pair_error(far, target, source)))
    assert float(pair_error(near, target, source, 4.0)) == pytest.approx(5 * float(pair_error(far, target, source, 4.0)))
    two = torch.cat([near, far])
    assert float(pair_error(two, torch.cat([target] * 2), torch.cat([source] * 2), 0.0, torch.tensor([3.0, 0.0]))) \
        == pytest.approx(1.5 * float(pair_error(near, target, source)))
    with pytest.raises(EmosketchError, match="pair_weights.sad"):
        tiny_cfg(pair_weights={"sad": -1.0})
    with pytest.raises(EmosketchError, match="pair_change_weight"):
        tiny_cfg(pair_change_weight=1e9)
    from emosketch.datasets.dataset import load
    from emosketch.gan.train import Trainer

    with pytest.raises(EmosketchError, match="pair_weights: 'joy'"):
        Trainer(tiny_cfg(lambda_pair=1.0, pair_weights={"joy": 2.0}), load(synthetic), tmp_path,
                torch.device("cpu"))
    t = Trainer(tiny_cfg(lambda_pair=1.0, pair_change_weight=4.0, pair_weights={"happy": 2.0}, guidance="latent"),
                load(synthetic), tmp_path, torch.device("cpu"))
    assert "G/pair" in t.train_step()


def test_augmentation_and_diversity_settings_are_bounded_before_any_step():
    """ada translate 1e30 ran to NaN losses at step 1 and left a run that could not resume; cutout -5 and
    ds_decay_steps -3 (a diversity reward growing without end) were accepted."""
    for key, value in (("translate", 1e30), ("cutout", -5), ("scale_std", float("nan")), ("cutout", 50)):
        with pytest.raises(EmosketchError, match=f"ada.{key} "):
            AdaConfig(**{key: value})
    with pytest.raises(EmosketchError, match="ds_decay_steps -3: at least 1"):
        TrainConfig(ds_decay_steps=-3)
