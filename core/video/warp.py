"""Full-resolution warping of the photo by a backward flow, plus the warp-only mouth fill.

The photo is resampled once to the output size with a good filter, oversampled three times with
Lanczos-6 and then sampled at the flow's positions, so every output pixel comes from the photo at
full resolution (no decoder in the path). Oversampling by an odd factor keeps every original
pixel centre on an oversampled pixel centre, so a zero flow gives back the resized photo
exactly, while fractional shifts lose much less detail than bicubic sampling of the photo
itself (astronaut face Laplacian energy after random sub-pixel shifts: 0.96 of the photo's with
6 lobes, 0.92 with 4, 0.83 with plain bicubic sampling). Six lobes, not four, because a talking
face is mostly sub-pixel motion: bench/generator's face sharpness at 512 px goes from 0.88 to
0.92 of the photo's (goal 0.9), for a slightly longer ringing tail at hard edges. Where the
flow's occlusion map says the photo has nothing to show (inside a mouth that was closed in the
photo), warp-only mode paints a simple deterministic mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from .flow import output_size
from .grid import pixel_centres


@dataclass(frozen=True)
class MouthFill:
    """Colours (0..1 RGB, same encoding as the photo) and shape of the painted mouth interior:
    what a frame shows where the mouth opens further than the photo's own opening (an adult
    mouth: the upper incisors under the upper lip, the lower ones above the lower lip once the
    jaw drops, the tongue low in a dark cavity; everything darker towards the corners, where
    the cheeks shade it). Lengths are at 512 px and scale with the frame."""

    cavity: tuple[float, float, float] = (0.17, 0.06, 0.06)
    teeth: tuple[float, float, float] = (0.80, 0.77, 0.70)
    teeth_share: float = 0.35  # upper teeth cover this share of the opening's height per column
    teeth_min_px: float = 6.0  # openings shorter than this (at 512 px) show no teeth and no tongue
    soft_px: float = 1.0  # softness of the teeth edge at 512 px
    lower_share: float = 0.16  # lower teeth: this share of the column's height, above the lower lip,
    lower_min_px: float = 14.0  # where the opening is at least this tall
    lower_dim: float = 0.78  # lower teeth sit deeper in the mouth's shade
    tongue: tuple[float, float, float] = (0.40, 0.15, 0.15)
    tongue_share: float = 0.45  # the tongue's hump fills the lower part of the cavity's middle
    corner_shade: float = 0.55  # teeth and tongue lose this share of their light at the corners
    # Boundaries between the front teeth, as shares of the opening's half width from its middle
    # (incisors and canines along a curved arch seen from the front; the lower ones narrower),
    # and their darkening, fading towards the corners with the light.
    tooth_edges: tuple[float, ...] = (0.0, 0.2, 0.38, 0.53)
    lower_edges: tuple[float, ...] = (0.0, 0.14, 0.28)
    gap_px: float = 0.7
    gap_depth: float = 0.3
    arch_drop: float = 0.3  # teeth show this share less of their height at the corners (the arch)
    teeth_span: float = 0.88  # past this share of the half width: the dark corridor by the cheeks
    corridor_ramp: float = 0.08  # ...reached over this share of the half width
    lip_shadow: float = 0.3  # the upper teeth lose this share of their light right under the lip
    lip_shadow_reach: float = 0.12  # ...fading out over this share of the column's height
    rim_light: float = 0.4  # the cavity is this much brighter at the lips than in its depth

    def soft(self, px: float) -> int:
        """The edges' softening radius in pixels, for a frame ``px`` times 512 px tall."""
        return max(1, int(round(self.soft_px * px)))


def prepare_photo(photo, size, device: torch.device | str = "cpu") -> torch.Tensor:
    """Photo ([H, W, 3] float 0..1 or uint8, or torch [B, 3, H, W]) at ``size`` -> [B, 3, h, w].

    Downscaling uses antialiased bicubic (no aliasing of hair and skin texture), upscaling plain
    bicubic; results are clamped to 0..1 against bicubic overshoot.
    """
    width, height = output_size(size)
    if isinstance(photo, torch.Tensor):
        img = photo.to(device=device, dtype=torch.float32)
        if img.dim() == 3:
            img = img[None]
    else:
        arr = np.asarray(photo)
        if arr.ndim != 3 or arr.shape[2] < 3:
            raise InputError("The photo must be an RGB image.")
        arr = arr[..., :3]
        arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
        img = torch.from_numpy(np.ascontiguousarray(arr)).to(device).permute(2, 0, 1)[None]
    if tuple(img.shape[-2:]) == (height, width):
        return img
    shrink = img.shape[-1] > width or img.shape[-2] > height
    out = F.interpolate(img, size=(height, width), mode="bicubic", align_corners=False,
                        antialias=shrink)
    return out.clamp(0.0, 1.0)


