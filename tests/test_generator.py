"""The flow-guided generator: shapes, the full-resolution path, training, weights safety."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from talkface.core.errors import DamagedFileError, MissingWeightsError
from talkface.core.video.flow import DenseFlow
from talkface.core.video.generator import Generator, GeneratorConfig, load_generator, warp_region
from talkface.core.video.warp import prepare_source, warp_image

TINY = GeneratorConfig(internal=64, channels=8, bottleneck_blocks=1)


def textured_photo(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Skin-like colour with fine texture (noise blurred to ~1 px) and a few edges."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.rand(1, 3, h, w, generator=g)
    k = torch.tensor([0.25, 0.5, 0.25])
    noise = F.conv2d(F.pad(noise, (1, 1, 1, 1), mode="replicate"),
                     (k[:, None] * k[None]).expand(3, 1, 3, 3), groups=3)
    base = torch.tensor([0.75, 0.55, 0.45]).view(1, 3, 1, 1)
    img = base + 0.35 * (noise - 0.5)
    img[..., h // 3:h // 3 + 4, :] *= 0.5
    return img.clamp(0, 1)


def face_flow(n: int, h: int, w: int, shift=(0.0, 0.0), mouth: bool = False,
              mouth_size=(0.06, 0.025)) -> DenseFlow:
    """A face-sized ellipse moved by ``shift`` px (backward flow), optional hidden mouth."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    r = ((xs - w / 2) / (0.2 * w)) ** 2 + ((ys - h / 2) / (0.28 * h)) ** 2
    face = (r < 1).float().expand(n, h, w).clone()
    flow = torch.zeros(n, h, w, 2)
    flow[..., 0] = -shift[0] * face
    flow[..., 1] = -shift[1] * face
    occ = torch.zeros(n, h, w)
    if mouth:
        m = ((xs - w / 2) / (mouth_size[0] * w)) ** 2 + ((ys - 0.62 * h) / (mouth_size[1] * h)) ** 2 < 1
        occ[:, m] = 1.0
    return DenseFlow(flow, occ, face)


