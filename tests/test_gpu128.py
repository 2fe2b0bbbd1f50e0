"""tools/gpu128.py and tools/gpu128.sh: the 128 px generator's run for a lent GPU. The FER+ sketches
travel bit-packed and come back exactly; the script runs end to end (on a CPU, shrunk)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gpu128  # noqa: E402


@pytest.fixture(scope="module")
def binary_data(tmp_path_factory):
    """A small synthetic dataset at 128 px, its sketches made binary as FER+'s are."""
    from emosketch.datasets.prepare import PrepareConfig, prepare

    out = tmp_path_factory.mktemp("gpu") / "syn"
    prepare("synthetic", out, PrepareConfig(size=128, count=96, seed=4), progress=False, log=lambda m: None)
    images = np.load(out / "images.npy")
    np.save(out / "images.npy", np.where(images < 128, 0, 255).astype(np.uint8))
    return out


def test_pack_and_unpack_give_back_the_dataset_exactly(binary_data, tmp_path):
    from emosketch.datasets.dataset import load

    info = gpu128.pack(binary_data, tmp_path / "d.npz")
    assert info["sketches"] == 96 and info["side"] == 128
    assert info["bytes"] < 96 * 128 * 128 / 8  # smaller than the packed bits alone
    back = load(gpu128.unpack(tmp_path / "d.npz", tmp_path / "back"))
    ds = load(binary_data)
    assert np.array_equal(np.asarray(back.images), np.asarray(ds.images))
    assert np.array_equal(back.labels, ds.labels) and np.array_equal(back.split, ds.split)
    assert back.classes == ds.classes and back.meta == ds.meta
    # gray sketches would not come back: refused, nothing written
    gray = tmp_path / "gray"
    import shutil

    shutil.copytree(binary_data, gray)
    images = np.load(gray / "images.npy")
    images[0, 0, 0] = 128
    np.save(gray / "images.npy", images)
    with pytest.raises(SystemExit, match="not binary"):
        gpu128.pack(gray, tmp_path / "g.npz")
    assert not (tmp_path / "g.npz").exists()


CONFIG = """model:
  image_size: 128
steps: 100          # a comment
lambda_mask: 1.0
extra_guides: [a.pt,
               b.pt]
"""


def test_extra_keys_replace_a_one_line_key_in_place_and_add_new_ones():
    """EXTRA sets keys: one the config gives on one line is replaced where it stands (a repeated key would be
    refused by the config reader), a new one is appended, and the result is the YAML meant."""
    import yaml

    out = gpu128.set_keys(CONFIG, "lambda_mask: 0.1\n\nlambda_bend: 0.5\nsteps: 7")
    assert yaml.safe_load(out) == {"model": {"image_size": 128}, "steps": 7, "lambda_mask": 0.1,
                                   "extra_guides": ["a.pt", "b.pt"], "lambda_bend": 0.5}
    assert out.splitlines()[2:4] == ["steps: 7", "lambda_mask: 0.1"]
    assert gpu128.set_keys(CONFIG, "") == CONFIG


@pytest.mark.parametrize("extra", ["model: {image_size: 64}", "extra_guides: [c.pt]", "lambda_mask", "x:",
                                   "  steps: 3", "not a key: 1", "steps 3"])
def test_extra_keys_that_cannot_be_set_on_one_line_are_refused(extra):
    """A key whose value spans lines, a line that is not 'key: value', an indented key: one readable line."""
    with pytest.raises(SystemExit) as e:
        gpu128.set_keys(CONFIG, extra)
    assert str(e.value).startswith("EXTRA ") and "\n" not in str(e.value)


@pytest.mark.parametrize("key", gpu128.RESERVED)
def test_extra_keys_that_the_script_sets_itself_are_refused(key):
    """steps (sized to BUDGET) and the guides (trained there) would be overwritten or point nowhere."""
    assert "steps: 7" in gpu128.set_keys(CONFIG, "steps: 7")  # the function alone allows it
    with pytest.raises(SystemExit, match=f"EXTRA key {key}: the script sets it"):
        gpu128.set_keys(CONFIG, f"{key}: 1", gpu128.RESERVED)


@pytest.mark.slow
def test_the_gpu_script_runs_end_to_end_on_a_cpu(binary_data, tmp_path):
    """SMOKE=1: tiny guides, a 2-step probe and a few steps of training at 128 px; the slim checkpoint
    draws 128 px and run.json says what was trained."""
    work = tmp_path / "repo"
    (work / ".gpu").mkdir(parents=True)
    gpu128.pack(binary_data, work / ".gpu" / "fer6-128.npz")
    for name in ("tools", "configs", "emosketch"):
        (work / name).symlink_to(ROOT / name)
    env = {**os.environ, "SMOKE": "1", "BUDGET": "5", "PROBE": "2", "DEVICE": "cpu", "OUT": str(tmp_path / "out"),
           "WORK": str(tmp_path / "w"), "PY": sys.executable, "OMP_NUM_THREADS": "2",
           "EXTRA": "lambda_bend: 0.5\nlambda_mask: 0.1"}
    r = subprocess.run(["bash", "tools/gpu128.sh"], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["generator-fer6-128.pt", "log.jsonl", "run.json", "samples.png"]
    run = json.loads((out / "run.json").read_text())
    assert run["steps"] == 10 and run["images_seen"] == 320 and run["hardware"] == "CPU"
    assert run["extra"] == "lambda_bend: 0.5\nlambda_mask: 0.1"
    trained = json.loads((tmp_path / "w" / "run" / "config.json").read_text())
    assert trained["lambda_bend"] == 0.5 and trained["lambda_mask"] == 0.1  # added, and replaced in place
    from emosketch.gan.sample import GanTranslator

    tr = GanTranslator(out / "generator-fer6-128.pt", "cpu")
    assert tr.size == 128 and "128 px: 10 steps of batch 32" in tr.state["note"]
    assert tr.state["note"].endswith("; set: lambda_bend: 0.5, lambda_mask: 0.1")


@pytest.mark.parametrize("name,value", [("BUDGET", '1); import os; print('), ("PROBE", "4e1"), ("BUDGET", "0")])
def test_the_gpu_script_takes_only_whole_numbers_where_python_reads_them(tmp_path, name, value):
    """BUDGET and PROBE reach Python as numbers: anything else is refused with one line, before any work."""
    env = {**os.environ, name: value, "OUT": str(tmp_path / "out"), "WORK": str(tmp_path / "work")}
    r = subprocess.run(["bash", str(ROOT / "tools" / "gpu128.sh")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and f"{name} must be a whole number" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()
