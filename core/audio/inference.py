"""Audio -> ``Animation`` with the trained animator: the inference side of the audio module.

Loads the shipped weights (checksum-verified), takes what ``core.audio.listening`` heard of the
audio (features at the network's frame rate, phone posteriors, the /p b m/ heard or aligned), runs
the network in overlapping chunks, mixes in the phones' mouth and seals the lips where they say,
turns the blink hazard into blinks, and returns every ARKit channel plus head-pose offsets.
Resampling to the scene's fps happens when keys are written.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, replace

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from scipy.ndimage import gaussian_filter1d

from ..animation import HEAD_CHANNELS, Animation
from ..errors import InputError, MissingWeightsError
from ..face.model import ARKIT_NAMES
from ..weights import weights_path
from . import motion, phones, visemes
from .features import FeatureConfig
from .listening import Listened, listen_to
from .loading import Audio
from .network import Animator, AnimatorConfig, Ensemble, run_chunked
from .recognition import Recognised

WEIGHTS_NAME = "animator.safetensors"

#: Added to the seal head's logit at inference: on voices it did not train on the head's "sealed"
#: probability at a /p b m/ often stays below one half, so the lips stop a few millimetres apart.
#: Chosen on the espeak held-out voices only: the largest bias that keeps gap r >= 0.80 there
#: (closure / r: 0 -> 96.9 % / 0.806, 1.5 -> 97.1 % / 0.805, 3 -> 97.6 % / 0.797, with the phone
#: recogniser; weights/provenance.json, lipsync_tuning).
SEAL_BIAS = 1.5

#: The default share of the mouth and jaw that the take's phones give through the viseme model the
#: network's targets come from (the network gives the rest): a transcript's phones name each sound
#: where the network, on a voice it never heard, hesitates between shapes and lands between them.
#: With the text this brought the take nearer its phones on every set measured (gap r on espeak-ng's
#: held-out voices 0.818 -> 0.838, flite 0.857 -> 0.901, mouth L1 down by a quarter or more, no
#: closure lost). The phones a recogniser *heard* (no text) are guesses, in English: they helped on
#: English voices (dev recordings r 0.78 -> 0.81) and hurt on other languages and espeak-ng's
#: accents (0.534 -> 0.509, 0.744 -> 0.694), so those drive the mouth only when asked
#: (``heard_phone_mouth``), Whisper's words excepted (``MOUTH_FROM_WORDS_OF``). Both by rules written
#: before measuring (weights/provenance.json, ``phone_mouth_2026_12_05``).
PHONE_MOUTH = 0.5
#: Recognisers whose words give ``PHONE_MOUTH`` of the mouth unasked, only where the mouth is open
#: (``mix_phone_mouth``'s guessed phones): Whisper's words, since 2026-12-06 (gap r on the real
#: dev recordings 0.787 -> 0.833 and 0.767 -> 0.789, espeak-ng's held-out voices 0.788 -> 0.787,
#: no closure lost or false seal added; weights/provenance.json, ``open_only_heard_mouth_rule_2026_12_06d``).
#: PocketSphinx's words and the phone loop's phones stay opt-in (``heard_phone_mouth``).
MOUTH_FROM_WORDS_OF = ("whisper",)
#: Mouth opening (jawOpen - mouthClose + the most open lip-parting channel) at or under which a run
#: of the network's frames counts as a closure it meant: with a transcript's phone mouth, its most
#: closed frame takes the sealed form, so the phones' share does not pull it open; phones heard give
#: no share at or under it (``open_only_share``).
NEAR_SEALED = 0.15

BLINK_PER_MINUTE = 17.0
BLINK_REFRACTORY_S = 1.2
BLINK_SHAPE_S = (0.06, 0.03, 0.11)  # close, hold, open


@dataclass(frozen=True)
class Style:
    """Either a trained style's index or a free style code (e.g. extracted from a clip)."""

    name: str
    index: int | None = None
    code: np.ndarray | None = None


