"""StyleGAN2-ADA interop benchmark: fidelity to the official code, load time, and generation speed
batched against a one-by-one loop.

    python benchmarks/stylegan2.py --out bench-out       # prints tables, writes bench-out/stylegan2.json

1. Fidelity: the largest difference from the official outputs stored with the fixtures in
   ../shared/stylegan2 (mapping at psi 1 and 0.7, synthesis with const and no noise).
2. Load time: the snapshot pickle through the restricted unpickler, against emosketch's converted
   file (torch.load weights_only).
3. Speed: images/s for `--count` seeds, one forward pass per seed (the loop people write around
   G(z, c)) against batches of 8 and 32 and emosketch's automatic batch, on the CPU (one and all threads) and on CUDA when present.
   Besides the fixtures, a randomly initialised 256 px model (channel_base 16384, channel_max 256,
   8 mapping layers) stands in for a real face model, whose snapshots are hundreds of MB and not
   shipped here.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from report import STYLEGAN2, guarded, table, whole  # noqa: E402

from emosketch.gan.stylegan2 import StyleGAN2, load_stylegan2  # noqa: E402
from emosketch.gan.stylegan2.jobs import auto_batch  # noqa: E402

FIXTURES = STYLEGAN2


def fidelity(name: str) -> dict:
    G = load_stylegan2(FIXTURES / f"{name}.pkl")
    ref = np.load(FIXTURES / f"{name}.expected.npz")
    z, c = torch.from_numpy(ref["z"]), torch.from_numpy(ref["c"])
    row = {"model": name}
    with torch.no_grad():
        for psi, key in ((1.0, "psi1"), (0.7, "psi07")):
            row[f"ws {key}"] = float(np.abs(G.mapping(z, c, truncation_psi=psi).numpy() - ref[f"ws_{key}"]).max())
            img = G.synthesis(torch.from_numpy(ref[f"ws_{key}"]), noise_mode="const").numpy()
            row[f"img {key} const"] = float(np.abs(img - ref[f"img_{key}_const"]).max())
        img = G.synthesis(torch.from_numpy(ref["ws_psi1"]), noise_mode="none").numpy()
        row["img psi1 none"] = float(np.abs(img - ref["img_psi1_none"]).max())
    return row


def load_times(name: str, repeats: int = 5) -> dict:
    pkl = FIXTURES / f"{name}.pkl"
    with tempfile.TemporaryDirectory() as tmp:
        converted = load_stylegan2(pkl).save(Path(tmp) / f"{name}.pt")
        t_pkl = min(_time(lambda: load_stylegan2(pkl)) for _ in range(repeats))
        t_pt = min(_time(lambda: StyleGAN2.load(converted)) for _ in range(repeats))
        size_pt = converted.stat().st_size
    return {"model": name, "pickle MB": pkl.stat().st_size / 1e6, "pickle load s": t_pkl,
            "converted MB": size_pt / 1e6, "converted load s": t_pt}


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def big_model() -> StyleGAN2:
    torch.manual_seed(0)
    return StyleGAN2(z_dim=512, c_dim=0, w_dim=512, img_resolution=256, img_channels=3,
                     mapping_kwargs={"num_layers": 8},
                     synthesis_kwargs={"channel_base": 16384, "channel_max": 256, "architecture": "skip"}).eval()


@torch.no_grad()
def speed(G: StyleGAN2, name: str, count: int, device: str, threads: int | None) -> list[dict]:
    if threads:
        torch.set_num_threads(threads)
    G = G.to(device)
    z = G.latents(range(count)).to(device)
    c = G.labels(0 if G.c_dim else None, count).to(device)
    rows = []
    auto = auto_batch(G)
    for batch in (1, 8, 32, auto):
        G(z[:batch], c[:batch], noise_mode="const")  # warm up
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t = time.perf_counter()
        for s in range(0, count, batch):
            G(z[s:s + batch], c[s:s + batch], noise_mode="const")
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        rows.append({"model": name, "device": device + (f" ({threads} thread{'s' * (threads > 1)})" if threads else ""),
                     "batch": "1 (loop)" if len(rows) == 0 else f"auto ({batch})" if len(rows) == 3 else batch,
                     "images": count, "images/s": count / dt})
    base = rows[0]["images/s"]
    for r in rows:
        r["vs loop"] = f"{r['images/s'] / base:.2f}x"
    G.cpu()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--count", type=whole(4, 100_000), default=64, help="Images per speed row (fixtures); a quarter of it at 256 px.")
    args = ap.parse_args()
    result = {"machine": {"python": platform.python_version(), "torch": torch.__version__,
                          "cpu_threads": torch.get_num_threads(), "cuda": torch.cuda.is_available()}}
    names = [n for n in ("cond-gray-64", "uncond-rgb-32") if (FIXTURES / f"{n}.pkl").exists()]
    if names:
        result["fidelity"] = [fidelity(n) for n in names]
        print("\n1. Largest difference from the official outputs (float32; the tests require <= 1e-4)")
        print(table(result["fidelity"], list(result["fidelity"][0])))
        result["load"] = [load_times(n) for n in names]
        print("\n2. Load time (best of 5)")
        print(table(result["load"], list(result["load"][0])))
    else:
        print(f"fixtures not found at {FIXTURES}: fidelity and load rows skipped")
    models = [(load_stylegan2(FIXTURES / f"{n}.pkl"), n, args.count) for n in names]
    models.append((big_model(), "random 256 px", max(8, args.count // 4)))
    all_threads = torch.get_num_threads()
    rows = []
    for G, name, count in models:
        for threads in sorted({1, all_threads}):
            rows += speed(G, name, count, "cpu", threads)
        if torch.cuda.is_available():
            rows += speed(G, name, count * 4, "cuda", None)
    torch.set_num_threads(all_threads)
    result["speed"] = rows
    print("\n3. Generation speed, G(z, c) with const noise: a loop of single images against batches")
    print(table(rows, ["model", "device", "batch", "images", "images/s", "vs loop"]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "stylegan2.json").write_text(json.dumps(result, indent=1))
    print(f"\nwrote {args.out / 'stylegan2.json'}")


if __name__ == "__main__":
    guarded(main)
