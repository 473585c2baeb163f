"""Join training runs of one recipe into one weights file whose outputs are their mean, the lip
seal decided once (``core.audio.network.Ensemble``; ``--seal``: how the runs' seals combine).

    python -m talkface.training.ensemble --out w/animator.safetensors \
        run0/animator.safetensors run1/animator.safetensors

Every member must be recorded in its folder's provenance.json (the trainer does this) and match
its sha256; the members must share one configuration and their feature statistics (one recipe on
one corpus, other seeds). The new file's provenance entry keeps each member's entry and sha256.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.audio.inference import load_animator_file, save_animator
from ..core.audio.network import Ensemble
from ..core.errors import DamagedFileError, MissingWeightsError
from ..core.weights import read_provenance, record_provenance, weights_path
from .loop import command_line


def member_entry(path: str) -> dict:
    """A member's provenance entry (checked against its sha256), its path and file name added."""
    p = Path(path).resolve()
    try:
        entry = read_provenance(p.parent).get(p.name)
        if entry is None:
            raise MissingWeightsError(f"{p} is not recorded in its folder's provenance.json: join the runs "
                                      "the trainer wrote, each with its record")
        weights_path(p.name, p.parent)      # a damaged file is refused
    except (MissingWeightsError, DamagedFileError) as exc:
        raise SystemExit(str(exc)) from None
    return {"file": str(p), **entry}


def join(paths: list[str], out: str, argv: list[str] | None = None, seal: str = "mean") -> dict:
    """Write the ensemble of ``paths`` (their seals combined by ``seal``, ``Ensemble``'s) to ``out``
    and record its provenance; returns the entry."""
    if len(paths) < 2:
        raise SystemExit("an ensemble needs at least two weights files")
    entries = [member_entry(p) for p in paths]
    members = [load_animator_file(p) for p in paths]
    if any(isinstance(m, Ensemble) for m in members):
        raise SystemExit("a member is itself an ensemble: give the single runs")
    try:
        model = Ensemble(members, seal)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    out_path = Path(out).resolve()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save_animator(model, str(out_path))
    first = entries[0]
    entry = record_provenance(out_path.name, {
        "what": f"ensemble of {len(paths)} runs of one recipe, seals combined by '{seal}' "
                "(core/audio/network.py Ensemble)",
        "command": command_line("talkface.training.ensemble", argv),
        "config": first.get("config"),
        "data": first.get("data"),
        "members": [{k: e.get(k) for k in ("file", "sha256", "command", "steps", "wall_s", "metrics")}
                    for e in entries],
    }, out_path.parent)
    print(f"{out_path}: {len(paths)} members, seal '{seal}', sha256 {entry['sha256'][:12]}...", flush=True)
    return entry


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("members", nargs="+", help="weights files of runs of one recipe (at least two)")
    ap.add_argument("--out", required=True, help="the ensemble's weights file")
    ap.add_argument("--seal", choices=Ensemble.SEALS, default="mean",
                    help="the lip seal's probability: the members' mean seal logit, or the largest member's")
    args = ap.parse_args(argv)
    join(args.members, args.out, argv, args.seal)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