@dataclass
class WarpSource:
    """The photo ready to be warped to ``size``: [B, 3, oversample*h, oversample*w]."""

    image: torch.Tensor
    size: tuple[int, int]  # (width, height) of the output frames
    oversample: int


def prepare_source(photo, size, device: torch.device | str = "cpu",
                   oversample: int = 3) -> WarpSource:
    """Resize to ``size`` and oversample (1 or an odd factor) once for all frames."""
    if oversample < 1 or oversample % 2 == 0:
        raise ValueError("oversample must be 1 or odd so pixel centres stay on pixel centres")
    img = prepare_photo(photo, size, device)
    if oversample > 1:
        img = lanczos_upsample(img, oversample)
    return WarpSource(img, output_size(size), oversample)


def lanczos_upsample(img: torch.Tensor, factor: int, lobes: int = 6) -> torch.Tensor:
    """Separable Lanczos upsampling by an odd integer ``factor`` [B, C, H, W] -> [B, C, fH, fW].

    Polyphase form: output pixel ``f*j + f//2 + k`` lies at source position ``j + k/f``; the
    centre phase (k = 0) is the source pixel itself, so original samples pass through exactly.
    """
    half = factor // 2
    phases = torch.arange(-half, half + 1, dtype=torch.float64) / factor  # [f]
    taps = torch.arange(-lobes, lobes + 1, dtype=torch.float64)  # [2L+1]
    x = phases[:, None] - taps[None]  # distance of each tap from the sample point
    w = torch.sinc(x) * torch.sinc(x / lobes) * (x.abs() < lobes)
    w = torch.where(x == x.round(), (x == 0).double(), w)  # sinc(n) is 1e-17, not 0
    w = (w / w.sum(1, keepdim=True)).to(img.device, img.dtype)  # [f, 2L+1]
    out = _upsample_axis(img, w, lobes, dim=-1)
    out = _upsample_axis(out, w, lobes, dim=-2)
    return out.clamp(0.0, 1.0)


def _upsample_axis(img: torch.Tensor, w: torch.Tensor, lobes: int, dim: int) -> torch.Tensor:
    b, c, h, wd = img.shape
    x = img if dim == -1 else img.transpose(-1, -2)  # upsample along the last axis
    rows, length = x.shape[-2], x.shape[-1]
    flat = x.reshape(-1, 1, length)
    flat = F.pad(flat, (lobes, lobes), mode="replicate")
    y = F.conv1d(flat, w[:, None, :])  # [N, f, L]: phase-major
    y = y.transpose(1, 2).reshape(b, c, rows, length * w.shape[0])
    return y if dim == -1 else y.transpose(-1, -2)


def warp_image(
    photo,
    flow: torch.Tensor,
    occlusion: torch.Tensor | None = None,
    fill: MouthFill | None = MouthFill(),
    mode: str = "bicubic",
    oversample: int = 3,
    photo_opening: torch.Tensor | None = None,
) -> torch.Tensor:
    """Frames [F, 3, H, W] from the photo and a backward flow [F, H, W, 2] in output pixels.

    ``photo`` is a photo as ``prepare_photo`` takes it or, to share the work across batches of
    frames, a ``WarpSource``. The output size is the flow's size (a multiple of 8). ``mode``
    "bicubic" keeps fractional shifts sharp; "bilinear" is faster. With ``occlusion``
    [F, H, W] and a ``fill``, the mouth opening the photo lacks is painted, laid out on the
    whole opening: with ``photo_opening`` [F, H, W] (``DenseFlow.photo_opening``, the part that
    shows the photo's own, left as warped) teeth are drawn where a mouth has them, not again
    below the photo's own.
    """
    if flow.dim() != 4 or flow.shape[-1] != 2:
        raise InputError("Flow must be [frames, height, width, 2].")
    n, height, width = flow.shape[:3]
    output_size((width, height))
    device = flow.device
    if not isinstance(photo, WarpSource):
        photo = prepare_source(photo, (width, height), device, oversample)
    if photo.size != (width, height):
        raise InputError("The prepared photo and the flow have different sizes.")
    src = photo.image.to(device)
    if src.shape[0] == 1:
        src = src.expand(n, -1, -1, -1)
    src = src.to(flow.dtype)
    scale = torch.tensor([2.0 / width, 2.0 / height], device=device, dtype=flow.dtype)
    centres = pixel_centres(height, width, device, flow.dtype)
    grid = (flow + centres) * scale - 1.0
    out = F.grid_sample(src, grid, mode=mode, padding_mode="border", align_corners=False)
    if mode == "bicubic":
        out = out.clamp(0.0, 1.0)
    if occlusion is not None and fill is not None:
        out = _fill_mouth_(out, occlusion, fill, photo_opening)
    return out


