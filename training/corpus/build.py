"""Training corpus for the audio-to-animation network: synthetic speech with exact targets.

Each utterance is spoken by espeak-ng (accent x variant = one speaker; random rate, pitch,
range), so phoneme timing is exact. Besides the stock variants, made-up training voices (random
variant files: vocal-tract length, formants, tone, consonant loudness, Klatt...) can be added. Targets come from those phonemes (mouth, via visemes) and
from the clean audio's prosody (brows, head, blinks); features come from a randomly *degraded*
copy (noise, room reverb, gain, band-limiting, low sample rates, codec-like quantisation,
clipping) so the network meets real microphones in training. Whole speakers, and every
speaker of some accents and variants, are kept out of training for evaluation.

The corpus is regenerated, never committed:  python -m talkface.training.corpus.build --out DIR --hours H --seed S
(README "Training" has the shipped network's exact commands).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.signal

from ...core.audio.features import FeatureConfig, compute_features, frame_count, mfcc_from_logmel
from ...core.audio.loading import DEFAULT_SR, from_array, resample
from ...core.audio.visemes import CHANNELS, arpabet_events, mouth_weights
from . import espeak
from .prosody import ProsodyStyle, prosody_targets

# --- speakers ----------------------------------------------------------------------------------

ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc", "en-gb-scotland")
VARIANTS = ("m1", "m2", "m3", "m4", "m6", "m7", "f1", "f2", "f3", "f5", "klatt", "klatt2", "Annie", "belinda",
            "linda", "michael", "shelby", "travis", "quincy", "robert", "aunty", "edward", "norbert", "alicia",
            "grandma", "grandpa", "adam", "caleb", "m5", "f4", "steph", "david")
HELD_OUT_ACCENTS = ("en-gb-scotland",)
HELD_OUT_VARIANTS = ("m5", "f4", "steph", "david")


RANDOM_VARIANT_PREFIX = "tfv"      # made-up training voices (random_variant); never held out


def random_variant(name: str, rng: np.random.Generator) -> str:
    """An espeak-ng variant file for a made-up voice: vocal-tract length (all formants scaled
    together, then jittered), pitch, spectral tilt and high/low cuts ('tone'), consonant loudness,
    Klatt or default synthesis, breathiness, jitter and echo, drawn independently.

    The stock variants are few and share parameter clusters; a network trained on them alone
    closed the lips on 98 % of /p b m/ in training voices but on far fewer in unseen ones with
    quiet consonants or very low formants. Random voices make the speaker itself a nuisance
    variable, as random room impulses do for the room.
    """
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    tract = u(0.78, 1.22)                                           # < 1: longer tract, lower formants
    base = int(u(55, 230))
    lines = ["language variant", f"name {name}", f"gender {'female' if base > 140 else 'male'}",
             f"pitch {base} {base + int(u(15, 100))}"]
    for k in range(9):
        freq = tract * u(0.93, 1.07) if k <= 5 else u(0.9, 1.1)
        lines.append(f"formant {k} {int(100 * freq)} {int(u(60, 150) if k < 4 else u(30, 120))} {int(u(60, 150))}")
    if rng.uniform() < 0.6:                                         # piecewise-linear EQ (Hz, gain 0-255)
        freqs = np.sort(rng.uniform(100, 5000, int(rng.integers(3, 6)))).astype(int)
        gains = rng.uniform(10, 255, len(freqs)).astype(int)
        lines.append("tone " + " ".join(f"{f} {g}" for f, g in zip(freqs, gains)))
    if rng.uniform() < 0.8:
        lines.append(f"consonants {int(u(35, 150))} {int(u(35, 150))}")
    if rng.uniform() < 0.4:
        lines.append(f"klatt {int(rng.integers(1, 7))}")
    if rng.uniform() < 0.25:
        lines.append("breath " + " ".join(str(int(u(0, 12))) for _ in range(8)))
    if rng.uniform() < 0.5:
        lines.append(f"voicing {int(u(30, 160))}")
    lines.append(f"flutter {int(u(0, 20))}")
    lines.append(f"roughness {int(u(0, 5))}")
    if rng.uniform() < 0.25:
        lines.append(f"echo {int(u(20, 150))} {int(u(5, 35))}")
    return "\n".join(lines) + "\n"


def random_speakers(count: int, seed: int) -> dict[tuple[str, str], str]:
    """``count`` made-up training speakers: (training accent, variant name) -> variant file text."""
    rng = np.random.default_rng([seed, 0x7F5])
    accents = [a for a in ACCENTS if a not in HELD_OUT_ACCENTS]
    out = {}
    for i in range(count):
        name = f"{RANDOM_VARIANT_PREFIX}{i:03d}"
        out[(accents[int(rng.integers(len(accents)))], name)] = random_variant(name, rng)
    return out


def speaker_name(accent: str, variant: str) -> str:
    return f"{accent}+{variant}"


def split_of(accent: str, variant: str) -> str:
    """A speaker is held out if its accent *or* its variant is: neither is ever heard in training."""
    return "heldout" if accent in HELD_OUT_ACCENTS or variant in HELD_OUT_VARIANTS else "train"


def speakers(split: str) -> list[tuple[str, str]]:
    return [(a, v) for a in ACCENTS for v in VARIANTS if split_of(a, v) == split]


def _stable_rng(*key: str) -> np.random.Generator:
    digest = hashlib.sha256("|".join(key).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


@dataclass(frozen=True)
class SpeakerStyle:
    """Per-speaker habits, fixed by the speaker's name so one speaker is one style."""

    articulation: float
    prosody: ProsodyStyle


