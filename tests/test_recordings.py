"""Recorded people as training data (training/corpus/asterisk.py): the bench's test prompts are never
read, the dev prompts never trained on, and the training prompts reach the corpus with phone times
from the aligner, once per copy, each copy degraded on its own."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
import soundfile as sf
from conftest import ROOT

from talkface.core.audio.loading import load_audio
from talkface.core.audio.visemes import ARKIT_NAMES, lip_gap
from talkface.training.corpus import asterisk, espeak
from talkface.training.corpus.build import change_speed, generate, load_shard

needs_espeak = pytest.mark.skipif(not espeak.available(), reason="libespeak-ng is not installed")


def test_the_bench_test_prompts_are_the_ones_never_read_for_training():
    """TEST_PROMPTS must be exactly the Allison prompts bench/fetch_speech.sh fetches, and cover
    every Allison recording of the real test set."""
    with open(os.path.join(ROOT, "bench", "fetch_speech.sh"), encoding="utf-8") as fh:
        script = fh.read()
    loop = re.search(r"for f in ([^;]+); do\s+cp \"\$tmp/ast/[^\n]*en_US_f_Allison", script)
    assert loop, "bench/fetch_speech.sh no longer copies Allison prompts the way this test reads"
    assert set(loop.group(1).split()) == set(asterisk.TEST_PROMPTS)
    with open(os.path.join(ROOT, "training", "corpus", "real_transcripts.json"), encoding="utf-8") as fh:
        table = json.load(fh)["recordings"]
    files = {os.path.basename(e["file"]) for e in table.values() if "asterisk" in e.get("package", "")}
    assert files and {f[len("allison_"):-len(".wav")] for f in files} <= asterisk.TEST_PROMPTS
    for name in asterisk.TEST_PROMPTS:
        assert asterisk.split_of(name) == "test"


def test_dev_split_is_a_stable_share_of_the_names():
    names = [f"prompt-{i}" for i in range(2000)]
    dev = [n for n in names if asterisk.split_of(n) == "dev"]
    assert 0.12 < len(dev) / len(names) < 0.18
    assert dev == [n for n in names if asterisk.split_of(n) == "dev"]


def _name(split: str) -> str:
    return next(f"p{i}" for i in range(1000) if asterisk.split_of(f"p{i}") == split)


@pytest.fixture
def prompts_folder(tmp_path, monkeypatch):
    """A listing like core-sounds-en.txt: a training prompt and a dev prompt spoken by espeak-ng,
    a test prompt, a tone in brackets, a prompt without its recording, one with a word the
    dictionary lacks."""
    folder = tmp_path / "asterisk"
    (folder / "digits").mkdir(parents=True)
    spoken = {_name("train"): "Please bring me the big blue book.", _name("dev"): "My mother made warm bread.",
              "vm-options": "Press one to record your message.", "digits/7": "Blorptastic frumble."}
    for name, text in spoken.items():
        u = espeak.synthesize(text, "en-us")
        sf.write(folder / f"{name}.wav", u.samples, u.sample_rate)
    listing = ["; Core Asterisk Sounds in English", ""] + [f"{n}: {t}" for n, t in spoken.items()]
    listing += ["beep: [this is a simple beep tone]", f"{_name('train')}x: Never recorded."]
    (folder / "core-sounds-en.txt").write_text("\n".join(listing) + "\n")
    monkeypatch.setattr(asterisk, "FOLDER", str(folder))
    return folder, spoken


@needs_espeak
def test_prompts_are_split_and_refused_ones_skipped(prompts_folder):
    folder, spoken = prompts_folder
    train = asterisk.prompts("train", str(folder))
    assert [p.name for p in train] == [_name("train"), "digits/7"]   # no test prompt, no tone, no missing file
    assert [p.name for p in asterisk.prompts("dev", str(folder))] == [_name("dev")]
    with pytest.raises(ValueError, match="test"):
        asterisk.prompts("test", str(folder))
    logged = []
    rows = asterisk.aligned("train", str(folder), log=logged.append)
    (prompt, samples, phones), = rows
    assert samples.dtype == np.float32 and abs(len(samples) / 16000 - phones[-1][2]) < 0.05
    assert [p for p, _, _ in phones if p.rstrip("012") in ("B", "M", "P")] == ["P", "B", "M", "B", "B", "B"]
    assert "1 prompts aligned, 1 refused" in logged[0]              # digits/7: words the dictionary lacks
    with pytest.raises(FileNotFoundError, match="fetch_asterisk"):
        asterisk.prompts("train", str(folder / "nowhere"))


def test_a_missing_folder_names_the_command_that_fetches_it(tmp_path):
    """The message names the fetch for that folder: English by default, another language's code,
    and --g722 for a wideband folder (plain fetch_asterisk.sh fetches English 8 kHz files only)."""
    from talkface.training.corpus import asterisk_languages

    with pytest.raises(FileNotFoundError, match=r"run bash training/corpus/fetch_asterisk\.sh$"):
        asterisk.prompts("train", str(tmp_path / "asterisk"))
    with pytest.raises(FileNotFoundError, match=r"fetch_asterisk\.sh --g722$"):
        asterisk.prompts("train", str(tmp_path / "asterisk-g722"))
    with pytest.raises(FileNotFoundError, match=r"fetch_asterisk\.sh --g722 '' fr$"):
        asterisk_languages.prompts("fr", "dev", str(tmp_path / "asterisk-fr-g722"))
    with pytest.raises(FileNotFoundError, match=r"fetch_asterisk\.sh '' ru$"):
        asterisk_languages.prompts("ru", "train", str(tmp_path / "asterisk-ru"))


@needs_espeak
def test_recordings_join_the_training_split_once_per_copy(prompts_folder, tmp_path):
    m = generate(tmp_path / "c", hours=0, seed=4, fps=50.0, heldout_fraction=0.0, shard_minutes=1.0,
                 recordings=("asterisk",), recording_copies=3, log=lambda *_: None)
    assert m["recordings"] == ["asterisk"] and m["recording_copies"] == 3
    assert m["splits"]["train"]["speakers"] == ["asterisk-allison"] and m["splits"]["heldout"]["utterances"] == 0
    z = load_shard(next((tmp_path / "c" / "train").glob("*.npz")))
    assert len(z["speaker"]) == 3 and set(z["text"]) == {"Please bring me the big blue book."}
    assert [json.loads(s)["copy"] for s in z["settings"]] == [0, 1, 2]
    off, mouth = z["frame_offsets"], len(ARKIT_NAMES)
    clips = [z["targets"][off[i]:off[i + 1], :mouth] for i in range(3)]
    assert all(np.array_equal(lip_gap(clips[0]), lip_gap(c)) for c in clips[1:])   # same phone times, same lips
    audio = [z["audio"][z["audio_offsets"][i]:z["audio_offsets"][i + 1]] for i in range(3)]
    assert len({a.tobytes() for a in audio}) == 3                        # each copy degraded on its own
    gap = lip_gap(clips[0])
    p0, p1 = z["phoneme_offsets"][0], z["phoneme_offsets"][1]
    bilabial = [(s, e) for ph, s, e in zip(z["phoneme"][p0:p1], z["phoneme_start"][p0:p1], z["phoneme_end"][p0:p1])
                if ph in ("p", "b", "m")]
    assert len(bilabial) == 6
    for s, e in bilabial:
        assert gap[min(int(round((s + e) / 2 * 50)), len(gap) - 1)] < 0.02 < gap.max()
    with pytest.raises(ValueError, match="unknown recordings"):
        generate(tmp_path / "d", hours=0, recordings=("nope",), log=lambda *_: None)


def test_combined_corpus_links_every_part_and_one_heldout_split(tmp_path):
    """training/corpus/combine.py: the trainer sees every part's train shards and the chosen
    held-out split; parts at another frame rate are refused."""
    from talkface.training.corpus.combine import combine

    parts = []
    for i, hours in enumerate((0.003, 0.002)):
        parts.append(tmp_path / f"part{i}")
        generate(parts[-1], hours=hours, seed=i, fps=50.0, heldout_fraction=0.3, shard_minutes=0.05,
                 log=lambda *_: None)
    m = combine(tmp_path / "both", parts, parts[0])
    shards = sorted((tmp_path / "both" / "train").glob("*.npz"))
    assert len(shards) == sum(len(list((p / "train").glob("*.npz"))) for p in parts) == m["splits"]["train"]["shards"]
    assert {s.name.split("_shard")[0] for s in shards} == {"part0", "part1"}
    assert all(s.is_symlink() and s.resolve().exists() for s in shards)
    seconds = sum(json.loads((p / "manifest.json").read_text())["splits"]["train"]["seconds"] for p in parts)
    assert abs(m["splits"]["train"]["seconds"] - seconds) < 1e-6
    assert (tmp_path / "both" / "heldout").resolve() == (parts[0] / "heldout").resolve()
    generate(tmp_path / "slow", hours=0.001, seed=3, fps=25.0, log=lambda *_: None)
    with pytest.raises(ValueError, match="fps"):
        combine(tmp_path / "mixed", parts + [tmp_path / "slow"], parts[0])
    with pytest.raises(ValueError, match="exists"):
        combine(tmp_path / "both", parts, parts[0])


# --- Asterisk's prompts in other languages (training/corpus/asterisk_languages.py) ---------------

def test_ipa_becomes_arpabet_with_bilabials_kept_and_geminates_merged():
    from talkface.training.corpus import asterisk_languages as al

    words = al.ipa_words("kɔ̃pozˈe mˈɑ̃ʒe- kant\u200dʃellˈetːo vvʲidʲˈitʲi βˈoka ¿ 123")
    assert words == [["K", "AO", "P", "OW", "Z", "EY"], ["M", "AA", "ZH", "EY"],
                     ["K", "AA", "N", "CH", "EY", "L", "EY", "T", "OW"], ["V", "IY", "D", "IY", "T", "IY"],
                     ["V", "OW", "K", "AA"]]        # Spanish β is no closure; symbols it does not know drop out
    assert set(al.IPA_ARPABET.values()) >= {"P", "B", "M"}
    assert not any("P" in v.split() or "B" in v.split() or "M" in v.split()
                   for k, v in al.IPA_ARPABET.items() if k not in ("p", "b", "m", "\u0271"))


def test_viterbi_alignment_finds_the_phones_where_the_scores_put_them():
    from talkface.core.audio import senones
    from talkface.training.corpus import asterisk_languages as al

    phones = senones.acoustic_model().phones
    truth = [("SIL", 20), ("B", 6), ("AA", 15), ("SIL", 7), ("M", 8), ("IY", 12), ("SIL", 25)]
    rows = []
    for name, n in truth:
        row = np.full(len(phones), -12.0, np.float32)
        row[phones.index(name)] = 0.0
        rows += [row] * n
    rows = np.stack(rows)
    rows[0] = np.nan                                           # an unscored frame is no obstacle
    got = al.viterbi_align(rows, [["B", "AA"], ["M", "IY"]])
    want, t = [], 0
    for name, n in truth:
        want.append((name, round(t * 0.01, 2), round((t + n) * 0.01, 2)))
        t += n
    assert [(p, round(s, 2), round(e, 2)) for p, s, e in got] == want
    # no silence in the scores where the optional ones stand: the phones take every frame
    got = al.viterbi_align(rows[20:41], [["B", "AA"]])
    assert [(p, round(s, 2), round(e, 2)) for p, s, e in got] == [("B", 0.0, 0.06), ("AA", 0.06, 0.21)]
    with pytest.raises(ValueError, match="too short"):
        al.viterbi_align(rows[:10], [["B", "AA", "M", "IY"]])


@pytest.fixture
def french_prompts(tmp_path, monkeypatch):
    """A core-sounds-fr.txt listing: a training and a dev prompt spoken by espeak-ng's French
    voice, a tone in brackets and a prompt whose recording is missing."""
    from talkface.training.corpus import asterisk_languages as al

    def name(split):
        return next(f"p{i}" for i in range(1000) if al.split_of("fr", f"p{i}") == split)

    folder = tmp_path / "asterisk-fr"
    folder.mkdir()
    spoken = {name("train"): "Bonjour, composez le numéro de votre boîte vocale, puis le message.",
              name("dev"): "Merci beaucoup."}
    events = {}
    for n, text in spoken.items():
        u = espeak.synthesize(text, "fr")
        sf.write(folder / f"{n}.wav", u.samples, u.sample_rate)
        events[n] = [p.start for p in u.phonemes if p.phoneme in ("p", "b", "m")]
    listing = ["\ufeff; Core Asterisk Sounds in French", ""] + [f"{n}: {t}" for n, t in spoken.items()]
    listing += ["ascending-2tone: [ascending tones]", "beeperr: (ahooga)", f"{name('train')}x: Jamais enregistré."]
    (folder / "core-sounds-fr.txt").write_text("\n".join(listing) + "\n", encoding="utf-8")
    monkeypatch.setattr(al, "folder_of", lambda language: str(folder))
    return folder, spoken, events, name


@needs_espeak
def test_french_prompts_align_their_bilabials_where_the_voice_said_them(french_prompts):
    from talkface.training.corpus import asterisk_languages as al

    folder, spoken, events, name = french_prompts
    assert [p.name for p in al.prompts("fr", "train")] == [name("train")]
    assert [p.name for p in al.prompts("fr", "dev")] == [name("dev")]
    logged = []
    (prompt, samples, phones), = al.aligned("fr", "train", log=logged.append)
    assert "1 prompts aligned, 0 refused" in logged[0]
    assert samples.dtype == np.float32 and abs(len(samples) / 16000 - phones[-1][2]) < 0.02
    starts = [s for p, s, _ in phones if p in ("P", "B", "M")]
    assert len(starts) == len(events[prompt.name]) == 6
    assert np.abs(np.array(starts) - events[prompt.name]).max() < 0.06     # espeak-ng's own phoneme times
    assert all(e > s for _, s, e in phones) and all(a[2] == b[1] for a, b in zip(phones, phones[1:]))


@needs_espeak
def test_wrong_text_is_refused_not_guessed(french_prompts, monkeypatch):
    from talkface.training.corpus import asterisk_languages as al

    folder, spoken, _, name = french_prompts
    listing = folder / "core-sounds-fr.txt"
    listing.write_text(listing.read_text(encoding="utf-8").replace(
        spoken[name("train")], "Six saucisses sèches, chez ces seize sachets fissurés, sifflaient."), encoding="utf-8")
    logged = []
    assert al.aligned("fr", "train", log=logged.append) == []
    assert "0 prompts aligned, 1 refused" in logged[0]


@needs_espeak
def test_other_languages_join_the_training_split_as_their_own_speakers(french_prompts, tmp_path):
    m = generate(tmp_path / "c", hours=0, seed=4, fps=50.0, heldout_fraction=0.0, shard_minutes=1.0,
                 recordings=("asterisk-fr",), recording_copies=2, log=lambda *_: None)
    assert m["splits"]["train"]["speakers"] == ["asterisk-fr-june"] and m["splits"]["train"]["utterances"] == 2
    z = load_shard(next((tmp_path / "c" / "train").glob("*.npz")))
    p0, p1 = z["phoneme_offsets"][0], z["phoneme_offsets"][1]
    assert [ph for ph in z["phoneme"][p0:p1] if ph in ("p", "b", "m")] == ["b", "p", "m", "b", "p", "m"]


def _write_g722(path, samples: np.ndarray) -> None:
    """Encode 16 kHz float samples as a raw G.722 file (as Debian's -g722 prompt packages ship)."""
    import av
    with av.open(str(path), "w", format="g722") as out:
        stream = out.add_stream("g722", rate=16000)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray((np.clip(samples, -1, 1) * 32767).astype(np.int16)[None],
                                           format="s16", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)


def test_g722_files_decode_to_wideband_16khz_wav(tmp_path):
    from talkface.training.corpus import g722
    t = np.arange(16000) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 5000 * t)           # above what the 8 kHz telephone files can carry
    (tmp_path / "src" / "digits").mkdir(parents=True)
    _write_g722(tmp_path / "src" / "digits" / "7.g722", tone)
    assert g722.decode_tree(str(tmp_path / "src"), str(tmp_path / "out")) == 1
    y, sr = sf.read(tmp_path / "out" / "digits" / "7.wav")
    assert sr == 16000 and len(y) == len(tone)
    spectrum = np.abs(np.fft.rfft(y)) ** 2
    assert np.fft.rfftfreq(len(y), 1 / sr)[spectrum.argmax()] == 5000.0


