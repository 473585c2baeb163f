"""Frame synthesis memory planning: batches shrink to fit, impossible resolutions are bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkface.core.device import free_memory
from talkface.core.errors import InputError, MissingWeightsError
from talkface.core.video.synthesis import (
    FRAME_BYTES_PER_PIXEL,
    SOURCE_BYTES_PER_PIXEL,
    WARP_FALLBACK_NOTE,
    FaceState,
    FrameSynthesizer,
    choose_mode,
    plan_batch,
    render_batches,
)


def test_free_memory_is_plausible():
    free = free_memory("cpu")
    assert 64 * 2**20 < free < 2**50


def test_batch_shrinks_to_what_fits():
    size = (1024, 1024)
    pixels = size[0] * size[1]
    roomy = (SOURCE_BYTES_PER_PIXEL + 100 * FRAME_BYTES_PER_PIXEL) * pixels
    assert plan_batch(size, 8, roomy) == 8
    tight = (SOURCE_BYTES_PER_PIXEL + 3.5 * FRAME_BYTES_PER_PIXEL) * pixels
    assert plan_batch(size, 8, int(tight)) == 3


def test_resolution_too_large_is_bad_input_with_a_size_that_fits():
    with pytest.raises(InputError, match=r"8192x8192 needs about .* GiB of memory on the cpu .* \(about \d+ px") as err:
        plan_batch((8192, 8192), 1, 4 * 2**30, "cpu")
    largest = int(err.value.args[0].rsplit("about ", 1)[1].split(" px")[0])
    assert 1024 < largest < 8192 and largest % 8 == 0
    assert plan_batch((largest, largest), 1, 4 * 2**30) == 1  # the advice is honest


def test_synthesizer_refuses_before_allocating_and_batches_within_plan():
    from conftest import PORTRAIT

    from talkface.core.face.fitting import fit_photo_file
    from talkface.core.face.image_io import load_photo
    from talkface.core.face.model import load_face_model

    model = load_face_model()
    fit = fit_photo_file(PORTRAIT, model)
    photo = load_photo(PORTRAIT).rgb
    with pytest.raises(InputError, match="smaller resolution"):
        FrameSynthesizer(model, fit, photo, 1 << 17)
    synth = FrameSynthesizer(model, fit, photo, 64, batch=8)
    synth.max_batch = 2  # as if memory allowed two frames at a time
    state = FaceState(np.zeros((5, 52), np.float32), np.repeat(fit.pose[None], 5, 0))
    notes = []
    starts = [(s, len(f)) for s, f in render_batches(synth, state, 8, on_fallback=notes.append)]
    assert starts == [(0, 2), (2, 2), (4, 1)]
    assert notes and "fit in memory" in notes[0]


@pytest.mark.parametrize("with_mouth", [False, True])
def test_neural_frames_do_not_depend_on_batching(with_mouth):
    """One crop for the whole bake (and one around the lips for a mouth model): a frame is the
    same whichever batch renders it."""
    from conftest import PORTRAIT

    from talkface.core.face.fitting import fit_photo_file
    from talkface.core.face.image_io import load_photo
    from talkface.core.face.model import ARKIT_NAMES, load_face_model
    from talkface.core.video.generator import Generator, GeneratorConfig, load_generator

    model = load_face_model()
    fit = fit_photo_file(PORTRAIT, model)
    mouth = Generator(GeneratorConfig(region="mouth", crop_margin=2.2)).eval() if with_mouth else None
    synth = FrameSynthesizer(model, fit, load_photo(PORTRAIT).rgb, 256, generator=load_generator(),
                             mouth_generator=mouth)
    assert (synth.mouth_box is not None) == with_mouth
    n = 6
    weights = np.zeros((n, 52), np.float32)
    weights[:, ARKIT_NAMES.index("jawOpen")] = np.linspace(0.0, 0.9, n)
    pose = np.repeat(fit.pose[None], n, 0)
    pose[:, 2] += np.linspace(-0.25, 0.25, n)  # the head turns: each frame's footprint differs
    pose[:, 3] += np.linspace(-0.02, 0.02, n)
    state = FaceState(weights, pose)
    together = synth.render(state)
    alone = np.concatenate([synth.render(state.batch(i, i + 1)) for i in range(n)])
    assert np.abs(together.astype(int) - alone.astype(int)).max() <= 1
    assert np.abs(together[-1].astype(int) - together[0].astype(int)).mean() > 2  # it does move


class Loader:
    """A generator loader that counts its calls and returns or raises what it is given."""

    def __init__(self, result):
        self.result, self.calls = result, 0

    def __call__(self):
        self.calls += 1
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_choose_mode_policy():
    generator = object()
    missing = MissingWeightsError("Weights file generator.safetensors not found")

    warp = Loader(generator)
    assert choose_mode("WARP", warp) == ("WARP", None, None)
    assert warp.calls == 0  # warp-only never touches the network's weights

    loaded = Loader(generator)
    assert choose_mode("auto", loaded) == ("NEURAL", generator, None)  # any case
    assert choose_mode("NEURAL", loaded) == ("NEURAL", generator, None)
    assert loaded.calls == 2

    assert choose_mode("AUTO", Loader(missing)) == ("WARP", None, WARP_FALLBACK_NOTE)
    with pytest.raises(MissingWeightsError, match="generator.safetensors"):
        choose_mode("NEURAL", Loader(missing))  # asked for neural: no silent warp

    broken = Loader(RuntimeError("a bug, not missing weights"))
    with pytest.raises(RuntimeError, match="a bug"):
        choose_mode("AUTO", broken)  # only missing weights fall back
    with pytest.raises(InputError, match="Unknown bake mode 'FAST'"):
        choose_mode("FAST", Loader(generator))


def test_auto_mode_does_not_hide_a_damaged_generator():
    from talkface.core.errors import DamagedFileError
    from talkface.core.video.synthesis import choose_mode

    def damaged():
        raise DamagedFileError("Weights file generator.safetensors is damaged")

    with pytest.raises(DamagedFileError):
        choose_mode("AUTO", damaged)
    assert choose_mode("WARP", damaged)[0] == "WARP"


def test_the_photos_own_teeth_stay_put_as_the_jaw_opens():
    """The sample portrait smiles with its upper teeth showing. Opening the jaw further, the
    frame shows those teeth exactly where the photo has them (they are fixed to the skull); with
    the teeth not found they would follow the lower lip down."""
    from conftest import PORTRAIT

    from talkface.core.face.fitting import fit_photo_file
    from talkface.core.face.image_io import load_photo
    from talkface.core.face.model import ARKIT_NAMES, load_face_model
    from talkface.core.video.flow import dense_flow

    model = load_face_model()
    fit = fit_photo_file(PORTRAIT, model)
    synth = FrameSynthesizer(model, fit, load_photo(PORTRAIT).rgb, 512)
    assert synth.teeth_edge is not None
    weights = fit.expression[None].astype(np.float32).copy()
    weights[0, ARKIT_NAMES.index("jawOpen")] += 0.3
    state = FaceState(weights, fit.pose[None])
    frame = synth.render(state)[0].astype(float)
    photo = synth.photo[0].permute(1, 2, 0).numpy() * 255.0
    tgt = model.vertices(fit.identity, weights, fit.pose[None])
    kept, dragged = (dense_flow(synth.ref_verts, tgt, model.triangles, synth.camera, synth.size, synth.ref_pose,
                                state.pose, teeth_edge=edge) for edge in (synth.teeth_edge, None))
    teeth = kept.photo_opening[0].numpy() > 0.99
    assert teeth.sum() > 50
    assert np.abs(frame - photo)[teeth].mean() < 2.0
    assert np.abs(kept.flow[0].numpy()[teeth]).max() < 0.5
    assert np.abs(dragged.flow[0].numpy()[teeth]).max(-1).mean() > 1.5       # down with the lower lip


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here (run it where one is lent)")
def test_cuda_bake_matches_the_cpu_bake():
    """The shipped networks with the mouth model, half precision on CUDA: the frames match the CPU
    bake's (the painted interior, the photo's teeth and the sharp opening included)."""
    from conftest import PORTRAIT

    from talkface.core.face.fitting import fit_photo_file
    from talkface.core.face.image_io import load_photo
    from talkface.core.face.model import ARKIT_NAMES, load_face_model
    from talkface.core.video.generator import load_generator, load_mouth_generator

    model = load_face_model()
    fit = fit_photo_file(PORTRAIT, model)
    n = 4
    weights = np.repeat(fit.expression[None], n, 0).astype(np.float32)
    weights[:, ARKIT_NAMES.index("jawOpen")] = np.linspace(0.0, 0.6, n)
    state = FaceState(weights, np.repeat(fit.pose[None], n, 0))
    frames = {}
    for device in ("cpu", "cuda"):
        synth = FrameSynthesizer(model, fit, load_photo(PORTRAIT).rgb, 512, device=device, half=True,
                                 generator=load_generator(device=device),
                                 mouth_generator=load_mouth_generator(device=device))
        assert synth.half == (device == "cuda")
        frames[device] = synth.render(state).astype(int)
    diff = np.abs(frames["cuda"] - frames["cpu"])
    assert diff.mean() < 1.0 and np.percentile(diff, 99.9) <= 12, (diff.mean(), np.percentile(diff, 99.9))
