"""Face crop: dataset boxes with a margin, square crops inside the image, the Haar cascade and the miss policy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import FERPLUS

from emosketch.datasets.decode import Skip
from emosketch.datasets.face import (
    UPRIGHT_MIN_FACE,
    FaceConfig,
    cascade,
    crop_face,
    crop_face_at,
    crop_turned,
    detect,
    find_upright,
    square_around,
)
from emosketch.errors import EmosketchError


def test_square_around_adds_margin_and_stays_inside():
    assert square_around((40, 40, 20, 20), 0.5, (100, 100)) == (30, 30, 40)
    x0, y0, side = square_around((0, 0, 30, 10), 0.5, (100, 200))
    assert (x0, y0) == (0, 0) and side == 60
    assert square_around((0, 0, 48, 48), 0.2, (48, 48)) == (0, 0, 48)  # clamped to the image


def test_box_crop_and_whole_image_fallbacks():
    img = np.zeros((60, 80), np.uint8)
    img[10:30, 20:40] = 255
    face, how = crop_face(img, 32, FaceConfig(margin=0.0), box=(20, 10, 20, 20))
    assert how == "box" and face.shape == (32, 32) and face.min() == 255
    face, how = crop_face(img, 32, FaceConfig(detector="none"))
    assert how == "whole" and face.shape == (32, 32)


def test_miss_policy():
    blank = np.full((64, 64), 200, np.uint8)
    assert crop_face(blank, 32, FaceConfig(detector="haar", miss="keep"))[1] == "whole"
    with pytest.raises(Skip, match="no face found"):
        crop_face(blank, 32, FaceConfig(detector="haar", miss="skip"))


def test_bad_config():
    with pytest.raises(EmosketchError, match="miss policy"):
        FaceConfig(miss="drop")


def test_cascade_ships_with_opencv():
    assert not cascade().empty()


def test_threads_finding_faces_at_once_each_find_what_one_finds_alone():
    """The mirror crops uploads in a thread pool: one CascadeClassifier shared by threads fails in OpenCV
    (an assertion in getScaleData, or a wrong box), so each thread has its own."""
    from concurrent.futures import ThreadPoolExecutor

    from emosketch.models import demo_photo

    gray = cv2.imread(str(demo_photo()), cv2.IMREAD_GRAYSCALE)
    pictures = [cv2.resize(gray, (s, s)) for s in (96, 160, 256, 400)] + [np.full((300, 300), 128, np.uint8)]
    alone = [detect(p) for p in pictures]
    assert alone[-1] is None and sum(b is not None for b in alone) >= 3
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda i: detect(pictures[i % len(pictures)]), range(400)))
    assert together == [alone[i % len(pictures)] for i in range(400)]
    mine = cascade()
    with ThreadPoolExecutor(1) as pool:
        theirs = pool.submit(cascade).result()
    assert mine is cascade() and theirs is not mine  # loaded once per thread


@pytest.mark.skipif(not (FERPLUS / "FER2013Train").is_dir(), reason=f"real FER+ faces not found at {FERPLUS}")
def test_haar_finds_real_faces():
    files = sorted((FERPLUS / "FER2013Train").glob("*.png"))[:60]
    found = [detect(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)) for f in files]
    assert sum(b is not None for b in found) >= 10  # ~1/3 of 48 px FER faces


def test_photo_margin_frames_photos_as_the_data_was():
    cfg = FaceConfig(margin=0.2, photo_margin=0.05)
    assert cfg.for_photos().margin == 0.05 and cfg.for_photos().photo_margin == 0.05
    assert FaceConfig(margin=0.2).for_photos().margin == 0.2  # no measured framing: the data's own margin
    with pytest.raises(EmosketchError, match="photo_margin"):
        FaceConfig(photo_margin=-0.1)
    from emosketch.datasets.photo import photo_configs

    face_cfg, _ = photo_configs({"face_crop": {"margin": 0.2, "photo_margin": 0.0, "photo_margin_measured": {}}})
    assert face_cfg.margin == 0.0


def test_framing_margin_reads_how_close_crops_are():
    from emosketch.datasets.decode import decode_file
    from emosketch.datasets.face import framing_margin
    from emosketch.models import demo_photo

    photo = decode_file(demo_photo())
    measured = []
    for m in (0.0, 0.15, 0.3):
        crop, how = crop_face(photo, 96, FaceConfig(margin=m))
        assert how == "haar"
        margin, found, tried = framing_margin(crop[None], min_found=1)
        assert (found, tried) == (1, 1)
        measured.append(margin)
    assert measured[0] < measured[1] < measured[2] and measured[2] - measured[0] > 0.2
    blank = np.full((5, 48, 48), 128, np.uint8)
    assert framing_margin(blank) == (None, 0, 5)
    assert framing_margin(np.zeros((0, 48, 48), np.uint8)) == (None, 0, 0)


def _demo(turn: float = 0.0) -> np.ndarray:
    """The demo photo (a portrait that ships with emosketch), turned `turn` degrees counter-clockwise."""
    from emosketch.datasets.decode import decode_file
    from emosketch.models import demo_photo

    gray = decode_file(demo_photo())
    if turn:
        h, w = gray.shape
        gray = cv2.warpAffine(gray, cv2.getRotationMatrix2D((w / 2, h / 2), turn, 1.0), (w, h),
                              borderMode=cv2.BORDER_REPLICATE)
    return gray


def test_crop_turned_turns_the_square_about_its_centre():
    img = np.full((100, 100), 255, np.uint8)
    img[48:52, 20:80] = 0  # a horizontal bar
    tilted = cv2.warpAffine(img, cv2.getRotationMatrix2D((50, 50), 30, 1.0), (100, 100), borderValue=255)
    back = crop_turned(tilted, 50, 50.0, 50.0, 100.0, -30)  # turned back, at half size
    ys, xs = np.nonzero(back < 128)
    assert ys.max() - ys.min() <= 4 and xs.max() - xs.min() >= 25  # horizontal again
    assert abs(ys.mean() - 24.5) < 1.5 and abs(xs.mean() - 24.5) < 1.5  # about the same centre


def _close_up(turn: float = 0.0, size: int = 96) -> np.ndarray:
    """The demo photo's face box plus 20% a side (a close-up: the face fills most of it), turned `turn` degrees."""
    x, y, w, h = detect(_demo())
    d = w // 5
    up = cv2.resize(_demo()[y - d:y + h + d, x - d:x + w + d], (size, size), interpolation=cv2.INTER_AREA)
    if not turn:
        return up
    return cv2.warpAffine(up, cv2.getRotationMatrix2D((size / 2, size / 2), turn, 1.0), (size, size),
                          borderMode=cv2.BORDER_REPLICATE)