def save_animator(model: Animator | Ensemble, path: str) -> None:
    """One network, or an ensemble's members (tensors 'members.I.NAME'; metadata 'members', their
    count, and 'seal', how their seals combine), with the configuration they share."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"config": model.cfg.to_json(), "format": "talkface-animator-1"}
    if isinstance(model, Ensemble):
        meta.update(members=str(len(model.members)), seal=model.seal)
    save_file(tensors, path, metadata=meta)


def load_animator_file(path: str, device="cpu") -> Animator | Ensemble:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as fh:
        meta = fh.metadata() or {}
    if meta.get("format") != "talkface-animator-1":
        raise MissingWeightsError(f"{path} is not a TalkFace animator weights file")
    cfg = AnimatorConfig.from_json(meta["config"])
    members = int(meta.get("members", "1"))
    if members == 1:
        model = Animator(cfg)
    else:
        model = Ensemble([Animator(cfg) for _ in range(members)], meta.get("seal", "mean"))
    model.load_state_dict(load_file(path, device="cpu"))
    return model.to(device).eval()


@functools.lru_cache(maxsize=2)
def load_animator(weights_dir: str | None = None, device: str = "cpu") -> Animator:
    return load_animator_file(str(weights_path(WEIGHTS_NAME, weights_dir)), device)


def style_names(model: Animator) -> tuple[str, ...]:
    """Presets shown to users; any training speaker's name is accepted too."""
    names = tuple(model.cfg.preset_names)
    return names if "Neutral" in names else ("Neutral",) + names


def resolve_style(model: Animator, name: str) -> torch.Tensor:
    """A preset or training-speaker name -> style code. 'Neutral' is the mean style."""
    table = model.style_table().detach()
    if name in model.cfg.preset_names:
        return model.presets[model.cfg.preset_names.index(name)]
    if name in ("", "Neutral"):
        return table.mean(0)
    if name not in model.cfg.styles:
        raise InputError(f"Unknown style '{name}': choose one of {', '.join(style_names(model))}")
    return table[model.cfg.styles.index(name)]


def extract_style(model: Animator, features: np.ndarray, targets: dict[str, np.ndarray],
                  steps: int = 150) -> torch.Tensor:
    """A style code for a reference clip: the code under which the frozen network best
    reproduces the clip's own animation (``targets``: 'mouth' / 'brows' / 'pose' arrays)."""
    code = model.style_table().detach().mean(0).clone().requires_grad_(True)
    opt = torch.optim.Adam([code], lr=0.05)
    x = torch.as_tensor(features, dtype=torch.float32)[None]
    tgt = {k: torch.as_tensor(v, dtype=torch.float32)[None] for k, v in targets.items()}
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        for _ in range(steps):
            out = model(x, code)
            loss = sum(torch.abs(out[k] - v).mean() / (model.pose_scale.mean() if k == "pose" else 1.0)
                       for k, v in tgt.items())
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return code.detach()


def sample_blinks(hazard_logit: np.ndarray, fps: float, seed: int = 0) -> np.ndarray:
    """Blink weight curve from the network's per-frame blink hazard.

    The hazard sets *when* blinks are likely (pauses, phrase ends), a natural rate sets *how
    many*: a seeded Poisson count of onsets drawn from the hazard as a density, thinned by a
    refractory period, so the same audio always gives the same blinks.
    """
    n = len(hazard_logit)
    logit = np.asarray(hazard_logit, np.float64)
    p = np.exp(logit - logit.max()) if n else logit  # odds: a rare-event hazard's natural scale
    rng = np.random.default_rng(seed)
    count = rng.poisson(BLINK_PER_MINUTE * n / fps / 60.0)
    candidates = np.sort(rng.choice(n, size=count, p=p / p.sum())) if count and n else []
    onsets, last = [], -1e9
    for i in candidates:  # a few dozen per minute: the refractory pass is cheap
        if (i - last) / fps >= BLINK_REFRACTORY_S:
            onsets.append(i)
            last = i
    close, hold, open_ = (s * fps for s in BLINK_SHAPE_S)
    curve = np.zeros(n)
    if not onsets:
        return curve
    # each blink touches only a few frames: build them locally (memory flat in audio length)
    t = np.arange(int(np.ceil(close + hold + open_)) + 1, dtype=np.float64)
    shape = np.where(t < close, t / close,
                     np.where(t < close + hold, 1.0, np.clip(1.0 - (t - close - hold) / open_, 0.0, 1.0)))
    index = np.asarray(onsets)[:, None] + np.arange(len(t))[None, :]
    inside = index < n
    np.maximum.at(curve, index[inside], np.broadcast_to(shape, index.shape)[inside])
    return curve


