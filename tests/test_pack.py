"""Packs: manifest + frames.bin decode bit for bit, budgets drop frames evenly, writes are atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_pack

from emosketch.errors import EmosketchError
from emosketch.export import ExportOptions, Layout, build_pack, manifest, write_pack
from emosketch.export.pack import identifier
from emosketch.frames import Frames


@pytest.mark.parametrize("codec", ["raw", "rle", "delta", "auto", "ctx"])
def test_written_pack_decodes_bit_for_bit(tmp_path, face_transition, any_format, codec):
    pack = make_pack(face_transition, any_format, codec)
    write_pack(pack, tmp_path / "p", verify=True)
    bits, m = manifest.read(tmp_path / "p")
    assert np.array_equal(bits, pack.bits)
    assert m["pixel_format"] == any_format and m["frame_bytes"] == pack.frame_bytes
    assert [s["ident"] for s in m["sequences"]] == ["neutral_to_happy", "happy_to_neutral"]
    assert m["sequences"][1]["first_frame"] == 12 and m["sequences"][1]["fps"] == 8.0
    assert m["classes"] == ["neutral", "happy"]
    assert m["frames"][12]["codec"] not in ("delta", "ctx")  # every sequence starts on a key frame
    assert (tmp_path / "p" / "frames.bin").stat().st_size == m["frame_data_bytes"]
    assert m["total_bytes"] == m["frame_data_bytes"] + m["model_bytes"]  # the model counts in the ratio


@pytest.mark.parametrize("size", [(128, 32), (72, 40), (13, 7), (96, 16)])
def test_odd_sizes_and_a_single_frame(tmp_path, face_transition, any_format, size):
    seqs = [("one", "t", Frames(face_transition[:1], 12.0))]
    pack = build_pack(seqs, ExportOptions(layout=Layout(*size), pixel_format=any_format))
    write_pack(pack, tmp_path / "p", verify=True)
    bits, _ = manifest.read(tmp_path / "p")
    assert bits.shape == (1, size[1], size[0]) and np.array_equal(bits, pack.bits)


def test_max_bytes_picks_codec_then_drops_frames_evenly(face_transition):
    full = make_pack(face_transition, codec="raw")
    assert full.flash_bytes > 20000
    assert make_pack(face_transition).flash_bytes > 2500  # auto alone is not enough
    fitted = make_pack(face_transition, codec="raw", max_bytes=2500)
    assert fitted.flash_bytes <= 2500
    assert any("switched to auto" in n for n in fitted.notes)
    assert any("dropped" in n for n in fitted.notes)
    for s in fitted.sequences:
        assert 1 <= s.count < s.original_count
        assert s.kept[0] == 0 and s.kept[-1] == s.original_count - 1  # ends kept, evenly between
        gaps = np.diff(s.kept)
        assert gaps.max() - gaps.min() <= 1
        assert s.fps == pytest.approx((12.0 if s.first == 0 else 8.0) * s.count / s.original_count)
    # kept frames are exactly the originals at those indices
    assert np.array_equal(fitted.bits[: fitted.sequences[0].count], full.bits[fitted.sequences[0].kept])


def test_max_bytes_only_codec_when_that_is_enough(face_transition):
    fitted = make_pack(face_transition, codec="raw", max_bytes=make_pack(face_transition).flash_bytes)
    assert [s.count for s in fitted.sequences] == [12, 12]


def test_max_bytes_notes_stay_short_and_say_when_the_face_no_longer_moves(face_transition):
    """Many shortened sequences are one note, not one each; a budget that leaves one frame a sequence
    says the face will not move."""
    seqs = [(f"s{i}", "test", Frames(np.roll(face_transition, i, axis=2), 12.0)) for i in range(12)]
    opts = ExportOptions(layout=Layout(128, 64), codec="auto")
    full = build_pack(seqs, opts).flash_bytes
    one = build_pack([(n, s, Frames(f.frames[:1], 12.0)) for n, s, f in seqs], opts).flash_bytes
    half = build_pack(seqs, ExportOptions(layout=Layout(128, 64), codec="auto", max_bytes=(full + one) // 2))
    assert len(half.notes) == 2 and half.notes[0].startswith("dropped ")
    assert half.notes[1].startswith("12 of 12 sequences shortened, each to ") and "fps" in half.notes[1]
    assert 1 < min(s.count for s in half.sequences) < 12
    still = build_pack(seqs, ExportOptions(layout=Layout(128, 64), codec="auto", max_bytes=one))
    assert all(s.count == 1 for s in still.sequences) and still.flash_bytes <= one
    assert any(n.startswith("every sequence keeps one frame: the face changes emotion but does not move")
               for n in still.notes)
    few = make_pack(face_transition, codec="raw", max_bytes=2500)  # two sequences: one note each, as before
    assert sum(": kept " in n for n in few.notes) == 2


def test_a_zoom_ramp_on_a_still_picture_says_it_has_nothing_to_ramp_over(face_transition):
    opts = ExportOptions(layout=Layout(128, 64, "fit", zoom=1.0, zoom_to=2.0))
    still = build_pack([("face", "face.png", Frames(face_transition[:1], 12.0))], opts)
    assert still.notes == ["--zoom-to ramps the zoom over a sequence's frames; face has one frame, drawn at zoom 1"]
    moving = build_pack([("face", "face.gif", Frames(face_transition, 12.0))], opts)
    assert moving.notes == [] and not np.array_equal(moving.bits[0], moving.bits[-1])


@pytest.mark.parametrize("zoom", ["abc", [1], None, True])
def test_a_zoom_mark_that_is_not_a_number_is_one_line_naming_its_frame(face_transition, zoom):
    """A hand-written npz's zoom mark of "abc" or [1] was 'unexpected ValueError ... EMOSKETCH_DEBUG=1'."""
    marks = [{"zoom": 1.0}, {"zoom": zoom}] + [{}] * (len(face_transition) - 2)
    frames = Frames(face_transition, 12.0, marks=marks)
    with pytest.raises(EmosketchError, match=r"frame 1's zoom mark is .*, not a number"):
        build_pack([("face", "f.npz", frames)], ExportOptions(layout=Layout(128, 64)))


