"""Training the emotion-conditioned generator (StarGAN v2 losses, adaptive discriminator augmentation).

One step: a discriminator step (non-saturating loss + R1 on augmented reals; optionally real faces
under every other emotion's head as fakes), then a generator step (adversarial + style reconstruction
- diversity + cycle), then the EMA update of G, F and E.
Latent-guided (s = F(z, y)) and reference-guided (s = E(x_ref, y)) styles are both trained.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from .. import __version__
from ..atomic import atomic_file, output_lock, remove_stale
from ..datasets.dataset import SketchDataset, check_trainable, load
from ..datasets.sampler import class_weights
from ..datasets.synthetic import EXPRESSIONS
from ..emotion_cnn import load_sketch_classifier
from ..errors import EmosketchError
from ..frames import write_image
from ..progress import progress as progress_bar
from ..tensors import pick_device, resize_batch, to_tensor, to_uint8
from ..text import labelled_columns
from .augment import AdaConfig, AdaptiveAugment
from .checkpoint import INFERENCE, load_checkpoint, save_checkpoint
from .losses import Batch, LossContext, d_loss, draw, g_loss
from .networks import ModelConfig, Networks

MAX_BATCH = 4096  # images a step; past this one step is tens of GB on any device


@dataclass(frozen=True)
class TrainConfig:
    model: ModelConfig = ModelConfig()
    ada: AdaConfig = AdaConfig()
    batch_size: int = 8
    steps: int = 20000  # total training steps
    lr: float = 1e-4  # Adam learning rate of G, E and D
    lr_mapping: float = 1e-6  # Adam learning rate of the mapping network F (StarGAN v2's f_lr)
    betas: list[float] = field(default_factory=lambda: [0.0, 0.99])
    weight_decay: float = 1e-4
    lr_decay_start: float = 0.5  # fraction of the steps after which the rates fall linearly ...
    lr_final: float = 0.1  # ... to this fraction of their start at the last step
    lambda_r1: float = 1.0  # R1 gradient penalty on real images
    lambda_adv: float = 1.0  # G's adversarial loss (D's real/fake verdict on its images)
    adv_weights: dict[str, float] = field(default_factory=dict)  # a weight per target emotion on G's adversarial
    # term (1 where not named): D's head for that emotion, trained on real sketches of it, judges the detail of G's
    # drawings of it at full size, where a fixed guide can be satisfied by coarse shape alone
    lambda_sty: float = 1.0  # style reconstruction
    lambda_ds: float = 1.0  # diversity-sensitive loss, decayed linearly to 0 over ds_decay_steps
    ds_decay_steps: int | None = None  # default: all the steps
    lambda_cyc: float = 1.0  # cycle consistency
    lambda_cls: float = 0.0  # emotion classification by D's head (needs model.classifier_head)
    lambda_mismatch: float = 0.0  # D also calls a real face fake under every other emotion's head (GAN-CLS)
    guide: str | None = None  # a frozen sketch classifier (emosketch classifier train, on real sketches
    # only) whose verdict on G's images, randomly shifted, flipped and scaled, pulls G to the target emotion
    lambda_guide: float = 0.0  # weight of that classification loss (needs guide)
    extra_guides: list[str] = field(default_factory=list)  # more frozen sketch classifiers (for example one
    # at 24 px, which reads only a face's coarse shape); the guide loss is the mean over all the guides
    guide_weights: dict[str, float] = field(default_factory=dict)  # a weight per target emotion on the guide
    # term (1 where not named), to push the emotions that read weakest harder: {neutral: 2.0, surprise: 2.0}
    guide_upper: dict[str, float] = field(default_factory=dict)  # a second guide term by target emotion (0 where
    # not named): each guide reads the drawing with the rows below guide_upper_split turned to paper, so the
    # brows and eyes alone must read the target, as real sketches of it do (real surprise's upper face alone
    # reads surprise to every reader; a drawing can satisfy the whole-face guides with its mouth alone)
    guide_upper_split: float = 0.52  # the row, as a fraction of the side, between the upper and the lower face
    lambda_mask: float = 0.0  # model.output warp: L1 on the paint mask, so strokes move rather than repaint
    mask_weights: dict[str, float] = field(default_factory=dict)  # a weight per target emotion on the mask term
    # (1 where not named): a lower weight lets G paint over more of the source where moving strokes cannot draw
    # the target (an angry face's furrows and cheek lines under surprise)
    lambda_pair: float = 0.0  # L1 to the exact answer on synthetic pairs (one procedural identity in a source
    # and a target emotion), drawn beside every latent-guided G step: a per-emotion signal that needs no judge
    pair_change_weight: float = 0.0  # each pixel where a pair's target differs from its source (the
    # expression's own strokes: mouth, brows, eyes; 2 px around them) counts 1 + this in the pair term, so the
    # identity's unchanged outline does not drown the expression
    pair_weights: dict[str, float] = field(default_factory=dict)  # a weight per target emotion on the pair
    # term (1 where not named), like guide_weights
    lambda_flow: float = 0.0  # model.output warp: the mean squared displacement, in pixels^2 (small moves
    # cost almost nothing, so G can leave the identity; large ones, which wreck a face, cost a lot)
    lambda_mean_change: float = 0.0  # how far the mean change G makes for each target emotion (its drawings' ink
    # less their sources', pooled to mean_change_size x mean_change_size cells) is from the real one (the mean real
    # train sketch of the target emotion less that of the source's): the coarse layout of ink each emotion adds or
    # takes away (an open mouth, eyes no darker than real faces of that emotion draw them), read from real
    # sketches, no classifier in the loop. A moving average over batches (decay mean_change_decay), per target
    mean_change_size: int = 16
    mean_change_decay: float = 0.8
    lambda_bend: float = 0.0  # model.output warp: the displacement field's mean squared gradient (pixels per pixel):
    # moving a feature whole is free, stretching or shearing its strokes (which thins and breaks them) costs
    draw_pairs: dict[str, float] = field(default_factory=dict)  # "source>target": how often G is given a face of
    # that emotion to draw in that one, against 1 for every other pair (sources and targets are otherwise drawn
    # balanced and apart, each pair 1/36 of six emotions' draws): {anger>surprise: 4.0} draws surprise from angry
    # faces four times as often, the pair the judges read worst
    source_jitter: float = 0.0  # each source face is shifted by up to this fraction of the side and scaled
    # by up to 1 +- it (paper beyond its edges): a field fixed per emotion then misses the features, so G
    # must read where they are (0: sources as prepared)
    ema_beta: float = 0.999  # EMA of G, F and E (used for sampling)
    init: str | None = None  # a generator checkpoint (a run's or a shipped slim one) whose EMA G, F and E
    # start this run, to fine-tune it with other losses; D and the optimizers start fresh
    init_mask_shift: float = 0.0  # with init and model.output warp: added to the paint mask's logit bias, so that a
    # mask that lambda_mask shut in the run before (sigmoid saturated: no gradient reaches it) opens enough to learn
    # again (+5 takes a mask of 5e-5 to about 0.7%, which changes no inked pixel)
    init_mask_open: dict[str, float] = field(default_factory=dict)  # with init and model.style_mask: a shift of the
    # paint mask's logit by target emotion ({surprise: 8.0}: surprise's mask opens as init_mask_shift would open
    # every emotion's, the others' stay as init left them). The style-code map is fitted to it by least squares
    # on init's style codes (its mapping network's and its style encoder's); an init without style_mask gains one
    init_new_from: str | None = None  # an emotion of init: the dataset may then have emotions init lacks,
    # whose style heads (F's and E's) start as copies of this one's (e.g. neutral, to teach contempt)
    guidance: str = "both"  # both: latent and reference styles every step; alternate: one per step;
    # latent: mapping-network styles only (what sampling, interpolation and packs use)
    seed: int = 0
    amp: str = "auto"  # auto: bf16 autocast on CUDA, none on CPU; off
    compile: bool = False  # torch.compile the networks
    log_every: int = 10  # steps between log lines (JSONL)
    sample_every: int = 500  # steps between sample grids
    checkpoint_every: int = 500  # steps between checkpoints
    tensorboard: bool = False  # also log to TensorBoard (needs the tensorboard package)

    def __post_init__(self) -> None:
        if self.guidance not in ("both", "alternate", "latent"):
            raise EmosketchError(f"guidance {self.guidance!r}: expected both, alternate or latent")
        if self.amp not in ("auto", "off"):
            raise EmosketchError(f"amp {self.amp!r}: expected auto or off")
        if not 2 <= self.batch_size <= MAX_BATCH:
            raise EmosketchError(f"batch_size {self.batch_size!r:.40}: from 2 to {MAX_BATCH}")
        if self.steps < 1:
            raise EmosketchError(f"steps {self.steps!r:.40}: at least 1")
        if self.ds_decay_steps is not None and self.ds_decay_steps < 1:  # below 0 the diversity reward grew
            raise EmosketchError(f"ds_decay_steps {self.ds_decay_steps!r:.40}: at least 1 (leave it out for all the steps)")
        if min(self.log_every, self.sample_every, self.checkpoint_every) < 1:  # each is a step count to divide by
            raise EmosketchError("log_every, sample_every and checkpoint_every must be >= 1")
        for key in ("lr", "lr_mapping"):  # `not a <= x` is True for NaN too
            if not 0 < getattr(self, key) <= 1:
                raise EmosketchError(f"{key} {getattr(self, key)!r}: a learning rate in (0, 1]")
        if not 0 <= self.source_jitter <= 0.3:
            raise EmosketchError(f"source_jitter {self.source_jitter!r}: a fraction of the side from 0 to 0.3")
        if not 0 <= self.weight_decay <= 1:
            raise EmosketchError(f"weight_decay {self.weight_decay!r:.40}: from 0 to 1")
        if not 0 <= self.ema_beta < 1:  # at 1 the averaged G never moves
            raise EmosketchError(f"ema_beta {self.ema_beta!r:.40}: from 0 to below 1")
        if isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise EmosketchError(f"seed {self.seed!r:.40}: a whole number from 0 to 2^32 - 1")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise EmosketchError(f"betas {self.betas!r:.60}: two numbers in [0, 1)")
        if not 0 <= self.lr_decay_start <= 1 or not 0 < self.lr_final <= 1:
            raise EmosketchError("lr_decay_start must be in [0, 1] and lr_final in (0, 1]")
        if self.init_mask_shift and (not self.init or self.model.output != "warp"
                                     or not 0 < self.init_mask_shift <= 20):
            raise EmosketchError(f"init_mask_shift {self.init_mask_shift!r:.40}: a shift from 0 to 20, with init and "
                                 "model.output: warp")
        if self.init_mask_open and (not self.init or not self.model.style_mask):
            raise EmosketchError("init_mask_open needs init and model.style_mask: true")
        for name, shift in self.init_mask_open.items():
            if isinstance(shift, bool) or not isinstance(shift, (int, float)) or not 0 <= shift <= 20:
                raise EmosketchError(f"init_mask_open.{name}: {shift!r:.40}: a shift from 0 to 20")
        for key in [k for k in type(self).__dataclass_fields__ if k.startswith("lambda_")]:
            value = getattr(self, key)  # a negative weight turns its loss into a reward for the opposite
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1e4:
                raise EmosketchError(f"{key} {value!r:.40}: a loss weight from 0 to 10000")
        if self.lambda_cls > 0 and not self.model.classifier_head:
            raise EmosketchError("lambda_cls > 0 needs model.classifier_head: true")
        for table in ("guide_weights", "guide_upper", "pair_weights", "adv_weights", "mask_weights", "draw_pairs"):
            for name, weight in getattr(self, table).items():
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 10:
                    raise EmosketchError(f"{table}.{name}: {weight!r:.40}: a weight from 0 to 10")
        for name in self.draw_pairs:
            if not isinstance(name, str) or name.count(">") != 1:
                raise EmosketchError(f"draw_pairs: {name!r:.40}: a source and a target emotion as source>target")
        if not 0 <= self.pair_change_weight <= 100:
            raise EmosketchError(f"pair_change_weight {self.pair_change_weight!r:.40}: a weight from 0 to 100")
        if self.lambda_mean_change < 0 or not 2 <= self.mean_change_size <= 64 or not 0 <= self.mean_change_decay < 1:
            raise EmosketchError("lambda_mean_change must be >= 0, mean_change_size from 2 to 64 cells and "
                                 "mean_change_decay in [0, 1)")
        if self.lambda_guide > 0 and not self.guide:
            raise EmosketchError("lambda_guide > 0 needs guide: a sketch classifier checkpoint")
        if self.guide_upper and not (self.guide and self.lambda_guide > 0):
            raise EmosketchError("guide_upper needs guide and lambda_guide > 0: the guides read the upper face")
        if not 0.2 <= self.guide_upper_split <= 0.8:
            raise EmosketchError(f"guide_upper_split {self.guide_upper_split!r:.40}: a fraction of the side "
                                 "from 0.2 to 0.8")
        if self.model.out_size != self.model.image_size:
            raise EmosketchError("model.draw_size is for drawing above the trained size (gan.checkpoint.lift); "
                                 "train at model.image_size")

    def lr_factor(self, step: int) -> float:
        """1 until lr_decay_start, then linear down to lr_final at the last step (step = steps - 1)."""
        start = self.lr_decay_start * (self.steps - 1)
        if self.steps <= 1 or step <= start:
            return 1.0
        frac = (step - start) / max(1e-9, (self.steps - 1) - start)
        return 1.0 - (1.0 - self.lr_final) * min(1.0, frac)

    def ds_weight(self, step: int) -> float:
        total = self.ds_decay_steps or self.steps
        return self.lambda_ds * max(0.0, 1.0 - step / total)


def class_means(ds: SketchDataset, size: int, cells: int, chunk: int = 512) -> torch.Tensor:
    """The mean real train sketch of each emotion at `size`, pooled to cells x cells, in the networks' [-1, 1]:
    [classes, 1, cells, cells]. Read `chunk` images at a time, so memory stays bounded."""
    idx = ds.indices("train")
    sums = torch.zeros(len(ds.classes), 1, cells, cells, dtype=torch.float64)
    counts = np.bincount(ds.labels[idx], minlength=len(ds.classes))
    if (counts == 0).any():
        missing = [c for c, n in zip(ds.classes, counts) if n == 0]
        raise EmosketchError(f"lambda_mean_change: no train sketch of {', '.join(missing)} in {ds.path}")
    for start in range(0, len(idx), chunk):
        rows = idx[start:start + chunk]
        x = to_tensor(resize_batch(ds.images[rows], size), torch.device("cpu"))
        pooled = torch.nn.functional.adaptive_avg_pool2d(x.float(), cells).double()
        sums.index_add_(0, torch.from_numpy(ds.labels[rows].astype(np.int64)), pooled)
    return (sums / torch.from_numpy(counts).double().view(-1, 1, 1, 1)).float()


def pair_draws(weights: dict[str, float], classes: list[str], share: np.ndarray) -> np.ndarray:
    """TrainConfig.draw_pairs -> the probability of each (source, target) pair of emotions, [C * C] row-major
    (source major): the balanced draws' own (each emotion's share of the draws, `share`, for source and target
    apart) times the named pairs' weights (1 for every other pair)."""
    w = np.ones((len(classes), len(classes)))
    for name, weight in weights.items():
        source, target = (part.strip() for part in name.split(">"))
        unknown = [e for e in (source, target) if e not in classes]
        if unknown:
            raise EmosketchError(f"draw_pairs.{name:.40}: {', '.join(map(repr, unknown))} not among the dataset's "
                                 f"emotions {classes}")
        w[classes.index(source), classes.index(target)] = float(weight)
    joint = np.outer(share, share) * w
    if joint.sum() <= 0:
        raise EmosketchError("draw_pairs: every pair the data can give is weighted 0")
    return (joint / joint.sum()).ravel()