def _network_input(model: Animator, listened: Listened, heard: list | None) -> np.ndarray:
    cfg = model.cfg
    feats, posteriors = listened.features, listened.posteriors
    if cfg.phone_evidence:
        if heard is None:
            raise MissingWeightsError("These animator weights read the phone recogniser's phones, "
                                      "which needs the 'pocketsphinx' package")
        timed = [phones.Phone(p.upper(), s, e) for p, s, e in heard]
        feats = np.concatenate([feats, phones.phone_evidence(timed, len(feats), cfg.fps)], 1)
    if posteriors is not None:
        feats = np.concatenate([feats, posteriors], 1)
    if feats.shape[1] != cfg.n_features:
        raise MissingWeightsError(
            f"The animator weights expect {cfg.n_features} '{cfg.feature_kind}' features per frame "
            f"but {feats.shape[1]} were computed: the weights file does not match this version"
        )
    return feats


def features_for(audio: Audio, model: Animator, timed_phones: list | None = None) -> np.ndarray:
    """The features the network was trained on, at its frame rate: spectral and prosodic
    features, then (for weights trained with it) the phone evidence of ``core.audio.phones`` --
    from ``timed_phones`` (ARPAbet, start_s, end_s; a transcript's alignment) when given, else
    from the phone recogniser -- or the phone posteriors of ``core.audio.senones``."""
    need_phones = model.cfg.phone_evidence and timed_phones is None
    heard = listen_to(audio, model, hear=need_phones)
    return _network_input(model, heard, heard.heard if need_phones else timed_phones)


CHANNELS = tuple(ARKIT_NAMES) + HEAD_CHANNELS
_COLUMN = {c: i for i, c in enumerate(CHANNELS)}
_MOUTH = [i for i, c in enumerate(CHANNELS) if c.startswith(("jaw", "mouth"))]   # what a phone mouth blends


def outputs_to_values(model: Animator, out: dict[str, np.ndarray]) -> np.ndarray:
    """Network outputs -> values [F, CHANNELS] (every ARKit weight, then head offsets).

    Blinks are left at 0: they are sampled from the hazard separately.
    """
    cfg = model.cfg
    col = _COLUMN
    values = np.zeros((len(out["mouth"]), len(CHANNELS)), np.float32)
    values[:, [col[c] for c in cfg.mouth_channels]] = out["mouth"]
    values[:, [col[c] for c in cfg.brow_channels]] = out["brows"]
    values[:, [col[c] for c in HEAD_CHANNELS]] = out["pose"]
    _close_within_jaw(values)
    return values


def _close_within_jaw(values: np.ndarray) -> None:
    """ARKit's mouthClose only makes sense on top of jawOpen (alone it pushes the lips through each
    other): ``values``' mouthClose held at most its jawOpen, in place, whatever made them."""
    jaw, close = _COLUMN["jawOpen"], _COLUMN["mouthClose"]
    values[:, close] = np.minimum(values[:, close], values[:, jaw])


def _opening(model: Animator, values: np.ndarray) -> np.ndarray:
    """How far the lips are from their sealed form, per frame (weight units; 0: sealed)."""
    parting = [_COLUMN[c] for c in model.cfg.seal_open_channels]
    opening = np.maximum(values[:, _COLUMN["jawOpen"]] - values[:, _COLUMN["mouthClose"]], 0.0)
    return opening + values[:, parting].max(axis=1) if parting else opening


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) of each run of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.r_[False, mask, False].astype(np.int8)))
    return edges[0::2], edges[1::2]


