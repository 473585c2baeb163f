"""Dense backward flow from the fitted face: where each output pixel samples the photo.

The face mesh is the only thing whose motion we know exactly, so inside the target face the flow
comes from rasterising the target mesh and interpolating where the same surface point sat in the
photo. Everything else is a plausible, smooth guess: hair, ears and forehead above the mesh move
rigidly with the head, the neck and shoulders follow the chin with damped motion, the background
stays still, and expression motion at the face border (the chin of an opening jaw) fades out
into the skin around it instead of tearing. Everything is computed at a low resolution and
bilinearly upsampled; the flow is smooth, so detail is not lost, and the warp itself runs at the
full resolution (``core.warp``).

Inputs are plain arrays (world vertices, triangles, camera, poses) so this module does not
depend on how the face model or the fit are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError
from ..face import topology
from ..face.camera import Camera
from ..face.pose import euler_xyz_matrix
from .grid import gaussian_blur, pixel_centres
from .raster import interpolate, rasterize


@dataclass(frozen=True)
class FlowConfig:
    """Shape of the motion outside the face; lengths are in face widths/heights, not pixels."""

    scale: float = 0.25  # flow resolution / output resolution
    head_width: float = 1.45  # head region (hair, ears) half-width / face half-width
    head_top: float = 0.5  # hair above the mesh, in face heights
    head_margin: float = 0.35  # soft border of the head region, relative to its radius
    neck_damping: float = 0.6  # share of the chin's rigid motion the neck follows at the chin
    neck_decay: float = 0.8  # neck motion falls by 1/e over this many face heights below the chin
    neck_width: float = 0.7  # neck half-width / face half-width at the chin
    shoulder_slope: float = 1.2  # neck half-width growth per unit of depth below the chin
    residual_sigma: float = 0.1  # reach of expression motion beyond the mesh, in face heights
    mask_dilate: float = 0.03  # person-mask growth so moved hair is not clipped, in image sizes
    mouth_supersample: int = 2  # the opening is drawn at the output's own pixels, this many samples a side


@dataclass
class DenseFlow:
    """Backward flow and what the warp cannot source from the photo, at the output size."""

    flow: torch.Tensor  # [F, H, W, 2] output pixels: frame(p) = photo(p + flow(p)), p = centre
    occlusion: torch.Tensor  # [F, H, W] in [0, 1]: mouth opening the photo does not show
    face: torch.Tensor  # [F, H, W] in [0, 1]: covered by the target face mesh
    # [F, H, W] in [0, 1]: the frame's mouth opening where it shows the photo's own (teeth the
    # photo shows, warped): a mouth model keeps these pixels. None where not computed.
    photo_opening: torch.Tensor | None = None
    # [F, H, W] in [0, 1]: the hidden opening of a photo that shows its teeth, or where the flow
    # lands on the photo's own opening: with a real photo's teeth in their input there, the
    # networks (which learned mouths from renders only) drew it lilac-grey, so the painted
    # interior takes it whole. None where not computed.
    over_teeth: torch.Tensor | None = None


def output_size(size: int | Sequence[int]) -> tuple[int, int]:
    """``(width, height)`` from an int or a pair; sides must be positive multiples of 8."""
    if isinstance(size, (int, np.integer)):
        width = height = int(size)
    else:
        width, height = (int(s) for s in size)
    if width <= 0 or height <= 0 or width % 8 or height % 8:
        raise InputError(f"Output size {width}x{height} must be a positive multiple of 8.")
    return width, height


def dense_flow(
    ref_verts,
    tgt_verts,
    triangles,
    camera: Camera,
    out_size: int | Sequence[int],
    head_pose_ref,
    head_pose_tgt,
    person_mask=None,
    config: FlowConfig = FlowConfig(),
    mouth_loop: Sequence[int] | None = topology.INNER_LIP_LOOP,
    teeth_edge: np.ndarray | None = None,
    lower_lip: Sequence[int] | None = topology.INNER_LIP_LOWER[1:-1],
    device: torch.device | str = "cpu",
) -> DenseFlow:
    """Backward flow for F target frames of the face, at ``out_size`` (int or (w, h)).

    ``ref_verts`` [V, 3] and ``tgt_verts`` [F, V, 3] are world vertices (already posed) of the
    photo state and the target states; ``head_pose_ref`` [6] and ``head_pose_tgt`` [F, 6] are
    the matching absolute head poses, used for the rigid motion of hair and neck. ``camera`` is
    the fitted camera of the photo. ``person_mask`` ([h, w], 1 = person, any resolution, photo
    framing) keeps the background still. ``mouth_loop`` is the inner-lip contour in order; the
    opening it encloses is where the occlusion map can be set. Where the photo's own opening shows
    through it, what lies above ``teeth_edge`` ([K, 2] output pixels, the lower edge of the upper
    teeth the photo shows: ``PhotoTeeth.edge``; None: no teeth) moves with the skull, the rest
    with the mean of ``lower_lip`` (the inner lower lip).
    """
    width, height = output_size(out_size)
    device = torch.device(device)
    low_w = max(8, int(round(width * config.scale)))
    low_h = max(8, int(round(height * config.scale)))
    ref = _tensor(ref_verts, device)
    tgt = _tensor(tgt_verts, device)
    tgt = tgt[None] if tgt.dim() == 2 else tgt
    n_frames, n_verts = tgt.shape[:2]
    if ref.shape != (n_verts, 3):
        raise InputError("Reference and target meshes must have the same vertices.")
    tris = torch.as_tensor(np.asarray(triangles), dtype=torch.long, device=device)
    pose_ref = np.asarray(head_pose_ref, dtype=np.float64).reshape(6)
    pose_tgt = np.asarray(head_pose_tgt, dtype=np.float64).reshape(-1, 6)
    if pose_tgt.shape[0] != n_frames:
        raise InputError("Give one target head pose per target frame.")

    sx, sy = low_w / camera.width, low_h / camera.height
    ref_s = _project(ref[None], camera, sx, sy)  # [1, V, 3] low-res px + depth
    tgt_s = _project(tgt, camera, sx, sy)
    all_tris, n_face = _with_mouth_cap(tris, mouth_loop, n_verts)
    ref_sc, tgt_sc = _add_cap_centre(ref_s, mouth_loop), _add_cap_centre(tgt_s, mouth_loop)

    centres = pixel_centres(low_h, low_w, device)  # [h, w, 2]
    raster = rasterize(tgt_sc, all_tris, low_h, low_w)
    face = (raster.tri_id >= 0) & (raster.tri_id < n_face)
    hole = raster.tri_id >= n_face
    # Same surface point in the photo: interpolate 3D (barycentrics are perspective-correct),
    # then project; interpolating projected positions would bend straight motion.
    ref_world = torch.cat([ref, _cap_centre(ref[None], mouth_loop)[0]], 0)
    ref_point = interpolate(ref_world, all_tris, raster)
    mesh_flow = _project(ref_point, camera, sx, sy)[..., :2] - centres
    mesh_flow = torch.where(face[..., None], mesh_flow, torch.zeros_like(mesh_flow))

    grid = centres.reshape(1, -1, 2)
    rigid = _rigid_flow(grid, tgt_s, camera, sx, sy, pose_ref, pose_tgt)
    rigid = rigid.view(n_frames, low_h, low_w, 2)
    base = _outside_flow(centres, tgt_s, rigid, camera, sx, sy, pose_ref, pose_tgt, config)

    # Carry the non-rigid part of the face's motion a little way past its border.
    face_f = face.float()[:, None]
    resid = (mesh_flow - base).permute(0, 3, 1, 2) * face_f
    face_height = float(ref_s[0, :, 1].max() - ref_s[0, :, 1].min())
    blurred = _gaussian_blur(torch.cat([resid, face_f], 1), config.residual_sigma * face_height)
    carried = blurred[:, :2] / blurred[:, 2:].clamp(min=1e-4)
    reach = _smoothstep(0.0, 0.5, blurred[:, 2:])
    outside = base + (reach * carried).permute(0, 2, 3, 1)
    if person_mask is not None:
        outside = outside * _person_weight(person_mask, low_h, low_w, config, device)[..., None]
    flow_low = torch.where(face[..., None], mesh_flow, outside)

    # The opening shows nothing of the photo unless the photo's mouth was open at that spot, and
    # then only its own teeth where they are in the frame: what the photo's opening shows above
    # its upper teeth's edge moves with the skull, what it shows below with the lower lip
    # (``_teeth``).
    edge = None if teeth_edge is None else _tensor(teeth_edge, device) * torch.tensor(
        [low_w / width, low_h / height], device=device)
    ref_hole = (rasterize(ref_sc, all_tris, low_h, low_w).tri_id >= n_face).float()[:, None]
    lip = rigid + _lip_shift(ref, tgt, lower_lip, camera, sx, sy, rigid) if lower_lip else flow_low
    up, down = _teeth(_opening_parts(ref_hole, edge, 0, 0).expand(n_frames, -1, -1, -1), centres, rigid, lip)
    hole = hole.float()
    own = hole * (up + down)
    occlusion = hole - own
    # A smiling photo, or its opening anywhere under the hidden part: the networks drew that
    # grey (they learned mouths from renders only); the painting takes it (``over_teeth``).
    seen = 1.0 if edge is not None else _sample(ref_hole.expand(n_frames, -1, -1, -1), centres + flow_low)[:, 0]
    over = occlusion * seen
    flow_low = flow_low + (hole * up)[..., None] * (rigid - flow_low)
    flow_low = flow_low + (hole * down)[..., None] * (lip - flow_low)

    scale = torch.tensor([width / low_w, height / low_h], device=device)
    flow = _upsample(flow_low.permute(0, 3, 1, 2), height, width).permute(0, 2, 3, 1) * scale
    masks = _upsample(torch.stack([occlusion, face_f[:, 0], own, over], 1), height, width).clamp(0, 1)
    occ, own = masks[:, 0].contiguous(), masks[:, 2].contiguous()
    if n_face < all_tris.shape[0] and config.mouth_supersample > 0:
        _sharp_opening(occ, own, flow, rigid, lip, None if edge is None else edge * scale, ref, tgt,
                       all_tris, n_face, mouth_loop, camera, config.mouth_supersample,
                       margin=int(np.ceil(1.0 / config.scale)) + 2)
    return DenseFlow(flow.contiguous(), occ, masks[:, 1].contiguous(), own, torch.minimum(masks[:, 3], occ))


@dataclass(frozen=True)
class PhotoTeeth:
    """The upper teeth a photo shows between its lips."""

    edge: np.ndarray  # [K, 2] pixels: their lower edge, one point per pixel column, corner to corner
    rgb: tuple[float, float, float]  # their colour (median of the tooth pixels, 0..1)


def photo_teeth(photo: np.ndarray, upper_lip: np.ndarray, lower_lip: np.ndarray) -> PhotoTeeth | None:
    """The upper teeth a photo shows between its lips, or None when its opening shows none.

    ``photo`` is [H, W, 3] in 0..1; ``upper_lip`` and ``lower_lip`` are the inner lip contours
    in the same pixels. Per column, the upper teeth are the run of bright, unsaturated pixels
    that starts under the upper lip; the edge is where it ends (at the cavity, the lower teeth's
    shadow or the lower lip). Measured in the photo, not from the face model: how much tooth a
    smile shows differs a lot from person to person, and a model's guess split kodim04's upper
    teeth in half."""
    img = np.asarray(photo, np.float32)[..., :3]
    h, w = img.shape[:2]
    order_u, order_l = np.argsort(upper_lip[:, 0]), np.argsort(lower_lip[:, 0])
    x0 = int(np.ceil(max(upper_lip[:, 0].min(), lower_lip[:, 0].min())))
    x1 = int(np.floor(min(upper_lip[:, 0].max(), lower_lip[:, 0].max())))
    if x1 - x0 < 4:
        return None
    xs = np.arange(max(x0, 0), min(x1, w - 1) + 1)
    top = np.interp(xs + 0.5, upper_lip[order_u, 0], upper_lip[order_u, 1])
    bottom = np.interp(xs + 0.5, lower_lip[order_l, 0], lower_lip[order_l, 1])
    rows = np.arange(h)[:, None] + 0.5
    inside = (rows > top[None]) & (rows < bottom[None])                  # [h, n] the opening
    if inside.sum() < 8:
        return None
    cols = img[:, xs]                                                    # [h, n, 3]
    lum = cols.mean(-1)
    sat = (cols.max(-1) - cols.min(-1)) / np.maximum(cols.max(-1), 1e-3)
    lip = (rows > top[None] - 3) & (rows < top[None] - 0.5)              # the upper lip's edge
    teeth_lum, lip_lum = np.percentile(lum[inside], 90), np.median(lum[lip]) if lip.any() else 0.0
    if teeth_lum < lip_lum + 0.15:                                       # nothing bright: no teeth
        return None
    tooth = inside & (lum > 0.55 * teeth_lum) & (sat < 0.3)
    shown = np.zeros(len(xs))                                            # tooth length per column
    for j in range(len(xs)):
        ys = np.nonzero(inside[:, j])[0]
        if len(ys) == 0:
            continue
        near = ys[: max(2, len(ys) // 4)]                               # the run starts under the lip
        start = near[tooth[near, j]]
        if len(start) == 0:
            continue
        y = start[0]
        while y + 1 < h and inside[y + 1, j] and tooth[y + 1, j]:
            y += 1
        shown[j] = y + 1.0 - top[j]
    # One smooth profile, longest in the middle: a row of teeth has no single tall tooth, while
    # shadows near the corners and glints in the cavity break single columns' runs.
    has = shown > 0
    if has.sum() < 3 or has.mean() < 0.25:                              # a glint, not a row of teeth
        return None
    u = (xs - xs.mean()) / max(np.ptp(xs), 1.0)
    keep = has.copy()
    for _ in range(2):
        coef = np.polyfit(u[keep], shown[keep], 2)
        resid = shown - np.polyval(coef, u)
        keep = has & (np.abs(resid) <= 2.5 * np.median(np.abs(resid[keep])) + 0.5)
    edge = top + np.clip(np.polyval(coef, u), 0.0, bottom - top + 1.0)
    rgb = np.median(cols[tooth], axis=0)
    return PhotoTeeth(np.stack([xs + 0.5, np.maximum(edge, top)], 1).astype(np.float32),
                      tuple(float(c) for c in rgb))


def _opening_parts(opening: torch.Tensor, edge: torch.Tensor | None, x0: int, y0: int) -> torch.Tensor:
    """[1, 2, h, w]: the photo's opening ``opening`` [1, 1, h, w] (pixel (0, 0) at (``x0``,
    ``y0``)) split into what lies above the upper teeth's edge ``edge`` ([K, 2] pixels, a
    polyline from corner to corner; None: nothing is above it) and what lies below."""
    h, w = opening.shape[-2:]
    if edge is None:
        return torch.cat([torch.zeros_like(opening), opening], 1)
    order = torch.argsort(edge[:, 0])
    xs = (torch.arange(w, device=opening.device, dtype=torch.float32) + x0 + 0.5).cpu().numpy()
    line = np.interp(xs, edge[order, 0].cpu().numpy(), edge[order, 1].cpu().numpy())
    ys = torch.arange(h, device=opening.device, dtype=torch.float32)[:, None] + y0 + 0.5
    above = (torch.as_tensor(line, device=opening.device, dtype=torch.float32)[None] - ys + 0.5).clamp(0, 1)
    return torch.cat([opening * above, opening * (1.0 - above)], 1)


def _teeth(parts: torch.Tensor, centres: torch.Tensor, skull: torch.Tensor, lips: torch.Tensor,
           padding: str = "border") -> tuple[torch.Tensor, torch.Tensor]:
    """How much of each pixel shows the photo's own upper teeth (``parts[:, 0]``, followed with
    the skull's flow) and what its opening shows below them (``parts[:, 1]``, followed with the
    lower lip's flow ``lips``), [F, H, W] each, never more than 1 together. Following the lips'
    motion everywhere dragged the upper teeth down with an opening jaw; a free choice between
    the two flows showed them twice."""
    up = _sample(parts[:, :1], centres + skull, padding)[:, 0]
    down = _sample(parts[:, 1:], centres + lips, padding)[:, 0]
    return up, torch.minimum(down, 1.0 - up)


def _lip_shift(ref, tgt, idx, cam: Camera, sx: float, sy: float, rigid) -> torch.Tensor:
    """[F, 1, 1, 2]: the backward motion of the mean of vertices ``idx`` on the flow grid beyond
    the skull's (their flow less the rigid flow where they are)."""
    idx = list(idx)
    ref_p = _project(ref[idx].mean(0)[None, None], cam, sx, sy)[..., :2]      # [1, 1, 2]
    tgt_p = _project(tgt[:, idx].mean(1, keepdim=True), cam, sx, sy)[..., :2]  # [F, 1, 2]
    at = _sample(rigid.permute(0, 3, 1, 2), tgt_p[:, None])                    # [F, 2, 1, 1]
    return (ref_p - tgt_p)[:, None] - at.permute(0, 2, 3, 1)


