"""Load a portrait photo into one predictable form: sRGB float32 ``[H, W, 3]`` in 0..1.

Every later stage (landmarks, fitting, flow, the generator) assumes upright RGB pixels, so all
the ways a real photo file differs from that (EXIF rotation, CMYK, grayscale, alpha, palette,
16-bit) are undone here once. Problems the user can fix raise ``PhotoError`` with one sentence.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError

#: Smallest side we accept: a face must be at least 64 px wide, so a smaller photo cannot hold one.
MIN_SIDE = 64
#: Largest photo we decode (about 100 MP, e.g. 12000 x 8000). An 8k frame (33 MP) is fine; larger
#: is almost surely a decompression bomb, and would need gigabytes as float32.
MAX_PIXELS = 100_000_000

_ORIENTATION_TAG = 0x0112


class PhotoError(InputError):
    """The photo file is missing, damaged, not an image, or of an unusable size."""


@dataclass(frozen=True, eq=False)
class Photo:
    """An upright RGB photo at full resolution plus where it came from."""

    rgb: np.ndarray  # float32 [H, W, 3], 0..1, sRGB values as stored
    path: str
    sha256: str  # of the file's bytes: identifies the photo a FaceFit belongs to
    original_size: tuple[int, int]  # (width, height) as stored, before EXIF rotation
    notes: tuple[str, ...] = field(default=())  # conversions applied, for the user's report

    width = property(lambda self: int(self.rgb.shape[1]), doc="Pixels across (upright).")
    height = property(lambda self: int(self.rgb.shape[0]), doc="Pixels down (upright).")

    def to_uint8(self) -> np.ndarray:
        """``uint8 [H, W, 3]``, the form detectors and image writers expect."""
        return np.clip(np.rint(self.rgb * 255.0), 0, 255).astype(np.uint8)


def load_photo(path: str | os.PathLike) -> Photo:
    """Read ``path`` and return an upright sRGB ``Photo`` or raise ``PhotoError``."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = os.fspath(path)
    name = os.path.basename(path) or path
    if not os.path.exists(path):
        raise PhotoError(f"The photo '{path}' does not exist.")
    if os.path.isdir(path):
        raise PhotoError(f"'{path}' is a folder, not a photo file.")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise PhotoError(f"The photo '{name}' cannot be read ({exc.strerror or exc}).") from exc
    if not data:
        raise PhotoError(f"The photo '{name}' is an empty file.")
    digest = hashlib.sha256(data).hexdigest()

    try:
        with warnings.catch_warnings():
            # Our own size check below replaces Pillow's bomb warning with a clear error.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise PhotoError(
            f"'{name}' is not an image Pillow can read (is it really a photo? "
            "use JPEG, PNG, TIFF, WebP or BMP)."
        ) from exc
    except Image.DecompressionBombError as exc:
        raise PhotoError(f"The photo '{name}' is absurdly large; refusing to decode it.") from exc

    width, height = img.size
    if width * height > MAX_PIXELS:
        raise PhotoError(
            f"The photo '{name}' is {width}x{height} pixels ({width * height / 1e6:.0f} MP); "
            f"the limit is {MAX_PIXELS / 1e6:.0f} MP. Please downscale it."
        )
    if min(width, height) < MIN_SIDE:
        raise PhotoError(
            f"The photo '{name}' is only {width}x{height} pixels; a face needs at least "
            f"{MIN_SIDE} px."
        )

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img.load()
    except (OSError, SyntaxError, ValueError) as exc:
        # Pillow reports cut-off files as OSError("image file is truncated ...") and broken
        # headers as SyntaxError/ValueError; to the user all of these mean one thing.
        raise PhotoError(
            f"The photo '{name}' is damaged or truncated and cannot be decoded ({exc})."
        ) from exc

    notes: list[str] = []
    orientation = img.getexif().get(_ORIENTATION_TAG, 1)
    if orientation not in (None, 1):
        img = ImageOps.exif_transpose(img)
        notes.append(f"rotated upright from EXIF orientation {orientation}")
    img = _to_srgb(img, notes)
    try:
        rgb = _to_rgb_float(img, notes)
    except ValueError as exc:  # e.g. LAB or multi-band scientific TIFFs
        raise PhotoError(f"The photo '{name}' uses the colour mode {img.mode}, which cannot be "
                         "converted to RGB; save it as an ordinary RGB JPEG or PNG.") from exc
    return Photo(rgb=rgb, path=path, sha256=digest, original_size=(width, height),
                 notes=tuple(notes))


def _to_srgb(img, notes: list[str]):
    """Pixels in an embedded colour profile other than sRGB (Display P3 from phones, Adobe RGB from
    cameras) converted to sRGB, which is what the fit, the bake and Blender's texture assume."""
    profile = img.info.get("icc_profile")
    if not profile or img.mode not in ("RGB", "RGBA"):
        return img
    try:
        from PIL import ImageCms
    except ImportError:          # Pillow built without LittleCMS: keep the pixels
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        description = (ImageCms.getProfileDescription(source) or "").strip()
        if "srgb" in description.lower():
            return img
        converted = ImageCms.profileToProfile(img, source, ImageCms.createProfile("sRGB"), outputMode=img.mode)
    except (OSError, ValueError, ImageCms.PyCMSError) as exc:   # a broken profile: keep the pixels
        notes.append(f"ignored an unreadable colour profile ({exc})")
        return img
    notes.append(f"converted from the colour profile '{description or 'embedded'}' to sRGB")
    return converted


def _to_rgb_float(img, notes: list[str]) -> np.ndarray:
    """Any Pillow mode -> float32 ``[H, W, 3]`` in 0..1; alpha is composited on white."""
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img).astype(np.float32)
        if mode == "F":
            scale = 1.0 if arr.max(initial=0.0) <= 1.0 else float(arr.max())
        else:
            scale = 65535.0 if arr.max(initial=0) > 255 or mode.startswith("I;16") else 255.0
        gray = np.clip(arr / scale, 0.0, 1.0)
        notes.append(f"converted {mode} grayscale to RGB")
        return np.repeat(gray[..., None], 3, axis=2)

    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:4]
        if float(alpha.min()) < 1.0:
            notes.append("composited transparent pixels on white")
        return (rgba[..., :3] * alpha + (1.0 - alpha)).astype(np.float32)

    if mode != "RGB":
        notes.append(f"converted {mode} to RGB")
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.float32) / np.float32(255.0)
