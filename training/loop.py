"""What the offline trainers (``training.animator``, ``training.generator``) share: one way to
configure, checkpoint, resume, schedule, seed and record a training run.

* Configuration: each trainer declares one frozen dataclass whose fields are every knob of a
  run, each with its one default (``option``). The command line is generated from it
  (``build_parser``: field ``ckpt_every`` is ``--ckpt-every``, its type the argparse type, its
  help the field's), so a flag and its default cannot drift apart.
* Checkpoint: ``OUT.ckpt`` next to the weights file ``OUT``, written atomically (a temporary file
  then ``os.replace``) by rank 0 every ``--ckpt-every`` steps and at the last step. It holds the
  model, the optimiser, the step, the wall time so far and the configuration (as a dict).
* Resume: ``--resume`` continues from ``OUT.ckpt`` (the same command with ``--resume`` added;
  ``--steps`` may grow). A configuration that differs from the checkpoint's in anything but the
  fields marked ``resumable`` (steps, threads, device, checkpoint and evaluation cadence) is
  refused with the differences listed (``ConfigMismatch``); a checkpoint that records no
  configuration (an older trainer's) is resumed with a warning; ``--resume`` without a
  checkpoint starts at step 0.
* Schedule: the learning rate follows a cosine from ``lr`` at step 0 to 0 at ``steps``.
* Seeding: ``torch.manual_seed(seed)`` before the model is built (the same initial weights on
  every rank), and a numpy generator for the data seeded with ``seed`` (+ the rank under DDP, so
  every rank draws its own batches; the generator adds the resumed step, so a resumed run draws
  fresh batches, while the animator's replays its sequence, as each did before).
* Provenance: the entry written next to the weights (``core.weights.record_provenance``) holds
  the command line, the configuration, the process layout and the trainer's report.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, asdict, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.weights import record_provenance
from . import distributed
from .distributed import DistContext

CHECKPOINT_SUFFIX = ".ckpt"


def option(default: Any, help: str, *, choices: tuple | None = None, resumable: bool = False):
    """A configuration field: its default, the help of its ``--flag``, the values it may take,
    and whether a resumed run may change it (``resumable``: how long, where and how often, not
    what is trained)."""
    return field(default=default, metadata={"help": help, "choices": choices, "resumable": resumable})


# ---------------------------------------------------------------------------- command line
def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _argparse_type(annotation) -> type:
    """int, float, str or bool of a field's annotation (``X | None`` reads as ``X``)."""
    args = typing.get_args(annotation)
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in args if a is not type(None)]
        if len(args) != 1:
            raise TypeError(f"unsupported configuration type {annotation}")
        annotation = args[0]
    if annotation not in (int, float, str, bool):
        raise TypeError(f"unsupported configuration type {annotation}")
    return annotation


def add_config_arguments(parser: argparse.ArgumentParser, config_cls: type) -> None:
    """One ``--flag`` per field of ``config_cls``, with the field's default, type and help."""
    hints = typing.get_type_hints(config_cls)
    group = parser.add_argument_group(
        "training configuration (saved in the checkpoint and in the provenance entry)")
    for f in fields(config_cls):
        if f.default is MISSING:
            raise TypeError(f"{config_cls.__name__}.{f.name} has no default")
        kind = _argparse_type(hints[f.name])
        help_ = f.metadata.get("help", "").replace("%", "%%") + " (default: %(default)s)"
        if kind is bool:
            group.add_argument(flag(f.name), dest=f.name, default=f.default, help=help_,
                               action=argparse.BooleanOptionalAction)
        else:
            group.add_argument(flag(f.name), dest=f.name, default=f.default, help=help_, type=kind,
                               choices=f.metadata.get("choices"))


