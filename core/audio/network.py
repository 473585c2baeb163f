"""The audio-to-animation network: speech features -> ARKit weights, head pose and blinks.

After the HDTF paper's style-specific animation generator: a shared temporal encoder, a
speaking-style code applied by adaptive normalisation, and separate heads trained together:
the mouth sees a short context (coarticulation, ~0.3 s either side), brows and head pose see a
long one (~1.3 s, phrase prosody), and blinks are predicted as a per-frame hazard that a random
process turns into blinks.

Deviation from AdaIN as usually written: the normalisation is per frame across channels (a
LayerNorm whose gain and bias come from the style), not per channel across time. Instance
statistics over time would make a frame's output depend on the whole clip; per-frame
normalisation keeps the receptive field finite, so long audio is processed in overlapping chunks
with exactly the same result as in one piece, in memory flat in audio length.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

NETWORK_FPS = 50.0
HEAD_POSE_SCALE = (0.35, 0.35, 0.35, 0.03, 0.03, 0.03)  # radians, metres: tanh output range


@dataclass(frozen=True)
class AnimatorConfig:
    n_features: int = 16
    width: int = 96
    style_dim: int = 16
    styles: tuple[str, ...] = ("default",)
    preset_names: tuple[str, ...] = ()  # named style codes shown to users (see make_presets)
    mouth_channels: tuple[str, ...] = ()
    brow_channels: tuple[str, ...] = ()
    mouth_dilations: tuple[int, ...] = (1, 2, 4, 1, 2, 4)
    long_dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    fps: float = NETWORK_FPS
    feature_kind: str = "mfcc"
    # Lip-seal head (see Animator.forward): the mouth channels that part the lips, zeroed when
    # the head says the lips are sealed. Empty: no seal head (files written before it existed).
    seal_open_channels: tuple[str, ...] = ()
    # Training only: share of windows trained under the mean style code, the code users get as
    # 'Neutral' and the bench measures, which no single training speaker has.
    style_dropout: float = 0.0
    # Phone evidence (core.audio.phones): the last len(phones.CLASSES) input columns are the
    # per-frame class shares from a recogniser trained on real speech. False: spectral features
    # only (files written before the evidence existed).
    phone_evidence: bool = False
    # Phone posteriors (core.audio.senones): the last senones.N_COLUMNS input columns are each
    # frame's posterior over the phones of an acoustic model trained on real speech (soft, no
    # decoder). At most one of phone_evidence and phone_posteriors.
    phone_posteriors: bool = False

    @property
    def receptive_radius(self) -> int:
        """Frames on each side that can influence one output frame (kernel 3 per block)."""
        return max(sum(self.mouth_dilations), sum(self.long_dilations))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "AnimatorConfig":
        data = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


class StyleNorm(nn.Module):
    """LayerNorm over channels whose gain and bias are predicted from the style code."""

    def __init__(self, width: int, style_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False)
        self.affine = nn.Linear(style_dim, 2 * width)
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        # x [B, W, T], style [B, S]
        gamma, beta = self.affine(style).unsqueeze(-1).chunk(2, dim=1)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        return x * (1.0 + gamma) + beta


class Block(nn.Module):
    """Residual dilated temporal convolution with style-conditioned normalisation."""

    def __init__(self, width: int, style_dim: int, dilation: int):
        super().__init__()
        self.norm = StyleNorm(width, style_dim)
        self.conv = nn.Conv1d(width, width, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(width, width, 1)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.conv(self.norm(x, style)))
        return x + self.mix(h)


class Trunk(nn.Module):
    def __init__(self, width: int, style_dim: int, dilations):
        super().__init__()
        self.blocks = nn.ModuleList(Block(width, style_dim, d) for d in dilations)

    def forward(self, x, style):
        for block in self.blocks:
            x = block(x, style)
        return x


class Animator(nn.Module):
    """features [B, T, D] + style [B, S] -> dict of per-frame outputs [B, T, C]."""

    def __init__(self, cfg: AnimatorConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("feat_mean", torch.zeros(cfg.n_features))
        self.register_buffer("feat_std", torch.ones(cfg.n_features))
        self.styles = nn.Embedding(len(cfg.styles), cfg.style_dim)
        nn.init.normal_(self.styles.weight, std=0.1)
        self.register_buffer("presets", torch.zeros(len(cfg.preset_names), cfg.style_dim))
        self.inp = nn.Conv1d(cfg.n_features, cfg.width, 1)
        self.mouth = Trunk(cfg.width, cfg.style_dim, cfg.mouth_dilations)
        self.long = Trunk(cfg.width, cfg.style_dim, cfg.long_dilations)
        self.mouth_head = nn.Conv1d(cfg.width, len(cfg.mouth_channels), 1)
        self.brow_head = nn.Conv1d(cfg.width, len(cfg.brow_channels), 1)
        self.pose_head = nn.Conv1d(cfg.width, 6, 1)
        self.blink_head = nn.Conv1d(2 * cfg.width, 1, 1)
        self.register_buffer("pose_scale", torch.tensor(HEAD_POSE_SCALE))
        names = cfg.mouth_channels
        self._close = ((names.index("jawOpen"), names.index("mouthClose"))
                       if "jawOpen" in names and "mouthClose" in names else None)
        self.seal_head = None
        self.seal_bias = 0.0     # added to the seal logit at inference (not trained, not saved)
        if cfg.seal_open_channels and self._close is not None:
            self.seal_head = nn.Conv1d(cfg.width, 1, 1)
            keep = torch.tensor([0.0 if c in cfg.seal_open_channels else 1.0 for c in names])
            self.register_buffer("seal_keep", keep[:, None])

    @property
    def style_dim(self) -> int:
        """Length of a style code (``Ensemble``'s: its members' codes end to end)."""
        return self.cfg.style_dim

    def style_table(self) -> torch.Tensor:
        """Every trained style's code, one row per name in ``cfg.styles``."""
        return self.styles.weight

    def style_code(self, style) -> torch.Tensor:
        """A style index (or indices) -> code; a float tensor is taken as the code itself."""
        if isinstance(style, torch.Tensor) and style.is_floating_point():
            return style
        return self.styles(torch.as_tensor(style, device=self.styles.weight.device))

    def forward(self, features: torch.Tensor, style, seal: bool = True) -> dict[str, torch.Tensor]:
        """Per-frame outputs [B, T, C]. ``seal`` False: the mouth before the seal head moves it
        (an ``Ensemble`` seals its members' mean once, ``apply_seal``)."""
        code = self.style_code(style)
        if code.dim() == 1:
            code = code.expand(features.shape[0], -1)
        if self.training and self.cfg.style_dropout > 0:
            drop = torch.rand(code.shape[0], 1, device=code.device) < self.cfg.style_dropout
            code = torch.where(drop, self.styles.weight.mean(0, keepdim=True), code)
        x = (features - self.feat_mean) / self.feat_std
        x = self.inp(x.transpose(1, 2))
        mouth = self.mouth(x, code)
        long = self.long(x, code)
        mouth_w = torch.sigmoid(self.mouth_head(mouth))
        if self._close is not None:
            # mouthClose is predicted as a share of jawOpen: ARKit's mouthClose only means
            # "lips sealed" relative to the jaw, and a ratio near 1 seals them exactly.
            jaw, close = self._close
            mouth_w = torch.cat([mouth_w[:, :close], mouth_w[:, close:close + 1] * mouth_w[:, jaw:jaw + 1],
                                 mouth_w[:, close + 1:]], 1)
        out = {
            "mouth": mouth_w,
            "brows": torch.sigmoid(self.brow_head(long)),
            "pose": torch.tanh(self.pose_head(long)) * self.pose_scale[:, None],
            "blink_logit": self.blink_head(torch.cat([mouth, long], 1)),
        }
        if self.seal_head is not None:
            out["seal_logit"] = self.seal_head(mouth)
        out = {k: v.transpose(1, 2) for k, v in out.items()}
        if seal and self.seal_head is not None:
            out["mouth"] = self.apply_seal(out["mouth"], torch.sigmoid(out["seal_logit"] + self.seal_bias))
        return out

    def apply_seal(self, mouth: torch.Tensor, sealed_p: torch.Tensor) -> torch.Tensor:
        """Lip seal as its own decision: /p b m/ closures are brief, and a regression head that is
        unsure hedges to a half-open mouth, which reads as no closure at all. A classifier says
        "sealed" (``sealed_p`` [B, T, 1]) and the weights ``mouth`` [B, T, C] move toward their sealed
        version (mouthClose = jawOpen, lip-parting shapes off) by its probability."""
        jaw, close = self._close
        sealed = mouth * self.seal_keep[:, 0]
        sealed = torch.cat([sealed[..., :close], mouth[..., jaw:jaw + 1], sealed[..., close + 1:]], -1)
        return mouth + sealed_p * (sealed - mouth)