def _fill_mouth_(frames: torch.Tensor, occlusion: torch.Tensor, fill: MouthFill,
                 photo_opening: torch.Tensor | None = None) -> torch.Tensor:
    """In place, on the box around the opening only: the mouth is a few % of the frame."""
    alpha = occlusion.to(frames.dtype).clamp(0, 1)[:, None]  # [F, 1, H, W]
    opening = alpha if photo_opening is None else alpha + photo_opening.to(frames.dtype)[:, None]
    rows = torch.nonzero(opening.amax(dim=(0, 1, 3)) > 0)
    if rows.numel() == 0 or not bool((alpha > 0).any()):
        return frames
    cols = torch.nonzero(opening.amax(dim=(0, 1, 2)) > 0)
    height, width = frames.shape[-2:]
    px = height / 512.0
    soft = fill.soft(px)
    y0, y1 = max(0, int(rows[0]) - soft), min(height, int(rows[-1]) + soft + 1)
    x0, x1 = max(0, int(cols[0]) - soft), min(width, int(cols[-1]) + soft + 1)
    alpha = alpha[..., y0:y1, x0:x1]
    crop = frames[..., y0:y1, x0:x1]
    crop.mul_(1.0 - alpha).add_(mouth_interior(opening[..., y0:y1, x0:x1] > 0.5, fill, px, crop.dtype) * alpha)
    return frames


def mouth_interior(inside: torch.Tensor, fill: MouthFill, px: float,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The painted interior [F, 3, h, w] of an opening ``inside`` [F, 1, h, w] (bool) in a frame
    ``px`` times 512 px tall, column by column: upper teeth down from the opening's top, lower
    teeth up from its bottom in tall columns, the tongue between them in the middle, the cavity
    elsewhere; across the opening the front teeth's boundaries and the corners' shade."""
    soft = fill.soft(px)
    inside = inside.to(dtype)
    device = inside.device
    from_top = inside.cumsum(-2)
    column = inside.sum(-2, keepdim=True)
    from_bottom = column - from_top + 1
    # Across the opening: u = -1 .. 1 from corner to corner, per frame.
    x = torch.arange(inside.shape[-1], device=device, dtype=dtype)
    open_cols = column > 0
    big = torch.full_like(column, float(inside.shape[-1]))
    left = torch.where(open_cols, x, big).amin(-1, keepdim=True)
    right = torch.where(open_cols, x, -big).amax(-1, keepdim=True)
    half = ((right - left) / 2).clamp_min(1.0)
    u = ((x - (left + right) / 2) / half).clamp(-1, 1)             # [F, 1, 1, w]
    arch = 1.0 - fill.arch_drop * u * u
    span = ((fill.teeth_span - u.abs()) / fill.corridor_ramp).clamp(0, 1)
    upper = inside * (from_top <= fill.teeth_share * arch * column) * (column >= fill.teeth_min_px * px)
    lower = (inside * (from_bottom <= fill.lower_share * arch * column) * (column >= fill.lower_min_px * px)
             * (1 - upper))
    tongue = (inside * (from_bottom <= fill.tongue_share * column) * (column >= fill.teeth_min_px * px)
              * (1 - upper) * (1 - lower))
    upper, lower, tongue = (_box_soften(m, soft) for m in (upper, lower, tongue))
    upper, lower = upper * span, lower * span
    shade = 1.0 - fill.corner_shade * u * u

    gap_width = max(fill.gap_px * px, 0.35)

    def light(edges):
        gaps = torch.zeros_like(u)
        for edge in edges:
            for side in ((1.0,) if edge == 0 else (1.0, -1.0)):
                gaps = torch.maximum(gaps, torch.exp(-(((u - side * edge) * half) / gap_width) ** 2))
        return shade * (1.0 - fill.gap_depth * gaps * shade)

    def rgb(c):
        return torch.tensor(c, device=device, dtype=dtype).view(1, 3, 1, 1)

    # The upper lip shades the top of the upper teeth; the cavity is deepest in the middle.
    under_lip = 1.0 - fill.lip_shadow * (1.0 - (from_top / (fill.lip_shadow_reach * column + 1.0)).clamp(max=1.0))
    depth = (torch.minimum(from_top, from_bottom) / (0.5 * column + 1.0)).clamp(max=1.0)
    cavity = rgb(fill.cavity) * (1.0 + fill.rim_light * (1.0 - depth))
    colour = cavity.expand(-1, 3, -1, -1).clone()
    for mask, tone in ((tongue, rgb(fill.tongue) * shade),
                       (upper, rgb(fill.teeth) * light(fill.tooth_edges) * under_lip),
                       (lower, rgb(fill.teeth) * fill.lower_dim * light(fill.lower_edges))):
        colour = colour + mask * (tone - colour)
    return colour


def _box_soften(mask: torch.Tensor, radius: int) -> torch.Tensor:
    return F.avg_pool2d(mask, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


