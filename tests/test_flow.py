import numpy as np
import pytest
import torch

from talkface.core.errors import InputError
from talkface.core.face.camera import Camera
from talkface.core.face.pose import apply_pose
from talkface.core.video.flow import dense_flow

CAMERA = Camera(300.0, 128.0, 128.0, 256, 256)
POSE = np.array([0.0, 0.0, 0.0, 0.0, 0.5, 0.0])  # head pivot 0.5 m in front of the camera


def synthetic_face(n=25, mouth_row=7, mouth_cols=(8, 16)):
    """A bulged grid facing -Y (model space) with a closable horizontal mouth slit.

    The slit's interior vertices are duplicated: the copies ("lower lip") are used by the cells
    below the slit and move with the jaw. Returns verts, triangles, the mouth loop in order and
    per-vertex jaw weights.
    """
    xs, zs = np.linspace(-0.07, 0.07, n), np.linspace(-0.09, 0.09, n)
    gx, gz = np.meshgrid(xs, zs)  # row = z index, bottom to top
    bulge = 1 - (gx / 0.08) ** 2 - (gz / 0.1) ** 2
    verts = np.stack([gx, -0.06 - 0.03 * bulge, gz], -1).reshape(-1, 3)
    idx = np.arange(n * n).reshape(n, n)
    c0, c1 = mouth_cols
    lower = {c: n * n + k for k, c in enumerate(range(c0 + 1, c1))}
    verts = np.concatenate([verts, verts[[idx[mouth_row, c] for c in lower]]])
    tris = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = idx[r, c], idx[r, c + 1], idx[r + 1, c], idx[r + 1, c + 1]
            if r + 1 == mouth_row:
                d, e = lower.get(c, d), lower.get(c + 1, e)
            tris += [[a, b, e], [a, e, d]]
    loop = [idx[mouth_row, c] for c in range(c0, c1 + 1)]
    loop += [lower[c] for c in range(c1 - 1, c0, -1)]
    jaw = (verts[:, 2] < zs[mouth_row] - 1e-9).astype(np.float32)
    jaw[list(lower.values())] = 1.0
    return verts.astype(np.float32), np.array(tris), loop, jaw


VERTS, TRIS, LOOP, JAW = synthetic_face()
LOWER_LIP = LOOP[9:]  # the slit's lower copies (mouth_cols 8..16: 9 upper-lip vertices first)


def posed(pose=POSE, jaw_open=0.0):
    v = VERTS.copy()
    v[:, 2] -= jaw_open * JAW
    return apply_pose(v, pose)[0]


def flow_for(targets, poses, ref_open=0.0, size=256, **kw):
    return dense_flow(posed(jaw_open=ref_open), np.stack(targets), TRIS, CAMERA, size, POSE,
                      np.stack(poses), mouth_loop=LOOP, **{"lower_lip": LOWER_LIP, **kw})


def test_zero_motion_is_identity():
    r = flow_for([posed()], [POSE])
    assert r.flow.shape == (1, 256, 256, 2)
    assert r.flow.abs().max() < 1e-3
    assert r.occlusion.max() == 0
    assert r.face.max() > 0.99


def test_head_translation_moves_the_face_uniformly_and_leaves_far_background_still():
    shift = np.array([0, 0, 0, 0.01, 0, 0])
    r = flow_for([posed(POSE + shift)], [POSE + shift])
    face = r.face[0] > 0.999
    fx = r.flow[0][face][:, 0]
    depth = posed()[:, 1]
    expected = -CAMERA.focal * 0.01 / depth  # per-vertex image motion, backward
    assert fx.min() >= expected.min() - 0.05 and fx.max() <= expected.max() + 0.05
    assert abs(float(fx.mean()) - float(np.mean(expected))) < 0.3
    assert r.flow[0][face][:, 1].abs().max() < 0.05
    # Far top corners: background does not move; near the face (hair) the head's motion carries
    # on; below the chin the shoulders follow, damped.
    for y, x in ((2, 2), (2, 253), (120, 2), (120, 253)):
        assert r.flow[0, y, x].abs().max() < 1e-4
    shoulder = float(r.flow[0, 250, 128, 0])
    assert np.mean(expected) < shoulder < -0.1
    hair = r.flow[0, 60, 128]  # just above the face
    assert r.face[0, 60, 128] == 0 and abs(float(hair[0]) - float(np.mean(expected))) < 1.0