class Ensemble(nn.Module):
    """Several training runs of one recipe combined: what one run learns varies with its seed (two
    runs of one recipe differed by up to 7 points of /p b m/ closure on real people,
    weights/provenance.json), and a combination of runs carries less of that luck than any one.

    The mouth (before the seal), brows, head pose and blink logits are the members' means. The lip
    seal stays one decision, made once on that mean mouth (``Animator.apply_seal``): ``seal`` 'mean'
    takes the probability of the members' mean seal logit, 'max' the largest of the members'
    probabilities (a /p b m/ one member hears seals the lips). Averaging the members' sealed mouths
    instead leaves a half-open mouth wherever they disagree, which closed fewer /p b m/ than either
    member on every bench set; sealed once, two runs of the shipped recipe still closed fewer than
    either run on her dev prompts and gained gap r instead (weights/provenance.json,
    ``seed_ensemble_2026_12_04``: the shipped weights are one network).

    The members trained on one corpus, so trained style ``i`` is the same voice in each, under each
    member's own code: an ensemble's style code is its members' codes end to end (``style_dim`` =
    members x ``cfg.style_dim``), and 'Neutral', the presets and a code learned from a take
    (``inference.extract_style``) all live in that joined space. Used wherever an ``Animator`` is
    (``run_chunked`` stays exact: the members share a receptive field).
    """

    SEALS = ("mean", "max")

    def __init__(self, members: list[Animator], seal: str = "mean"):
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        if seal not in self.SEALS:
            raise ValueError(f"unknown seal combination {seal!r}: {', '.join(self.SEALS)}")
        first = members[0]
        for m in members[1:]:
            if m.cfg != first.cfg:
                raise ValueError("ensemble members must share one configuration (one recipe, other seeds)")
            if not (torch.equal(m.feat_mean, first.feat_mean) and torch.equal(m.feat_std, first.feat_std)):
                raise ValueError("ensemble members must share their feature statistics (one training corpus)")
        self.members = nn.ModuleList(members)
        self.cfg = first.cfg
        self.seal = seal

    feat_mean = property(lambda self: self.members[0].feat_mean)
    feat_std = property(lambda self: self.members[0].feat_std)
    pose_scale = property(lambda self: self.members[0].pose_scale)
    style_dim = property(lambda self: len(self.members) * self.cfg.style_dim)

    @property
    def seal_bias(self) -> float:
        return self.members[0].seal_bias

    @seal_bias.setter
    def seal_bias(self, value: float) -> None:
        for m in self.members:
            m.seal_bias = value

    @property
    def presets(self) -> torch.Tensor:
        return torch.cat([m.presets for m in self.members], -1)

    def style_table(self) -> torch.Tensor:
        return torch.cat([m.style_table() for m in self.members], -1)

    def style_code(self, style) -> torch.Tensor:
        if isinstance(style, torch.Tensor) and style.is_floating_point():
            return style
        return torch.cat([m.style_code(style) for m in self.members], -1)

    def forward(self, features: torch.Tensor, style) -> dict[str, torch.Tensor]:
        code = self.style_code(style)
        if code.shape[-1] != self.style_dim:
            raise ValueError(f"a style code of {code.shape[-1]} numbers for an ensemble of {self.style_dim}")
        outs = [m(features, part, seal=False) for m, part in zip(self.members, code.split(self.cfg.style_dim, -1))]
        out = {k: torch.stack([o[k] for o in outs]).mean(0) for k in outs[0]}
        if "seal_logit" in out:
            if self.seal == "max":
                out["seal_logit"] = torch.stack([o["seal_logit"] for o in outs]).max(0).values
            out["mouth"] = self.members[0].apply_seal(out["mouth"], torch.sigmoid(out["seal_logit"] + self.seal_bias))
        return out


