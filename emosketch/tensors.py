"""Tensor helpers every layer uses: the device to run on, and uint8 sketches to and from the
networks' [-1, 1] floats (255 = paper)."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from .errors import EmosketchError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise EmosketchError(f"--device {name!r}: not a device (use cpu, cuda, cuda:1 or auto)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EmosketchError(f"--device {name}: CUDA is not available on this machine")
    return device


def resize_batch(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 [N, H, W] -> uint8 [N, size, size] (area interpolation when shrinking)."""
    out = np.empty((len(images), size, size), np.uint8)
    for i in range(len(images)):
        img = np.asarray(images[i])
        interp = cv2.INTER_AREA if img.shape[0] >= size else cv2.INTER_LINEAR
        out[i] = img if img.shape[0] == size else cv2.resize(img, (size, size), interpolation=interp)
    return out


def to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 [N, S, S] (255 = paper) -> float [N, 1, S, S] in [-1, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    return t.float().div_(127.5).sub_(1.0).unsqueeze(1)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float in [-1, 1] (any shape) -> uint8 in [0, 255], rounded, on the CPU."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