@needs_espeak
def test_the_g722_recordings_are_read_from_their_own_folder(prompts_folder, tmp_path):
    from talkface.training.corpus import g722
    folder, spoken = prompts_folder
    src = tmp_path / "g722-src"
    src.mkdir()
    train = _name("train")
    _write_g722(src / f"{train}.g722", load_audio(str(folder / f"{train}.wav"), sr=16000).samples)
    wide = tmp_path / "asterisk-g722"
    g722.decode_tree(str(src), str(wide))
    (wide / "core-sounds-en.txt").write_text(f"{train}: {spoken[train]}\n")
    (folder / f"{train}.wav").unlink()                   # only the G.722 folder has the recording now
    m = generate(tmp_path / "c", hours=0, seed=4, fps=50.0, heldout_fraction=0.0, shard_minutes=1.0,
                 recordings=("asterisk",), recording_copies=1, recording_codec="g722", log=lambda *_: None)
    assert m["recording_codec"] == "g722" and m["splits"]["train"]["speakers"] == ["asterisk-allison"]
    z = load_shard(next((tmp_path / "c" / "train").glob("*.npz")))
    assert list(z["text"]) == [spoken[train]] and json.loads(z["settings"][0])["codec"] == "g722"
    with pytest.raises(ValueError, match="recording codec"):
        generate(tmp_path / "d", hours=0, recordings=("asterisk",), recording_codec="mp3", log=lambda *_: None)


