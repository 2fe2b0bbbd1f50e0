"""The emotion CNN that every classifier in emosketch is: the training classifier and judges of
evaluate/, the guide that gan/ trains against, the search's guide and the mirror's face reader.
Its config, network, augmentation, checkpoint loading and prediction; training lives in
evaluate/classifier.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoints
from .config import from_dict
from .errors import EmosketchError
from .tensors import resize_batch, to_tensor

FORMAT_NAME = "emosketch-classifier"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ClassifierConfig:
    input: str = "sketch"  # train on the sketches or on the face crops (faces.npy)
    image_size: int = 64  # images are resized to this side before the network
    width: int = 16  # channels of the stem; each of the 3 blocks doubles it
    dropout: float = 0.3  # before the final linear layer
    batch_size: int = 64
    lr: float = 2e-3  # peak learning rate (AdamW), cosine-decayed to lr/100 over the run
    weight_decay: float = 1e-4
    epochs: int = 30  # at most; early stopping usually ends sooner
    samples_per_epoch: int | None = None  # balanced draws per epoch (default: the train split's size)
    patience: int = 5  # epochs without a better validation macro-F1 before stopping
    balance: str = "sampler"  # sampler: draw classes equally; loss: class-weighted loss; none
    augment: bool = True  # flips, small rotations/scales/shifts (+ brightness/contrast for faces)
    label_smoothing: float = 0.05
    seed: int = 0
    max_minutes: float | None = None  # stop after this much training time (the best epoch is kept)
    # Adversarial training (L2 PGD, Madry et al. 2018): each batch is replaced by its worst case within
    # an L2 ball of this radius (in [-1, 1] pixel units; 0 = off). A robust classifier's gradients follow
    # visible features (Santurkar et al. 2019), which is what a guide for a generator should pull along.
    adversarial_eps: float = 0.0
    adversarial_steps: int = 3  # PGD steps per batch (each costs one forward and backward pass)
    # The network: cnn (EmotionCNN) or hog (HogNet: fixed, differentiable HOG features and a linear
    # layer; a guide of another family than the CNNs, whose pull a HOG judge also feels)
    arch: str = "cnn"
    hog_cell: int = 6  # hog: the cells' side in pixels (at image_size)
    hog_bins: int = 12  # hog: unsigned orientation bins
    # Read only a part of the face: top, bottom, left, right as fractions of the image (for example
    # [0.5, 1.0, 0.2, 0.8], the mouth). The network still takes the whole image at image_size, so every
    # caller feeds it as any other classifier; it cuts the part out first (after augmentation, in training).
    crop: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise EmosketchError(f"classifier arch {self.arch!r}: expected one of {', '.join(ARCHS)}")
        for key, ok, want in (  # each bound names the value that breaks it
                ("epochs", self.epochs >= 1, "at least 1"), ("patience", self.patience >= 1, "at least 1"),
                ("batch_size", 2 <= self.batch_size <= 4096, "from 2 to 4096"),
                ("lr", 0 < self.lr <= 1, "above 0, at most 1"),
                ("label_smoothing", 0 <= self.label_smoothing < 1, "from 0 to below 1"),
                ("weight_decay", 0 <= self.weight_decay <= 1, "from 0 to 1"),
                ("max_minutes", self.max_minutes is None or self.max_minutes > 0, "above 0"),
                ("samples_per_epoch", self.samples_per_epoch is None or 1 <= self.samples_per_epoch <= 10_000_000,
                 "from 1 to 10,000,000"),  # 1e11 had run out of memory building the epoch's draws
                ("dropout", 0 <= self.dropout < 1, "from 0 to below 1")):
            if not ok:
                raise EmosketchError(f"classifier {key} {getattr(self, key)!r:.40}: {want}")
        if self.arch == "hog" and not (2 <= self.hog_cell <= self.image_size // 2 and 4 <= self.hog_bins <= 36):
            raise EmosketchError("classifier: hog_cell from 2 to image_size / 2 and hog_bins from 4 to 36")
        if self.input not in ("sketch", "face"):
            raise EmosketchError(f"classifier input {self.input!r}: expected sketch or face")
        if self.balance not in ("sampler", "loss", "none"):
            raise EmosketchError(f"classifier balance {self.balance!r}: expected sampler, loss or none")
        if not 16 <= self.image_size <= 1024 or not 4 <= self.width <= 256:
            raise EmosketchError(f"classifier image_size {self.image_size!r:.20} (16 to 1024) and width "
                                 f"{self.width!r:.20} (4 to 256)")
        if self.adversarial_eps < 0 or self.adversarial_steps < 1:
            raise EmosketchError("classifier: adversarial_eps >= 0 and adversarial_steps >= 1")
        if self.crop is not None:
            if self.arch != "cnn":
                raise EmosketchError("classifier crop: only the cnn arch reads a part of the face")
            ok = len(self.crop) == 4 and 0 <= self.crop[0] < self.crop[1] <= 1 and 0 <= self.crop[2] < self.crop[3] <= 1
            if not ok or min(crop_box(self.image_size, self.crop)[1::2]) < 8:
                raise EmosketchError(f"classifier crop {list(self.crop)}: expected [top, bottom, left, right], "
                                     "fractions with top < bottom and left < right, at least 8 pixels each way")


def crop_box(size: int, crop: tuple[float, ...]) -> tuple[int, int, int, int]:
    """The pixel rows and columns (top, height, left, width) that fractions `crop` cut from a size x size image."""
    top, left = round(crop[0] * size), round(crop[2] * size)
    return top, round(crop[1] * size) - top, left, round(crop[3] * size) - left


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
    )


class EmotionCNN(nn.Module):
    """A one-conv stem at full resolution, three conv blocks (2x conv3x3-BN-ReLU) pooled between,
    global average pool, dropout, linear. About 0.3M parameters at width 16."""

    def __init__(self, n_classes: int, width: int = 16, dropout: float = 0.3,
                 crop: tuple[float, ...] | None = None):
        super().__init__()
        self.crop = crop  # read only this part of the image (ClassifierConfig.crop)
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            _block(w, 2 * w), nn.MaxPool2d(2), _block(2 * w, 4 * w), nn.MaxPool2d(2), _block(4 * w, 8 * w),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(8 * w, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.crop is not None:
            top, h, left, w = crop_box(x.shape[-1], self.crop)
            x = x[..., top:top + h, left:left + w]
        return self.head(self.features(x))


class HogNet(nn.Module):
    """Histograms of oriented gradients, differentiable, and a linear layer. Central-difference
    gradients; each pixel's magnitude split between its two nearest of `bins` unsigned orientations;
    summed over cell x cell cells; every 2x2 block of cells L2-normalised (the blocks overlap, as in
    Dalal and Triggs); dropout; linear. Only the last layer learns, so what it reads is the shape of
    the strokes, not pixels a CNN can be fooled by."""

    def __init__(self, n_classes: int, image_size: int, cell: int = 6, bins: int = 12, dropout: float = 0.3):
        super().__init__()
        self.cell, self.bins = cell, bins
        kx = torch.tensor([[[[-0.5, 0.0, 0.5]]]])
        self.register_buffer("kx", kx, persistent=False)
        self.register_buffer("ky", kx.transpose(2, 3).contiguous(), persistent=False)
        cells = image_size // cell
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(4 * bins * (cells - 1) ** 2, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, S, S] in [-1, 1] -> block-normalised histograms [B, 4 * bins, cells - 1, cells - 1]."""
        x = x.float()
        gx = F.conv2d(F.pad(x, (1, 1, 0, 0), mode="replicate"), self.kx)
        gy = F.conv2d(F.pad(x, (0, 0, 1, 1), mode="replicate"), self.ky)
        mag = torch.sqrt(gx * gx + gy * gy + 1e-6) - 1e-3  # differentiable at 0, and 0 on flat paper
        angle = torch.remainder(torch.atan2(gy, gx), torch.pi) / torch.pi * self.bins  # [0, bins)
        centres = torch.arange(self.bins, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        dist = torch.remainder(angle - centres + self.bins / 2, self.bins) - self.bins / 2
        hist = F.avg_pool2d(mag * torch.clamp(1 - dist.abs(), min=0), self.cell)  # [B, bins, cells, cells]
        blocks = torch.cat([hist[:, :, i:hist.shape[2] - 1 + i, j:hist.shape[3] - 1 + j]
                            for i in (0, 1) for j in (0, 1)], 1)
        return blocks / torch.sqrt((blocks * blocks).sum(1, keepdim=True) + 1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


ARCHS = ("cnn", "hog")


def build(cfg: ClassifierConfig, n_classes: int) -> nn.Module:
    """The network `cfg` names."""
    if cfg.arch == "hog":
        return HogNet(n_classes, cfg.image_size, cfg.hog_cell, cfg.hog_bins, cfg.dropout)
    return EmotionCNN(n_classes, cfg.width, cfg.dropout, cfg.crop)


def augment(x: torch.Tensor, faces: bool, generator: torch.Generator) -> torch.Tensor:
    """Random flips, small rotations, scales and shifts (+ brightness and contrast for photos)."""
    n = x.shape[0]

    def u(lo, hi):
        return torch.rand(n, generator=generator) * (hi - lo) + lo

    angle = u(-0.17, 0.17)  # about +-10 degrees
    scale = u(0.9, 1.1)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, u(-0.08, 0.08)], 1),
                         torch.stack([sin * flip, cos, u(-0.08, 0.08)], 1)], 1).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if faces:
        gain = u(0.7, 1.3).to(x).view(n, 1, 1, 1)
        shift = u(-0.2, 0.2).to(x).view(n, 1, 1, 1)
        out = ((out - out.mean(dim=(2, 3), keepdim=True)) * gain + out.mean(dim=(2, 3), keepdim=True) + shift)
        out = out.clamp(-1, 1)
    return out