def build_parser(config_cls: type, description: str, data_help: str,
                 data_nargs: str | None = None) -> argparse.ArgumentParser:
    """The trainers' command line: ``--data``, ``--out``, ``--resume`` and the configuration."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--data", required=True, nargs=data_nargs, help=data_help)
    ap.add_argument("--out", required=True,
                    help=f"weights file to write (.safetensors); its checkpoint is OUT{CHECKPOINT_SUFFIX}")
    ap.add_argument("--resume", action="store_true",
                    help=f"continue from OUT{CHECKPOINT_SUFFIX} (same configuration; --steps may grow)")
    add_config_arguments(ap, config_cls)
    return ap


def config_from_args(config_cls: type, args: argparse.Namespace):
    return config_cls(**{f.name: getattr(args, f.name) for f in fields(config_cls)})


def config_dict(config) -> dict:
    return asdict(config)


# ------------------------------------------------------------------------------ checkpoints
def checkpoint_path(out: str | os.PathLike) -> Path:
    """``OUT.ckpt``: the checkpoint of the run that writes weights file ``out``."""
    return Path(str(out) + CHECKPOINT_SUFFIX)


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """``torch.save`` to a temporary file beside ``path``, then an atomic rename: an interrupted
    write leaves the previous checkpoint whole."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


class ConfigMismatch(ValueError):
    """A resumed run whose configuration is not the checkpoint's."""


def config_changes(saved: dict, config) -> tuple[dict[str, tuple], list[str]]:
    """({field: (checkpoint's value, this run's)} of the fields a resumed run may not change,
    [fields the checkpoint does not record])."""
    changed, unrecorded = {}, []
    for f in fields(config):
        if f.metadata.get("resumable"):
            continue
        value = getattr(config, f.name)
        if f.name not in saved:
            unrecorded.append(f.name)
        elif saved[f.name] != value:
            changed[f.name] = (saved[f.name], value)
    return changed, unrecorded


def load_checkpoint(path: str | os.PathLike, config, log: Callable = print) -> dict:
    """A checkpoint's state, after checking it was written under ``config``: a difference in a
    field that is not ``resumable`` raises ``ConfigMismatch``; a checkpoint (or field) without a
    recorded configuration is accepted with a warning."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    saved = state.get("config")
    if saved is None:
        log(f"warning: {path} records no training configuration (written by an older trainer): "
            "resuming without checking it matches this run's")
        return state
    changed, unrecorded = config_changes(saved, config)
    if changed:
        diff = ", ".join(f"{flag(k)} {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise ConfigMismatch(f"{path} was written with another configuration ({diff}); resume with "
                             "the checkpoint's values, or start afresh without --resume")
    if unrecorded:
        log(f"warning: {path} does not record {', '.join(flag(k) for k in unrecorded)}: "
            "resuming without checking them")
    return state


def cosine_lr(step: int, steps: int, lr: float) -> float:
    """Cosine decay from ``lr`` at step 0 to 0 at ``steps`` (and after)."""
    return lr * 0.5 * (1 + math.cos(math.pi * min(step / max(steps, 1), 1.0)))


def _silent(*args, **kwargs) -> None:
    pass


class Run:
    """One training run's bookkeeping, on every rank: the checkpoint ``OUT.ckpt`` (rank 0 writes
    it; every rank resumes from it), the learning rate of each step, the wall time (carried
    over a resume) and the log (rank 0 only). ``config`` needs ``steps``, ``lr`` and
    ``ckpt_every``; ``out`` None: no checkpoint."""

    def __init__(self, config, out: str | os.PathLike | None = None, *, ctx: DistContext | None = None,
                 log: Callable = print):
        self.config = config
        self.ctx = ctx or DistContext()
        self.log = log if self.ctx.is_main else _silent
        self.path = checkpoint_path(out) if out is not None else None
        self.start = 0
        self._wall_before = 0.0
        self._t0 = time.perf_counter()

    def resume(self, model: torch.nn.Module, opt: torch.optim.Optimizer) -> dict:
        """Load ``OUT.ckpt`` into ``model`` and ``opt`` (the optimiser state goes where the
        parameters are) and continue at its step; returns the checkpoint's state ({} if none)."""
        if self.path is None or not self.path.is_file():
            self.log(f"no checkpoint at {self.path}: starting at step 0")
            return {}
        state = load_checkpoint(self.path, self.config, self.log)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        self.start = int(state["step"])
        self._wall_before = float(state.get("wall", 0.0))
        self._t0 = time.perf_counter()
        self.log(f"resumed from {self.path} at step {self.start} ({self._wall_before:.0f} s so far)")
        return state

    def steps(self) -> range:
        """The steps still to run; starts the clock."""
        self._t0 = time.perf_counter()
        return range(self.start, self.config.steps)

    @property
    def wall(self) -> float:
        """Seconds of training so far, over every resumed part of the run."""
        return self._wall_before + time.perf_counter() - self._t0

    def set_lr(self, opt: torch.optim.Optimizer, step: int) -> None:
        for group in opt.param_groups:
            group["lr"] = cosine_lr(step, self.config.steps, self.config.lr)

    def checkpoint(self, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer, **extra) -> None:
        """After ``step`` (0-based): on rank 0, write ``OUT.ckpt`` every ``ckpt_every`` steps and
        at the last step. ``extra``: the trainer's own entries (tensors, numbers, strings)."""
        done = step + 1
        if not self.ctx.is_main or self.path is None:
            return
        if done % self.config.ckpt_every and done != self.config.steps:
            return
        save_checkpoint(self.path, {"model": model.state_dict(), "opt": opt.state_dict(), "step": done,
                                    "wall": self.wall, "config": config_dict(self.config), **extra})