def psnr(a, b) -> float:
    mse = float(((a - b) ** 2).mean().detach())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def laplacian_energy(img: torch.Tensor, mask: torch.Tensor) -> float:
    lum = (img * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    k = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    lap = F.conv2d(lum, k, padding=1)[:, 0] ** 2
    return float((lap * mask).sum() / mask.sum().clamp(min=1))


def shipped_or_fresh() -> Generator:
    try:
        return load_generator()
    except MissingWeightsError:
        return Generator().eval()


@pytest.mark.parametrize("size", [(512, 512), (1024, 1024), (384, 256)])
def test_output_shape_and_range(size):
    w, h = size
    gen = Generator(TINY).eval()
    photo = textured_photo(h, w)
    with torch.no_grad():
        out = gen(photo, face_flow(2, h, w, shift=(1.5, -0.7), mouth=True))
    assert out.shape == (2, 3, h, w)
    assert out.dtype == torch.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    box = gen.face_box(face_flow(1, h, w))
    assert 0 <= box.x0 and box.x0 + box.side <= w and 0 <= box.y0 and box.y0 + box.side <= h


def test_zero_motion_returns_the_photo_whatever_the_network_says():
    gen = Generator(TINY).eval()
    with torch.no_grad():  # a network that wants to repaint everything, as badly as it can
        gen.decoder.head.bias.fill_(6.0)
        gen.hourglass.head.bias.fill_(3.0)
    photo = textured_photo(512, 512)
    with torch.no_grad():
        out = gen(photo, face_flow(2, 512, 512))
    assert psnr(out, photo.expand(2, -1, -1, -1)) >= 40.0
    moving = gen(photo, face_flow(1, 512, 512, shift=(2.0, 0.0), mouth=True))
    assert psnr(moving, photo) < 30.0  # the same network does act once something moves


def test_shipped_generator_zero_motion_psnr():
    gen = shipped_or_fresh()
    photo = textured_photo(512, 512, seed=3)
    with torch.no_grad():
        out = gen(photo, face_flow(1, 512, 512))
    assert psnr(out, photo) >= 40.0


def test_sharpness_under_small_motion():
    gen = shipped_or_fresh()
    photo = textured_photo(512, 512, seed=1)
    flow = face_flow(3, 512, 512, shift=(0.0, 0.0))
    flow.flow[0, ..., 0] -= 0.3 * flow.face[0]
    flow.flow[1, ..., 1] += 0.45 * flow.face[1]
    flow.flow[2] -= torch.tensor([0.2, 0.35]) * flow.face[2, ..., None]
    with torch.no_grad():
        out = gen(photo, flow)
    inner = F.max_pool2d(-flow.face[:1, None], 9, 1, 4)[:, 0] * -1  # away from the face edge
    src = laplacian_energy(photo, inner[0])
    ratios = [laplacian_energy(out[i:i + 1], inner[0]) / src for i in range(3)]
    assert min(ratios) >= 0.9, ratios


def test_region_warp_matches_full_warp():
    photo = textured_photo(256, 256)
    flow = face_flow(2, 256, 256, shift=(0.7, -1.3)).flow
    src = prepare_source(photo, 256)
    gen = Generator(TINY)
    box = gen.face_box(face_flow(1, 256, 256))
    full = warp_image(src, flow)
    region = warp_region(src, flow[:, box.y0:box.y0 + box.side, box.x0:box.x0 + box.side], box)
    crop = full[..., box.y0:box.y0 + box.side, box.x0:box.x0 + box.side]
    assert torch.allclose(region, crop, atol=1e-5)


def test_few_training_steps_reduce_the_loss():
    from talkface.training.generator import PairBatch, generator_loss

    torch.manual_seed(0)
    h = w = 128
    photo = textured_photo(h, w, seed=2)
    flow = face_flow(2, h, w, shift=(1.0, 0.5), mouth=True, mouth_size=(0.12, 0.07))
    target = warp_image(photo, flow.flow, flow.occlusion)  # the painted mouth is to be learned
    batch = PairBatch(photo, flow, target, torch.ones(2, 1, h, w), photo)
    gen = Generator(TINY)
    opt = torch.optim.Adam(gen.parameters(), lr=2e-3)
    losses, colour = [], []
    for _ in range(25):
        loss, parts, _, _ = generator_loss(gen, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        colour.append(parts["colour"])
    assert losses[-1] < 0.85 * losses[0], losses
    assert colour[-1] < 0.8 * colour[0]  # it learns to paint where the photo shows nothing


def test_weights_round_trip_and_refuse_corruption(tmp_path):
    from talkface.core.weights import record_provenance

    gen = Generator(TINY)
    with torch.no_grad():
        gen.decoder.head.bias.add_(0.5)
    gen.save(tmp_path / "generator.safetensors")
    record_provenance("generator.safetensors", {"generator_version": "test"}, tmp_path)
    loaded = load_generator(tmp_path)
    assert loaded.config == TINY
    assert torch.equal(loaded.decoder.head.bias, gen.decoder.head.bias)

    data = bytearray((tmp_path / "generator.safetensors").read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / "generator.safetensors").write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="damaged"):
        load_generator(tmp_path)
    (tmp_path / "generator.safetensors").unlink()
    with pytest.raises(MissingWeightsError, match="training.generator"):
        load_generator(tmp_path)


def test_hdtf_clip_dataset(tmp_path):
    cv2 = pytest.importorskip("cv2")
    from talkface.core.face.fitting import fit_photo_file
    from talkface.training.generator import HdtfClips

    fit = fit_photo_file("samples/portrait.png")
    n, size = 5, 128
    cam = fit.camera.scaled(size, size)
    writer = cv2.VideoWriter(str(tmp_path / "clip_0.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25,
                             (size, size))
    frame = cv2.resize(cv2.imread("samples/portrait.png"), (size, size))
    for _ in range(n):
        writer.write(frame)
    writer.release()
    weights = np.zeros((n, 52), np.float32)
    weights[:, 17] = np.linspace(0, 0.6, n)  # jawOpen
    np.savez(tmp_path / "clip_0.npz", weights=weights, pose=np.repeat(fit.pose[None], n, 0),
             identity=fit.identity, camera=np.array([cam.focal, cam.cx, cam.cy, size, size]))
    data = HdtfClips(tmp_path, hold_out=0)
    assert len(data.indices("train")) == n
    b = data.batch("clip_0", [1, 4], ref=0)
    assert b.photo.shape == (1, 3, size, size) and b.target.shape == (2, 3, size, size)
    assert b.flow.flow.shape == (2, size, size, 2)
    assert float(b.flow.occlusion[1].sum()) > float(b.flow.occlusion[0].sum())  # jaw opens


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="half precision is CUDA-only (core.device.use_half); no GPU here")
def test_half_precision_on_cuda():
    gen = Generator(TINY).cuda().eval()
    gen.half = True
    photo = textured_photo(512, 512).cuda()
    flow = face_flow(2, 512, 512, shift=(1.0, 0.0), mouth=True)
    flow = DenseFlow(flow.flow.cuda(), flow.occlusion.cuda(), flow.face.cuda())
    seen = []
    hook = gen.bottleneck.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.no_grad():
        out = gen(photo, flow)
        gen.half = False
        ref = gen(photo, flow)
    hook.remove()
    assert seen[0] == torch.float16 and seen[1] == torch.float32
    assert out.dtype == torch.float32
    assert float((out - ref).abs().max()) < 0.02


def test_rendered_mouth_interior_sits_behind_the_lips_and_follows_the_jaw():
    from talkface.core.face.model import load_face_model
    from talkface.scripts.render_generator_pairs import MouthInterior, random_states

    model = load_face_model()
    ident = np.zeros(model.n_identity, np.float32)
    mouth = MouthInterior(model, ident, np.random.default_rng(0))
    closed = model.vertices(ident, np.zeros((1, 52)))[0]
    opened = model.vertices(ident, model.weights_from({"jawOpen": 0.8}))[0]
    v_closed, v_open = mouth.vertices(closed), mouth.vertices(opened)
    assert len(v_closed) == len(mouth.colours) == len(mouth.detail)
    assert max(max(f) for f in mouth.faces) < len(v_closed)
    parts = mouth.parts
    teeth = np.concatenate([v_closed[parts["upper_teeth"]], v_closed[parts["lower_teeth"]]])
    lip = closed[model.index_sets["lip_inner_upper"]]
    order = np.argsort(lip[:, 0])
    front = np.abs(teeth[:, 0]) < 0.5 * np.ptp(lip[:, 0])      # the teeth between the lip corners
    lip_y = np.interp(teeth[front, 0], lip[order, 0], lip[order, 1])
    assert (teeth[front, 1] > lip_y + 0.002).all()  # the face looks toward -Y: behind = larger y
    upper, lower = parts["upper_teeth"], parts["lower_teeth"]
    assert np.allclose(v_closed[upper], v_open[upper])  # upper teeth belong to the skull
    assert np.allclose(v_closed[parts["upper_gum"]], v_open[parts["upper_gum"]])
    for part in ("lower_teeth", "lower_gum", "tongue"):   # the lower jaw's parts drop with it
        assert (v_open[parts[part], 2] < v_closed[parts[part], 2] - 0.005).all(), part
    up_edge = v_closed[upper][:, 2].min()
    assert up_edge < v_closed[lower][:, 2].max() + 0.002    # closed: the biting edges meet
    # every crown is narrower than its slot: the teeth are separate (the cavity shows between)
    xs = v_closed[parts["upper_tooth4"]][:, 0], v_closed[parts["upper_tooth5"]][:, 0]
    assert xs[0].max() < xs[1].min()
    weights, offsets = random_states(64, np.random.default_rng(1))
    assert weights.shape == (64, 52) and offsets.shape == (64, 6)
    assert (weights >= 0).all() and (weights <= 1).all()
    assert (weights[:, 18] <= weights[:, 17] + 1e-6).all()  # mouthClose <= jawOpen


def test_a_mouth_model_draws_only_inside_its_crop_and_never_without_motion():
    """A mouth model refines a face pass's frames inside the crop around the lips only, blended
    in at the crop's border; with no motion the frame is still the photo, whatever it says."""
    from dataclasses import replace

    mouth = Generator(replace(TINY, region="mouth", crop_margin=2.2)).eval()
    with torch.no_grad():
        mouth.decoder.head.bias.fill_(6.0)       # it wants to repaint everything
        mouth.hourglass.head.bias.fill_(3.0)
    photo = textured_photo(512, 512)
    box = mouth.mouth_box((230.0, 300.0, 290.0, 330.0), (512, 512))
    assert box.side == round(2.2 * 60 / 8) * 8 and box.x0 <= 230 and box.x0 + box.side >= 290
    with torch.no_grad():
        still = mouth.refine_mouth(photo.expand(2, -1, -1, -1).clone(), photo, face_flow(2, 512, 512), box)
        assert psnr(still, photo.expand(2, -1, -1, -1)) >= 40.0
        moving = face_flow(1, 512, 512, shift=(2.0, 0.0), mouth=True)
        base = warp_image(prepare_source(photo, 512), moving.flow)
        out = mouth.refine_mouth(base.clone(), photo, moving, box)
    changed = (out - base).abs().amax(1)[0] > 1e-6
    ys, xs = torch.nonzero(changed, as_tuple=True)
    assert len(ys) and box.x0 < int(xs.min()) and int(xs.max()) < box.x0 + box.side - 1
    assert box.y0 < int(ys.min()) and int(ys.max()) < box.y0 + box.side - 1     # feathered to 0 at the edge


def test_a_mouth_model_keeps_the_face_pass_tones(monkeypatch):
    """Trained on renders, a mouth model's own colours drift on real photos (blue-white teeth):
    it adds its structure to the face pass's low-frequency colour, not its own tones (here with
    the painted interior off, which the next test covers)."""
    from dataclasses import replace

    from talkface.core.video import generator as gen

    monkeypatch.setattr(gen, "INTERIOR_SHARE", 0.0)

    photo = textured_photo(512, 512)
    moving = face_flow(1, 512, 512, shift=(2.0, 0.0), mouth=True)
    base = warp_image(prepare_source(photo, 512), moving.flow)
    means = {}
    for keep in (False, True):
        mouth = Generator(replace(TINY, region="mouth", crop_margin=2.2, keep_tone=keep)).eval()
        with torch.no_grad():
            mouth.decoder.head.bias[:3] = torch.tensor([-3.0, -3.0, 6.0])   # paints the opening blue
            box = mouth.mouth_box((226.0, 296.0, 286.0, 316.0), (512, 512))
            out = mouth.refine_mouth(base.clone(), photo, moving, box)
        hole = moving.occlusion[0] > 0.5
        means[keep] = (out[0][:, hole].mean(1) - base[0][:, hole].mean(1)).abs().max().item()
    assert means[False] > 0.2 and means[True] < 0.25 * means[False], means


def test_the_hidden_opening_shows_the_painted_interior(monkeypatch):
    """Where the photo hides the mouth, a mouth model's frame is INTERIOR_SHARE the painted
    interior (upper teeth under the lip, a dark cavity below) and the rest its own colour: a model
    that paints the opening blue still shows teeth and a cavity; all-painted, the opening is
    exactly the painting."""
    from dataclasses import replace

    from talkface.core.video import generator as gen

    photo = textured_photo(512, 512)
    moving = face_flow(1, 512, 512, shift=(2.0, 0.0), mouth=True, mouth_size=(0.08, 0.05))
    base = warp_image(prepare_source(photo, 512), moving.flow)
    mouth = Generator(replace(TINY, region="mouth", crop_margin=2.2, keep_tone=False)).eval()
    with torch.no_grad():
        mouth.decoder.head.bias[:3] = torch.tensor([-3.0, -3.0, 6.0])   # paints the opening blue
    box = mouth.mouth_box((216.0, 290.0, 296.0, 345.0), (512, 512))
    hole = moving.occlusion[0] > 0.5
    col = 256                                              # the opening's middle column
    rows = torch.nonzero(hole[:, col])[:, 0]
    top, bottom = int(rows.min()), int(rows.max())
    with torch.no_grad():
        blended = mouth.refine_mouth(base.clone(), photo, moving, box)[0]
        monkeypatch.setattr(gen, "INTERIOR_SHARE", 1.0)
        monkeypatch.setattr(gen, "INTERIOR_DETAIL", 0.0)
        painted = mouth.refine_mouth(base.clone(), photo, moving, box)[0]
    expected = gen.painted_interior(moving, box, 512)[0]
    inner = hole.clone()
    inner[:box.y0 + box.side // 8] = False                  # away from the feathered border
    b = box
    assert torch.allclose(painted[:, inner], expected[:, inner[b.y0:b.y0 + b.side, b.x0:b.x0 + b.side]], atol=1e-5)
    lum = painted.mean(0)
    teeth, cavity = lum[top + 2, col - 10:col + 10].mean(), lum[(top + bottom) // 2, col - 10:col + 10].mean()
    assert teeth > 0.5 and cavity < 0.25, (teeth, cavity)
    # the default share: between the network's blue and the painting, teeth still brighter
    blue = lambda img: float((img[2, inner] - img[0, inner]).mean())    # noqa: E731
    assert blue(blended) > blue(painted) + 0.1
    lum = blended.mean(0)
    assert lum[top + 2, col - 10:col + 10].mean() > lum[(top + bottom) // 2, col - 10:col + 10].mean() + 0.15


def test_a_smiling_photos_hidden_opening_is_painted_whole_in_its_teeth_colour():
    """Where the flow marks the hidden opening as over a smiling photo's teeth (what the
    networks never saw there in training, and drew grey), both the face pass and the mouth
    model show the painting as it is, at the default share, with the teeth in the colour given."""
    from dataclasses import replace

    from talkface.core.video import generator as gen
    from talkface.core.video.warp import MouthFill

    photo = textured_photo(512, 512)
    moving = face_flow(1, 512, 512, shift=(2.0, 0.0), mouth=True, mouth_size=(0.08, 0.05))
    moving = replace(moving, over_teeth=moving.occlusion.clone())
    base = warp_image(prepare_source(photo, 512), moving.flow)
    fill = MouthFill(teeth=(0.95, 0.6, 0.6))                    # unmistakable pink teeth
    hole = moving.occlusion[0] > 0.99
    for model in (Generator(TINY).eval(), Generator(replace(TINY, region="mouth", crop_margin=2.2)).eval()):
        with torch.no_grad():
            model.decoder.head.bias[:3] = torch.tensor([-3.0, -3.0, 6.0])   # paints the opening blue
            box = model.mouth_box((216.0, 290.0, 296.0, 345.0), (512, 512))
            if model.config.region == "mouth":
                out = model.refine_mouth(base.clone(), photo, moving, box, fill)[0]
            else:
                box = model.face_box(moving)
                out = model(photo, moving, box, fill)[0]
        expected = gen.painted_interior(moving, box, 512, fill)[0]
        inner = hole.clone()
        inner[:box.y0 + box.side // 8] = False              # away from a feathered border
        b = box
        assert torch.allclose(out[:, inner], expected[:, inner[b.y0:b.y0 + b.side, b.x0:b.x0 + b.side]], atol=1e-4)
    teeth = expected[:, inner[b.y0:b.y0 + b.side, b.x0:b.x0 + b.side]]
    assert float((teeth[0] - teeth[2]).max()) > 0.2             # pink, as asked


def test_a_mouth_model_never_repaints_the_photos_own_teeth():
    """Where the frame's opening shows the photo's own opening (its teeth, warped), a mouth model
    that wants to repaint everything leaves the pixels as they are; the rest of its crop changes."""
    from dataclasses import replace

    mouth = Generator(replace(TINY, region="mouth", crop_margin=2.2)).eval()
    with torch.no_grad():
        mouth.decoder.head.bias.fill_(6.0)
        mouth.hourglass.head.bias.fill_(3.0)
    photo = textured_photo(512, 512)
    moving = face_flow(1, 512, 512, shift=(2.0, 0.0))
    own = torch.zeros(1, 512, 512)
    own[:, 300:320, 236:280] = 1.0                        # the photo's teeth, seen through the opening
    moving = DenseFlow(moving.flow, moving.occlusion, moving.face, own)
    base = warp_image(prepare_source(photo, 512), moving.flow)
    box = mouth.mouth_box((226.0, 296.0, 286.0, 326.0), (512, 512))
    with torch.no_grad():
        out = mouth.refine_mouth(base.clone(), photo, moving, box)
    diff = (out - base).abs().amax(1)[0]
    assert float(diff[300:320, 236:280].max()) < 1e-6
    assert float(diff[box.y0 + box.side // 2 - 30:box.y0 + box.side // 2 - 20, 236:280].max()) > 0.05
