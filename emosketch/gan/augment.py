"""Adaptive discriminator augmentation (Karras et al. 2020, "Training GANs with limited data").

Every image the discriminator sees, real or fake, is augmented; each op is applied to each image
with probability p. Every `interval` minibatches the overfitting heuristic r_t = E[sign(D(real))]
moves p by sign(r_t - target) * (batch * interval) / (speed_kimg * 1000), clamped to [0, 1]
(the original clamps only at 0). The ops are the grayscale-safe ones: flips, 90-degree rotations,
integer translation, isotropic scale, rotation, anisotropic stretch, brightness, contrast, cutout.
All are differentiable, so G learns through them. Areas moved in from outside are paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import EmosketchError


@dataclass(frozen=True)
class AdaConfig:
    enabled: bool = True
    target: float = 0.6  # r_t above this means D is overfitting: augment more
    interval: int = 4  # minibatches between updates of p
    speed_kimg: float = 500.0  # thousands of images for p to go from 0 to 1
    p_init: float = 0.0
    translate: float = 0.125  # largest integer translation, as a fraction of the size
    scale_std: float = 0.2  # log2 standard deviation of isotropic scaling
    rotate_max: float = 1.0  # largest rotation, as a fraction of a half turn (1 = full circle)
    stretch_std: float = 0.2  # log2 standard deviation of anisotropic stretch
    brightness_std: float = 0.2  # standard deviation of the brightness shift on [-1, 1]
    contrast_std: float = 0.5  # log2 standard deviation of the contrast factor
    cutout: float = 0.5  # side of the cut-out square, as a fraction of the size

    def __post_init__(self) -> None:
        # r_t is a mean of signs, in [0, 1]: a target outside (0, 1) would drive p to 0 or 1 whatever D does
        if not 0 < self.target < 1 or self.interval < 1 or not self.speed_kimg > 0 or not 0 <= self.p_init <= 1:
            raise EmosketchError("ada: target in (0, 1), interval >= 1, speed_kimg > 0 and p_init in [0, 1]")
        for key, top in (("translate", 0.5), ("scale_std", 1.0), ("rotate_max", 1.0), ("stretch_std", 1.0),
                         ("brightness_std", 1.0), ("contrast_std", 1.0), ("cutout", 1.0)):
            value = getattr(self, key)  # past these the augmented images are noise and the losses NaN at step 1
            if not 0 <= value <= top:
                raise EmosketchError(f"ada.{key} {value!r:.40}: from 0 to {top:g}")


class AdaptiveAugment:
    """Holds p and applies the pipeline; `observe(real_logits)` feeds the heuristic."""

    def __init__(self, cfg: AdaConfig, batch_size: int):
        self.cfg = cfg
        self.p = float(cfg.p_init)
        self.batch_size = batch_size
        self._signs: list[float] = []
        self.last_rt = 0.0

    def observe(self, real_logits: torch.Tensor) -> None:
        if not self.cfg.enabled:
            return
        self._signs.append(float(torch.sign(real_logits.detach()).mean()))
        if len(self._signs) >= self.cfg.interval:
            self.last_rt = sum(self._signs) / len(self._signs)
            step = self.batch_size * self.cfg.interval / (self.cfg.speed_kimg * 1000)
            self.p = min(1.0, max(0.0, self.p + math.copysign(step, self.last_rt - self.cfg.target)))
            self._signs = []

    def state(self) -> dict:
        return {"p": self.p, "signs": list(self._signs), "last_rt": self.last_rt}

    def load_state(self, state: dict) -> None:
        self.p, self._signs, self.last_rt = float(state["p"]), list(state["signs"]), float(state["last_rt"])

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if not self.cfg.enabled or self.p <= 0:
            return x
        return augment(x, self.p, self.cfg, generator)


def _chance(n: int, p: float, g: torch.Generator | None, device) -> torch.Tensor:
    return (torch.rand(n, generator=g) < p).to(device)


def augment(x: torch.Tensor, p: float, cfg: AdaConfig, g: torch.Generator | None = None) -> torch.Tensor:
    """Apply every op to each image with probability p. x: [B, 1, H, W] in [-1, 1], 1 = paper."""
    n, _, h, w = x.shape
    dev = x.device

    def rnd(*shape):
        return torch.randn(*shape, generator=g).to(dev)

    def uni(*shape):
        return torch.rand(*shape, generator=g).to(dev)

    eye = torch.eye(3, device=dev).repeat(n, 1, 1)
    m = eye.clone()

    def compose(mat: torch.Tensor, apply: torch.Tensor) -> None:
        nonlocal m
        m = torch.where(apply[:, None, None], m @ mat, m)

    # flips and 90-degree rotations
    flip = eye.clone()
    flip[:, 0, 0] = -1
    compose(flip, _chance(n, p, g, dev))
    k = torch.randint(0, 4, (n,), generator=g).to(dev).float() * (math.pi / 2)
    compose(_rotation(k), _chance(n, p, g, dev))
    # integer translation (in pixels, expressed in the [-1, 1] grid)
    t = (uni(n, 2) * 2 - 1) * cfg.translate
    t = torch.round(t * torch.tensor([w, h], device=dev)) / torch.tensor([w, h], device=dev) * 2
    tr = eye.clone()
    tr[:, 0, 2], tr[:, 1, 2] = t[:, 0], t[:, 1]
    compose(tr, _chance(n, p, g, dev))
    # isotropic scale, rotation, anisotropic stretch
    s = torch.exp2(rnd(n) * cfg.scale_std)
    compose(_scale(s, s), _chance(n, p, g, dev))
    compose(_rotation((uni(n) * 2 - 1) * math.pi * cfg.rotate_max), _chance(n, p, g, dev))
    a = torch.exp2(rnd(n) * cfg.stretch_std)
    compose(_scale(a, 1 / a), _chance(n, p, g, dev))
    if not torch.equal(m, eye):
        grid = F.affine_grid(m[:, :2, :], list(x.shape), align_corners=False)
        # Sample the ink (1 - paper) with zero padding, so whatever comes from outside is paper.
        ink = F.grid_sample((1 - x) / 2, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        x = 1 - 2 * ink
    # brightness and contrast (images drawn for neither are left bit for bit as they are)
    b_on, c_on = _chance(n, p, g, dev).view(n, 1, 1, 1), _chance(n, p, g, dev).view(n, 1, 1, 1)
    b = rnd(n, 1, 1, 1) * cfg.brightness_std * b_on
    c = torch.where(c_on, torch.exp2(rnd(n, 1, 1, 1) * cfg.contrast_std), torch.ones(n, 1, 1, 1, device=dev))
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = torch.where(b_on | c_on, (x - mean) * c + mean + b, x)
    # cutout: a square of paper
    cut = _chance(n, p, g, dev)
    if cut.any():
        cy, cx = uni(n), uni(n)
        yy = torch.linspace(0, 1, h, device=dev).view(1, h, 1)
        xx = torch.linspace(0, 1, w, device=dev).view(1, 1, w)
        half = cfg.cutout / 2
        box = ((yy - cy.view(n, 1, 1)).abs() < half) & ((xx - cx.view(n, 1, 1)).abs() < half) & cut.view(n, 1, 1)
        x = torch.where(box.unsqueeze(1), torch.ones_like(x), x)
    return x


def _rotation(theta: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    m = torch.eye(3, device=theta.device).repeat(len(theta), 1, 1)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = c, -s, s, c
    return m


def _scale(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    m = torch.eye(3, device=sx.device).repeat(len(sx), 1, 1)
    m[:, 0, 0], m[:, 1, 1] = 1 / sx, 1 / sy  # the grid maps output to input: shrink the grid to zoom in
    return m
