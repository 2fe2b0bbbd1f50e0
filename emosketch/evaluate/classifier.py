"""An emotion classifier for sketches (or for the face crops behind them): a compact CNN trained from
scratch with balanced sampling, augmentation and early stopping. It tells the emotion of a drawing,
and is the judge of whether a generated face shows the emotion it was asked for.

    emosketch classifier train --data data/ferplus-128 --out clf.pt
    emosketch classify clf.pt photo.jpg sketch.png
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import __version__, checkpoints
from ..datasets.dataset import SketchDataset, check_trainable, load
from ..datasets.sampler import balanced_indices, class_weights
from ..emotion_cnn import (  # noqa: F401
    FORMAT_NAME,
    FORMAT_VERSION,
    ClassifierConfig,
    EmotionCNN,
    augment,
    build,
    load_checkpoint,
    load_classifier,
    predict,
)
from ..errors import EmosketchError
from ..progress import progress as progress_bar
from ..tensors import pick_device, resize_batch, to_tensor
from .metrics import classification_report

# ---- data ----------------------------------------------------------------------------------------

def l2_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy within an L2 ball of radius eps around each image
    of x (values stay in [-1, 1]); step size 2.5 eps / steps. Returns the perturbed batch, detached."""
    size = 2.5 * eps / steps
    delta = torch.zeros_like(x)
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
        grad = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
        delta = delta.detach() + size * grad
        delta = delta * (eps / delta.flatten(1).norm(dim=1).clamp_min(1e-12)).clamp(max=1.0).view(-1, 1, 1, 1)
        delta = (x + delta).clamp(-1, 1) - x
    return (x + delta).detach()


def dataset_images(ds: SketchDataset, which: str) -> np.ndarray:
    if which == "face":
        if ds.faces is None:
            raise EmosketchError(f"{ds.path}: has no faces.npy (prepare it with keep_faces: true) for --input face")
        return ds.faces
    return ds.images


