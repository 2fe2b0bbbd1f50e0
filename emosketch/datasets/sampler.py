"""Balanced sampling for training on datasets whose classes are very unequal (AffectNet has ~134k
happy faces and ~4k contempt): each class is drawn equally often on average, as StarGAN v2 does."""

from __future__ import annotations

import numpy as np


def class_weights(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Per-item sampling weight = 1 / (count of its class); classes with no items get none."""
    labels = np.asarray(labels, np.int64)
    counts = np.bincount(labels, minlength=n_classes or 0).astype(np.float64)
    return 1.0 / counts[labels]


def balanced_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """`n` item indices drawn with replacement, every class equally likely."""
    weights = class_weights(labels)
    return np.random.default_rng(seed).choice(len(weights), size=n, replace=True, p=weights / weights.sum())


def balanced_sampler(labels: np.ndarray, num_samples: int | None = None, seed: int = 0):
    """A torch WeightedRandomSampler over `labels` with inverse class frequency weights."""
    import torch
    from torch.utils.data import WeightedRandomSampler

    weights = torch.as_tensor(class_weights(labels), dtype=torch.double)
    generator = torch.Generator().manual_seed(seed)
    return WeightedRandomSampler(weights, num_samples or len(weights), replacement=True, generator=generator)
