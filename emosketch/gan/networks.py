"""The StarGAN v2-style networks, for 1-channel sketches of any power-of-two size >= 32:
G(x, s) redraws sketch x with style s; F(z, y) maps a latent code to emotion y's style;
E(x, y) reads emotion y's style from a reference sketch; D(x, y) is a multi-task discriminator
(one real/fake output per emotion). Built from two small blocks, ResBlk and AdainResBlk."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import EmosketchError


def z_codes(seeds, dim: int) -> torch.Tensor:
    """One standard-normal latent per seed for F, the same on every machine and device: [len(seeds), dim]."""
    bad = [s for s in seeds if not 0 <= int(s) < 2**63]
    if bad:
        raise EmosketchError(f"seed {bad[0]}: a whole number from 0 to 2^63 - 1")
    return torch.stack([torch.randn(dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


@torch.no_grad()
def mean_styles(mapping, classes: int, device: torch.device | str = "cpu", samples: int = 1000,
                seed: int = 0) -> torch.Tensor:
    """Each emotion's mean style: F(z, e) averaged over `samples` latents of one seeded draw, [classes, D]."""
    z = torch.randn(samples, mapping.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    return torch.stack([mapping(z, torch.full((samples,), i, dtype=torch.long, device=z.device)).float().mean(0)
                        for i in range(classes)])


@dataclass(frozen=True)
class ModelConfig:
    image_size: int = 64  # side of the square sketches, a power of two >= 32
    dim_in: int = 32  # channels after the first convolution; doubles per downsampling
    max_dim: int = 256  # cap on the channels of any block
    style_dim: int = 32  # size of a style code s
    latent_dim: int = 16  # size of a latent code z
    mapping_hidden: int = 256  # width of the mapping network's shared layers
    bottleneck_blocks: int = 2  # residual blocks at the lowest resolution, in encoder and decoder
    classifier_head: bool = False  # D also names the emotion (StarGAN v1's domain classification)
    output: str = "residual"  # residual: G adds a residual to its input; warp: G moves the input's
    # strokes along a smooth displacement field and paints new ones through a mask (WarpHead)
    warp_grid: int = 8  # warp: the displacement field's control grid (grid x grid), upsampled bilinearly
    max_shift: float = 0.15  # warp: the largest displacement, as a fraction of the image side
    draw_size: int | None = None  # warp: the side G draws at (None: image_size). The networks read the
    # sketch shrunk to image_size; the warp head moves the full-size sketch's own strokes and paints at
    # full size, so a 64 px network redraws a 128 px sketch without enlarging its strokes
    style_mask: bool = False  # warp: the paint mask's logit also takes a linear map of the style code, so the mask
    # can open for one emotion alone (each emotion's codes get their own shift; a blend of codes, a blend of shifts)

    def __post_init__(self) -> None:
        n = self.image_size
        if self.style_mask is not False and (self.style_mask is not True or self.output != "warp"):
            raise EmosketchError(f"model.style_mask {self.style_mask!r:.40}: true or false; true needs model.output: "
                                 "warp")
        if n < 32 or n > 1024 or n & (n - 1):
            raise EmosketchError(f"model.image_size {n}: must be a power of two from 32 to 1024")
        # Bounds before anything is built: a hostile checkpoint config must not allocate gigabytes.
        sizes = {"dim_in": (self.dim_in, 512), "max_dim": (self.max_dim, 1024), "style_dim": (self.style_dim, 1024),
                 "latent_dim": (self.latent_dim, 1024), "mapping_hidden": (self.mapping_hidden, 2048),
                 "bottleneck_blocks": (self.bottleneck_blocks, 16)}
        for key, (value, most) in sizes.items():
            if not isinstance(value, int) or not 1 <= value <= most:
                raise EmosketchError(f"model.{key} {value!r}: must be an integer from 1 to {most}")
        if self.output not in ("residual", "warp"):
            raise EmosketchError(f"model.output {self.output!r}: expected residual or warp")
        if not 2 <= self.warp_grid <= n or not 0 < self.max_shift <= 1:
            raise EmosketchError("model.warp_grid must be in [2, image_size] and model.max_shift in (0, 1]")
        d = self.draw_size
        if d is not None:
            if not isinstance(d, int) or d < n or d > 1024 or d & (d - 1):
                raise EmosketchError(f"model.draw_size {d!r}: must be a power of two from image_size ({n}) to 1024")
            if self.output != "warp" and d != n:
                raise EmosketchError("model.draw_size above image_size needs model.output: warp (a residual "
                                     "is drawn at the networks' own size)")

    @property
    def out_size(self) -> int:
        """The side of the sketches G takes and draws: draw_size, or image_size without one."""
        return self.draw_size or self.image_size

    @property
    def downsamples(self) -> int:
        """Down to a 8x8 bottleneck at 64 px and above, 16x16 at 32 px... i.e. log2(size) - 3, at least 2."""
        return max(2, int(math.log2(self.image_size)) - 3)


class InstanceNorm(nn.InstanceNorm2d):
    """nn.InstanceNorm2d (the same parameters and state dict) that keeps a channels-last input
    channels-last: PyTorch's own returns channels-first, and every channels-last convolution around
    it then pays a layout copy (a third of an upsampling block's time on 2 CPU cores). Channels-first
    inputs (sampling, rendering) take PyTorch's own, which is faster for them."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_contiguous(memory_format=torch.channels_last):
            return super().forward(x)
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, unbiased=False)
        y = (x - mean) * torch.rsqrt(var + self.eps)
        return y * self.weight[:, None, None] + self.bias[:, None, None] if self.affine else y


class ResBlk(nn.Module):
    """Pre-activation residual block with instance norm, optionally halving the resolution."""

    def __init__(self, dim_in: int, dim_out: int, normalize: bool = False, downsample: bool = False):
        super().__init__()
        self.normalize, self.downsample = normalize, downsample
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = InstanceNorm(dim_in, affine=True)
            self.norm2 = InstanceNorm(dim_in, affine=True)
        self.shortcut = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # pool, then the 1x1 shortcut: both are linear per pixel, so the order does not change the
        # result, and the convolution runs on a quarter of the pixels
        s = F.avg_pool2d(x, 2) if self.downsample else x
        s = self.shortcut(s) if self.shortcut is not None else s
        r = self.norm1(x) if self.normalize else x
        r = self.conv1(F.leaky_relu(r, 0.2))
        if self.downsample:
            r = F.avg_pool2d(r, 2)
        r = self.norm2(r) if self.normalize else r
        r = self.conv2(F.leaky_relu(r, 0.2))
        return (s + r) / math.sqrt(2)


class AdaIN(nn.Module):
    """Instance norm whose scale and shift come from the style code."""

    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.norm = InstanceNorm(channels, affine=False)
        self.fc = nn.Linear(style_dim, channels * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """Residual block modulated by a style code, optionally doubling the resolution."""

    def __init__(self, dim_in: int, dim_out: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.upsample = upsample
        self.norm1, self.norm2 = AdaIN(style_dim, dim_in), AdaIN(style_dim, dim_out)
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False) if dim_in != dim_out else None

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        sc = self.shortcut(x) if self.shortcut is not None else x  # 1x1 before upsampling: same result, 1/4 the work
        sc = F.interpolate(sc, scale_factor=2, mode="nearest") if self.upsample else sc
        r = F.leaky_relu(self.norm1(x, s), 0.2)
        if self.upsample:
            r = F.interpolate(r, scale_factor=2, mode="nearest")
        r = self.conv1(r)
        r = self.conv2(F.leaky_relu(self.norm2(r, s), 0.2))
        return (sc + r) / math.sqrt(2)


def _widths(cfg: ModelConfig) -> list[int]:
    dims, d = [], cfg.dim_in
    for _ in range(cfg.downsamples):
        d_out = min(d * 2, cfg.max_dim)
        dims.append((d, d_out))
        d = d_out
    return dims


class WarpHead(nn.Module):
    """The edit as geometry plus paint: a displacement field on a coarse control grid (smooth by
    construction: bilinear between grid x grid points) moves the input's strokes, and a mask paints
    new ink or paper where strokes must appear or go (an open mouth, a wrinkle). Expression on a face
    sketch is mostly geometry, which a residual has to redraw pixel by pixel.

    The field is the sum of two parts: one read from the style code alone (a linear map to the control
    grid: what an emotion does to any face, the part every face shares) and one read from the decoder's
    features (how this face's features sit). Without the first, G must learn an emotion's common motion
    through every face's features, and its first moves are the same for every emotion.

    At the start the field is zero and the mask nearly closed, so G begins as the identity."""

    def __init__(self, dim: int, grid: int, max_shift: float, style_dim: int, style_mask: bool = False):
        super().__init__()
        self.grid, self.max_shift = grid, max_shift
        self.flow = nn.Sequential(InstanceNorm(dim, affine=True), nn.LeakyReLU(0.2), nn.Conv2d(dim, 2, 3, 1, 1))
        self.style_flow = nn.Linear(style_dim, 2 * grid * grid)
        nn.init.zeros_(self.style_flow.weight)
        nn.init.zeros_(self.style_flow.bias)
        self.paint = nn.Sequential(InstanceNorm(dim, affine=True), nn.LeakyReLU(0.2), nn.Conv2d(dim, 2, 1, 1, 0))
        nn.init.zeros_(self.flow[-1].weight)
        nn.init.zeros_(self.flow[-1].bias)
        nn.init.zeros_(self.paint[-1].weight)
        with torch.no_grad():
            self.paint[-1].bias.copy_(torch.tensor([-5.0, 0.0]))  # mask logit (sigmoid(-5) = 0.7%), ink
        self.style_mask = None  # a shift of the mask logit read from the style code alone (zero at the start)
        if style_mask:
            self.style_mask = nn.Linear(style_dim, 1)
            nn.init.zeros_(self.style_mask.weight)
            nn.init.zeros_(self.style_mask.bias)

    def forward(self, x: torch.Tensor, h: torch.Tensor, s: torch.Tensor,
                flow_offset: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(image, displacement [B, 2, H, W] in grid_sample's [-1, 1] units, mask [B, 1, H, W]).
        `flow_offset` ([1 or B, 2, H, W]) is taken from the field before it moves the strokes (the
        field returned is the one applied): e.g. the field of the neutral style on the same face, so
        that every emotion moves the face relative to its own neutral drawing."""
        size = x.shape[-2:]
        coarse = F.adaptive_avg_pool2d(self.flow(h).float(), self.grid)
        coarse = coarse + self.style_flow(s.float()).view(-1, 2, self.grid, self.grid)
        flow = 2 * self.max_shift * torch.tanh(F.interpolate(coarse, size=size, mode="bilinear", align_corners=False))
        if flow_offset is not None:
            flow = flow - flow_offset.to(flow.dtype)
        base = F.affine_grid(torch.eye(2, 3, device=x.device).expand(len(x), 2, 3), [len(x), 1, *size],
                             align_corners=False)
        warped = F.grid_sample(x.float(), base + flow.permute(0, 2, 3, 1), mode="bilinear",
                               padding_mode="border", align_corners=False)
        mask_logit, ink = self.paint(h).float().chunk(2, dim=1)
        if mask_logit.shape[-2:] != size:  # drawing above the networks' size: the paint is read at
            mask_logit, ink = (F.interpolate(t, size=size, mode="bilinear", align_corners=False)  # theirs
                               for t in (mask_logit, ink))
        if self.style_mask is not None:
            mask_logit = mask_logit + self.style_mask(s.float())[:, :, None, None]
        mask = torch.sigmoid(mask_logit)
        return warped * (1 - mask) + torch.tanh(ink) * mask, flow, mask


def shrink(x: torch.Tensor, size: int) -> torch.Tensor:
    """Sketches [B, C, S, S] at the networks' size: area-averaged when S is larger, as they are."""
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="area")


class Generator(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.size = cfg.image_size
        self.from_img = nn.Conv2d(1, cfg.dim_in, 3, 1, 1)
        widths = _widths(cfg)
        self.encode = nn.ModuleList(ResBlk(a, b, normalize=True, downsample=True) for a, b in widths)
        bottom = widths[-1][1]
        self.encode.extend(ResBlk(bottom, bottom, normalize=True) for _ in range(cfg.bottleneck_blocks))
        self.decode = nn.ModuleList(AdainResBlk(bottom, bottom, cfg.style_dim) for _ in range(cfg.bottleneck_blocks))
        self.decode.extend(AdainResBlk(b, a, cfg.style_dim, upsample=True) for a, b in reversed(widths))
        self.warp = (WarpHead(cfg.dim_in, cfg.warp_grid, cfg.max_shift, cfg.style_dim, cfg.style_mask)
                     if cfg.output == "warp" else None)
        if self.warp is None:
            self.to_img = nn.Sequential(InstanceNorm(cfg.dim_in, affine=True), nn.LeakyReLU(0.2),
                                        nn.Conv2d(cfg.dim_in, 1, 1, 1, 0))
            # The output is an edit of the input: a residual before the tanh, zero at the start, so the
            # generator begins as the identity. A sketch is mostly blank paper with sparse strokes; from
            # a flat gray start the networks spend their first thousands of steps just relearning that.
            nn.init.zeros_(self.to_img[-1].weight)
            nn.init.zeros_(self.to_img[-1].bias)

    def forward(self, x: torch.Tensor, s: torch.Tensor, parts: bool = False, flow_offset: torch.Tensor | None = None):
        """The redrawn sketch; with `parts`, (image, {"flow", "mask"}) for the warp head's regularisers
        (both None for the residual output). A warp generator takes sketches larger than its networks'
        image_size (model.draw_size): they read it shrunk, and the head draws at its full size."""
        if flow_offset is not None and self.warp is None:
            raise EmosketchError("flow_offset needs a warp generator (model.output: warp)")
        h = self.from_img(shrink(x, self.size))
        for block in self.encode:
            h = block(h)
        for block in self.decode:
            h = block(h, s)
        if self.warp is not None:
            img, flow, mask = self.warp(x, h, s, flow_offset)
            img = img.to(x.dtype)
        else:
            img, flow, mask = torch.tanh(torch.atanh(x.clamp(-0.98, 0.98)) + self.to_img(h)), None, None
        return (img, {"flow": flow, "mask": mask}) if parts else img


class MappingNetwork(nn.Module):
    """z -> a style code per emotion (shared trunk, one head per emotion)."""

    def __init__(self, cfg: ModelConfig, num_domains: int):
        super().__init__()
        h = cfg.mapping_hidden
        layers = [nn.Linear(cfg.latent_dim, h), nn.ReLU()]
        for _ in range(3):
            layers += [nn.Linear(h, h), nn.ReLU()]
        self.shared = nn.Sequential(*layers)
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, cfg.style_dim))
            for _ in range(num_domains))
        # gan.mixes: [domains, domains], row c the codes emotion c is drawn with (None: each its own);
        # set from a slim file's mixes when it is loaded, never saved with the weights
        self.register_buffer("mix", None, persistent=False)

    @property
    def latent_dim(self) -> int:
        """The size of the latent code z it takes."""
        return self.shared[0].in_features

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.shared(z)
        out = torch.stack([head(h) for head in self.heads], dim=1)  # [B, domains, style]
        if self.mix is not None:
            out = torch.einsum("cd,bds->bcs", self.mix.to(out.dtype), out)
        return out[torch.arange(len(y), device=y.device), y]


