"""The Frames contract: uint8 [T, H, W] grayscale frames with fps and per-frame marks, on disk as
a folder of images, an animated GIF, an MP4 or an .npz (frames, fps, marks as JSON)."""

from __future__ import annotations

import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .atomic import atomic_dir, atomic_file, check_place
from .errors import EmosketchError, is_real, shown

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
GIF_SUFFIXES = {".gif"}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm"}
WRITE_VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv"}  # the bundled ffmpeg writes these (no .webm encoder)
FRAME_FILE = re.compile(r"frame\d{5,}\.png")  # the files of a folder of frames that write_frames writes
DEFAULT_FPS = 12.0
# The image formats emosketch reads (PIL's names; PPM covers PGM and PBM), by the bytes they start with:
# every decoder (PIL's and OpenCV's) sees only these, so an EPS never reaches Ghostscript.
IMAGE_FORMATS = {"PNG": (b"\x89PNG\r\n\x1a\n",), "JPEG": (b"\xff\xd8\xff",), "GIF": (b"GIF87a", b"GIF89a"),
                 "BMP": (b"BM",), "WEBP": (b"RIFF",), "TIFF": (b"II*\x00", b"MM\x00*"),
                 "PPM": (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6")}
READS = "PNG, JPEG, GIF, BMP, WebP, TIFF and PGM/PPM"
MIN_FPS, MAX_FPS = 0.02, 1000.0  # frames a second: a pack's frame period is a 16-bit count of milliseconds, at least 1
MAX_FRAMES = 20_000  # frames of one animation (a GIF, a video, a timeline or a pack) at most; a GIF of more pixels
# in all is refused too
MAX_FRAME_PIXELS = 512 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000  # a still image of more is refused before it is decoded (datasets.decode's bound)
MAX_FILE_BYTES = 512 * 1024 * 1024  # a still image file of more is not read (50 M pixels of 16-bit RGB: 300 MB)
MAX_NPZ_BYTES = MAX_FRAME_PIXELS + 64 * 1024 * 1024  # an .npz of frames, unpacked: its frames and marks


def _check_fps(fps: object) -> None:
    """Refuse a frame rate that is not a number from MIN_FPS to MAX_FPS (NaN, a bool or a string included)."""
    if not is_real(fps) or not MIN_FPS <= fps <= MAX_FPS:
        raise EmosketchError(f"fps must be a number from {MIN_FPS:g} to {MAX_FPS:g}, got {shown(fps)}")


@dataclass
class Frames:
    """A run of grayscale frames; 255 = paper, 0 = ink, as sketches are."""

    frames: np.ndarray  # uint8 [T, H, W]
    fps: float = DEFAULT_FPS  # frames per second
    marks: list[dict[str, Any]] = field(default_factory=list)  # per frame, e.g. {"sequence": "happy"}

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Refuse what write_frames would write and read_frames refuse, or what would fail deep inside an encoder:
        frames that are not uint8 [T, H, W] with T, H and W at least 1, a frame rate that is not a number from
        MIN_FPS to MAX_FPS, marks that are not one JSON object a frame. Run again by write_frames, since a
        Frames can be changed after it is made."""
        f = self.frames
        if not isinstance(f, np.ndarray) or f.ndim != 3 or f.dtype != np.uint8 or 0 in f.shape:
            what = f"{f.dtype} {f.shape}" if isinstance(f, np.ndarray) else type(f).__name__
            raise EmosketchError(f"frames must be uint8 [T, H, W] with T, H and W at least 1, got {what}")
        _check_fps(self.fps)
        if not isinstance(self.marks, list) or not all(isinstance(m, dict) for m in self.marks):
            raise EmosketchError(f"marks must be a list of dicts, one a frame (e.g. [{{'sequence': 'happy'}}]), got "
                                 f"{shown(self.marks)}")
        if self.marks and len(self.marks) != len(f):
            raise EmosketchError(f"{len(self.marks)} marks for {len(f)} frames")
        try:
            json.dumps(self.marks)
        except (TypeError, ValueError) as exc:  # a numpy number, a set, a loop: an .npz could not hold them
            raise EmosketchError(f"marks must hold JSON values (numbers, strings, lists, dicts): {exc}") from None

    def __len__(self) -> int:
        return len(self.frames)


def to_gray(image: np.ndarray) -> np.ndarray:
    """Any decoded image (gray, BGR, BGRA, 16-bit, float) to uint8 gray; alpha is laid on white paper."""
    img = np.asarray(image)
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype.kind == "f":
        scale = 255.0 if img.size and float(np.nanmax(img)) <= 1.0 else 1.0
        img = np.clip(np.nan_to_num(img) * scale, 0, 255).astype(np.uint8)
    elif img.dtype == bool:
        img = img.astype(np.uint8) * 255
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        alpha = img[:, :, 3:4].astype(np.float32) / 255.0
        rgb = img[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        img = rgb.round().astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    raise ValueError(f"unsupported image shape {img.shape}")


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


MAX_JPEG_SCANS = 100  # a progressive JPEG has about 10; each costs a pass over the picture (20,000 in 889 KB: 42 s)


def jpeg_scans(data: bytes) -> int:
    """How many scans (start-of-scan markers) a JPEG holds: 0xFF 0xDA appears nowhere else, since the coded
    data stuffs every 0xFF with a 0x00."""
    return data.count(b"\xff\xda")


def image_format(data: bytes) -> str | None:
    """The IMAGE_FORMATS name of image bytes by their signature, or None for anything else."""
    for name, magics in IMAGE_FORMATS.items():
        if data.startswith(magics) and (name != "WEBP" or data[8:12] == b"WEBP"):
            return name
    return None


class HeaderError(EmosketchError):
    """An image header that cannot be read (bomb: Pillow's decompression-bomb refusal); `detail` says why."""

    def __init__(self, path, bomb: bool, detail: str):
        self.bomb, self.detail = bomb, detail
        super().__init__(f"{path}: image too large: decompression bomb" if bomb else
                         f"{path}: not a readable image ({detail})")


def header_size(data: bytes, path: Path | str = "image", formats: tuple[str, ...] | None = None) -> tuple[int, int]:
    """(width, height) that an image's header claims, read without decoding its pixels; `formats` (Pillow's
    names) limits the decoders tried. Raises HeaderError."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data), formats=list(formats) if formats else None) as img:
            return img.size
    except Image.DecompressionBombError:  # Pillow refuses to open one past twice its own pixel limit
        raise HeaderError(path, True, "decompression bomb") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise HeaderError(path, False, str(exc)[:80]) from None


class ReadError(EmosketchError):
    """A file read_regular will not or cannot read; `reason` says which in a few words."""

    def __init__(self, path, reason: str, detail: str = ""):
        self.reason, self.detail = reason, detail
        super().__init__(f"{path}: {self.why}")

    @property
    def why(self) -> str:
        """The reason and its detail, without the path."""
        return f"{self.reason}{f' ({self.detail})' if self.detail else ''}"


def read_regular(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, at most `limit` of them. A pipe, socket or device is refused before it is read
    (opened without blocking: a FIFO with no writer would wait for ever, /dev/zero never ends). Raises
    FileNotFoundError for a missing file, ReadError for the rest."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise ReadError(path, "cannot read", exc.strerror or str(exc)) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ReadError(path, "a folder, not a file", "name one file in it")
        raise ReadError(path, "not a regular file", "a pipe, socket or device is not read")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ReadError(path, "file too large", f"more than {limit // (1024 * 1024)} MB")
    return data


def read_image(path: Path) -> np.ndarray:
    """Read one still image as uint8 gray, or raise EmosketchError naming the file."""
    try:
        raw = read_regular(path)
    except FileNotFoundError:
        raise EmosketchError(f"{path}: no such file") from None
    if not raw:
        raise EmosketchError(f"{path}: file is empty")
    kind = image_format(raw[:16])
    if kind is None:
        raise EmosketchError(f"{path}: not a readable image (emosketch reads {READS})")
    scans = jpeg_scans(raw) if kind == "JPEG" else 0
    if scans > MAX_JPEG_SCANS:
        raise EmosketchError(f"{path}: a JPEG of {scans:,} scans (at most {MAX_JPEG_SCANS}: each is a pass over "
                             "the picture)")
    w, h = header_size(raw, path)  # before anything is decoded: a 150 KB PNG can claim 30000x30000
    if w * h > MAX_IMAGE_PIXELS:
        raise EmosketchError(f"{path}: {w}x{h} is more than {MAX_IMAGE_PIXELS:,} pixels (a decompression bomb?)")
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise EmosketchError(f"{path}: not a readable image")
    return to_gray(image)  # OpenCV decodes colour as BGR(A), the order to_gray expects


def _regular(path: Path) -> None:
    """A pipe, socket or device would block the read or never end: only files and folders are read."""
    if not (path.is_file() or path.is_dir()):
        raise EmosketchError(f"{path}: not a regular file or folder (a pipe, socket or device is not read)")


def _read_folder(path: Path, fps: float | None) -> Frames:
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural_key)
    if not files:
        raise EmosketchError(f"{path}: folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    for file in files:
        _regular(file)
    first = read_image(files[0])
    stack = np.empty((len(files), *first.shape), np.uint8)
    stack[0] = first
    for i, file in enumerate(files[1:], start=1):
        img = read_image(file)
        if img.shape != first.shape:
            raise EmosketchError(
                f"{file}: size {img.shape[1]}x{img.shape[0]} differs from {files[0].name}'s "
                f"{first.shape[1]}x{first.shape[0]} in the same sequence")
        stack[i] = img
    return Frames(stack, fps or DEFAULT_FPS)


def _read_gif(path: Path, fps: float | None) -> Frames:
    """GIF writers merge identical consecutive frames into one longer frame (Pillow does), so a
    held pose comes back as one frame: each frame is repeated by its duration over the base frame
    time, which is the fps emosketch notes in the GIF's comment, or else the shortest frame."""
    import re

    from PIL import Image, ImageSequence

    try:
        with Image.open(path, formats=["GIF"]) as im:
            comment = im.info.get("comment", b"")
            frames, durations = [], []
            for f in ImageSequence.Iterator(im):
                if (len(frames) + 1) * f.size[0] * f.size[1] > MAX_FRAME_PIXELS:
                    raise EmosketchError(f"{path}: more than {MAX_FRAME_PIXELS:,} pixels in its frames "
                                         f"({f.size[0]}x{f.size[1]} each)")
                rgba = np.asarray(f.convert("RGBA"))
                frames.append(to_gray(rgba[..., [2, 1, 0, 3]]))  # to_gray expects OpenCV's BGRA order
                durations.append(float(f.info.get("duration", 0) or 0))
    except EmosketchError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt files
        raise EmosketchError(f"{path}: not a readable GIF ({exc})") from exc
    if not frames:
        raise EmosketchError(f"{path}: GIF has no frames")
    noted = re.search(rb"fps=([0-9]{1,12}(?:\.[0-9]{1,12})?)(?![0-9.])",
                      comment if isinstance(comment, bytes) else str(comment).encode())
    positive = [d for d in durations if d > 0]
    noted_fps = float(noted.group(1)) if noted else None
    if noted_fps is not None and not MIN_FPS <= noted_fps <= MAX_FPS:  # an fps=0 note, or 1e-10
        raise EmosketchError(f"{path}: its comment notes fps={noted.group(1).decode()}, not a frame rate from "
                             f"{MIN_FPS:g} to {MAX_FPS:g}")
    base = 1000.0 / noted_fps if noted_fps else (min(positive) if positive else 1000.0 / DEFAULT_FPS)
    # Bounded before anything is repeated: a 10 ms frame beside a 655 s one would make 65,535 copies.
    repeats = [max(1, round(d / base)) if d > 0 else 1 for d in durations]
    total = sum(repeats)
    if total > MAX_FRAMES or total * frames[0].size > MAX_FRAME_PIXELS:
        times = f"{min(positive):g} ms to {max(positive):g} ms" if positive else "none"
        raise EmosketchError(f"{path}: its frame times ({times}) would make "
                             f"{total:,} frames of {base:g} ms; at most {MAX_FRAMES:,} frames and "
                             f"{MAX_FRAME_PIXELS:,} pixels are read: save it with fewer or more even frame times")
    return Frames(np.repeat(np.stack(frames), repeats, axis=0), fps or 1000.0 / base)


def _read_video(path: Path, fps: float | None) -> Frames:
    import imageio.v3 as iio

    grays, pixels = [], 0
    try:
        meta = iio.immeta(path, plugin="FFMPEG")
        for frame in iio.imiter(path, plugin="FFMPEG"):
            pixels += frame.shape[0] * frame.shape[1]
            if len(grays) >= MAX_FRAMES or pixels > MAX_FRAME_PIXELS:
                raise EmosketchError(f"{path}: more than {MAX_FRAMES:,} frames or {MAX_FRAME_PIXELS:,} pixels in all; "
                                     "cut the video shorter or smaller")
            grays.append(to_gray(frame[:, :, ::-1]))
    except EmosketchError:
        raise
    except Exception as exc:  # ffmpeg's whole report (its build banner too) is in the message: its first line
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise EmosketchError(f"{path}: not a readable video ({first[:160]})") from exc
    if not grays:
        raise EmosketchError(f"{path}: video has no frames")
    return Frames(np.stack(grays), fps or float(meta.get("fps") or DEFAULT_FPS))


def _read_npz(path: Path, fps: float | None) -> Frames:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "frames" not in data:
                raise EmosketchError(f"{path}: .npz has no 'frames' array")
            size = sum(i.file_size for i in data.zip.infolist())  # what it unpacks to, before it is unpacked
            if size > MAX_NPZ_BYTES:
                raise EmosketchError(f"{path}: it unpacks to {size:,} bytes, more than {MAX_NPZ_BYTES:,}")
            frames = np.asarray(data["frames"])
            file_fps = float(data["fps"]) if "fps" in data else DEFAULT_FPS
            if not (math.isfinite(file_fps) and file_fps > 0):
                raise EmosketchError(f"{path}: its fps {file_fps} is not a positive number")
            marks = json.loads(str(data["marks"])) if "marks" in data else []
    except EmosketchError:
        raise
    except Exception as exc:
        # numpy's hint to unpickle is no advice: a zip with a pickled (object) array, or no zip at all
        why = "an array of Python objects, not of numbers" if "pickle" in str(exc) and zipfile.is_zipfile(path) else \
            "not an .npz archive" if "pickle" in str(exc) else str(exc)
        raise EmosketchError(f"{path}: not a readable frames .npz ({why})") from exc
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise EmosketchError(f"{path}: 'frames' must be uint8 [T, H, W], got {frames.dtype} {frames.shape}")
    if len(frames) == 0:
        raise EmosketchError(f"{path}: holds no frames")
    if 0 in frames.shape:
        raise EmosketchError(f"{path}: its frames are {frames.shape[2]}x{frames.shape[1]}, with no pixels")
    if not isinstance(marks, list) or not all(isinstance(m, dict) for m in marks):
        raise EmosketchError(f"{path}: 'marks' must be a JSON list of objects, one a frame (e.g. "
                             '[{"sequence": "happy"}]), got ' + shown(marks, 60))
    if marks and len(marks) != len(frames):
        raise EmosketchError(f"{path}: {len(marks)} marks for {len(frames)} frames")
    return Frames(frames, fps or file_fps, marks)


def read_frames(path: str | Path, fps: float | None = None) -> Frames:
    """Read frames from an image, a folder of images, a GIF, a video or an .npz.

    `fps` overrides what the file says (still images and folders have no rate of their own).
    """
    path = Path(path)
    if fps is not None:
        _check_fps(fps)
    if not path.exists():
        raise EmosketchError(f"{path}: no such file or folder")
    _regular(path)
    suffix = path.suffix.lower()
    readers = {**dict.fromkeys(GIF_SUFFIXES, _read_gif), ".npz": _read_npz, **dict.fromkeys(VIDEO_SUFFIXES, _read_video)}
    reader = _read_folder if path.is_dir() else readers.get(suffix)
    if reader is None and suffix not in IMAGE_SUFFIXES:
        raise EmosketchError(f"{path}: unknown kind of input (expected an image, a folder, .gif, "
                             f"{'/'.join(sorted(VIDEO_SUFFIXES))} or .npz)")
    try:
        frames = reader(path, fps) if reader else Frames(read_image(path)[None], fps or DEFAULT_FPS)
    except EmosketchError as exc:  # what Frames refuses (a video's own rate of 5,000 fps) names the file too
        if str(exc).startswith(f"{path}:"):
            raise
        raise EmosketchError(f"{path}: {exc}") from None
    if len(frames) == 0:
        raise EmosketchError(f"{path}: holds no frames")
    return frames


def split_sequences(frames: Frames, default_name: str) -> list[tuple[str, Frames]]:
    """Split frames into named sequences by their 'sequence' marks (runs of the same name).

    Frames without marks form one sequence called `default_name`.
    """
    if not frames.marks or not any("sequence" in m for m in frames.marks):
        return [(default_name, frames)]
    out: list[tuple[str, Frames]] = []
    start = 0
    names = [str(m.get("sequence", default_name)) for m in frames.marks]
    for i in range(1, len(names) + 1):
        if i == len(names) or names[i] != names[start]:
            out.append((names[start], Frames(frames.frames[start:i], frames.fps, frames.marks[start:i])))
            start = i
    return out


def check_output(path: str | Path) -> None:
    """Refuse an output write_frames cannot write, before any work is done."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in {".npz", "", *GIF_SUFFIXES, *WRITE_VIDEO_SUFFIXES}:
        raise EmosketchError(f"{path}: cannot write frames as {suffix!r} (use .npz, .gif, "
                             f"{', '.join(sorted(WRITE_VIDEO_SUFFIXES))} or a folder)")
    check_place(path)  # every output of a command is checked before the first is drawn or written
    if suffix and path.is_dir():
        raise EmosketchError(f"{path}: is a folder, not a file; choose another path")
    if not suffix and path.exists() and not path.is_dir():
        raise EmosketchError(f"{path}: is a file, not a folder of frames; choose another path")


def write_image(path: str | Path, image: np.ndarray) -> None:
    """cv2.imwrite that cannot fail quietly: the image is encoded in memory (by its suffix, PNG when it has
    none) and written by Python, so a full disk or a file-size limit raises OSError. cv2.imwrite only returns
    False, and its callers had published empty or cut-off PNGs with exit 0."""
    path = Path(path)
    ok, data = cv2.imencode(path.suffix or ".png", image)
    if not ok:
        raise EmosketchError(f"{path}: cannot encode an image of shape {image.shape} as {path.suffix or '.png'}")
    path.write_bytes(data.tobytes())


GIF_MAX_FPS = 50  # a GIF's delays are hundredths of a second, and browsers play a delay under 2 of them at 10 fps


GIF_MAX_STILL_MS = 655_350  # a GIF frame's delay is 16-bit, in hundredths of a second


def gif_delays(durations_ms) -> list[int]:
    """Frame times in ms as the hundredths of a second a GIF stores, each frame ending when it should: at 30 fps
    30, 30, 40 ms, not 30 ms each (GIF writers cut 33.3 to 30, and it played 10% fast)."""
    ends = np.round(np.concatenate([[0.0], np.cumsum(durations_ms, dtype=np.float64)]) / 10.0).astype(np.int64)
    return [int(d) * 10 for d in np.diff(ends)]


def gif_durations(count: int, fps: float) -> list[int]:
    """gif_delays of `count` frames at `fps`."""
    return gif_delays(np.full(count, 1000.0 / fps))


def longest_still(frames: np.ndarray) -> int:
    """The most consecutive identical frames (a held pose), which a GIF writer merges into one."""
    if len(frames) < 2:
        return len(frames)
    same = np.all(frames[1:] == frames[:-1], axis=tuple(range(1, frames.ndim)))
    longest = run = 1
    for s in same:
        run = run + 1 if s else 1
        longest = max(longest, run)
    return longest


def gif_step(fps: float) -> int:
    """Every how many frames a GIF keeps at `fps`, so that it plays at its real speed (at most 50 fps)."""
    return max(1, math.ceil(fps / GIF_MAX_FPS - 1e-9))


def _check_video(tmp: Path, path: Path, seconds: float) -> None:
    """ffmpeg's failure to write (a full disk, a file-size limit) never reaches imageio: read the video back
    and refuse one that does not open or is cut short."""
    import imageio.v3 as iio

    try:
        duration = float(iio.immeta(tmp, plugin="FFMPEG").get("duration") or seconds)
    except Exception:  # noqa: BLE001 -- whatever the reader raises on a cut-off file, the video is not whole
        duration = -1.0  # below any length the check below allows
    if duration < seconds - 0.5:
        raise EmosketchError(f"{path}: the video encoder could not write it whole (a full disk, or a file-size "
                             f"limit?); {path.name} was left as it was")


def write_frames(path: str | Path, frames: Frames) -> Path:
    """Write frames atomically as .npz, .gif, a video, or (no suffix) a folder of PNGs. A GIF keeps every
    frame up to 50 fps; faster, every gif_step-th frame, so that it still plays at the frames' speed."""
    import imageio.v3 as iio

    path = Path(path)
    check_output(path)
    if not isinstance(frames, Frames):
        raise EmosketchError(f"{path}: write_frames takes a Frames (Frames(array, fps)), got {type(frames).__name__}")
    frames.check()  # again: a Frames may have been changed since it was made
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with atomic_file(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, frames=frames.frames, fps=np.float64(frames.fps),
                                    marks=np.array(json.dumps(frames.marks)))
    elif suffix in GIF_SUFFIXES:
        if max(frames.frames.shape[1:]) > 65535:  # a GIF's sides are 16-bit: PIL's OverflowError named neither
            raise EmosketchError(f"{path}: a GIF is at most 65,535 pixels a side; these frames are "
                                 f"{frames.frames.shape[2]}x{frames.frames.shape[1]}")
        step = gif_step(frames.fps)  # past 50 fps every step-th frame, each held for the step it stands for
        kept = frames.frames[::step]
        still = longest_still(kept) * 1000.0 * step / frames.fps
        if still > GIF_MAX_STILL_MS:  # Pillow merges identical frames, and their time overflowed its 16 bits
            raise EmosketchError(f"{path}: a GIF shows one picture for at most {GIF_MAX_STILL_MS / 1000:g} s, and "
                                 f"these frames hold one for {still / 1000:,.1f} s; write .mp4, or hold it shorter")
        # Encoded in memory and written by Python: the writer's own file, failing on a full disk, had printed a
        # traceback from its finaliser after the error. The comment lets _read_gif undo the merging of
        # identical frames that GIF writers do.
        data = iio.imwrite("<bytes>", kept, extension=".gif", duration=gif_durations(len(kept), frames.fps / step),
                           loop=0, comment=f"emosketch fps={frames.fps / step:g}")
        with atomic_file(path) as tmp:
            tmp.write_bytes(data)
    elif suffix in WRITE_VIDEO_SUFFIXES:
        with atomic_file(path) as tmp:
            h, w = frames.frames.shape[1:]
            # H.264 in yuv420p needs even sizes; pad with paper rather than scaling the pixels.
            pad = np.pad(frames.frames, ((0, 0), (0, h % 2), (0, w % 2)), constant_values=255)
            iio.imwrite(tmp, np.repeat(pad[..., None], 3, axis=-1), extension=suffix,
                        plugin="FFMPEG", fps=frames.fps, macro_block_size=1)
            _check_video(tmp, path, len(frames.frames) / frames.fps)
    elif suffix == "":
        if path.is_dir():  # a folder of frames from an earlier run is replaced, nothing else
            from .atomic import MARKER

            other = next((p.name for p in path.iterdir() if p.name != MARKER and not FRAME_FILE.fullmatch(p.name)), None)
            if other is not None:
                raise EmosketchError(f"{path}: holds {other}, not only frames written here before; choose another "
                                     "output or remove it")
        with atomic_dir(path, overwrite=True) as tmp:
            for i, frame in enumerate(frames.frames):
                write_image(tmp / f"frame{i:05d}.png", frame)
    return path