def _seal(model: Animator, values: np.ndarray, frames) -> None:
    """``values`` at ``frames`` take the sealed form: lips closed over the jaw, parting channels at 0."""
    values[frames, _COLUMN["mouthClose"]] = values[frames, _COLUMN["jawOpen"]]
    for c in model.cfg.seal_open_channels:
        values[frames, _COLUMN[c]] = 0.0


def mix_phone_mouth(model: Animator, values: np.ndarray, timed_phones: list, fps: float,
                    share: float, guessed: bool = False) -> np.ndarray:
    """``values`` with ``share`` of every mouth and jaw channel from the viseme model driven by
    ``timed_phones`` (ARPAbet, start_s, end_s: a transcript's, or what a recogniser heard) and the
    rest from the network.

    A transcript's phones (``guessed`` False) mix everywhere; each run of the network's frames at
    or under ``NEAR_SEALED`` keeps a sealed frame (its most closed one) where the text lets the lips
    close (``closed_lips_allowed``), so the closures the network made stay made.

    Phones a recogniser heard (``guessed``) are guesses: they shape the mouth only where it is open
    both in the network's take and in the phones' (``open_only_share``), so every closure and
    near-closure is the network's own, none opened by a misheard vowel and none made by a misheard
    /m/ or pause (the seals of the heard /p b m/ come after, from ``seal_lips``)."""
    if share <= 0.0 or not timed_phones:
        return values
    out = values.copy()
    shapes = visemes.mouth_weights(visemes.arpabet_events(timed_phones), fps, len(values))
    opening = _opening(model, values)
    w = open_only_share(opening, _opening(model, shapes), share)[:, None] if guessed else share
    out[:, _MOUTH] = (1.0 - w) * values[:, _MOUTH] + w * shapes[:, _MOUTH]
    _close_within_jaw(out)
    if guessed:
        return out
    may_close = closed_lips_allowed(timed_phones, fps, len(opening))
    kept = np.zeros(len(opening), bool)
    kept[[a + int(np.argmin(opening[a:b])) for a, b in zip(*_runs(opening <= NEAR_SEALED))
          if may_close[a:b].any()]] = True
    _seal(model, out, kept)
    return out


def open_only_share(network_opening: np.ndarray, phones_opening: np.ndarray, share: float) -> np.ndarray:
    """Per frame, the share of the mouth heard phones give: none where either mouth is at or under
    ``NEAR_SEALED`` open, all of ``share`` from twice that, a ramp between (no step where the mix
    starts)."""
    open_both = np.minimum(network_opening, phones_opening)
    return share * np.clip((open_both - NEAR_SEALED) / NEAR_SEALED, 0.0, 1.0)


#: Seconds either side of an aligned /p b m/ where a closure the network made is kept with a
#: transcript (``closed_lips_allowed``): in degraded audio the aligner can place a /b/ a frame or
#: two before the lips meet.
TEXT_CLOSURE_SLACK_S = 0.06


def closed_lips_allowed(timed_phones: list, fps: float, n: int) -> np.ndarray:
    """Per frame (``n`` at ``fps``): whether the phones let the lips be closed there, on a /p b m/
    (``TEXT_CLOSURE_SLACK_S`` wider each side) or a pause. With a transcript a closure the network
    made anywhere else is on a sound the text says keeps the lips apart (/n t l/, /f/, a vowel), and
    is not kept."""
    mask = np.zeros(n, bool)
    for phone, start, end in timed_phones:
        kind = phones.phone_class(phone)
        if kind in ("bilabial", "silence"):
            slack = TEXT_CLOSURE_SLACK_S if kind == "bilabial" else 0.0
            a = max(int(np.floor((start - slack) * fps)), 0)
            mask[a:max(int(np.ceil((end + slack) * fps)), a + 1)] = True
    return mask


