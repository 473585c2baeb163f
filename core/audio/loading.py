"""Speech loading: any common file in, mono float32 at one fixed rate out.

Everything downstream (features, the animator) assumes one sample rate, so all resampling and
channel mixing happens here, once. Files are read in blocks and resampled as a stream, so a
one-hour 96 kHz stereo file never sits in memory at its original rate; only the 16 kHz mono
result does (about 230 MB per hour).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ..errors import InputError

DEFAULT_SR = 16000
MIN_DURATION_S = 0.2
#: below this source rate the speech lacks the band the real-speech model was trained on (on the
#: bench the default path closes 87 % of a speaker's /p b m/ from her 8 kHz prompts, 94 % from the
#: same prompts in 16 kHz G.722): said in the notes, the audio is used all the same
NARROW_BAND_SR = 16000
CLIP_LEVEL = 0.999          # |x| at or above this (full scale 1.0) counts as a clipped sample
CLIP_FRACTION = 1e-3        # more than 0.1 % clipped samples flags the clip as clipped
_BLOCK_FRAMES = 1 << 16     # ~0.7 s at 96 kHz: bounded read size whatever the file length


class AudioError(InputError):
    """The speech file cannot be used; the message says why in one sentence."""


class AudioMissingError(AudioError):
    """No file at the given path."""


class AudioUnreadableError(AudioError):
    """The path exists but cannot be opened (permissions, a folder, ...)."""


class NotAudioError(AudioError):
    """The file opens but is not a sound format we can decode."""


class AudioTruncatedError(AudioError):
    """The header promises more audio than the file holds, or the stream is damaged."""


class AudioEmptyError(AudioError):
    """A valid sound file with no samples."""


class AudioTooShortError(AudioError):
    """Shorter than MIN_DURATION_S: too little speech to animate."""


@dataclass(frozen=True)
class Audio:
    """Mono speech at ``sample_rate``; the source's rate/channels are kept for messages/UI."""

    samples: np.ndarray           # float32 [n], nominally in [-1, 1]
    sample_rate: int
    path: str | None = None
    source_sample_rate: int = 0
    source_channels: int = 1
    clip_fraction: float = 0.0    # share of source samples at full scale (measured pre-resample)
    notes: tuple[str, ...] = ()   # what was done to make the file usable, for the log / report

    @property
    def duration(self) -> float:
        return len(self.samples) / float(self.sample_rate)

    @property
    def clipped(self) -> bool:
        return self.clip_fraction > CLIP_FRACTION

    @property
    def peak(self) -> float:
        return float(np.max(np.abs(self.samples))) if len(self.samples) else 0.0


def _open(path: Path) -> sf.SoundFile:
    if not path.exists():
        raise AudioMissingError(f"The audio file '{path}' does not exist.")
    if path.is_dir() or not os.access(path, os.R_OK):
        raise AudioUnreadableError(f"The audio file '{path}' cannot be read (a folder, or no permission).")
    if path.stat().st_size == 0:
        raise AudioEmptyError(f"The audio file '{path}' is empty (0 bytes).")
    try:
        return sf.SoundFile(str(path))
    except sf.LibsndfileError as exc:
        msg = str(exc).lower()
        if "malformed" in msg:
            raise AudioTruncatedError(f"The audio file '{path}' is damaged or cut short.") from exc
        raise NotAudioError(
            f"'{path.name}' is not a sound file we can read (use wav, flac, ogg or mp3)."
        ) from exc
    except OSError as exc:
        raise AudioUnreadableError(f"The audio file '{path}' cannot be read: {exc}.") from exc


_TRUNCATION_NOTES = ("should be", "ended unexpectedly")


def _header_says_truncated(f: sf.SoundFile) -> bool:
    """libsndfile's open log notes '(should be N)' when a RIFF chunk overruns the file and
    'ended unexpectedly' for an Ogg stream without its end page."""
    try:
        info = f.extra_info.lower()
    except Exception:  # noqa: BLE001 - purely diagnostic, never fatal
        return False
    return any(note in info for note in _TRUNCATION_NOTES)


def _clip_count(block: np.ndarray) -> int:
    """Samples at full scale whose neighbour is also at full scale (a flat top, not a peak)."""
    hot = np.abs(block) >= CLIP_LEVEL
    if hot.shape[0] < 2:
        return 0
    pair = hot[1:] & hot[:-1]
    return int(pair.sum())


MIX_CANCEL_RATIO = 0.25    # mono mix energy below this share of the louder channel's: the mix cancels