# ---- prediction ----------------------------------------------------------------------------------

@torch.no_grad()
def predict(model: nn.Module, images: np.ndarray, image_size: int, batch_size: int = 256,
            device: torch.device | str = "cpu") -> np.ndarray:
    """uint8 [N, H, W] -> class probabilities [N, C]."""
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, len(images), batch_size):
        batch = resize_batch(np.asarray(images[s:s + batch_size]), image_size)
        out.append(F.softmax(model(to_tensor(batch, device)).float(), dim=1).cpu().numpy())
    model.train(was_training)
    n_classes = model.head[-1].out_features
    return np.concatenate(out) if out else np.zeros((0, n_classes), np.float32)


def load_checkpoint(path: str | Path) -> dict:
    return checkpoints.load_checkpoint(path, FORMAT_NAME, FORMAT_VERSION, noun="classifier checkpoint")


def load_classifier(path: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The trained classifier (best epoch, eval mode) and its checkpoint's plain values."""
    state = load_checkpoint(path)
    checkpoints.require(state, {"config": dict, "classes": list, "model": dict, "image_size": int}, path)
    checkpoints.check_classes(state["classes"], path)
    cfg = from_dict(ClassifierConfig, state["config"], f"{path}:config")
    model = build(cfg, len(state["classes"]))
    checkpoints.load_weights(model, state["model"], path, "classifier")
    return model.to(device).eval(), state


def load_sketch_classifier(path: str | Path, classes: list[str], device: torch.device | str = "cpu",
                           role: str = "guide", whose: str = "the dataset's") -> tuple[nn.Module, dict]:
    """A sketch classifier that reads a generator's drawings (a training guide, the search's guide):
    load_classifier, refusing one of other classes than `classes` or one trained on face photos."""
    model, state = load_classifier(path, device)
    if state["classes"] != list(classes):
        raise EmosketchError(f"{role} {path}: its classes {state['classes']} differ from {whose} {list(classes)}")
    if state["input"] != "sketch":
        raise EmosketchError(f"{role} {path}: judges face photos; the {role} must be a sketch classifier")
    return model, state
