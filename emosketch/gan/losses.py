"""The training losses as pure functions: each returns (loss, logs) and leaves the optimisers to the
loop (StarGAN v2's compute_d_loss / compute_g_loss do the same).

    made = draw(nets, batch, "latent", z)             # G's image of the target style, with its graph
    loss, logs, real = d_loss(nets, ctx, batch, "latent", z, made[1].detach())
    loss, logs = g_loss(nets, ctx, batch, "latent", z, z2, made)

`nets` has generator, mapping, style_encoder and discriminator (the networks or their DDP wrappers);
`ctx` is what the losses read besides them: the config (gan.train.TrainConfig), the adaptive
augmentation, the random generator, the guides, the synthetic pairs' generator and the step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..datasets.synthetic import random_pairs
from ..emotion_cnn import augment as jitter


@dataclass
class Batch:
    """One step's draws: sources and their emotions, two references of the target emotion, the target."""

    x: torch.Tensor  # [B, 1, S, S] sources
    y: torch.Tensor  # [B] their emotions
    ref: torch.Tensor  # [B, 1, S, S] a reference face of the target emotion
    ref2: torch.Tensor  # a second one (the diversity term)
    y_trg: torch.Tensor  # [B] target emotions


@dataclass
class LossContext:
    cfg: Any  # gan.train.TrainConfig
    ada: Any  # gan.augment.AdaptiveAugment
    gen: torch.Generator  # augmentation and jitter draws
    guides: list  # [(frozen sketch classifier, the side it reads)]
    pairs: np.random.Generator  # synthetic pairs
    classes: list[str]
    to_device: Callable[[np.ndarray], torch.Tensor]
    step: int
    guide_weight: torch.Tensor | None = None  # [classes] weights of the guide term by target emotion
    pair_weight: torch.Tensor | None = None  # [classes] weights of the synthetic-pair term by target emotion
    class_means: torch.Tensor | None = None  # [classes, 1, cells, cells] mean real train sketch per emotion (pooled)
    mean_residual: torch.Tensor | None = None  # [classes, 1, cells, cells] moving mean residual (mean_change_error)
    guide_upper: torch.Tensor | None = None  # [classes] weights of the upper-face guide term by target emotion
    adv_weight: torch.Tensor | None = None  # [classes] weights of G's adversarial term by target emotion
    mask_weight: torch.Tensor | None = None  # [classes] weights of the warp head's mask term by target emotion


def mean_change_error(fake: torch.Tensor, source: torch.Tensor, y: torch.Tensor, y_trg: torch.Tensor,
                      class_means: torch.Tensor, running: torch.Tensor, beta: float) -> torch.Tensor:
    """How far the mean change a generator makes for each target emotion is from the real one.

    Each drawing's change of its source, pooled to the cells of `class_means`, less how the mean real sketch of
    its target emotion differs from that of its source's emotion, is its residual. A single face's change is its
    own (its mouth is where it is), so only the mean residual per target emotion should be zero: `running`
    [classes, 1, cells, cells] holds its moving average (decay `beta`), updated in place with this batch, whose
    part carries the gradient. Returns the L1 of the moving averages of the targets in this batch."""
    cells = class_means.shape[-1]
    change = F.adaptive_avg_pool2d(fake.float(), cells) - F.adaptive_avg_pool2d(source.float(), cells)
    residual = change - (class_means[y_trg] - class_means[y])
    losses = []
    for c in torch.unique(y_trg).tolist():
        now = beta * running[c] + (1 - beta) * residual[y_trg == c].mean(0)
        running[c] = now.detach()
        losses.append(now.abs().mean())
    return torch.stack(losses).mean()


def upper_face(images: torch.Tensor, split: float) -> torch.Tensor:
    """`images` [N, 1, S, S] in [-1, 1] with the rows from `split` of the side down turned to paper (1): the
    brows and eyes alone, as benchmarks/guides.py --parts shows them to a reader."""
    row = round(split * images.shape[-2])
    keep = torch.ones_like(images[:1, :1, :, :1])
    keep[..., row:, :] = 0
    return images * keep + (1 - keep)


