"""One way to train (``training.loop``): the command line generated from each trainer's
configuration, one checkpoint name (``OUT.ckpt``) and one ``--resume`` for both trainers, a
resume that refuses another configuration, the configuration in the checkpoint and in the
provenance entry, and defaults that are the shipped weights' recipe."""

from __future__ import annotations

import itertools
import json
import shlex
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from talkface.core.video.flow import DenseFlow
from talkface.core.video.generator import Generator, GeneratorConfig
from talkface.training import animator, generator, loop
from talkface.training.distributed import DistContext

ROOT = Path(__file__).resolve().parents[1]
TRAINERS = {"animator": (animator, animator.AnimatorTrainConfig),
            "generator": (generator, generator.GeneratorTrainConfig)}


def _quiet(*args, **kwargs):
    pass


# ------------------------------------------------------------------------------ command line
def _other_value(f, default):
    """A valid value for field ``f`` that is not its default."""
    choices = f.metadata.get("choices")
    if choices:
        return next(c for c in choices if c != default)
    if default is None:
        return "elsewhere.safetensors"
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 3
    if isinstance(default, float):
        return default + 0.25
    return default + "x"


def _argv(config) -> list[str]:
    out = []
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, bool):
            out.append(loop.flag(f.name) if value else "--no-" + f.name.replace("_", "-"))
        elif value is not None:
            out += [loop.flag(f.name), str(value)]
    return out


@pytest.mark.parametrize("name", TRAINERS)
def test_every_field_has_a_flag_with_its_default_and_help(name):
    module, cls = TRAINERS[name]
    ap = module.parser()
    by_dest = {a.dest: a for a in ap._actions}
    for f in fields(cls):
        action = by_dest[f.name]
        no = ["--no-" + f.name.replace("_", "-")] if isinstance(f.default, bool) else []
        assert action.option_strings == [loop.flag(f.name), *no]
        assert action.default == f.default, f.name
        assert action.help and f.metadata["help"].split()[0] in action.help
    # nothing on the command line but the fields, --data, --out, --resume (and --help)
    assert set(by_dest) == {f.name for f in fields(cls)} | {"data", "out", "resume", "help"}
    args = ap.parse_args(["--data", "d", "--out", "w.safetensors"])
    assert loop.config_from_args(cls, args) == cls()
    assert args.resume is False


@pytest.mark.parametrize("name", TRAINERS)
def test_a_configuration_parses_back_to_itself(name):
    module, cls = TRAINERS[name]
    changed = cls(**{f.name: _other_value(f, f.default) for f in fields(cls)})
    assert all(getattr(changed, f.name) != f.default for f in fields(cls))
    args = module.parser().parse_args(["--data", "d", "--out", "w.safetensors", *_argv(changed)])
    assert loop.config_from_args(cls, args) == changed
    # and its typed values survive: ints stay ints, floats floats
    for f in fields(cls):
        assert type(getattr(loop.config_from_args(cls, args), f.name)) is type(getattr(changed, f.name))


def test_bool_and_optional_fields_become_flags():
    @dataclass(frozen=True)
    class Probe:
        amp: bool = loop.option(False, "mixed precision")
        init: str | None = loop.option(None, "weights to start from")
        kind: str = loop.option("a", "which", choices=("a", "b"))

    ap = loop.build_parser(Probe, "probe", "data")
    base = ["--data", "d", "--out", "o"]
    assert loop.config_from_args(Probe, ap.parse_args(base)) == Probe()
    assert loop.config_from_args(Probe, ap.parse_args([*base, "--amp", "--init", "w"])) == Probe(True, "w")
    assert loop.config_from_args(Probe, ap.parse_args([*base, "--amp", "--no-amp"])).amp is False
    with pytest.raises(SystemExit):
        ap.parse_args([*base, "--kind", "c"])


def test_both_trainers_take_the_same_resume_flag_and_checkpoint_name(tmp_path):
    resumes = []
    for module, _ in TRAINERS.values():
        ap = module.parser()
        action = next(a for a in ap._actions if a.dest == "resume")
        resumes.append((action.option_strings, action.nargs, action.const, action.default, action.help))
        assert ap.parse_args(["--data", "d", "--out", "o", "--resume"]).resume is True
    assert resumes[0] == resumes[1] and resumes[0][1] == 0  # a flag, no path
    assert loop.checkpoint_path(tmp_path / "w.safetensors") == tmp_path / "w.safetensors.ckpt"


