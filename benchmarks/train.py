"""Training benchmark for the emotion generator.

    python benchmarks/train.py --out bench-out                      # all parts (about 40 minutes on 2 cores)
    python benchmarks/train.py --out bench-out --parts speed        # just the throughput table

1. speed: training images/s at 64 px on the CPU, emosketch's step (the train-tiny-cpu model, both
   guidance modes, and the step without two of its savings: G drawing its image twice, channels-first
   tensors; the three take their steps in turn) side by side with a plain StarGAN v1 training step
   written here (its ResNet generator, PatchGAN critic, WGAN-GP + domain classification + cycle
   losses) at the same batch size.
2. quality: train configs/train-tiny-cpu.yaml on synthetic faces (or reuse --run), then translate
   held-out identities to every other emotion: target-emotion accuracy judged by the synthetic
   sketch classifier (chance 1/8), and L1 / stroke IoU to the ground-truth render, beside the
   untouched input and the ground truth itself.
3. ferplus: a short run on the real FER+ sketches (64 px) and its sample grid.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from report import FERPLUS, existing, guarded, table, whole  # noqa: E402
from test_gan import reference_step  # noqa: E402  (the step before the first saving, kept as the tests' reference)

from emosketch.config import load_config  # noqa: E402
from emosketch.datasets.dataset import load  # noqa: E402
from emosketch.datasets.prepare import PrepareConfig, prepare  # noqa: E402
from emosketch.evaluate.classifier import ClassifierConfig, train_classifier  # noqa: E402
from emosketch.evaluate.generator import InputTranslator, OracleTranslator, evaluate_generator  # noqa: E402
from emosketch.gan.sample import GanTranslator  # noqa: E402
from emosketch.gan.train import TrainConfig, Trainer, train  # noqa: E402
from emosketch.tensors import to_tensor  # noqa: E402

TINY = ROOT / "configs" / "train-tiny-cpu.yaml"


# ---- a plain StarGAN v1 step, as the original trains it -----------------------------------------

class V1Res(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.m = nn.Sequential(nn.Conv2d(d, d, 3, 1, 1, bias=False), nn.InstanceNorm2d(d, affine=True), nn.ReLU(True),
                               nn.Conv2d(d, d, 3, 1, 1, bias=False), nn.InstanceNorm2d(d, affine=True))

    def forward(self, x):
        return x + self.m(x)


class V1Generator(nn.Module):
    def __init__(self, c_dim, conv_dim=64, repeat=6):
        super().__init__()
        layers = [nn.Conv2d(1 + c_dim, conv_dim, 7, 1, 3, bias=False), nn.InstanceNorm2d(conv_dim, affine=True), nn.ReLU(True)]
        d = conv_dim
        for _ in range(2):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1, bias=False), nn.InstanceNorm2d(d * 2, affine=True), nn.ReLU(True)]
            d *= 2
        layers += [V1Res(d) for _ in range(repeat)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(d, d // 2, 4, 2, 1, bias=False), nn.InstanceNorm2d(d // 2, affine=True), nn.ReLU(True)]
            d //= 2
        layers += [nn.Conv2d(d, 1, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x, c):
        c = c.view(c.size(0), c.size(1), 1, 1).repeat(1, 1, x.size(2), x.size(3))
        return self.main(torch.cat([x, c], dim=1))


class V1Critic(nn.Module):
    def __init__(self, size, c_dim, conv_dim=64, repeat=5):
        super().__init__()
        layers, d = [nn.Conv2d(1, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)], conv_dim
        for _ in range(1, repeat):
            layers += [nn.Conv2d(d, d * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            d *= 2
        self.main = nn.Sequential(*layers)
        k = size // 2 ** repeat
        self.src = nn.Conv2d(d, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(d, c_dim, k, bias=False)

    def forward(self, x):
        h = self.main(x)
        return self.src(h), self.cls(h).view(h.size(0), -1)


def v1_steps(size: int, batch: int, c_dim: int, steps: int) -> float:
    """images/s of StarGAN v1's training step (one D step with gradient penalty, one G step)."""
    g, d = V1Generator(c_dim), V1Critic(size, c_dim)
    og, od = torch.optim.Adam(g.parameters(), 1e-4, (0.5, 0.999)), torch.optim.Adam(d.parameters(), 1e-4, (0.5, 0.999))
    x = torch.rand(batch, 1, size, size) * 2 - 1
    y = torch.randint(0, c_dim, (batch,))
    done, start = 0, None
    for i in range(steps + 2):
        if i == 2:
            start = time.perf_counter()
        trg = torch.randint(0, c_dim, (batch,))
        c_org, c_trg = F.one_hot(y, c_dim).float(), F.one_hot(trg, c_dim).float()
        src, cls = d(x)
        fake = g(x, c_trg).detach()
        src_f, _ = d(fake)
        alpha = torch.rand(batch, 1, 1, 1)
        hat = (alpha * x + (1 - alpha) * fake).requires_grad_(True)
        grad = torch.autograd.grad(d(hat)[0].sum(), hat, create_graph=True)[0]
        gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
        loss_d = -src.mean() + src_f.mean() + F.cross_entropy(cls, y) + 10 * gp
        od.zero_grad()
        loss_d.backward()
        od.step()
        fake = g(x, c_trg)
        src_f, cls_f = d(fake)
        rec = g(fake, c_org)
        loss_g = -src_f.mean() + F.cross_entropy(cls_f, trg) + 10 * (x - rec).abs().mean()
        og.zero_grad()
        loss_g.backward()
        og.step()
        done += batch if i >= 2 else 0
    return done / (time.perf_counter() - start)


