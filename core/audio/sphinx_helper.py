"""PocketSphinx's transcript alignment pass, and a helper process that runs it beside the main one.

PocketSphinx's decoder holds the GIL, so a thread cannot decode beside the main process's own work
(features, phone scores, the network, other chunks); a process can. This file runs as a plain
script (``python sphinx_helper.py SETTINGS_JSON``) and imports nothing of TalkFace, so it starts
the same from a checkout, an installed extension (whose package name Blender chooses) or the bpy
module; ``core.audio.alignment`` imports the same pass, so a chunk gives the same result in
either process (``core.audio.sphinx_pool`` feeds the helpers).

Every pass decodes its chunk from the model's initial state (``decode``): PocketSphinx otherwise
carries its noise estimate over from the previous utterance, and a result would depend on what
that process happened to decode before.

Protocol, binary on stdin and text on stdout: each request is two 8-byte little-endian lengths,
a JSON header (``{"kind": "align", "words": [...]}``, with ``"wide": true`` for a recogniser's
words, or ``{"kind": "recognise"}``, either with an
optional ``"mllr"``: the text of the take's MLLR file, ``core.audio.adaptation``) and 16-bit mono
PCM at 16 kHz; a header length of 0 ends the process. Each answer is one line of JSON, in the order
of the requests. SETTINGS_JSON maps each decoder the jobs use ("words"; "recognise" too for
recognition) to its ``Decoder`` keyword arguments; the helper builds them as it starts, unless
``--lazy`` follows (jobs that bring a transform build their own).
"""

from __future__ import annotations

import json
import os
import struct
import sys
import tempfile


class Decoders:
    """Named PocketSphinx decoders, each built on first use with its initial cepstral mean, the
    model's means transformed by the MLLR file ``adapt`` was last given (none at first)."""

    def __init__(self, settings: dict):
        self.settings, self._built, self.mllr = settings, {}, ""

    def __call__(self, name: str):
        if name not in self._built:
            self._built[name] = self._build(name, {})
        return self._built[name][0]

    def _build(self, name: str, extra: dict) -> tuple:
        from pocketsphinx import Decoder

        dec = Decoder(**self.settings[name], **extra)
        return dec, dec.get_cmn()

    def adapt(self, mllr: str) -> None:
        """Every decoder built anew with ``mllr`` (the text of an MLLR file; '' for none), unless
        the same text is already in use. PocketSphinx reads the file as a decoder starts, so all
        are built now and the file removed; if one fails to build, nothing changes."""
        if mllr == self.mllr:
            return
        built = {}
        if mllr:
            fd, path = tempfile.mkstemp(suffix=".mllr")
            try:
                with os.fdopen(fd, "w", encoding="ascii") as fh:
                    fh.write(mllr)
                built = {name: self._build(name, {"mllr": path}) for name in self.settings}
            finally:
                os.remove(path)
        self._built, self.mllr = built, mllr

    def initial_cmn(self, name: str) -> str:
        self(name)
        return self._built[name][1]


def decode(decoders: Decoders, name: str, pcm: bytes):
    """One chunk as one utterance on decoder ``name``, from the model's initial state."""
    dec = decoders(name)
    dec.reinit_feat()
    dec.set_cmn(decoders.initial_cmn(name))
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    return dec


#: The word pass's beams when a recogniser's words find no path (``word_pass``): none, every path
#: kept. PocketSphinx's defaults (beam and pbeam 1e-48, wbeam 7e-29) lose every path through some
#: voices far from the model, and then the words mode gets no /p b m/ from the whole chunk (espeak-ng's
#: made-up voices and accents: 27 % of their /p b m/; ``wide_word_pass_rule_2026_12_06``); beams of
#: 1e-100 still lost Whisper's slightly misheard words on 29 of 380 of their lines (a quarter of the
#: /p b m/ missed there), where no pruning aligns 26. A line of words is a single path of a few
#: hundred HMMs at most, small enough to search whole (weights/provenance.json,
#: ``word_recognition.unpruned_word_pass_rule_2026_12_06i``). A transcript keeps the defaults: finding
#: no path is part of how a text for other audio is refused; a text the user trusts (*Trust Text*) is
#: searched unpruned too, over at most ``alignment.TRUSTED_WIDE_S`` of audio at a time.
WIDE_BEAMS = {"beam": 0.0, "pbeam": 0.0, "wbeam": 0.0}


