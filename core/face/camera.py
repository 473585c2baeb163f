"""The pinhole camera that relates the face model to the photo's pixels.

Convention (ARCHITECTURE.md): camera at the world origin looking along +Y, image up = +Z,
``u = cx + f * x / y``, ``v = cy - f * z / y``, pixel coordinates from the top-left corner.
One convention for fitting, flow and Blender keeps the three in exact agreement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """Focal length and principal point in pixels of an image ``width`` x ``height``."""

    focal: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_fov(cls, width: int, height: int, fov_deg: float = 30.0) -> "Camera":
        """A centred camera whose larger image side spans ``fov_deg`` degrees."""
        focal = 0.5 * max(width, height) / math.tan(math.radians(fov_deg) / 2.0)
        return cls(focal, width / 2.0, height / 2.0, int(width), int(height))

    def scaled(self, width: int, height: int) -> "Camera":
        """The same camera for a resized image (flow is computed at low res, applied at full)."""
        sx, sy = width / self.width, height / self.height
        return Camera(self.focal * sx, self.cx * sx, self.cy * sy, int(width), int(height))

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel ``(u, v)`` plus depth ``y`` for world points ``[..., 3]`` -> ``[..., 3]``."""
        points = np.asarray(points, dtype=np.float64)
        depth = points[..., 1]
        u = self.cx + self.focal * points[..., 0] / depth
        v = self.cy - self.focal * points[..., 2] / depth
        return np.stack([u, v, depth], axis=-1)

    def blender_intrinsics(self, sensor_mm: float = 36.0) -> tuple[float, float, float]:
        """Blender camera ``(lens_mm, shift_x, shift_y)`` for a sensor fitted ('AUTO') to the
        image's larger side: the one place the pinhole maps onto Blender's camera."""
        side = max(self.width, self.height)
        return (sensor_mm * self.focal / side, (self.width / 2.0 - self.cx) / side,
                (self.cy - self.height / 2.0) / side)
