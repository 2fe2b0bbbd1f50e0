"""Text that OpenCV can draw. cv2.putText and cv2.getTextSize take only ASCII: a lone surrogate (from
a non-UTF-8 file name, an .npz mark or a meta.json class) crashes the process with a segmentation
fault, and other non-ASCII text draws as '?'. Every label goes through drawable() first."""

from __future__ import annotations

import cv2
import numpy as np


def drawable(text: str) -> str:
    """Printable ASCII: other characters (surrogates included) become backslash escapes, control
    characters a space."""
    ascii_text = str(text).encode("ascii", "backslashreplace").decode("ascii")
    return "".join(c if " " <= c <= "~" else " " for c in ascii_text)


def put_text(img: np.ndarray, text: str, org: tuple[int, int], font: int, scale: float, colour,
             thickness: int = 1, line: int = cv2.LINE_AA) -> None:
    """cv2.putText on drawable(text)."""
    cv2.putText(img, drawable(text), org, font, scale, colour, thickness, line)


def text_size(text: str, font: int, scale: float, thickness: int = 1) -> tuple[tuple[int, int], int]:
    """cv2.getTextSize on drawable(text)."""
    return cv2.getTextSize(drawable(text), font, scale, thickness)


def labelled_columns(grid: np.ndarray, tile: int, names: list[str]) -> np.ndarray:
    """A sample grid (columns of `tile` px: the source, then each emotion) with a header row naming each column,
    in one size that fits the longest (a sample grid had no labels: which column was which was a guess)."""
    head = np.full((max(12, tile // 4), grid.shape[1]), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = 0.45  # one size for every name: the largest at which the longest fits its column
    while scale > 0.2 and max(text_size(n, font, scale)[0][0] for n in names) > tile - 2:
        scale -= 0.05
    for i, name in enumerate(names):
        (w, h), _ = text_size(name, font, scale)
        put_text(head, name, (i * tile + max(1, (tile - w) // 2), (head.shape[0] + h) // 2), font, scale, 0, 1,
                 cv2.LINE_AA)
    return np.vstack([head, grid])
