"""Train the flow-guided generator on rendered pairs or HDTF-format clips.

    python -m talkface.training.generator --data DIR [DIR ...] --out weights/generator.safetensors \\
        [--steps 1300] [--resume] [--threads 1]
    torchrun --nproc_per_node N -m talkface.training.generator ... --device cuda   # DDP, one GPU per process

Data (each ``--data`` folder is read as whichever kind it holds):

* rendered pairs from ``scripts/render_generator_pairs.py``: ``NAME/reference.png``,
  ``NAME/NNNN.png``, ``NAME/NNNN_alpha.png``, ``NAME/states.npz``. Outside the rendered face
  layer the target is replaced by the warp's own guess (``core.flow`` moves hair and neck with
  the head; a flat photo plane cannot), so the network learns the face and mouth and leaves
  the rest to the warp.
* HDTF-format clips (``training.hdtf.prepare``): ``NAME.mp4`` (square, e.g. 512 px, 25 fps) with a
  per-frame face state ``NAME.npz`` beside it: ``weights`` [T, 52] ARKit, ``pose`` [T, 6]
  absolute head pose, ``identity`` [S], ``camera`` (focal, cx, cy, width, height) in the clip's
  pixels. A random frame is the reference and another frame of the clip the target.
* tracked HDTF records (``training.hdtf.track``, ``training.hdtf.records``): the same, with the face states
  memory-mapped from the records, the videos from the prepared folder, and the records'
  speaker-level held-out split.

Losses on the face crop at full resolution: L1 (mouth opening weighted up), SSIM averaged over
three scales, image-gradient L1, and a small L1 on the composite mask so the photo is used
wherever it suffices; plus L1 on the decoder colour at the internal size where the gate is
open. No perceptual network (its weights cannot be downloaded here) and no PatchGAN (not
needed at this size). A checkpoint ``OUT.ckpt`` is written every ``--ckpt-every`` steps;
``--resume`` continues from it (``training.loop``), with fresh batches and the wall time so
far. Every flag but ``--data``, ``--out`` and ``--resume`` is a field of ``GeneratorTrainConfig``.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..core.face import topology
from ..core.face.camera import Camera
from ..core.face.model import load_face_model
from ..core.video.flow import DenseFlow, FlowConfig, dense_flow, photo_teeth
from ..core.video.generator import Box, Generator, GeneratorConfig, warp_region
from ..core.video.grid import gaussian_blur
from ..core.video.warp import prepare_source, warp_image
from . import distributed, loop
from .hdtf.records import Records, is_records
from .loop import option

FLOW_SCALE = 4  # flows are computed at 1/4 of the frame and upsampled, as core.flow does
MOUTH_MARGIN = 2.2  # a mouth model's crop: 2.2x the lips' width (lips, opening, chin and nose tip)


@dataclass
class PairBatch:
    """Targets of one reference: everything the loss needs, at frame size S."""

    photo: torch.Tensor  # [1, 3, S, S] the reference frame (the generator's photo)
    flow: DenseFlow  # [K, S, S, ...]
    target: torch.Tensor  # [K, 3, S, S] rendered/recorded target (over the still photo)
    alpha: torch.Tensor  # [K, 1, S, S] where the target is real (face layer, or all of a clip)
    still: torch.Tensor  # [1, 3, S, S] what the target shows outside alpha (the still photo)
    lips: tuple | None = None  # (x0, y0, x1, y1) px: the reference's lips (rendered pairs; mouth models)


# ------------------------------------------------------------------------------------- data
def _read_rgb(path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(path)
    return np.ascontiguousarray(img[..., ::-1])


def _to_tensor(rgb_u8: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb_u8).permute(2, 0, 1).float().div(255.0)


def _low_flow(model, identity, camera: Camera, ref_w, ref_pose, weights, poses, teeth_edge=None) -> tuple:
    """Flow at 1/4 size, exactly what ``dense_flow`` computes before upsampling: fp16 arrays.
    ``teeth_edge``: the photo's upper teeth's edge in pixels of that size (``dense_flow``)."""
    ref = model.vertices(identity, ref_w[None], ref_pose[None])[0]
    tgt = model.vertices(identity, weights, poses)
    size = (camera.width // FLOW_SCALE, camera.height // FLOW_SCALE)
    fl = dense_flow(ref, tgt, model.triangles, camera, size, ref_pose, poses,
                    teeth_edge=teeth_edge, config=FlowConfig(scale=1.0, mouth_supersample=0))  # the grid as is
    return fl.flow.half(), fl.occlusion.half(), fl.face.half()


def _upsample_flow(flow_low, occ_low, face_low, size: int) -> DenseFlow:
    """The 1/4-size flow at frame size: bilinear, as ``core.flow`` does it."""
    k = size / flow_low.shape[2]
    up = lambda x: F.interpolate(x.float(), size=(size, size), mode="bilinear",  # noqa: E731
                                 align_corners=False)
    flow = up(flow_low.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) * k
    masks = up(torch.stack([occ_low, face_low], 1)).clamp(0, 1)
    return DenseFlow(flow.contiguous(), masks[:, 0].contiguous(), masks[:, 1].contiguous())


class RenderedPairs:
    """Folders written by ``scripts/render_generator_pairs.py``; flows cached per photo."""

    def __init__(self, root: str | os.PathLike, hold_out: int = 4):
        self.root = Path(root)
        self.names = sorted(p.parent.name for p in self.root.glob("*/states.npz"))
        if not self.names:
            raise FileNotFoundError(f"No rendered pairs (NAME/states.npz) in {root}")
        self.hold_out = hold_out
        self.model = load_face_model()
        self._cache: dict[str, dict] = {}

    def _photo(self, name: str) -> dict:
        if name not in self._cache:
            import cv2

            d = np.load(self.root / name / "states.npz")
            cam = Camera(*(float(v) for v in d["camera"][:3]), int(d["camera"][3]),
                         int(d["camera"][4]))
            size = cam.width
            photo = _to_tensor(_read_rgb(self.root / name / "reference.png"))[None]
            ref = self.model.vertices(d["identity"], d["ref_weights"][None], d["ref_pose"][None])[0]
            uv = cam.project(ref)[:, :2]
            teeth = photo_teeth(photo[0].permute(1, 2, 0).numpy(), uv[list(topology.INNER_LIP_UPPER)],
                                uv[list(topology.INNER_LIP_LOWER)])   # as FrameSynthesizer finds them
            flow = _low_flow(self.model, d["identity"], cam, d["ref_weights"], d["ref_pose"],
                             d["weights"], d["pose"], None if teeth is None else teeth.edge / FLOW_SCALE)
            still = cv2.resize(d["photo"], (size, size), interpolation=cv2.INTER_AREA)
            lips = uv[list(topology.OUTER_LIP_LOOP)]
            self._cache[name] = {
                "n": len(d["weights"]), "size": size, "flow": flow,
                "lips": (*(float(v) for v in lips.min(0)), *(float(v) for v in lips.max(0))),
                "photo": photo,
                "still": _to_tensor(still)[None],
            }
        return self._cache[name]

    def indices(self, split: str) -> list[tuple[str, int]]:
        out = []
        for name in self.names:
            n = int(np.load(self.root / name / "states.npz")["weights"].shape[0])
            cut = max(n - self.hold_out, 0)
            ids = range(cut) if split == "train" else range(cut, n)
            out += [(name, i) for i in ids]
        return out

    def batch(self, name: str, ids) -> PairBatch:
        import cv2

        p = self._photo(name)
        ids = list(ids)
        fl, occ, face = (x[ids] for x in p["flow"])
        target = torch.stack([_to_tensor(_read_rgb(self.root / name / f"{i:04d}.png")) for i in ids])
        alpha = np.stack([cv2.imread(str(self.root / name / f"{i:04d}_alpha.png"),
                                     cv2.IMREAD_GRAYSCALE) for i in ids])
        alpha = torch.from_numpy(alpha).float().div(255.0)[:, None]
        return PairBatch(p["photo"], _upsample_flow(fl, occ, face, p["size"]), target, alpha,
                         p["still"], p["lips"])


def read_frames(path: str | os.PathLike, ids, seek_after: int = 50) -> list[np.ndarray]:
    """RGB frames ``ids`` (frame numbers) of a constant-rate clip, in the order asked.

    Seeks (to the keyframe before) whenever the next wanted frame is more than ``seek_after``
    frames ahead, so a batch costs a few GOPs of decoding wherever its frames lie in a clip of
    any length (prepared clips have a keyframe every second), not a decode from the start.
    """
    import av

    want = sorted(set(int(i) for i in ids))
    got: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or stream.guessed_rate)
        tb = float(stream.time_base)
        pending = list(want)
        frames = None
        last, sought = -1, None
        while pending:
            target = pending[0]
            if frames is None or (target - last > seek_after and sought != target):
                container.seek(int(max(target - 0.5, 0) / rate / tb), stream=stream, backward=True)
                frames = container.decode(stream)
                sought = target  # once: past the last keyframe, decoding on is the only way
            frame = next(frames, None)
            if frame is None:
                break
            last = int(round(float(frame.pts * frame.time_base) * rate))
            while pending and pending[0] < last:  # not in the stream (a short clip): give up on it
                pending.pop(0)
            if pending and last == pending[0]:
                got[last] = frame.to_ndarray(format="rgb24")
                pending.pop(0)
    missing = [i for i in want if i not in got]
    if missing:
        raise ValueError(f"{path}: frames {missing[:5]} could not be decoded")
    return [got[int(i)] for i in ids]


class HdtfClips:
    """(reference frame, target frames) of one clip: ``NAME.mp4`` + ``NAME.npz`` face states, or
    tracked records (``training.hdtf.track``: the prepared clips' videos, their tracked states
    memory-mapped, and the records' speaker-level held-out split)."""

    def __init__(self, root: str | os.PathLike, hold_out: int = 1):
        self.root = Path(root)
        self.records = {c.name: c for c in Records(root).clips()} if is_records(root) else None
        if self.records is not None:
            self.names = sorted(self.records)
        else:
            self.names = sorted(p.stem for p in self.root.glob("*.mp4") if p.with_suffix(".npz").is_file())
        if not self.names:
            raise FileNotFoundError(f"No clips (NAME.mp4 with NAME.npz, or tracked records) in {root}")
        self.hold_out = hold_out
        self.model = load_face_model()

    def _state(self, name: str):
        """weights [T, 52], pose [T, 6], identity [S], camera [5] of one clip."""
        if self.records is None:
            return np.load(self.root / f"{name}.npz")
        c = self.records[name]
        return {k: c.array(k) for k in ("weights", "pose", "identity", "camera")}

    def _video(self, name: str) -> Path:
        return self.records[name].video if self.records is not None else self.root / f"{name}.mp4"

    def indices(self, split: str) -> list[tuple[str, int]]:
        if self.records is not None:
            names = [n for n in self.names if self.records[n].split == split]
        else:
            split_at = len(self.names) - self.hold_out if len(self.names) > self.hold_out else None
            names = self.names[:split_at] if split == "train" else self.names[split_at or 0:]
        out = []
        for name in names:
            n = int(self._state(name)["weights"].shape[0])
            out += [(name, i) for i in range(n)]
        return out

    def _frames(self, name: str, ids) -> list[np.ndarray]:
        return read_frames(self._video(name), ids)

    def batch(self, name: str, ids, ref: int | None = None) -> PairBatch:
        d = self._state(name)
        ids = list(ids)
        ref = int(ref if ref is not None else 0)
        cam = Camera(*(float(v) for v in d["camera"][:3]), int(d["camera"][3]), int(d["camera"][4]))
        frames = self._frames(name, sorted(set(ids + [ref])))
        by_id = dict(zip(sorted(set(ids + [ref])), frames))
        fl = _low_flow(self.model, d["identity"], cam, d["weights"][ref], d["pose"][ref],
                       d["weights"][ids], d["pose"][ids])
        photo = _to_tensor(by_id[ref])[None]
        target = torch.stack([_to_tensor(by_id[i]) for i in ids])
        alpha = torch.ones(len(ids), 1, *target.shape[-2:])
        return PairBatch(photo, _upsample_flow(*fl, cam.width), target, alpha, photo)


def open_data(folder: str | os.PathLike):
    """Rendered pairs, tracked HDTF records or NAME.mp4 + NAME.npz clips, whichever ``folder`` holds."""
    folder = Path(folder)
    if any(folder.glob("*/states.npz")):
        return RenderedPairs(folder)
    return HdtfClips(folder)


def limit_crop(b: PairBatch, model: Generator, max_side: int) -> PairBatch:
    """Shrink the whole batch so the face crop is at most ``max_side`` px: training cost is
    the crop's area, and close-up faces would otherwise cost several times the others."""
    size = b.photo.shape[-1]
    side = region_box(model, b).side
    if side <= max_side:
        return b
    new = max(64, int(size * max_side / side) // 8 * 8)
    k = new / size
    down = lambda x: F.interpolate(x, size=(new, new), mode="bilinear",  # noqa: E731
                                   align_corners=False, antialias=True)
    flow = down(b.flow.flow.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) * k
    masks = down(torch.stack([b.flow.occlusion, b.flow.face], 1))
    return PairBatch(down(b.photo).clamp(0, 1), DenseFlow(flow.contiguous(), masks[:, 0], masks[:, 1]),
                     down(b.target).clamp(0, 1), down(b.alpha), down(b.still).clamp(0, 1),
                     None if b.lips is None else tuple(v * k for v in b.lips))


def augment(b: PairBatch, rng: np.random.Generator) -> PairBatch:
    """Mirror (flow x negated) and one colour gain for every image of the batch."""
    if rng.random() < 0.5:
        flip = lambda x: x.flip(-1)  # noqa: E731
        flow = b.flow.flow.flip(2) * torch.tensor([-1.0, 1.0])
        size = b.photo.shape[-1]
        lips = None if b.lips is None else (size - b.lips[2], b.lips[1], size - b.lips[0], b.lips[3])
        b = PairBatch(flip(b.photo), DenseFlow(flow, b.flow.occlusion.flip(-1), b.flow.face.flip(-1)),
                      flip(b.target), flip(b.alpha), flip(b.still), lips)
    gain = torch.from_numpy(rng.uniform(0.85, 1.15, 3).astype(np.float32)).view(1, 3, 1, 1)
    g = lambda x: (x * gain).clamp(0, 1)  # noqa: E731
    return replace(b, photo=g(b.photo), target=g(b.target), still=g(b.still))


def region_box(model: Generator, b: PairBatch) -> Box:
    """The crop ``model`` works on: the face's, or for a mouth model the one around the lips."""
    if model.config.region != "mouth":
        return model.face_box(b.flow)
    if b.lips is None:
        raise ValueError("a mouth model trains on rendered pairs (they know where the lips are)")
    return model.mouth_box(b.lips, (b.photo.shape[-1], b.photo.shape[-2]))


# ----------------------------------------------------------------------------------- losses
def _crop(x: torch.Tensor, box: Box) -> torch.Tensor:
    return x[..., box.y0:box.y0 + box.side, box.x0:box.x0 + box.side]


def training_target(b: PairBatch, box: Box, source) -> torch.Tensor:
    """The target inside the crop, with the warp's own guess where no face layer was rendered."""
    if bool((b.alpha == 1).all()):
        return _crop(b.target, box)
    warped = warp_region(source, _crop(b.flow.flow.permute(0, 3, 1, 2), box).permute(0, 2, 3, 1), box)
    a = _crop(b.alpha, box)
    return _crop(b.target, box) + (1.0 - a) * (warped - _crop(b.still, box))


def _gauss(x: torch.Tensor) -> torch.Tensor:
    """SSIM's window: sigma 1.5, radius 3, valid part only."""
    return gaussian_blur(x, 1.5, radius=3, same=False)


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean SSIM per image (Gaussian window, sigma 1.5): [B]."""
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mu_a, mu_b = _gauss(a), _gauss(b)
    va = _gauss(a * a) - mu_a ** 2
    vb = _gauss(b * b) - mu_b ** 2
    cov = _gauss(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return s.mean((1, 2, 3))


def ms_ssim_loss(a: torch.Tensor, b: torch.Tensor, scales: int = 3) -> torch.Tensor:
    total = 0.0
    for k in range(scales):
        if k:
            a, b = F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)
        total = total + (1.0 - ssim(a, b)).mean()
    return total / scales


def gradient_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    dx = lambda x: x[..., :, 1:] - x[..., :, :-1]  # noqa: E731
    dy = lambda x: x[..., 1:, :] - x[..., :-1, :]  # noqa: E731
    return (dx(a) - dx(b)).abs().mean() + (dy(a) - dy(b)).abs().mean()


@dataclass(frozen=True)
class LossWeights:
    l1: float = 1.0
    mouth: float = 4.0  # extra L1 weight inside the (grown) hidden mouth opening
    ssim: float = 0.5
    grad: float = 0.5
    mask: float = 0.01
    colour: float = 0.5  # the decoder colour itself, at the internal size (see generator_loss)


def generator_loss(model: Generator, b: PairBatch, w: LossWeights = LossWeights(), forward=None):
    """(total loss, {name: value}, output crop, target crop) for one batch. ``forward`` replaces
    ``model.forward_region`` (a DDP wrapper of it, so gradients are synchronised)."""
    source = prepare_source(b.photo, (b.photo.shape[-1], b.photo.shape[-2]))
    out, box, pred = (forward or model.forward_region)(b.photo, b.flow, region_box(model, b), source=source)
    target = training_target(b, box, source)
    occ = _crop(b.flow.occlusion[:, None], box)
    weight = 1.0 + w.mouth * F.max_pool2d(occ, 9, 1, 4)
    # The composite only uses the decoder colour where the mask is up, and the mask only rises
    # once the colour is useful: supervising the colour directly breaks that circle.
    r = model.config.internal
    small = lambda x: F.interpolate(x, size=(r, r), mode="bilinear",  # noqa: E731
                                    align_corners=False, antialias=box.side > r)
    colour_w = small(weight) * pred.gate
    parts = {
        "l1": (weight * (out - target).abs()).mean() / weight.mean(),
        "colour": (colour_w * (pred.rgb - small(target)).abs()).mean() / colour_w.mean().clamp(min=1e-3),
        "ssim": ms_ssim_loss(out, target),
        "grad": gradient_loss(out, target),
        "mask": pred.mask.mean(),
    }
    total = (w.l1 * parts["l1"] + w.ssim * parts["ssim"] + w.grad * parts["grad"]
             + w.mask * parts["mask"] + w.colour * parts["colour"])
    return total, {k: float(v.detach()) for k, v in parts.items()}, out, target


# -------------------------------------------------------------------------------- training
def _sampler(datasets, split: str, k: int, rng: np.random.Generator):
    """Endless batches: a random reference, then ``k`` of its targets."""
    pools = []
    for d in datasets:
        by_name: dict[str, list[int]] = {}
        for name, i in d.indices(split):
            by_name.setdefault(name, []).append(i)
        pools += [(d, name, ids) for name, ids in by_name.items()]
    while True:
        d, name, ids = pools[rng.integers(len(pools))]
        pick = sorted(rng.choice(ids, size=min(k, len(ids)), replace=False).tolist())
        if isinstance(d, HdtfClips):
            yield d.batch(name, pick, ref=int(rng.choice(ids)))
        else:
            yield d.batch(name, pick)


@torch.no_grad()
def evaluate(model: Generator, datasets, k: int = 4, max_per_clip: int = 0) -> dict:
    """Held-out targets: crop L1 / PSNR of the generator and of the warp-only mode, and the
    same L1 inside the hidden mouth opening, where the two modes differ most. ``max_per_clip``
    (0: all) evaluates that many targets spread evenly over each clip (long video clips)."""
    model.eval()
    sums = {"l1": 0.0, "l1_warp": 0.0, "mse": 0.0, "mse_warp": 0.0, "mouth": 0.0,
            "mouth_warp": 0.0, "mouth_px": 0.0, "px": 0.0}
    for d in datasets:
        by_name: dict[str, list[int]] = {}
        for name, i in d.indices("heldout"):
            by_name.setdefault(name, []).append(i)
        for name, ids in by_name.items():
            if max_per_clip and len(ids) > max_per_clip:
                ids = [ids[int(j)] for j in np.linspace(0, len(ids) - 1, max_per_clip).round()]
            for s in range(0, len(ids), k):
                b = d.batch(name, ids[s:s + k])
                source = prepare_source(b.photo, (b.photo.shape[-1], b.photo.shape[-2]))
                out, box, _ = model.forward_region(b.photo, b.flow, region_box(model, b), source=source)
                target = training_target(b, box, source)
                warp = _crop(warp_image(source, b.flow.flow, b.flow.occlusion), box)
                occ = (_crop(b.flow.occlusion[:, None], box) > 0.5).float()
                px = float(target[:, :1].numel())
                sums["px"] += px
                sums["mouth_px"] += float(occ.sum())
                for key, img in (("", out), ("_warp", warp)):
                    err = (img - target).abs().mean(1, keepdim=True)
                    sums["l1" + key] += float(err.sum())
                    sums["mse" + key] += float(((img - target) ** 2).mean(1).sum())
                    sums["mouth" + key] += float((err * occ).sum())
    model.train()
    px, mpx = max(sums["px"], 1.0), max(sums["mouth_px"], 1.0)
    res = {
        "crop_l1": sums["l1"] / px, "crop_l1_warp_only": sums["l1_warp"] / px,
        "crop_psnr_db": 10 * math.log10(px / max(sums["mse"], 1e-12)),
        "crop_psnr_warp_only_db": 10 * math.log10(px / max(sums["mse_warp"], 1e-12)),
        "mouth_l1": sums["mouth"] / mpx, "mouth_l1_warp_only": sums["mouth_warp"] / mpx,
    }
    return {k: round(v, 4) for k, v in res.items()}


class _Region(torch.nn.Module):
    """``forward`` = the generator's ``forward_region``: what DDP wraps, since DDP only
    synchronises gradients of passes made through its own ``forward``."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, *args, **kwargs):
        return self.generator.forward_region(*args, **kwargs)


def _batch_to(b: PairBatch, device: torch.device) -> PairBatch:
    if device.type == "cpu":
        return b
    fl = DenseFlow(b.flow.flow.to(device), b.flow.occlusion.to(device), b.flow.face.to(device))
    return PairBatch(b.photo.to(device), fl, b.target.to(device), b.alpha.to(device), b.still.to(device))


@dataclass(frozen=True)
class GeneratorTrainConfig:
    """Every knob of a generator training run, each with its one default; the command line is
    generated from these fields (``training.loop``) and the values are saved in the checkpoint
    and in the provenance entry.

    The defaults are the from-scratch recipe of the shipped ``weights/generator.safetensors``
    (weights/provenance.json, its ``init_from``; README's 'Training'): 1300 steps at lr 4e-4,
    batch 4, crops up to 224 px, one thread. The shipped file is those weights fine-tuned on
    new pairs with ``--init PREVIOUS --steps 400 --lr 1e-4 --threads 2``."""

    steps: int = option(1300, "optimiser steps in all (a resumed run may raise it; the learning "
                              "rate's cosine runs to 0 at this step)", resumable=True)
    batch: int = option(4, "targets per reference and step (per process)")
    lr: float = option(4e-4, "learning rate at step 0 (Adam)")
    channels: int = option(GeneratorConfig.channels, "network base width (not with --init)")
    internal: int = option(GeneratorConfig.internal, "side of the face crop the network sees, px "
                                                     "(not with --init)")
    max_crop: int = option(224, "pairs whose face crop is larger are shrunk to this (training speed)")
    init: str | None = option(None, "start from these generator weights (fine-tuning), in their own "
                                    "configuration, instead of random ones")
    seed: int = option(0, "seed of the initial weights and of the batches")
    threads: int = option(1, "torch CPU threads (0: torch's default)", resumable=True)
    ckpt_every: int = option(200, "write OUT.ckpt every this many steps (and at the last)", resumable=True)
    eval_per_clip: int = option(64, "held-out targets evaluated per clip or photo, spread over it (0: all)",
                                resumable=True)
    region: str = option("face", "the crop the network works on: face, or mouth (a mouth model: a crop "
                                 "around the lips, drawn over the face model's frames; --crop-margin sets "
                                 "its size; with --init too)", choices=("face", "mouth"))
    crop_margin: float = option(0.0, "crop side / the face's (or lips') size (0: the network's own; "
                                     "a mouth model: 2.2)")
    device: str = option("cpu", "under torchrun each process takes the GPU of its LOCAL_RANK (NCCL), "
                                "or the CPU (gloo)", choices=("auto", "cpu", "cuda"), resumable=True)


def train(model: Generator, datasets, config: GeneratorTrainConfig = GeneratorTrainConfig(),
          out: str | os.PathLike | None = None, *, resume: bool = False, log=print,
          dist_ctx=None) -> dict:
    """Adam with cosine decay; returns {"steps", "wall_s", "loss_first", "loss_last"}. Checkpoints
    go to ``out.ckpt`` (``out`` None: none); ``resume`` continues from it.

    Under torchrun (``dist_ctx`` from ``training.distributed.setup``) each rank trains a DDP
    replica on batches from its own seed (``batch`` is per process); only rank 0 logs and
    checkpoints."""
    cfg = config
    run = loop.Run(cfg, out, ctx=dist_ctx, log=log)
    ctx, log = run.ctx, run.log
    dev = ctx.device
    model.to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    first = run.resume(model, opt).get("loss_first") if resume else None
    history = []
    # a resumed run continues with fresh batches; every rank draws its own
    rng = loop.data_rng(cfg.seed, ctx, run.start)
    batches = _sampler(datasets, "train", cfg.batch, rng)
    forward = distributed.wrap(_Region(model), ctx) if ctx.active else None
    log(f"training on {ctx.world_size} process(es) ({ctx.backend or 'no process group'}), {dev.type}, "
        f"batch {cfg.batch} per process")
    model.train()
    for step in run.steps():
        run.set_lr(opt, step)
        b = augment(limit_crop(next(batches), model, cfg.max_crop), rng)
        loss, parts, _, _ = generator_loss(model, _batch_to(b, dev), forward=forward)
        loop.optimiser_step(loss, model, opt)
        history.append(float(loss.detach()))
        first = first if first is not None else history[-1]
        if (step + 1) % 50 == 0 or step + 1 == cfg.steps:
            log(f"step {step + 1}/{cfg.steps} loss {np.mean(history[-50:]):.4f} "
                + " ".join(f"{k} {v:.4f}" for k, v in parts.items())
                + f" ({run.wall:.0f} s)")
        run.checkpoint(step, model, opt, loss_first=first)
    return {"steps": cfg.steps, "wall_s": round(run.wall, 1),
            "loss_first": round(first or 0.0, 4),
            "loss_last": round(float(np.mean(history[-50:])) if history else 0.0, 4)}


def parser():
    return loop.build_parser(GeneratorTrainConfig, __doc__.splitlines()[0],
                             data_help="rendered-pair or HDTF clip folders, or tracked HDTF records",
                             data_nargs="+")


def main(argv=None) -> int:
    args, cfg, ctx = loop.start(parser(), GeneratorTrainConfig, argv)
    loop.seed_model(cfg.seed)  # the same initial weights on every rank
    datasets = [open_data(d) for d in args.data]
    if cfg.init:  # its own configuration: --channels/--internal do not apply
        model = Generator.load(cfg.init)
    else:
        model = Generator(GeneratorConfig(channels=cfg.channels, internal=cfg.internal))
    margin = cfg.crop_margin or (MOUTH_MARGIN if cfg.region == "mouth" else model.config.crop_margin)
    model.config = replace(model.config, region=cfg.region, crop_margin=margin)   # the network is the same
    try:
        report = train(model, datasets, cfg, args.out, resume=args.resume,
                       log=lambda m: print(m, flush=True), dist_ctx=ctx)
    finally:
        distributed.cleanup(ctx)
    if not ctx.is_main:
        return 0
    model.cpu()
    metrics = evaluate(model, datasets, max_per_clip=cfg.eval_per_clip)
    out = Path(args.out)
    model.save(out, {"steps": cfg.steps})
    loop.record(out, loop.provenance_entry(
        "talkface.training.generator", argv, cfg, ctx, {**report, "metrics": metrics},
        what="flow-guided generator (core/video/generator.py)", generator_version=model.config.version,
        model_config=asdict(model.config),
        data={"folders": [str(d) for d in args.data], "kinds": sorted({type(d).__name__ for d in datasets}),
              "train_pairs": sum(len(d.indices("train")) for d in datasets)},
        size_bytes=out.stat().st_size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