def optimiser_step(loss: torch.Tensor, model: torch.nn.Module, opt: torch.optim.Optimizer,
                   max_norm: float = 1.0) -> None:
    """Backward pass, gradient norm clipped to ``max_norm``, one optimiser step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    opt.step()


# ----------------------------------------------------------------------------------- seeding
def seed_model(seed: int) -> None:
    """Seed torch before the model is built: the same initial weights on every rank."""
    torch.manual_seed(seed)


def data_rng(seed: int, ctx: DistContext, *extra: int) -> np.random.Generator:
    """The data's random numbers: from ``seed`` (and ``extra``), plus the rank under DDP so each
    rank draws its own batches."""
    parts = [seed, *extra] + ([ctx.rank] if ctx.active else [])
    return np.random.default_rng(parts if len(parts) > 1 else seed)


# -------------------------------------------------------------------------------- the run
def start(parser: argparse.ArgumentParser, config_cls: type, argv) -> tuple[argparse.Namespace, Any, DistContext]:
    """Parse the command line, apply the configuration's thread count, make the weights folder
    and join torchrun's process group if launched by it: (args, config, dist context)."""
    args = parser.parse_args(argv)
    config = config_from_args(config_cls, args)
    if config.threads:
        torch.set_num_threads(config.threads)
    Path(args.out).resolve().parent.mkdir(parents=True, exist_ok=True)
    return args, config, distributed.setup(config.device)


def command_line(module: str, argv) -> str:
    """The command that ran, as the README writes it."""
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join([".venv/bin/python", "-m", module, *args])


def provenance_entry(module: str, argv, config, ctx: DistContext, report: dict, **fields_) -> dict:
    """The provenance record of a training run: what, its command line, its configuration, the
    process layout, then the trainer's report (steps, wall time, metrics ...)."""
    return {**fields_, "command": command_line(module, argv), "config": config_dict(config),
            "processes": ctx.world_size, "backend": ctx.backend or None, "device": ctx.device.type,
            **report}


def record(out: str | os.PathLike, entry: dict) -> dict:
    """Write ``entry`` as the provenance of weights file ``out`` (in its folder's
    provenance.json, with its sha256) and print its metrics."""
    out = Path(out).resolve()
    entry = record_provenance(out.name, entry, out.parent)
    print(json.dumps(entry.get("metrics", {})), flush=True)
    return entry