def load_audio(path: str | os.PathLike, sr: int = DEFAULT_SR, min_duration: float = MIN_DURATION_S) -> Audio:
    """Read wav/flac/ogg/mp3 (anything libsndfile decodes) as mono float32 at ``sr``.

    Raises an ``AudioError`` subclass with a one-sentence message for every bad input. What
    recorders really produce is handled and said in ``Audio.notes``: samples that are not numbers
    (NaN/Inf in a float file) become silence; a stereo file whose channels cancel when mixed (one
    channel's polarity inverted) is read from its louder channel; clipping is noted.
    """
    path = Path(path)
    audio, energies = _read(path, sr, None)
    notes = list(audio.notes)
    if audio.source_channels > 1 and energies is not None:
        mix, per_channel = energies
        loudest = int(np.argmax(per_channel))
        if per_channel[loudest] > 0 and mix < MIX_CANCEL_RATIO * per_channel[loudest]:
            audio, _ = _read(path, sr, loudest)
            notes = list(audio.notes) + [
                f"the channels of '{path.name}' cancel when mixed to mono (one is inverted): "
                f"channel {loudest + 1}, the louder, is used"]
    if 0 < audio.source_sample_rate < NARROW_BAND_SR:
        notes.append(f"'{path.name}' is sampled at {audio.source_sample_rate / 1000:g} kHz: the phone recogniser's "
                     f"model was trained on {NARROW_BAND_SR // 1000} kHz speech and hears fewer lip closures in a "
                     "narrower band; use a 16 kHz or better recording of the line if there is one")
    if audio.clipped:
        notes.append(f"'{path.name}' is clipped ({100 * audio.clip_fraction:.1f} % of samples at full scale): "
                     "lip-sync may be less precise")
    audio = Audio(audio.samples, audio.sample_rate, audio.path, audio.source_sample_rate, audio.source_channels,
                  audio.clip_fraction, tuple(dict.fromkeys(notes)))
    if audio.duration < min_duration:
        raise AudioTooShortError(
            f"The audio file '{path}' is only {audio.duration:.2f} s long; at least {min_duration:.1f} s is needed."
        )
    return audio


def _read(path: Path, sr: int, channel: int | None):
    """(Audio of the mono mix, or of one ``channel``; (mix energy, per-channel energies) or None)."""
    with _open(path) as f:
        src_sr, channels, declared = int(f.samplerate), int(f.channels), int(f.frames)
        if _header_says_truncated(f):
            raise AudioTruncatedError(f"The audio file '{path}' is cut short (its header promises more audio).")
        resampler = soxr.ResampleStream(src_sr, sr, 1, dtype="float32", quality="HQ") if src_sr != sr else None
        # Preallocate the output from the declared length; grows only if the header under-reports.
        cap = int(np.ceil(max(declared, 0) * sr / src_sr)) + 1024
        out = np.empty(cap, dtype=np.float32)
        n_out = n_in = clipped = bad = 0
        mix_energy, channel_energy = 0.0, np.zeros(channels)
        try:
            while True:
                block = f.read(_BLOCK_FRAMES, dtype="float32", always_2d=True)
                last = block.shape[0] < _BLOCK_FRAMES
                n_in += block.shape[0]
                finite = np.isfinite(block)
                if not finite.all():
                    bad += int((~finite).sum())
                    block = np.where(finite, block, 0.0).astype(np.float32)
                if channel is not None:
                    mono = block[:, channel]
                else:
                    mono = block.mean(axis=1) if channels > 1 else block[:, 0]
                    mix_energy += float(np.dot(mono, mono))
                    channel_energy += np.einsum("ij,ij->j", block, block)
                clipped += _clip_count(block)
                y = resampler.resample_chunk(mono, last=last) if resampler else mono
                if n_out + len(y) > len(out):
                    out = np.concatenate([out[:n_out], np.empty(max(len(y), len(out) // 2), np.float32)])
                out[n_out:n_out + len(y)] = y
                n_out += len(y)
                if last:
                    break
        except sf.LibsndfileError as exc:
            raise AudioTruncatedError(f"The audio file '{path}' is damaged or cut short ({exc}).") from exc
    if declared > 0 and n_in < 0.99 * declared - 1152:   # mp3 frame slack
        raise AudioTruncatedError(
            f"The audio file '{path}' is cut short: {n_in / src_sr:.2f} s of a declared {declared / src_sr:.2f} s."
        )
    if n_in == 0:
        raise AudioEmptyError(f"The audio file '{path}' contains no sound (zero length).")
    if bad == n_in * channels:
        raise NotAudioError(f"The audio file '{path}' holds no usable samples (all are NaN or infinite).")
    samples = out[:n_out].copy() if n_out < len(out) // 2 else out[:n_out]
    notes = (f"{bad} samples of '{path.name}' were not numbers (NaN/Inf) and were set to silence",) if bad else ()
    audio = Audio(samples, sr, str(path), src_sr, channels, clipped / max(n_in * channels, 1), notes)
    return audio, ((mix_energy, channel_energy) if channel is None else None)


def from_array(samples: np.ndarray, sample_rate: int, sr: int = DEFAULT_SR) -> Audio:
    """Wrap in-memory samples ([n] or [n, channels]) the same way load_audio does files."""
    x = np.asarray(samples, dtype=np.float32)
    channels = 1 if x.ndim == 1 else x.shape[1]
    clip = _clip_count(x.reshape(len(x), -1)) / max(x.size, 1)
    mono = x if x.ndim == 1 else x.mean(axis=1)
    y = resample(mono, sample_rate, sr)
    return Audio(y, sr, None, int(sample_rate), channels, clip)


def resample(x: np.ndarray, src_sr: int, dst_sr: int) -> np.ndarray:
    """Band-limited resampling (soxr HQ); identity when the rates match."""
    x = np.asarray(x, dtype=np.float32)
    if int(src_sr) == int(dst_sr):
        return x
    return soxr.resample(x, int(src_sr), int(dst_sr), quality="HQ").astype(np.float32, copy=False)
