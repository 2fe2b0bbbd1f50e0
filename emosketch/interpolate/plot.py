"""A picture of an agent run: its channels over time, the stimuli that hit them, the emotion it
showed, and a strip of frames beneath on the same time axis (drawn with OpenCV, BGR)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..atomic import atomic_file
from ..errors import EmosketchError
from ..text import put_text
from .agent import CHANNELS, Trace

COLOURS = {  # BGR
    "fear": (160, 40, 150), "mad": (40, 40, 220), "joy": (0, 170, 240), "love": (160, 110, 250),
    "sad": (200, 110, 30), "surprise": (60, 170, 60), "power": (70, 70, 70)}
FONT = cv2.FONT_HERSHEY_SIMPLEX


def agent_plot(trace: Trace, frames: np.ndarray | None = None, width: int = 960, strip: int = 10) -> np.ndarray:
    """BGR image: channel levels (one line each), stimulus markers and the dominant emotion along
    time, with `strip` frames (uint8 [T, S, S]) at their times underneath."""
    left, right, top, chart_h = 56, 16, 40, 240
    plot_w = width - left - right
    t_end = float(trace.times[-1]) if len(trace.times) > 1 else 1.0
    t_end = max(t_end, 1e-6)
    y_max = max(1.0, float(trace.levels.max()) if trace.levels.size else 1.0)
    cell = plot_w // strip if frames is not None and len(frames) else 0
    height = top + chart_h + 56 + (cell + 24 if cell else 0)
    img = np.full((height, width, 3), 255, np.uint8)

    def x_of(t: float) -> int:
        return int(round(left + plot_w * t / t_end))

    def y_of(v: float) -> int:
        return int(round(top + chart_h * (1.0 - v / y_max)))

    # axes, grid and labels
    for v in np.linspace(0.0, y_max, 5):
        y = y_of(v)
        cv2.line(img, (left, y), (left + plot_w, y), (225, 225, 225), 1)
        put_text(img, f"{v:.2f}", (6, y + 4), FONT, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    step = max(1, int(np.ceil(t_end / 12)))
    for s in range(0, int(t_end) + 1, step):
        x = x_of(s)
        cv2.line(img, (x, top + chart_h), (x, top + chart_h + 4), (90, 90, 90), 1)
        put_text(img, f"{s}s", (x - 8, top + chart_h + 18), FONT, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    cv2.rectangle(img, (left, top), (left + plot_w, top + chart_h), (120, 120, 120), 1)
    # channel curves
    for i, c in enumerate(CHANNELS):
        pts = np.stack([[x_of(t) for t in trace.times], [y_of(v) for v in trace.levels[:, i]]], 1).astype(np.int32)
        cv2.polylines(img, [pts], False, COLOURS[c], 2, cv2.LINE_AA)
    # legend
    x = left
    for c in CHANNELS:
        cv2.line(img, (x, 20), (x + 18, 20), COLOURS[c], 3)
        put_text(img, c, (x + 22, 24), FONT, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        x += 34 + 9 * len(c)
    # stimuli as triangles on the time axis
    for s in trace.stimuli:
        if s.t <= t_end:
            x, y = x_of(s.t), top + chart_h
            tri = np.array([[x, y - 10], [x - 6, y], [x + 6, y]], np.int32)
            cv2.fillPoly(img, [tri], COLOURS[s.channel])
    # the emotion shown: the heaviest weight, as a labelled band under the axis
    band_y = top + chart_h + 28
    shown = [trace.classes[int(np.argmax(w))] for w in trace.weights]
    start, segment = 0, 0
    for i in range(1, len(shown) + 1):
        if i == len(shown) or shown[i] != shown[start]:
            x0, x1 = x_of(trace.times[start]), x_of(trace.times[i - 1]) if i < len(shown) else left + plot_w
            shade = (235, 215)[segment % 2]
            cv2.rectangle(img, (x0, band_y), (max(x0 + 1, x1), band_y + 18), (shade, shade, shade), -1)
            if x1 - x0 > 9 * len(shown[start]):
                put_text(img, shown[start], (x0 + 3, band_y + 13), FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            start, segment = i, segment + 1
    put_text(img, "shows", (6, band_y + 13), FONT, 0.4, (90, 90, 90), 1, cv2.LINE_AA)
    # the frame strip, each frame under its time
    if cell:
        y0 = band_y + 30
        picks = np.linspace(0, len(frames) - 1, strip).round().astype(int)
        for k, i in enumerate(picks):
            x0 = left + k * cell
            f = cv2.resize(frames[i], (cell - 4, cell - 4), interpolation=cv2.INTER_AREA)
            img[y0:y0 + cell - 4, x0 + 2:x0 + cell - 2] = f[..., None]
            cv2.rectangle(img, (x0 + 1, y0 - 1), (x0 + cell - 2, y0 + cell - 4), (180, 180, 180), 1)
            t = float(trace.times[min(i, len(trace.times) - 1)])
            put_text(img, f"{t:.1f}s", (x0 + cell // 2 - 14, y0 + cell + 14), FONT, 0.4, (60, 60, 60), 1,
                        cv2.LINE_AA)
    return img


def write_agent_plot(path: str | Path, trace: Trace, frames: np.ndarray | None = None) -> Path:
    """agent_plot as a PNG file, written atomically."""
    ok, data = cv2.imencode(".png", agent_plot(trace, frames))
    if not ok:
        raise EmosketchError(f"{path}: could not encode the plot as PNG")
    with atomic_file(path) as tmp:
        Path(tmp).write_bytes(data.tobytes())
    return Path(path)