class Batches:
    """Balanced draws of sources and references from the train split, from a seeded generator whose
    state is saved with the checkpoint."""

    def __init__(self, ds: SketchDataset, size: int, batch: int, seed: int, jitter: float = 0.0,
                 pairs: dict[str, float] | None = None):
        self.ds, self.size, self.batch, self.jitter = ds, size, batch, jitter
        self.idx = ds.indices("train")
        if len(self.idx) == 0:
            raise EmosketchError(f"{ds.path}: the train split is empty")
        self.labels = ds.labels[self.idx].astype(np.int64)
        w = class_weights(self.labels, len(ds.classes))
        self.p = w / w.sum()
        self.by_class = [np.flatnonzero(self.labels == c) for c in range(len(ds.classes))]
        self.rng = np.random.default_rng(seed)
        self.pairs = None  # [C * C] the (source, target) pairs' probabilities; None: drawn apart, as before
        if pairs:
            share = np.bincount(self.labels, weights=self.p, minlength=len(ds.classes))  # each emotion's share
            self.pairs = pair_draws(pairs, list(ds.classes), share)

    def _images(self, rows: np.ndarray) -> np.ndarray:
        return resize_batch(self.ds.images[self.idx[rows]], self.size)

    def draw(self) -> dict[str, np.ndarray]:
        if self.pairs is None:
            src = self.rng.choice(len(self.idx), self.batch, p=self.p)
            ref = self.rng.choice(len(self.idx), self.batch, p=self.p)
        else:  # a (source, target) pair of emotions first, then a face of each
            cells = self.rng.choice(len(self.pairs), self.batch, p=self.pairs)
            n = len(self.ds.classes)
            src = np.array([self.rng.choice(self.by_class[c]) for c in cells // n])
            ref = np.array([self.rng.choice(self.by_class[c]) for c in cells % n])
        y_trg = self.labels[ref]
        ref2 = np.array([self.rng.choice(self.by_class[c]) for c in y_trg])
        x = self._images(src)
        if self.jitter > 0:
            x = self._jittered(x)
        return {"x": x, "y": self.labels[src], "ref": self._images(ref),
                "ref2": self._images(ref2), "y_trg": y_trg}

    def _jittered(self, images: np.ndarray) -> np.ndarray:
        """Each image shifted by up to `jitter` of its side and scaled by 1 +- `jitter` about its centre,
        paper beyond its edges (the draws come from the saved generator, so a resumed run repeats them)."""
        n, side = len(images), images.shape[-1]
        scale = 1 + self.rng.uniform(-self.jitter, self.jitter, n)
        shift = self.rng.uniform(-self.jitter, self.jitter, (n, 2)) * side
        out = np.empty_like(images)
        c = (side - 1) / 2
        for i in range(n):
            m = np.array([[scale[i], 0, c - scale[i] * c + shift[i, 0]],
                          [0, scale[i], c - scale[i] * c + shift[i, 1]]], np.float32)
            out[i] = cv2.warpAffine(images[i], m, (side, side), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=255)
        return out

    def state(self) -> str:
        return json.dumps(self.rng.bit_generator.state)

    def load_state(self, state: str) -> None:
        self.rng.bit_generator.state = json.loads(state)


def _heads_by_emotion(weights: dict, source: list[int]) -> dict:
    """A state dict whose per-emotion heads ("heads.I.…") are renumbered: head i is the old head source[i]."""
    out = {k: v for k, v in weights.items() if not k.startswith("heads.")}
    for i, j in enumerate(source):
        prefix = f"heads.{j}."
        out |= {f"heads.{i}." + k[len(prefix):]: v.clone() for k, v in weights.items() if k.startswith(prefix)}
    return out


class Trainer:
    def __init__(self, cfg: TrainConfig, ds: SketchDataset, out: Path, device: torch.device, rank: int = 0,
                 log: Callable[[str], None] = print):
        self.cfg, self.ds, self.out, self.device, self.rank, self.log = cfg, ds, out, device, rank, log
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        self.classes = ds.classes
        # channels-last: the layout oneDNN's (and cuDNN's) convolutions and pooling want; on 2 CPU cores
        # it spares the layout copies around every convolution (benchmarks/train.py measures it)
        self.nets = Networks(cfg.model, len(self.classes)).to(device, memory_format=torch.channels_last)
        self.run = self.nets  # what the steps call: the networks, or their DDP wrappers
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            from types import SimpleNamespace

            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            self.run = SimpleNamespace(**{
                name: DDP(getattr(self.nets, name), device_ids=ids)
                for name in ("generator", "mapping", "style_encoder", "discriminator")})
        # the EMA of the style networks only (G, F, E: what sampling uses); D has none
        self.ema = torch.nn.ModuleDict({k: copy.deepcopy(getattr(self.nets, k)) for k in INFERENCE}).eval()
        for p in self.ema.parameters():
            p.requires_grad_(False)
        n = self.nets
        betas = tuple(cfg.betas)
        self.opt = {
            "generator": torch.optim.Adam(n.generator.parameters(), cfg.lr, betas, weight_decay=cfg.weight_decay),
            "mapping": torch.optim.Adam(n.mapping.parameters(), cfg.lr_mapping, betas, weight_decay=cfg.weight_decay),
            "style_encoder": torch.optim.Adam(n.style_encoder.parameters(), cfg.lr, betas, weight_decay=cfg.weight_decay),
            "discriminator": torch.optim.Adam(n.discriminator.parameters(), cfg.lr, betas, weight_decay=cfg.weight_decay),
        }
        self.base_lr = {k: o.param_groups[0]["lr"] for k, o in self.opt.items()}
        self.ada = AdaptiveAugment(cfg.ada, cfg.batch_size)
        self.batches = Batches(ds, cfg.model.image_size, cfg.batch_size, cfg.seed + 1000 * rank, cfg.source_jitter,
                               cfg.draw_pairs)
        self.gen = torch.Generator().manual_seed(cfg.seed + 1 + 1000 * rank)  # z codes and augmentation
        self.step = 0
        self.autocast = device.type == "cuda" and cfg.amp == "auto"
        if cfg.init:
            self._init_from(cfg.init)
        self.guides = ([self._load_guide(g) for g in [cfg.guide, *cfg.extra_guides]]
                       if cfg.guide and cfg.lambda_guide > 0 else [])
        self.guide_weight, self.pair_weight, self.adv_weight, self.mask_weight = (
            self._per_emotion(table, getattr(cfg, table), device) for table in ("guide_weights", "pair_weights",
                                                                                "adv_weights", "mask_weights"))
        self.guide_upper = self._per_emotion("guide_upper", cfg.guide_upper, device, unnamed=0.0)
        if cfg.lambda_pair > 0:
            missing = [c for c in self.classes if c not in EXPRESSIONS]
            if missing:
                raise EmosketchError(f"lambda_pair: synthetic faces have no {', '.join(missing)}")
        self.pairs = np.random.default_rng(cfg.seed + 2 + 1000 * rank)  # synthetic pairs
        self.class_means = (class_means(ds, cfg.model.image_size, cfg.mean_change_size).to(device)
                            if cfg.lambda_mean_change > 0 else None)
        self.mean_residual = torch.zeros_like(self.class_means) if self.class_means is not None else None

    def _per_emotion(self, table: str, weights: dict[str, float], device: torch.device,
                     unnamed: float = 1.0) -> torch.Tensor | None:
        """A config's weights by target emotion -> [classes] (`unnamed` where not named), or None where none are
        named."""
        unknown = [name for name in weights if name not in self.classes]
        if unknown:
            raise EmosketchError(f"{table}: {', '.join(map(repr, unknown))[:80]} not among the dataset's "
                                 f"emotions {self.classes}")
        return torch.tensor([float(weights.get(c, unnamed)) for c in self.classes], device=device) if weights else None

    def _init_from(self, path: str) -> None:
        """G, F and E (and their EMA) from a generator checkpoint's EMA weights: the same emotions and
        the same networks, or one line."""
        from .sample import load_generator

        loaded, state = load_generator(path, "cpu")
        theirs_classes, new_from = list(state["classes"]), self.cfg.init_new_from
        if new_from is None and theirs_classes != self.classes:
            raise EmosketchError(f"init {path}: its emotions {theirs_classes} are not the dataset's {self.classes}"
                                 " (init_new_from: one of its emotions starts the dataset's new ones)")
        if new_from is not None:
            missing = [c for c in theirs_classes if c not in self.classes]
            if new_from not in theirs_classes or missing:
                raise EmosketchError(f"init {path}: init_new_from {new_from!r:.40} must be one of its emotions "
                                     f"{theirs_classes}, and each of them one of the dataset's {self.classes}")
        from ..config import from_dict

        # their model as built (a key its config lacks at its default, as load_generator builds it)
        theirs = {k: v for k, v in asdict(from_dict(ModelConfig, state["config"]["model"], path)).items()
                  if k != "draw_size"}
        ours = {k: v for k, v in asdict(self.cfg.model).items() if k != "draw_size"}
        gains_mask = ours["style_mask"] and not theirs["style_mask"]  # a new style-mask map, zero: init's drawing
        if gains_mask:
            theirs["style_mask"] = True
        if theirs != ours:
            diff = sorted(k for k in ours if theirs.get(k) != ours[k])
            raise EmosketchError(f"init {path}: its model differs from this config's in {', '.join(diff)}")
        # the style heads (one per emotion, F's and E's) by emotion name: a new emotion's from init_new_from
        source = [theirs_classes.index(c if c in theirs_classes else new_from) for c in self.classes]
        with torch.no_grad():
            for name in INFERENCE:
                weights = _heads_by_emotion(getattr(loaded, name).state_dict(), source)
                if gains_mask and name == "generator":
                    weights |= {f"warp.style_mask.{k}": v.clone()
                                for k, v in self.nets.generator.warp.style_mask.state_dict().items()}
                getattr(self.nets, name).load_state_dict(weights)
                self.ema[name].load_state_dict(weights)
            if self.cfg.init_mask_shift:
                for net in (self.nets.generator, self.ema["generator"]):
                    net.warp.paint[-1].bias[0] += self.cfg.init_mask_shift
        if self.cfg.init_mask_open:
            self._open_masks(self.cfg.init_mask_open)

    def _open_masks(self, shifts: dict[str, float], codes_each: int = 256, faces_each: int = 64) -> None:
        """Fit the style-mask map (G's and its EMA's) so that each emotion's style codes shift the paint mask's
        logit by shifts[emotion] (0 where not named): least squares over init's codes, those of the mapping
        network (latent codes) and of the style encoder (train faces), so both kinds of guidance see the shift."""
        wanted = self._per_emotion("init_mask_open", shifts, torch.device("cpu"), unnamed=0.0)  # or one line
        rng = torch.Generator().manual_seed(self.cfg.seed + 7)
        pick = np.random.default_rng(self.cfg.seed + 7)
        codes = []
        with torch.no_grad():
            for i, rows in enumerate(self.batches.by_class):
                y = torch.full((codes_each,), i, dtype=torch.long)
                z = torch.randn(codes_each, self.cfg.model.latent_dim, generator=rng)
                s = [self.ema["mapping"](z.to(self.device), y.to(self.device))]
                rows = pick.choice(rows, min(faces_each, len(rows)), replace=False)
                if len(rows):
                    faces = self._to_device(self.batches._images(rows))
                    s.append(self.ema["style_encoder"](faces, torch.full((len(rows),), i, device=self.device)))
                codes.append(torch.cat(s).float().cpu())
            counts = [len(c) for c in codes]
            x1 = torch.cat([torch.cat(codes), torch.ones(sum(counts), 1)], 1)
            t = wanted.repeat_interleave(torch.tensor(counts))
            w = torch.linalg.solve(x1.T @ x1 + 1e-3 * torch.eye(x1.shape[1]), x1.T @ t)  # ridge least squares
            for net in (self.nets.generator, self.ema["generator"]):
                net.warp.style_mask.weight.copy_(w[:-1][None].to(self.device))
                net.warp.style_mask.bias.copy_(w[-1:].to(self.device))
        if self.rank == 0:
            for emotion, want, part in zip(self.classes, wanted, torch.split(x1 @ w, counts)):
                self.log(f"init_mask_open: {emotion} mask logit shift {part.mean():+.2f} (wanted {want:+.2f}; "
                         f"codes from {part.min():+.2f} to {part.max():+.2f})")

    def _load_guide(self, path: str) -> tuple[torch.nn.Module, int]:
        """A frozen guide classifier and the side it reads."""
        model, state = load_sketch_classifier(path, self.classes, self.device)
        for p in model.parameters():
            p.requires_grad_(False)
        return model.to(memory_format=torch.channels_last), int(state["image_size"])

    # ---- the training step -------------------------------------------------------------------

    def _to_device(self, images: np.ndarray) -> torch.Tensor:
        return to_tensor(images, self.device).contiguous(memory_format=torch.channels_last)

    def context(self) -> LossContext:
        return LossContext(self.cfg, self.ada, self.gen, self.guides, self.pairs, self.classes, self._to_device,
                           self.step, self.guide_weight, self.pair_weight, self.class_means, self.mean_residual,
                           self.guide_upper, self.adv_weight, self.mask_weight)

    def d_step(self, b: Batch, kind: str, z: torch.Tensor, fake_img: torch.Tensor) -> dict[str, float]:
        """D's update on real sources and G's image of this kind (detached)."""
        loss, logs, real = d_loss(self.run, self.context(), b, kind, z, fake_img)
        self.opt["discriminator"].zero_grad(set_to_none=True)
        loss.backward()
        self.opt["discriminator"].step()
        self.ada.observe(real)
        return logs

    def g_step(self, b: Batch, kind: str, z: torch.Tensor, z2: torch.Tensor,
               made: tuple[torch.Tensor, torch.Tensor, dict]) -> dict[str, float]:
        """The update of G (and, for latent styles, F and E) on `made` = draw(...) of this kind."""
        loss, logs = g_loss(self.run, self.context(), b, kind, z, z2, made)
        for k in ("generator", "mapping", "style_encoder"):
            self.opt[k].zero_grad(set_to_none=True)
        loss.backward()
        for k in (("generator", "mapping", "style_encoder") if kind == "latent" else ("generator",)):
            self.opt[k].step()
        return logs

    @torch.no_grad()
    def update_ema(self) -> None:
        beta = self.cfg.ema_beta
        for name in INFERENCE:
            for p_ema, p in zip(getattr(self.ema, name).parameters(), getattr(self.nets, name).parameters()):
                p_ema.lerp_(p, 1.0 - beta)
            for b_ema, b in zip(getattr(self.ema, name).buffers(), getattr(self.nets, name).buffers()):
                b_ema.copy_(b)

    def batch(self) -> Batch:
        raw = self.batches.draw()
        return Batch(x=self._to_device(raw["x"]), y=torch.from_numpy(raw["y"]).to(self.device),
                     ref=self._to_device(raw["ref"]), ref2=self._to_device(raw["ref2"]),
                     y_trg=torch.from_numpy(raw["y_trg"]).to(self.device))

    def kinds(self) -> tuple[str, ...]:
        """The guidance kinds of this step: latent (F(z, y)) and/or reference (E(x_ref, y)) styles."""
        return {"both": ("latent", "reference"), "latent": ("latent",),
                "alternate": (("latent", "reference")[self.step % 2],)}[self.cfg.guidance]

    def set_lr(self) -> None:
        for k, o in self.opt.items():
            for group in o.param_groups:
                group["lr"] = self.base_lr[k] * self.cfg.lr_factor(self.step)

    def train_step(self) -> dict[str, float]:
        """One D and one G step per guidance kind."""
        cfg = self.cfg
        self.set_lr()
        b = self.batch()
        z = torch.randn(cfg.batch_size, cfg.model.latent_dim, generator=self.gen).to(self.device)
        z2 = torch.randn(cfg.batch_size, cfg.model.latent_dim, generator=self.gen).to(self.device)
        kinds = self.kinds()
        logs: dict[str, float] = {}
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast):
            # G, F and E only change in the G steps, so the first G step's image is the one its D step
            # judges: drawn once with its graph, it serves both (one G pass less per step, same numbers;
            # tests/test_gan.py checks it against the reference loop that draws it twice).
            made = draw(self.run, b, kinds[0], z)
            for kind in kinds:
                if kind == kinds[0]:
                    fake_img = made[1].detach()
                else:
                    with torch.no_grad():
                        fake_img = draw(self.run, b, kind, z)[1]
                logs |= self.d_step(b, kind, z, fake_img)
            for i, kind in enumerate(kinds):
                logs |= self.g_step(b, kind, z, z2, made if i == 0 else draw(self.run, b, kind, z))
        self.update_ema()
        self.step += 1
        return logs | {"ada_p": self.ada.p, "ada_rt": self.ada.last_rt, "lr": self.opt["generator"].param_groups[0]["lr"]}

    # ---- checkpoints ---------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {
            "config": json.loads(json.dumps(asdict(self.cfg))), "classes": self.classes,
            "image_size": self.cfg.model.image_size, "step": self.step,
            "nets": self.nets.state_dict(), "ema": self.ema.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.opt.items()},
            "ada": self.ada.state(),
            "rng": {"torch": torch.get_rng_state(), "gen": self.gen.get_state(), "batches": self.batches.state(),
                    "pairs": json.dumps(self.pairs.bit_generator.state)},
            "dataset": self.state_dict_dataset(),
            "emosketch": __version__,
        } | ({"mean_residual": self.mean_residual.cpu()} if self.mean_residual is not None else {})

    def state_dict_dataset(self) -> dict:
        """What a checkpoint records of the data it was trained on."""
        return {"path": str(self.ds.path), "size": int(self.ds.images.shape[1]),
                "sketch": self.ds.meta.get("sketch"), "face_crop": self.ds.meta.get("face_crop"),
                "source": self.ds.meta.get("source")}

    def load_state_dict(self, state: dict) -> None:
        if state["classes"] != self.classes:
            raise EmosketchError(f"the checkpoint's classes {state['classes']} differ from the dataset's {self.classes}")
        self.nets.load_state_dict(state["nets"])
        # checkpoints before 2026-12-02 also hold an EMA of D, which is dropped
        self.ema.load_state_dict({k: v for k, v in state["ema"].items() if k.split(".", 1)[0] in INFERENCE})
        if "optimizers" in state:  # a compact checkpoint (gan.checkpoint.compact) has none: they start afresh
            for k, o in self.opt.items():
                o.load_state_dict(state["optimizers"][k])
        self.ada.load_state(state["ada"])
        torch.set_rng_state(state["rng"]["torch"])
        self.gen.set_state(state["rng"]["gen"])
        self.batches.load_state(state["rng"]["batches"])
        if "pairs" in state["rng"]:  # checkpoints before synthetic pairs have none
            self.pairs.bit_generator.state = json.loads(state["rng"]["pairs"])
        self.step = int(state["step"])
        if self.mean_residual is not None and "mean_residual" in state:
            self.mean_residual.copy_(state["mean_residual"])

    # ---- samples -------------------------------------------------------------------------------

    @torch.no_grad()
    def sample_grid(self, n_sources: int = 6) -> np.ndarray:
        """uint8 image: rows are validation (else train) sources, columns: the source, then each emotion."""
        pool = self.ds.indices("val")
        pool = pool if len(pool) else self.ds.indices("train")
        rows = pool[np.linspace(0, len(pool) - 1, min(n_sources, len(pool))).astype(int)]
        x = to_tensor(resize_batch(self.ds.images[rows], self.cfg.model.image_size), self.device)
        g = torch.Generator().manual_seed(1234)
        z = torch.randn(1, self.cfg.model.latent_dim, generator=g).to(self.device).expand(len(rows), -1)
        cols = [x]
        for c in range(len(self.classes)):
            y = torch.full((len(rows),), c, dtype=torch.long, device=self.device)
            cols.append(self.ema.generator(x, self.ema.mapping(z, y)))
        # one row per source: [source | emotion 0 | emotion 1 | ...], rows stacked downwards
        grid = torch.cat([torch.cat([col[i] for col in cols], dim=2) for i in range(len(rows))], dim=1)
        return to_uint8(grid[0])


