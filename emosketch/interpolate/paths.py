"""Paths through the generator's style space: lerp and slerp, the mean style of each emotion,
truncation toward it, intensity (below 1 softens an emotion, above 1 exaggerates it) and blends
of several emotions at once."""

from __future__ import annotations

import numpy as np
import torch

from ..errors import EmosketchError
from ..gan.networks import mean_styles, z_codes


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """a + (b - a) t, t broadcast over the last dimension ([T] or a scalar)."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    return a + (b - a) * (t[..., None] if t.ndim else t)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation along the great circle from a to b, with the length interpolated
    linearly (style codes are not unit vectors). Falls back to lerp where a and b are (anti)parallel
    or one is zero, where the circle is not defined."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    t = t[..., None] if t.ndim else t
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(eps), b / nb.clamp_min(eps)
    cos = (ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    ok = (sin.abs() > 1e-4) & (na > eps) & (nb > eps)
    safe = torch.where(ok, sin, torch.ones_like(sin))
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / safe
    out = direction * (na + (nb - na) * t)
    return torch.where(ok, out, a + (b - a) * t)


class StyleBank:
    """Style codes of a trained mapping network F, per emotion.

    `mean(e)` averages F(z, e) over many z; `code(e, seed, psi)` truncates F(z_seed, e) toward that
    mean (psi = 1 keeps it, 0 gives the mean). The anchor for intensity is neutral's code when the
    model has neutral, else the average of all emotions' codes: `anchor + k (s_e - anchor)`.
    """

    def __init__(self, mapping: torch.nn.Module, classes: list[str], device: torch.device | str = "cpu",
                 mean_samples: int = 1000, seed: int = 0):
        self.mapping, self.classes, self.device = mapping, list(classes), torch.device(device)
        self.latent_dim = mapping.latent_dim
        # the latent of a seed: the mapping's own rule when it has one (StyleGAN2's generate.py)
        self.latents = getattr(mapping, "latents", None) or (lambda seeds: z_codes(seeds, self.latent_dim))
        self.means = mean_styles(mapping, len(self.classes), self.device, mean_samples, seed)  # [C, D]

    def index(self, emotion: str) -> int:
        from ..emotions import canonical

        name = canonical(emotion)
        if name not in self.classes:
            raise EmosketchError(f"emotion {emotion!r} is not one of the model's: {', '.join(self.classes)}")
        return self.classes.index(name)

    @torch.no_grad()
    def codes(self, seed: int | None = None, psi: float = 1.0) -> torch.Tensor:
        """Every emotion's code at one latent: [C, D]. seed None gives the mean codes."""
        if seed is None:
            return self.means.clone()
        z = self.latents([seed] * len(self.classes)).to(self.device)
        s = self.mapping(z, torch.arange(len(self.classes), device=self.device)).float()
        return self.means + psi * (s - self.means)

    @torch.no_grad()
    def z_path(self, emotion: str, z: torch.Tensor, psi: float = 1.0) -> torch.Tensor:
        """Codes of one emotion along latents z [T, latent_dim] (e.g. a slerp between seeds): [T, D]."""
        i = self.index(emotion)
        s = self.mapping(z.to(self.device), torch.full((len(z),), i, dtype=torch.long, device=self.device)).float()
        return self.means[i] + psi * (s - self.means[i])

    def anchor(self, codes: torch.Tensor) -> torch.Tensor:
        return codes[self.classes.index("neutral")] if "neutral" in self.classes else codes.mean(0)

    def blend(self, weights: np.ndarray | torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Poses [T, C] of emotion weights -> codes [T, D]: anchor + sum_e w_e (s_e - anchor).

        Weights that sum to 1 give the blend sum_e w_e s_e; a single weight k gives that emotion at
        intensity k (k > 1 exaggerates it)."""
        w = torch.as_tensor(np.asarray(weights), dtype=codes.dtype, device=codes.device)
        if w.ndim != 2 or w.shape[1] != len(self.classes):
            raise EmosketchError(f"poses must be [frames, {len(self.classes)}], got {tuple(w.shape)}")
        a = self.anchor(codes)
        return a + w @ (codes - a)
