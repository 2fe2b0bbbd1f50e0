"""Small datasets in each real layout, built from synthetic faces (as photos would be: gray, on paper)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from emosketch.datasets.synthetic import random_identity, render

BAD_CORRUPT = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 8  # a truncated PNG


def face(seed: int, emotion: str, size: int = 64) -> np.ndarray:
    return render(random_identity(seed=seed), emotion, 1.0, size)


def write_img(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)


def make_affectnet(root: Path) -> dict:
    """5 good rows, codes 8/9/10, a bad code, a missing file and a corrupt file."""
    images = root / "Manually_Annotated_Images"
    lists = root / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True)
    header = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
              "expression", "valence", "arousal"]
    rows = {"training.csv": [], "validation.csv": []}
    for i, code in enumerate([1, 2, 6, 0, 3]):
        name = f"{i}/img{i}.jpg"
        canvas = np.full((120, 100), 255, np.uint8)
        canvas[20:84, 18:82] = face(i, ["neutral", "happy", "sad", "surprise", "fear", "disgust", "anger"][code])
        write_img(images / name, canvas)
        rows["training.csv" if i < 3 else "validation.csv"].append([name, 18, 20, 64, 64, "", code, 0, 0])
    for code in (8, 9, 10):
        write_img(images / f"x/{code}.jpg", face(9, "neutral"))
        rows["training.csv"].append([f"x/{code}.jpg", 0, 0, 64, 64, "", code, 0, 0])
    rows["training.csv"].append(["x/bad.jpg", 0, 0, 64, 64, "", "happy?", 0, 0])
    rows["training.csv"].append(["x/missing.jpg", 0, 0, 64, 64, "", 1, 0, 0])
    (images / "x").mkdir(parents=True, exist_ok=True)
    (images / "x/corrupt.jpg").write_bytes(BAD_CORRUPT)
    rows["training.csv"].append(["x/corrupt.jpg", 0, 0, 64, 64, "", 2, 0, 0])
    for name, body in rows.items():
        with open(lists / name, "w", newline="") as fh:
            csv.writer(fh).writerows([header] + body)
    return {"kept": 5, "skipped": {"not an emotion: none": 1, "not an emotion: uncertain": 1,
                                   "not an emotion: no-face": 1, "bad label": 1, "missing file": 1,
                                   "corrupt image": 1}}


def make_affectnet96(root: Path) -> dict:
    rows = [["pth", "label", "relFCs"]]
    for i, emotion in enumerate(["anger", "contempt", "happy", "happy", "sad", "neutral"]):
        write_img(root / emotion / f"image{i:07d}.png", face(i, emotion, 96))
        rows.append([f"{emotion}/image{i:07d}.png", emotion, 0.9])
    rows.append(["sad/huge-text.png", "sad", 0.5])
    (root / "sad" / "huge-text.png").write_text("not really a png")
    with open(root / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return {"kept": 6, "skipped": {"not an image": 1}}


def make_fer2013(path: Path) -> dict:
    lines = ["emotion,pixels,Usage"]
    usage = ["Training", "Training", "PublicTest", "PrivateTest", "Training", "Training"]
    for i, code in enumerate([3, 4, 0, 6, 5, 1]):  # happy, sad, anger, neutral, surprise, disgust
        emotion = ["anger", "disgust", "fear", "happy", "sad", "surprise", "neutral"][code]
        pixels = cv2.resize(face(i, emotion), (48, 48), interpolation=cv2.INTER_AREA)
        lines.append(f"{code},{' '.join(map(str, pixels.ravel()))},{usage[i]}")
    lines.append("3,1 2 3,Training")  # too few pixels
    lines.append("x,1 2 3,Training")  # bad label
    path.write_text("\n".join(lines) + "\n")
    return {"kept": 6, "skipped": {"corrupt image": 1, "bad label": 1}}


def make_ferplus(root: Path) -> dict:
    votes = {  # neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF
        "fer0.png": [2, 8, 0, 0, 0, 0, 0, 0, 0, 0],  # happy, 8 of 10
        "fer1.png": [6, 0, 0, 4, 0, 0, 0, 0, 0, 0],  # neutral, 6 of 10
        "fer2.png": [5, 0, 0, 5, 0, 0, 0, 0, 0, 0],  # no majority (exactly half)
        "fer3.png": [1, 0, 0, 0, 0, 0, 0, 0, 8, 1],  # unknown
        "fer4.png": [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face
        "fer5.png": [0, 0, 0, 0, 7, 0, 0, 3, 0, 0],  # anger
    }
    for split in ("FER2013Train", "FER2013Valid"):
        rows = []
        for i, (name, v) in enumerate(votes.items()):
            write_img(root / split / name, cv2.resize(face(i, "neutral"), (48, 48)))
            rows.append([name, "(0, 0, 48, 48)", *v])
        with open(root / split / "label.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
    return {"kept": 6, "skipped": {"FER+: no majority": 2, "FER+: unknown or not a face": 4}}


def make_folder(root: Path) -> dict:
    for i, emotion in enumerate(["happy", "happy", "Sadness", "angry", "angry", "happy"]):
        write_img(root / emotion / f"{i}.png", face(i, emotion.lower().replace("sadness", "sad").replace("angry", "anger")))
    (root / "happy" / "notes.txt").write_text("a text file among the pictures")
    write_img(root / "happy" / "tiny.png", np.zeros((1, 1), np.uint8))
    (root / "angry" / "cut.png").write_bytes(BAD_CORRUPT)
    return {"kept": 6, "skipped": {"not an image": 1, "image too small": 1, "corrupt image": 1}}
