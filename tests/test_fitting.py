"""One-shot fitting: recovery of known parameters from projected model landmarks, and real fits
of the astronaut (public domain, NASA) that must find her smile."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from talkface.core.face.camera import Camera
from talkface.core.face.fitting import FaceFit, FitConfig, fit_landmarks, fit_photo, fit_photo_file, inter_ocular
from talkface.core.face.image_io import Photo
from talkface.core.face.model import ARKIT_NAMES, load_face_model

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def _weights(**named) -> np.ndarray:
    w = np.zeros(len(ARKIT_NAMES))
    for name, value in named.items():
        w[ARKIT_NAMES.index(name)] = value
    return w


def _synthetic(model, identity, expression, pose, cam, noise_iod, seed):
    """Landmarks as MediaPipe would report them for a face the model itself generated."""
    rng = np.random.default_rng(seed)
    world = model.vertices(identity, expression[None], pose[None])[0].astype(np.float64)
    uvd = cam.project(world)
    iod = inter_ocular(uvd[:, :2])
    points = uvd[:, :2] + rng.normal(0.0, noise_iod * iod, uvd[:, :2].shape)
    depth = cam.focal * (world[:, 1] - world[:, 1].mean()) / pose[4]
    return points, depth + rng.normal(0.0, noise_iod * iod, depth.shape)


@pytest.mark.parametrize("yaw_deg, expr", [
    (-30.0, {"jawOpen": 0.6}),
    (0.0, {"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7}),
    (30.0, {"jawOpen": 0.4, "eyeBlinkLeft": 0.8, "eyeBlinkRight": 0.8}),
])
def test_recovers_pose_and_expression_from_synthetic_landmarks(model, yaw_deg, expr):
    rng = np.random.default_rng(int(yaw_deg) + 100)
    identity = rng.normal(0.0, 0.7, model.n_identity)
    expression = _weights(**expr)
    pose = np.array([np.radians(6.0), np.radians(-4.0), np.radians(yaw_deg), 0.03, 1.0, -0.02])
    cam = Camera.from_fov(640, 480, 40.0)
    points, depth = _synthetic(model, identity, expression, pose, cam, 0.005, seed=1)

    fit = fit_landmarks(points, model, (640, 480), depth=depth)

    assert np.degrees(np.abs(fit.pose[:3] - pose[:3])).max() < 2.0
    for name, value in expr.items():
        assert abs(fit.expression[ARKIT_NAMES.index(name)] - value) < 0.2, name
    others = [i for i, n in enumerate(ARKIT_NAMES) if n not in expr]
    assert fit.expression[others].max() < 0.2
    assert fit.error_iod < 0.015
    assert np.corrcoef(fit.identity, identity)[0, 1] > 0.8
    assert np.all(fit.expression >= 0) and np.all(fit.expression <= 1)


def test_known_focal_pins_the_distance(model):
    identity = np.zeros(model.n_identity)
    pose = np.array([0.0, 0.0, np.radians(15.0), -0.05, 0.7, 0.02])
    cam = Camera.from_fov(800, 800, 50.0)
    points, depth = _synthetic(model, identity, _weights(), pose, cam, 0.003, seed=2)
    fit = fit_landmarks(points, model, (800, 800), depth=depth, focal=cam.focal)
    assert fit.focal == cam.focal
    np.testing.assert_allclose(fit.pose[3:], pose[3:], atol=0.03)


def test_neutral_synthetic_face_fits_as_neutral(model):
    pose = np.array([0.0, 0.0, 0.0, 0.0, 1.2, 0.0])
    cam = Camera.from_fov(512, 512, 30.0)
    points, depth = _synthetic(model, np.zeros(model.n_identity), _weights(), pose, cam, 0.005, 3)
    fit = fit_landmarks(points, model, (512, 512), depth=depth)
    assert fit.expression.max() < 0.1


@pytest.fixture(scope="module")
def astro_fit(model) -> FaceFit:
    from talkface.core.face.landmarks import detect_landmarks

    rgb = skimage_data.astronaut()
    photo = Photo(rgb.astype(np.float32) / 255.0, "astronaut.png", "abc", (512, 512))
    return fit_photo(photo, detect_landmarks(photo), model)


def test_astronaut_fit_is_tight_and_fast(astro_fit):
    assert astro_fit.error_iod < 0.03
    assert astro_fit.fit_seconds < 2.0
    assert astro_fit.n_faces == 1
    assert abs(np.degrees(astro_fit.pose[2])) < 15  # she faces the camera
    assert astro_fit.camera.width == 512 and astro_fit.camera.cx == 256.0


def test_astronaut_smile_is_recognised(astro_fit):
    e = dict(zip(ARKIT_NAMES, astro_fit.expression))
    assert e["mouthSmileLeft"] > 0.4 and e["mouthSmileRight"] > 0.4
    assert e["mouthFrownLeft"] < 0.2 and e["mouthFrownRight"] < 0.2
    assert e["eyeBlinkLeft"] < 0.3 and e["eyeBlinkRight"] < 0.3


def test_fitted_model_reprojects_onto_the_landmarks(model, astro_fit):
    """The same conventions as Blender and flow: model.vertices + Camera.project."""
    world = model.vertices(astro_fit.identity, astro_fit.expression[None], astro_fit.pose[None])
    uv = astro_fit.camera.project(world[0])[:, :2]
    err = np.linalg.norm(uv - astro_fit.landmarks_2d, axis=1).mean()
    assert err == pytest.approx(astro_fit.error_px, rel=1e-3)
    # The subject's left eye (model x > 0) is on the image's right.
    assert uv[263, 0] > uv[33, 0]


def test_dict_round_trip_is_json_safe(astro_fit):
    d = json.loads(json.dumps(astro_fit.to_dict()))
    back = FaceFit.from_dict(d)
    np.testing.assert_allclose(back.identity, astro_fit.identity)
    np.testing.assert_allclose(back.expression, astro_fit.expression)
    np.testing.assert_allclose(back.pose, astro_fit.pose)
    np.testing.assert_allclose(back.landmarks_2d, astro_fit.landmarks_2d)
    assert back.camera == astro_fit.camera
    assert back.photo_sha256 == "abc" and back.image_size == (512, 512)
    assert back.error_iod == astro_fit.error_iod and back.notes == astro_fit.notes


def test_fit_photo_file_with_two_faces_fits_the_largest_and_says_so(tmp_path, model):
    import hashlib

    astro = skimage_data.astronaut()
    canvas = np.full((600, 1100, 3), 128, np.uint8)
    canvas[300:556, 20:276] = np.asarray(Image.fromarray(astro).resize((256, 256)))
    canvas[40:552, 560:1072] = astro
    path = tmp_path / "two.png"
    Image.fromarray(canvas).save(path)
    fit = fit_photo_file(path, model)
    assert fit.n_faces == 2
    assert any("2 faces found" in n and "largest" in n for n in fit.notes)
    assert fit.landmarks_2d[:, 0].min() > 560
    assert fit.photo_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert fit.error_iod < 0.03


def test_config_can_unlock_all_channels(model):
    pose = np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    cam = Camera.from_fov(512, 512, 30.0)
    expression = _weights(eyeLookUpLeft=0.8, eyeLookUpRight=0.8)
    points, depth = _synthetic(model, np.zeros(model.n_identity), expression, pose, cam, 0.0, 4)
    locked = fit_landmarks(points, model, (512, 512), depth=depth)
    assert locked.expression[ARKIT_NAMES.index("eyeLookUpLeft")] == 0.0
    free = fit_landmarks(points, model, (512, 512), depth=depth,
                         config=FitConfig(locked=frozenset()))
    assert free.error_px <= locked.error_px
