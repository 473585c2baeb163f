"""Landmarks on real pixels: the astronaut (public domain, NASA) and canvases built from her."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from talkface.core.errors import InputError
from talkface.core.face.image_io import Photo, load_photo
from talkface.core.face.landmarks import (
    MIN_FACE_PX,
    N_POINTS,
    FaceTooSmallError,
    Landmarks,
    NoFaceError,
    detect_landmarks,
)

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("mediapipe")


def _photo(rgb_u8: np.ndarray, name: str = "test.png") -> Photo:
    return Photo(rgb=rgb_u8.astype(np.float32) / 255.0, path=name, sha256="",
                 original_size=(rgb_u8.shape[1], rgb_u8.shape[0]))


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def astro() -> np.ndarray:
    return skimage_data.astronaut()


@pytest.fixture(scope="module")
def astro_lm(astro) -> Landmarks:
    return detect_landmarks(_photo(astro))


def test_astronaut_landmarks_are_anatomically_placed(astro_lm):
    lm = astro_lm
    assert lm.points.shape == (N_POINTS, 3) and lm.n_faces == 1
    assert "1 face" in lm.message
    # Her face sits in the upper middle of the 512 px picture, about 90 px wide.
    x0, y0, x1, y1 = lm.box
    assert 160 < x0 < 200 and 250 < x1 < 290 and 50 < y0 < 90 and 160 < y1 < 200
    # Subject's right iris is on the image's left; eyes above nose tip (1) above chin (152).
    assert lm.iris_right[0] < lm.iris_left[0]
    assert lm.iris_left[1] < lm.points[1, 1] < lm.points[152, 1]
    assert 35 < lm.inter_ocular < 55
    # Mouth corners 61 (subject's right) and 291 straddle the face's midline (nose tip).
    assert lm.points[61, 0] < lm.points[1, 0] < lm.points[291, 0]


def test_detection_is_repeatable(astro, astro_lm):
    again = detect_landmarks(_photo(astro))
    np.testing.assert_allclose(again.points, astro_lm.points, atol=1e-6)


def test_scaled_photo_gives_scaled_landmarks(astro, astro_lm):
    big = detect_landmarks(_photo(_resize(astro, 1024, 1024)))
    # Coordinates are pixel-corner based, so they simply double.
    err = np.abs(big.points[:, :2] - 2 * astro_lm.points[:, :2])
    assert np.median(err) < 0.03 * 2 * astro_lm.inter_ocular


def test_several_faces_fits_the_largest_and_says_so(astro):
    canvas = np.full((600, 1100, 3), 128, np.uint8)
    canvas[300:556, 20:276] = _resize(astro, 256, 256)  # smaller face on the left
    canvas[40:552, 560:1072] = astro  # larger face on the right
    lm = detect_landmarks(_photo(canvas))
    assert lm.n_faces == 2 and lm.chosen_index == 0
    assert "2 faces" in lm.message and "largest" in lm.message
    assert lm.box[0] > 560 and lm.face_width > 80  # the large face was fitted


def test_no_face(astro):
    with pytest.raises(NoFaceError, match="No face"):
        detect_landmarks(_photo(skimage_data.coffee(), "coffee.png"))
    gradient = np.tile(np.linspace(0, 255, 400, dtype=np.uint8)[None, :, None], (300, 1, 3))
    with pytest.raises(NoFaceError):
        detect_landmarks(_photo(gradient))


def test_face_under_64_px_is_refused(astro):
    canvas = np.full((512, 512, 3), 128, np.uint8)
    canvas[100:356, 100:356] = _resize(astro, 256, 256)  # face about 46 px wide
    with pytest.raises(FaceTooSmallError, match=f"{MIN_FACE_PX} px"):
        detect_landmarks(_photo(canvas))
    assert issubclass(FaceTooSmallError, InputError) and issubclass(NoFaceError, InputError)


def test_8k_photo_from_file(tmp_path, astro, astro_lm):
    path = tmp_path / "8k.jpg"
    big = np.zeros((4320, 7680, 3), np.uint8)
    big[:, 1000:5320] = _resize(astro, 4320, 4320)
    Image.fromarray(big).save(path, quality=85)
    lm = detect_landmarks(load_photo(path))
    s = 4320 / 512
    expected = astro_lm.points[:, :2] * s + np.array([1000.0, 0.0])
    assert lm.image_size == (7680, 4320)
    assert np.median(np.linalg.norm(lm.points[:, :2] - expected, axis=1)) < 0.04 * lm.inter_ocular


@pytest.mark.parametrize("kind", ["gray", "rgba", "exif"])
def test_converted_photos_still_give_the_face(tmp_path, astro, astro_lm, kind):
    if kind == "gray":
        Image.fromarray(astro.mean(axis=2).astype(np.uint8)).save(tmp_path / "p.png")
        path, expected = tmp_path / "p.png", astro_lm.points[:, :2]
    elif kind == "rgba":
        rgba = np.dstack([astro, np.full(astro.shape[:2], 255, np.uint8)])
        rgba[400:, :, 3] = 0
        Image.fromarray(rgba, "RGBA").save(tmp_path / "p.png")
        path, expected = tmp_path / "p.png", astro_lm.points[:, :2]
    else:  # stored on its side, EXIF orientation 6 says: turn 90 degrees clockwise to view
        exif = Image.Exif()
        exif[0x0112] = 6
        Image.fromarray(np.rot90(astro, 1)).save(tmp_path / "p.jpg", exif=exif, quality=95)
        path, expected = tmp_path / "p.jpg", astro_lm.points[:, :2]
    lm = detect_landmarks(load_photo(path))
    err = np.linalg.norm(lm.points[:, :2] - expected, axis=1)
    assert np.median(err) < 0.05 * astro_lm.inter_ocular