def _sharp_opening(occ, own, flow, skull, lips, edge, ref, tgt, all_tris, n_face: int, loop, camera: Camera, ss: int,
                   margin: int) -> None:
    """In place: the occlusion (and ``own``, the part of the opening the photo's own opening
    explains, and the flow there: ``skull`` for its upper teeth, ``lips`` below them, both
    [F, h, w, 2] on the flow grid, not the grid's blend of the two) inside a box around the
    mouth, rasterised at the output's own pixels (``ss`` x ``ss`` samples each) instead of
    upsampled from the flow grid, whose steps showed as a jagged lip edge at 512 px and up. The
    opening is the mouth fan in front of the face (same z-test), less what the photo's own
    opening shows there (the photo's opening, also at full resolution, split at ``edge`` and
    sampled through those two flows). The box reaches ``margin`` px past the
    lips, beyond where the upsampled opening can be non-zero, so a frame's opening is the same
    whichever batch (and so whichever box) renders it."""
    n_frames, height, width = occ.shape
    sx, sy = width / camera.width * ss, height / camera.height * ss
    tgt_s = _add_cap_centre(_project(tgt, camera, sx, sy), loop)           # supersampled px
    ref_s = _add_cap_centre(_project(ref[None], camera, sx, sy), loop)
    ring = list(loop)
    lo = torch.minimum(tgt_s[:, ring, :2].amin((0, 1)), ref_s[:, ring, :2].amin((0, 1))) / ss
    hi = torch.maximum(tgt_s[:, ring, :2].amax((0, 1)), ref_s[:, ring, :2].amax((0, 1))) / ss
    x0, y0 = max(int(lo[0]) - margin, 0), max(int(lo[1]) - margin, 0)
    x1, y1 = min(int(hi[0]) + margin + 1, width), min(int(hi[1]) + margin + 1, height)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    shift = torch.tensor([x0 * ss, y0 * ss, 0.0], device=occ.device)
    bh, bw = (y1 - y0) * ss, (x1 - x0) * ss

    def opening(screen):                   # [B, 1, y1-y0, x1-x0] coverage of the fan in front of the face
        return F.avg_pool2d((rasterize(screen - shift, all_tris, bh, bw).tri_id >= n_face).float()[:, None], ss)

    hole, ref_hole = opening(tgt_s)[:, 0], opening(ref_s)
    # the two flows at the box's pixels, sampled from the grid as the frame's flow was upsampled
    cen = pixel_centres(y1 - y0, x1 - x0, occ.device)[None]
    grid = (cen + torch.tensor([x0, y0], device=occ.device)) * torch.tensor(
        [skull.shape[2] / width, skull.shape[1] / height], device=occ.device)
    skull, lips = ((_sample(f.permute(0, 3, 1, 2), grid.expand(n_frames, -1, -1, -1)).permute(0, 2, 3, 1)
                    * torch.tensor([width / f.shape[2], height / f.shape[1]], device=occ.device))
                   for f in (skull, lips))
    up, low = _teeth(_opening_parts(ref_hole, edge, x0, y0).expand(n_frames, -1, -1, -1), cen, skull, lips,
                     padding="zeros")                                     # outside the box: none
    seen_open = up + low
    # coverage the photo's opening does not explain (at the edges both are fractional: a product
    # would leave a rim where nothing moved)
    occ[:, y0:y1, x0:x1] = (hole - seen_open).clamp(0.0, 1.0)
    own[:, y0:y1, x0:x1] = torch.minimum(hole, seen_open)
    box = flow[:, y0:y1, x0:x1]
    box += (hole * up)[..., None] * (skull - box)
    box += (hole * low)[..., None] * (lips - box)