@pytest.mark.parametrize("turn", [-25, 25])
def test_upright_finds_a_tilted_head_and_crops_it_upright(turn):
    tilted = _close_up(turn)
    assert detect(tilted) is None  # the plain cascade misses the tilted head
    cx, cy, side, angle = find_upright(tilted)
    assert np.sign(angle) == np.sign(-turn) and abs(angle + turn) <= 15  # turned back, within a step or so
    assert 60 <= side <= 80 and abs(cx - 48) < 6 and abs(cy - 48) < 6
    face, how, _ = crop_face_at(tilted, 64, FaceConfig(upright=True))
    assert how.startswith("haar, upright (turned")
    plain, plain_how = crop_face(_close_up(), 64, FaceConfig())
    assert plain_how == "haar"
    match = cv2.matchTemplate(face[8:56, 8:56], plain, cv2.TM_CCOEFF_NORMED).max()
    assert match > 0.6  # the upright crop shows the face as the untilted close-up's crop does
    assert crop_face(tilted, 64, FaceConfig())[1] == "whole"  # upright is off by default


def test_upright_counts_only_a_face_that_fills_most_of_its_picture():
    tilted = _demo(25)  # the whole portrait: the head is a fifth of its side
    assert detect(tilted) is None
    found = find_upright(tilted)
    assert found is None or found[2] >= UPRIGHT_MIN_FACE * 256  # a box smaller than that is never taken
    cx, cy, side, angle = find_upright(tilted, min_face=0.2)  # when smaller faces count: the head
    assert 40 <= side <= 75 and angle < 0


def test_upright_finds_a_face_that_fills_its_picture():
    x, y, w, h = detect(_demo())
    d = w // 10  # a crop inside the face box, at 48 px: tighter than a FER+ crop
    tight = cv2.resize(_demo()[y + d:y + h - d, x + d:x + w - d], (48, 48), interpolation=cv2.INTER_AREA)
    assert detect(tight) is None
    face, how, square = crop_face_at(tight, 48, FaceConfig(upright=True, margin=0.1))
    assert how == "haar, upright" and square[2] >= 40  # found in the border: nearly the whole picture
    blank = np.full((64, 64), 200, np.uint8)
    assert find_upright(blank) is None and crop_face(blank, 32, FaceConfig(upright=True))[1] == "whole"


