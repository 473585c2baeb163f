"""One training corpus from several: their train shards linked side by side, one held-out split.

    python -m talkface.training.corpus.combine --out corpus/v10 corpus/v5 corpus/v6a corpus/asterisk6 \
        --heldout-from corpus/v3

Nothing is copied: ``OUT/train/NAME_shard_*.npz`` are symlinks to each part's train shards (so
evidence added through them lands in the parts), ``OUT/heldout`` links the held-out split of
``--heldout-from``. The parts must share fps and target channels; the manifest sums their
training splits and lists the parts.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .build import _heldout_source


def combine(out: str | Path, parts: list[str | Path], heldout_from: str | Path) -> dict:
    out = Path(out)
    if out.exists():
        raise ValueError(f"{out} exists: choose a new folder")
    manifests = {}
    for part in map(Path, parts):
        try:
            manifests[part] = json.loads((part / "manifest.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{part}: no readable manifest.json ({exc})") from exc
    first = next(iter(manifests.values()))
    for part, m in manifests.items():
        if float(m["fps"]) != float(first["fps"]) or m["channels"] != first["channels"]:
            raise ValueError(f"{part}: its fps or target channels differ from {next(iter(manifests))}'s")
    source = _heldout_source(Path(heldout_from), float(first["fps"]))
    (out / "train").mkdir(parents=True)
    train = dict(shards=0, utterances=0, seconds=0.0, speakers=set())
    for part, m in manifests.items():
        for shard in sorted((part / "train").glob("shard_*.npz")):
            (out / "train" / f"{part.name}_{shard.name}").symlink_to(shard.resolve())
            train["shards"] += 1
        split = m["splits"]["train"]
        train["utterances"] += split["utterances"]
        train["seconds"] += split["seconds"]
        train["speakers"] |= set(split["speakers"])
    (out / "heldout").symlink_to(source["folder"], target_is_directory=True)
    manifest = {key: first[key] for key in ("fps", "sample_rate", "channels", "features", "features_logmel",
                                            "held_out_accents", "held_out_variants")}
    manifest.update(
        parts={str(part): {k: m.get(k) for k in ("seed", "hours", "engines", "engine_share", "recordings",
                                                   "recording_copies", "recording_codec", "recording_speed",
                                                   "random_voice_share", "train_reverb_p")}
               for part, m in manifests.items()},
        seed=first.get("seed"), hours=round(train["seconds"] / 3600 + source["split"]["seconds"] / 3600, 3),
        splits={"train": {**train, "speakers": sorted(train["speakers"])}, "heldout": source["split"]},
        heldout_from=source["folder"])
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m talkface.training.corpus.combine", description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="+", help="corpora whose train shards are combined")
    ap.add_argument("--out", required=True)
    ap.add_argument("--heldout-from", required=True, help="the corpus whose held-out split is linked")
    a = ap.parse_args(argv)
    try:
        m = combine(a.out, a.parts, a.heldout_from)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    t = m["splits"]["train"]
    print(f"{a.out}: {t['shards']} train shards, {t['utterances']} utterances, {t['seconds'] / 3600:.2f} h, "
          f"{len(t['speakers'])} speakers")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