def _tensor(a, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)


def _project(points: torch.Tensor, cam: Camera, sx: float, sy: float) -> torch.Tensor:
    """Camera pixels scaled to the flow grid, plus depth: [..., 3]."""
    depth = points[..., 1]
    u = (cam.cx + cam.focal * points[..., 0] / depth) * sx
    v = (cam.cy - cam.focal * points[..., 2] / depth) * sy
    return torch.stack([u, v, depth], -1)


def _with_mouth_cap(tris: torch.Tensor, loop, n_verts: int) -> tuple[torch.Tensor, int]:
    """Append a fan over the mouth opening around an extra centre vertex (index ``n_verts``).

    Rasterising the fan with the face finds the visible opening with the same z-test; with the
    mouth closed the fan has zero area and draws nothing.
    """
    n_face = tris.shape[0]
    if not loop or max(loop) >= n_verts:
        return tris, n_face
    ring = torch.as_tensor(loop, dtype=torch.long, device=tris.device)
    centre = torch.full_like(ring, n_verts)
    fan = torch.stack([centre, ring, ring.roll(-1)], 1)
    return torch.cat([tris, fan]), n_face


def _cap_centre(points: torch.Tensor, loop) -> torch.Tensor:
    """The fan's centre vertex: mean of the loop, [B, 1 or 0, C]."""
    if not loop or max(loop) >= points.shape[1]:
        return points[:, :0]
    return points[:, list(loop)].mean(1, keepdim=True)


