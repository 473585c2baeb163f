import numpy as np
import pytest
import skimage.data
import torch

from talkface.core.errors import InputError
from talkface.core.video.warp import MouthFill, prepare_photo, prepare_source, warp_image

PHOTO = skimage.data.astronaut()  # 512 x 512 uint8


def _psnr(a, b):
    mse = float(((a - b) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("size", [512, 1024, 264])
def test_zero_flow_reproduces_the_resized_photo(size):
    out = warp_image(PHOTO, torch.zeros(2, size, size, 2))
    assert out.shape == (2, 3, size, size)
    ref = prepare_photo(PHOTO, size)
    assert _psnr(out, ref) >= 40
    assert (out - ref).abs().max() < 1e-4


def test_photo_at_output_size_is_used_as_is():
    ref = prepare_photo(PHOTO, 512)[0].permute(1, 2, 0).numpy()
    assert np.allclose(ref, PHOTO / 255.0, atol=1e-6)
    assert prepare_photo(PHOTO.astype(np.float32) / 255.0, 256).shape == (1, 3, 256, 256)


def test_downscaled_photo_is_antialiased():
    """A one-pixel checkerboard averages to grey when halved, instead of aliasing."""
    checker = (np.indices((64, 64)).sum(0) % 2).astype(np.float32)[..., None].repeat(3, -1)
    small = prepare_photo(checker, 32)
    assert (small - 0.5).abs().max() < 0.02


def test_integer_flow_shifts_the_photo_exactly():
    flow = torch.zeros(1, 512, 512, 2)
    flow[..., 0], flow[..., 1] = 3.0, -2.0  # sample 3 px right, 2 px up
    out = warp_image(PHOTO, flow, mode="bilinear")[0]
    src = prepare_photo(PHOTO, 512)[0]
    assert torch.allclose(out[:, 2:, :-3], src[:, :-2, 3:], atol=1e-5)


def test_sizes_must_be_multiples_of_8():
    with pytest.raises(InputError):
        warp_image(PHOTO, torch.zeros(1, 500, 500, 2))
    with pytest.raises(InputError):
        prepare_photo(PHOTO, (256, 252))


def test_mouth_fill_paints_only_the_occluded_opening():
    occlusion = torch.zeros(1, 512, 512)
    occlusion[0, 300:340, 200:300] = 1.0
    fill = MouthFill()
    out = warp_image(PHOTO, torch.zeros(1, 512, 512, 2), occlusion, fill)[0]
    src = prepare_photo(PHOTO, 512)[0]
    outside = torch.ones(512, 512, dtype=torch.bool)
    outside[300:340, 200:300] = False
    assert torch.equal(out[:, outside], src[:, outside])
    teeth = torch.tensor(fill.teeth).view(3, 1)
    cavity = torch.tensor(fill.cavity).view(3, 1)
    # Upper teeth under the lip (shaded by it at the top), between the two central incisors'
    # gap and the next one...
    assert torch.allclose(out[:, 306:309, 253:257].reshape(3, -1), teeth, atol=0.03)
    assert out[:, 300, 253:257].mean() < out[:, 307, 253:257].mean() - 0.1
    # ... the dark cavity below them, the tongue low in the middle, lower teeth at the bottom.
    assert torch.allclose(out[:, 317, 240:260], cavity, atol=0.02)
    tongue = out[:, 330, 245:255].mean(1)
    assert tongue[0] > cavity[0, 0] + 0.1 and tongue[0] > tongue[1] + 0.15
    assert out[:, 338, 256:259].mean() > 0.5
    lum = out.mean(0)
    # the front teeth's boundaries are darker than their middles, the corners than the front,
    # and past the teeth's span by the cheeks the cavity shows
    assert lum[304, 250] < lum[304, 256] - 0.1 and lum[304, 210] < lum[304, 256] - 0.1
    corner = out[:, 304, 201]                               # a cavity's dark red, no tooth
    assert float(corner.mean()) < 0.15 and float(corner[0] - corner[1]) > 0.1


def test_the_fill_is_laid_out_on_the_whole_opening():
    """Below the photo's own opening (its teeth, warped, left as they are), the painted part is
    the cavity a mouth has there, not a second row of upper teeth."""
    occlusion, own = torch.zeros(1, 512, 512), torch.zeros(1, 512, 512)
    occlusion[0, 316:340, 200:300] = 1.0
    own[0, 300:316, 200:300] = 1.0
    still = torch.zeros(1, 512, 512, 2)
    alone = warp_image(PHOTO, still, occlusion)[0]
    laid = warp_image(PHOTO, still, occlusion, photo_opening=own)[0]
    src = prepare_photo(PHOTO, 512)[0]
    assert torch.equal(laid[:, 300:316], src[:, 300:316])                  # the photo's own, untouched
    assert alone[:, 318, 253:257].mean() > 0.5                             # on its own: teeth at its top
    assert laid[:, 318, 253:257].mean() < 0.25                              # laid out: the cavity


def test_thin_opening_gets_no_teeth():
    occlusion = torch.zeros(1, 512, 512)
    occlusion[0, 300:303, 200:300] = 1.0
    out = warp_image(PHOTO, torch.zeros(1, 512, 512, 2), occlusion)[0]
    cavity = torch.tensor(MouthFill().cavity).view(3, 1)
    got = out[:, 300:303, 220:280].reshape(3, -1)            # only the cavity's colour, lit near the lips
    light = got[0] / cavity[0]
    assert torch.allclose(got, cavity * light, atol=1e-5) and float(light.min()) >= 1.0 and float(light.max()) <= 1.4


def _face_detail(img):
    lum = (img * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    return float((torch.nn.functional.conv2d(lum, k)[..., 60:220, 170:330] ** 2).mean())


def test_oversampled_source_keeps_detail_under_subpixel_motion():
    source = prepare_source(PHOTO, 512)
    assert source.image.shape == (1, 3, 1536, 1536)
    assert torch.equal(source.image[..., 1::3, 1::3], prepare_photo(PHOTO, 512))
    flow = torch.zeros(1, 512, 512, 2)
    flow[..., 0], flow[..., 1] = 0.37, 0.61
    detail = _face_detail(prepare_photo(PHOTO, 512))
    sharp = _face_detail(warp_image(source, flow)) / detail
    plain = _face_detail(warp_image(PHOTO, flow, oversample=1)) / detail
    assert sharp > 0.85 and sharp > plain + 0.2, (sharp, plain)  # Lanczos-4: 0.81
