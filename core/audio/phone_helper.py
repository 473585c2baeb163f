"""A second process that decodes phone-loop chunks for ``core.audio.phones``.

PocketSphinx's decoder holds the GIL, so a thread cannot decode beside the main process's own work
(features, phone posteriors, the network); a process can. This file runs as a plain script
(``python phone_helper.py SETTINGS_JSON``) and imports nothing of TalkFace, so it starts the same
from a checkout, an installed extension (whose package name Blender chooses) or the bpy module.

Protocol, binary on stdin and text on stdout: each request is an 8-byte little-endian length and
that many bytes of 16-bit mono PCM at 16 kHz; length 0 ends the process. Each answer is one line
of JSON, ``[[phone, start_frame, end_frame], ...]``, in the order of the requests. Every chunk is
decoded as by a fresh decoder (``decode`` below, which the main process also uses), so where it
was decoded never changes the result.
"""

from __future__ import annotations

import json
import struct
import sys


def decode(decoder, cmn_init: str, pcm: bytes) -> list[tuple[str, int, int]]:
    """One chunk as one utterance, from the model's initial state: PocketSphinx otherwise carries
    its noise estimate and cepstral mean over from the previous utterance."""
    decoder.reinit_feat()
    decoder.set_cmn(cmn_init)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    return [(seg.word, seg.start_frame, seg.end_frame) for seg in decoder.seg()]


def _read_exactly(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("the main process closed the pipe mid-request")
    return data


def main(settings_json: str) -> int:
    from pocketsphinx import Decoder

    decoder = Decoder(**json.loads(settings_json))
    cmn_init = decoder.get_cmn()
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        (n,) = struct.unpack("<q", _read_exactly(stdin, 8))
        if n == 0:
            return 0
        stdout.write(json.dumps(decode(decoder, cmn_init, _read_exactly(stdin, n))) + "\n")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