def speaker_style(name: str) -> SpeakerStyle:
    r = _stable_rng("style", name)
    return SpeakerStyle(
        articulation=float(r.uniform(0.8, 1.2)),
        prosody=ProsodyStyle(brow_gain=float(r.uniform(0.5, 1.4)), head_gain=float(r.uniform(0.5, 1.5)),
                             nod_gain=float(r.uniform(0.5, 1.5)), blink_rate_per_min=float(r.uniform(14, 21)),
                             boundary_blink_p=float(r.uniform(0.3, 0.7))),
    )


# --- sentences ---------------------------------------------------------------------------------

_SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please bring me the big blue book from the top shelf.",
    "We were very happy to move five boxes before lunch.",
    "My mother made warm bread with butter and jam.",
    "Which way is the museum from the bus stop?",
    "Few people visit the old farm in the valley anymore.",
    "She sells sea shells by the sea shore every summer.",
    "Could you tell me why the phone keeps ringing at night?",
    "Thank you so much for coming all this way!",
    "The weather will be cool and windy, with showers in the morning.",
    "Honestly, I think we should wait until Monday.",
    "Put the cup on the table, and mind the step by the door.",
    "Bob bought a map of Boston, but he never used it.",
    "Peter Piper picked a peck of pickled peppers.",
    "Seven violins were playing beautiful music in the park.",
    "Is it true that the bridge will be closed for a month?",
    "Every evening we walk the dog along the river.",
    "Our new office is on the fourth floor, near the lifts.",
    "Measure twice, cut once, and you will rarely be wrong.",
    "I can't believe how fast the summer went by.",
    "Look at those huge waves breaking on the rocks!",
    "The children laughed and played until the sun went down.",
    "Remember to switch off the lights when you leave.",
    "What a wonderful surprise to see you here.",
    "Nobody knew where the missing keys had gone.",
    "Vivid purple flowers grew beside the wooden fence.",
    "How much would it cost to fix the roof?",
    "The meeting starts at half past nine, so please be on time.",
    "Thirty three thousand people watched the final match.",
    "Maybe we could have fish and chips for dinner.",
)
_NAMES = ("Anna", "Ben", "Maria", "Tom", "Sophie", "James", "Olivia", "Peter", "Fatima", "Victor", "Emma", "Mike")
_ADJ = ("big", "small", "bright", "quiet", "heavy", "soft", "brave", "famous", "purple", "wooden", "modern",
        "lovely", "busy", "empty", "frozen", "thick", "smooth", "ancient", "muddy", "fresh")
_NOUN = ("boat", "garden", "window", "bottle", "mountain", "village", "piano", "blanket", "museum", "forest",
         "bicycle", "feather", "mirror", "pebble", "orchestra", "market", "umbrella", "puzzle", "voice", "cloud")
_VERB = ("found", "painted", "moved", "opened", "watched", "visited", "carried", "cleaned", "followed", "built",
         "borrowed", "photographed", "measured", "fixed", "pushed", "remembered")
_PLACE = ("near the harbour", "behind the school", "in the morning", "after the storm", "by the fireplace",
          "on Friday evening", "under the bridge", "at the very top", "beside the old mill", "in the kitchen")
_TEMPLATES = (
    "{name} {verb} the {adj} {noun} {place}.",
    "Have you seen the {adj} {noun} that {name} {verb}?",
    "Why would anyone want a {adj} {noun} {place}?",
    "Wow, the {noun} was so {adj}!",
    "{name} and {name2} {verb} a {adj} {noun}, then they went home.",
    "If the {noun} is {adj}, we will need another one {place}.",
    "I think {name} {verb} it, but I am not completely sure.",
    "The {adj} {noun}, the {adj2} {noun2}, and the {noun3} were all {place}.",
    "Oh no, please don't drop the {noun}!",
    "Number {num} is the {adj} {noun} {place}.",
)


def make_sentence(rng: np.random.Generator) -> str:
    """One to three sentences: fixed phonetically rich ones mixed with template ones."""
    parts = []
    for _ in range(int(rng.integers(1, 4))):
        if rng.uniform() < 0.4:
            parts.append(_SENTENCES[int(rng.integers(len(_SENTENCES)))])
            continue
        pick = lambda xs: xs[int(rng.integers(len(xs)))]  # noqa: E731
        parts.append(pick(_TEMPLATES).format(
            name=pick(_NAMES), name2=pick(_NAMES), adj=pick(_ADJ), adj2=pick(_ADJ), noun=pick(_NOUN),
            noun2=pick(_NOUN), noun3=pick(_NOUN), verb=pick(_VERB), place=pick(_PLACE),
            num=int(rng.integers(2, 100))))
    return " ".join(parts)


# --- augmentation --------------------------------------------------------------------------------