def test_a_faster_copy_raises_pitch_and_formants_and_its_phone_times_follow():
    sr = 16000
    t = np.arange(sr, dtype=np.float32) / sr
    tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    phones = [("SIL", 0.0, 0.25), ("M", 0.25, 0.5), ("AA1", 0.5, 1.0)]
    fast, fast_phones = change_speed(tone, phones, 1.1)
    assert abs(len(fast) - sr / 1.1) <= 1
    spectrum = np.abs(np.fft.rfft(fast * np.hanning(len(fast))))
    assert abs(np.argmax(spectrum) * sr / len(fast) - 220) < 2          # 200 Hz heard at 220 Hz
    assert [p for p, _, _ in fast_phones] == [p for p, _, _ in phones]
    np.testing.assert_allclose([s for _, s, _ in fast_phones], [0.0, 0.25 / 1.1, 0.5 / 1.1], atol=1e-4)
    same, same_phones = change_speed(tone, phones, 1.0)
    assert np.array_equal(same, tone) and same_phones == phones
    with pytest.raises(ValueError, match="positive"):
        change_speed(tone, phones, 0.0)


@needs_espeak
def test_speed_changed_copies_keep_their_closures_on_the_sped_up_audio(prompts_folder, tmp_path):
    m = generate(tmp_path / "c", hours=0, seed=4, fps=50.0, heldout_fraction=0.0, shard_minutes=1.0,
                 recordings=("asterisk",), recording_copies=3, recording_speed=0.15, log=lambda *_: None)
    assert m["recording_speed"] == 0.15
    z = load_shard(next((tmp_path / "c" / "train").glob("*.npz")))
    speeds = [json.loads(s)["speed"] for s in z["settings"]]
    assert speeds[0] == 1.0 and all(0.85 <= f <= 1.15 and f != 1.0 for f in speeds[1:]) and speeds[1] != speeds[2]
    lengths = np.diff(z["audio_offsets"])
    for f, n in zip(speeds[1:], lengths[1:]):
        assert abs(n * f / lengths[0] - 1) < 1e-4          # the speed kept to 4 decimals
    off, mouth = z["frame_offsets"], len(ARKIT_NAMES)
    for i, f in enumerate(speeds):
        gap = lip_gap(z["targets"][off[i]:off[i + 1], :mouth])
        p0, p1 = z["phoneme_offsets"][i], z["phoneme_offsets"][i + 1]
        bilabial = [(s, e) for ph, s, e in zip(z["phoneme"][p0:p1], z["phoneme_start"][p0:p1],
                                               z["phoneme_end"][p0:p1]) if ph in ("p", "b", "m")]
        assert len(bilabial) == 6
        for s, e in bilabial:             # the lips shut where the sped-up audio says the phone
            assert gap[min(int(round((s + e) / 2 * 50)), len(gap) - 1)] < 0.02 < gap.max()
    with pytest.raises(ValueError, match="speed"):       # refused before an hour of speech is made
        generate(tmp_path / "d", hours=1.0, recordings=("asterisk",), recording_speed=0.7, log=lambda *_: None)
    assert not (tmp_path / "d").exists()
