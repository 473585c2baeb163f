#!/usr/bin/env bash
# Allison Smith's Asterisk telephone prompts (real human speech, 8 kHz, with their published text)
# as TRAINING data for the animator (training/corpus/asterisk.py): fetched from Debian into
# corpus/asterisk/ (not in git, never shipped). The prompts bench/fetch_speech.sh uses as test
# recordings are excluded by asterisk.py, never by this script alone.
#   asterisk-core-sounds-en-wav 1.6.1-1  the recordings (CC-BY-SA-3.0, Copyright 2003-2010 Allison Smith)
#   asterisk-core-sounds-en 1.6.1-1      core-sounds-en.txt: what each prompt says
# Usage: bash training/corpus/fetch_asterisk.sh [OUT]   (apt-get download; about 20 MB)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$root/corpus/asterisk}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && apt-get download -q asterisk-core-sounds-en-wav=1.6.1-1 asterisk-core-sounds-en=1.6.1-1 >/dev/null)
(cd "$tmp" && sha256sum -c --quiet - <<SUMS
2be3ea287d83299d143815fa804f11179a75b7affd4a758b98b55f5afc18a35d  asterisk-core-sounds-en-wav_1.6.1-1_all.deb
973e797d28e37fa6ca3c0a9d6fa717e77cf1268ae916bf09fd3503113cdffa50  asterisk-core-sounds-en_1.6.1-1_all.deb
SUMS
)
dpkg -x "$tmp"/asterisk-core-sounds-en-wav_1.6.1-1_all.deb "$tmp/x"
dpkg -x "$tmp"/asterisk-core-sounds-en_1.6.1-1_all.deb "$tmp/x"
mkdir -p "$out"
cp -r "$tmp/x/usr/share/asterisk/sounds/en_US_f_Allison/." "$out/"
zcat "$tmp/x/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz" > "$out/core-sounds-en.txt"
cp "$tmp/x/usr/share/doc/asterisk-core-sounds-en/copyright" "$out/copyright"
echo "$out: $(find "$out" -name '*.wav' | wc -l) recordings"