def word_pass(decoders: Decoders, text: str, pcm: bytes, wide: bool = False):
    """The 'words' decoder's alignment of ``text`` (space-separated words) to one chunk: the decoder
    with its result, or None when no path survives PocketSphinx's beams -- with ``wide``, nor
    ``WIDE_BEAMS`` tried after them (only a pass that failed runs wide: an unpruned search over misheard
    words costs several times a narrow one). The beams are read when the alignment search is made
    (``set_align_text``), so the decoder's own stay as they were."""
    dec = decoders("words")
    for beams in ({}, WIDE_BEAMS) if wide else ({},):
        before = {name: dec.config[name] for name in beams}
        for name, value in beams.items():
            dec.config[name] = value
        try:
            dec.set_align_text(text)
        finally:
            for name, value in before.items():
                dec.config[name] = value
        decode(decoders, "words", pcm)
        if dec.hyp() is not None:
            return dec
    return None


def align_chunk(decoders: Decoders, words: list[str], pcm: bytes, wide: bool = False) -> dict | None:
    """Word then state alignment of one chunk to ``words`` ('words' decoder). None when the word
    pass (``word_pass``; ``wide``: a recogniser's words, tried again with wider beams) or the state
    pass fails; else ``words``: [name, start, duration, [[phone, start, duration], ...]] in frames."""
    dec = word_pass(decoders, " ".join(words), pcm, wide)
    if dec is None:
        return None
    dec.set_alignment()
    try:
        decode(decoders, "words", pcm)
    except RuntimeError:
        return None
    return {"words": [(w.name, w.start, w.duration, [(p.name, p.start, p.duration) for p in w])
                      for w in dec.get_alignment().words()]}


def recognise_chunk(decoders: Decoders, pcm: bytes) -> dict:
    """Word recognition of one chunk with the language model ('recognise' decoder), then the
    recognised words aligned to it as ``align_chunk`` aligns a transcript's ('words' decoder, the
    whole dictionary): ``text`` (the words, '' for none) and ``words`` (``align_chunk``'s, None when
    its passes fail)."""
    hyp = decode(decoders, "recognise", pcm).hyp()
    words = hyp.hypstr.split() if hyp is not None else []
    aligned = align_chunk(decoders, words, pcm, wide=True) if words else {"words": []}
    return {"text": " ".join(words), "words": aligned["words"] if aligned is not None else None}


def run_job(decoders: Decoders, header: dict, pcm: bytes):
    """The answer to one request (the main process runs the same passes itself for a chunk no helper ran)."""
    decoders.adapt(header.get("mllr", ""))
    if header["kind"] == "recognise":
        return recognise_chunk(decoders, pcm)
    return align_chunk(decoders, header["words"], pcm, wide=header.get("wide", False))


def _read_exactly(stream, n: int) -> bytes:
    data = stream.read(n)
    if len(data) != n:
        raise EOFError("the main process closed the pipe mid-request")
    return data


def main(settings_json: str, lazy: bool = False) -> int:
    decoders = Decoders(json.loads(settings_json))
    for name in decoders.settings if not lazy else ():     # built now, while the main process has other work
        decoders(name)
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        n_header, n_pcm = struct.unpack("<qq", _read_exactly(stdin, 16))
        if n_header == 0:
            return 0
        header = json.loads(_read_exactly(stdin, n_header))
        pcm = _read_exactly(stdin, n_pcm)
        answer = run_job(decoders, header, pcm)
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], "--lazy" in sys.argv[2:]))