def room_impulse(rng: np.random.Generator, sr: int, rt60: float) -> np.ndarray:
    """Direct path + sparse early reflections + exponentially decaying diffuse tail (-60 dB at rt60)."""
    n = int(sr * rt60 * 1.2) + 1
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)
    tail[: int(0.003 * sr)] = 0.0                               # tail starts after the first reflections
    ir = 0.4 * tail / (np.sqrt(np.sum(tail ** 2)) + 1e-9)
    for _ in range(int(rng.integers(3, 8))):
        k = int(rng.uniform(0.002, 0.03) * sr)
        ir[k] += rng.uniform(-0.5, 0.5)
    ir[0] = 1.0
    return (ir / np.sqrt(np.sum(ir ** 2))).astype(np.float32)


def add_noise(x: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """White, pink or brown noise at the given SNR (relative to the speech's active power)."""
    n = len(x)
    kind = rng.integers(3)
    noise = rng.standard_normal(n)
    if kind:
        spec = np.fft.rfft(noise)
        f = np.maximum(np.arange(len(spec)), 1.0)
        spec /= f ** (0.5 * kind)                               # 1/f (pink) or 1/f^2 (brown)
        noise = np.fft.irfft(spec, n)
    active = x[np.abs(x) > 0.05 * (np.abs(x).max() + 1e-9)]
    p_speech = np.mean(active ** 2) if active.size else 1e-6
    noise *= np.sqrt(p_speech / (10 ** (snr_db / 10)) / (np.mean(noise ** 2) + 1e-12))
    return (x + noise).astype(np.float32)


def mu_law(x: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    """G.711-like companding and quantisation, the typical telephone/VoIP codec artefact."""
    y = np.sign(x) * np.log1p(mu * np.minimum(np.abs(x), 1.0)) / np.log1p(mu)
    levels = 2 ** (bits - 1)
    y = np.round(y * levels) / levels
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


@dataclass(frozen=True)
class Augmentation:
    """What was done to one utterance (stored with it, so evaluation can slice by condition)."""

    gain_db: float = 0.0
    rt60: float = 0.0
    snr_db: float = float("inf")
    band: tuple[float, float] = (0.0, 0.0)
    via_rate: int = 0
    codec_bits: int = 0
    clip_at: float = 0.0


REVERB_P = 0.4   # share of degraded utterances given a room; the held-out split always uses it


def draw_augmentation(rng: np.random.Generator, clean_p: float = 0.2, reverb_p: float = REVERB_P) -> Augmentation:
    if rng.uniform() < clean_p:
        return Augmentation(gain_db=float(rng.uniform(-6, 6)))
    maybe = lambda p: rng.uniform() < p  # noqa: E731
    return Augmentation(
        gain_db=float(rng.uniform(-20, 8)),
        rt60=float(rng.uniform(0.15, 0.9)) if maybe(reverb_p) else 0.0,
        snr_db=float(rng.uniform(5, 40)) if maybe(0.5) else float("inf"),
        band=(float(rng.uniform(50, 350)), float(rng.uniform(3000, 7500))) if maybe(0.35) else (0.0, 0.0),
        via_rate=int(rng.choice([8000, 11025, 12000])) if maybe(0.25) else 0,
        codec_bits=int(rng.choice([8, 10])) if maybe(0.15) else 0,
        clip_at=float(rng.uniform(0.3, 0.8)) if maybe(0.1) else 0.0,
    )


def apply_augmentation(x: np.ndarray, sr: int, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    """Degrade 16 kHz speech; length and timing are preserved (zero-phase filters, causal IR at 0)."""
    y = x.astype(np.float32)
    if aug.rt60 > 0:
        y = scipy.signal.fftconvolve(y, room_impulse(rng, sr, aug.rt60))[: len(x)].astype(np.float32)
    if aug.band[1] > 0:
        lo, hi = aug.band
        sos = scipy.signal.butter(4, [lo, min(hi, 0.45 * sr)], btype="bandpass", fs=sr, output="sos")
        y = scipy.signal.sosfiltfilt(sos, y).astype(np.float32)
    if aug.via_rate:
        y = resample(resample(y, sr, aug.via_rate), aug.via_rate, sr)
        y = np.pad(y, (0, max(len(x) - len(y), 0)))[: len(x)]
    if np.isfinite(aug.snr_db):
        y = add_noise(y, rng, aug.snr_db)
    y = y * np.float32(10 ** (aug.gain_db / 20))
    if aug.codec_bits:
        y = mu_law(y, aug.codec_bits)
    if aug.clip_at > 0:
        y = np.clip(y / (np.abs(y).max() + 1e-9) / aug.clip_at, -1.0, 1.0) * 0.9   # hot clipped recording
    return np.clip(y, -1.0, 1.0).astype(np.float32)


# --- utterances and shards -------------------------------------------------------------------------

@dataclass
class Utterance:
    speaker: str
    accent: str
    variant: str
    text: str
    audio: np.ndarray            # augmented 16 kHz float32
    features: np.ndarray         # [F, D] from the augmented audio
    features_logmel: np.ndarray  # [F, D'] the alternative, same audio
    targets: np.ndarray          # [F, len(CHANNELS)]
    phonemes: list               # espeak.PhonemeEvent
    augmentation: Augmentation
    settings: dict = field(default_factory=dict)


def led(phonemes: list, lead_s: float) -> list:
    """espeak-ng's phoneme events ``lead_s`` seconds earlier (clamped at 0; an event that ends at
    0 is dropped), the same phonemes in the same order. espeak-ng's events run late against its
    own sound: its /p b/ lose their energy a median 23 ms before the event says the stop starts,
    and a real-speech aligner places its /p b m/ 10-35 ms before the events, where it places
    flite's within 5 ms of flite's own times (docs/lipsync.md, *espeak-ng's phone times run late
    against its sound*)."""
    if lead_s <= 0.0:
        return list(phonemes)
    out = []
    for p in phonemes:
        start, end = max(p.start - lead_s, 0.0), max(p.end - lead_s, 0.0)
        if end > start:
            out.append(replace(p, start=start, end=end))
    return out


def make_utterance(accent: str, variant: str, rng: np.random.Generator, fps: float,
                   reverb_p: float = REVERB_P, lead_s: float = 0.0) -> Utterance:
    """One espeak-ng utterance; its mouth targets (and stored phonemes) follow its phoneme events moved
    ``lead_s`` earlier (``led``); the prosody targets keep the events' times, so the random draws
    that depend on them are the same."""
    name = speaker_name(accent, variant)
    text = make_sentence(rng)
    settings = dict(rate=int(rng.integers(130, 260)), pitch=int(rng.integers(25, 76)),
                    pitch_range=int(rng.integers(30, 91)), word_gap=int(rng.choice([0, 0, 0, 1, 2, 4])))
    spoken = espeak.synthesize(text, name, **settings)
    clean = resample(spoken.samples, spoken.sample_rate, DEFAULT_SR)
    return _utterance(name, accent, variant, text, clean, spoken.phonemes, rng, fps, reverb_p, settings,
                      led(spoken.phonemes, lead_s))


#: Synthesis engines besides espeak-ng: ``training/corpus/ENGINE.py`` with
#: ``synthesize(text, voice) -> (16 kHz samples, [(ARPAbet phone, start_s, end_s)])``.
OTHER_ENGINES = ("flite", "piper", "kokoro")
#: Recordings of people: ``training/corpus/NAME.py`` with ``SPEAKER`` and ``aligned('train')
#: -> [(prompt with .name and .text, 16 kHz samples, [(ARPAbet phone, start_s, end_s)])]``;
#: their style is 'NAME-SPEAKER'.
#: 'asterisk-LANG' are Asterisk's prompts in other languages (``asterisk_languages``: phones by
#: espeak-ng, aligned by the real-speech model's scores).
RECORDINGS = ("asterisk", "asterisk-fr", "asterisk-it", "asterisk-ru", "asterisk-es")
#: how the recordings were stored: 'wav' the 8 kHz telephone files, 'g722' the wideband ones
#: (``fetch_asterisk.sh --g722``: same prompts, folders named FOLDER-g722)
RECORDING_CODECS = ("wav", "g722")


def recording_folder(folder: str, codec: str = "wav") -> str:
    """Where a recorded set's ``codec`` files are: ``folder`` itself for 'wav', else FOLDER-codec."""
    if codec not in RECORDING_CODECS:
        raise ValueError(f"unknown recording codec {codec!r}: choose from {', '.join(RECORDING_CODECS)}")
    return folder if codec == "wav" else f"{folder}-{codec}"


def sources_trained(manifest: dict) -> list[str]:
    """The engines and recorded sets whose speech a corpus's training split holds ('espeak',
    'flite', 'piper', 'asterisk', 'asterisk-fr' ...), from its manifest (a combined corpus: from
    its parts'). espeak-ng speaks every training utterance no other engine does, so it is absent
    only when ``engine_share`` is 1 (its silence clips carry espeak-ng speaker names all the same,
    which is why a style name alone cannot say)."""
    parts = manifest.get("parts") or {"": manifest}
    found: set[str] = set()
    for part in parts.values():
        engines = part.get("engines") or []
        if not engines or float(part.get("engine_share") or 0.0) < 1.0:
            found.add("espeak")
        found.update(engine.partition(":")[0] for engine in engines)
        found.update(part.get("recordings") or [])
    return sorted(found)


def source_of_style(style: str) -> str | None:
    """The engine or recorded set a training style name ('flite-awb', 'asterisk-allison',
    'asterisk-fr-june') comes from: the longest that prefixes it; None for espeak-ng's."""
    sources = [s for s in OTHER_ENGINES + RECORDINGS if style.startswith(f"{s}-")]
    return max(sources, key=len) if sources else None


def _recorded(recording: str, log, codec: str = "wav"):
    """(speaker, the training prompts aligned) of a recorded set, from its ``codec`` folder."""
    if recording.startswith("asterisk-"):
        from . import asterisk_languages
        language = recording.partition("-")[2]
        folder = recording_folder(asterisk_languages.folder_of(language), codec)
        return asterisk_languages.speaker(language), asterisk_languages.aligned(language, "train", folder, log=log)
    module = importlib.import_module(f".{recording}", __package__)
    return module.SPEAKER, module.aligned("train", recording_folder(module.FOLDER, codec), log=log)


def engine_speaker(engine_voice: str) -> tuple[str, str]:
    """'flite:awb' -> ('flite', 'awb'): the engine stands where espeak speakers have an accent."""
    engine, _, voice = engine_voice.partition(":")
    if engine not in OTHER_ENGINES or not voice:
        raise ValueError(f"unknown engine voice {engine_voice!r}: use ENGINE:VOICE with ENGINE one of "
                         f"{', '.join(OTHER_ENGINES)}")
    return engine, voice


def make_engine_utterance(engine: str, voice: str, rng: np.random.Generator, fps: float,
                          reverb_p: float = REVERB_P, speed: float = 0.0) -> Utterance:
    """An utterance in another engine's voice, with that engine's (or an aligner's) phone times.
    ``speed`` > 0: played at a speed drawn uniformly within 1 +- ``speed`` (``change_speed``), so an
    engine's few voices sound like many vocal tracts, as espeak-ng's made-up voices do."""
    module = importlib.import_module(f".{engine}", __package__)
    text = make_sentence(rng)
    samples, phones = module.synthesize(text, voice)
    settings = dict(engine=engine)
    if speed > 0:           # drawn only when asked for, so corpora built without it keep their random stream
        factor = float(rng.uniform(1.0 - speed, 1.0 + speed))
        samples, phones = change_speed(samples, phones, factor)
        settings["speed"] = round(factor, 4)
    return _utterance(f"{engine}-{voice}", engine, voice, text, samples, arpabet_events(phones), rng, fps,
                      reverb_p, settings)


def change_speed(samples: np.ndarray, phones: list, factor: float, sr: int = DEFAULT_SR):
    """``samples`` played ``factor`` times as fast (Kaldi's speed perturbation): duration / factor,
    pitch and every formant x factor, as a speaker with a shorter (factor > 1) or longer vocal
    tract who also speaks faster or slower; the phone times ((phone, start_s, end_s)) follow exactly."""
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, not {factor}")
    if abs(factor - 1.0) < 1e-9:
        return np.asarray(samples, np.float32), list(phones)
    # read as recorded at sr * factor and brought back to sr: len / factor samples
    rate = int(round(sr * factor))
    factor = rate / sr
    return resample(samples, rate, sr), [(phone, start / factor, end / factor) for phone, start, end in phones]


def check_speed(speed: float, what: str = "recording") -> float:
    """``speed`` if it is a usable ``--recording-speed`` or ``--engine-speed`` (0 <= speed < 0.5),
    else ValueError naming ``what``."""
    if not 0.0 <= speed < 0.5:
        raise ValueError(f"{what} speed change must be in [0, 0.5), not {speed}")
    return speed


def recorded_utterances(recording: str, copies: int, rng: np.random.Generator, fps: float,
                        reverb_p: float = REVERB_P, log=print, codec: str = "wav", speed: float = 0.0):
    """Each training prompt of a recorded set, ``copies`` times, each copy through its own drawn
    degradation (a copy may be clean): real speech is scarce, so it is heard in several rooms.
    ``speed`` > 0: every copy after the first is also played at its own speed, drawn uniformly
    within 1 +- ``speed`` (``change_speed``), so a few people sound like more people."""
    if recording not in RECORDINGS:
        raise ValueError(f"unknown recordings {recording!r}: choose from {', '.join(RECORDINGS)}")
    check_speed(speed)
    speaker, prompts = _recorded(recording, log, codec)
    for copy in range(copies):
        for prompt, samples, phones in prompts:
            # drawn only when asked for, so corpora built without it keep their random stream
            factor = float(rng.uniform(1.0 - speed, 1.0 + speed)) if speed > 0 and copy > 0 else 1.0
            samples, phones = change_speed(samples, phones, factor)
            settings = dict(recording=recording, codec=codec, prompt=prompt.name, copy=copy)
            if speed > 0:
                settings["speed"] = round(factor, 4)
            yield _utterance(f"{recording}-{speaker}", recording, speaker, prompt.text, samples,
                             arpabet_events(phones), rng, fps, reverb_p, settings)


def _utterance(name: str, accent: str, variant: str, text: str, clean: np.ndarray, phonemes: list,
               rng: np.random.Generator, fps: float, reverb_p: float, settings: dict,
               mouth_phonemes: list | None = None) -> Utterance:
    """Targets from the phone times and the clean audio's prosody; features from degraded audio.
    ``mouth_phonemes``: other times for the mouth (and the stored phonemes) than ``phonemes``, which
    still drive the prosody targets and so every random draw (``led``)."""
    style = speaker_style(name)
    clean = clean * np.float32(0.5 / (np.abs(clean).max() + 1e-9))           # some variants saturate
    n = frame_count(len(clean) / DEFAULT_SR, fps)
    prosody_in = compute_features(from_array(clean, DEFAULT_SR), FeatureConfig(fps=fps))
    mouth_phonemes = phonemes if mouth_phonemes is None else mouth_phonemes
    mouth = mouth_weights(mouth_phonemes, fps, n, articulation=style.articulation)
    targets, _ = prosody_targets(prosody_in.column("log_f0"), prosody_in.column("voicing"),
                                 prosody_in.column("log_energy"), phonemes, fps, rng, style.prosody)
    targets[:, : mouth.shape[1]] += mouth                                    # disjoint channels
    aug = draw_augmentation(rng, reverb_p=reverb_p)
    noisy = apply_augmentation(clean, DEFAULT_SR, aug, rng)
    audio = from_array(noisy, DEFAULT_SR)
    logmel = compute_features(audio, FeatureConfig(kind="logmel", fps=fps))
    feats = mfcc_from_logmel(logmel).values
    return Utterance(name, accent, variant, text, noisy, feats, logmel.values, targets.astype(np.float32),
                     mouth_phonemes, aug, settings)


def make_silence(accent: str, variant: str, rng: np.random.Generator, fps: float) -> Utterance:
    """No speech, only room/mic noise (or digital silence): the mouth must stay shut.

    Without these the network only ever sees silence as a short gap between words.
    """
    name = speaker_name(accent, variant)
    style = speaker_style(name)
    n_samples = int(rng.uniform(1.0, 4.0) * DEFAULT_SR)
    level = 0.0 if rng.uniform() < 0.3 else 10 ** rng.uniform(-4.5, -2.0)     # -90 .. -40 dBFS
    audio = add_noise(np.zeros(n_samples, np.float32), rng, 0.0) if level else np.zeros(n_samples, np.float32)
    if level:
        audio = (audio / (np.sqrt(np.mean(audio ** 2)) + 1e-12) * level).astype(np.float32)
    n = frame_count(n_samples / DEFAULT_SR, fps)
    pause = [espeak.PhonemeEvent("_", 0.0, n_samples / DEFAULT_SR)]
    zeros = np.zeros(n, np.float32)
    targets, _ = prosody_targets(zeros, zeros, np.full(n, -18.0, np.float32), pause, fps, rng, style.prosody)
    logmel = compute_features(from_array(audio, DEFAULT_SR), FeatureConfig(kind="logmel", fps=fps))
    return Utterance(name, accent, variant, "", audio, mfcc_from_logmel(logmel).values, logmel.values,
                     targets, pause, Augmentation(gain_db=20 * np.log10(level) if level else float("-inf")),
                     dict(silence=True))


def write_shard(path: Path, utts: list[Utterance], keep_audio: bool = True) -> None:
    """Concatenated arrays + offsets: one np.load gives every utterance of the shard."""
    frames = np.cumsum([0] + [len(u.targets) for u in utts])
    ph_counts = np.cumsum([0] + [len(u.phonemes) for u in utts])
    phon = [p for u in utts for p in u.phonemes]
    arrays = dict(
        features=np.concatenate([u.features for u in utts]),
        features_logmel=np.concatenate([u.features_logmel for u in utts]),
        targets=np.concatenate([u.targets for u in utts]),
        frame_offsets=frames.astype(np.int64),
        speaker=np.array([u.speaker for u in utts]), accent=np.array([u.accent for u in utts]),
        variant=np.array([u.variant for u in utts]), text=np.array([u.text for u in utts]),
        phoneme=np.array([p.phoneme for p in phon]), phoneme_start=np.array([p.start for p in phon], np.float32),
        phoneme_end=np.array([p.end for p in phon], np.float32), phoneme_stress=np.array([p.stress for p in phon], np.int8),
        phoneme_offsets=ph_counts.astype(np.int64),
        augmentation=np.array([json.dumps(asdict(u.augmentation)) for u in utts]),
        settings=np.array([json.dumps(u.settings) for u in utts]),
    )
    if keep_audio:
        arrays["audio"] = np.concatenate([np.round(u.audio * 32767).astype(np.int16) for u in utts])
        arrays["audio_offsets"] = np.cumsum([0] + [len(u.audio) for u in utts]).astype(np.int64)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def load_shard(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def generate(out: str | Path, hours: float, seed: int = 0, fps: float = 30.0, heldout_fraction: float = 0.1,
             shard_minutes: float = 10.0, keep_audio: bool = True, silence_fraction: float = 0.03,
             random_voices: int = 0, random_voice_share: float = 0.5, train_reverb_p: float = REVERB_P,
             heldout_from: str | Path | None = None, engines: tuple[str, ...] = (), engine_share: float = 0.0,
             recordings: tuple[str, ...] = (), recording_copies: int = 4, recording_codec: str = "wav",
             recording_speed: float = 0.0, engine_speed: float = 0.0, espeak_lead_ms: float = 0.0,
             log=print) -> dict:
    """Write train/ and heldout/ shards plus manifest.json under ``out``; returns the manifest.

    ``random_voices`` made-up speakers (random_variant) join the training pool and speak
    ``random_voice_share`` of the training utterances; the held-out split is unchanged by them.
    ``train_reverb_p``: share of degraded training utterances given a room (held out: REVERB_P).
    ``heldout_from``: another corpus whose held-out split this one links to instead of drawing
    its own, so two training corpora are measured on the very same utterances.
    ``engines`` ('flite:awb', 'piper:joe', ...) speak ``engine_share`` of the training utterances
    (never held-out ones: an engine is held out whole by leaving it out of ``engines``, and
    ``bench/lipsync.py --engine`` measures it).
    ``recordings`` ('asterisk'): recorded people's training prompts, each ``recording_copies``
    times with its own degradation, added to the training split after the drawn utterances (so
    ``hours=0`` writes a corpus of recordings only); never to the held-out split.
    ``recording_codec``: 'wav' (8 kHz telephone band) or 'g722' (the same prompts, wideband).
    ``recording_speed``: each copy after a prompt's first played at a speed within 1 +- this
    (``recorded_utterances``); 0 none.
    ``engine_speed``: each ``engines`` utterance played at a speed within 1 +- this
    (``make_engine_utterance``); 0 none.
    ``espeak_lead_ms``: the mouth targets of the espeak-ng utterances drawn here (both splits; a linked
    held-out split is as its corpus made it) follow espeak-ng's phoneme events this much earlier
    (``led``); 0 as the events say. The audio and every random draw are the same either way.

    Bit-exact for a seed only in a fresh process: libespeak-ng keeps hidden state between calls
    that shifts its output by a millisecond or two.
    """
    out = Path(out)
    check_speed(recording_speed)          # before any speech is made
    check_speed(engine_speed, "engine")
    if not 0.0 <= espeak_lead_ms <= 100.0:
        raise ValueError(f"espeak_lead_ms must be between 0 and 100 (got {espeak_lead_ms})")
    source = _heldout_source(Path(heldout_from), fps) if heldout_from else None
    if source:
        heldout_fraction = 0.0
    rng = np.random.default_rng(seed)
    pools = {s: speakers(s) for s in ("train", "heldout")}
    made_up = random_speakers(random_voices, seed)
    if made_up:
        espeak.use_variants({variant: text for (_, variant), text in made_up.items()})
    made_up_pool = list(made_up)
    engine_pool = [engine_speaker(e) for e in engines]
    for engine, voice in engine_pool:
        module = importlib.import_module(f".{engine}", __package__)
        if hasattr(module, "check_voice"):
            module.check_voice(voice)          # reserved voices are refused before any work
        if not module.available():
            raise SystemExit(f"engine {engine} is not installed: run scripts/setup.sh")
    buffers: dict[str, list[Utterance]] = {"train": [], "heldout": []}
    counts = {s: dict(shards=0, utterances=0, seconds=0.0, speakers=set()) for s in pools}
    target_s = hours * 3600.0
    total, started = 0.0, time.perf_counter()

    def flush(split: str) -> None:
        if not buffers[split]:
            return
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        write_shard(folder / f"shard_{counts[split]['shards']:05d}.npz", buffers[split], keep_audio)
        counts[split]["shards"] += 1
        buffers[split] = []

    def add(split: str, utt: Utterance) -> None:
        nonlocal total
        seconds = len(utt.audio) / DEFAULT_SR
        buffers[split].append(utt)
        c = counts[split]
        c["utterances"] += 1
        c["seconds"] += seconds
        c["speakers"].add(utt.speaker)
        total += seconds
        if sum(len(u.audio) for u in buffers[split]) / DEFAULT_SR >= shard_minutes * 60:
            flush(split)
            log(f"{total / 3600:.2f} h written ({total / (time.perf_counter() - started):.0f}x real time)")

    while total < target_s:
        # deficit-driven split: the held-out share tracks heldout_fraction even in a tiny corpus
        split = "heldout" if counts["heldout"]["seconds"] < heldout_fraction * total else "train"
        pool = made_up_pool if split == "train" and made_up_pool and rng.uniform() < random_voice_share \
            else pools[split]
        accent, variant = pool[int(rng.integers(len(pool)))]
        if rng.uniform() < silence_fraction:
            utt = make_silence(accent, variant, rng, fps)
        elif split == "train" and engine_pool and rng.uniform() < engine_share:
            engine, voice = engine_pool[int(rng.integers(len(engine_pool)))]
            utt = make_engine_utterance(engine, voice, rng, fps, train_reverb_p, engine_speed)
        else:
            utt = make_utterance(accent, variant, rng, fps, train_reverb_p if split == "train" else REVERB_P,
                                 espeak_lead_ms / 1000.0)
        add(split, utt)
    for recording in recordings:
        for utt in recorded_utterances(recording, recording_copies, rng, fps, train_reverb_p, log, recording_codec,
                                       recording_speed):
            add("train", utt)
    for split in buffers:
        flush(split)
    splits = {s: {**c, "speakers": sorted(c["speakers"])} for s, c in counts.items()}
    if source:
        (out / "heldout").symlink_to(source["folder"], target_is_directory=True)
        splits["heldout"] = source["split"]
    manifest = dict(
        seed=seed, fps=fps, hours=hours, sample_rate=DEFAULT_SR, channels=list(CHANNELS),
        features=list(FeatureConfig(kind="mfcc", fps=fps).names),
        features_logmel=list(FeatureConfig(kind="logmel", fps=fps).names),
        held_out_accents=list(HELD_OUT_ACCENTS), held_out_variants=list(HELD_OUT_VARIANTS),
        random_voices={speaker_name(a, v): text for (a, v), text in made_up.items()},
        random_voice_share=random_voice_share if made_up else 0.0, train_reverb_p=train_reverb_p,
        splits=splits, heldout_from=source["folder"] if source else None,
        engines=list(engines), engine_share=engine_share if engines else 0.0,
        engine_speed=engine_speed if engines else 0.0, espeak_lead_ms=espeak_lead_ms,
        recordings=list(recordings), recording_copies=recording_copies if recordings else 0,
        recording_codec=recording_codec if recordings else None,
        recording_speed=recording_speed if recordings else 0.0,
        seconds_to_generate=time.perf_counter() - started,
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _heldout_source(corpus: Path, fps: float) -> dict:
    """The held-out split of an existing corpus, checked to be usable beside a new one."""
    try:
        manifest = json.loads((corpus / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"--heldout-from {corpus}: no readable manifest.json ({exc}).") from exc
    folder = (corpus / "heldout").resolve()
    if not sorted(folder.glob("shard_*.npz")):
        raise ValueError(f"--heldout-from {corpus}: it has no held-out shards.")
    if abs(float(manifest["fps"]) - fps) > 1e-6:
        raise ValueError(f"--heldout-from {corpus}: it is at {manifest['fps']} fps, this corpus at {fps}.")
    if manifest["channels"] != list(CHANNELS):
        raise ValueError(f"--heldout-from {corpus}: its target channels are not this version's.")
    return {"folder": str(folder), "split": manifest["splits"]["heldout"]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Generate the synthetic audio-to-animation training corpus.")
    ap.add_argument("--out", required=True, help="output folder (train/, heldout/, manifest.json)")
    ap.add_argument("--hours", type=float, default=1.0, help="total hours of speech over both splits")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fps", type=float, default=30.0, help="frame rate of features and targets")
    ap.add_argument("--heldout-fraction", type=float, default=0.1)
    ap.add_argument("--shard-minutes", type=float, default=10.0)
    ap.add_argument("--no-audio", action="store_true", help="do not store the augmented 16 kHz audio")
    ap.add_argument("--random-voices", type=int, default=0,
                    help="made-up espeak-ng training voices (random formants, pitch, tone, consonant level...)")
    ap.add_argument("--random-voice-share", type=float, default=0.5,
                    help="share of training utterances spoken by the made-up voices")
    ap.add_argument("--train-reverb-p", type=float, default=REVERB_P,
                    help=f"share of degraded training utterances given a room (held-out ones: {REVERB_P})")
    ap.add_argument("--heldout-from", help="link the held-out split of this existing corpus instead of drawing one")
    ap.add_argument("--engines", default="", help="other synthesis engines' voices for training, e.g. "
                                                   "flite:awb,flite:rms,piper:joe")
    ap.add_argument("--engine-share", type=float, default=0.3,
                    help="share of training utterances spoken by --engines")
    ap.add_argument("--recordings", default="", help=f"recorded people for training: {', '.join(RECORDINGS)} "
                                                     "(fetch first: training/corpus/fetch_asterisk.sh)")
    ap.add_argument("--recording-copies", type=int, default=4,
                    help="times each recorded training prompt is added, each with its own degradation")
    ap.add_argument("--recording-codec", default="wav", choices=RECORDING_CODECS,
                    help="the recordings' 8 kHz telephone files (wav) or their wideband G.722 version "
                         "(g722; fetch first: training/corpus/fetch_asterisk.sh --g722)")
    ap.add_argument("--recording-speed", type=float, default=0.0,
                    help="play each copy of a recorded prompt after its first at a speed within 1 +- this "
                         "(pitch and formants move with it: more voices from few people); 0 none")
    ap.add_argument("--engine-speed", type=float, default=0.0,
                    help="play each --engines utterance at a speed within 1 +- this (pitch and formants "
                         "move with it: more vocal tracts from an engine's few voices); 0 none")
    ap.add_argument("--espeak-lead-ms", type=float, default=0.0,
                    help="espeak-ng utterances' mouth targets follow its phoneme events this many ms earlier (its "
                         "events run late against its sound); 0 as the events say")
    a = ap.parse_args(argv)
    m = generate(a.out, a.hours, a.seed, a.fps, a.heldout_fraction, a.shard_minutes, not a.no_audio,
                 random_voices=a.random_voices, random_voice_share=a.random_voice_share,
                 train_reverb_p=a.train_reverb_p, heldout_from=a.heldout_from,
                 engines=tuple(e for e in a.engines.split(",") if e), engine_share=a.engine_share,
                 recordings=tuple(r for r in a.recordings.split(",") if r), recording_copies=a.recording_copies,
                 recording_codec=a.recording_codec, recording_speed=a.recording_speed,
                 engine_speed=a.engine_speed, espeak_lead_ms=a.espeak_lead_ms)
    for split, c in m["splits"].items():
        print(f"{split}: {c['utterances']} utterances, {c['seconds'] / 60:.1f} min, {len(c['speakers'])} speakers, "
              f"{c['shards']} shards")
    print(f"done in {m['seconds_to_generate']:.1f} s")


if __name__ == "__main__":
    main()
