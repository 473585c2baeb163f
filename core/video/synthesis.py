"""(FaceFit, per-frame face state) -> video frames: the animation-to-video module's driver.

Holds what is constant over a bake (the photo at output size, the reference mesh, the camera,
the device) and turns batches of per-frame states into uint8 frames. Batches bound memory; on
CUDA an out-of-memory error halves the batch, and at batch 1 falls back to the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from ..device import free_memory
from ..errors import InputError, MissingWeightsError
from ..face import topology
from ..face.camera import Camera
from .flow import dense_flow, output_size, photo_teeth
from .warp import MouthFill, prepare_photo, prepare_source, warp_image

MODES = ("AUTO", "NEURAL", "WARP")
"""Bake modes: AUTO (the neural generator when its weights load, else warp), NEURAL, WARP."""
WARP_FALLBACK_NOTE = "generator weights missing: baking in warp-only mode"

G = TypeVar("G")

# Peak memory per output pixel, measured on the CPU (fresh process, ru_maxrss; 1024 and 2048 px,
# warp-only and neural): preparing the 3x oversampled photo once peaks near 850 bytes, each
# frame of a batch adds about 40 (flow, sampling grid, masks, output).
SOURCE_BYTES_PER_PIXEL = 900
FRAME_BYTES_PER_PIXEL = 48


def plan_batch(size: tuple[int, int], batch: int, free_bytes: int, device_name: str = "cpu") -> int:
    """The largest batch up to ``batch`` that fits in ``free_bytes``; a resolution that does
    not fit even one frame at a time is bad input, said before anything is allocated."""
    pixels = size[0] * size[1]
    spare = free_bytes - SOURCE_BYTES_PER_PIXEL * pixels
    fits = int(spare // (FRAME_BYTES_PER_PIXEL * pixels)) if spare > 0 else 0
    if fits < 1:
        need = (SOURCE_BYTES_PER_PIXEL + FRAME_BYTES_PER_PIXEL) * pixels
        largest = int(np.sqrt(free_bytes / (SOURCE_BYTES_PER_PIXEL + FRAME_BYTES_PER_PIXEL)) // 8 * 8)
        raise InputError(
            f"Resolution {size[0]}x{size[1]} needs about {need / 2**30:.1f} GiB of memory on the "
            f"{device_name} but only {free_bytes / 2**30:.1f} GiB is free: choose a smaller "
            f"resolution (about {largest} px or less fits now)"
        )
    return max(1, min(batch, fits))


def frame_size(photo_width: int, photo_height: int, resolution: int) -> tuple[int, int]:
    """Output (width, height): the photo's framing, longer side = ``resolution``, sides % 8 == 0."""
    output_size(resolution)
    scale = resolution / max(photo_width, photo_height)
    w = max(8, int(round(photo_width * scale / 8.0)) * 8)
    h = max(8, int(round(photo_height * scale / 8.0)) * 8)
    return w, h


def choose_mode(requested: str, load_generator: Callable[[], G]) -> tuple[str, G | None, str | None]:
    """The bake-mode policy: ``(mode used, generator or None, note for the user or None)``.

    ``WARP`` never loads the generator; ``NEURAL`` loads it and lets ``MissingWeightsError``
    through; ``AUTO`` loads it and falls back to warp-only, with a note, when its weights are
    missing (a build without them). A damaged file (``DamagedFileError``: checksum mismatch) is
    never worked around, in any mode: the user restores it. ``load_generator()`` is only called
    when the mode needs it.
    """
    mode = requested.upper()
    if mode not in MODES:
        raise InputError(f"Unknown bake mode {requested!r}: use {', '.join(MODES)}")
    if mode == "WARP":
        return "WARP", None, None
    try:
        generator = load_generator()
    except MissingWeightsError:
        if mode == "NEURAL":
            raise
        return "WARP", None, WARP_FALLBACK_NOTE
    return "NEURAL", generator, None


@dataclass
class FaceState:
    """Per-frame face state read from the scene: ARKit weights [F, 52] and head pose [F, 6]."""

    weights: np.ndarray
    pose: np.ndarray

    def __len__(self) -> int:
        return len(self.weights)

    def batch(self, start: int, stop: int) -> "FaceState":
        return FaceState(self.weights[start:stop], self.pose[start:stop])


