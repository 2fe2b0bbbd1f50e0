"""LPIPS (Zhang et al. 2018) through the `lpips` package, with its AlexNet trunk loaded from a local
file: nothing is downloaded. The package ships only the small linear heads; the trunk is
torchvision's ImageNet AlexNet (alexnet-owt-7be5be79.pth)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..checkpoints import describe_unreadable
from ..errors import EmosketchError

TRUNK_FILE = "alexnet-owt-7be5be79.pth"
TRUNK_ENV = "EMOSKETCH_LPIPS_TRUNK"
# lpips' AlexNet slices hold these indices of torchvision's alexnet.features.
SLICES = {1: range(0, 2), 2: range(2, 5), 3: range(5, 8), 4: range(8, 10), 5: range(10, 12)}


def trunk_candidates() -> list[Path]:
    places = []
    if os.environ.get(TRUNK_ENV):
        places.append(Path(os.environ[TRUNK_ENV]).expanduser())
    places.append(Path.home() / ".cache" / "emosketch" / TRUNK_FILE)
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    places.append(torch_home / "hub" / "checkpoints" / TRUNK_FILE)
    return places


def missing_trunk_message() -> str:
    return (f"LPIPS needs AlexNet's ImageNet weights, {TRUNK_FILE} (torchvision's "
            f"AlexNet_Weights.IMAGENET1K_V1, about 233 MB, published on download.pytorch.org/models/). "
            f"Put it at {trunk_candidates()[-2]} or point {TRUNK_ENV} at it; nothing is downloaded at run time.")


def find_trunk(path: str | Path | None = None) -> Path | None:
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise EmosketchError(f"{p}: no such LPIPS trunk file. {missing_trunk_message()}")
        return p
    return next((p for p in trunk_candidates() if p.exists()), None)


MISSING_PACKAGE = ("LPIPS needs the lpips package, an optional part of emosketch: pip install 'emosketch[lpips]' "
                   "(a checkout's make install has it)")


def lpips_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("lpips") is not None


def lpips_model(trunk: str | Path | None = None, random_trunk: bool = False, device: str | torch.device = "cpu"):
    """An LPIPS(net='alex') module in eval mode. With random_trunk=True the trunk is random (for tests);
    otherwise it is loaded from `trunk` or the standard places, or EmosketchError says what to fetch."""
    import warnings

    try:
        import lpips
    except ImportError:
        raise EmosketchError(MISSING_PACKAGE) from None

    with warnings.catch_warnings():  # lpips still passes torchvision's deprecated `pretrained=` argument
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False)
    if not random_trunk:
        path = find_trunk(trunk)
        if path is None:
            raise EmosketchError(missing_trunk_message())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise EmosketchError(f"{path}: not a readable LPIPS trunk: {describe_unreadable(path, exc)}. "
                                 f"{missing_trunk_message()}") from None
        if not isinstance(state, dict):
            raise EmosketchError(f"{path}: not torchvision AlexNet weights (a {type(state).__name__}, not a state dict)")
        mapped = {}
        for k, indices in SLICES.items():
            for i in indices:
                for name in ("weight", "bias"):
                    key = f"features.{i}.{name}"
                    if key in state:
                        mapped[f"slice{k}.{i}.{name}"] = state[key]
        missing = set(model.net.state_dict()) - set(mapped)
        if missing:
            raise EmosketchError(f"{path}: not torchvision AlexNet weights (missing {sorted(missing)[:3]} ...)")
        model.net.load_state_dict(mapped)
    return model.to(device).eval()


@torch.no_grad()
def lpips_distance(model, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS between batches of 1-channel images in [-1, 1]: [N]."""
    if a.shape[1] == 1:
        a, b = a.repeat(1, 3, 1, 1), b.repeat(1, 3, 1, 1)
    return model(a, b).flatten()
