"""Properties of the shipped face model (weights/face_model.npz) and its measurement helpers."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from talkface.core.errors import MissingWeightsError
from talkface.core.face.model import ARKIT_NAMES, eye_opening, inner_lip_gap, lip_pair_gaps, load_face_model
from talkface.core.face.pose import apply_pose

ROOT = Path(__file__).resolve().parents[1]
FLIP = np.array([-1.0, 1.0, 1.0], np.float32)
MM = 1e-3


@pytest.fixture(scope="module")
def model():
    return load_face_model()


def single(model, name, w=1.0, frames=1):
    return model.vertices(None, model.weights_from({name: w}, frames))


def edge_use(tris):
    return Counter(tuple(sorted(e)) for t in tris for e in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))


def boundary_loops(tris):
    nbr = {}
    for (a, b), n in edge_use(tris).items():
        if n == 1:
            nbr.setdefault(a, set()).add(b)
            nbr.setdefault(b, set()).add(a)
    loops, seen = [], set()
    for s in nbr:
        if s in seen:
            continue
        stack, comp = [s], set()
        while stack:
            x = stack.pop()
            if x not in comp:
                comp.add(x)
                stack.extend(nbr[x] - comp)
        seen |= comp
        loops.append(comp)
    return loops, nbr


# ---- names, loading -------------------------------------------------------------------------
def test_arkit_names_are_apples_52_in_order(model):
    assert len(ARKIT_NAMES) == 52 == len(set(ARKIT_NAMES))
    assert ARKIT_NAMES[0] == "eyeBlinkLeft" and ARKIT_NAMES[-1] == "tongueOut"
    assert ARKIT_NAMES.index("jawOpen") == 17 and ARKIT_NAMES.index("browDownLeft") == 41
    assert model.expression_basis.shape == (52, model.n_vertices, 3)
    assert model.names == ARKIT_NAMES


def test_load_is_cached_and_missing_file_is_a_clear_error(tmp_path):
    assert load_face_model() is load_face_model()
    with pytest.raises(MissingWeightsError):
        load_face_model(tmp_path / "nope.npz")


def test_provenance_records_the_shipped_file():
    prov = json.loads((ROOT / "weights" / "provenance.json").read_text())["face_model.npz"]
    digest = hashlib.sha256((ROOT / "weights" / "face_model.npz").read_bytes()).hexdigest()
    assert prov["sha256"] == digest
    assert "build_face_model.py" in prov["command"]


# ---- mesh validity --------------------------------------------------------------------------
def test_mesh_is_a_clean_manifold_with_mouth_and_eye_holes(model):
    tris = model.triangles
    assert model.n_vertices >= 400 and tris.dtype == np.int32
    assert len({tuple(sorted(t)) for t in tris}) == len(tris)
    use = edge_use(tris)
    assert max(use.values()) == 2  # every edge has at most two triangles
    loops, nbr = boundary_loops(tris)
    assert all(len(n) == 2 for n in nbr.values())  # boundary vertices are not pinched
    assert len(loops) == 4  # outer rim + mouth + two eyes
    assert model.n_vertices - len(use) + len(tris) == 2 - 4  # a disk with three holes
    sets = model.index_sets
    mouth = set(sets["lip_inner_upper"]) | set(sets["lip_inner_lower"])
    eye_l = set(sets["eye_left_upper"]) | set(sets["eye_left_lower"])
    eye_r = set(sets["eye_right_upper"]) | set(sets["eye_right_lower"])
    assert {frozenset(x) for x in (mouth, eye_l, eye_r)} <= {frozenset(x) for x in loops}
    # oriented consistently: every interior edge is traversed once each way
    directed = Counter((a, b) for t in tris for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0])))
    assert max(directed.values()) == 1


def test_no_degenerate_triangles_and_normals_face_out(model):
    p = model.neutral[model.triangles].astype(np.float64)
    n = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    area = 0.5 * np.linalg.norm(n, axis=1)
    assert area.min() > 1e-7  # > 0.1 mm^2
    nose = np.any(model.triangles == 1, axis=1)
    assert n[nose, 1].mean() < 0  # the nose tip's triangles face the camera side (-Y)


def test_neutral_is_metric_symmetric_and_placed_on_the_head_pivot(model):
    v = model.neutral
    width = v[454, 0] - v[234, 0]
    assert 0.11 < width < 0.16  # cheek-to-cheek, metres
    assert v[1, 1] < -0.07 and abs(v[1, 0]) < 1e-6  # nose tip well in front of the pivot
    assert v[10, 2] > v[1, 2] > v[152, 2]  # forehead above nose above chin: +Z up
    assert v[263, 0] > 0 > v[33, 0]  # subject's left eye at +X
    m = model.mirror
    assert np.array_equal(m[m], np.arange(model.n_vertices))
    np.testing.assert_allclose(v, (v * FLIP)[m], atol=1e-6)


# ---- expression properties ------------------------------------------------------------------
def test_zero_weights_give_the_neutral_face(model):
    verts = model.vertices(None, np.zeros((3, 52)))
    assert verts.shape == (3, model.n_vertices, 3)
    np.testing.assert_array_equal(verts, np.broadcast_to(model.neutral, verts.shape))
    ident = np.zeros(model.n_identity)
    np.testing.assert_allclose(model.vertices(ident, np.zeros((1, 52)))[0], model.neutral)


def test_vertices_is_vectorised_over_frames_identity_and_pose(model):
    rng = np.random.default_rng(0)
    w = rng.uniform(0, 1, (4, 52)).astype(np.float32)
    ident = rng.normal(size=(4, model.n_identity)).astype(np.float32)
    pose = np.c_[rng.normal(0, 0.2, (4, 3)), rng.normal(0, 0.05, (4, 3))]
    batch = model.vertices(ident, w, pose)
    for f in range(4):
        one = model.neutral_vertices(ident[f]) + np.einsum("k,kvc->vc", w[f], model.expression_basis)
        np.testing.assert_allclose(batch[f], apply_pose(one, pose[f : f + 1])[0], atol=1e-5)
    shared = model.vertices(ident[0], w)
    np.testing.assert_allclose(shared, model.vertices(np.repeat(ident[:1], 4, 0), w), atol=1e-6)


def test_left_right_shapes_mirror_each_other(model):
    basis, m = model.expression_basis, model.mirror
    pairs = [n for n in ARKIT_NAMES if n.endswith("Left")]
    assert len(pairs) == 20
    for name in pairs:
        left = basis[ARKIT_NAMES.index(name)]
        right = basis[ARKIT_NAMES.index(name[:-4] + "Right")]
        assert np.abs(left).max() > 1e-4, name
        np.testing.assert_allclose(right, (left * FLIP)[m], atol=1e-6, err_msg=name)
        # a Left shape moves the subject's left side (+X) more than the right side
        mag = np.linalg.norm(left, axis=1)
        if name not in ("jawLeft", "mouthLeft"):
            assert mag[model.neutral[:, 0] > 0.005].sum() > 3 * mag[model.neutral[:, 0] < -0.005].sum(), name


def test_inner_lip_gap_grows_monotonically_with_jaw_open(model):
    w = np.linspace(0, 1, 11)
    gap = inner_lip_gap(model, model.vertices(None, model.weights_from({"jawOpen": 1}, 11) * w[:, None]))
    assert 0 <= gap[0] < 0.5 * MM  # neutral lips touch
    assert np.all(np.diff(gap) > 0)
    assert gap[-1] > 20 * MM
    # the jaw rotates down and back about its hinge; the upper face does not move
    d = model.expression_basis[ARKIT_NAMES.index("jawOpen")]
    assert d[152, 2] < -0.02 and d[152, 1] > 0
    assert np.abs(d[model.index_sets["anchor"]]).max() < 1e-6


def test_mouth_close_with_jaw_open_closes_the_lips(model):
    w = np.linspace(0, 1, 11)[:, None]
    weights = model.weights_from({"jawOpen": 1, "mouthClose": 1}, 11) * w
    verts = model.vertices(None, weights)
    gap = inner_lip_gap(model, verts)
    assert np.all(gap <= 1 * MM) and np.all(lip_pair_gaps(model, verts) >= -1e-5)
    partial = model.weights_from({"jawOpen": 0.6, "mouthClose": 0.3})
    between = inner_lip_gap(model, model.vertices(None, partial))[0]
    assert inner_lip_gap(model, single(model, "jawOpen", 0.6))[0] > between > 2 * MM


def test_lips_never_pass_through_each_other_at_full_weights(model):
    frames = [model.weights_from({n: 1.0})[0] for n in ARKIT_NAMES if n != "mouthClose"]
    for n in ARKIT_NAMES:
        if n.endswith("Left"):
            frames.append(model.weights_from({n: 1.0, n[:-4] + "Right": 1.0})[0])
    # random mixtures, keeping mouthClose <= jawOpen as in ARKit captures
    rng = np.random.default_rng(1)
    mix = rng.uniform(0, 1, (64, 52)).astype(np.float32)
    jaw, close = ARKIT_NAMES.index("jawOpen"), ARKIT_NAMES.index("mouthClose")
    mix[:, close] = np.minimum(mix[:, close], mix[:, jaw])
    verts = model.vertices(None, np.vstack([np.stack(frames), mix]))
    assert lip_pair_gaps(model, verts).min() >= -1e-5


def test_blinks_close_only_their_own_eyelids(model):
    open_ = eye_opening(model, model.neutral[None])[0]
    assert np.all(open_ > 4 * MM)
    for col, name in enumerate(("eyeBlinkLeft", "eyeBlinkRight")):
        w = np.linspace(0, 1, 6)[:, None]
        eyes = eye_opening(model, model.vertices(None, model.weights_from({name: 1}, 6) * w))
        assert np.all(np.diff(eyes[:, col]) < 0)
        assert 0 <= eyes[-1, col] < 0.5 * MM
        np.testing.assert_allclose(eyes[:, 1 - col], open_[1 - col], atol=1e-6)
    wide = eye_opening(model, single(model, "eyeWideLeft"))[0]
    assert wide[0] > open_[0] + 1 * MM


def test_shapes_move_the_right_way(model):
    b = dict(zip(ARKIT_NAMES, model.expression_basis))
    assert b["mouthSmileLeft"][291, 2] > 3 * MM and b["mouthSmileLeft"][291, 0] > 0
    assert b["mouthFrownLeft"][291, 2] < -3 * MM
    assert b["mouthPucker"][0, 1] < -3 * MM and b["mouthPucker"][291, 0] < -3 * MM
    assert b["browInnerUp"][336, 2] > 3 * MM and b["browDownLeft"][334, 2] < -2 * MM
    assert b["cheekPuff"][205, 0] < -2 * MM and b["cheekPuff"][425, 0] > 2 * MM
    assert b["eyeBlinkLeft"][386, 2] < -3 * MM
    assert b["jawLeft"][152, 0] > 5 * MM
    assert np.abs(b["tongueOut"]).max() < 5 * MM  # no tongue: only a small lip motion


def test_measurements_ignore_head_pose(model):
    verts = model.vertices(None, model.weights_from({"jawOpen": 0.4, "eyeBlinkLeft": 0.5}))
    pose = np.array([[0.3, -0.4, 0.2, 0.05, 0.4, -0.02]])
    posed = apply_pose(verts, pose)
    np.testing.assert_allclose(inner_lip_gap(model, posed), inner_lip_gap(model, verts), atol=2e-6)
    np.testing.assert_allclose(eye_opening(model, posed), eye_opening(model, verts), atol=2e-6)


# ---- identity ---------------------------------------------------------------------------------
def test_identity_basis_cannot_smile_open_the_mouth_or_blink(model):
    ident = model.identity_basis.reshape(model.n_identity, -1).T.astype(np.float64)
    for name in ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "mouthFunnel", "mouthPucker",
                 "eyeBlinkLeft", "mouthStretchLeft"):
        d = model.expression_basis[ARKIT_NAMES.index(name)].ravel().astype(np.float64)
        coef, *_ = np.linalg.lstsq(ident, d, rcond=None)
        residual = d - ident @ coef
        assert residual @ residual > 0.9 * (d @ d), name


def test_identity_changes_shape_but_keeps_lips_closed(model):
    s = model.n_identity
    assert s >= 10
    ids = np.concatenate([3 * np.eye(s), -3 * np.eye(s)])
    verts = model.vertices(ids, np.zeros((2 * s, 52)))
    moved = np.linalg.norm(verts - model.neutral, axis=2).max(axis=1)
    assert np.all(moved > 0.5 * MM)  # every mode does something visible at 3 std
    gaps = lip_pair_gaps(model, verts)
    assert gaps.min() >= 0 and gaps.max() < 1 * MM


def test_folded_triangles_stay_in_the_mouth_corners(model):
    """Known limit: the thin commissure triangles may flip at full mouth weights; nothing else."""
    tris = model.triangles

    def normals(v):
        p = v[..., tris, :]
        n = np.cross(p[..., 1, :] - p[..., 0, :], p[..., 2, :] - p[..., 0, :])
        return n / np.linalg.norm(n, axis=-1, keepdims=True)

    flipped = (normals(model.vertices(None, np.eye(52))) * normals(model.neutral)).sum(-1) < 0
    centres = model.neutral[tris].mean(1)
    near_mouth = np.linalg.norm(centres - model.neutral[[13]], axis=1) < 0.03
    assert np.all(near_mouth[np.nonzero(flipped)[1]])
    assert flipped.sum(axis=1).max() <= 8
    assert not flipped[[ARKIT_NAMES.index(n) for n in ARKIT_NAMES if n.startswith(("eye", "brow"))]].any()
