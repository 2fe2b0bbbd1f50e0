"""Make it smile: a classifier-guided search in the generator's style space for the code that
makes a face read as a target emotion, kept as a path that can be animated.

    result = search(renderer, guide, 64, sources, ["happy"] * len(sources))
    result.frames[:, 0]        # face 0's path: uint8 [T, S, S]
    result.reached             # bool [N]: the guide reads the target as the face's top emotion

The path leaves the start (a blend of emotions, e.g. the agent's weights now; neutral by default)
along a straight line to the target emotion's own code, then climbs the guide's log-probability of
the target by gradient ascent (Adam) through G and the guide, step by step, until the guide reads it
at `stop_at` or the steps run out. The guide is a sketch classifier; benchmarks/search.py checks
the result with judges that never guided anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import EmosketchError


@dataclass(frozen=True)
class SearchConfig:
    steps: int = 20  # gradient steps at most
    approach: int = 8  # frames from the start code to the target's own code, before the climb
    lr: float = 0.1  # Adam's step on the style code
    stop_at: float = 0.9  # a face stops climbing once the guide reads its target at least this surely
    seed: int = 0  # latent of the codes
    psi: float = 1.0  # truncation of the codes

    def __post_init__(self) -> None:
        if not 0 <= self.steps <= 1000 or not 1 <= self.approach <= 100 or not 0 < self.lr <= 1 \
                or not 0 < self.stop_at <= 1:
            raise EmosketchError("search: steps from 0 to 1000, approach from 1 to 100, lr in (0, 1], stop_at in (0, 1]")


@dataclass
class SearchResult:
    frames: np.ndarray  # uint8 [T, N, S, S]: each face's path, T = approach + steps + 1
    target_p: np.ndarray  # [T, N]: the guide's probability of the target along the path
    probabilities: np.ndarray  # [N, C]: the guide's reading of the last frame
    reached: np.ndarray  # bool [N]: the target is the guide's top emotion at the end
    climb_from: int  # index of the first frame of the climb (the target's own code)
    codes: torch.Tensor  # [N, D]: the final codes


def search(renderer, guide: torch.nn.Module, guide_size: int, sources: np.ndarray, targets: list[str],
           config: SearchConfig = SearchConfig(), start: np.ndarray | None = None, hold=None) -> SearchResult:
    """Search for each source sketch (uint8 [N, S, S]) the code that reads as its target.

    `start`: emotion weights [N, C] to start from (default: neutral, or an even blend when the model
    has no neutral). `hold`: a context manager held for each step's use of the networks alone (the mirror's
    model lock), so that other requests run between the steps."""
    import contextlib

    from ..tensors import to_tensor, to_uint8
    from .paths import lerp

    hold = hold if hold is not None else contextlib.nullcontext()

    classes = renderer.classes
    n = len(sources)
    if len(targets) != n:
        raise EmosketchError(f"{n} faces but {len(targets)} targets")
    y = torch.tensor([renderer.bank.index(t) for t in targets], device=renderer.device)
    if start is None:
        start = np.zeros((n, len(classes)))
        if "neutral" in classes:
            start[:, classes.index("neutral")] = 1.0
        else:
            start[:] = 1.0 / len(classes)
    with hold:
        codes = renderer.bank.codes(config.seed, config.psi).float()
        s_start = renderer.bank.blend(np.asarray(start, np.float64), codes).float()
    s_target = codes[y]
    x = to_tensor(sources, renderer.device)
    G = renderer.nets.generator
    for p in list(G.parameters()) + list(guide.parameters()):
        p.requires_grad_(False)

    def read(img: torch.Tensor) -> torch.Tensor:
        seen = img if img.shape[-1] == guide_size else F.interpolate(
            img, size=guide_size, mode="bilinear", align_corners=False, antialias=True)
        return F.log_softmax(guide(seen).float(), dim=1)

    frames, target_p = [], []
    with torch.no_grad():  # the approach: a straight line in style space
        for t in np.arange(config.approach) / config.approach:
            with hold:
                img = G(x, lerp(s_start, s_target, float(t)))
                p = read(img).gather(1, y[:, None])[:, 0].exp().cpu().numpy()
            frames.append(to_uint8(img[:, 0]))
            target_p.append(p)
    s = s_target.clone().requires_grad_(True)
    opt = torch.optim.Adam([s], lr=config.lr)
    done = torch.zeros(n, dtype=torch.bool, device=renderer.device)
    for step in range(config.steps + 1):
        with hold:
            img = G(x, s)
            logp = read(img)
            lp = logp.gather(1, y[:, None])[:, 0]
            done |= lp.detach().exp() >= config.stop_at
            last = step == config.steps or bool(done.all())
            if not last:
                opt.zero_grad()
                (-lp.masked_fill(done, 0.0)).sum().backward()
        frames.append(to_uint8(img.detach()[:, 0]))
        target_p.append(lp.detach().exp().cpu().numpy())
        if last:
            break
        keep = s.detach().clone()
        opt.step()
        with torch.no_grad():  # faces that arrived stay where they are (Adam's momentum would move them)
            s[done] = keep[done]
    probs = logp.detach().exp().cpu().numpy()
    total = config.approach + config.steps + 1
    while len(frames) < total:  # faces that all stopped early hold their last frame
        frames.append(frames[-1])
        target_p.append(target_p[-1])
    reached = probs.argmax(1) == y.cpu().numpy()
    return SearchResult(np.stack(frames), np.stack(target_p), probs, reached, config.approach, s.detach())


@dataclass
class SearchRun:
    """What `emosketch search` did: the face, the path's readings, and the files written."""

    face: str
    target: str
    reached: bool
    target_p: list[float]  # along the path
    top: str  # the guide's top emotion at the end
    climb_from: int
    written: list


def search_video(checkpoint, guide_path, target: str, outputs: list, *, face, start: str = "neutral",
                 config: SearchConfig = SearchConfig(), device: str = "auto", side: bool = True,
                 fps: float = 8.0) -> SearchRun:
    """The whole `emosketch search` job: a face, a search for `target` from `start`, and the path
    written to each output (GIF/MP4 side by side with the source, .npz with the model's pixels).
    `face`: where the face comes from (interpolate.animate.FaceSource)."""
    from ..emotion_cnn import load_sketch_classifier
    from ..frames import Frames
    from .render import Renderer, write_outputs

    renderer = Renderer(checkpoint, device)
    guide, state = load_sketch_classifier(guide_path, renderer.classes, renderer.device, "the search's guide",
                                          "the generator's")
    source = face.load(renderer)
    w = np.zeros((1, len(renderer.classes)))
    w[0, renderer.bank.index(start)] = 1.0
    res = search(renderer, guide, int(state["image_size"]), source.sketch[None], [target], config, start=w)
    marks = [{"step": i, "p": round(float(p), 4)} for i, p in enumerate(res.target_p[:, 0])]
    frames = Frames(res.frames[:, 0], fps, marks)
    written = write_outputs(frames, outputs, original=source.original if side else None)
    return SearchRun(source.how, renderer.classes[renderer.bank.index(target)], bool(res.reached[0]),
                     [float(p) for p in res.target_p[:, 0]], renderer.classes[int(res.probabilities[0].argmax())],
                     res.climb_from, written)