class _Trunk(nn.Module):
    """Shared by the style encoder and the discriminator: convs down to 1x1."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        blocks = [nn.Conv2d(1, cfg.dim_in, 3, 1, 1)]
        d = cfg.dim_in
        for _ in range(int(math.log2(cfg.image_size)) - 2):
            d_out = min(d * 2, cfg.max_dim)
            blocks.append(ResBlk(d, d_out, downsample=True))
            d = d_out
        blocks += [nn.LeakyReLU(0.2), nn.Conv2d(d, d, 4, 1, 0), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*blocks)
        self.out_dim = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)


class StyleEncoder(nn.Module):
    def __init__(self, cfg: ModelConfig, num_domains: int):
        super().__init__()
        self.trunk, self.size = _Trunk(cfg), cfg.image_size
        self.heads = nn.ModuleList(nn.Linear(self.trunk.out_dim, cfg.style_dim) for _ in range(num_domains))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.trunk(shrink(x, self.size))
        out = torch.stack([head(h) for head in self.heads], dim=1)
        return out[torch.arange(len(y), device=y.device), y]


class Discriminator(nn.Module):
    """One real/fake logit per emotion; the logit of the image's own emotion is used.

    With ``y=None`` it returns every emotion's logit, ``[B, emotions]``: the matching-aware loss
    reads the wrong emotions' logits from the same pass as the real one.

    With ``classifier_head`` the same trunk also gives emotion logits (None without it), which
    train G towards the target emotion directly: a dense signal that short runs need.
    """

    def __init__(self, cfg: ModelConfig, num_domains: int):
        super().__init__()
        self.trunk = _Trunk(cfg)
        self.head = nn.Linear(self.trunk.out_dim, num_domains)
        self.classes = nn.Linear(self.trunk.out_dim, num_domains) if cfg.classifier_head else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.trunk(x)
        out = self.head(h)
        logit = out if y is None else out[torch.arange(len(y), device=y.device), y]
        return logit, (self.classes(h) if self.classes is not None else None)


class Networks(nn.Module):
    """The four networks as one module, so they share a state dict, a device and an EMA copy."""

    def __init__(self, cfg: ModelConfig, num_domains: int):
        super().__init__()
        self.generator = Generator(cfg)
        self.mapping = MappingNetwork(cfg, num_domains)
        self.style_encoder = StyleEncoder(cfg, num_domains)
        self.discriminator = Discriminator(cfg, num_domains)
