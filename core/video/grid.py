"""Pixel grids and filters shared by the flow, the warp, the generator and its training."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def pixel_centres(h: int, w: int, device=None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[h, w, 2]`` (x, y) of each pixel's centre; pixel (0, 0) spans [0, 1)."""
    ys = torch.arange(h, device=device, dtype=dtype) + 0.5
    xs = torch.arange(w, device=device, dtype=dtype) + 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1)


def gaussian_blur(x: torch.Tensor, sigma: float, radius: int | None = None, same: bool = True) -> torch.Tensor:
    """Separable Gaussian over ``[B, C, H, W]`` (radius 3 sigma unless given).

    ``same``: zero padding keeps the size (normalised convolution relies on zeros outside);
    otherwise only the valid part is returned (``radius`` pixels smaller on each side).
    """
    radius = int(math.ceil(3 * sigma)) if radius is None else radius
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    pad = radius if same else 0
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, pad), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(pad, 0), groups=c)