class _Stop:
    """Turns SIGINT/SIGTERM into a flag the loop checks after each step, so a kill saves first."""

    def __init__(self):
        self.signal: int | None = None
        self.previous = {}

    def __enter__(self):
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, _frame):
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def train(cfg: TrainConfig, data: str | Path, out: str | Path, resume: bool = False, device: str = "auto",
          steps: int | None = None, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Train (or resume) a run in folder `out`: checkpoint.pt, log.jsonl, samples/, config.json.
    `steps` stops this call early at that step (the schedule still follows cfg.steps). The run folder
    is locked while it trains (by rank 0 under torchrun): a second run into it refuses."""
    out = Path(out)
    if steps is not None and (isinstance(steps, bool) or steps < 1):  # step 0 would leave a run with no checkpoint
        raise EmosketchError(f"steps {steps}: stop at step 1 or later")
    lock = output_lock(out) if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext()
    with lock:
        return _train(cfg, data, out, resume, device, steps, progress, log)


def _differing(a: dict, b: dict, prefix: str = "") -> list[str]:
    """The keys (dotted) whose values differ between two plain config dicts."""
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            out += _differing(x, y, f"{prefix}{key}.")
        elif x != y:
            out.append(f"{prefix}{key}")
    return out


def _other_data(old: dict | None, now: dict) -> list[str]:
    """What differs between the data a checkpoint was trained on and the data a resumed run reads: its
    source, its sketch settings, its size, its face crops (a moved dataset folder alone is the same data)."""
    if not old:  # checkpoints before the data was recorded
        return []
    named = {"source": "sources", "sketch": "sketch settings", "size": "sizes", "face_crop": "face crops"}
    return [name for key, name in named.items() if key in old and old[key] != now.get(key)]


def _train(cfg: TrainConfig, data: str | Path, out: Path, resume: bool, device: str, steps: int | None,
           progress: bool, log: Callable[[str], None]) -> dict:

    ckpt_path = out / "checkpoint.pt"
    if out.exists() and not out.is_dir():
        raise EmosketchError(f"{out}: is a file, not a run folder; choose another --out")
    rank, world, dev = _distributed(device)
    if rank == 0 and out.exists() and any(out.iterdir()) and not resume:
        if not ckpt_path.exists() and (out / "config.json").exists():
            raise EmosketchError(f"{out}: holds a run stopped before its first checkpoint, so there is nothing to "
                                 "resume; remove the folder to start again, or choose another --out")
        raise EmosketchError(f"{out}: already holds a run (pass --resume to continue it)")
    if rank == 0:  # what a killed save left behind (the run folder is locked, so no one is writing it)
        for name in ("checkpoint.pt", "checkpoint-nonfinite.pt"):
            remove_stale(out / name)
    ds = load(data)
    check_trainable(ds, data)
    state = None
    if resume:  # the checkpoint's config is the run's, so it is read before the size check
        if not ckpt_path.exists():
            raise EmosketchError(f"{ckpt_path}: nothing to resume (the run saved no checkpoint); remove {out} to "
                                 "start again, or choose another --out")
        state = load_checkpoint(ckpt_path)
        given = json.loads(json.dumps(asdict(cfg)))
        if state["config"] != given and given != json.loads(json.dumps(asdict(TrainConfig()))):
            differ = _differing(state["config"], given)
            log(f"note: the config differs from the checkpoint's ({', '.join(differ[:6])}"
                f"{', ...' if len(differ) > 6 else ''}); continuing with the checkpoint's (a run keeps its "
                "config; a fine-tune with other settings is a new run whose config names it as init:)")
        if state["config"] != given:
            from ..config import from_dict

            cfg = from_dict(TrainConfig, state["config"], f"{ckpt_path}:config")
    side = int(ds.images.shape[1]) if len(ds) else int(ds.meta.get("size") or 0)
    if side and cfg.model.image_size > side:  # before any network is built or anything written
        raise EmosketchError(f"model.image_size {cfg.model.image_size} is larger than the dataset's {side} px "
                             f"sketches ({data}); prepare it at --size {cfg.model.image_size} or train smaller")
    trainer = Trainer(cfg, ds, out, dev, rank, log)  # once, with the config the run goes on with
    if state is not None:
        trainer.load_state_dict(state)
        log(f"resuming {out} at step {trainer.step}")
        other = _other_data(state.get("dataset"), trainer.state_dict_dataset())
        if other:
            log(f"note: the run was trained on {state['dataset'].get('path')}; it goes on with {data}, whose "
                f"{' and '.join(other)} differ")
        if rank == 0:
            _truncate_log(out / "log.jsonl", trainer.step)
    lead = rank == 0  # only rank 0 writes logs, samples and checkpoints
    if world > 1 and lead:  # the only sign that torchrun's processes found each other
        log(f"distributed: {world} processes ({'nccl, one GPU each' if dev.type == 'cuda' else 'gloo, on CPUs'}); "
            f"batch_size {cfg.batch_size} is each process's, {cfg.batch_size * world} a step in all")
    if lead:
        (out / "samples").mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1) + "\n")
    writer = None
    if cfg.tensorboard and lead:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            log("note: tensorboard is not installed; logging to log.jsonl only")
    end = min(cfg.steps, steps) if steps is not None else cfg.steps
    if steps is not None and steps > cfg.steps:  # the schedule (learning-rate decay, ADA) ends at the config's steps
        log(f"note: --steps {steps} is past the run's last step, {cfg.steps} (its config's steps); it stops there")
    if trainer.step >= end:
        log(f"note: the run is at step {trainer.step} already, not before step {end}: nothing to train")
    logs: dict[str, float] = {}
    window: dict[str, tuple[float, int]] = {}  # per key: sum and count since the last log record
    started, images = time.time(), 0
    bar = progress_bar(end, "train", "step", initial=trainer.step, enabled=progress and lead)
    stopped = None
    with _Stop() as stop, open(out / "log.jsonl" if lead else os.devnull, "a") as jl:
        while trainer.step < end:
            logs = trainer.train_step()
            images += cfg.batch_size * world
            if not all(math.isfinite(v) for v in logs.values()):
                save_checkpoint(out / "checkpoint-nonfinite.pt", trainer.state_dict())
                raise EmosketchError(f"step {trainer.step}: a loss is not finite ({logs}); state saved to "
                                     f"{out / 'checkpoint-nonfinite.pt'}")
            rate = images / max(1e-9, time.time() - started)
            # Means over the interval: under guidance: alternate, latent- and reference-guided steps
            # log different keys, and the step that lands on log_every is always the same kind.
            for k, v in logs.items():
                total, n = window.get(k, (0.0, 0))
                window[k] = (total + v, n + 1)
            means = {k: total / n for k, (total, n) in window.items()}
            # a record at a stop too: each averages the steps since the one before, and a resumed run's log
            # misses none (the steps between the last record and a stop had never been logged). The stop is read
            # once a step, so a signal between the log and the checkpoint cannot save a step it did not log.
            stopping = stop.signal is not None
            if trainer.step % cfg.log_every == 0 or trainer.step == end or stopping:
                record = {"step": trainer.step, "images_per_s": round(rate, 2), **{k: round(v, 5) for k, v in means.items()}}
                jl.write(json.dumps(record) + "\n")
                jl.flush()
                if writer is not None:
                    for k, v in record.items():
                        writer.add_scalar(k, v, trainer.step)
                window.clear()
            bar.update(1)
            bar.set_postfix(D=f"{means.get('D/real', 0) + means.get('D/fake', 0):.2f}", G=f"{means.get('G/adv', 0):.2f}",
                            p=f"{trainer.ada.p:.2f}", ips=f"{rate:.1f}")
            if lead and (trainer.step % cfg.sample_every == 0 or trainer.step == end):
                write_image(out / "samples" / f"step{trainer.step:07d}.png",
                            labelled_columns(trainer.sample_grid(), cfg.model.image_size,
                                             ["source", *trainer.classes]))
            if lead and (trainer.step % cfg.checkpoint_every == 0 or trainer.step == end or stopping):
                save_checkpoint(ckpt_path, trainer.state_dict())
            if stopping:
                stopped = signal.Signals(stop.signal).name
                break
    bar.close()
    if writer is not None:
        writer.close()
    in_sync = None
    if world > 1:
        in_sync = _ranks_in_sync(trainer.nets)
        _leave_process_group(trainer)
        if not in_sync:
            raise EmosketchError("the ranks' weights drifted apart: gradients were not averaged")
    if stopped:
        log(f"{stopped}: saved step {trainer.step} to {ckpt_path}; run again with --resume to continue")
    return {"step": trainer.step, "stopped": stopped, "images_per_s": images / max(1e-9, time.time() - started),
            "last": logs, "ada_p": trainer.ada.p, "world_size": world, "ranks_in_sync": in_sync}


def _truncate_log(path: Path, step: int) -> None:
    """Drop the log.jsonl records after `step`: a run killed after its last checkpoint logged steps
    that the resumed run will log again."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if int(json.loads(line)["step"]) <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the kill
    with atomic_file(path) as tmp:
        tmp.write_text("".join(f"{line}\n" for line in kept))


def _leave_process_group(trainer: Trainer) -> None:
    """Drop the DDP wrappers, whose reducers hold the process group, wait for every rank, then leave it. A gloo
    group destroyed while a wrapper still held it aborted one rank at exit now and then ("terminate called
    without an active exception", exit -6) after a finished run."""
    import gc

    trainer.run = trainer.nets
    gc.collect()
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def _ranks_in_sync(nets: Networks) -> bool:
    """True when every rank holds rank 0's weights (DDP averaged the gradients of different batches)."""
    import torch.distributed as dist

    flat = torch.cat([p.detach().flatten().float() for p in nets.parameters()])
    reference = flat.clone()
    dist.broadcast(reference, 0)
    gap = (flat - reference).abs().max().reshape(1)
    dist.all_reduce(gap, op=dist.ReduceOp.MAX)
    return bool(gap.item() <= 1e-6)


def _distributed(device: str) -> tuple[int, int, torch.device]:
    """(rank, world size, device). Under torchrun (WORLD_SIZE > 1) this joins the process group:
    NCCL with one GPU per process when CUDA is there, else gloo on the CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, pick_device(device)
    import torch.distributed as dist

    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size(), torch.device(f"cuda:{local}") if use_cuda else torch.device("cpu")