def smooth_keeping_closures(model: Animator, values: np.ndarray, fps: float, sigma_s: float) -> np.ndarray:
    """``values`` [F, CHANNELS] smoothed over time by a Gaussian of ``sigma_s`` seconds (ends held),
    mouthClose kept at most jawOpen, and every frame whose lips were sealed still sealed: smoothing
    calms the motion without parting a closure. ``sigma_s`` <= 0: unchanged."""
    if sigma_s <= 0.0 or len(values) < 2:
        return values
    out = gaussian_filter1d(values, sigma_s * fps, axis=0, mode="nearest")
    _close_within_jaw(out)
    _seal(model, out, _opening(model, values) <= SEALED)
    return out


def smooth_take(model: Animator, anim: Animation, seconds: float) -> Animation:
    """The user's Smoothing (a time constant in seconds, any fps) of every channel of a finished take
    (``smooth_keeping_closures``): the lips stay sealed wherever they were, so smoothing never loses
    a /p b m/ (plain Gaussian smoothing of 40 ms lost half the sample line's closures), and the
    take's lip contacts are counted again."""
    if seconds <= 0.0:
        return anim
    if anim.channels != CHANNELS:
        raise ValueError("smooth_take needs a take's channels (inference.CHANNELS)")
    values = smooth_keeping_closures(model, anim.values, anim.fps, seconds)
    return replace(anim, values=values, contacts=lip_contacts(model, values, anim.fps))


def seal_lips(model: Animator, values: np.ndarray, timed_phones: list, fps: float) -> np.ndarray:
    """Where a transcript's alignment says /p b m/, the mouth takes its sealed form on every frame
    the phone overlaps (at least one): lips closed over the network's jaw (mouthClose = jawOpen)
    and the channels that part the lips at 0, as the seal head does when it is sure."""
    out = values.copy()
    for phone, start, end in timed_phones:
        if phones.phone_class(phone) != "bilabial":
            continue
        a = min(int(np.floor(start * fps + 0.5)), len(out) - 1)
        b = max(int(np.ceil(end * fps - 0.5)), a + 1)
        _seal(model, out, slice(a, b))
    return out


def animate(audio: Audio, model: Animator, style: str | torch.Tensor = "Neutral",
            seed: int = 0, timed_phones: list | None = None, listen: bool = True,
            listened: Listened | None = None, recognised: Recognised | None = None, progress=None,
            phone_mouth: float = PHONE_MOUTH, heard_phone_mouth: bool = False) -> Animation:
    """Speech -> every ARKit channel (unused ones stay 0) + head offsets at the network fps.

    The lips seal on every /p b m/ of ``timed_phones`` -- a transcript aligned to this audio
    (``core.audio.alignment``) -- or, without one and with ``listen``, on every one a recogniser
    trained on real speech hears (``core.audio.phone_loop``'s closures): the network learned its closures from
    synthetic voices and misses many in others; the recogniser, trained on people, hears them.
    Weights trained with phone evidence also read those phones as input; weights trained with
    phone posteriors read those (``core.audio.senones``): the phone loop (``core.audio.phone_loop``)
    decodes the same scores. ``listened``: this audio's ``Listened``, already computed
    (``align_and_listen``, ``recognise_and_listen``). ``recognised``: the words recognised in this
    audio (``core.audio.recognition``, the 'words' listening mode): without a transcript the lips
    also seal on their phones' /p b m/. ``phone_mouth`` of the mouth comes from the transcript's
    phones (``mix_phone_mouth``); without one, from the recognised words' phones when a recogniser
    of ``MOUTH_FROM_WORDS_OF`` heard them (``Recognised.source``), else with ``heard_phone_mouth``
    from the phones heard (the recognised words', else the phone loop's); heard phones shape the
    mouth only where it is open.
    ``progress``: ``listen_to``'s, when it listens here."""
    cfg = model.cfg
    need_phones = timed_phones is None and (listen or cfg.phone_evidence)
    if listened is None or (need_phones and listened.heard is None):
        listened = listen_to(audio, model, hear=need_phones, progress=progress)
    feats = _network_input(model, listened, listened.heard if timed_phones is None else timed_phones)
    cues = timed_phones if timed_phones is not None else listened.closures if listen else None
    words = recognised.phones if recognised is not None else None
    if timed_phones is None and words is not None:
        cues = list(cues or []) + [p for p in words if phones.phone_class(p[0]) == "bilabial"]
    code = style if isinstance(style, torch.Tensor) else resolve_style(model, style)
    if code.shape[-1] != model.style_dim:
        raise InputError(f"The learned style has {code.shape[-1]} numbers but these animator weights take "
                         f"{model.style_dim}: it was learned with other weights. Run 'Learn Style from Take' again")
    model.seal_bias = SEAL_BIAS
    out = run_chunked(model, feats, code.to(model.feat_mean.device))
    values = outputs_to_values(model, out)
    said = timed_phones
    if said is None and recognised is not None and recognised.source in MOUTH_FROM_WORDS_OF:
        said = words
    elif said is None and heard_phone_mouth and listen:
        said = words if words is not None else listened.heard
    spoken = said is not None and any(phones.phone_class(p) != "silence" for p, _, _ in said)
    share = phone_mouth if spoken else 0.0
    values = mix_phone_mouth(model, values, said, cfg.fps, share, guessed=timed_phones is None)
    if cues is not None:
        values = seal_lips(model, values, cues, cfg.fps)
    blink = sample_blinks(out["blink_logit"][:, 0], cfg.fps, seed)
    values[:, [CHANNELS.index("eyeBlinkLeft"), CHANNELS.index("eyeBlinkRight")]] = blink[:, None]
    values[:, [_COLUMN[c] for c in HEAD_CHANNELS]] += sway_for(feats, cfg, seed)
    return Animation(cfg.fps, CHANNELS, values, notes=speech_notes(feats, cfg, audio),
                     contacts=lip_contacts(model, values, cfg.fps), phone_mouth=share)


