"""espeak-ng through ctypes: synthetic speech plus the exact timing of every phoneme.

The training corpus needs phoneme timing we can trust; espeak-ng emits a phoneme event for each
phoneme it renders, positioned in its own output samples, so the timing is exact by
construction (no forced alignment). Stress is not in the events, so it is read from
``espeak_TextToPhonemes`` and matched onto the rendered phoneme sequence.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import difflib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...core.audio.visemes import PhonemeEvent  # noqa: F401  (espeak.PhonemeEvent, as before)
from ...core.errors import TalkFaceError

SAMPLE_RATE = 22050

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 1
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_EV_LIST_TERMINATED, _EV_WORD, _EV_PHONEME = 0, 1, 7
_P_RATE, _P_VOLUME, _P_PITCH, _P_RANGE, _P_WORDGAP = 1, 2, 3, 4, 7


class EspeakUnavailableError(TalkFaceError):
    """libespeak-ng cannot be loaded or refuses a voice."""


@dataclass(frozen=True)
class Utterance:
    samples: np.ndarray                      # float32 mono at sample_rate
    sample_rate: int
    phonemes: list[PhonemeEvent] = field(default_factory=list)
    text: str = ""
    voice: str = ""

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)


class _Id(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
        ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p), ("id", _Id),
    ]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Engine:
    """The library keeps global state, so one engine per process guarded by a lock."""

    def __init__(self, data_path: str | None = None) -> None:
        name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            raise EspeakUnavailableError(
                "espeak-ng is not installed (libespeak-ng.so.1 missing); install the Debian package libespeak-ng1."
            ) from exc
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                     ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        path = data_path.encode() if data_path else None
        sr = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, path, _INITIALIZE_PHONEME_EVENTS)
        if sr <= 0:
            raise EspeakUnavailableError("espeak-ng failed to initialise (its data folder may be missing).")
        self.lib, self.sample_rate = lib, sr
        home = ctypes.c_char_p()
        lib.espeak_Info(ctypes.byref(home))
        self.data_path = Path(home.value.decode()) if home.value else None
        self.lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, str, int]] = []
        self._cb = _CALLBACK(self._on_synth)      # keep a reference: C holds only the pointer
        lib.espeak_SetSynthCallback(self._cb)

    def _on_synth(self, wav, n, events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != _EV_LIST_TERMINATED:
            ev = events[i]
            if ev.type == _EV_PHONEME:
                self._events.append((_EV_PHONEME, ev.sample, ev.id.string.decode("ascii", "replace"), 0))
            elif ev.type == _EV_WORD:
                self._events.append((_EV_WORD, ev.sample, "", ev.id.number))
            i += 1
        return 0

    def phoneme_string(self, text: str) -> str:
        """Clause-by-clause mnemonic transcription with stress marks (' primary, , secondary)."""
        raw = ctypes.create_string_buffer(text.encode("utf-8"))   # owns the memory the pointer walks
        buf = ctypes.c_char_p(ctypes.addressof(raw))
        parts = []
        while buf.value:
            out = self.lib.espeak_TextToPhonemes(ctypes.byref(buf), _CHARS_UTF8, 0)
            if out:
                parts.append(out.decode("utf-8", "replace"))
        return " ".join(parts)

    def synth(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int, word_gap: int):
        if self.lib.espeak_SetVoiceByName(voice.encode("utf-8")) != 0:
            raise EspeakUnavailableError(f"espeak-ng has no voice '{voice}'.")
        for param, value in ((_P_RATE, rate), (_P_PITCH, pitch), (_P_RANGE, pitch_range),
                             (_P_WORDGAP, word_gap), (_P_VOLUME, 100)):
            self.lib.espeak_SetParameter(param, int(value), 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8") + b"\0"
        err = self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
        if err != 0:
            raise EspeakUnavailableError(f"espeak-ng could not synthesise the text (error {err}).")
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return samples.astype(np.float32) / 32768.0, list(self._events)


_engine: _Engine | None = None
_engine_lock = threading.Lock()
_stock_data: Path | None = None             # espeak-ng's own data folder, found at first start
_variants: dict[str, str] = {}              # extra variants installed by use_variants
_VOICE_LIST_MAX = 349                       # espeak-ng's N_VOICES_LIST - 1; reaching it drops a voice


def engine() -> _Engine:
    global _engine, _stock_data
    with _engine_lock:
        if _engine is None:
            _engine = _Engine()
            _stock_data = _engine.data_path
    return _engine


def _voice_files(data: Path) -> int:
    """How many voice files espeak-ng lists from a data folder (it walks lang/ and voices/)."""
    return sum(len(files) for folder in ("lang", "voices") for _, _, files in os.walk(data / folder, followlinks=True))


def _overlay(stock: Path, variants: dict[str, str]) -> Path:
    """A data folder that is the stock one (symlinks, nothing copied) plus ``variants`` as files
    in voices/!v, the only place espeak-ng looks up a '+variant'. The mbrola voices (voices/mb)
    are left out: they need the mbrola program, and espeak-ng lists at most 349 voice files, so
    they would leave less room for variants. Refused, and removed, if espeak-ng could not list
    every variant."""
    root = Path(tempfile.mkdtemp(prefix="talkface-espeak-"))
    atexit.register(shutil.rmtree, root, True)
    data = root / "espeak-ng-data"
    for folder, skip in ((data, {"voices"}), (data / "voices", {"!v", "mb"}), (data / "voices" / "!v", set())):
        folder.mkdir()
        source = stock / folder.relative_to(data)
        for entry in sorted(os.listdir(source)):
            if entry not in skip:
                (folder / entry).symlink_to(source / entry)
    for name, text in variants.items():
        (data / "voices" / "!v" / name).write_text(text)
    listed = _voice_files(data)
    if listed >= _VOICE_LIST_MAX:
        shutil.rmtree(root, ignore_errors=True)
        room = _VOICE_LIST_MAX - 1 - (listed - len(variants))
        raise ValueError(f"espeak-ng lists at most {_VOICE_LIST_MAX} voice files; there is room for {room} "
                         f"extra variants, not {len(variants)}.")
    return root


def use_variants(variants: dict[str, str]) -> None:
    """Make extra espeak-ng voice variants speakable as ``"accent+name"``.

    ``variants`` maps a new variant name to the text of an espeak-ng variant file (pitch, formant,
    tone, klatt ... lines). The engine restarts on a data folder that adds them, so synthesis
    with the stock voices is unchanged; calling again adds to the variants already installed.
    """
    global _engine
    with _engine_lock:
        clash = [n for n in variants if n in _variants and _variants[n] != variants[n]]
        if clash:
            raise ValueError(f"espeak-ng variant {clash[0]!r} is already installed with other settings.")
        if all(n in _variants for n in variants):
            return                                   # all installed already, with these settings
    eng = engine()
    if _stock_data is None:
        raise EspeakUnavailableError("espeak-ng did not say where its data folder is.")
    stock_names = {n.lower() for n in os.listdir(_stock_data / "voices" / "!v")}
    bad = [n for n in variants if n.lower() in stock_names or not n.isidentifier()]
    if bad:
        raise ValueError(f"espeak-ng variant name {bad[0]!r} is a stock variant's or not a plain name.")
    with _engine_lock, eng.lock:
        root = _overlay(_stock_data, {**_variants, **variants})
        _variants.update(variants)
        # espeak_Initialize again, not Terminate first: a second espeak_Terminate hangs (1.51).
        _engine = _Engine(str(root))


def available() -> bool:
    try:
        engine()
    except EspeakUnavailableError:
        return False
    return True


def _tokenise(phoneme_string: str, vocabulary: set[str]) -> list[tuple[str, int]]:
    """Greedy longest-match split of an espeak -x style string into (phoneme, stress)."""
    longest = max((len(v) for v in vocabulary), default=1)
    out, pending, i = [], 0, 0
    while i < len(phoneme_string):
        ch = phoneme_string[i]
        if ch == "'":
            pending, i = 2, i + 1
            continue
        if ch == ",":
            pending, i = max(pending, 1), i + 1
            continue
        for n in range(min(longest, len(phoneme_string) - i), 0, -1):
            if phoneme_string[i:i + n] in vocabulary:
                out.append((phoneme_string[i:i + n], pending))
                pending, i = 0, i + n
                break
        else:
            i += 1
    return out


def _stress_for(names: list[str], phoneme_string: str) -> list[int]:
    """Map stress from the transcription onto rendered phonemes by sequence alignment."""
    tokens = _tokenise(phoneme_string, set(names))
    stress = [0] * len(names)
    matcher = difflib.SequenceMatcher(a=names, b=[t for t, _ in tokens], autojunk=False)
    for a0, b0, n in matcher.get_matching_blocks():
        for k in range(n):
            stress[a0 + k] = tokens[b0 + k][1]
    return stress


def synthesize(text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50, pitch_range: int = 50,
               word_gap: int = 0) -> Utterance:
    """Speak ``text``; return samples at 22050 Hz and the phonemes with exact start/end times.

    ``voice`` is an espeak-ng voice file name, optionally with a variant (``"en+f3"`` is British
    English; see ``list_voices``); ``rate`` is in
    words per minute (80-450), ``pitch`` and ``pitch_range`` are 0-100 (espeak's defaults are 50).
    """
    eng = engine()
    with eng.lock:
        samples, events = eng.synth(text, voice, rate, pitch, pitch_range, word_gap)
        transcription = eng.phoneme_string(text)
    sr = eng.sample_rate
    total = len(samples) / sr
    word, raw = -1, []
    for kind, sample, name, number in events:
        if kind == _EV_WORD:
            word = number - 1
        elif name:
            raw.append((name, min(sample / sr, total), word))
    spoken = [k for k, (name, _, _) in enumerate(raw) if not name.startswith("_")]
    stress = _stress_for([raw[k][0] for k in spoken], transcription)
    stress_of = dict(zip(spoken, stress))
    phonemes = []
    for k, (name, start, w) in enumerate(raw):
        end = raw[k + 1][1] if k + 1 < len(raw) else total
        if end <= start:
            continue                              # zero-length markers carry no articulation
        pause = name.startswith("_")
        phonemes.append(PhonemeEvent(name, start, end, 0 if pause else stress_of.get(k, 0), -1 if pause else w))
    return Utterance(samples, sr, phonemes, text, voice)


def list_voices(language: str = "en") -> list[str]:
    """Voice names espeak-ng offers for a language prefix (data-file voices only, no mbrola)."""
    import subprocess

    try:
        listing = subprocess.run(["espeak-ng", f"--voices={language}"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EspeakUnavailableError("the espeak-ng program is not installed.") from exc
    names = []
    for line in listing.splitlines()[1:]:
        cols = line.split()
        # espeak_SetVoiceByName matches the voice *file* name (case-insensitive), e.g. 'en' for en-gb.
        if len(cols) >= 5 and not cols[4].startswith(("mb/", "!v")):
            name = cols[4].split("/")[-1].lower()
            if name not in names:
                names.append(name)
    return names
