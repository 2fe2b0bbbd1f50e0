"""benchmarks/field.py: the warp field's size, bending and face dependence, per emotion."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import field  # noqa: E402


def test_face_share_is_zero_for_a_template_and_near_one_for_fields_of_their_own():
    rng = np.random.default_rng(0)
    template = np.broadcast_to(rng.normal(size=(1, 2, 2, 8, 8)), (5, 2, 2, 8, 8))
    own = rng.normal(size=(5, 2, 2, 8, 8))
    kinds = ["fer"] * 3 + ["sharp"] * 2
    t = field.rows_for("t", np.ascontiguousarray(template), ["a", "b"], kinds)
    o = field.rows_for("o", own, ["a", "b"], kinds)
    assert all(r["face_share"] == 0 and r["face_share_fer"] == 0 for r in t)
    assert all(0.6 < r["face_share"] <= 1 for r in o)  # 1 - 1/faces in expectation
    moved = np.zeros((2, 1, 2, 8, 8))
    moved[:, :, 0] = 3.0  # every pixel moved 3 px to the right: shift 3, no bending
    r = field.rows_for("m", moved, ["a"], ["fer", "fer"])[0]
    assert r["shift_px"] == pytest.approx(3.0) and r["bend"] == 0 and r["face_share"] == 0


def test_fields_of_the_shipped_generator_are_in_pixels():
    from emosketch.interpolate.render import Renderer
    from emosketch.models import default_generator, demo_photo

    r = Renderer(default_generator(), "cpu", mean_samples=64)
    faces = [("sharp", r.source(image=demo_photo()))] * 2
    f = field.fields(r, faces)
    assert f.shape == (2, len(r.classes), 2, r.size, r.size)
    assert np.allclose(f[0], f[1])  # the same face twice: the same field
    mag = np.sqrt((f ** 2).sum(2))
    assert 0.2 < mag.mean() and np.abs(f).max() <= r.nets.generator.warp.max_shift * r.size + 1e-3  # per axis


def test_the_fer_faces_are_read_at_the_models_size_when_prepared(tmp_path, monkeypatch):
    """It read data/fer6-64 only: with the 128 px model shipped and data/fer6-128 prepared, it measured no FER+
    face at all."""
    monkeypatch.setattr(field, "DATA", tmp_path)
    assert field.fer_data(128) is None
    (tmp_path / "fer6-64").mkdir()
    assert field.fer_data(128) == tmp_path / "fer6-64"
    (tmp_path / "fer6-128").mkdir()
    assert field.fer_data(128) == tmp_path / "fer6-128" and field.fer_data(64) == tmp_path / "fer6-64"