def test_a_budget_or_a_codec_left_to_emosketch_takes_the_smaller_of_ctx_and_the_byte_codecs(face_transition):
    """The context codec's 2 KB model outweighs its gain on a few frames: --max-bytes dropped 4 of 6 frames in
    ctx where auto fitted all 6, and a one-frame 8x8 export took 2 KB where auto took 17 bytes."""
    seqs = [("face", "f.gif", Frames(face_transition[:6], 12.0))]
    ctx_pack = build_pack(seqs, ExportOptions(layout=Layout(128, 64), codec="ctx"))
    auto_pack = build_pack(seqs, ExportOptions(layout=Layout(128, 64), codec="auto"))
    assert auto_pack.flash_bytes < ctx_pack.flash_bytes
    budget = (auto_pack.flash_bytes + ctx_pack.flash_bytes) // 2
    fitted = build_pack(seqs, ExportOptions(layout=Layout(128, 64), codec="ctx", max_bytes=budget))
    assert len(fitted.payloads) == 6 and fitted.codec == "auto" and fitted.flash_bytes == auto_pack.flash_bytes
    assert fitted.notes == [f"codec ctx gives {ctx_pack.flash_bytes} bytes, over {budget}; switched to auto"]
    chosen = build_pack(seqs, ExportOptions(layout=Layout(128, 64), codec="ctx", keep_codec=False))
    assert chosen.codec == "auto" and chosen.flash_bytes == auto_pack.flash_bytes
    assert chosen.notes[0].startswith("the context codec's ") and "outweighs what it saves on 6 frames" in chosen.notes[0]
    kept = build_pack(seqs, ExportOptions(layout=Layout(128, 64), codec="ctx"))  # named: kept
    assert kept.codec == "ctx" and kept.notes == []
    many = [(f"s{i}", "t", Frames(np.roll(face_transition, i, axis=2), 12.0)) for i in range(8)]
    big = build_pack(many, ExportOptions(layout=Layout(128, 64), codec="ctx", keep_codec=False))
    assert big.codec == "ctx" and big.notes == []  # where ctx is smaller, it stays


def test_max_bytes_too_small_is_a_clear_error(face_transition):
    with pytest.raises(EmosketchError, match="even one frame per sequence needs .* fewer sequences fit"):
        make_pack(face_transition, max_bytes=100)


def test_names_that_collide_after_sanitising(face_transition):
    seqs = [("Happy Face!", "a.gif", Frames(face_transition)), ("happy-face", "b.gif", Frames(face_transition))]
    with pytest.raises(EmosketchError, match=r"b\.gif: sequence name 'happy-face' becomes 'happy_face'.*a\.gif"):
        build_pack(seqs, ExportOptions())


