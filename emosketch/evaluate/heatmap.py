"""A confusion-matrix heatmap as a PNG, drawn with OpenCV (rows: true class, columns: predicted)."""

from __future__ import annotations

import cv2
import numpy as np

from ..text import put_text, text_size


def confusion_heatmap(confusion: np.ndarray, classes: list[str], title: str = "", cell: int = 56) -> np.ndarray:
    """BGR image: each row normalised to the true class's count, the count written in each cell."""
    m = np.asarray(confusion, np.float64)
    n = len(classes)
    rows = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    left, top = 100, 44 + (24 if title else 0)
    img = np.full((top + n * cell + 12, left + n * cell + 12, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    if title:
        put_text(img, title, (8, 22), font, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    for i in range(n):
        for j in range(n):
            shade = int(round(255 * (1 - rows[i, j])))
            colour = (shade, 255, shade) if i == j else (shade, shade, 255)  # BGR: right green, wrong red
            x0, y0 = left + j * cell, top + i * cell
            cv2.rectangle(img, (x0, y0), (x0 + cell - 2, y0 + cell - 2), colour, -1)
            text = str(int(m[i, j]))
            ink = (255, 255, 255) if rows[i, j] > 0.55 else (0, 0, 0)
            size = text_size(text, font, 0.42, 1)[0]
            put_text(img, text, (x0 + (cell - size[0]) // 2, y0 + (cell + size[1]) // 2), font, 0.42, ink, 1, cv2.LINE_AA)
        put_text(img, classes[i][:11], (6, top + i * cell + cell // 2 + 4), font, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        name = classes[i][:8]
        width = text_size(name, font, 0.36, 1)[0][0]
        put_text(img, name, (left + i * cell + (cell - width) // 2, top - 6), font, 0.36, (0, 0, 0), 1, cv2.LINE_AA)
    put_text(img, "true \\ predicted", (6, top - 26), font, 0.4, (80, 80, 80), 1, cv2.LINE_AA)
    return img