SEALED = 0.05     # weight units: lips this near their sealed form count as closed


def lip_contacts(model: Animator, values: np.ndarray, fps: float) -> tuple[float, ...]:
    """The middle (seconds) of each run of frames whose lips are sealed (mouthClose up to jawOpen,
    the lip-parting channels at rest): the poses a scene at another frame rate must still hit."""
    starts, ends = _runs(_opening(model, values) <= SEALED)
    return tuple(float((s + e - 1) / 2 / fps) for s, e in zip(starts, ends))


ACTIVE_DB = 30.0          # frames within this of the loudest count as sound (not silence)
MIN_VOICED_SHARE = 0.15   # speech is voiced on roughly half its sounding frames; noise almost never


def _voicing_energy(feats: np.ndarray, cfg) -> tuple[np.ndarray, np.ndarray]:
    """The voicing and log-energy columns of the network's features."""
    names = FeatureConfig(kind=cfg.feature_kind, fps=cfg.fps).names
    return feats[:, names.index("voicing")], feats[:, names.index("log_energy")]


def speech_notes(feats: np.ndarray, cfg, audio: Audio) -> tuple[str, ...]:
    """A warning when the recording hardly sounds like speech: of its sounding frames, too few are
    voiced (noise, hum, wind; music with a steady pitch is not caught). The take is still made."""
    voicing, energy = _voicing_energy(feats, cfg)
    if len(energy) == 0:
        return ()
    active = energy > energy.max() - ACTIVE_DB / 10.0 * np.log(10.0)
    if active.sum() < cfg.fps:            # under a second of sound: nothing to judge
        return ()
    share = float((voicing[active] > 0.45).mean())
    if share >= MIN_VOICED_SHARE:
        return ()
    name = f"'{os.path.basename(audio.path)}'" if audio.path else "the recording"
    return (f"{name} hardly sounds like speech (only {100 * share:.0f} % of its sound is voiced): noise or "
            "music animates poorly",)


def sway_for(feats: np.ndarray, cfg, seed: int) -> np.ndarray:
    """[F, 6] head sway (``core.audio.motion``) on the clock of these features' speech activity:
    the network predicts the nods, this adds the few degrees of turning and tilting people do
    that no audio determines. Seeded apart from the blinks."""
    voicing, energy = _voicing_energy(feats, cfg)
    return motion.head_sway(motion.speech_clock(voicing, energy, cfg.fps), np.random.default_rng([seed, 1]))