@pytest.mark.parametrize("name, ident", [("happy", "happy"), ("3 faces", "seq_3_faces"), ("int", "seq_int"),
                                         ("", "seq"), ("Ünï-côde!", "n_c_de"), ("class", "seq_class")])
def test_identifiers_are_valid_in_c_and_python(name, ident):
    assert identifier(name) == ident


def test_an_empty_folder_made_for_the_pack_is_used_and_one_filled_meanwhile_is_kept(tmp_path, face_transition):
    """mkdir me-pack, then pack into it: nothing to lose, so no --force (and --force had refused it as not
    emosketch's). A folder that something fills while the pack is written is left as it is."""
    from emosketch.atomic import publish_dir

    pack = make_pack(face_transition)
    (tmp_path / "p").mkdir()
    write_pack(pack, tmp_path / "p")
    assert (tmp_path / "p" / "manifest.json").exists()
    (tmp_path / "q").mkdir()
    (tmp_path / "new").mkdir()
    (tmp_path / "q" / "mine.txt").write_text("keep me")  # arrived after the check
    with pytest.raises(EmosketchError, match="files appeared in it while it was written"):
        publish_dir(tmp_path / "new", tmp_path / "q")
    assert (tmp_path / "q" / "mine.txt").read_text() == "keep me"
    with pytest.raises(EmosketchError, match="already exists"):
        write_pack(pack, tmp_path / "q")