class FrameSynthesizer:
    """Renders frames of one fitted face; ``generator`` is the neural refiner or None (warp only)."""

    def __init__(self, model, fit, photo_rgb: np.ndarray, resolution: int,
                 device: torch.device | str = "cpu", generator=None, half: bool = False,
                 batch: int = 8, mouth_generator=None):
        self.model, self.fit = model, fit
        self.size = frame_size(fit.camera.width, fit.camera.height, resolution)
        self.device = torch.device(device)
        self.max_batch = plan_batch(self.size, batch, free_memory(self.device), self.device.type)
        self.generator = generator
        self.half = half and self.device.type == "cuda"
        self.photo_rgb = photo_rgb
        self.photo = prepare_photo(photo_rgb, self.size, self.device)
        # warp-only: oversample the photo once per bake, not once per batch (the generator
        # keeps its own prepared copy)
        self.source = prepare_source(self.photo, self.size, self.device) if generator is None else None
        self.ref_verts = model.vertices(fit.identity, fit.expression[None], fit.pose[None])[0]
        self.ref_pose = np.asarray(fit.pose, np.float64)
        # A photo that shows its upper teeth: they stay with the skull, and the painted interior
        # takes their colour.
        uv = fit.camera.scaled(*self.size).project(self.ref_verts)[:, :2]      # the photo's vertices, px
        teeth = photo_teeth(self.photo[0].permute(1, 2, 0).cpu().numpy(), uv[list(topology.INNER_LIP_UPPER)],
                            uv[list(topology.INNER_LIP_LOWER)])
        self.teeth_edge = None if teeth is None else teeth.edge
        self.fill = MouthFill() if teeth is None else MouthFill(teeth=teeth.rgb)
        self.box = self.mouth_box = None
        self.mouth_generator = mouth_generator if generator is not None else None
        if generator is not None:  # one crop for the whole bake, around the photo's face
            self.box = generator.box_around(uv.min(0), uv.max(0), self.size)
            if self.mouth_generator is not None:   # and one around the photo's lips
                lips = uv[list(topology.OUTER_LIP_LOOP)]
                self.mouth_box = self.mouth_generator.mouth_box((*lips.min(0), *lips.max(0)), self.size)

    @property
    def camera(self) -> Camera:
        return self.fit.camera

    def to_device(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.half = self.half and self.device.type == "cuda"
        self.photo = self.photo.to(self.device)
        if self.source is not None:
            self.source.image = self.source.image.to(self.device)
        if self.generator is not None:
            self.generator.to(self.device)
        if self.mouth_generator is not None:
            self.mouth_generator.to(self.device)

    @torch.no_grad()
    def render(self, state: FaceState) -> np.ndarray:
        """uint8 frames [B, H, W, 3] for a batch of face states."""
        tgt = self.model.vertices(self.fit.identity, state.weights, state.pose)
        flow = dense_flow(self.ref_verts, tgt, self.model.triangles, self.camera, self.size,
                          self.ref_pose, state.pose, teeth_edge=self.teeth_edge, device=self.device)
        if self.generator is None:
            frames = warp_image(self.source, flow.flow, flow.occlusion, self.fill, photo_opening=flow.photo_opening)
        else:
            dtype = torch.float16 if self.half else torch.float32
            with torch.autocast(self.device.type, dtype=dtype, enabled=self.half):
                frames = self.generator(self.photo, flow, self.box, self.fill)
                if self.mouth_generator is not None:
                    frames = self.mouth_generator.refine_mouth(frames, self.photo, flow, self.mouth_box, self.fill)
        out = (frames.float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
        return out.permute(0, 2, 3, 1).cpu().numpy()


def render_batches(synth: FrameSynthesizer, state: FaceState, batch: int = 8, on_fallback=None):
    """Yield ``(start, frames)`` over all frames; CUDA OOM halves the batch, then uses the CPU."""
    if batch < 1:
        raise InputError("Batch size must be at least 1")
    if batch > synth.max_batch and on_fallback:
        on_fallback(f"batch size lowered to {synth.max_batch} to fit in memory")
    batch = min(batch, synth.max_batch)
    start = 0
    while start < len(state):
        stop = min(start + batch, len(state))
        try:
            frames = synth.render(state.batch(start, stop))
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            if batch > 1:
                batch //= 2
                if on_fallback:
                    on_fallback(f"GPU out of memory: batch size lowered to {batch}")
            else:
                synth.to_device("cpu")
                if on_fallback:
                    on_fallback("GPU out of memory even at batch size 1: continuing on the CPU")
            continue
        yield start, frames
        start = stop
