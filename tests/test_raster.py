import torch

from talkface.core.video.raster import interpolate, rasterize

SQUARE = torch.tensor([[0, 1, 2], [0, 2, 3]])


def _square(x0, y0, x1, y1, depth=1.0):
    return torch.tensor([[x0, y0, depth], [x1, y0, depth], [x1, y1, depth], [x0, y1, depth]])


def test_square_covers_its_pixels_once_with_valid_barycentrics():
    r = rasterize(_square(10, 20, 50, 60)[None], SQUARE, 64, 64)
    expected = torch.zeros(64, 64, dtype=torch.bool)
    expected[20:60, 10:50] = True
    assert torch.equal(r.mask[0], expected)
    assert set(r.tri_id[0][expected].unique().tolist()) == {0, 1}
    sums = r.bary[0][expected].sum(-1)
    assert torch.allclose(sums, torch.ones_like(sums), atol=1e-5)
    assert (r.bary[0][expected] >= -1e-5).all()
    assert torch.isinf(r.depth[0][~expected]).all()


def test_triangle_larger_than_the_image_is_clipped_and_fully_drawn():
    r = rasterize(_square(-100, -100, 300, 300)[None], SQUARE, 48, 40)
    assert r.mask.all()


def test_nearest_triangle_wins_whatever_the_order():
    near = _square(0, 0, 32, 32, depth=1.0)
    far = _square(8, 8, 40, 40, depth=2.0)
    for first, second, near_ids in ((near, far, {0, 1}), (far, near, {2, 3})):
        screen = torch.cat([first, second])[None]
        tris = torch.cat([SQUARE, SQUARE + 4])
        r = rasterize(screen, tris, 48, 48)
        overlap = r.tri_id[0, 8:32, 8:32]
        assert set(overlap.unique().tolist()) == near_ids
        assert torch.allclose(r.depth[0, 8:32, 8:32], torch.ones(24, 24))


def test_interpolating_3d_points_reprojects_to_the_pixel_centre():
    """Perspective-correct barycentrics: the surface point under a pixel projects onto it."""
    f, c = 60.0, 32.0
    world = torch.tensor([[-0.5, 1.0, -0.4], [0.6, 3.0, -0.5], [0.4, 2.0, 0.7], [-0.6, 1.5, 0.5]])
    screen = torch.stack([c + f * world[:, 0] / world[:, 1], c - f * world[:, 2] / world[:, 1],
                          world[:, 1]], -1)
    r = rasterize(screen[None], SQUARE, 64, 64)
    point = interpolate(world, SQUARE, r)[0]
    m = r.mask[0]
    assert m.sum() > 500
    u = c + f * point[..., 0] / point[..., 1]
    v = c - f * point[..., 2] / point[..., 1]
    ys, xs = torch.nonzero(m, as_tuple=True)
    assert torch.allclose(u[m], xs + 0.5, atol=1e-3)
    assert torch.allclose(v[m], ys + 0.5, atol=1e-3)


def test_batch_frames_are_independent_and_deterministic():
    a, b = _square(4, 4, 20, 20), _square(30, 10, 60, 50, depth=3.0)
    r = rasterize(torch.stack([a, b]), SQUARE, 64, 64)
    assert torch.equal(r.mask[0], rasterize(a[None], SQUARE, 64, 64).mask[0])
    assert torch.equal(r.mask[1], rasterize(b[None], SQUARE, 64, 64).mask[0])
    again = rasterize(torch.stack([a, b]), SQUARE, 64, 64)
    assert torch.equal(r.tri_id, again.tri_id) and torch.equal(r.bary, again.bary)


def test_points_behind_the_camera_are_not_drawn():
    r = rasterize(_square(0, 0, 32, 32, depth=-1.0)[None], SQUARE, 32, 32)
    assert not r.mask.any()