# ------------------------------------------------------- the shipped weights' recipe as defaults
def _shipped_args(command: str, module: str) -> list[str]:
    """The trainer's arguments in one stage of a recorded command (the old module names)."""
    for stage in command.split("&&"):
        words = shlex.split(stage)
        if module in words:
            return words[words.index(module) + 1:]
    raise AssertionError(f"{module} not in {command}")


def test_animator_defaults_are_the_shipped_recipe():
    from safetensors import safe_open

    prov = json.loads((ROOT / "weights" / "provenance.json").read_text())["animator.safetensors"]
    args = _shipped_args(prov["command"], "talkface.training.animator")
    cfg = loop.config_from_args(animator.AnimatorTrainConfig, animator.parser().parse_args(args))
    default = animator.AnimatorTrainConfig()
    # what the run did not set on its command line came from the defaults of the time: the same;
    # except the phone posteriors, which need a corpus that holds them (so they are not a default)
    assert cfg.phone_posteriors and cfg.evidence_dropout == 0.2
    assert replace(cfg, steps=default.steps, threads=default.threads, phone_posteriors=False,
                   evidence_dropout=default.evidence_dropout) == default
    with safe_open(str(ROOT / "weights" / "animator.safetensors"), "pt") as fh:
        shipped = json.loads(fh.metadata()["config"])
    assert shipped["style_dropout"] == default.style_dropout
    assert shipped["feature_kind"] == default.features and shipped["width"] == default.width
    assert prov["steps"] == default.steps


def test_generator_defaults_are_the_shipped_from_scratch_recipe():
    prov = json.loads((ROOT / "weights" / "provenance.json").read_text())["generator.safetensors"]
    args = _shipped_args(prov["init_from"]["command"], "core.train_generator")
    cfg = loop.config_from_args(generator.GeneratorTrainConfig, generator.parser().parse_args(args))
    assert cfg == generator.GeneratorTrainConfig()
    assert prov["config"]["channels"] == cfg.channels and prov["config"]["internal"] == cfg.internal
    assert prov["max_crop"] == cfg.max_crop and prov["batch"] == cfg.batch


# ------------------------------------------------------------------------------ checkpoints
def _clips(n=4, seed=0):
    rng = np.random.default_rng(seed)
    channels = ("jawOpen", "mouthClose", "browInnerUp", "eyeBlinkLeft",
                "head_rx", "head_ry", "head_rz", "head_tx", "head_ty", "head_tz")
    out = []
    for i in range(n):
        feats = rng.standard_normal((120, 16)).astype(np.float32)
        tgt = np.zeros((120, len(channels)), np.float32)
        tgt[:, 0] = 1 / (1 + np.exp(-2 * feats[:, 0]))
        tgt[:, 1] = 0.5 * tgt[:, 0]
        out.append(animator.Clip(feats, tgt, channels, f"v{i % 2}", np.zeros(120, np.float32)))
    return out


def _face_batch(n: int, size: int = 96) -> generator.PairBatch:
    g = torch.Generator().manual_seed(n)
    photo = F.avg_pool2d(torch.rand(1, 3, size + 2, size + 2, generator=g), 3, 1)
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    face = ((((xs - size / 2) / (0.2 * size)) ** 2 + ((ys - size / 2) / (0.28 * size)) ** 2) < 1).float()
    flow = torch.zeros(n, size, size, 2)
    flow[..., 0] = -1.0 * face
    dense = DenseFlow(flow, torch.zeros(n, size, size), face.expand(n, size, size).clone())
    return generator.PairBatch(photo, dense, photo.expand(n, -1, -1, -1).clone(), torch.ones(n, 1, size, size), photo)


BATCHES: list[int] = []  # one entry per training batch drawn, by either trainer (see _count_batches)


class FakePairs:
    """A dataset of one synthetic photo: what ``generator._sampler`` needs."""

    def indices(self, split):
        return [("p", i) for i in range(6)]

    def batch(self, name, ids):
        BATCHES.append(1)
        return _face_batch(len(list(ids)))


@pytest.fixture
def count_batches(monkeypatch):
    real = animator.Windows.batch

    def counted(self, size):
        BATCHES.append(1)
        return real(self, size)

    monkeypatch.setattr(animator.Windows, "batch", counted)
    BATCHES.clear()
    return BATCHES


