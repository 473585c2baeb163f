"""The flow-guided generator: a learned correction of the full-resolution warp (neural mode).

After the HDTF paper's flow-guided video generator: an encoder of the reference image; an
hourglass that sees the reference, the dense flow and the warped image and predicts a
foreground mask that corrects the flow, a matting mask and matting features for what warping
cannot explain (the mouth interior a closed-mouth photo hides); warped features blended with
the matting features; a residual bottleneck; a decoder.

Unlike the paper, the decoder does not draw the frame. The learned part runs on a square crop
around the face at a small fixed size (``GeneratorConfig.internal``, 128 px), and the frame is
composited at the output resolution: the photo warped at full resolution (``core.warp``) by the
corrected flow, blended towards the upsampled decoder colour only where a predicted mask asks
for it. Skin, hair and background therefore keep the photo's own detail at 512 or 1024 px, and
the network's cost does not grow with the output size.

Both the mask and the flow correction are multiplied by a gate that is zero where the flow is
zero and the photo hides nothing: a frame that does not move is the photo, exactly, and the
still background cannot flicker whatever the network does.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import MissingWeightsError
from ..weights import weights_path
from .flow import DenseFlow
from .grid import gaussian_blur, pixel_centres
from .warp import MouthFill, WarpSource, mouth_interior, prepare_source, warp_image

WEIGHTS_NAME = "generator.safetensors"
MOUTH_WEIGHTS_NAME = "mouth_generator.safetensors"   # optional: the mouth model (``refine_mouth``)
FORMAT = "talkface-generator"


@dataclass(frozen=True)
class GeneratorConfig:
    """Network shape and the crop/gating rules; stored in the weights file's metadata."""

    version: str = "1"
    internal: int = 128  # side of the square face crop the network sees, px (multiple of 8)
    channels: int = 24  # base width; the deepest features have 4x this
    bottleneck_blocks: int = 3
    crop_margin: float = 1.7  # crop side / size of the face's footprint in the photo
    max_flow_fix: float = 2.0  # largest flow correction, in internal pixels
    motion_px: float = 0.05  # flow (internal px) at which the gate is fully open
    occlusion_grow: int = 2  # gate grows this many internal px around the hidden mouth
    region: str = "face"  # "face": the crop around the face; "mouth": around the lips (``mouth_box``)
    keep_tone: bool = True  # a mouth model keeps the face pass's low-frequency colour (``refine_mouth``)


@dataclass
class Box:
    """The square face crop in output pixels: columns x0..x0+side, rows y0..y0+side."""

    x0: int
    y0: int
    side: int


@dataclass
class Prediction:
    """The learned part's outputs at the internal size (gate already applied)."""

    flow_fix: torch.Tensor  # [F, 2, R, R] flow correction, internal px
    mask: torch.Tensor  # [F, 1, R, R] in 0..1: how much of the decoder colour to use
    rgb: torch.Tensor  # [F, 3, R, R] decoder colour
    gate: torch.Tensor  # [F, 1, R, R]
    fg: torch.Tensor  # [F, 1, R, R] foreground mask of the flow correction
    matte: torch.Tensor  # [F, 1, R, R] matting mask (1 = warped features)
    learned: torch.Tensor  # [F, 1, R, R] the network's own mask (gated), without the opening


# ------------------------------------------------------------------------------------ layers
def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv, group norm (per image: batches here are a few frames), leaky ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout // 4), cout),
                         nn.LeakyReLU(0.2, inplace=True))


class _Up(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _conv(cin, cout)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))


class _ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, 1, 1)
        self.b = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return x + self.b(F.leaky_relu(self.a(x), 0.2))


class Encoder(nn.Module):
    """Reference crop -> features at 1, 1/2 and 1/4 of the internal size."""

    def __init__(self, c: int):
        super().__init__()
        self.e1 = nn.Sequential(_conv(3, c), _conv(c, c))
        self.e2 = _conv(c, 2 * c, 2)
        self.e3 = nn.Sequential(_conv(2 * c, 4 * c, 2), _conv(4 * c, 4 * c))

    def forward(self, x):
        f1 = self.e1(x)
        f2 = self.e2(f1)
        return f1, f2, self.e3(f2)