@torch.no_grad()
def run_chunked(model: Animator | Ensemble, features: np.ndarray, style, chunk: int = 3000) -> dict[str, np.ndarray]:
    """Run over any length in chunks with overlap = receptive radius: exact and memory-flat."""
    model.eval()
    n = len(features)
    pad = model.cfg.receptive_radius
    device = model.feat_mean.device
    outputs: dict[str, list[np.ndarray]] = {}
    for start in range(0, max(n, 1), chunk):
        stop = min(start + chunk, n)
        a, b = max(0, start - pad), min(n, stop + pad)
        x = torch.as_tensor(features[a:b], dtype=torch.float32, device=device)[None]
        out = model(x, style)
        for k, v in out.items():
            outputs.setdefault(k, []).append(v[0, start - a: stop - a].float().cpu().numpy())
    return {k: np.concatenate(v, 0) for k, v in outputs.items()}


@torch.no_grad()
def make_presets(model: Animator, features: np.ndarray) -> Animator:
    """Name a few style codes for users: 'Calm' and 'Lively' are the trained styles at the 10th
    and 90th percentile of motion (head and mouth) on ``features`` (real speakers' styles, not
    blends, which may not move as their parts did); 'Neutral' is the mean of all styles."""
    table = model.styles.weight.detach()
    motion = []
    for i in range(len(table)):
        out = run_chunked(model, features, table[i])
        pose = out["pose"] / model.pose_scale.cpu().numpy()
        motion.append(np.abs(np.diff(pose, axis=0)).mean() + np.abs(np.diff(out["mouth"], axis=0)).mean())
    order = np.argsort(motion)
    calm, lively = order[int(0.1 * (len(order) - 1))], order[int(round(0.9 * (len(order) - 1)))]
    codes = torch.stack([table[calm], table.mean(0), table[lively]])
    cfg = AnimatorConfig(**{**asdict(model.cfg), "preset_names": ("Calm", "Neutral", "Lively")})
    named = Animator(cfg)
    state = model.state_dict()
    state["presets"] = codes
    named.load_state_dict(state)
    return named.eval()
