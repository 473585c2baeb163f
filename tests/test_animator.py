"""The audio-to-animation network: exact chunking, styles, weights checks, blinks, training."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from talkface.core.audio.inference import load_animator_file, sample_blinks, save_animator
from talkface.core.audio.network import Animator, AnimatorConfig, run_chunked
from talkface.core.errors import DamagedFileError, MissingWeightsError
from talkface.core.weights import record_provenance, weights_path
from talkface.training.animator import AnimatorTrainConfig, Clip, Windows, blink_onsets, losses, make_model, train

# the synthetic tests' recipe: MFCC-sized features, no style dropout or masking, closure boost 4
SYNTHETIC = AnimatorTrainConfig(batch=8, window_s=2.0, width=32, features="mfcc", style_dropout=0.0,
                                freq_masks=0, closure_boost=4.0)

MOUTH = ("jawOpen", "mouthClose", "mouthFunnel")


def random_model(seed=0, cfg=None, std=0.2):
    """An untrained network with weights large enough that its outputs move."""
    cfg = cfg or AnimatorConfig(mouth_channels=MOUTH, brow_channels=("browInnerUp",), styles=("a", "b"))
    torch.manual_seed(seed)
    model = Animator(cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=std)
    return model


def test_chunked_inference_is_exact():
    model = random_model()
    feats = np.random.default_rng(0).standard_normal((900, 16)).astype(np.float32)
    whole = run_chunked(model, feats, 0, chunk=10_000)
    pieces = run_chunked(model, feats, 0, chunk=97)
    for key in whole:
        np.testing.assert_allclose(whole[key], pieces[key], atol=1e-4)
    assert whole["mouth"].shape == (900, 3) and whole["pose"].shape == (900, 6)


def test_style_changes_output():
    model = random_model()
    feats = np.random.default_rng(1).standard_normal((200, 16)).astype(np.float32)
    a = run_chunked(model, feats, 0)["mouth"]
    b = run_chunked(model, feats, 1)["mouth"]
    assert np.abs(a - b).mean() > 1e-3


def test_weights_roundtrip_and_checksum(tmp_path):
    model = random_model()
    save_animator(model, str(tmp_path / "animator.safetensors"))
    record_provenance("animator.safetensors", {"command": "test"}, tmp_path)
    path = weights_path("animator.safetensors", tmp_path)
    loaded = load_animator_file(str(path))
    feats = np.random.default_rng(2).standard_normal((100, 16)).astype(np.float32)
    np.testing.assert_allclose(run_chunked(model, feats, 1)["mouth"], run_chunked(loaded, feats, 1)["mouth"], atol=1e-6)
    assert loaded.cfg.styles == ("a", "b")

    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DamagedFileError, match="damaged.*checksum.*restore it or reinstall"):
        weights_path("animator.safetensors", tmp_path)
    (tmp_path / "provenance.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(DamagedFileError, match="provenance.json is damaged"):
        weights_path("animator.safetensors", tmp_path)


def test_missing_weights_say_how_to_train(tmp_path):
    with pytest.raises(MissingWeightsError, match="train"):
        weights_path("animator.safetensors", tmp_path)


def test_blinks_are_natural_and_deterministic():
    fps = 50.0
    hazard = np.zeros(int(60 * fps))
    a = sample_blinks(hazard, fps, seed=3)
    assert np.array_equal(a, sample_blinks(hazard, fps, seed=3))
    onsets = np.flatnonzero(blink_onsets(a))
    assert 8 <= len(onsets) <= 30  # about 17 a minute
    assert np.min(np.diff(onsets)) / fps >= 1.2  # refractory period
    assert a.max() == pytest.approx(1.0)
    # a hazard peaking at pauses puts the blinks there
    peaks = np.full(int(60 * fps), -6.0)
    peaks[::250] = 6.0
    b = sample_blinks(peaks, fps, seed=0)
    starts = np.flatnonzero(blink_onsets(b, threshold=1e-6))
    assert np.mean(np.isin(starts % 250, [0, 1])) > 0.8


def synthetic_clips(n=6, seed=0):
    """Targets that depend on the audio features in a learnable way (not the real corpus)."""
    rng = np.random.default_rng(seed)
    clips = []
    channels = ("jawOpen", "mouthClose", "browInnerUp", "eyeBlinkLeft") + (
        "head_rx", "head_ry", "head_rz", "head_tx", "head_ty", "head_tz")
    for i in range(n):
        T = 300
        feats = rng.standard_normal((T, 16)).astype(np.float32)
        energy = np.convolve(feats[:, 0], np.ones(5) / 5, mode="same")
        tgt = np.zeros((T, len(channels)), np.float32)
        tgt[:, 0] = 1 / (1 + np.exp(-2 * energy))
        tgt[:, 1] = 0.5 * tgt[:, 0]  # mouthClose lives under jawOpen, as in ARKit
        tgt[:, 2] = 0.3
        tgt[:, 4] = 0.05 * np.tanh(energy)
        clips.append(Clip(feats, tgt, channels, f"voice{i % 2}", np.zeros(T, np.float32)))
    return clips


def test_training_reduces_loss(tmp_path):
    clips = synthetic_clips()
    torch.manual_seed(0)
    model = make_model(clips, width=32, feature_kind="mfcc", style_dropout=0.0)
    windows = Windows(clips, model.cfg, 100, np.random.default_rng(0))
    fixed = windows.batch(8)
    before = float(losses(model, fixed)["mouth"].detach())
    report = train(clips, clips[:2], str(tmp_path / "a.safetensors"), replace(SYNTHETIC, steps=120),
                   log=lambda *_: None)
    trained = load_animator_file(str(tmp_path / "a.safetensors"))
    after = float(losses(trained, fixed)["mouth"].detach())
    assert after < 0.6 * before
    assert report["metrics"]["jaw_r"] > 0.8


def test_presets_and_style_extraction():
    from talkface.core.audio.inference import extract_style, resolve_style, style_names
    from talkface.core.audio.network import make_presets

    model = random_model()
    feats = np.random.default_rng(4).standard_normal((150, 16)).astype(np.float32)
    named = make_presets(model, feats)
    assert style_names(named) == ("Calm", "Neutral", "Lively")
    calm, lively = resolve_style(named, "Calm"), resolve_style(named, "Lively")
    def motion(code):
        out = run_chunked(named, feats, code)
        pose = out["pose"] / named.pose_scale.numpy()
        return np.abs(np.diff(pose, axis=0)).mean() + np.abs(np.diff(out["mouth"], axis=0)).mean()

    assert motion(calm) <= motion(lively)
    # the code that produced a clip's animation is recovered well enough to reproduce it
    target_code = named.styles.weight[1].detach()
    out = run_chunked(named, feats, target_code)
    code = extract_style(named, feats, {"mouth": out["mouth"], "pose": out["pose"]}, steps=120)
    again = run_chunked(named, feats, code)["mouth"]
    base = run_chunked(named, feats, named.styles.weight.mean(0).detach())["mouth"]
    assert np.abs(again - out["mouth"]).mean() < 0.5 * np.abs(base - out["mouth"]).mean()


def _full_mouth_model(seal: bool, seed=0):
    from talkface.core.face.model import ARKIT_NAMES
    from talkface.training.animator import lip_parting_channels, split_channels

    mouth, brows = split_channels(tuple(ARKIT_NAMES))
    cfg = AnimatorConfig(mouth_channels=mouth, brow_channels=brows, styles=("a",),
                         seal_open_channels=lip_parting_channels(mouth) if seal else ())
    return random_model(seed, cfg, std=0.3)


def _gap_mm(model, out):
    from talkface.core.face.model import ARKIT_NAMES, load_face_model
    from talkface.training.lip_metrics import gap_mm

    w = np.zeros((len(out["mouth"]), 52), np.float32)
    w[:, [ARKIT_NAMES.index(c) for c in model.cfg.mouth_channels]] = out["mouth"]
    return gap_mm(load_face_model(), w)


def test_lip_seal_head_closes_the_lips_it_says_are_sealed():
    model = _full_mouth_model(seal=True)
    assert {"mouthFunnel", "mouthLowerDownLeft", "mouthUpperUpRight"} <= set(model.cfg.seal_open_channels)
    assert "jawOpen" not in model.cfg.seal_open_channels and "mouthSmileLeft" not in model.cfg.seal_open_channels
    feats = np.random.default_rng(5).standard_normal((120, 16)).astype(np.float32)
    with torch.no_grad():
        model.seal_head.weight.zero_()
        model.seal_head.bias.fill_(-30.0)
    open_ = run_chunked(model, feats, 0)
    with torch.no_grad():
        model.seal_head.bias.fill_(30.0)
    sealed = run_chunked(model, feats, 0)
    assert np.percentile(_gap_mm(model, open_), 50) > 2.0  # random weights part the lips...
    assert _gap_mm(model, sealed).max() <= 1.0  # ...and a sure seal closes every frame
    jaw, close = (model.cfg.mouth_channels.index(c) for c in ("jawOpen", "mouthClose"))
    np.testing.assert_allclose(sealed["mouth"][:, close], sealed["mouth"][:, jaw], atol=1e-5)
    # the jaw itself is left to the mouth head: a seal is lips, not a shut jaw
    np.testing.assert_allclose(sealed["mouth"][:, jaw], open_["mouth"][:, jaw], atol=1e-5)


def test_config_without_seal_loads_as_before():
    model = _full_mouth_model(seal=False)
    assert model.seal_head is None
    cfg = AnimatorConfig.from_json(model.cfg.to_json().replace(', "seal_open_channels": []', ""))
    assert cfg.seal_open_channels == () and Animator(cfg).seal_head is None


def test_seal_head_learns_when_lips_must_close(tmp_path):
    """Closures cued by one feature: the trained seal head closes the lips on them only."""
    from talkface.core.face.model import ARKIT_NAMES
    from talkface.training.animator import split_channels

    rng = np.random.default_rng(0)
    mouth, _ = split_channels(tuple(ARKIT_NAMES))
    channels = tuple(ARKIT_NAMES) + ("head_rx", "head_ry", "head_rz", "head_tx", "head_ty", "head_tz")
    col = {c: i for i, c in enumerate(channels)}
    clips = []
    for i in range(6):
        T = 400
        feats = rng.standard_normal((T, 16)).astype(np.float32)
        cue = np.convolve(feats[:, 3] > 1.0, np.ones(3), mode="same") > 0
        tgt = np.zeros((T, len(channels)), np.float32)
        tgt[:, col["jawOpen"]] = 0.3
        tgt[:, col["mouthFunnel"]] = 0.2
        tgt[cue, col["mouthClose"]] = 0.3  # sealed: close cancels the jaw, funnel off
        tgt[cue, col["mouthFunnel"]] = 0.0
        clips.append(Clip(feats, tgt, channels, "v", np.zeros(T, np.float32)))
    report = train(clips, clips[:1], str(tmp_path / "s.safetensors"), replace(SYNTHETIC, steps=150),
                   log=lambda *_: None)
    assert "seal" in report["history"][-1]
    model = load_animator_file(str(tmp_path / "s.safetensors"))
    clip = clips[0]
    gap = _gap_mm(model, run_chunked(model, clip.features, model.styles.weight.mean(0)))
    cue = clip.targets[:, col["mouthClose"]] > 0
    assert np.mean(gap[cue] <= 1.0) > 0.9
    assert np.mean(gap[~cue] > 1.0) > 0.9


def test_frequency_masking_hides_bands_but_not_prosody():
    from talkface.training.animator import mask_bands

    feats = torch.randn(4, 50, 43)
    fill = torch.full((43,), 7.0)
    out = mask_bands(feats, fill, 40, 2, np.random.default_rng(0))
    assert torch.equal(feats, feats.clone()) and not torch.equal(out, feats)
    masked = (out == 7.0).all(dim=1)  # [B, D]: whole band hidden over the window
    assert masked[:, :40].sum(1).min() >= 1 and masked[:, :40].sum(1).max() <= 12
    assert torch.equal(out[..., 40:], feats[..., 40:])
    assert torch.equal(mask_bands(feats, fill, 40, 0, np.random.default_rng(0)), feats)


def test_style_dropout_trains_under_the_mean_style_only_in_training():
    base = random_model()
    model = Animator(replace(base.cfg, style_dropout=1.0))
    model.load_state_dict(base.state_dict())
    feats = torch.randn(1, 80, 16)
    model.train()
    a, b = model(feats, torch.tensor([0]))["mouth"], model(feats, torch.tensor([1]))["mouth"]
    mean = model(feats, model.styles.weight.mean(0))["mouth"]
    assert torch.allclose(a, b) and torch.allclose(a, mean)
    model.eval()
    assert not torch.allclose(model(feats, torch.tensor([0]))["mouth"], model(feats, torch.tensor([1]))["mouth"])


def test_voice_warp_moves_formants_and_pitch_only():
    from talkface.training.animator import warp_voice

    rng = np.random.default_rng(0)
    bands = np.arange(40, dtype=np.float32)
    feats = torch.zeros(64, 10, 43)
    feats[..., :40] = torch.as_tensor(bands)  # band value = band index: the warp is readable
    feats[:, :5, 40] = 0.3  # voiced frames (log-F0), then unvoiced (0)
    feats[..., 41:] = 5.0
    out = warp_voice(feats, "logmel", rng, max_warp=0.12, max_pitch=0.3)
    spec = out[..., :40]
    assert torch.all(spec[:, :, 1:] >= spec[:, :, :-1] - 1e-5)  # a monotone re-reading of the bands
    moved = (spec[:, 0, 20] - 20).abs()
    assert moved.max() > 1.0 and moved.min() < moved.max()  # formants move, by a random amount
    assert torch.all(out[:, 5:, 40] == 0) and out[:, :5, 40].std() > 0.05  # pitch moves where voiced
    assert torch.equal(out[..., 41:], feats[..., 41:])  # voicing and energy untouched
    same = warp_voice(feats, "logmel", rng, max_warp=0.0, max_pitch=0.0)
    assert torch.equal(same, feats)


def test_muffle_is_a_low_pass_on_some_windows_with_energy_following():
    from talkface.training.animator import muffle

    rng = np.random.default_rng(1)
    feats = torch.zeros(200, 6, 43)
    feats[..., :40] = torch.randn(200, 6, 40)
    feats[..., 40:42] = 0.7
    out = muffle(feats, "logmel", rng, share=0.5)
    gain = out[..., :40] - feats[..., :40]
    hit = gain.abs().amax((1, 2)) > 0
    assert 60 < int(hit.sum()) < 140  # about half of the windows
    g = gain[hit][:, 0]  # one gain curve per window (same on every frame)
    assert torch.allclose(gain[hit], g[:, None, :].expand_as(gain[hit]), atol=1e-5)
    assert torch.all(g[:, 1:] <= g[:, :-1] + 1e-5)  # never lifts a higher band above a lower one
    assert torch.all(g[:, -1] < -1.5) and torch.all(g[:, -1] > -8.2)  # top band: -6.5 dB to the -35 dB floor
    assert torch.equal(out[..., 40:42], feats[..., 40:42])  # pitch and voicing untouched
    assert torch.all(out[hit][..., 42] < feats[hit][..., 42])  # less energy where muffled
    assert torch.equal(out[~hit], feats[~hit])
    assert torch.equal(muffle(feats, "mfcc", rng, share=1.0), feats)  # only log-mel bands are filtered


def test_head_moves_a_few_degrees_like_a_talking_person():
    """The shipped take turns and tilts the head a few degrees (not the ~1 degree the network alone
    gives), more while talking than in the pauses; the same seed gives the same motion."""
    import os

    from talkface.core.audio import inference
    from talkface.core.audio.features import FeatureConfig, compute_features
    from talkface.core.audio.loading import load_audio
    from talkface.core.audio.motion import activity

    audio = load_audio(os.path.join(os.path.dirname(os.path.dirname(__file__)), "samples", "speech.wav"))
    net = inference.load_animator()
    take = inference.animate(audio, net, seed=4)
    degrees = np.degrees(np.stack([take.channel(c) for c in ("head_rx", "head_ry", "head_rz")], 1))
    assert np.all(np.ptp(degrees, axis=0) > 2.0) and np.ptp(degrees, axis=0).max() < 20.0
    assert np.array_equal(inference.animate(audio, net, seed=4).values, take.values)
    assert not np.array_equal(inference.animate(audio, net, seed=5).values[:, -6:], take.values[:, -6:])
    feats = compute_features(audio, FeatureConfig(kind=net.cfg.feature_kind, fps=net.cfg.fps))
    talking = activity(feats.column("voicing"), feats.column("log_energy"), net.cfg.fps) > 0.5
    speed = np.abs(np.diff(degrees, axis=0)).sum(1)
    assert speed[talking[1:]].mean() > speed[~talking[1:]].mean()


def test_ensemble_is_the_mean_of_its_members_in_their_joined_style_space(tmp_path):
    """Every output is the members' mean, each member under its own code for the style; the codes
    are joined end to end, so 'Neutral', a trained style and a learned code all work; chunking
    stays exact; the file round-trips as an ensemble; members of another recipe are refused."""
    from talkface.core.audio.inference import extract_style, resolve_style
    from talkface.core.audio.network import Ensemble

    a, b = random_model(0), random_model(1)
    ens = Ensemble([a, b]).eval()
    feats = np.random.default_rng(3).standard_normal((300, 16)).astype(np.float32)
    assert ens.style_dim == 2 * a.cfg.style_dim
    for style in ("Neutral", "b"):
        code = resolve_style(ens, style)
        assert code.shape == (ens.style_dim,)
        out = run_chunked(ens, feats, code, chunk=71)
        ra, rb = run_chunked(a, feats, resolve_style(a, style)), run_chunked(b, feats, resolve_style(b, style))
        for key in out:
            np.testing.assert_allclose(out[key], (ra[key] + rb[key]) / 2, rtol=1e-4, atol=1e-4)
    by_index, by_name = run_chunked(ens, feats, 1), run_chunked(ens, feats, resolve_style(ens, "b"))
    np.testing.assert_allclose(by_index["mouth"], by_name["mouth"], atol=1e-6)
    learned = extract_style(ens, feats, {"mouth": run_chunked(ens, feats, 1)["mouth"]}, steps=5)
    assert learned.shape == (ens.style_dim,)
    with pytest.raises(ValueError, match="style code of 16 numbers"):
        ens(torch.as_tensor(feats)[None], resolve_style(a, "Neutral"))

    save_animator(Ensemble([a, b], "max"), str(tmp_path / "animator.safetensors"))
    loaded = load_animator_file(str(tmp_path / "animator.safetensors"))
    assert isinstance(loaded, Ensemble) and len(loaded.members) == 2 and loaded.seal == "max"
    np.testing.assert_allclose(run_chunked(loaded, feats, 0)["mouth"], run_chunked(ens, feats, 0)["mouth"], atol=1e-6)
    other = random_model(2, replace(a.cfg, width=24))
    with pytest.raises(ValueError, match="one configuration"):
        Ensemble([a, other])
    with torch.no_grad():
        b.feat_mean += 1.0
    with pytest.raises(ValueError, match="feature statistics"):
        Ensemble([a, b])


def test_an_ensemble_seals_its_mean_mouth_once():
    """The members' mouths are averaged before any seal and the seal is applied once: 'mean' at the
    members' mean seal logit, 'max' wherever one member is sure (a half-open average would read as
    no closure); the choice survives the weights file."""
    from talkface.core.audio.network import Ensemble

    a, b = _full_mouth_model(seal=True, seed=0), _full_mouth_model(seal=True, seed=1)
    with torch.no_grad():
        for m, logit in ((a, 20.0), (b, -20.0)):     # a seals every frame, b none
            m.seal_head.weight.zero_()
            m.seal_head.bias.fill_(logit)
    x = torch.as_tensor(np.random.default_rng(5).standard_normal((1, 120, 16)).astype(np.float32))
    raw = [m(x, 0, seal=False) for m in (a, b)]
    mean_mouth = (raw[0]["mouth"] + raw[1]["mouth"]) / 2
    names = a.cfg.mouth_channels
    jaw, close = names.index("jawOpen"), names.index("mouthClose")
    parting = [names.index(c) for c in a.cfg.seal_open_channels]
    with torch.no_grad():
        most = Ensemble([a, b], "max").eval()(x, 0)["mouth"]
        mean = Ensemble([a, b], "mean").eval()(x, 0)["mouth"]
    np.testing.assert_allclose(most[..., close], mean_mouth[..., jaw].detach(), atol=1e-5)
    assert float(most[..., parting].abs().max()) < 1e-5
    p = torch.sigmoid((raw[0]["seal_logit"] + raw[1]["seal_logit"]) / 2)
    np.testing.assert_allclose(mean, a.apply_seal(mean_mouth, p).detach(), atol=1e-5)
    assert not np.allclose(mean, most, atol=1e-3)
    with pytest.raises(ValueError, match="unknown seal"):
        Ensemble([a, b], "min")


def test_a_take_from_an_ensemble_of_one_network_twice_is_that_network_s(tmp_path):
    """The shipped weights joined with a copy of themselves animate exactly as they do (seals,
    blinks, sway and all); a style code learned with other weights is refused by name."""
    import copy
    import os

    from talkface.core.audio import inference, listening
    from talkface.core.audio.loading import load_audio
    from talkface.core.audio.network import Ensemble
    from talkface.core.errors import InputError

    audio = load_audio(os.path.join(os.path.dirname(os.path.dirname(__file__)), "samples", "speech.wav"))
    net = inference.load_animator()
    listened = listening.listen_to(audio, net, hear=True)
    alone = inference.animate(audio, net, listened=listened)
    for seal in Ensemble.SEALS:
        twice = Ensemble([net, copy.deepcopy(net)], seal).eval()
        joined = inference.animate(audio, twice, listened=listened)
        np.testing.assert_allclose(joined.values, alone.values, atol=1e-4)
        assert joined.contacts == alone.contacts
    with pytest.raises(InputError, match="learned with other weights.*Learn Style from Take"):
        inference.animate(audio, twice, style=inference.resolve_style(net, "Neutral"), listened=listened)


def test_ensemble_tool_joins_recorded_runs_and_keeps_their_provenance(tmp_path):
    import json

    from talkface.training.ensemble import join

    for i in range(2):
        folder = tmp_path / f"run{i}"
        folder.mkdir()
        save_animator(random_model(i), str(folder / "animator.safetensors"))
        record_provenance("animator.safetensors", {"command": f"train seed {i}", "data": {"hours": 1}}, folder)
    out = tmp_path / "joined" / "animator.safetensors"
    entry = join([str(tmp_path / "run0" / "animator.safetensors"), str(tmp_path / "run1" / "animator.safetensors")],
                 str(out), ["--out", str(out), "run0", "run1"])
    recorded = json.loads((tmp_path / "joined" / "provenance.json").read_text())["animator.safetensors"]
    assert recorded["sha256"] == entry["sha256"] and [m["command"] for m in recorded["members"]] == \
        ["train seed 0", "train seed 1"]
    assert len(load_animator_file(str(weights_path("animator.safetensors", out.parent))).members) == 2
    (tmp_path / "run1" / "provenance.json").unlink()
    with pytest.raises(SystemExit, match="not recorded"):
        join([str(tmp_path / "run0" / "animator.safetensors"), str(tmp_path / "run1" / "animator.safetensors")],
             str(out))