class Hourglass(nn.Module):
    """(reference, warped, flow, occlusion, face) -> fg mask, flow fix, matte mask, matte feats."""

    IN = 3 + 3 + 2 + 1 + 1

    def __init__(self, c: int):
        super().__init__()
        self.h0 = _conv(self.IN, c)
        self.h1 = _conv(c, 2 * c, 2)
        self.h2 = _conv(2 * c, 4 * c, 2)
        self.h3 = _conv(4 * c, 4 * c, 2)
        self.u2 = _Up(4 * c, 4 * c)
        self.u1 = _Up(4 * c, 2 * c)
        self.u0 = _Up(2 * c, c)
        self.matte_feats = nn.Conv2d(4 * c, 4 * c, 3, 1, 1)
        self.head = nn.Conv2d(c, 4, 3, 1, 1)  # fg logit, flow fix (2), matte logit
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[3] = 3.0  # start by trusting the warped features

    def forward(self, x):
        h0 = self.h0(x)
        h1 = self.h1(h0)
        h2 = self.h2(h1)
        u2 = self.u2(self.h3(h2)) + h2
        u1 = self.u1(u2) + h1
        u0 = self.u0(u1) + h0
        return self.head(u0), self.matte_feats(u2)


class Decoder(nn.Module):
    """Blended features (1/4) + warped skips -> colour correction and the composite mask."""

    def __init__(self, c: int):
        super().__init__()
        self.d2 = _Up(4 * c, 2 * c)
        self.m2 = _conv(4 * c, 2 * c)
        self.d1 = _Up(2 * c, c)
        self.m1 = _conv(2 * c, c)
        self.head = nn.Conv2d(c, 4, 3, 1, 1)  # rgb delta (3), mask logit
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():
            self.head.bias[3] = -5.0  # start from the plain warp

    def forward(self, x, skip2, skip1):
        x = self.m2(torch.cat([self.d2(x), skip2], 1))
        x = self.m1(torch.cat([self.d1(x), skip1], 1))
        return self.head(x)


