"""Finding and verifying shipped weights.

Every file in ``weights/`` has an entry in ``weights/provenance.json`` with its sha256 and how it
was made. Loading checks the hash: a corrupted or swapped file is refused with a clear message
instead of producing silent garbage, and a missing file says how to train one.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .errors import DamagedFileError, MissingWeightsError

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIR = PACKAGE_ROOT / "weights"
PROVENANCE = "provenance.json"

HOW_TO_GET = {
    "animator.safetensors": "train it with `python -m talkface.training.animator` (see README, 'Training')",
    "generator.safetensors": "train it with `python -m talkface.training.generator` (see README, 'Training')",
    "mouth_generator.safetensors": "train it with `python -m talkface.training.generator --region mouth` "
                                   "(see README, 'Training')",
    "face_model.npz": "rebuild it with `python scripts/build_face_model.py`",
    "recognition.dict": "rebuild it with `python -m talkface.training.vocabulary` (see README, 'Training')",
}


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_provenance(weights_dir: str | os.PathLike | None = None) -> dict:
    path = Path(weights_dir or DEFAULT_DIR) / PROVENANCE
    if not path.is_file():
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            records = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DamagedFileError(f"The weights record {path} is damaged ({exc}): restore it or reinstall TalkFace") \
            from None
    if not isinstance(records, dict):
        raise DamagedFileError(f"The weights record {path} is damaged (not a table of files): restore it or "
                               "reinstall TalkFace")
    return records


def weights_path(name: str, weights_dir: str | os.PathLike | None = None, verify: bool = True) -> Path:
    """Path of a weights file, checked against its recorded sha256.

    ``weights_dir`` (the add-on preference) overrides the shipped folder; its own
    ``provenance.json`` is used if present, else the shipped record.
    """
    folder = Path(weights_dir) if weights_dir else DEFAULT_DIR
    path = folder / name
    if not path.is_file():
        hint = HOW_TO_GET.get(name, "see README, 'Training'")
        raise MissingWeightsError(f"Weights file {name} not found in {folder}: {hint}")
    if verify:
        record = read_provenance(folder).get(name) or read_provenance().get(name)
        if record is None:
            raise MissingWeightsError(
                f"Weights file {path} has no entry in {PROVENANCE}; record its sha256 there "
                "(the training commands do this) before using it"
            )
        actual = sha256_file(path)
        if actual != record.get("sha256"):
            raise DamagedFileError(
                f"Weights file {path} is damaged: it does not match its recorded checksum "
                f"(expected {str(record.get('sha256'))[:12]}..., found {actual[:12]}...); restore it or "
                "reinstall TalkFace"
            )
    return path


def record_provenance(name: str, entry: dict, weights_dir: str | os.PathLike | None = None) -> dict:
    """Add or replace ``name``'s record (sha256 computed here) in the folder's provenance.json."""
    folder = Path(weights_dir or DEFAULT_DIR)
    records = read_provenance(folder)
    entry = {**entry, "sha256": sha256_file(folder / name)}
    records[name] = entry
    with open(folder / PROVENANCE, "w", encoding="utf-8") as fh:
        json.dump(records, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return entry