def _add_cap_centre(screen: torch.Tensor, loop) -> torch.Tensor:
    return torch.cat([screen, _cap_centre(screen, loop)], 1)


def _rigid_flow(points, tgt_s, cam, sx, sy, pose_ref, pose_tgt) -> torch.Tensor:
    """Backward flow of the head as a rigid body, on a camera-facing plane through the face.

    ``points`` [F or 1, N, 2] low-res pixels -> flow [F, N, 2].
    """
    device = points.device
    rot_ref = euler_xyz_matrix(pose_ref[:3])
    rot_tgt = euler_xyz_matrix(pose_tgt[:, :3])
    rel = torch.as_tensor(rot_ref[None] @ rot_tgt.transpose(0, 2, 1), dtype=torch.float32,
                          device=device)  # [F, 3, 3]: target head frame -> photo head frame
    t_ref = torch.as_tensor(pose_ref[3:], dtype=torch.float32, device=device)
    t_tgt = torch.as_tensor(pose_tgt[:, 3:], dtype=torch.float32, device=device)
    depth = tgt_s[..., 2].mean(1)  # [F] plane depth: the face's mean depth in that frame
    u, v = points[..., 0] / sx, points[..., 1] / sy
    ray = torch.stack([(u - cam.cx) / cam.focal, torch.ones_like(u), -(v - cam.cy) / cam.focal], -1)
    world = ray * depth[:, None, None]
    back = torch.einsum("fij,fnj->fni", rel, world - t_tgt[:, None]) + t_ref
    return _project(back, cam, sx, sy)[..., :2] - points