def test_head_rotation_keeps_far_background_still():
    turn = np.array([0.1, 0.15, 0.2, 0, 0, 0])
    r = flow_for([posed(POSE + turn)], [POSE + turn])
    assert r.flow[0, 40:216, 40:216].abs().max() > 5  # the head did move
    # The sides down to the chin line (above the head is hair, below the chin shoulders).
    border = torch.cat([r.flow[0, :150, :6].reshape(-1, 2), r.flow[0, :150, -6:].reshape(-1, 2)])
    assert border.abs().max() < 1e-3


def test_jaw_opening_occludes_only_the_mouth_opening():
    r = flow_for([posed(jaw_open=0.015)], [POSE])
    occ = r.occlusion[0] > 0.5
    assert occ.sum() > 100
    # The opening lies between the projected upper lip and the lowered lower lip.
    lips = CAMERA.project(posed(jaw_open=0.015)[LOOP])
    ys, xs = torch.nonzero(occ, as_tuple=True)
    assert xs.min() >= lips[:, 0].min() - 1 and xs.max() <= lips[:, 0].max() + 1
    assert ys.min() >= lips[:, 1].min() - 1 and ys.max() <= lips[:, 1].max() + 1
    # The jaw's motion spreads smoothly below the chin instead of tearing at the mesh border.
    chin_v = int(CAMERA.project(posed(jaw_open=0.015))[:, 1].max())
    below = r.flow[0, chin_v + 2 : chin_v + 10, 128, 1]
    assert (below < -0.5).all() and (below.diff() > 0).all()


def test_the_opening_is_drawn_at_the_output_pixels_not_upsampled_from_the_flow_grid():
    """The flow is computed on a grid a quarter of the output's size; the mouth opening's edge
    is not: it matches the opening rasterised at the output's own pixels (a full-size flow
    grid), where the opening upsampled from the quarter grid was off along the whole lip edge."""
    from talkface.core.video.flow import FlowConfig

    target = [posed(jaw_open=0.006)], [POSE]
    sharp = flow_for(*target, size=512).occlusion[0]
    full = flow_for(*target, size=512, config=FlowConfig(scale=1.0, mouth_supersample=0)).occlusion[0]
    old = flow_for(*target, size=512, config=FlowConfig(mouth_supersample=0)).occlusion[0]
    assert full.sum() > 200 and (full - sharp).abs().mean() < 0.2 * (full - old).abs().mean()
    assert ((sharp > 0.5) != (full > 0.5)).sum() < 0.3 * ((old > 0.5) != (full > 0.5)).sum()


def test_mouth_open_in_the_photo_is_not_occluded():
    r = flow_for([posed(jaw_open=0.015)], [POSE], ref_open=0.015)
    assert r.occlusion.max() < 1e-3
    assert r.flow.abs().max() < 1e-3
    # ...it is the photo's own opening (its teeth), which a mouth model must keep
    shown = flow_for([posed(jaw_open=0.015)], [POSE]).occlusion[0] > 0.5
    assert (r.photo_opening[0][shown] > 0.5).float().mean() > 0.9


def test_the_photos_own_opening_is_kept_apart_from_what_it_hides():
    """Opening wider than the photo: part of the opening shows the photo's (photo_opening), the
    rest is hidden (occlusion); the two never overlap. A closed photo has no opening of its own."""
    r = flow_for([posed(jaw_open=0.02)], [POSE], ref_open=0.008, size=512)
    own, occ = r.photo_opening[0], r.occlusion[0]
    assert (own > 0.5).sum() > 100 and (occ > 0.5).sum() > 100
    assert float((own + occ).max()) <= 1.0 + 1e-5
    closed = flow_for([posed(jaw_open=0.02)], [POSE], size=512)
    assert float(closed.photo_opening.max()) < 1e-3


def test_person_mask_keeps_background_still():
    shift = np.array([0, 0, 0, 0.01, 0, 0])
    mask = np.ones((64, 64), np.float32)
    mask[:, 44:] = 0  # right part of the photo is background
    r = flow_for([posed(POSE + shift)], [POSE + shift], person_mask=mask)
    free = flow_for([posed(POSE + shift)], [POSE + shift])
    assert free.flow[0, 100:150, 190:200].abs().max() > 1  # unmasked, the hair region moves
    assert r.flow[0, 100:150, 200:].abs().max() < 1e-4


