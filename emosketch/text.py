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
