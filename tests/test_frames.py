"""The Frames contract on disk: images, folders, GIF, MP4 and .npz read back; bad files are clear errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emosketch.errors import EmosketchError
from emosketch.frames import Frames, read_frames, split_sequences, to_gray, write_frames


@pytest.fixture
def frames(face_transition) -> Frames:
    marks = [{"sequence": "a"}] * 5 + [{"sequence": "b"}] * 7
    return Frames(face_transition, 10.0, marks)


def test_npz_round_trip_is_exact(tmp_path, frames):
    back = read_frames(write_frames(tmp_path / "f.npz", frames))
    assert np.array_equal(back.frames, frames.frames) and back.fps == 10.0 and back.marks == frames.marks


def test_folder_round_trip_in_natural_order(tmp_path, frames):
    folder = write_frames(tmp_path / "pngs", frames)
    back = read_frames(folder, fps=5)
    assert np.array_equal(back.frames, frames.frames) and back.fps == 5
    (folder / "frame00003.png").rename(folder / "x10.png")  # natural sort: x10 after frame00011
    assert np.array_equal(read_frames(folder).frames[-1], frames.frames[3])


def test_gif_round_trip(tmp_path, frames):
    back = read_frames(write_frames(tmp_path / "f.gif", frames))
    assert back.frames.shape == frames.frames.shape
    assert np.abs(back.frames.astype(int) - frames.frames).max() <= 2
    assert back.fps == pytest.approx(10.0, rel=0.05)


def test_mp4_round_trip(tmp_path, frames):
    back = read_frames(write_frames(tmp_path / "f.mp4", frames))
    assert back.frames.shape == frames.frames.shape
    assert np.abs(back.frames.astype(float) - frames.frames).mean() < 6  # lossy, but the same picture
    assert back.fps == pytest.approx(10.0)


def test_still_images_of_any_kind(tmp_path):
    rgba = np.zeros((9, 11, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent: lies on white paper
    cv2.imwrite(str(tmp_path / "t.png"), rgba)
    assert read_frames(tmp_path / "t.png").frames.tolist() == [[[255] * 11] * 9]
    deep = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4096)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    assert read_frames(tmp_path / "d.png").frames[0, 3, 3] == 240
    cv2.imwrite(str(tmp_path / "c.jpg"), np.full((8, 8, 3), (0, 0, 255), np.uint8))
    assert read_frames(tmp_path / "c.jpg").frames.shape == (1, 8, 8)


def test_to_gray_float_and_bool():
    assert to_gray(np.array([[0.0, 1.0]])).tolist() == [[0, 255]]
    assert to_gray(np.array([[True, False]])).tolist() == [[255, 0]]


@pytest.mark.parametrize("name, content, message", [
    ("empty.png", b"", "file is empty"),
    ("junk.png", b"not an image at all", "not a readable image"),
    ("junk.gif", b"GIF89a garbage", "not a readable GIF"),
    ("junk.mp4", b"\x00\x00\x00\x18ftypmp42 garbage", "not a readable video"),
    ("junk.npz", b"PK\x03\x04 broken", "not a readable frames .npz"),
    ("notes.txt", b"hello", "unknown kind of input"),
])
def test_bad_files_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(EmosketchError, match=message) as err:
        read_frames(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)  # one line: no ffmpeg banner


@pytest.mark.parametrize("marks", ["[1, 2]", '{"sequence": "a"}', '"happy"', '[{"sequence": "a"}, 3]'])
def test_npz_marks_that_are_not_objects_are_one_line(tmp_path, marks):
    """marks [1, 2] reached an internal TypeError ("argument of type 'int' is not iterable")."""
    np.savez(tmp_path / "m.npz", frames=np.zeros((2, 8, 8), np.uint8), fps=np.array(12.0), marks=np.array(marks))
    with pytest.raises(EmosketchError, match="'marks' must be a JSON list of objects"):
        read_frames(tmp_path / "m.npz")


def test_a_gif_past_50_fps_keeps_its_speed_with_fewer_frames(tmp_path, face_transition):
    """A GIF's delays are hundredths of a second and browsers play one under 2 at 10 fps: 200 fps had
    stored a 0 ms delay and 60 fps 10 ms. Past 50 fps every k-th frame is kept, held k frames."""
    from emosketch.frames import gif_step

    assert [gif_step(f) for f in (12, 50, 60, 120, 240)] == [1, 1, 2, 3, 5]
    frames = Frames(np.repeat(face_transition, 5, axis=0)[:60], 120.0)
    write_frames(tmp_path / "fast.gif", frames)
    back = read_frames(tmp_path / "fast.gif")
    assert back.fps == 40.0 and len(back) == 20  # one second, as written
    from PIL import Image

    with Image.open(tmp_path / "fast.gif") as im:
        assert im.info["duration"] >= 20


def test_a_video_is_read_only_up_to_the_frame_bound(tmp_path, monkeypatch, frames):
    from emosketch import frames as frames_module

    write_frames(tmp_path / "v.mp4", frames)
    assert len(read_frames(tmp_path / "v.mp4")) == len(frames)
    monkeypatch.setattr(frames_module, "MAX_FRAMES", len(frames) - 1)
    with pytest.raises(EmosketchError, match="cut the video shorter or smaller"):
        read_frames(tmp_path / "v.mp4")


def test_missing_empty_and_mismatched_inputs(tmp_path):
    with pytest.raises(EmosketchError, match="no such file"):
        read_frames(tmp_path / "nope.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmosketchError, match="holds no images"):
        read_frames(tmp_path / "empty")
    folder = tmp_path / "mixed"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(folder / "b.png"), np.zeros((8, 9), np.uint8))
    with pytest.raises(EmosketchError, match=r"b\.png: size 9x8 differs"):
        read_frames(folder)
    np.savez(tmp_path / "zero.npz", frames=np.zeros((0, 8, 8), np.uint8))
    with pytest.raises(EmosketchError, match="holds no frames"):
        read_frames(tmp_path / "zero.npz")
    np.savez(tmp_path / "f32.npz", frames=np.zeros((2, 8, 8), np.float32))
    with pytest.raises(EmosketchError, match="must be uint8"):
        read_frames(tmp_path / "f32.npz")


def test_split_sequences_by_marks(frames):
    parts = split_sequences(frames, "x")
    assert [(n, len(f)) for n, f in parts] == [("a", 5), ("b", 7)]
    assert split_sequences(Frames(frames.frames), "x")[0][0] == "x"


def test_gif_with_held_frames_reads_back_frame_for_frame(tmp_path):
    # GIF writers merge identical consecutive frames; the reader must give the hold back.
    a, b = np.full((3, 16, 16), 255, np.uint8), np.zeros((2, 16, 16), np.uint8)
    frames = Frames(np.concatenate([a, b, a[:1]]), fps=12.0)
    back = read_frames(write_frames(tmp_path / "held.gif", frames))
    assert len(back) == 6 and back.fps == pytest.approx(12.0)
    assert np.array_equal(back.frames[:, 0, 0], [255, 255, 255, 0, 0, 255])


def test_a_folder_of_frames_replaces_only_frames_written_before(tmp_path, frames):
    """interpolate --out DIR replaced any folder emosketch had written (a sample's rows, a pack): only a
    folder of frames is replaced now; every other output kind is refused before any is written."""
    from emosketch.atomic import MARKER
    from emosketch.frames import check_output

    out = tmp_path / "seq"
    write_frames(out, frames)
    write_frames(out, Frames(frames.frames[:2], frames.fps))  # an earlier run's frames: replaced
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "frame00000.png", "frame00001.png"]
    (out / "row.png").write_bytes(b"keep me")
    with pytest.raises(EmosketchError, match="holds row.png, not only frames"):
        write_frames(out, frames)
    assert (out / "row.png").read_bytes() == b"keep me"
    for bad in ("t.webm", "t.m4v", "t.txt"):
        with pytest.raises(EmosketchError, match="cannot write frames as"):
            check_output(tmp_path / bad)
        with pytest.raises(EmosketchError, match="cannot write frames as"):
            write_frames(tmp_path / bad, frames)
    for good in ("t.npz", "t.gif", "t.mp4", "t.mkv", "folder"):
        check_output(tmp_path / good)
    assert not (tmp_path / "t.webm").exists()


def test_an_output_whose_folder_cannot_be_made_is_refused_before_work(tmp_path, frames):
    """Each was an OS error ("File exists", or a write denied) after the first output was written: now one
    line naming what is in the way, and the command draws nothing."""
    import os

    from emosketch.atomic import check_place
    from emosketch.frames import check_output

    (tmp_path / "afile").write_text("x")
    (tmp_path / "nowhere").symlink_to(tmp_path / "gone")
    for out, words in ((tmp_path / "afile" / "x.gif", "afile is a file, not a folder"),
                       (tmp_path / "afile" / "deep" / "frames", "afile is a file, not a folder"),
                       (tmp_path / "nowhere" / "x.npz", "is a symbolic link to"),
                       (tmp_path / "afile", "is a file, not a folder of frames")):
        with pytest.raises(EmosketchError, match=words):
            check_output(out)
    (tmp_path / "dir.gif").mkdir()
    with pytest.raises(EmosketchError, match="is a folder, not a file"):
        check_output(tmp_path / "dir.gif")
    with pytest.raises(EmosketchError, match="afile is a file"):
        write_frames(tmp_path / "afile" / "a.npz", frames)
    if os.geteuid() != 0:  # root may write anywhere
        (tmp_path / "locked").mkdir(mode=0o500)
        with pytest.raises(EmosketchError, match="cannot write into .*locked .permission denied"):
            check_place(tmp_path / "locked" / "sub" / "x.gif")
    check_place(tmp_path / "new" / "deeper" / "x.gif")  # folders still to make are fine
    from click.testing import CliRunner

    from emosketch.cli import cli

    result = CliRunner().invoke(cli, ["interpolate", "--from", "neutral", "--to", "happy", "--frames", "2", "--hold",
                                      "0", "--out", str(tmp_path / "first.gif"), "--out",
                                      str(tmp_path / "afile" / "second.gif")])
    assert result.exit_code == 2 and "afile is a file, not a folder" in result.output
    assert not (tmp_path / "first.gif").exists()  # the good first output is not written either


def test_a_failed_write_names_the_output_not_its_hidden_temporary_file(tmp_path, monkeypatch):
    import os

    from emosketch.atomic import atomic_file

    def denied(src, dst):
        raise PermissionError(13, "Permission denied", str(src))

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(EmosketchError, match="out.gif: cannot write it .Permission denied") as info:
        with atomic_file(tmp_path / "out.gif") as tmp:
            tmp.write_bytes(b"x")
    assert ".tmp-" not in str(info.value) and sorted(p.name for p in tmp_path.iterdir()) == []


def test_frames_that_could_not_be_read_back_are_refused_when_made_and_written(tmp_path):
    """Frames took an fps of 0, NaN or '12', no frames and marks that were not dicts; write_frames then published an
    .npz that read_frames refused (replacing a good one), or failed deep inside an encoder."""
    ok = np.zeros((2, 4, 4), np.uint8)
    for bad in (np.zeros((0, 4, 4), np.uint8), np.zeros((2, 0, 4), np.uint8), ok.astype(np.float32), [[[0]]]):
        with pytest.raises(EmosketchError, match=r"uint8 \[T, H, W\] with T, H and W at least 1"):
            Frames(bad)
    for fps in (0, -5, float("nan"), float("inf"), "12", True, 1e-10, 5000):
        with pytest.raises(EmosketchError, match="fps must be a number from 0.02 to 1000"):
            Frames(ok, fps)
    for marks, words in (("ab", "marks must be a list of dicts"), (["a", "b"], "marks must be a list of dicts"),
                         ([{}], "1 marks for 2 frames"), ([{"z": np.float32(1)}, {}], "marks must hold JSON values")):
        with pytest.raises(EmosketchError, match=words):
            Frames(ok, 12, marks)
    assert Frames(ok, np.float32(12.5)).fps == 12.5  # a numpy number is a number
    good = tmp_path / "good.npz"
    f = Frames(ok, 12)
    write_frames(good, f)
    before = good.read_bytes()
    f.frames = np.zeros((2, 4), np.float32)  # changed after it was made
    with pytest.raises(EmosketchError, match="uint8"):
        write_frames(good, f)
    assert good.read_bytes() == before  # the good file stays
    with pytest.raises(EmosketchError, match="takes a Frames"):
        write_frames(tmp_path / "x.npz", ok)
    with pytest.raises(EmosketchError, match="a GIF is at most 65,535 pixels a side"):
        write_frames(tmp_path / "wide.gif", Frames(np.zeros((1, 1, 70000), np.uint8)))
    assert not (tmp_path / "wide.gif").exists()
    for fps in (0, -1, float("nan"), "x"):  # an override of 0 had been dropped without a word
        with pytest.raises(EmosketchError, match="fps must be a number"):
            read_frames(good, fps=fps)


@pytest.mark.parametrize("comment, words", [(b"emosketch fps=1.2.3", None), (b"emosketch fps=0.0000000001", "not a frame rate"),
                                            (b"emosketch fps=" + b"9" * 400, None)])
def test_a_gif_comment_with_an_odd_frame_rate_is_one_line_naming_the_file(tmp_path, comment, words):
    from PIL import Image

    path = tmp_path / "odd.gif"
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (0, 255)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, comment=comment)
    if words is None:  # not read as a rate: the frame times say it
        got = read_frames(path)
        assert got.fps == pytest.approx(10) and len(got) == 2
    else:
        with pytest.raises(EmosketchError, match=f"odd.gif: .*{words}") as exc:
            read_frames(path)
        assert len(str(exc.value)) < 200


@pytest.mark.parametrize("fps", [30.0, 12.0, 29.97, 7.0, 50.0])
def test_a_gif_lasts_as_long_as_its_frames_at_their_rate(tmp_path, fps):
    """GIF delays are hundredths of a second, and 33.3 ms was cut to 30: 60 frames at 30 fps played in 1.8 s, not
    2.0, and 12 fps 4% fast. Each frame now ends on the hundredth nearest its true end."""
    from PIL import Image, ImageSequence

    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, (60, 16, 16)).astype(np.uint8)  # every frame differs: none merged
    path = write_frames(tmp_path / "t.gif", Frames(pictures, fps))
    with Image.open(path) as im:
        delays = [f.info["duration"] for f in ImageSequence.Iterator(im)]
    assert len(delays) == 60 and abs(sum(delays) - 60 * 1000 / fps) <= 5, (sum(delays), delays[:6])
    assert min(delays) >= 20  # a browser plays a delay of one hundredth or less at a tenth of a second
    back = read_frames(path)
    assert len(back.frames) == 60 and back.fps == pytest.approx(fps, rel=1e-3)


def test_a_gif_still_too_long_for_its_delays_is_one_line(tmp_path):
    """A pose held past 655 s (fps 0.02 and a hold of 20 frames) overflowed Pillow's 16-bit delay: 'unexpected
    OverflowError' and a traceback from its finaliser."""
    pictures = np.repeat(np.random.default_rng(1).integers(0, 256, (3, 8, 8)).astype(np.uint8), [1, 1, 20], axis=0)
    with pytest.raises(EmosketchError, match="a GIF shows one picture for at most 655.35 s, and these frames hold "
                                             "one for 1,000.0 s; write .mp4"):
        write_frames(tmp_path / "slow.gif", Frames(pictures, 0.02))
    assert not list(tmp_path.iterdir())
    write_frames(tmp_path / "ok.gif", Frames(pictures[:14], 0.02))  # 13 held frames, 650 s: written