@pytest.mark.parametrize("size", [512, 1024, 136, (264, 200)])
def test_output_sizes(size):
    r = flow_for([posed()], [POSE], size=size)
    w, h = (size, size) if isinstance(size, int) else size
    assert r.flow.shape == (1, h, w, 2)
    assert r.occlusion.shape == r.face.shape == (1, h, w)


@pytest.mark.parametrize("size", [500, (256, 250), 0])
def test_size_not_multiple_of_8_is_refused(size):
    with pytest.raises(InputError):
        flow_for([posed()], [POSE], size=size)


def test_cpu_flow_is_deterministic():
    turn = np.array([0.05, -0.1, 0.08, 0.003, 0.01, -0.002])
    args = ([posed(POSE + turn, 0.01), posed(jaw_open=0.005)], [POSE + turn, POSE])
    a, b = flow_for(*args), flow_for(*args)
    assert torch.equal(a.flow, b.flow) and torch.equal(a.occlusion, b.occlusion)


def test_the_photos_upper_teeth_stay_with_the_skull_as_the_jaw_opens():
    """A photo showing its upper teeth, a frame opening the jaw further: the teeth stay where
    they were (the skull did not move), the opening that appears under them is hidden (drawn),
    never the same teeth twice. Without the teeth's edge the photo's opening follows the lower
    lip, as a lip or a tongue would."""
    lower_lip = CAMERA.project(posed(jaw_open=0.008)[LOOP[len(LOOP) // 2:]])[:, :2] * 2.0
    edge = lower_lip + np.array([0.0, 2.0])                  # the teeth fill the photo's opening
    teeth = flow_for([posed(jaw_open=0.02)], [POSE], ref_open=0.008, size=512, teeth_edge=edge)
    lips = flow_for([posed(jaw_open=0.02)], [POSE], ref_open=0.008, size=512)
    own, occ = teeth.photo_opening[0] > 0.9, teeth.occlusion[0] > 0.9
    assert own.sum() > 100 and occ.sum() > 100
    assert float(teeth.flow[0][own].abs().max()) < 0.5          # they did not move
    ys = torch.arange(512.0)[:, None].expand(512, 512)
    assert float(ys[own].mean()) < float(ys[occ].mean())        # ...and the new opening is below
    assert float((teeth.photo_opening + teeth.occlusion).max()) <= 1.0 + 1e-5
    moved = lips.photo_opening[0] > 0.9
    lip_motion = 2.0 * float((CAMERA.project(posed(jaw_open=0.008)[LOWER_LIP])
                              - CAMERA.project(posed(jaw_open=0.02)[LOWER_LIP]))[:, 1].mean())  # the lower lip's
    assert abs(float(lips.flow[0][moved][:, 1].mean()) - lip_motion) < 1.0


def test_the_upper_teeth_a_photo_shows_are_found_between_its_lips():
    """Bright unsaturated teeth under the upper lip end at a dark cavity; a shadowed stretch of
    teeth near a corner still counts; their colour is the lit teeth's; an opening without
    anything bright has no teeth."""
    from talkface.core.video.flow import photo_teeth

    photo = np.zeros((64, 128, 3), np.float32) + [0.8, 0.6, 0.5]       # skin
    photo[18:24] = [0.7, 0.15, 0.2]                                      # upper lip
    photo[36:42] = [0.7, 0.15, 0.2]                                      # lower lip
    photo[24:30, 20:108] = [0.92, 0.9, 0.85]                             # upper teeth
    photo[24:30, 20:32] = [0.6, 0.58, 0.55]                              # ...shadowed near a corner
    photo[30:36, 20:108] = [0.12, 0.05, 0.05]                            # the cavity
    upper = np.array([[x, 24.0] for x in range(20, 109, 4)])
    lower = np.array([[x, 36.0] for x in range(20, 109, 4)])
    teeth = photo_teeth(photo, upper, lower)
    assert teeth is not None and len(teeth.edge) > 80
    assert np.abs(teeth.edge[:, 1] - 30.0).max() <= 1.0
    assert np.allclose(teeth.rgb, [0.92, 0.9, 0.85], atol=0.01)             # the lit teeth's colour
    photo[24:30, 20:108] = [0.12, 0.05, 0.05]
    assert photo_teeth(photo, upper, lower) is None
