#!/usr/bin/env bash
# Asterisk's telephone prompts (real human speech, 8 kHz, with their published text) as TRAINING
# data for the animator, fetched from Debian into corpus/ (not in git, never shipped):
#   corpus/asterisk/     Allison Smith, US English (training/corpus/asterisk.py). The prompts
#                        bench/fetch_speech.sh uses as test recordings are excluded by asterisk.py,
#                        never by this script alone.
#   corpus/asterisk-fr/  June Wallack, Canadian French   } training/corpus/asterisk_languages.py
#   corpus/asterisk-it/  Carlo Flora, Italian            }
#   corpus/asterisk-ru/  a Russian IVR voice (M. Topal)  }
#   corpus/asterisk-es/  Allison Smith, Mexican Spanish  }
# Debian packages asterisk-core-sounds-LANG-wav 1.6.1-1 (the recordings) and
# asterisk-core-sounds-LANG 1.6.1-1 (core-sounds-LANG.txt: what each prompt says); CC-BY-SA-3.0
# (Russian: CC-BY-3.0); each folder keeps the package's copyright file.
# With --g722 the same prompts come from asterisk-core-sounds-LANG-g722 1.6.1-1 instead: G.722
# wideband (16 kHz, up to about 7 kHz) from the same masters, decoded to WAV by
# training/corpus/g722.py into OUT-g722 and OUT-LANG-g722 (build.py --recording-codec g722).
# Usage: bash training/corpus/fetch_asterisk.sh [--g722] [OUT] [LANG...]
#   OUT: the English folder (default corpus/asterisk); the others go beside it as OUT-LANG.
#   LANG: en fr it ru es (default: en only, about 20 MB; each other language about 20 MB more)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
codec=wav
if [[ "${1:-}" == --g722 ]]; then codec=g722; shift; fi
out="${1:-$root/corpus/asterisk}"
shift || true
langs=("${@:-en}")
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
declare -A dirs=([en]=en_US_f_Allison [fr]=fr_CA_f_June [it]=it_IT_m_Carlo [ru]=ru_RU_f_IvrvoiceRU
                 [es]=es_MX_f_Allison)
for lang in "${langs[@]}"; do
  [[ -n "${dirs[$lang]:-}" ]] || { echo "unknown language $lang: en fr it ru es" >&2; exit 2; }
  (cd "$tmp" && apt-get download -q "asterisk-core-sounds-$lang-$codec=1.6.1-1" "asterisk-core-sounds-$lang=1.6.1-1" >/dev/null)
done
(cd "$tmp" && sha256sum -c --quiet --ignore-missing - <<SUMS
2be3ea287d83299d143815fa804f11179a75b7affd4a758b98b55f5afc18a35d  asterisk-core-sounds-en-wav_1.6.1-1_all.deb
973e797d28e37fa6ca3c0a9d6fa717e77cf1268ae916bf09fd3503113cdffa50  asterisk-core-sounds-en_1.6.1-1_all.deb
9283a09a6d56fccdcc2bcfe86c48f0f844289cfbd46a3184d8785a6f7f569903  asterisk-core-sounds-es-wav_1.6.1-1_all.deb
9afdab7f559f036649fb406e625899306ca1004df8ebe39c30bfbd5912d66f74  asterisk-core-sounds-es_1.6.1-1_all.deb
8d4e1bc32ed5ba7fbda40841ca1825ed20cc6232724a473c90f8bb0e53e6073e  asterisk-core-sounds-fr-wav_1.6.1-1_all.deb
04c82c78c570c43a7136cbc5e2488d0c470b775468dff9fbce4a131b18cf1056  asterisk-core-sounds-fr_1.6.1-1_all.deb
5a26638089e134b8ac39363fe249c5c93c50cd8bfdc9b2499ae61ec4a35e2fcb  asterisk-core-sounds-it-wav_1.6.1-1_all.deb
3884d9457e12f21caa018c18f0d587df5d53ebea14b673d8453a134c5941ab3b  asterisk-core-sounds-it_1.6.1-1_all.deb
ccbfaebfa450b7a9ddf644ae0f3d1e9017d5df7c0aebe816e946345589d38201  asterisk-core-sounds-ru-wav_1.6.1-1_all.deb
28a61616bb0cd3345a7ea532dec4df9f071e5d0fa9f8c1a563ea9669002f39ab  asterisk-core-sounds-ru_1.6.1-1_all.deb
38c5261820b406dcb0ecb37675720da2b0864850690690352ca52707eb623806  asterisk-core-sounds-en-g722_1.6.1-1_all.deb
e4e3b4281057d3b81b779298fd6be705f57411513955c518eed1bcaabbd615b8  asterisk-core-sounds-es-g722_1.6.1-1_all.deb
7add61d5e42279ecff1bbdf842a5a946ac3644fac9a0fe44384731aa7270c8e0  asterisk-core-sounds-fr-g722_1.6.1-1_all.deb
46b4cf7afc508a5fcfc051b7ea233251c0d195dd4ef83cc4b7facb4c6429b016  asterisk-core-sounds-it-g722_1.6.1-1_all.deb
673b4238a6b8269960f055d868c6a11083f7a0d00979167cb01554046b48ed9b  asterisk-core-sounds-ru-g722_1.6.1-1_all.deb
SUMS
)
for lang in "${langs[@]}"; do
  dest="$out"; [[ "$lang" == en ]] || dest="$out-$lang"
  [[ "$codec" == wav ]] || dest="$dest-$codec"
  x="$tmp/x-$lang"
  dpkg -x "$tmp/asterisk-core-sounds-$lang-${codec}_1.6.1-1_all.deb" "$x"
  dpkg -x "$tmp/asterisk-core-sounds-${lang}_1.6.1-1_all.deb" "$x"
  mkdir -p "$dest"
  if [[ "$codec" == wav ]]; then
    cp -r "$x/usr/share/asterisk/sounds/${dirs[$lang]}/." "$dest/"
  else
    "$root/.venv/bin/python" -m talkface.training.corpus.g722 \
      "$x/usr/share/asterisk/sounds/${dirs[$lang]}" "$dest"
  fi
  zcat "$x/usr/share/doc/asterisk-core-sounds-$lang/core-sounds-$lang.txt.gz" > "$dest/core-sounds-$lang.txt"
  cp "$x/usr/share/doc/asterisk-core-sounds-$lang/copyright" "$dest/copyright"
  echo "$dest: $(find "$dest" -name '*.wav' | wc -l) recordings"
done
