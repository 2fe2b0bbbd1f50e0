"""StyleGAN2 models in the interpolate stack: emotion codes in W, found two ways, and a renderer
that timelines, the agent, videos and packs use like the StarGAN one.

- A conditional snapshot whose classes are emotions: emotion e's code at a seed is
  mapping(z_seed, onehot(e)), so paths run between the class-conditioned ws.
- An unconditional face model: emotion directions in W, fitted to the scores that emosketch's
  face classifier gives to sampled faces (InterFaceGAN: a linear model of each emotion's score in
  W; its normal is the direction). Emotion e's code is w_seed + strength_e * d_e.

Codes are the flattened ws [num_ws * w_dim], so StyleBank's means, truncation and blends apply.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..emotions import canonical
from ..errors import EmosketchError
from .paths import StyleBank
from .render import Renderer, Source, check_codes, check_counts


class EmotionMapping:
    """z and an emotion index -> flattened ws, the shape of mapping StyleBank walks."""

    def __init__(self, G, classes: list[str]):
        self.G, self.classes = G, list(classes)
        self.latent_dim = G.z_dim
        self.latents = G.latents
        if G.c_dim:
            self.rows = [G.class_index(e) for e in self.classes]
        else:
            d = G.directions
            order = [canonical(e) for e in d["classes"]]
            self.vectors = torch.stack([torch.as_tensor(d["vectors"][order.index(e)]) for e in self.classes]).float()

    def __call__(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        device = z.device
        if self.G.c_dim:
            c = torch.zeros(len(z), self.G.c_dim, device=device)
            c[torch.arange(len(z)), torch.as_tensor([self.rows[int(i)] for i in y])] = 1
            return self.G.mapping(z, c).flatten(1)
        ws = self.G.mapping(z, None)
        return (ws + self.vectors.to(device)[y.long()][:, None, :]).flatten(1)


def emotion_classes(G) -> list[str]:
    """The emotions a StyleGAN2 model can show: its class names, or its fitted directions'."""
    if G.c_dim:
        if not G.class_names:
            raise EmosketchError("this conditional StyleGAN2 model's classes have no names; name them with "
                                 "`emosketch stylegan2 convert --pickle P --classes neutral,happy,... --out M.pt`")
        try:
            return [canonical(n) for n in G.class_names]
        except ValueError as exc:
            raise EmosketchError(f"the model's classes {G.class_names} are not all emotions ({exc})") from None
    if not G.directions:
        raise EmosketchError("this unconditional StyleGAN2 model has no emotion directions yet; find them with "
                             "`emosketch stylegan2 directions --model M --classifier C --out M-emotions.pt`")
    return [canonical(n) for n in G.directions["classes"]]


class StyleGanRenderer(Renderer):
    """Frames of a StyleGAN2 model's face at a seed, moved through emotions in W. Photo models'
    images are sketched with a generator checkpoint's (or dataset's) face crop and sketch settings,
    the crop fixed from the first face so the frames do not jitter."""

    def __init__(self, model: str | Path, device: str = "auto", batch: int = 32, mean_samples: int = 1000,
                 settings: str | Path | None = None, noise: str = "const"):
        from ..gan.stylegan2 import open_stylegan2
        from ..gan.stylegan2.jobs import sketch_settings
        from ..tensors import pick_device

        check_counts(batch, mean_samples)
        self.device = pick_device(device)
        self.G = open_stylegan2(model, self.device)
        self.classes = emotion_classes(self.G)
        self.settings, self.size, _ = sketch_settings(settings)
        self.batch, self.noise = batch, noise
        self.box = None
        self.bank = StyleBank(EmotionMapping(self.G, self.classes), self.classes, self.device, mean_samples)
        self.name = Path(model).name

    def source(self, image=None, data=None, index: int = 0, kind: str = "auto", seed: int = 0) -> Source:
        """The model's own face at `seed` (its anchor emotion); a StyleGAN2 model redraws no photo."""
        if image is not None or data is not None:
            raise EmosketchError("a StyleGAN2 model draws its own face: drop --input/--data and pick it with --seed")
        from ..datasets.face import detect
        from ..gan.stylegan2.jobs import to_gray, to_pixels

        code = self.bank.anchor(self.bank.codes(seed))[None]
        with torch.no_grad():
            gray = to_gray(to_pixels(self._images(code)))[0]
        box = detect(gray) if self.G.draws == "photo" else None
        self.box = box if box is not None else (0, 0, gray.shape[1], gray.shape[0])
        how = f"StyleGAN2 {self.name} seed {seed}"
        if self.G.draws == "photo":  # a face_note for the command to say, as for a photo
            how += " -> sketch (haar)" if box is not None else " -> sketch (whole picture: no frontal face found)"
        return Source(self._frames(gray[None])[0], gray, how)

    def _images(self, codes: torch.Tensor) -> torch.Tensor:
        ws = codes.to(self.device).reshape(len(codes), self.G.num_ws, self.G.w_dim)
        return self.G.synthesis(ws, noise_mode=self.noise)

    def _frames(self, gray: np.ndarray) -> np.ndarray:
        import cv2

        if self.G.draws == "sketch":
            return np.stack([cv2.resize(g, (self.size, self.size), interpolation=cv2.INTER_AREA) for g in gray])
        from ..datasets.photo import photo_to_sketch

        return np.stack([photo_to_sketch(g, self.settings, self.size, self.box)[0] for g in gray])

    @torch.no_grad()
    def render(self, source: Source, codes: torch.Tensor, batch: int | None = None) -> np.ndarray:
        """The sketched frame of every code: uint8 [T, size, size]."""
        from ..gan.stylegan2.jobs import auto_batch, to_gray, to_pixels

        n = min(batch or self.batch, auto_batch(self.G))
        check_counts(n, 1)
        check_codes(codes, self.bank.means.shape[1])
        out = []
        for s in range(0, len(codes), n):
            out.append(self._frames(to_gray(to_pixels(self._images(codes[s:s + n])))))
            if self.drawn is not None:
                self.drawn(len(out[-1]))
        return np.concatenate(out) if out else np.zeros((0, self.size, self.size), np.uint8)