def guide_read(guides: list, seen: torch.Tensor, y_trg: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """The mean over `guides` [(classifier, side)] of their cross-entropy on `seen` [N, 1, S, S] (resized to each
    guide's side) against `y_trg`, each image's multiplied by `weight` [N] where given."""
    total = torch.zeros((), device=seen.device)
    for guide, size in guides:
        view = seen if seen.shape[-1] == size else F.interpolate(
            seen, size=size, mode="bilinear", align_corners=False, antialias=True)
        read = F.cross_entropy(guide(view).float(), y_trg, reduction="none")
        total = total + (read if weight is None else read * weight).mean()
    return total / len(guides)


def r1_penalty(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    grad = torch.autograd.grad(logits.sum(), x, create_graph=True)[0]
    return 0.5 * grad.pow(2).flatten(1).sum(1).mean()


def adv_loss(logits: torch.Tensor, real: bool, weight: torch.Tensor | None = None) -> torch.Tensor:
    """The non-saturating GAN loss of D's `logits` [N] for real (or fake) images, each weighed by `weight` [N]."""
    loss = F.softplus(-logits) if real else F.softplus(logits)
    return loss.mean() if weight is None else (loss * weight).mean()


def draw(nets, b: Batch, kind: str, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """G's redrawing of the sources with the target style of this kind (latent: F(z, y);
    reference: E(ref, y)): (style, image, the warp head's parts)."""
    s_trg = nets.mapping(z, b.y_trg) if kind == "latent" else nets.style_encoder(b.ref, b.y_trg)
    return (s_trg, *nets.generator(b.x, s_trg, parts=True))


def d_loss(nets, ctx: LossContext, b: Batch, kind: str, z: torch.Tensor,
           fake_img: torch.Tensor) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
    """D's loss on the real sources and on G's image `fake_img` (detached): (loss, logs, the real
    logits, which the adaptive augmentation observes)."""
    cfg = ctx.cfg
    x = b.x.clone().requires_grad_(True)
    logits, real_cls = nets.discriminator(ctx.ada(x, ctx.gen), None)  # every emotion's head
    own = F.one_hot(b.y, logits.shape[1]).bool()
    real = logits[own]
    loss_real = adv_loss(real, True)
    loss_r1 = r1_penalty(real.float(), x)
    loss_fake = adv_loss(nets.discriminator(ctx.ada(fake_img, ctx.gen), b.y_trg)[0], False)
    loss = loss_real + loss_fake + cfg.lambda_r1 * loss_r1
    logs = {}
    if cfg.lambda_mismatch > 0:
        # Matching-aware D (Reed et al. 2016): a real face judged by another emotion's head is a
        # fake, so each head learns its emotion from the first step, not only once G's fakes differ.
        # Every other head's logit comes from the real pass above: no extra D pass.
        loss_mismatch = adv_loss(logits[~own], False)
        loss = loss + cfg.lambda_mismatch * loss_mismatch
        logs["D/mismatch"] = loss_mismatch.item()
    if real_cls is not None:
        loss_cls = F.cross_entropy(real_cls.float(), b.y)
        loss = loss + cfg.lambda_cls * loss_cls
        logs["D/cls"] = loss_cls.item()
    return loss, logs | {"D/real": loss_real.item(), "D/fake": loss_fake.item(), "D/r1": loss_r1.item()}, real


def bending(shift: torch.Tensor) -> torch.Tensor:
    """How much a displacement field [B, 2, H, W] (in pixels) bends the sketch rather than moves it:
    the mean over pixels of the field's squared gradient (the sum of its four partial derivatives
    squared, in pixels per pixel). A field that moves a feature as a whole costs nothing; one that
    stretches or shears strokes, which thins and breaks them, costs by how much."""
    dx = shift[..., :, 1:] - shift[..., :, :-1]
    dy = shift[..., 1:, :] - shift[..., :-1, :]
    return shift.shape[1] * (dx.pow(2).mean() + dy.pow(2).mean())


def pair_error(drawn: torch.Tensor, target: torch.Tensor, source: torch.Tensor, change_weight: float = 0.0,
               weight: torch.Tensor | None = None) -> torch.Tensor:
    """The synthetic-pair term: the mean L1 from G's drawing to the exact answer. A pixel where the target
    differs from the source (by over 1/8 of the ink range; 2 px around it) counts 1 + change_weight, so the
    strokes the expression moves weigh more than the identity's; `weight` [N] scales each pair."""
    err = (drawn - target).abs()
    if change_weight > 0:
        changed = F.max_pool2d(((target - source).abs() > 0.25).float(), 5, stride=1, padding=2)
        err = err * (1 + change_weight * changed)
    per_pair = err.flatten(1).mean(1)
    return (per_pair if weight is None else per_pair * weight).mean()


def g_loss(nets, ctx: LossContext, b: Batch, kind: str, z: torch.Tensor, z2: torch.Tensor,
           made: tuple[torch.Tensor, torch.Tensor, dict]) -> tuple[torch.Tensor, dict[str, float]]:
    """G's loss for `made` = draw(nets, b, kind, z): adversarial, style reconstruction, diversity,
    cycle, and the optional classification, guide, mean-change, synthetic-pair, mask and flow terms."""
    cfg = ctx.cfg
    s_trg, fake_img, parts = made
    fake, fake_cls = nets.discriminator(ctx.ada(fake_img, ctx.gen), b.y_trg)
    loss_adv = adv_loss(fake, True, None if ctx.adv_weight is None else ctx.adv_weight[b.y_trg])
    loss_sty = (nets.style_encoder(fake_img, b.y_trg) - s_trg).abs().mean()
    ds_weight = cfg.ds_weight(ctx.step)
    loss_ds = torch.zeros((), device=fake_img.device)
    if ds_weight > 0:  # a second image for the diversity term (a whole G pass: skipped once it is off)
        with torch.no_grad():
            s_trg2 = nets.mapping(z2, b.y_trg) if kind == "latent" else nets.style_encoder(b.ref2, b.y_trg)
            fake2 = nets.generator(b.x, s_trg2)
        loss_ds = (fake_img - fake2).abs().mean()
    rec = nets.generator(fake_img, nets.style_encoder(b.x, b.y))
    loss_cyc = (rec - b.x).abs().mean()
    loss = cfg.lambda_adv * loss_adv + cfg.lambda_sty * loss_sty - ds_weight * loss_ds + cfg.lambda_cyc * loss_cyc
    tag = "G" if kind == "latent" else "G_ref"
    logs = {}
    if fake_cls is not None:
        loss_cls = F.cross_entropy(fake_cls.float(), b.y_trg)
        loss = loss + cfg.lambda_cls * loss_cls
        logs[f"{tag}/cls"] = loss_cls.item()
    if ctx.guides:
        # randomly jittered, so that G must change what a face shows rather than find pixels that
        # fool this one network at this one position
        loss_guide = guide_read(ctx.guides, jitter(fake_img.float(), False, ctx.gen), b.y_trg,
                                None if ctx.guide_weight is None else ctx.guide_weight[b.y_trg])
        loss = loss + cfg.lambda_guide * loss_guide
        logs[f"{tag}/guide"] = loss_guide.item()
        if ctx.guide_upper is not None:
            weight = ctx.guide_upper[b.y_trg]
            loss_upper = guide_read(ctx.guides, jitter(upper_face(fake_img.float(), cfg.guide_upper_split), False,
                                                       ctx.gen), b.y_trg, weight)
            loss = loss + cfg.lambda_guide * loss_upper
            logs[f"{tag}/guide_upper"] = loss_upper.item()
    if ctx.class_means is not None:
        loss_mean = mean_change_error(fake_img, b.x, b.y, b.y_trg, ctx.class_means, ctx.mean_residual,
                                      cfg.mean_change_decay)
        loss = loss + cfg.lambda_mean_change * loss_mean
        logs[f"{tag}/mean_change"] = loss_mean.item()
    if cfg.lambda_pair > 0 and kind == "latent":
        src, _, trg, y_trg = random_pairs(ctx.pairs, ctx.classes, cfg.batch_size, cfg.model.image_size)
        y_trg = torch.from_numpy(y_trg).to(fake_img.device)
        src = ctx.to_device(src)
        drawn = nets.generator(src, nets.mapping(z, y_trg))
        loss_pair = pair_error(drawn, ctx.to_device(trg), src, cfg.pair_change_weight,
                               None if ctx.pair_weight is None else ctx.pair_weight[y_trg])
        loss = loss + cfg.lambda_pair * loss_pair
        logs[f"{tag}/pair"] = loss_pair.item()
    if parts["mask"] is not None:
        per_image = parts["mask"].flatten(1).mean(1)
        loss_mask = (per_image if ctx.mask_weight is None else per_image * ctx.mask_weight[b.y_trg]).mean()
        shift = parts["flow"] * (cfg.model.image_size / 2)  # grid_sample units -> pixels
        loss_flow = shift.pow(2).mean()
        loss = loss + cfg.lambda_mask * loss_mask + cfg.lambda_flow * loss_flow
        logs[f"{tag}/mask"] = loss_mask.item()
        if ctx.mask_weight is not None:  # how far the mask opens, whatever its weight
            logs[f"{tag}/mask_open"] = per_image.mean().item()
        logs[f"{tag}/flow"] = loss_flow.item()
        if cfg.lambda_bend > 0:
            loss_bend = bending(shift)
            loss = loss + cfg.lambda_bend * loss_bend
            logs[f"{tag}/bend"] = loss_bend.item()
        logs[f"{tag}/shift"] = shift.detach().abs().mean().item()
    return loss, logs | {f"{tag}/adv": loss_adv.item(), f"{tag}/sty": loss_sty.item(), f"{tag}/ds": loss_ds.item(),
                         f"{tag}/cyc": loss_cyc.item()}
