"""Face crop: dataset boxes with a margin, square crops inside the image, the Haar cascade and the miss policy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import FERPLUS

from emosketch.datasets.decode import Skip
from emosketch.datasets.face import FaceConfig, cascade, crop_face, detect, square_around
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