def _outside_flow(centres, tgt_s, rigid, cam, sx, sy, pose_ref, pose_tgt, cfg) -> torch.Tensor:
    """Rigid head region, damped neck below the chin, still background: [F, h, w, 2]."""
    xy = tgt_s[..., :2]
    lo, hi = xy.amin(1), xy.amax(1)  # [F, 2] face box
    half_w = ((hi[:, 0] - lo[:, 0]) / 2).clamp(min=1e-3)[:, None, None]
    face_h = (hi[:, 1] - lo[:, 1]).clamp(min=1e-3)[:, None, None]
    mid_x = ((hi[:, 0] + lo[:, 0]) / 2)[:, None, None]
    chin = hi[:, 1][:, None, None]
    top = lo[:, 1][:, None, None] - cfg.head_top * face_h
    x, y = centres[..., 0], centres[..., 1]

    # Head (hair, ears, forehead): an ellipse from the hair top down to the chin.
    radius = torch.sqrt(((x - mid_x) / (cfg.head_width * half_w)) ** 2
                        + ((y - (top + chin) / 2) / ((chin - top) / 2)) ** 2)
    w_head = 1.0 - _smoothstep(1.0, 1.0 + cfg.head_margin, radius)

    # Neck and shoulders: a widening band under the chin that follows the chin, damped.
    below = (y - chin).clamp(min=0)
    band = cfg.neck_width * half_w + cfg.shoulder_slope * below
    w_band = 1.0 - _smoothstep(1.0, 1.0 + cfg.head_margin, (x - mid_x).abs() / band)
    w_neck = w_band * _smoothstep(chin - 0.3 * face_h, chin, y)
    damp = cfg.neck_damping * torch.exp(-below / (cfg.neck_decay * face_h))
    chin_pt = torch.stack([mid_x[:, 0, 0], chin[:, 0, 0]], -1)[:, None]  # [F, 1, 2]
    chin_flow = _rigid_flow(chin_pt, tgt_s, cam, sx, sy, pose_ref, pose_tgt)  # [F, 1, 2]
    neck = (w_neck * damp)[..., None] * chin_flow[:, :, None]
    return w_head[..., None] * rigid + (1.0 - w_head)[..., None] * neck


