"""468 MediaPipe FaceMesh landmarks of the largest face in a photo, in full-resolution pixels.

MediaPipe 0.10.21 ships its TF-lite models inside the wheel (Apache-2.0), so nothing is
downloaded. Its own face mesh only finds faces that fill much of the frame, so we first count
faces with the short- and full-range detectors (whole image plus overlapping tiles, so small
faces in big photos are seen too), then run the mesh on a square crop around the largest face and
map the points back. Vertex ``i`` of the face model is landmark ``i``.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .image_io import Photo
from .topology import LEFT_IRIS, N_POINTS, RIGHT_IRIS

#: Faces narrower than this (landmark box, full-res pixels) are refused: too few pixels to fit.
MIN_FACE_PX = 64
#: Detection runs on a copy whose longer side is at most this; the mesh uses full-res crops.
DETECT_MAX_SIDE = 1024
#: Side of the square crop the mesh sees; its landmark network works at 192 px.
MESH_CROP_PX = 384
#: Detections below this score are ignored: on scikit-image's non-face pictures the detectors
#: fire at 0.5-0.74, on real faces from 20 px to full frame they score 0.86-0.98.
DETECT_SCORE = 0.8


class NoFaceError(InputError):
    """No face could be found in the photo."""


class FaceRotatedError(InputError):
    """The face is upside down or on its side in the upright photo (the fit needs it upright)."""


class FaceTooSmallError(InputError):
    """The face is too small in the photo to fit reliably."""


@dataclass(frozen=True, eq=False)
class Landmarks:
    """Landmarks of the chosen face; x, y in full-res pixels, z in pixels (MediaPipe's
    relative depth: smaller is nearer the camera, zero near the face's centre plane)."""

    points: np.ndarray  # float64 [468, 3]
    iris_right: np.ndarray  # float64 [2], subject's right iris centre (image left when frontal)
    iris_left: np.ndarray  # float64 [2], subject's left iris centre
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 of the landmarks, full-res pixels
    n_faces: int
    chosen_index: int  # index of the fitted face among detections sorted by size, largest first
    image_size: tuple[int, int]  # (width, height) of the photo the points refer to
    message: str
    warning: str = ""  # the landmarks cover much less than the detected face (a turned or hidden face)

    @property
    def face_width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def inter_ocular(self) -> float:
        """Distance between iris centres in pixels: the scale for relative fit errors."""
        return float(np.linalg.norm(self.iris_left - self.iris_right))


# ----------------------------------------------------------------------------- MediaPipe setup

_lock = threading.Lock()
_solutions: dict[str, object] = {}


@contextmanager
def _quiet_stderr():
    """Silence MediaPipe's C++ logs (TF-lite delegate, absl warnings) written to fd 2."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _mediapipe():
    """Create the detectors and the mesh once per process; they are reused for every photo."""
    if not _solutions:
        with _quiet_stderr():
            try:
                from absl import logging as absl_logging

                absl_logging.set_verbosity(absl_logging.ERROR)
            except ImportError:
                pass
            import mediapipe as mp

            _solutions["short"] = mp.solutions.face_detection.FaceDetection(
                model_selection=0, min_detection_confidence=0.5)
            _solutions["full"] = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5)
            _solutions["mesh"] = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, refine_landmarks=True, max_num_faces=3,
                min_detection_confidence=0.3)
    return _solutions


# ----------------------------------------------------------------------------- detection


def _detect_boxes(img: np.ndarray) -> np.ndarray:
    """Face boxes ``[N, 5]`` (x0, y0, x1, y1, score) in ``img`` pixels, duplicates merged."""
    h, w = img.shape[:2]
    views = [(0, 0, w, h)]
    tw, th = w // 2, h // 2
    if min(tw, th) >= 96:  # overlapping half-size tiles: small faces become big enough to see
        views += [(x, y, tw, th) for y in (0, h // 4, h - th) for x in (0, w // 4, w - tw)]
    sol = _mediapipe()
    boxes = []
    with _quiet_stderr():
        for x0, y0, vw, vh in views:
            view = np.ascontiguousarray(img[y0:y0 + vh, x0:x0 + vw])
            for key in ("short", "full"):
                result = sol[key].process(view)
                for det in result.detections or []:
                    rb = det.location_data.relative_bounding_box
                    bx, by = x0 + rb.xmin * vw, y0 + rb.ymin * vh
                    boxes.append((bx, by, bx + rb.width * vw, by + rb.height * vh, det.score[0]))
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 5)
    boxes = boxes[boxes[:, 4] >= DETECT_SCORE]
    return _merge_boxes(boxes) if len(boxes) else boxes


def _merge_boxes(boxes: np.ndarray, overlap: float = 0.4) -> np.ndarray:
    """Greedy suppression by intersection over the smaller box, so a face cut by a tile edge
    does not count twice; keeps higher scores first, returns the survivors largest first."""
    boxes = boxes[np.argsort(-boxes[:, 4])]
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(x1 - x0, 0) * np.maximum(y1 - y0, 0)
    iw = np.clip(np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None]), 0, None)
    ih = np.clip(np.minimum(y1[:, None], y1[None]) - np.maximum(y0[:, None], y0[None]), 0, None)
    ratio = iw * ih / np.maximum(np.minimum(area[:, None], area[None]), 1e-9)
    keep: list[int] = []
    for i in range(len(boxes)):  # N is a handful of detections
        if all(ratio[i, j] < overlap for j in keep):
            keep.append(i)
    kept = boxes[keep]
    size = (kept[:, 2] - kept[:, 0]) * (kept[:, 3] - kept[:, 1])
    return kept[np.argsort(-size)]


def _square_crop(rgb: np.ndarray, cx: float, cy: float, side: float, out_px: int):
    """Square crop centred at (cx, cy) of ``side`` full-res px, resized to ``out_px``; pixels
    outside the photo are edge-replicated. Returns the uint8 crop and its top-left corner.

    Coordinates are pixel-corner based (MediaPipe's and the camera's convention), so the
    affine below is shifted by half a pixel for OpenCV, which puts pixel centres at integers."""
    import cv2

    x0, y0 = cx - side / 2.0, cy - side / 2.0
    s = out_px / side
    src = rgb
    src_scale = np.array([1.0, 1.0])  # source-array px per full-res px, per axis (x, y)
    if s < 0.5:  # warpAffine ignores INTER_AREA: pre-shrink so large photos are not aliased
        k = int(1.0 / s)
        src = cv2.resize(rgb, (max(1, rgb.shape[1] // k), max(1, rgb.shape[0] // k)),
                         interpolation=cv2.INTER_AREA)
        src_scale = np.array([src.shape[1] / rgb.shape[1], src.shape[0] / rgb.shape[0]])
    a = s / src_scale  # crop px per source-array px
    b = -np.array([x0, y0]) * s
    affine = np.array([[a[0], 0.0, 0.5 * a[0] + b[0] - 0.5],
                       [0.0, a[1], 0.5 * a[1] + b[1] - 0.5]])
    interp = cv2.INTER_AREA if (a < 1.0).all() else cv2.INTER_LINEAR
    crop = cv2.warpAffine(src, affine, (out_px, out_px), flags=interp,
                          borderMode=cv2.BORDER_REPLICATE)
    return np.clip(np.rint(crop * 255.0), 0, 255).astype(np.uint8), (x0, y0)


def mesh_on_crop(rgb: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray | None:
    """Run the mesh on a crop; returns the most central face's 478 points in full-res px."""
    crop, (x0, y0) = _square_crop(rgb, cx, cy, side, MESH_CROP_PX)
    with _quiet_stderr():
        result = _mediapipe()["mesh"].process(crop)
    if not result.multi_face_landmarks:
        return None
    faces = [np.array([(p.x, p.y, p.z) for p in f.landmark], dtype=np.float64)
             for f in result.multi_face_landmarks]
    centre_dist = [np.linalg.norm(f[:N_POINTS, :2].mean(0) - 0.5) for f in faces]
    pts = faces[int(np.argmin(centre_dist))] * side  # normalised crop coords -> full-res px
    pts[:, 0] += x0
    pts[:, 1] += y0
    return pts


SMALL_FIT_SHARE = 0.6    # landmarks spanning less than this share of the detector's box: warn
UPRIGHT_SURE = 0.8       # detector score above which an upright face needs no orientation check
ROTATED_SURE = 0.7       # a turned copy scoring this (and clearly more than upright): the face is turned


def _refuse_rotated_face(pixels: np.ndarray, boxes: np.ndarray, name: str) -> None:
    """A face that is upside down or on its side is found by the detector only once the photo is
    turned; fitted as it is, the mouth would land on the forehead. Checked only when the upright
    detection is weak or absent (a clear upright face costs nothing)."""
    upright = float(boxes[0, 4]) if len(boxes) else 0.0
    if upright >= UPRIGHT_SURE:
        return
    for turns, how in ((2, "upside down"), (1, "on its side"), (3, "on its side")):
        turned = _detect_boxes(np.ascontiguousarray(np.rot90(pixels, turns)))
        if len(turned) and turned[0, 4] >= ROTATED_SURE and turned[0, 4] > upright + 0.15:
            raise FaceRotatedError(
                f"The face in '{name}' is {how} (it is found only with the photo turned by {90 * turns} "
                "degrees): turn the photo upright, or correct its EXIF orientation, and try again.")


def detect_landmarks(photo: Photo) -> Landmarks:
    """Landmarks of the largest face in ``photo``; raises ``NoFaceError``/``FaceTooSmallError``."""
    with _lock:  # MediaPipe graphs are not re-entrant
        return _detect_locked(photo)


def _detect_locked(photo: Photo) -> Landmarks:
    import cv2

    h, w = photo.height, photo.width
    scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
    small = photo.rgb if scale == 1.0 else cv2.resize(
        photo.rgb, (max(1, round(w * scale)), max(1, round(h * scale))),
        interpolation=cv2.INTER_AREA)
    pixels = np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8)
    boxes = _detect_boxes(pixels)
    name = os.path.basename(photo.path) or "the photo"
    _refuse_rotated_face(pixels, boxes, name)
    boxes[:, :4] /= scale

    candidates = []
    if len(boxes):
        b = boxes[0]
        side = 2.2 * max(b[2] - b[0], b[3] - b[1])  # detector boxes hold only the inner face
        candidates.append(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2 - 0.05 * side, side))
    # Then let the mesh's own detector try the whole photo (e.g. a face filling the frame).
    candidates.append((w / 2, h / 2, float(max(w, h))))

    pts = None
    for cx, cy, side in candidates:
        pts = mesh_on_crop(photo.rgb, cx, cy, side)
        if pts is not None:
            break
    if pts is None:
        if len(boxes) and max(boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]) < MIN_FACE_PX:
            raise FaceTooSmallError(
                f"The face in '{name}' is only about {boxes[0, 2] - boxes[0, 0]:.0f} px wide; "
                f"it needs at least {MIN_FACE_PX} px. Use a closer or larger photo.")
        raise NoFaceError(
            f"No face was found in '{name}'. Use a photo with one clearly visible face, "
            f"at least {MIN_FACE_PX} px wide and turned less than about 45 degrees.")

    # Second pass on a crop fitted to the first landmarks: the mesh is most precise when the
    # face fills its crop the way its training crops did.
    x0, y0 = pts[:N_POINTS, :2].min(0)
    x1, y1 = pts[:N_POINTS, :2].max(0)
    refined = mesh_on_crop(photo.rgb, (x0 + x1) / 2, (y0 + y1) / 2, 1.5 * max(x1 - x0, y1 - y0))
    if refined is not None:
        pts = refined
    x0, y0 = pts[:N_POINTS, :2].min(0)
    x1, y1 = pts[:N_POINTS, :2].max(0)

    if x1 - x0 < MIN_FACE_PX:
        raise FaceTooSmallError(
            f"The face in '{name}' is only {x1 - x0:.0f} px wide; it needs at least "
            f"{MIN_FACE_PX} px. Use a closer or larger photo.")

    n_faces = max(len(boxes), 1)
    if n_faces > 1:
        message = f"{n_faces} faces found; fitted the largest ({x1 - x0:.0f} px wide)."
    else:
        message = f"1 face found ({x1 - x0:.0f} px wide)."
    warning = ""
    if len(boxes):
        detected = max(boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1])
        if max(x1 - x0, y1 - y0) < SMALL_FIT_SHARE * detected:
            warning = (f"The face mesh covers only {max(x1 - x0, y1 - y0):.0f} px of a face detected "
                       f"{detected:.0f} px wide: the face may be turned far from the camera or partly hidden; "
                       "check the fit in the camera view.")
    return Landmarks(
        points=pts[:N_POINTS].copy(),
        iris_right=pts[RIGHT_IRIS, :2].copy(),
        iris_left=pts[LEFT_IRIS, :2].copy(),
        box=(float(x0), float(y0), float(x1), float(y1)),
        n_faces=n_faces,
        chosen_index=0,
        image_size=(w, h),
        message=message,
        warning=warning,
    )
