"""The ground-floor tensor helpers: uint8 sketches to [-1, 1] floats and back, devices, resizing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emosketch.errors import EmosketchError
from emosketch.tensors import pick_device, resize_batch, to_tensor, to_uint8


def test_uint8_round_trips_through_the_network_range():
    images = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    x = to_tensor(images)
    assert x.shape == (1, 1, 16, 16) and x.min() == -1 and x.max() == 1
    assert np.array_equal(to_uint8(x[:, 0]), images)
    assert to_uint8(torch.tensor([-3.0, 0.0, 5.0])).tolist() == [0, 128, 255]  # clamped, rounded half up


def test_resize_and_devices():
    assert resize_batch(np.zeros((3, 64, 64), np.uint8), 32).shape == (3, 32, 32)
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(EmosketchError, match="not a device"):
        pick_device("toaster")