def _person_weight(mask, h: int, w: int, cfg: FlowConfig, device) -> torch.Tensor:
    """Soft, slightly grown person mask on the flow grid: [h, w] in [0, 1]."""
    m = torch.as_tensor(np.array(mask, dtype=np.float32), device=device)  # copy: may be read-only
    if m.dim() == 3:
        m = m[..., 0]
    m = F.interpolate(m[None, None], size=(h, w), mode="bilinear", align_corners=False,
                      antialias=True)
    grow = max(1, int(round(cfg.mask_dilate * max(h, w))))
    m = F.max_pool2d(m, 2 * grow + 1, stride=1, padding=grow)
    return _gaussian_blur(m, grow / 2.0)[0, 0].clamp(0, 1)


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Zero-padded Gaussian; a blur under a third of a pixel is none."""
    return x if sigma <= 0.3 else gaussian_blur(x, sigma)


def _smoothstep(edge0, edge1, x: torch.Tensor) -> torch.Tensor:
    t = ((x - edge0) / (edge1 - edge0)).clamp(0, 1)
    return t * t * (3 - 2 * t)


def _sample(img: torch.Tensor, pos: torch.Tensor, padding: str = "border") -> torch.Tensor:
    """Bilinear sample of [B, C, h, w] at pixel positions [B, H, W, 2] (outside: the border's
    value, or 0 with ``padding='zeros'``)."""
    h, w = img.shape[-2:]
    scale = torch.tensor([2.0 / w, 2.0 / h], device=pos.device)
    return F.grid_sample(img, pos * scale - 1.0, mode="bilinear", padding_mode=padding,
                         align_corners=False)


def _upsample(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    if x.shape[-2:] == (h, w):
        return x
    return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