def test_existing_pack_is_kept_unless_forced_and_failures_leave_nothing(tmp_path, face_transition, monkeypatch):
    pack = make_pack(face_transition)
    out = tmp_path / "p"
    write_pack(pack, out)
    with pytest.raises(EmosketchError, match="already exists"):
        write_pack(pack, out)
    before = json.loads((out / "manifest.json").read_text())

    from emosketch.export import html

    def broken(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(html, "write", broken)
    with pytest.raises(EmosketchError, match=f"{out}: no space left on device"):
        write_pack(pack, out, force=True)
    assert json.loads((out / "manifest.json").read_text()) == before  # old pack untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # no temporary folder left behind


def test_verify_failure_writes_nothing(tmp_path, face_transition):
    pack = make_pack(face_transition)
    pack.bits = pack.bits.copy()
    pack.bits[3, 10, 10] ^= True  # what the pack claims no longer matches its bytes
    with pytest.raises(EmosketchError, match="verification failed: frame 3"):
        write_pack(pack, tmp_path / "p", verify=True)
    assert list(tmp_path.iterdir()) == []


def test_reading_a_broken_pack(tmp_path, face_transition):
    write_pack(make_pack(face_transition), tmp_path / "p")
    (tmp_path / "p" / "frames.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(EmosketchError, match="outside frames.bin"):
        manifest.read(tmp_path / "p")
    with pytest.raises(EmosketchError, match="manifest.json is missing"):
        manifest.read(tmp_path)



def test_a_small_manifest_cannot_make_the_reader_decode_gigabytes(tmp_path, face_transition):
    """Frames could share one payload and sequences cover frames again: a 13 KB manifest decoded to 0.5 GiB.
    As a device's index.bin, frames now lie end to end, the sequences hold each frame once, and what is
    decoded is bounded."""
    import json

    folder = write_pack(make_pack(face_transition), tmp_path / "p")
    good = json.loads((folder / "manifest.json").read_text())

    def read_with(change):
        m = json.loads(json.dumps(good))
        change(m)
        (folder / "manifest.json").write_text(json.dumps(m))
        return manifest.read(folder)

    def shared(m):
        m["frames"][1]["offset"] = 0
    with pytest.raises(EmosketchError, match="frame 1 starts at byte 0 of frames.bin, not at"):
        read_with(shared)

    def again(m):
        m["sequences"][1]["first_frame"] = 0
    with pytest.raises(EmosketchError, match="the sequences must hold every frame once, in order"):
        read_with(again)

    def short(m):
        m["sequences"] = m["sequences"][:1]
    with pytest.raises(EmosketchError, match=f"its sequences hold {good['sequences'][0]['frame_count']} of"):
        read_with(short)

    def huge(m):
        m["display"] = {"width": 8000, "height": 64}
        m["pixel_format"] = "gfx"
        m["frames"] = [{**m["frames"][0], "offset": 0, "size": 0} for _ in range(3000)]
        m["frames"][-1]["size"] = (folder / "frames.bin").stat().st_size
    with pytest.raises(EmosketchError, match="decode to more than 1 GiB of pixels"):
        read_with(huge)
    assert read_with(lambda m: None)[0].shape[0] == len(good["frames"])


def state_machine_frames():
    """Gray sequences of a synthetic face as `emosketch pack` lays them out: idle loops that breathe
    in intensity round their pose (frame 0 is the pose), and transitions that end on the pose of the
    idle loop they lead into."""
    from emosketch.datasets.synthetic import expression, random_identity, render_expression

    identity = random_identity(seed=4)

    def face(mix):
        return render_expression(identity, expression(mix), 96)

    wave = np.sin(2 * np.pi * np.arange(8) / 8)
    seqs = [(f"idle_{e}", "test", Frames(np.stack([face({e: 1.0 + 0.3 * w} if e != "neutral" else
                                                        {"neutral": 1.0, "happy": 0.15 + 0.15 * w}) for w in wave])))
            for e in ("neutral", "happy", "sad")]
    for a, b in (("neutral", "happy"), ("happy", "sad"), ("sad", "neutral")):
        mix = [{a: 1 - t, b: t} if b != "neutral" else {a: 1 - t, "neutral": 1.0, "happy": 0.15 * t}
               for t in np.linspace(0.2, 1, 5)]
        seqs.append((f"{a}_to_{b}", "test", Frames(np.stack([face(m) for m in mix]))))
    return seqs


def test_stable_packs_meet_at_the_seams_the_players_join():
    """A stable dither has a history: a transition ends bit for bit on the first frame of the idle
    loop it leads into (both are the same gray frame), and an idle loop's wrap from its last frame
    to its first is a step like the others, not a fresh dither."""
    from emosketch.export.panel import FACE_BAND, PANEL

    seqs = state_machine_frames()
    for panel in (PANEL, FACE_BAND):
        check_seams(build_pack(seqs, ExportOptions(layout=panel.layout, dither=panel.dither)))


def check_seams(pack):
    at = {s.name: pack.bits[s.first:s.first + s.count] for s in pack.sequences}
    for name in ("neutral_to_happy", "happy_to_sad", "sad_to_neutral"):
        assert np.array_equal(at[name][-1], at["idle_" + name.split("_to_")[1]][0]), name
    for e in ("neutral", "happy", "sad"):
        loop = at[f"idle_{e}"]
        steps = (loop[1:] != loop[:-1]).sum(axis=(1, 2))
        assert (loop[-1] != loop[0]).sum() <= steps.max(), e


def test_export_refuses_options_that_would_write_a_wrong_pack(tmp_path):
    """classes='happy' had written ["h", "a", "p", "p", "y"] to the manifest, a string of inputs was read one
    character at a time ("i: no such file or folder"), and max_bytes='28000' failed only after the work."""
    from emosketch.export import export
    from emosketch.frames import Frames, write_frames

    src = tmp_path / "in_happy.npz"
    write_frames(src, Frames(np.full((2, 16, 16), 255, np.uint8), 12))
    for kwargs, words in (({"classes": "happy"}, "classes must be a list"), ({"classes": ("joy", "happy")}, "twice"),
                          ({"classes": ["", "sad"]}, "classes must be a list"), ({"max_bytes": "28000"}, "max_bytes"),
                          ({"max_bytes": 0}, "max_bytes"), ({"name": 5}, "name must be a string"),
                          ({"layout": "head"}, "a Layout and a Dither")):
        with pytest.raises(EmosketchError, match=words):
            ExportOptions(**kwargs)
    with pytest.raises(EmosketchError, match="inputs is a list of files or folders"):
        export(str(src), tmp_path / "pk", ExportOptions())
    with pytest.raises(EmosketchError, match="opts must be an ExportOptions"):
        export([src], tmp_path / "pk", None)
    with pytest.raises(EmosketchError, match="a pack plays from 0.02 to 1000"):
        export([src], tmp_path / "pk", ExportOptions(), fps="12")
    assert not (tmp_path / "pk").exists()
    pack = export([src], tmp_path / "pk", ExportOptions(layout=Layout(16, 16), classes=["Joy", "frustration"]))
    assert pack.manifest()["classes"] == ["happy", "frustration"]
