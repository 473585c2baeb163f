"""Photo loading: every odd file form becomes upright sRGB float32, every bad file a PhotoError.

Test files are written at test time from scikit-image's astronaut (public domain, NASA).
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from talkface.core.errors import InputError
from talkface.core.face.image_io import MAX_PIXELS, PhotoError, load_photo

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def astro() -> np.ndarray:
    return skimage_data.astronaut()


def _save(tmp_path, name, img, **kw):
    path = tmp_path / name
    img.save(path, **kw)
    return path


def test_png_round_trip_and_hash(tmp_path, astro):
    path = _save(tmp_path, "a.png", Image.fromarray(astro))
    photo = load_photo(path)
    assert photo.rgb.dtype == np.float32 and photo.rgb.shape == (512, 512, 3)
    np.testing.assert_allclose(photo.rgb, astro / 255.0, atol=1e-6)
    assert photo.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert photo.original_size == (512, 512) and photo.path == str(path)
    assert photo.notes == ()


def test_grayscale_becomes_three_equal_channels(tmp_path, astro):
    gray = astro.mean(axis=2).astype(np.uint8)
    photo = load_photo(_save(tmp_path, "g.png", Image.fromarray(gray)))
    assert photo.rgb.shape == (512, 512, 3)
    np.testing.assert_allclose(photo.rgb[..., 0], gray / 255.0, atol=1e-6)
    assert np.array_equal(photo.rgb[..., 0], photo.rgb[..., 2])


def test_rgba_is_composited_on_white(tmp_path, astro):
    rgba = np.dstack([astro, np.full(astro.shape[:2], 255, np.uint8)])
    rgba[:100, :, 3] = 0  # fully transparent band
    rgba[100:200, :, 3] = 128
    photo = load_photo(_save(tmp_path, "a.png", Image.fromarray(rgba, "RGBA")))
    assert np.all(photo.rgb[:100] == 1.0)
    np.testing.assert_allclose(photo.rgb[300:], astro[300:] / 255.0, atol=1e-6)
    half = photo.rgb[150, 50]
    expected = astro[150, 50] / 255.0 * (128 / 255) + (1 - 128 / 255)
    np.testing.assert_allclose(half, expected, atol=1e-5)
    assert any("white" in n for n in photo.notes)


def test_16bit_gray_png_keeps_full_range(tmp_path, astro):
    g16 = (astro.mean(axis=2) * 257).astype(np.uint16)
    photo = load_photo(_save(tmp_path, "g16.png", Image.fromarray(g16)))
    np.testing.assert_allclose(photo.rgb[..., 1], g16 / 65535.0, atol=1e-6)
    assert photo.rgb.max() > 0.9  # not clipped or mis-scaled to a tiny range


def test_16bit_rgb_png(tmp_path, astro):
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "rgb16.png"
    cv2.imwrite(str(path), astro[..., ::-1].astype(np.uint16) * 257)
    photo = load_photo(path)
    np.testing.assert_allclose(photo.rgb, astro / 255.0, atol=1.0 / 255)


def test_palette_png(tmp_path, astro):
    img = Image.fromarray(astro).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    photo = load_photo(_save(tmp_path, "p.png", img))
    assert photo.rgb.shape == (512, 512, 3)
    assert np.abs(photo.rgb - astro / 255.0).mean() < 0.05


def test_cmyk_jpeg_colours_survive(tmp_path, astro):
    path = _save(tmp_path, "c.jpg", Image.fromarray(astro).convert("CMYK"), quality=95)
    assert Image.open(path).mode == "CMYK"
    photo = load_photo(path)
    assert np.abs(photo.rgb - astro / 255.0).mean() < 0.03
    assert any("CMYK" in n for n in photo.notes)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotation_is_applied(tmp_path, astro, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    tall = astro[:, 64:448]  # 512 x 384, so rotations change the shape
    path = _save(tmp_path, "r.jpg", Image.fromarray(tall), exif=exif, quality=95)
    photo = load_photo(path)
    turns = {3: 2, 6: -1, 8: 1}[orientation]  # EXIF 6 = stored rotated 90 CCW: turn CW to view
    expected = np.rot90(tall, turns) / 255.0
    assert photo.rgb.shape == expected.shape
    assert np.abs(photo.rgb - expected).mean() < 0.03
    assert photo.original_size == (384, 512)


def test_missing_file(tmp_path):
    with pytest.raises(PhotoError, match="does not exist"):
        load_photo(tmp_path / "nope.jpg")


def test_text_file_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n" * 20)
    with pytest.raises(PhotoError, match="not an image"):
        load_photo(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(PhotoError, match="empty"):
        load_photo(path)


@pytest.mark.parametrize("fmt", ["jpg", "png"])
def test_truncated_file(tmp_path, astro, fmt):
    full = _save(tmp_path, f"full.{fmt}", Image.fromarray(astro))
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(PhotoError, match="truncated"):
        load_photo(cut)


def test_too_small_photo(tmp_path, astro):
    path = _save(tmp_path, "tiny.png", Image.fromarray(astro[::10, ::10]))
    with pytest.raises(PhotoError, match="at least 64"):
        load_photo(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # A 1-bit PNG of 12000 x 10000 zeros is a few kB on disk but 120 MP once decoded.
    side = int((MAX_PIXELS * 1.2) ** 0.5)
    path = _save(tmp_path, "bomb.png", Image.new("1", (side, side)), optimize=True)
    assert path.stat().st_size < 2_000_000
    with pytest.raises(PhotoError, match="limit"):
        load_photo(path)


def test_photo_error_is_input_error():
    assert issubclass(PhotoError, InputError)


def test_8k_photo_keeps_full_resolution(tmp_path, astro):
    img = Image.fromarray(astro).resize((7680, 4320), Image.Resampling.BILINEAR)
    photo = load_photo(_save(tmp_path, "8k.jpg", img, quality=80))
    assert photo.rgb.shape == (4320, 7680, 3) and photo.rgb.dtype == np.float32
