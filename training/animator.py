"""Train the audio-to-animation network on aligned clips (our espeak corpus or tracked HDTF).

    python -m talkface.training.animator --data CORPUS_DIR --out weights/animator.safetensors \\
        [--steps 5500] [--resume] [--threads 2]

Multi-task: L1 + velocity L1 on mouth, brows and head pose, binary cross-entropy on blink
onsets (the hazard the blink sampler uses), all heads trained together. Each training speaker
is one style. Runs on the CPU in well under an hour at the shipped size; ``OUT.ckpt`` makes it
resumable (``--resume``, ``training.loop``); the held-out voices are evaluated at the end with
the lip metrics of bench/lipsync. Every flag but ``--data``, ``--out`` and ``--resume`` is a
field of ``AnimatorTrainConfig``.
"""

from __future__ import annotations

import functools
import glob
import json
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..core.animation import HEAD_CHANNELS
from ..core.audio import phones, senones
from ..core.audio.features import FeatureConfig, Features, mfcc_from_logmel
from ..core.audio.inference import outputs_to_values, save_animator
from ..core.audio.mel import mel_frequencies
from ..core.audio.network import NETWORK_FPS, Animator, AnimatorConfig, make_presets, run_chunked
from ..core.face.model import ARKIT_NAMES, load_face_model
from . import distributed, loop
from .corpus.build import sources_trained
from .hdtf.records import Records, is_records
from .lip_metrics import lip_metrics
from .loop import option

BLINK_CHANNELS = ("eyeBlinkLeft", "eyeBlinkRight")
BROW_CHANNELS = ("browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight")


@dataclass(frozen=True)
class AnimatorTrainConfig:
    """Every knob of an animator training run, each with its one default; the command line is
    generated from these fields (``training.loop``) and the values are saved in the checkpoint
    and in the provenance entry.

    The defaults are the recipe of the shipped ``weights/animator.safetensors`` (its
    weights/provenance.json entry and README's 'Training'): log-mel features, gap weight 2,
    closure boost 8, and the style dropout 0.3 and two frequency masks that were the command
    line's defaults then (the shipped file's own configuration says style_dropout 0.3). It ran
    3500 steps, then ``--resume`` to 5500: ``steps`` is its final count, and README gives both
    commands to reproduce it exactly (the cosine schedule follows ``--steps``)."""

    steps: int = option(5500, "optimiser steps in all (a resumed run may raise it; the learning "
                              "rate's cosine runs to 0 at this step)", resumable=True)
    batch: int = option(16, "windows per step and process")
    window_s: float = option(4.0, "window length, seconds")
    lr: float = option(2e-3, "learning rate at step 0 (AdamW, weight decay 1e-4)")
    width: int = option(96, "network width (channels)")
    features: str = option("logmel", "audio features the network reads", choices=("mfcc", "logmel"))
    gap_weight: float = option(2.0, "weight of the lip-gap loss (mm/10)")
    closure_boost: float = option(8.0, "extra weight of frames whose lips should touch, in the lip-gap loss")
    style_dropout: float = option(0.3, "share of windows trained under the mean style ('Neutral')")
    freq_masks: int = option(2, "spectral band runs masked per window (SpecAugment frequency masking)")
    voice_warp: float = option(0.0, "largest vocal-tract-length warp (log factor) of the log-mel bands, "
                                    "e.g. 0.12; 0: off (on the espeak corpus it did not help: held-out "
                                    "closure 92.5 % vs 93.8 %)")
    muffle: float = option(0.0, "share of windows given a dark/muffled low-pass response in the log-mel "
                                "bands, e.g. 0.25")
    phone_evidence: bool = option(False, "also feed the network the phone evidence of a recogniser trained on "
                                         "real speech (core.audio.phones; the corpus needs "
                                         "python -m talkface.training.corpus.evidence first)")
    phone_posteriors: bool = option(False, "also feed the network the per-frame phone posteriors of an acoustic model "
                                           "trained on real speech (core.audio.senones; the corpus needs "
                                           "python -m talkface.training.corpus.evidence --kind phone_posteriors)")
    evidence_dropout: float = option(0.0, "share of windows whose phone evidence is hidden (read as "
                                          "silence), so the network also listens for itself")
    seed: int = option(0, "seed of the initial weights and of the batches")
    threads: int = option(0, "torch CPU threads (0: torch's default)", resumable=True)
    ckpt_every: int = option(500, "write OUT.ckpt every this many steps (and at the last)", resumable=True)
    device: str = option("cpu", "under torchrun each process takes the GPU of its LOCAL_RANK (NCCL), "
                                "or the CPU (gloo)", choices=("auto", "cpu", "cuda"), resumable=True)