def _run(name: str, out: Path, cfg, resume=False, log=_quiet) -> dict:
    """One training run of trainer ``name`` writing ``out`` (and ``out.ckpt``)."""
    if name == "animator":
        clips = _clips()
        return animator.train(clips, [], str(out), cfg, resume=resume, log=log)
    loop.seed_model(cfg.seed)
    model = Generator(GeneratorConfig(channels=cfg.channels, internal=cfg.internal, bottleneck_blocks=1))
    return generator.train(model, [FakePairs()], cfg, out, resume=resume, log=log)


TINY = {"animator": animator.AnimatorTrainConfig(steps=2, batch=2, window_s=1.0, width=16, ckpt_every=1),
        "generator": generator.GeneratorTrainConfig(steps=2, batch=2, channels=8, internal=64, ckpt_every=1)}


@pytest.mark.parametrize("name", TRAINERS)
def test_checkpoint_round_trip_and_resume(name, tmp_path, count_batches):
    out = tmp_path / f"{name}.safetensors"
    cfg = TINY[name]
    _run(name, out, cfg)
    assert len(count_batches) == 2
    ckpt = tmp_path / f"{name}.safetensors.ckpt"  # the same OUT.ckpt for both trainers
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 2 and state["config"] == asdict(cfg)
    assert state["opt"]["param_groups"][0]["lr"] == pytest.approx(loop.cosine_lr(1, 2, cfg.lr))
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically: no temporary left behind
    trained = {k: v.clone() for k, v in state["model"].items()}

    # --resume with more steps: continues at the saved step from the saved weights, same configuration
    lines = []
    count_batches.clear()
    report = _run(name, out, replace(cfg, steps=4), resume=True, log=lines.append)
    assert f"resumed from {ckpt} at step 2" in lines[0]
    assert len(count_batches) == 2 and report["steps"] == 4  # steps 2 and 3 only
    state = torch.load(ckpt, weights_only=True)
    assert state["step"] == 4 and state["config"] == asdict(replace(cfg, steps=4))
    # the learning rate follows the longer schedule from the resumed step on
    assert state["opt"]["param_groups"][0]["lr"] == pytest.approx(loop.cosine_lr(3, 4, cfg.lr))
    assert any(not torch.equal(trained[k], v) for k, v in state["model"].items())

    # another configuration is refused, naming what differs; the checkpoint is left as it was
    lr = replace(cfg, steps=6, lr=cfg.lr * 2)
    with pytest.raises(loop.ConfigMismatch, match="--lr"):
        _run(name, out, lr, resume=True)
    assert torch.load(ckpt, weights_only=True)["step"] == 4
    # without --resume the same out starts afresh
    lines.clear()
    _run(name, out, replace(lr, steps=1), log=lines.append)
    assert not any("resumed" in line for line in lines)
    assert torch.load(ckpt, weights_only=True)["step"] == 1


def test_resume_without_a_checkpoint_starts_at_step_0(tmp_path):
    lines = []
    _run("animator", tmp_path / "a.safetensors", TINY["animator"], resume=True, log=lines.append)
    assert "no checkpoint at" in lines[0] and "starting at step 0" in lines[0]
    assert torch.load(tmp_path / "a.safetensors.ckpt", weights_only=True)["step"] == 2


def test_a_checkpoint_without_a_configuration_resumes_with_a_warning(tmp_path):
    out = tmp_path / "a.safetensors"
    _run("animator", out, TINY["animator"])
    ckpt = loop.checkpoint_path(out)
    state = torch.load(ckpt, weights_only=True)
    del state["config"]  # as the trainers wrote them before
    torch.save(state, ckpt)
    lines = []
    _run("animator", out, replace(TINY["animator"], steps=3), resume=True, log=lines.append)
    assert "warning" in lines[0] and "records no training configuration" in lines[0]
    assert any("resumed from" in line and "at step 2" in line for line in lines)