def test_photos_are_searched_upright_and_datasets_are_not():
    from emosketch.cli import face_note
    from emosketch.datasets.photo import model_input, photo_configs

    assert FaceConfig().upright is None and FaceConfig().for_photos().upright is True
    assert FaceConfig(upright=False).for_photos().upright is False  # settings may turn it off
    assert photo_configs({})[0].upright is True
    assert photo_configs({"face_crop": {"upright": False}})[0].upright is False
    tilted = _close_up(-25)
    assert crop_face(tilted, 64, FaceConfig())[1] == "whole"  # a dataset's crop (prepare) is unchanged
    sketch, how = model_input(tilted, {"sketch": {"method": "xdog"}}, 64, "sketch", "photo")
    assert "upright (turned +" in how and sketch.shape == (64, 64)  # a photo's is turned upright
    note = face_note(how)
    assert note.startswith("the face was found tilted and is drawn turned upright (+")
    assert face_note("photo -> sketch (haar)") is None and "no frontal face" in face_note("photo -> sketch (whole)")


def test_upright_skips_strips_and_tiny_pictures_quickly():
    rng = np.random.default_rng(0)
    strip = rng.integers(0, 256, (10, 4000)).astype(np.uint8)  # enlarged for the search it would be 192 x 76,800
    assert find_upright(strip) is None and crop_face(strip, 32, FaceConfig(upright=True))[1] == "whole"
    tiny = rng.integers(0, 256, (5, 5)).astype(np.uint8)
    assert crop_face(tiny, 32, FaceConfig(upright=True))[1] == "whole"


def test_a_photos_sketch_gets_an_ink_floor_that_its_settings_may_name():
    """A pale photo's sketch kept only its eyes, and people saw no face in it (blind rounds 97-100): a photo's
    XDoG sketch holds at least PHOTO_MIN_INK of ink, unless the model's settings name their own floor."""
    from emosketch.datasets.photo import PHOTO_MIN_INK, model_input, photo_configs
    from emosketch.models import demo_photo

    assert photo_configs({"sketch": {"method": "xdog"}})[1].min_ink == PHOTO_MIN_INK
    assert photo_configs({"sketch": {"method": "xdog", "min_ink": 0.0}})[1].min_ink == 0.0
    assert photo_configs({"sketch": {"method": "canny"}})[1].min_ink == 0.0
    gray = cv2.imread(str(demo_photo()), cv2.IMREAD_GRAYSCALE)
    pale = (gray.astype(np.float32) * 0.15 + 210).astype(np.uint8)  # the demo photo washed out
    floored, _ = model_input(pale, {"sketch": {"method": "xdog"}}, 128, "sketch", "photo")
    plain, _ = model_input(pale, {"sketch": {"method": "xdog", "min_ink": 0.0}}, 128, "sketch", "photo")
    assert (plain < 128).mean() < 0.08 and (floored < 128).mean() > (plain < 128).mean() + 0.03
    own, _ = model_input(gray, {"sketch": {"method": "xdog"}}, 128, "sketch", "photo")  # inked enough already
    assert np.array_equal(own, model_input(gray, {"sketch": {"method": "xdog", "min_ink": 0.0}}, 128, "sketch",
                                           "photo")[0])


def test_a_photo_of_two_people_says_which_face_is_drawn():
    """Two faces: the largest was drawn and nothing was said of the other."""
    from emosketch.cli import face_note
    from emosketch.datasets.decode import decode_file
    from emosketch.models import demo_photo

    photo = decode_file(demo_photo())
    pair = np.hstack([photo, photo[:, ::-1]])  # the same person twice, side by side
    _, how = crop_face(pair, 64)
    assert how == "haar, the largest of 2 faces", how
    assert face_note(f"photo -> sketch ({how})").startswith("2 faces were found in the photo and the largest is drawn")
    assert crop_face(photo, 64)[1] == "haar"


def test_side_by_side_shows_the_face_the_sketch_was_made_from():
    """The source panel was the photo's middle square: plain background where the face was off centre."""
    from emosketch.datasets.decode import decode_file
    from emosketch.interpolate.render import Renderer
    from emosketch.models import default_generator, demo_photo

    photo = decode_file(demo_photo())
    wide = np.full((photo.shape[0], photo.shape[1] * 4), 180, np.uint8)
    wide[:, :photo.shape[1]] = photo  # the portrait at the left of a wide grey picture
    source = Renderer(default_generator(), "cpu").source(image=wide)
    assert source.original.shape[0] == source.original.shape[1] <= wide.shape[0]
    assert source.original.std() > 20  # a face, not the plain grey the middle square held