@dataclass
class Clip:
    """One aligned utterance at the network fps."""

    features: np.ndarray   # [T, D]
    targets: np.ndarray    # [T, len(channels)]
    channels: tuple[str, ...]
    speaker: str
    blink_onset: np.ndarray  # [T] 1 where a blink starts


def blink_onsets(blink: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Frames where the blink weight first crosses ``threshold``: the events the hazard models."""
    above = blink >= threshold
    onset = above & ~np.r_[False, above[:-1]]
    return onset.astype(np.float32)


def split_channels(channels: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Mouth channels are every ARKit channel the data animates except brows, blinks, eye gaze."""
    present = [c for c in ARKIT_NAMES if c in channels]
    brows = tuple(c for c in BROW_CHANNELS if c in present)
    mouth = tuple(c for c in present if c not in brows and not c.startswith("eye"))
    return mouth, brows


class Windows:
    """Random fixed-length windows over clips, batched as tensors."""

    def __init__(self, clips: list[Clip], cfg: AnimatorConfig, length: int, rng: np.random.Generator):
        self.clips, self.cfg, self.length, self.rng = clips, cfg, length, rng
        self.style_index = {s: i for i, s in enumerate(cfg.styles)}
        ch = clips[0].channels
        self.mouth_idx = [ch.index(c) for c in cfg.mouth_channels]
        self.brow_idx = [ch.index(c) for c in cfg.brow_channels]
        self.pose_idx = [ch.index(c) for c in HEAD_CHANNELS]
        lengths = np.array([len(c.features) for c in clips], np.float64)
        self.p = lengths / lengths.sum()

    def batch(self, size: int) -> dict[str, torch.Tensor]:
        L = self.length
        feats, mouth, brows, pose, blink, mask, style = [], [], [], [], [], [], []
        for k in self.rng.choice(len(self.clips), size=size, p=self.p):
            clip = self.clips[k]
            T = len(clip.features)
            start = int(self.rng.integers(0, max(T - L, 0) + 1))
            sl = slice(start, start + L)
            n = min(L, T - start)
            pad = ((0, L - n), (0, 0))
            feats.append(np.pad(clip.features[sl], pad, mode="edge"))
            tgt = np.pad(clip.targets[sl], pad, mode="edge")
            mouth.append(tgt[:, self.mouth_idx])
            brows.append(tgt[:, self.brow_idx])
            pose.append(tgt[:, self.pose_idx])
            blink.append(np.pad(clip.blink_onset[sl], (0, L - n)))
            m = np.zeros(L, np.float32)
            m[:n] = 1.0
            mask.append(m)
            style.append(self.style_index[clip.speaker])
        to = lambda a: torch.as_tensor(np.stack(a), dtype=torch.float32)  # noqa: E731
        return {"features": to(feats), "mouth": to(mouth), "brows": to(brows), "pose": to(pose),
                "blink": to(blink), "mask": to(mask), "style": torch.as_tensor(style)}


def _l1_vel(pred, target, mask, scale=1.0):
    m = mask[..., None]
    l1 = (torch.abs(pred - target) * m).sum() / (m.sum() * pred.shape[-1])
    dv = torch.abs((pred[:, 1:] - pred[:, :-1]) - (target[:, 1:] - target[:, :-1])) * m[:, 1:]
    vel = dv.sum() / (m[:, 1:].sum() * pred.shape[-1])
    return (l1 + 2.0 * vel) * scale


def lip_gap_map(mouth_channels: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inner-lip gaps (mm) of the face model's matched lip pairs as an affine map of the mouth
    weights: gap = g0 + w @ G. Exact for the unposed model (its shapes are linear), so the
    training can penalise what the bench measures: lips that do not close."""
    model = load_face_model()
    up = model.index_sets["lip_inner_upper"][1:-1]
    lo = model.index_sets["lip_inner_lower"][1:-1]
    g0 = (model.neutral[up, 2] - model.neutral[lo, 2]) * 1000.0
    idx = [ARKIT_NAMES.index(c) for c in mouth_channels]
    basis = model.expression_basis[idx]
    G = (basis[:, up, 2] - basis[:, lo, 2]) * 1000.0
    return torch.as_tensor(g0, dtype=torch.float32), torch.as_tensor(G, dtype=torch.float32)


def losses(model: Animator, batch, gap_map=None, gap_weight: float = 2.0,
           closure_boost: float = 4.0, seal_weight: float = 0.5) -> dict[str, torch.Tensor]:
    out = model(batch["features"], batch["style"])
    mask = batch["mask"]
    pose_scale = 1.0 / model.pose_scale  # compare poses in units of their range
    parts = {
        "mouth": _l1_vel(out["mouth"], batch["mouth"], mask, 2.0),
        "brows": _l1_vel(out["brows"], batch["brows"], mask),
        "pose": _l1_vel(out["pose"] * pose_scale, batch["pose"] * pose_scale, mask),
        "blink": (F.binary_cross_entropy_with_logits(
            out["blink_logit"][..., 0], batch["blink"], pos_weight=torch.tensor(20.0), reduction="none")
            * mask).sum() / mask.sum() * 0.1,
    }
    if gap_map is not None:
        g0, G = gap_map
        pred_gap = g0 + out["mouth"] @ G
        tgt_gap = g0 + batch["mouth"] @ G
        # closures matter most: frames whose lips should touch weigh (1 + closure_boost)x
        closing = (tgt_gap.min(-1, keepdim=True).values < 1.0).float()
        weight = (1.0 + closure_boost * closing) * mask[..., None]
        parts["lip_gap"] = (torch.abs(pred_gap - tgt_gap) * weight).sum() / (weight.sum() * 10.0) * gap_weight
        if "seal_logit" in out:
            # the seal head learns exactly the bench's event: target lips within 1 mm
            bce = F.binary_cross_entropy_with_logits(out["seal_logit"], closing, reduction="none")
            parts["seal"] = (bce * mask[..., None]).sum() / mask.sum() * seal_weight
    parts["total"] = sum(parts.values())
    return parts


def feature_stats(clips: list[Clip]) -> tuple[np.ndarray, np.ndarray]:
    allf = np.concatenate([c.features for c in clips], 0)
    return allf.mean(0), allf.std(0) + 1e-3


def lip_parting_channels(mouth_channels: tuple[str, ...], min_mm: float = 0.1) -> tuple[str, ...]:
    """Mouth channels that open the face model's lips on their own (jawOpen aside, which
    mouthClose cancels): what a seal must switch off."""
    if "jawOpen" not in mouth_channels or "mouthClose" not in mouth_channels:
        return ()
    _, G = lip_gap_map(mouth_channels)
    opening = G.max(-1).values > min_mm
    return tuple(c for c, o in zip(mouth_channels, opening.tolist()) if o and c != "jawOpen")


def mask_bands(features: torch.Tensor, fill: torch.Tensor, n_spectral: int, count: int,
               rng: np.random.Generator, max_width: int = 6) -> torch.Tensor:
    """Frequency masking (SpecAugment): ``count`` random runs of spectral bands per window set
    to their mean, so no single band (a voice's formants, a microphone's response) decides a
    lip closure. Pitch, voicing and energy (the last columns) are left alone."""
    if count <= 0 or n_spectral <= max_width:
        return features
    out = features.clone()
    for i in range(features.shape[0]):
        for _ in range(count):
            width = int(rng.integers(1, max_width + 1))
            start = int(rng.integers(0, n_spectral - width + 1))
            out[i, :, start:start + width] = fill[start:start + width]
    return out


PROSODY_COLUMNS = 3  # every feature row ends with log-F0, voicing, log energy; the rest are bands


@functools.lru_cache(maxsize=4)
def band_centres(n_bands: int) -> np.ndarray:
    """Centre frequencies (Hz) of the log-mel feature bands, for the augmentations that act on
    the spectrum as frequencies (formant warp, low-pass)."""
    cfg = FeatureConfig(kind="logmel")
    return mel_frequencies(n_bands + 2, cfg.fmin, cfg.fmax)[1:-1]


def spectral_columns(n_features: int, n_evidence: int = 0) -> int:
    """Feature rows are [spectral bands | log-F0, voicing, log energy | phone evidence]."""
    return n_features - PROSODY_COLUMNS - n_evidence


def evidence_kind(cfg) -> str | None:
    """The shard key of the evidence a config reads (AnimatorConfig or AnimatorTrainConfig), if any."""
    if cfg.phone_evidence and cfg.phone_posteriors:
        raise ValueError("phone evidence and phone posteriors are alternatives: choose one")
    return "phone_evidence" if cfg.phone_evidence else "phone_posteriors" if cfg.phone_posteriors else None


def evidence_columns(cfg: AnimatorConfig) -> int:
    kind = evidence_kind(cfg)
    return 0 if kind is None else len(phones.CLASSES) if kind == "phone_evidence" else senones.N_COLUMNS


def hide_evidence(features: torch.Tensor, n_evidence: int, rng: np.random.Generator, share: float) -> torch.Tensor:
    """On ``share`` of the windows the recogniser 'heard' only silence: the network must not
    depend on it alone (a recogniser misses phones, and hears none in a language it lacks)."""
    if n_evidence == 0 or share <= 0:
        return features
    hit = torch.as_tensor(rng.uniform(size=features.shape[0]) < share)
    silent = torch.zeros(n_evidence, dtype=features.dtype)
    silent[0] = 1.0                     # both kinds keep silence first
    out = features.clone()
    out[hit, :, -n_evidence:] = silent
    return out


def warp_voice(features: torch.Tensor, feature_kind: str, rng: np.random.Generator,
               max_warp: float = 0.12, max_pitch: float = 0.3, n_evidence: int = 0) -> torch.Tensor:
    """Another voice from the same speech: vocal-tract-length perturbation (each window's log-mel
    bands read at frequencies scaled by a random factor, as a longer or shorter vocal tract moves
    every formant) and a random pitch shift on voiced frames. The corpus has a few hundred
    voices; a listener's voice is rarely one of them, and unseen timbres were what missed
    closures on held-out voices (bench/lipsync)."""
    n_spec = spectral_columns(features.shape[-1], n_evidence)
    out = features.clone()
    b = features.shape[0]
    if feature_kind == "logmel" and max_warp > 0:
        centres = band_centres(n_spec)
        alpha = np.exp(rng.uniform(-max_warp, max_warp, b))
        pos = np.interp(centres[None, :] / alpha[:, None], centres, np.arange(n_spec))  # [B, n]
        lo = np.clip(np.floor(pos).astype(np.int64), 0, n_spec - 2)
        frac = torch.as_tensor(pos - lo, dtype=features.dtype)[:, None, :]
        lo = torch.as_tensor(lo)[:, None, :].expand(-1, features.shape[1], -1)
        spec = features[..., :n_spec]
        out[..., :n_spec] = spec.gather(2, lo) * (1 - frac) + spec.gather(2, lo + 1) * frac
    if max_pitch > 0:
        shift = torch.as_tensor(rng.uniform(-max_pitch, max_pitch, b), dtype=features.dtype)[:, None]
        log_f0 = features[..., n_spec]
        out[..., n_spec] = torch.where(log_f0 != 0, log_f0 + shift, log_f0)
    return out


def muffle(features: torch.Tensor, feature_kind: str, rng: np.random.Generator, share: float,
           n_evidence: int = 0) -> torch.Tensor:
    """A dark or muffled voice from the same speech: on ``share`` of the windows, the log-mel
    bands get a low-pass response (cut-off 250-2000 Hz, order 1 or 2) over a floor of -12 to
    -35 dB, and log energy drops by what that removes. Voices whose highs are weak (a
    high-cut tone, a microphone under clothing or behind a mask) lose the burst and the
    silence that mark a /p b m/; a bank of synthetic voices rarely has them."""
    if feature_kind != "logmel" or share <= 0:
        return features
    n_spec = spectral_columns(features.shape[-1], n_evidence)
    centres = band_centres(n_spec)
    b = features.shape[0]
    hit = rng.uniform(size=b) < share
    cut = np.exp(rng.uniform(np.log(250.0), np.log(2000.0), b))
    order = rng.integers(1, 3, b)
    floor = 10 ** (rng.uniform(-35, -12, b) / 10)
    gain = np.log(1.0 / (1.0 + (centres[None, :] / cut[:, None]) ** (2 * order[:, None])) + floor[:, None])
    gain = torch.as_tensor(np.where(hit[:, None], gain, 0.0), dtype=features.dtype)[:, None, :]   # [B, 1, n]
    out = features.clone()
    spec = features[..., :n_spec]
    out[..., :n_spec] = spec + gain
    energy = n_spec + PROSODY_COLUMNS - 1
    out[..., energy] = features[..., energy] + torch.logsumexp(spec + gain, -1) - torch.logsumexp(spec, -1)
    return out


def make_model(train: list[Clip], width: int = AnimatorTrainConfig.width,
               feature_kind: str = AnimatorTrainConfig.features, lip_seal: bool = True,
               style_dropout: float = AnimatorTrainConfig.style_dropout,
               phone_evidence: bool = AnimatorTrainConfig.phone_evidence,
               phone_posteriors: bool = AnimatorTrainConfig.phone_posteriors) -> Animator:
    mouth, brows = split_channels(train[0].channels)
    styles = tuple(sorted({c.speaker for c in train}))
    cfg = AnimatorConfig(n_features=train[0].features.shape[1], width=width, styles=styles,
                         mouth_channels=mouth, brow_channels=brows, fps=NETWORK_FPS,
                         feature_kind=feature_kind,
                         seal_open_channels=lip_parting_channels(mouth) if lip_seal else (),
                         style_dropout=style_dropout, phone_evidence=phone_evidence,
                         phone_posteriors=phone_posteriors)
    model = Animator(cfg)
    mean, std = feature_stats(train)
    model.feat_mean.copy_(torch.as_tensor(mean))
    model.feat_std.copy_(torch.as_tensor(std))
    return model


@torch.no_grad()
def evaluate(model: Animator, clips: list[Clip]) -> dict[str, float]:
    """On clips of unseen voices (mean style), one network pass per clip: mean L1 of the mouth
    weights, Pearson r of jawOpen, and bench/lipsync.py's gap r, lag and closure with the
    reference's own closed-lip runs as the events (tracked video has no phoneme times):
    ``training.lip_metrics.lip_metrics``."""
    model.eval()
    code = model.styles.weight.mean(0)
    l1, r, pairs = [], [], []
    for clip in clips:
        out = run_chunked(model, clip.features, code)
        idx = [clip.channels.index(c) for c in model.cfg.mouth_channels]
        tgt = clip.targets[:, idx]
        l1.append(np.abs(out["mouth"] - tgt).mean())
        j = model.cfg.mouth_channels.index("jawOpen")
        if tgt[:, j].std() > 1e-6:
            r.append(np.corrcoef(out["mouth"][:, j], tgt[:, j])[0, 1])
        pred = outputs_to_values(model, out)[:, :len(ARKIT_NAMES)]
        ref = np.zeros_like(pred)  # channels the data does not animate stay 0, as in the prediction
        cols = [(i, clip.channels.index(c)) for i, c in enumerate(ARKIT_NAMES) if c in clip.channels]
        ref[:, [i for i, _ in cols]] = np.asarray(clip.targets)[:, [j for _, j in cols]]
        pairs.append((pred, ref))
    model.train()
    return {"mouth_l1": float(np.mean(l1)), "jaw_r": float(np.mean(r)) if r else float("nan"),
            **lip_metrics(pairs, model.cfg.fps)}


def train(train_clips: list[Clip], eval_clips: list[Clip], out: str,
          config: AnimatorTrainConfig = AnimatorTrainConfig(), *, resume: bool = False,
          log=print, dist_ctx=None) -> dict:
    """Train and write ``out`` (and its checkpoint ``out.ckpt``; ``resume``: continue from it).
    Under torchrun (``dist_ctx`` from ``training.distributed.setup``) every rank trains a DDP
    replica on its own batches (``batch`` is per process); only rank 0 logs, checkpoints,
    writes weights and evaluates."""
    cfg = config
    run = loop.Run(cfg, out, ctx=dist_ctx, log=log)
    ctx, log = run.ctx, run.log
    loop.seed_model(cfg.seed)  # the same initial weights on every rank
    rng = loop.data_rng(cfg.seed, ctx)  # per-rank batches
    model = make_model(train_clips, cfg.width, cfg.features, style_dropout=cfg.style_dropout,
                       phone_evidence=cfg.phone_evidence, phone_posteriors=cfg.phone_posteriors)
    n_evidence = evidence_columns(model.cfg)
    n_spectral = spectral_columns(model.cfg.n_features, n_evidence)
    dev = ctx.device
    model.to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    if resume:
        run.resume(model, opt)
    windows = Windows(train_clips, model.cfg, int(cfg.window_s * model.cfg.fps), rng)
    gap_map = lip_gap_map(model.cfg.mouth_channels) if "jawOpen" in model.cfg.mouth_channels else None
    if gap_map is not None:
        gap_map = tuple(g.to(dev) for g in gap_map)
    net = distributed.wrap(model, ctx)  # DDP under torchrun (gradients averaged over ranks), else the model
    log(f"training on {ctx.world_size} process(es) ({ctx.backend or 'no process group'}), {dev.type}, "
        f"{len(train_clips)} clips, batch {cfg.batch} per process")
    model.train()
    history = []
    for step in run.steps():
        run.set_lr(opt, step)
        b = windows.batch(cfg.batch)
        if cfg.voice_warp > 0:
            b["features"] = warp_voice(b["features"], cfg.features, rng, max_warp=cfg.voice_warp,
                                       n_evidence=n_evidence)
        if cfg.muffle > 0:
            b["features"] = muffle(b["features"], cfg.features, rng, cfg.muffle, n_evidence)
        b["features"] = hide_evidence(b["features"], n_evidence, rng, cfg.evidence_dropout)
        b["features"] = mask_bands(b["features"], model.feat_mean.cpu(), n_spectral, cfg.freq_masks, rng)
        b = {k: v.to(dev) for k, v in b.items()}
        parts = losses(net, b, gap_map, cfg.gap_weight, cfg.closure_boost)
        loop.optimiser_step(parts["total"], model, opt)
        if step % 100 == 0 or step == cfg.steps - 1:
            row = {k: round(float(v.detach()), 4) for k, v in parts.items()}
            history.append({"step": step, **row})
            log(f"step {step}/{cfg.steps} {row} {run.wall:.0f}s")
        run.checkpoint(step, model, opt)
    wall = round(run.wall, 1)
    model.cpu()
    if not ctx.is_main:
        return {"steps": cfg.steps, "wall_s": wall, "metrics": {}, "history": history[-5:]}
    reference = (eval_clips or train_clips)[0].features
    model = make_presets(model, reference)
    save_animator(model, out)
    metrics = evaluate(model, eval_clips) if eval_clips else {}
    log(f"held-out: {metrics}")
    return {"steps": cfg.steps, "wall_s": wall, "metrics": metrics, "history": history[-5:],
            "params": sum(p.numel() for p in model.parameters())}


def load_corpus(folder: str, split: str, feature_kind: str = AnimatorTrainConfig.features,
                evidence: str | None = None) -> list[Clip]:
    """Clips of one split ('train' or 'heldout') of a corpus written by ``training.corpus.build``;
    ``evidence`` ('phone_evidence' or 'phone_posteriors', ``evidence_kind``) adds that shard array
    as the last feature columns."""
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as fh:
        manifest = json.load(fh)
    if abs(float(manifest["fps"]) - NETWORK_FPS) > 1e-6:
        raise ValueError(f"corpus is at {manifest['fps']} fps; the network runs at {NETWORK_FPS}: "
                         f"regenerate it with --fps {NETWORK_FPS:g}")
    channels = tuple(manifest["channels"])
    blink_col = channels.index("eyeBlinkLeft")
    key = "features" if feature_kind == "mfcc" else "features_logmel"
    clips = []
    for shard in sorted(glob.glob(os.path.join(folder, split, "*.npz"))):
        with np.load(shard) as data:
            feats, targets, offsets = data[key], data["targets"], data["frame_offsets"]
            if evidence:
                if evidence not in data.files:
                    raise ValueError(f"{shard} has no {evidence.replace('_', ' ')}: run "
                                     f"python -m talkface.training.corpus.evidence {folder} --kind {evidence}")
                feats = np.concatenate([feats, data[evidence]], 1)
            speakers = data["speaker"]
            for i, speaker in enumerate(speakers):
                a, b = int(offsets[i]), int(offsets[i + 1])
                tgt = targets[a:b]
                clips.append(Clip(feats[a:b], tgt, channels, str(speaker), blink_onsets(tgt[:, blink_col])))
    if not clips:
        raise ValueError(f"no '{split}' clips under {folder}")
    return clips


def load_records(folder: str, split: str, feature_kind: str = AnimatorTrainConfig.features) -> list[Clip]:
    """Clips of one split of tracked HDTF records (``training.hdtf.track``), memory-mapped; each
    source video (one person) is one style. An empty held-out split is allowed."""
    rec = Records(folder)
    if abs(float(rec.index["feature_fps"]) - NETWORK_FPS) > 1e-6:
        raise ValueError(f"records have features at {rec.index['feature_fps']} fps; the network runs at {NETWORK_FPS}")
    kind = rec.index["feature_kind"]
    if feature_kind != kind and not (feature_kind == "mfcc" and kind == "logmel"):
        raise ValueError(f"records hold '{kind}' features, not '{feature_kind}'")
    channels = rec.channels
    blink_col = channels.index("eyeBlinkLeft")
    clips = []
    for rc in rec.clips(split):
        mmap = split == "train"  # held-out clips are small and go through run_chunked: plain arrays
        feats, tgt = rc.array("features", mmap), rc.array("targets", mmap)
        if feature_kind != kind:  # MFCC is a linear map of the stored log-mel (core.features)
            feats = mfcc_from_logmel(Features(np.asarray(feats), NETWORK_FPS,
                                              FeatureConfig(kind="logmel", fps=NETWORK_FPS))).values
        clips.append(Clip(feats, tgt, channels, rc.source, blink_onsets(np.asarray(tgt[:, blink_col]))))
    if not clips and split == "train":
        raise ValueError(f"no '{split}' clips in the records under {folder}")
    return clips


def parser():
    return loop.build_parser(
        AnimatorTrainConfig, __doc__.splitlines()[0],
        data_help="corpus folder (python -m talkface.training.corpus.build --fps 50) or tracked HDTF "
                  "records (python -m talkface.training.hdtf.track)")


def main(argv=None) -> int:
    args, cfg, ctx = loop.start(parser(), AnimatorTrainConfig, argv)
    if is_records(args.data):
        if evidence_kind(cfg):
            raise SystemExit("--phone-evidence and --phone-posteriors need a speech corpus: HDTF records hold "
                             "no phone evidence yet")
        train_clips = load_records(args.data, "train", cfg.features)
        eval_clips = load_records(args.data, "heldout", cfg.features)
        index = Records(args.data).index
        data = {"kind": "tracked HDTF records", "folder": os.path.abspath(args.data),
                "clips": len(index["clips"]), "frames": index["frames"], "video_fps": index["video_fps"],
                "heldout_sources": index["heldout_sources"]}
    else:
        train_clips = load_corpus(args.data, "train", cfg.features, evidence=evidence_kind(cfg))
        eval_clips = load_corpus(args.data, "heldout", cfg.features, evidence=evidence_kind(cfg))
        with open(os.path.join(args.data, "manifest.json"), encoding="utf-8") as fh:
            manifest = json.load(fh)
        data = {k: manifest.get(k) for k in ("seed", "fps", "hours", "splits", "held_out_accents",
                                             "held_out_variants", "engines", "engine_share", "recordings")}
        data["sources_trained"] = sources_trained(manifest)     # what the bench marks 'seen'
    try:
        report = train(train_clips, eval_clips, args.out, cfg, resume=args.resume, dist_ctx=ctx)
    finally:
        distributed.cleanup(ctx)
    if ctx.is_main:
        loop.record(args.out, loop.provenance_entry(
            "talkface.training.animator", argv, cfg, ctx, report,
            what="audio-to-animation network (core/audio/network.py)", data=data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
