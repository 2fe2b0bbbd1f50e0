"""emosketch's own implementation of the StyleGAN2-ADA generator, written from the format's
description (Karras et al., "Training Generative Adversarial Networks with Limited Data", 2020;
"Analyzing and Improving the Image Quality of StyleGAN", 2020). Module, parameter and buffer names
follow the network pickles, so a snapshot's state loads by name; the maths runs in float32 on any
device with plain torch ops (no custom CUDA kernels).

Shapes: z [N, z_dim], c [N, c_dim] one-hot (or empty), ws [N, num_ws, w_dim], images
[N, img_channels, R, R], nominally in [-1, 1].
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import EmosketchError

# Activation: (function of x and alpha, default alpha, default gain that keeps unit variance).
ACTIVATIONS = {
    "linear": (lambda x, a: x, 0.0, 1.0),
    "relu": (lambda x, a: F.relu(x), 0.0, math.sqrt(2)),
    "lrelu": (lambda x, a: F.leaky_relu(x, a), 0.2, math.sqrt(2)),
    "tanh": (lambda x, a: torch.tanh(x), 0.0, 1.0),
    "sigmoid": (lambda x, a: torch.sigmoid(x), 0.0, 1.0),
    "elu": (lambda x, a: F.elu(x, a), 1.0, 1.0),
    "selu": (lambda x, a: F.selu(x), 0.0, 1.0),
    "softplus": (lambda x, a: F.softplus(x), 0.0, 1.0),
    "swish": (lambda x, a: torch.sigmoid(x) * x, 0.0, math.sqrt(2)),
}


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise EmosketchError(f"activation {name!r} is not one StyleGAN2-ADA uses: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, act: str = "linear", gain: float | None = None,
             clamp: float | None = None) -> torch.Tensor:
    """x + b (over dim 1), then the activation, times its gain, clamped to [-clamp, clamp]."""
    fn, alpha, default_gain = _activation(act)
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    x = fn(x, alpha)
    g = default_gain if gain is None else float(gain)
    if g != 1:
        x = x * g
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def setup_filter(f) -> torch.Tensor:
    """A 1-D FIR kernel such as [1, 3, 3, 1] -> its normalised 2-D outer product."""
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1:
        f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0) -> torch.Tensor:
    """Upsample by inserting zeros, pad (left, right, top, bottom; negative crops), convolve with
    the 2-D FIR filter f (a true convolution, so f is flipped for torch's correlation), and keep
    every `down`-th pixel."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x0, x1, y0, y1 = pad
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    k = (f * gain).to(x.dtype).flip([0, 1])
    x = F.conv2d(x, k[None, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down] if down > 1 else x


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """2x (or up x) upsampling through the FIR filter, keeping the image centred."""
    fw = f.shape[-1]
    p = ((fw + up - 1) // 2, (fw - up) // 2)
    return upfirdn2d(x, f, up=up, pad=(p[0], p[1], p[0], p[1]), gain=up * up)


def conv2d_resample(x: torch.Tensor, w: torch.Tensor, f: torch.Tensor | None = None, up: int = 1,
                    padding: int = 0, groups: int = 1, flip_weight: bool = True) -> torch.Tensor:
    """A 2-D convolution, optionally upsampled by `up` through the FIR filter f. flip_weight
    False means a true convolution (the weight is flipped for torch's correlation)."""
    out_ch, in_per_group, kh, kw = w.shape
    if up == 1:
        w = w if flip_weight else w.flip([2, 3])
        return F.conv2d(x, w, padding=padding, groups=groups)
    fw = f.shape[-1]
    p0 = padding + (fw + up - 1) // 2
    p1 = padding + (fw - up) // 2
    if kh == 1 and kw == 1:  # 1x1: convolve, then upsample the result
        w = w if flip_weight else w.flip([2, 3])
        x = F.conv2d(x, w, groups=groups)
        return upfirdn2d(x, f, up=up, pad=(p0, p1, p0, p1), gain=up * up)
    # Transposed convolution with stride `up`, then the FIR filter over what it spread out.
    if groups == 1:
        wt = w.transpose(0, 1)
    else:
        wt = w.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    p0 -= kw - 1
    p1 -= kw - up
    t = max(min(-p0, -p1), 0)
    wt = wt.flip([2, 3]) if flip_weight else wt  # the transposed op is flipped by itself
    x = F.conv_transpose2d(x, wt, stride=up, padding=t, groups=groups)
    return upfirdn2d(x, f, pad=(p0 + t, p1 + t, p0 + t, p1 + t), gain=up * up)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, noise: torch.Tensor | None = None,
                     up: int = 1, padding: int = 0, resample_filter: torch.Tensor | None = None,
                     demodulate: bool = True, flip_weight: bool = True) -> torch.Tensor:
    """StyleGAN2's weight modulation (and demodulation) per sample. One image: the modulated
    weight as it is. A batch: scale the activations by the styles instead, convolve the whole
    batch with the shared weight, and scale the output by the demodulation coefficients, which is
    the same maths and much faster than a grouped convolution per sample on the CPU."""
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if n == 1:
        w = weight[None] * styles.reshape(n, 1, -1, 1, 1)  # [1, O, I, k, k]
        if demodulate:
            w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, -1, 1, 1, 1)
        x = conv2d_resample(x, w[0], f=resample_filter, up=up, padding=padding, flip_weight=flip_weight)
    else:
        x = x * styles.reshape(n, -1, 1, 1)
        x = conv2d_resample(x, weight.to(x.dtype), f=resample_filter, up=up, padding=padding, flip_weight=flip_weight)
        if demodulate:
            w = weight[None] * styles.reshape(n, 1, -1, 1, 1)
            x = x * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, -1, 1, 1)
    return x + noise if noise is not None else x


class FullyConnectedLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0,  # equalised learning rate: the weight is stored divided by it
                 bias_init: float = 0.0):  # the bias's starting value (1 for style affines)
        super().__init__()
        _activation(activation)
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b[None], x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class Conv2dLayer(nn.Module):
    """A plain convolution with equalised learning rate (here: the resnet generator's 1x1 skip)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1, resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None,  # clamp the output to +-this (None: no clamp)
                 channels_last: bool = False, trainable: bool = True):
        super().__init__()
        if down != 1:
            raise EmosketchError("Conv2dLayer with down > 1 is a discriminator layer; the generator has none")
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size ** 2)
        self.act_gain = _activation(activation)[2]
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, padding=self.padding,
                            flip_weight=(self.up == 1))
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class MappingNetwork(nn.Module):
    def __init__(self, z_dim: int, c_dim: int, w_dim: int,
                 num_ws: int | None,  # how many copies of w the synthesis network takes
                 num_layers: int = 8,  # fully connected layers
                 embed_features: int | None = None,  # size of the class embedding (default w_dim)
                 layer_features: int | None = None,  # width of the hidden layers (default w_dim)
                 activation: str = "lrelu", lr_multiplier: float = 0.01,
                 w_avg_beta: float | None = 0.995):  # decay of the running mean of w (truncation's centre)
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        self.w_avg_beta = w_avg_beta
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation=activation,
                                                        lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def _check_inputs(self, z, c, psi) -> None:
        """Refuse z and c that would fail deep in a matrix product ("mat1 and mat2 shapes cannot be multiplied") or
        in torch.cat: z [N, z_dim], c [N, c_dim] (None or [N, 0] for an unconditional model), a finite psi."""
        n = None
        for name, x, dim in (("z", z, self.z_dim), ("c", c, self.c_dim)):
            if dim == 0 and (x is None or (isinstance(x, torch.Tensor) and x.ndim == 2 and x.shape[1] == 0)):
                continue
            if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != dim:
                what = f"{tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
                hint = " (G.labels(class, n) makes it)" if name == "c" else " (G.latents(seeds) makes it)"
                raise EmosketchError(f"{name} must be a tensor [N, {dim}]{hint}, got {what}")
            if n is not None and len(x) != n:
                raise EmosketchError(f"z has {n} rows and c {len(x)}: one class row a latent")
            n = len(x)
        if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not math.isfinite(psi):
            raise EmosketchError(f"truncation_psi must be a finite number, got {psi!r}")

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        self._check_inputs(z, c, truncation_psi)
        x = None
        if self.z_dim > 0:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.num_ws is None:
            return x
        x = x[:, None].repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            if not hasattr(self, "w_avg"):
                raise EmosketchError("this mapping network keeps no mean w (w_avg_beta is None): truncation "
                                     "needs psi = 1")
            if truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                x = x.clone()
                x[:, :truncation_cutoff] = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
        return x


class SynthesisLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1,  # upsampling factor (1 or 2)
                 use_noise: bool = True, activation: str = "lrelu", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, channels_last: bool = False):
        super().__init__()
        self.resolution, self.up, self.use_noise, self.activation = resolution, up, use_noise, activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = _activation(activation)[2]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", gain: float = 1.0) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1))
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None, channels_last: bool = False):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


ARCHITECTURES = ("orig", "skip", "resnet")


class SynthesisBlock(nn.Module):
    def __init__(self, in_channels: int,  # 0 for the first block, which starts from a learned constant
                 out_channels: int, w_dim: int, resolution: int, img_channels: int, is_last: bool,
                 architecture: str = "skip",  # orig: one ToRGB at the end; skip: ToRGB per block, summed
                 # up; resnet: residual blocks, one ToRGB at the end
                 resample_filter=(1, 3, 3, 1), conv_clamp: float | None = None,
                 use_fp16: bool = False,  # the official code runs this block in fp16 on CUDA; here fp32
                 fp16_channels_last: bool = False, **layer_kwargs):
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise EmosketchError(f"architecture {architecture!r}: expected one of {', '.join(ARCHITECTURES)}")
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.is_last, self.architecture, self.use_fp16 = is_last, architecture, use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim=w_dim, resolution=resolution,
                                    conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "random") -> tuple[torch.Tensor, torch.Tensor | None]:
        w = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const[None].repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1(x, next(w), noise_mode=noise_mode)
        elif self.architecture == "resnet":
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w), noise_mode=noise_mode)
            x = self.conv1(x, next(w), noise_mode=noise_mode, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x, next(w), noise_mode=noise_mode)
            x = self.conv1(x, next(w), noise_mode=noise_mode)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w)).to(torch.float32)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    def __init__(self, w_dim: int, img_resolution: int, img_channels: int,
                 channel_base: int = 32768,  # channels at resolution r: min(channel_base // r, channel_max)
                 channel_max: int = 512,
                 num_fp16_res: int = 0,  # the highest resolutions the official code runs in fp16
                 **block_kwargs):
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise EmosketchError(f"img_resolution {img_resolution}: expected a power of two >= 4")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        fp16_resolution = max(2 ** (self.img_resolution_log2 + 1 - num_fp16_res), 8)
        self.num_ws = 0
        for r in self.block_resolutions:
            block = SynthesisBlock(channels[r // 2] if r > 4 else 0, channels[r], w_dim=w_dim, resolution=r,
                                   img_channels=img_channels, is_last=(r == img_resolution),
                                   use_fp16=(r >= fp16_resolution), **block_kwargs)
            self.num_ws += block.num_conv
            if r == img_resolution:
                self.num_ws += block.num_torgb
            setattr(self, f"b{r}", block)

    def forward(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        if noise_mode not in ("random", "const", "none"):
            raise EmosketchError(f"noise_mode {noise_mode!r}: expected random, const or none")
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise EmosketchError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        ws = ws.to(torch.float32)
        x = img = None
        i = 0
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            x, img = block(x, img, ws.narrow(1, i, block.num_conv + block.num_torgb), noise_mode=noise_mode)
            i += block.num_conv
        return img


class Generator(nn.Module):
    """G(z, c) = synthesis(mapping(z, c)): the network a snapshot's `G_ema` holds."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict | None = None, synthesis_kwargs: dict | None = None):
        super().__init__()
        mapping_kwargs, synthesis_kwargs = dict(mapping_kwargs or {}), dict(synthesis_kwargs or {})
        self.init_kwargs = {"z_dim": z_dim, "c_dim": c_dim, "w_dim": w_dim, "img_resolution": img_resolution,
                            "img_channels": img_channels, "mapping_kwargs": mapping_kwargs,
                            "synthesis_kwargs": synthesis_kwargs}
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels,
                                          **synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **mapping_kwargs)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, noise_mode: str = "random") -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)
