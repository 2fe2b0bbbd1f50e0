"""Generator checkpoints (see emosketch.checkpoints): format name and version of a training run, and
the slim form a model ships in (EMA weights of G, F and E only, with the config and dataset settings)."""

from __future__ import annotations

from pathlib import Path

from .. import checkpoints

FORMAT_NAME = "emosketch-generator"
FORMAT_VERSION = 1


def save_checkpoint(path: str | Path, state: dict) -> None:
    checkpoints.save_checkpoint(path, state, FORMAT_NAME, FORMAT_VERSION)


def load_checkpoint(path: str | Path) -> dict:
    return checkpoints.load_checkpoint(path, FORMAT_NAME, FORMAT_VERSION)


INFERENCE = ("generator", "mapping", "style_encoder")  # the networks that sampling and rendering use
KEEP = ("config", "classes", "image_size", "step", "dataset", "emosketch", "mixes")


def slim(state: dict, note: str | None = None, photo_margin: float | None = None) -> dict:
    """A training checkpoint's state reduced to what inference needs: the EMA copies of G, F and E in
    fp32, the config, classes, image size, step and dataset settings. It cannot resume training.
    `photo_margin` sets how a photo's face box is framed (datasets.face.FaceConfig.photo_margin)."""
    ema = {k: v for k, v in state["ema"].items() if k.split(".", 1)[0] in INFERENCE}
    out = {k: state[k] for k in KEEP if k in state} | {"ema": ema, "slim": True}
    if note:
        out["note"] = note
    if photo_margin is not None:
        from ..datasets.photo import with_photo_margin

        out["dataset"] = with_photo_margin(out.get("dataset") or {}, photo_margin)
    return out


def compact(state: dict) -> dict:
    """A training checkpoint that still resumes, at about a quarter of the size, to carry a long run from
    one machine to another: every network and its EMA in bfloat16, the optimisers' moments dropped (a
    resumed run starts them afresh, as a fine-tune does), the step, ADA and every RNG kept."""
    import torch

    def half(weights: dict) -> dict:
        return {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in weights.items()}

    if state.get("slim"):
        from ..errors import EmosketchError

        raise EmosketchError("a slim checkpoint has no discriminator or training state left to compact")
    out = {k: v for k, v in state.items() if k != "optimizers"}
    return out | {"nets": half(state["nets"]), "ema": half(state["ema"]), "compact": True}


def lift(state: dict, draw_size: int, note: str | None = None) -> dict:
    """A warp generator's slim state made to draw at `draw_size`: the same weights, whose networks read
    the sketch shrunk to their own size while the warp head moves the full-size sketch's strokes and
    paints at full size (ModelConfig.draw_size). Photos are sketched at `draw_size` with the same face
    crop and sketch settings (their line widths scale with the size)."""
    from ..config import from_dict
    from ..errors import EmosketchError
    from .networks import ModelConfig

    model = dict(state["config"]["model"])
    if model.get("output") != "warp":
        raise EmosketchError("only a warp generator can draw above its networks' size (model.output: warp)")
    model["draw_size"] = draw_size
    from_dict(ModelConfig, model, "model")  # the bounds, before anything is written
    out = dict(state) if state.get("slim") else slim(state)
    if note:
        out["note"] = note
    out["config"] = {**state["config"], "model": model}
    out["image_size"] = draw_size
    if isinstance(out.get("dataset"), dict):
        out["dataset"] = {**out["dataset"], "size": draw_size}
    return out