def interleaved(runs: dict[str, tuple[Path, TrainConfig, bool]], steps: int) -> dict[str, float]:
    """images/s of each (data, config, without the savings) trainer, their steps taken in turn so that a busy
    moment of the machine falls on all of them alike."""
    trainers, spent = {}, {}
    for name, (data, cfg, earlier) in runs.items():
        t = Trainer(cfg, load(data), Path("/nonexistent"), torch.device("cpu"))
        if earlier:  # without two savings: G draws the D step's image again; channels-first tensors
            t.nets.to(memory_format=torch.contiguous_format)
            t.ema.to(memory_format=torch.contiguous_format)
            t._to_device = to_tensor
        # without the first saving, G draws the D step's image again: the tests' reference loop
        trainers[name], spent[name] = (t, (lambda t=t: reference_step(t)) if earlier else t.train_step), 0.0
    for i in range(steps + 2):
        for name, (_, step) in trainers.items():
            start = time.perf_counter()
            step()
            spent[name] += (time.perf_counter() - start) if i >= 2 else 0.0
    return {name: steps * trainers[name][0].cfg.batch_size / spent[name] for name in trainers}


def synthetic(work: Path) -> Path:
    data = work / "synthetic-64"
    if not (data / "meta.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        prepare("synthetic", data, PrepareConfig(size=64, count=4000), progress=False, log=print)
    return data


def part_speed(work: Path, steps: int) -> list[dict]:
    data = synthetic(work)
    tiny = load_config(TrainConfig, TINY, {})
    runs = {f"emosketch tiny-cpu ({g})": (data, load_config(TrainConfig, TINY, {"guidance": g}), False)
            for g in ("alternate", "both")}
    runs["emosketch tiny-cpu (alternate), drawing G twice, channels-first"] = (data, tiny, True)
    rows = [{"step": name, "batch": tiny.batch_size, "images_per_s": ips} for name, ips in interleaved(runs, steps).items()]
    rows.append({"step": "StarGAN v1 (ResNet G, WGAN-GP)", "batch": tiny.batch_size,
                 "images_per_s": v1_steps(64, tiny.batch_size, 8, max(4, steps // 2))})
    return rows


def part_quality(work: Path, run: Path | None) -> list[dict]:
    data = synthetic(work)
    clf = work / "synthetic-classifier.pt"
    if not clf.exists():
        print("training the judge (synthetic sketch classifier) ...")
        train_classifier(data, clf, ClassifierConfig(image_size=64, width=16, epochs=8, samples_per_epoch=8000,
                                                     patience=4), device="cpu", progress=False, log=print)
    if run is None:
        run = work / "run-tiny"
        if not (run / "checkpoint.pt").exists():
            print("training configs/train-tiny-cpu.yaml ...")
            shutil.rmtree(run, ignore_errors=True)
            start = time.time()
            train(load_config(TrainConfig, TINY, {}), data, run, device="cpu", progress=False, log=print)
            print(f"  trained in {time.time() - start:.0f} s")
    rows = []
    ds = load(data)
    for name, tr in (("input untouched", InputTranslator(ds.classes)),
                     (f"emosketch ({run.name})", GanTranslator(run / "checkpoint.pt", "cpu", ink=False)),
                     ("ground truth", OracleTranslator(ds))):
        r = evaluate_generator(tr, data, clf, work / f"quality-{name.split()[0]}", name, faces=64, device="cpu",
                               force=True)
        rows.append({"generator": name, "target_accuracy": r["target_accuracy"], "gt_l1": r["ground_truth"]["l1"],
                     "gt_stroke_iou": r["ground_truth"]["stroke_iou"], "cycle_l1": r["cycle_l1"],
                     "diversity_l1": r["diversity"]})
    return rows


def part_ferplus(work: Path, steps: int) -> dict:
    if not (FERPLUS / "FER2013Train").is_dir():
        print(f"(real FER+ faces not found at {FERPLUS}: skipped)")
        return {}
    data = work / "ferplus-64"
    if not (data / "meta.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        prepare(f"ferplus:{FERPLUS}", data, PrepareConfig(size=64), workers=2, progress=False, log=print)
    run = work / "run-ferplus"
    shutil.rmtree(run, ignore_errors=True)
    cfg = load_config(TrainConfig, TINY, {"steps": steps, "sample_every": steps, "checkpoint_every": steps})
    start = time.time()
    result = train(cfg, data, run, device="cpu", progress=False, log=print)
    grid = sorted((run / "samples").glob("*.png"))[-1]
    return {"steps": result["step"], "seconds": time.time() - start, "images_per_s": result["images_per_s"],
            "ada_p": result["ada_p"], "grid": str(grid)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="bench-out")
    ap.add_argument("--parts", default="speed,quality,ferplus")
    ap.add_argument("--speed-steps", type=whole(1, 100_000), default=10)
    ap.add_argument("--run", type=existing, default=None, help="a finished train-tiny-cpu run to judge instead of training one")
    ap.add_argument("--ferplus-steps", type=whole(1, 1_000_000), default=600)
    args = ap.parse_args()
    if set(args.parts.split(",")) - {"speed", "quality", "ferplus"}:  # a misspelt part had run nothing, exit 0
        sys.exit(f"--parts {args.parts}: name some of speed, quality, ferplus")
    out = Path(args.out)
    work = out / "train"
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))  # as the others honour it
    parts = set(args.parts.split(","))
    result: dict = {"cores": os.cpu_count()}
    if "speed" in parts:
        result["speed"] = part_speed(work, args.speed_steps)
        print(f"\n1. Training images/s at 64 px on the CPU ({os.cpu_count()} cores)")
        print(table(result["speed"], ["step", "batch", "images_per_s"]))
    if "quality" in parts:
        result["quality"] = part_quality(work, args.run)
        print("\n2. Held-out synthetic identities to every other emotion (64 faces x 7; judge: synthetic classifier)")
        print(table(result["quality"], ["generator", "target_accuracy", "gt_l1", "gt_stroke_iou", "cycle_l1",
                                         "diversity_l1"]))
    if "ferplus" in parts:
        result["ferplus"] = part_ferplus(work, args.ferplus_steps)
        if result["ferplus"]:
            print("\n3. Short FER+ run (train-tiny-cpu model)")
            print(table([result["ferplus"]], ["steps", "seconds", "images_per_s", "ada_p", "grid"]))
    path = out / "train.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps(old | result, indent=1))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    guarded(main)
