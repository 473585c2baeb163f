"""A vectorised z-buffer triangle rasteriser in plain torch (CPU and CUDA, same code).

Flow needs, for every low-resolution pixel, which face triangle is in front and where inside it
the pixel lies. No GPU rasteriser is available (and the CPU path must be fast), so triangles are
grouped by bounding-box size; each group tests one small grid of candidate pixels per triangle
at once, and the z-test is a ``scatter_reduce`` minimum. There is no Python loop over pixels,
triangles or frames, only over a handful of size groups.

Pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)`` and is sampled at its centre
``(j + 0.5, i + 0.5)``, matching the camera convention (origin at the top-left pixel corner).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

_EDGE_EPS = 1e-6  # keeps pixels exactly on a shared edge from falling through both triangles


@dataclass
class Raster:
    """Per-pixel visible triangle (``-1`` for none), perspective-correct barycentrics, depth."""

    tri_id: torch.Tensor  # [B, H, W] int64
    bary: torch.Tensor  # [B, H, W, 3] float, zero where tri_id == -1
    depth: torch.Tensor  # [B, H, W] float, +inf where tri_id == -1

    @property
    def mask(self) -> torch.Tensor:
        """Covered pixels, [B, H, W] bool."""
        return self.tri_id >= 0


def rasterize(screen: torch.Tensor, triangles: torch.Tensor, height: int, width: int) -> Raster:
    """Rasterise ``screen`` [B, V, 3] = (x px, y px, depth > 0) over ``triangles`` [T, 3].

    Both triangle windings are drawn (no culling): the face mesh is seen from the front only,
    and a mirrored winding must not make it vanish.
    """
    if screen.dim() != 3 or screen.shape[-1] != 3:
        raise ValueError("screen must be [B, V, 3] (x, y, depth)")
    device = screen.device
    screen = screen.float()
    tris = torch.as_tensor(triangles, dtype=torch.long, device=device)
    batch = screen.shape[0]
    corners = screen[:, tris]  # [B, T, 3 corners, 3]
    xs, ys = corners[..., 0], corners[..., 1]

    # Inclusive pixel index ranges whose centres can fall inside each triangle.
    j0 = torch.ceil(xs.amin(-1) - 0.5).clamp(min=0)
    j1 = torch.floor(xs.amax(-1) - 0.5).clamp(max=width - 1)
    i0 = torch.ceil(ys.amin(-1) - 0.5).clamp(min=0)
    i1 = torch.floor(ys.amax(-1) - 0.5).clamp(max=height - 1)
    span = torch.maximum(j1 - j0, i1 - i0) + 1  # [B, T]
    area = (xs[..., 1] - xs[..., 0]) * (ys[..., 2] - ys[..., 0]) - (
        xs[..., 2] - xs[..., 0]
    ) * (ys[..., 1] - ys[..., 0])
    valid = (j1 >= j0) & (i1 >= i0) & (area.abs() > 1e-12) & (corners[..., 2].amin(-1) > 0)
    span = torch.where(valid, span, torch.zeros_like(span))

    pix_parts, depth_parts, tri_parts, bary_parts = [], [], [], []
    size = 1
    max_span = int(span.max().item()) if span.numel() else 0
    while size // 2 < max_span:
        lo = size // 2
        sel = (span > lo) & (span <= size)
        if bool(sel.any()):
            b_idx, t_idx = sel.nonzero(as_tuple=True)
            frag = _fragments(
                corners[b_idx, t_idx], area[b_idx, t_idx], j0[b_idx, t_idx], i0[b_idx, t_idx],
                j1[b_idx, t_idx], i1[b_idx, t_idx], size,
            )
            inside, px, py, depth, bary = frag
            k2 = size * size
            flat = (b_idx[:, None] * height + py.long()) * width + px.long()  # [N, k2]
            pix_parts.append(flat[inside])
            depth_parts.append(depth[inside])
            tri_parts.append(t_idx[:, None].expand(-1, k2)[inside])
            bary_parts.append(bary[inside])
        size *= 2

    n_pix = batch * height * width
    zbuf = torch.full((n_pix,), float("inf"), device=device)
    tri_buf = torch.full((n_pix,), -1, dtype=torch.long, device=device)
    bary_buf = torch.zeros((n_pix, 3), device=device)
    if pix_parts:
        pix = torch.cat(pix_parts)
        depth = torch.cat(depth_parts)
        tri = torch.cat(tri_parts)
        bary = torch.cat(bary_parts)
        zbuf.scatter_reduce_(0, pix, depth, reduce="amin")
        front = depth <= zbuf[pix]
        # Exact depth ties (shared edges) go to the higher triangle id: deterministic everywhere.
        tri_buf.scatter_reduce_(0, pix[front], tri[front], reduce="amax")
        win = front & (tri == tri_buf[pix])
        bary_buf[pix[win]] = bary[win]
    shape = (batch, height, width)
    return Raster(tri_buf.view(shape), bary_buf.view(*shape, 3), zbuf.view(shape))


def _fragments(corners, area, j0, i0, j1, i1, size: int):
    """Candidate pixels of N triangles on a ``size`` x ``size`` grid from each bbox corner."""
    device = corners.device
    offs = torch.arange(size, device=device, dtype=corners.dtype)
    ox = offs.repeat(size)  # column offset, [k2]
    oy = offs.repeat_interleave(size)  # row offset
    px = j0[:, None] + ox[None]  # [N, k2]
    py = i0[:, None] + oy[None]
    in_box = (px <= j1[:, None]) & (py <= i1[:, None])
    cx, cy = px + 0.5, py + 0.5
    x, y, z = corners[..., 0], corners[..., 1], corners[..., 2]  # [N, 3]
    # Edge functions: w_k is the signed area opposite corner k, normalised by the full area.
    w0 = (x[:, 1:2] - cx) * (y[:, 2:3] - cy) - (x[:, 2:3] - cx) * (y[:, 1:2] - cy)
    w1 = (x[:, 2:3] - cx) * (y[:, 0:1] - cy) - (x[:, 0:1] - cx) * (y[:, 2:3] - cy)
    w2 = (x[:, 0:1] - cx) * (y[:, 1:2] - cy) - (x[:, 1:2] - cx) * (y[:, 0:1] - cy)
    screen_bary = torch.stack([w0, w1, w2], dim=-1) / area[:, None, None]  # [N, k2, 3]
    inside = in_box & (screen_bary >= -_EDGE_EPS).all(-1)
    # Perspective-correct: 1/depth is affine in screen space, attributes divided by depth too.
    inv_z = screen_bary / z[:, None, :]
    inv_depth = inv_z.sum(-1)
    bary = inv_z / inv_depth[..., None]
    return inside, px, py, 1.0 / inv_depth, bary


def interpolate(attr: torch.Tensor, triangles: torch.Tensor, raster: Raster) -> torch.Tensor:
    """Per-pixel attribute from per-vertex ``attr`` ([V, C] or [B, V, C]) -> [B, H, W, C].

    Uncovered pixels get zero.
    """
    tris = torch.as_tensor(triangles, dtype=torch.long, device=raster.tri_id.device)
    batch = raster.tri_id.shape[0]
    if attr.dim() == 2:
        attr = attr.unsqueeze(0).expand(batch, -1, -1)
    tid = raster.tri_id.clamp(min=0)  # [B, H, W]
    vid = tris[tid]  # [B, H, W, 3]
    b = torch.arange(batch, device=attr.device).view(batch, 1, 1, 1)
    vals = attr[b, vid]  # [B, H, W, 3, C]
    out = (vals * raster.bary[..., None].to(vals.dtype)).sum(-2)
    return out * raster.mask[..., None].to(out.dtype)