def load_split(ds: SketchDataset, split: str, cfg: ClassifierConfig, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The split's images resized to cfg.image_size (read chunk by chunk from the memory map) and labels."""
    idx = ds.indices(split)
    source = dataset_images(ds, cfg.input)
    images = np.empty((len(idx), cfg.image_size, cfg.image_size), np.uint8)
    for s in range(0, len(idx), chunk):
        images[s:s + chunk] = resize_batch(source[idx[s:s + chunk]], cfg.image_size)
    return images, ds.labels[idx].astype(np.int64)


# ---- checkpoints ---------------------------------------------------------------------------------

SLIM_KEEP = ("emosketch", "config", "classes", "image_size", "input", "epoch", "model", "best_macro_f1",
             "history", "dataset")


def weights_fingerprint(path: str | Path) -> str:
    """A classifier file as one hash of its weights, so that two files of one network (a copy, a re-save, a slimmed
    one) hash alike; a file that is not a readable classifier hashes by its bytes."""
    import hashlib

    h = hashlib.sha256()
    try:
        model = torch.load(path, map_location="cpu", weights_only=True).get("model")
    except Exception:  # noqa: BLE001 -- not a checkpoint this can read: its bytes are all there is to compare
        model = None
    if not isinstance(model, dict) or not model:
        h.update(Path(path).read_bytes())
        return "bytes:" + h.hexdigest()
    for key in sorted(model):
        h.update(key.encode())
        h.update(model[key].detach().float().cpu().numpy().tobytes())
    return "weights:" + h.hexdigest()


def guide_among(config: dict, classifiers: dict[str, str | Path]) -> tuple[str, Path] | None:
    """(name, guide) for the first of `classifiers` (name -> file) that is one of the guides a generator's training
    `config` names (guide, extra_guides), compared by weights where the guide's file is on this machine; else None.
    A generator learns to satisfy its guides, so a guide (under any name) never judges it fairly."""
    guides = [Path(g) for g in [config.get("guide"), *(config.get("extra_guides") or [])]
              if isinstance(g, str) and g and Path(g).is_file()]
    if not guides:
        return None
    theirs = {g: weights_fingerprint(g) for g in guides}
    for name, path in classifiers.items():
        if not Path(path).is_file():
            continue
        mine = weights_fingerprint(path)
        found = next((g for g, fp in theirs.items() if fp == mine), None)
        if found is not None:
            return name, found
    return None


def slim_classifier(src: str | Path, dst: str | Path, note: str | None = None,
                    photo_margin: float | None = None) -> dict:
    """Write `src` reduced to what classifying needs (the best epoch's weights, config, classes and
    dataset settings; no optimiser, last weights or random states, so it cannot resume) to `dst`.
    `photo_margin` sets how a photo's face box is framed (datasets.face.FaceConfig.photo_margin)."""
    state = load_checkpoint(src)
    out = {k: state[k] for k in SLIM_KEEP if k in state} | {"slim": True}
    if note:
        out["note"] = note
    if photo_margin is not None:
        from ..datasets.photo import with_photo_margin

        out["dataset"] = with_photo_margin(out.get("dataset") or {}, photo_margin)
    checkpoints.save_checkpoint(dst, out, FORMAT_NAME, FORMAT_VERSION)
    return out


# ---- training ------------------------------------------------------------------------------------

def train_classifier(data: str | Path, out: str | Path, cfg: ClassifierConfig | None = None,
                     device: str = "auto", resume: bool = False, progress: bool = True,
                     log: Callable[[str], None] = print) -> dict:
    """Train on the dataset's train split, stop early on its val split, save the best epoch to `out`.

    The checkpoint is rewritten after every epoch; with resume=True training continues from it.
    Returns the checkpoint's summary (history, best validation report)."""
    cfg = cfg or ClassifierConfig()
    out = Path(out)
    dev = pick_device(device)
    ds = load(data)
    check_trainable(ds, data)
    classes = ds.classes
    train_x, train_y = load_split(ds, "train", cfg)
    val_x, val_y = load_split(ds, "val", cfg)
    if len(train_x) == 0:
        raise EmosketchError(f"{data}: the train split is empty")
    if len(val_x) == 0:
        log("note: the val split is empty; early stopping uses the train split")
        val_x, val_y = train_x, train_y

    torch.manual_seed(cfg.seed)
    model = build(cfg, len(classes)).to(dev)
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = cfg.samples_per_epoch or len(train_x)
    steps_per_epoch = max(1, per_epoch // cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    weights = None
    if cfg.balance == "loss":
        w = class_weights(train_y, len(classes))
        per_class = np.zeros(len(classes))
        per_class[train_y] = w * len(train_y) / len(classes)
        weights = torch.tensor(per_class, dtype=torch.float32, device=dev)
    generator = torch.Generator().manual_seed(cfg.seed)
    start_epoch, history, best_f1, best_state, stale = 0, [], -1.0, None, 0

    if resume and out.exists():
        state = load_checkpoint(out)
        if state["classes"] != classes:
            raise EmosketchError(f"{out}: its classes {state['classes']} differ from {data}'s {classes}")
        saved = state.get("config") or {}
        for key in ("width", "image_size", "input"):
            if key in saved and saved[key] != getattr(cfg, key):
                raise EmosketchError(f"{out}: it was trained with {key} {saved[key]!r}, not {getattr(cfg, key)!r}; "
                                     "resume it with its own config (or without --config)")
        model.load_state_dict(state["last_model"])
        optimiser.load_state_dict(state["optimizer"])
        generator.set_state(state["rng"]["augment"])
        torch.set_rng_state(state["rng"]["torch"])
        start_epoch, history, best_f1, stale = state["epoch"], state["history"], state["best_macro_f1"], state["stale"]
        best_state = state["model"]
        log(f"resuming {out} after epoch {start_epoch}")

    def lr_at(step: int) -> float:  # cosine from lr to lr/100 over every step of the run
        return cfg.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / max(1, total_steps)))))

    started = time.time()
    if start_epoch >= cfg.epochs:
        log(f"note: {out} has trained {start_epoch} epoch(s) already, as many as the {cfg.epochs} asked for or more: "
            "nothing to train")
    epoch = start_epoch - 1  # the last epoch trained: epoch + 1 of them, start_epoch when none is trained here
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        if cfg.balance == "sampler":
            order = balanced_indices(train_y, steps_per_epoch * cfg.batch_size, seed=cfg.seed * 1000 + epoch)
        else:
            order = np.random.default_rng(cfg.seed * 1000 + epoch).permutation(
                np.resize(np.arange(len(train_y)), steps_per_epoch * cfg.batch_size))
        losses = []
        bar = progress_bar(steps_per_epoch, f"epoch {epoch + 1}/{cfg.epochs}", "batch", enabled=progress,
                           leave=False)
        for step in range(steps_per_epoch):
            for group in optimiser.param_groups:
                group["lr"] = lr_at(epoch * steps_per_epoch + step)
            idx = order[step * cfg.batch_size:(step + 1) * cfg.batch_size]
            x = to_tensor(train_x[idx], dev)
            if cfg.augment:
                x = augment(x, cfg.input == "face", generator)
            y = torch.from_numpy(train_y[idx]).to(dev)
            if cfg.adversarial_eps > 0:
                x = l2_attack(model, x, y, cfg.adversarial_eps, cfg.adversarial_steps)
            loss = F.cross_entropy(model(x), y, weight=weights, label_smoothing=cfg.label_smoothing)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
        bar.close()
        report = classification_report(predict(model, val_x, cfg.image_size, device=dev), val_y, classes)
        improved = report["macro_f1"] > best_f1
        if improved:
            best_f1, best_state, stale = report["macro_f1"], copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_accuracy": report["accuracy"],
                        "val_macro_f1": report["macro_f1"], "seconds": round(time.time() - started, 1)})
        log(f"epoch {epoch + 1}: loss {np.mean(losses):.3f}, val accuracy {report['accuracy']:.3f}, "
            f"macro-F1 {report['macro_f1']:.3f}{' (best)' if improved else ''}")
        checkpoints.save_checkpoint(out, {
            "emosketch": __version__,
            "config": asdict(cfg), "classes": classes, "image_size": cfg.image_size, "input": cfg.input,
            "epoch": epoch + 1, "model": best_state, "last_model": model.state_dict(),
            "optimizer": optimiser.state_dict(), "best_macro_f1": best_f1, "stale": stale, "history": history,
            "rng": {"torch": torch.get_rng_state(), "augment": generator.get_state()},
            "dataset": {"path": str(ds.path), "size": int(ds.images.shape[1]), "sketch": ds.meta.get("sketch"),
                        "face_crop": ds.meta.get("face_crop"), "source": ds.meta.get("source")},
        }, FORMAT_NAME, FORMAT_VERSION)
        if stale >= cfg.patience:
            log(f"early stop: no better validation macro-F1 for {cfg.patience} epochs")
            break
        if cfg.max_minutes is not None and (time.time() - started) / 60 >= cfg.max_minutes:
            log(f"stopping: the {cfg.max_minutes}-minute budget is spent")
            break
    return {"epochs": epoch + 1, "best_val_macro_f1": best_f1, "history": history,
            "seconds": round(time.time() - started, 1)}