def test_only_resumable_fields_may_change_on_resume():
    cfg = animator.AnimatorTrainConfig()
    saved = asdict(cfg)
    moved = replace(cfg, steps=9000, threads=4, ckpt_every=10, device="auto")
    assert loop.config_changes(saved, moved) == ({}, [])
    changed, _ = loop.config_changes(saved, replace(cfg, closure_boost=4.0, features="mfcc"))
    assert changed == {"closure_boost": (8.0, 4.0), "features": ("logmel", "mfcc")}
    del saved["muffle"]
    assert loop.config_changes(saved, cfg) == ({}, ["muffle"])


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors.ckpt"
    loop.save_checkpoint(path, {"step": 1})
    real_save = torch.save

    def interrupted(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        loop.save_checkpoint(path, {"step": 2})
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(path, weights_only=True) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


# ----------------------------------------------------------------------- schedule and seeds
def test_cosine_schedule():
    assert loop.cosine_lr(0, 100, 2e-3) == pytest.approx(2e-3)
    assert loop.cosine_lr(50, 100, 2e-3) == pytest.approx(1e-3)
    assert loop.cosine_lr(100, 100, 2e-3) == pytest.approx(0.0, abs=1e-12)
    assert loop.cosine_lr(150, 100, 2e-3) == pytest.approx(0.0, abs=1e-12)
    lrs = [loop.cosine_lr(s, 100, 1.0) for s in range(101)]
    assert all(a >= b for a, b in itertools.pairwise(lrs))


def test_data_seeds_differ_per_rank_and_match_the_seed_alone():
    single = loop.data_rng(3, DistContext())
    assert single.integers(0, 1 << 30, 4).tolist() == np.random.default_rng(3).integers(0, 1 << 30, 4).tolist()
    draws = {r: loop.data_rng(3, DistContext(rank=r, world_size=2)).integers(0, 1 << 30, 4).tolist()
             for r in (0, 1)}
    assert draws[0] != draws[1]
    assert loop.data_rng(3, DistContext(), 7).integers(0, 1 << 30, 4).tolist() != \
        np.random.default_rng(3).integers(0, 1 << 30, 4).tolist()


# ------------------------------------------------------------------------------- provenance
def _write_corpus(folder: Path, clips) -> None:
    """A corpus in ``training.corpus.build``'s layout: manifest and one shard per split."""
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"fps": 50.0, "channels": list(clips[0].channels),
                                                      "seed": 1, "hours": 0.01}))
    for split in ("train", "heldout"):
        (folder / split).mkdir()
        feats = np.concatenate([c.features for c in clips])
        offsets = np.cumsum([0] + [len(c.features) for c in clips])
        np.savez(folder / split / "000.npz", features=feats, features_logmel=feats,
                 targets=np.concatenate([c.targets for c in clips]), frame_offsets=offsets,
                 speaker=np.array([c.speaker for c in clips]))


def test_the_configuration_lands_in_the_checkpoint_and_the_provenance(tmp_path):
    _write_corpus(tmp_path / "corpus", _clips())
    out = tmp_path / "w" / "animator.safetensors"
    argv = ["--data", str(tmp_path / "corpus"), "--out", str(out), "--steps", "2", "--batch", "2",
            "--width", "16", "--window-s", "1", "--closure-boost", "6", "--threads", "1"]
    assert animator.main(argv) == 0
    prov = json.loads((out.parent / "provenance.json").read_text())["animator.safetensors"]
    cfg = animator.AnimatorTrainConfig(steps=2, batch=2, width=16, window_s=1.0, closure_boost=6.0, threads=1)
    assert prov["config"] == asdict(cfg)
    assert torch.load(loop.checkpoint_path(out), weights_only=True)["config"] == asdict(cfg)
    assert prov["command"] == shlex.join([".venv/bin/python", "-m", "talkface.training.animator", *argv])
    assert prov["steps"] == 2 and prov["processes"] == 1 and "mouth_l1" in prov["metrics"]
    assert prov["sha256"] and prov["data"]["hours"] == 0.01
    assert prov["data"]["sources_trained"] == ["espeak"]       # no other engine spoke: the bench's 'seen'
    # the recorded command reproduces the configuration
    again = animator.parser().parse_args(shlex.split(prov["command"])[3:])
    assert loop.config_from_args(animator.AnimatorTrainConfig, again) == cfg


def test_provenance_entry_holds_command_config_layout_and_report():
    cfg = generator.GeneratorTrainConfig(steps=7)
    ctx = DistContext(rank=0, world_size=2, backend="gloo")
    entry = loop.provenance_entry("talkface.training.generator", ["--data", "a b", "--steps", "7"], cfg, ctx,
                                  {"steps": 7, "metrics": {"x": 1}}, what="w")
    assert entry["config"] == asdict(cfg) and entry["what"] == "w" and entry["metrics"] == {"x": 1}
    assert entry["processes"] == 2 and entry["backend"] == "gloo" and entry["device"] == "cpu"
    assert shlex.split(entry["command"])[-4:] == ["--data", "a b", "--steps", "7"]