def _auc(score: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney), None without both kinds of sample."""
    pos, neg = score[positive], score[~positive]
    if not len(pos) or not len(neg):
        return None
    ranks = np.empty(len(score))
    ranks[np.argsort(score, kind="mergesort")] = np.arange(1, len(score) + 1)
    return float((ranks[positive].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def classifier_reader(classifier: str | Path, device: torch.device | str = "cpu"):
    """A face classifier as a function from raw generator images to emotion probabilities: photos
    go through its face crop (and its sketch, when it reads sketches). Returns (read, classes)."""
    from ..emotion_cnn import load_classifier, predict
    from ..evaluate.classify import prepare_image
    from ..gan.stylegan2.jobs import to_gray, to_pixels

    model, state = load_classifier(classifier, device)

    def read(images: torch.Tensor) -> np.ndarray:
        gray = to_gray(to_pixels(images))
        inputs = np.stack([prepare_image(g, state, "photo")[0] for g in gray])
        return predict(model, inputs, int(state["image_size"]), device=device)

    return read, list(state["classes"])


@torch.no_grad()
def find_directions(G, read, classes: list[str], samples: int = 2000, first_seed: int = 0, psi: float = 1.0,
                    strength: float = 2.5, ridge: float = 1.0, holdout: float = 0.2, batch: int = 64,
                    edit_faces: int = 100, show_progress: bool = True) -> dict:
    """Emotion directions in W for an unconditional model (InterFaceGAN's recipe).

    Sample `samples` faces (seeds from `first_seed`), read each with `read` (images -> probabilities
    over `classes`, e.g. classifier_reader's), and fit, per emotion, a ridge regression of its
    centred log-probability on w. The unit normal is the direction; its step is `strength`
    standard deviations of the samples' w along it. Held-out faces score each direction: the
    correlation r between w's projection and the score, the AUC with which the projection picks
    the faces whose top emotion it is, and up to `edit_faces` of them moved one step along each
    direction and read again (the emotion's mean probability and top-1 share, before and after)."""
    from ..gan.stylegan2.jobs import synthesize
    from ..progress import progress

    if G.c_dim:
        raise EmosketchError("this model is conditional: its classes are its emotions, so it needs no directions "
                             "(name them with `emosketch stylegan2 convert --classes`)")
    if samples < 20:
        raise EmosketchError(f"samples {samples}: fit directions on at least 20 faces (thousands are better)")
    device = next(G.parameters()).device
    seeds = list(range(first_seed, first_seed + samples))
    ws, probs = [], []
    bar = progress(samples, "directions", "face", enabled=show_progress)
    for s in range(0, samples, batch):
        res = synthesize(G, seeds[s:s + batch], None, psi, None, "const")
        probs.append(read(res["images"]))
        ws.append(res["ws"][:, 0].numpy())
        bar.update(len(res["z"]))
    bar.close()
    w = np.concatenate(ws).astype(np.float64)
    p = np.concatenate(probs).astype(np.float64)
    logp = np.log(np.clip(p, 1e-6, 1.0))
    score = logp - logp.mean(1, keepdims=True)
    top = p.argmax(1)
    n_test = max(1, int(round(samples * holdout)))
    train, test = slice(0, samples - n_test), slice(samples - n_test, samples)
    mu, sd = w[train].mean(0), w[train].std(0) + 1e-8
    x = (w - mu) / sd
    vectors, scores = [], {}
    for i, e in enumerate(classes):
        xt, yt = x[train], score[train, i] - score[train, i].mean()
        beta = np.linalg.solve(xt.T @ xt + ridge * np.eye(x.shape[1]), xt.T @ yt)
        d = beta / sd  # back to W's own axes
        d /= np.linalg.norm(d) + 1e-12
        proj = w @ d
        r = float(np.corrcoef(proj[test], score[test, i])[0, 1]) if n_test > 2 else None
        auc = _auc(proj[test], top[test] == i)
        vectors.append(d * strength * proj[train].std())
        scores[e] = {"r": r, "auc": auc, "top_share": float((top == i).mean())}
    # The test that matters: held-out faces moved along each direction, read again.
    held = torch.as_tensor(w[test][:edit_faces], dtype=torch.float32, device=device)
    for i, e in enumerate(classes):
        moved = held + torch.as_tensor(vectors[i], dtype=torch.float32, device=device)
        after = np.concatenate([read(G.synthesis(moved[s:s + batch, None].repeat(1, G.num_ws, 1), noise_mode="const"))
                                for s in range(0, len(moved), batch)])
        before = p[test][:len(held)]
        scores[e].update({"p_before": float(before[:, i].mean()), "p_after": float(after[:, i].mean()),
                          "top_before": float((before.argmax(1) == i).mean()),
                          "top_after": float((after.argmax(1) == i).mean()), "edited_faces": len(held)})
    return {"classes": classes, "vectors": torch.as_tensor(np.stack(vectors), dtype=torch.float32),
            "strength": strength, "samples": samples, "first_seed": first_seed, "psi": psi,
            "scores": scores}