# --------------------------------------------------------------------------------- generator
class Generator(nn.Module):
    """``forward(photo [1, 3, H, W] 0..1, flow: DenseFlow) -> frames [F, 3, H, W] 0..1``."""

    def __init__(self, config: GeneratorConfig = GeneratorConfig()):
        super().__init__()
        if config.internal % 8:
            raise ValueError("GeneratorConfig.internal must be a multiple of 8")
        self.config = config
        c = config.channels
        self.encoder = Encoder(c)
        self.hourglass = Hourglass(c)
        self.bottleneck = nn.Sequential(*[_ResBlock(4 * c) for _ in range(config.bottleneck_blocks)])
        self.decoder = Decoder(c)
        self._init_convs()
        self.half = False  # run the network in float16 under autocast (CUDA only)
        self._cache: tuple | None = None

    def _init_convs(self) -> None:
        """He init for the leaky ReLUs (torch's default shrinks activations layer by layer).
        Heads keep their zero init; residual branches start small, near the identity."""
        heads = {self.hourglass.head, self.decoder.head}
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m not in heads:
                nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        for block in self.bottleneck:
            block.b.weight.data.mul_(0.1)

    # ---- geometry of the crop
    def face_box(self, flow: DenseFlow) -> Box:
        """Square crop around where this batch's face pixels come from in the photo."""
        height, width = flow.face.shape[-2:]
        inside = flow.face > 0.5
        if not bool(inside.any()):
            side = min(width, height)
            return Box((width - side) // 2, (height - side) // 2, side)
        pos = pixel_centres(height, width, flow.flow.device)[None] + flow.flow.float()
        pts = pos[inside]  # [N, 2]
        return self.box_around(pts.amin(0).tolist(), pts.amax(0).tolist(), (width, height))

    def box_around(self, lo, hi, size: tuple[int, int]) -> Box:
        """The crop for a face whose photo footprint spans ``lo``..``hi`` (pixels), on a coarse
        grid. A bake fixes one box for all frames (from the reference face): the network
        sees every frame at the same scale, so batch boundaries cannot show."""
        width, height = size
        grid = max(4, max(width, height) // 64)
        extent = max(hi[0] - lo[0], hi[1] - lo[1]) * self.config.crop_margin
        side = int(min(min(width, height), max(32, grid * round(extent / grid))))
        cx, cy = (lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2
        x0 = int(min(max(grid * round((cx - side / 2) / grid), 0), width - side))
        y0 = int(min(max(grid * round((cy - side / 2) / grid), 0), height - side))
        return Box(x0, y0, side)

    def mouth_box(self, lips, size: tuple[int, int]) -> Box:
        """The crop of a mouth model: ``lips`` (x0, y0, x1, y1), the photo's lips in output
        pixels, grown by ``crop_margin`` around their longer side."""
        return self.box_around(lips[:2], lips[2:], size)

    def refine_mouth(self, frames: torch.Tensor, photo: torch.Tensor, flow: DenseFlow, box: Box,
                     fill: MouthFill | None = None) -> torch.Tensor:
        """In place on ``frames`` (a face pass's output): inside the mouth crop, the colour this
        mouth model draws, at its own internal size over a crop a few times smaller than the
        face's, where its mask (or the hidden opening) asks; blended in over the crop's outer
        eighth so no seam shows."""
        photo = _as_batch(photo)
        pred = self.predict(photo, flow, box)
        s, b = box.side, box
        region = frames[..., b.y0:b.y0 + s, b.x0:b.x0 + s]
        occ = _box(flow.occlusion, b)
        ramp = torch.clamp(torch.minimum(torch.arange(s), torch.arange(s).flip(0)).float() / max(1.0, s / 8), 0, 1)
        feather = (ramp[:, None] * ramp[None, :]).to(frames.device)
        own = _box(flow.photo_opening, b)
        region.copy_(self._composite(region, pred, occ, feather, self.config.keep_tone, own,
                                     painted_interior(flow, b, frames.shape[-2], fill), _box(flow.over_teeth, b)))
        return frames

    def source(self, photo: torch.Tensor) -> WarpSource:
        """The oversampled photo for the full-res warp, kept while the same photo comes back."""
        key = (photo.data_ptr(), tuple(photo.shape), photo._version, str(photo.device))
        if self._cache is None or self._cache[0] != key:
            size = (photo.shape[-1], photo.shape[-2])
            self._cache = (key, prepare_source(photo.float(), size, photo.device))
        return self._cache[1]

    # ---- the learned part
    def predict(self, photo: torch.Tensor, flow: DenseFlow, box: Box) -> Prediction:
        """Run the network on the face crop of every frame."""
        cfg, r = self.config, self.config.internal
        n = flow.flow.shape[0]
        out_hw = tuple(flow.flow.shape[1:3])
        scale = r / box.side
        ref = _crop_resize(photo.float(), box, r)  # [1, 3, R, R]
        flow_c = _crop_resize(flow.flow.float().permute(0, 3, 1, 2), box, r) * scale  # int. px
        occ = _crop_resize(flow.occlusion.float()[:, None], box, r)
        face = _crop_resize(flow.face.float()[:, None], box, r)
        low = F.interpolate(photo.float(), scale_factor=scale, mode="bilinear",
                            align_corners=False, antialias=scale < 1, recompute_scale_factor=False)
        warped = _sample_crop(low, flow_c, box, scale, out_hw)

        motion = flow_c.norm(dim=1, keepdim=True)
        gate = 1.0 - torch.exp(-(motion / cfg.motion_px) ** 2)
        if cfg.occlusion_grow > 0:
            k = 2 * cfg.occlusion_grow + 1
            gate = torch.maximum(gate, F.max_pool2d(occ, k, 1, cfg.occlusion_grow))

        dtype = torch.float16 if self.half and photo.device.type == "cuda" else torch.float32
        with torch.autocast(photo.device.type, dtype=torch.float16, enabled=dtype == torch.float16):
            refs = ref.expand(n, -1, -1, -1)
            x = torch.cat([refs, warped, flow_c / 8.0, occ, face], 1)
            head, matte_feats = self.hourglass(x)
            head = head.float()
            fg = torch.sigmoid(head[:, :1])
            fix = fg * cfg.max_flow_fix * torch.tanh(head[:, 1:3]) * gate
            matte = torch.sigmoid(head[:, 3:4])
            full = flow_c + fix
            f1, f2, f3 = self.encoder(ref)
            w1 = _warp_features(f1, full, 1)
            w2 = _warp_features(f2, full, 2)
            w3 = _warp_features(f3, full, 4)
            m2, m4 = F.avg_pool2d(matte, 2), F.avg_pool2d(matte, 4)
            blended = m4 * w3 + (1.0 - m4) * matte_feats
            out = self.decoder(self.bottleneck(blended), m2 * w2, matte * w1).float()
        warped_fix = _sample_crop(low, full, box, scale, out_hw)
        rgb = (warped_fix + torch.tanh(out[:, :3])).clamp(0.0, 1.0)
        # The hidden mouth opening always takes the decoder's colour: the photo has nothing to
        # show there, and a learned mask would only rise once the colour got good.
        learned = torch.sigmoid(out[:, 3:4]) * gate
        mask = torch.maximum(learned, occ * gate)
        return Prediction(fix, mask, rgb, gate, fg, matte, learned)

    # ---- compositing at the output size
    def forward(self, photo: torch.Tensor, flow: DenseFlow, box: Box | None = None,
                fill: MouthFill | None = None) -> torch.Tensor:
        photo = _as_batch(photo)
        box = box or self.face_box(flow)
        pred = self.predict(photo, flow, box)
        s, b = box.side, box
        flow_full = flow.flow.float().clone()
        up_fix = _up(pred.flow_fix, s) * (s / self.config.internal)
        flow_full[:, b.y0:b.y0 + s, b.x0:b.x0 + s] += up_fix.permute(0, 2, 3, 1)
        frames = warp_image(self.source(photo), flow_full)
        region = frames[..., b.y0:b.y0 + s, b.x0:b.x0 + s]
        occ = _box(flow.occlusion, b)
        region.copy_(self._composite(region, pred, occ, interior=painted_interior(flow, b, frames.shape[-2], fill),
                                     whole=_box(flow.over_teeth, b)))
        return frames.clamp_(0.0, 1.0)

    def _composite(self, base: torch.Tensor, pred: Prediction, occ: torch.Tensor,
                   feather: torch.Tensor | None = None, keep_tone: bool = False,
                   keep: torch.Tensor | None = None, interior: torch.Tensor | None = None,
                   whole: torch.Tensor | None = None) -> torch.Tensor:
        """The crop at the output size: ``base`` (the full-resolution warp, or a face pass's
        frames for a mouth model) blended towards the network's colour (drawn at the internal
        size) where its mask asks, and over the hidden mouth opening ``occ``, which
        ``core.video.flow`` draws at the output's own pixels: its edge against the lips is as
        sharp as the lips, not the internal size's soft step. A frame without motion is still
        the photo: the gate makes both 0 there. ``feather`` fades the blend out towards the
        crop's border; ``keep_tone`` keeps ``base``'s low-frequency colour under the network's
        structure (teeth edges, the cavity): a mouth model learned its tones on renders, and on
        real photos they drift (blue-white teeth). ``keep`` (the opening's pixels that show the
        photo's own opening: its teeth, warped) is never repainted by the learned mask.
        ``interior`` (``painted_interior``): the hidden opening takes it, with the network's fine
        structure over it at ``INTERIOR_DETAIL``; where ``whole`` says (``DenseFlow.over_teeth``:
        a smiling photo's real teeth in its input there, which it drew grey, having learned mouths
        from renders only) it takes the painting whole, without the network's structure."""
        s = base.shape[-1]
        colour = _up(pred.rgb, s)
        learned = _up(pred.learned, s)
        if keep is not None:
            learned = learned * (1.0 - keep)
        mask = torch.maximum(learned, occ)
        if feather is not None:
            mask = mask * feather
        if not keep_tone and interior is None:
            return base + mask * (colour - base)
        # Low-pass at the internal size (a 24th of the crop), where the network drew: the same
        # blur at the output's size cost half a 1024 px bake's time on a close-up portrait.
        r = pred.rgb.shape[-1]
        sigma = max(1.0, r / 24)
        detail = colour - _up(_blur(pred.rgb, sigma), s)
        if keep_tone:
            small = F.interpolate(base, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
            colour = (detail + _up(_blur(small, sigma), s)).clamp(0, 1)
        if interior is not None:
            painted = (interior + INTERIOR_DETAIL * detail * (1.0 if whole is None else 1.0 - whole)).clamp(0, 1)
            share = INTERIOR_SHARE if whole is None else INTERIOR_SHARE + (1.0 - INTERIOR_SHARE) * whole
            colour = colour + occ * share * (painted - colour)
        return base + mask * (colour - base)

    def forward_region(self, photo: torch.Tensor, flow: DenseFlow, box: Box | None = None,
                       source: WarpSource | None = None):
        """Frames inside the face crop only, ``([F, 3, s, s], box, prediction)``: for training.

        Outside the crop the output is the plain warp, so a loss on the crop sees everything
        the network can change, at a fraction of the cost of whole frames.
        """
        photo = _as_batch(photo)
        box = box or self.face_box(flow)
        source = source or self.source(photo)
        pred = self.predict(photo, flow, box)
        s = box.side
        up_fix = _up(pred.flow_fix, s) * (s / self.config.internal)
        flow_box = flow.flow.float()[:, box.y0:box.y0 + s, box.x0:box.x0 + s] + up_fix.permute(
            0, 2, 3, 1)
        warped = warp_region(source, flow_box, box)
        occ = _box(flow.occlusion, box)
        return self._composite(warped, pred, occ).clamp(0.0, 1.0), box, pred

    # ---- persistence
    def save(self, path: str | os.PathLike, extra: dict | None = None) -> None:
        from safetensors.torch import save_file

        meta = {"format": FORMAT, "config": json.dumps(asdict(self.config))}
        meta.update({k: str(v) for k, v in (extra or {}).items()})
        state = {k: v.detach().float().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(state, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | os.PathLike, device: torch.device | str = "cpu") -> "Generator":
        """Weights and config from a safetensors file written by ``save``."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
            state = load_file(str(path))
        except Exception as exc:  # truncated or not a safetensors file
            raise MissingWeightsError(f"Generator weights {path} cannot be read: {exc}") from exc
        if meta.get("format") != FORMAT:
            raise MissingWeightsError(f"{path} is not a TalkFace generator weights file.")
        known = {f.name for f in fields(GeneratorConfig)}
        cfg = GeneratorConfig(**{k: v for k, v in json.loads(meta["config"]).items() if k in known})
        model = cls(cfg)
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise MissingWeightsError(f"Generator weights {path} do not fit this version: {exc}")
        return model.to(device).eval()


def load_generator(weights_dir: str | os.PathLike | None = None,
                   device: torch.device | str = "cpu") -> Generator:
    """The shipped (or ``weights_dir``) generator, checksum-verified, ready for inference.

    Raises ``MissingWeightsError`` with how to train one when the file is absent or altered.
    """

    return _load_for_inference(weights_path(WEIGHTS_NAME, weights_dir), device)


def _load_for_inference(path, device) -> Generator:
    model = Generator.load(Path(path), device)
    for p in model.parameters():
        p.requires_grad_(False)
    model.half = torch.device(device).type == "cuda"
    return model


def load_mouth_generator(weights_dir: str | os.PathLike | None = None,
                         device: torch.device | str = "cpu") -> Generator | None:
    """The mouth model drawn over the face model's frames, or None in a build without one (the
    face model then draws the mouth too). A damaged file is not worked around (DamagedFileError)."""
    try:
        path = weights_path(MOUTH_WEIGHTS_NAME, weights_dir)
    except MissingWeightsError:
        return None
    model = _load_for_inference(path, device)
    if model.config.region != "mouth":
        raise MissingWeightsError(f"{path} is not a mouth model (its region is {model.config.region!r})")
    return model


# ---------------------------------------------------------------------------------- helpers
#: The hidden mouth opening at inference: ``INTERIOR_SHARE`` of it is the painted interior
#: (``painted_interior``) with ``INTERIOR_DETAIL`` of the network's own fine structure (its colour
#: less a blur) over it, the rest the network's colour. On held-out real portraits the painted
#: interior reads as a mouth (teeth, tongue, dark cavity) where the network alone drew a pale
#: smear; on held-out renders (``bench/generator.py --pairs``), whose interiors the network learned,
#: all-painted scores mouth L1 0.260 against the network's 0.188. Of the shares measured (1, 0.7,
#: 0.6, 0.5), 0.6 is the most painted that keeps the issue's goal there (mouth L1 < 0.21: 0.196;
#: crop PSNR 35.6 dB).
INTERIOR_DETAIL = 0.5
INTERIOR_SHARE = 0.6


def painted_interior(flow: DenseFlow, box: Box, frame_height: int, fill: MouthFill | None = None) -> torch.Tensor:
    """The mouth interior [F, 3, s, s] inside ``box`` that the hidden opening shows at inference
    (``core.video.warp.mouth_interior``, as the warp-only bake paints it), laid out on the whole
    opening (hidden and the photo's own), at the output's pixels. The network learned its
    interior on renders and on real portraits it drew a pale smear; the painted teeth, tongue
    and cavity read as a mouth at every opening and are as sharp as the output."""
    opening = _box(flow.occlusion, box)
    if flow.photo_opening is not None:
        opening = opening + _box(flow.photo_opening, box)
    return mouth_interior(opening > 0.5, fill or MouthFill(), frame_height / 512.0)


def _box(x: torch.Tensor | None, box: Box) -> torch.Tensor | None:
    """[F, H, W] -> the box's [F, 1, s, s] (None stays None)."""
    return None if x is None else x.float()[:, None, box.y0:box.y0 + box.side, box.x0:box.x0 + box.side]


def warp_region(source: WarpSource, flow_box: torch.Tensor, box: Box) -> torch.Tensor:
    """``core.warp.warp_image``'s sampling for the crop's pixels only: [F, 3, s, s]."""
    width, height = source.size
    s = box.side
    device = flow_box.device
    cen = pixel_centres(s, s, device) + torch.tensor([box.x0, box.y0], device=device,
                                                 dtype=torch.float32)
    scale = torch.tensor([2.0 / width, 2.0 / height], device=device)
    grid = (flow_box + cen) * scale - 1.0
    img = source.image.to(device).float().expand(flow_box.shape[0], -1, -1, -1)
    out = F.grid_sample(img, grid, mode="bicubic", padding_mode="border", align_corners=False)
    return out.clamp(0.0, 1.0)


def _as_batch(photo: torch.Tensor) -> torch.Tensor:
    return photo[None] if photo.dim() == 3 else photo


def _crop_resize(x: torch.Tensor, box: Box, size: int) -> torch.Tensor:
    """[B, C, H, W] -> the box resized to ``size`` (antialiased when shrinking)."""
    crop = x[..., box.y0:box.y0 + box.side, box.x0:box.x0 + box.side]
    if box.side == size:
        return crop
    return F.interpolate(crop, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=box.side > size)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur, normalised at the borders (the crop's edge is not darkened)."""
    ones = torch.ones_like(x[:1, :1])
    return gaussian_blur(x, sigma) / gaussian_blur(ones, sigma).clamp(min=1e-6)


def _up(x: torch.Tensor, side: int) -> torch.Tensor:
    if x.shape[-1] == side:
        return x
    return F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)


def _sample_crop(low: torch.Tensor, flow_c: torch.Tensor, box: Box, scale: float,
                 out_hw: tuple[int, int]) -> torch.Tensor:
    """Warp the downscaled whole photo ``low`` onto the crop grid: [F, 3, R, R].

    Sampling the whole photo (not the crop) lets the flow reach outside the crop. Positions are
    normalised by the output frame, which ``low`` spans whatever its rounded size.
    """
    n, _, r, _ = flow_c.shape
    height, width = out_hw
    dev = flow_c.device
    pos = (pixel_centres(r, r, dev)[None] + flow_c.permute(0, 2, 3, 1)) / scale
    pos = pos + torch.tensor([box.x0, box.y0], device=dev, dtype=torch.float32)
    grid = pos * torch.tensor([2.0 / width, 2.0 / height], device=dev) - 1.0
    return F.grid_sample(low.expand(n, -1, -1, -1), grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def _warp_features(feat: torch.Tensor, flow_c: torch.Tensor, factor: int) -> torch.Tensor:
    """Backward-warp crop features at 1/``factor`` of the internal size by a crop flow."""
    n = flow_c.shape[0]
    flow = F.avg_pool2d(flow_c, factor) / factor if factor > 1 else flow_c
    h, w = feat.shape[-2:]
    pos = pixel_centres(h, w, flow.device)[None] + flow.permute(0, 2, 3, 1)
    grid = pos * torch.tensor([2.0 / w, 2.0 / h], device=flow.device) - 1.0
    return F.grid_sample(feat.expand(n, -1, -1, -1), grid.to(feat.dtype), mode="bilinear",
                         padding_mode="border", align_corners=False)
