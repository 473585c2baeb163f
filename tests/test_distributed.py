"""Data parallelism really averages gradients: two gloo processes on different batches end with
the gradient a single process gets on their union (the DDP contract the trainers rely on)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import torch

WORKER = r"""
import torch
from talkface.training import distributed
from talkface.core.audio.network import Animator, AnimatorConfig

ctx = distributed.setup("cpu")
torch.manual_seed(0)
model = Animator(AnimatorConfig(mouth_channels=("jawOpen", "mouthClose", "mouthFunnel"),
                                brow_channels=("browInnerUp",), styles=("a", "b"),
                                seal_open_channels=("mouthFunnel",)))
net = distributed.wrap(model, ctx)
assert isinstance(net, torch.nn.parallel.DistributedDataParallel)
g = torch.Generator().manual_seed(100 + ctx.rank)  # each rank its own batch
x = torch.randn(2, 40, 16, generator=g)
out = net(x, torch.tensor([ctx.rank, 1 - ctx.rank]))
sum(v.pow(2).mean() for v in out.values()).backward()  # every head, as the trainers' loss
torch.save({{n: p.grad for n, p in model.named_parameters() if p.grad is not None}}, {out!r} + f"/grad{{ctx.rank}}.pt")
distributed.cleanup(ctx)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_average_their_gradients(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(out=str(tmp_path)))
    env = {**os.environ, "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, str(script)], env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for r in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    g0, g1 = (torch.load(tmp_path / f"grad{r}.pt") for r in range(2))

    # the same model alone, on each rank's batch
    from talkface.core.audio.network import Animator, AnimatorConfig

    alone = []
    for rank in range(2):
        torch.manual_seed(0)
        model = Animator(AnimatorConfig(mouth_channels=("jawOpen", "mouthClose", "mouthFunnel"),
                                        brow_channels=("browInnerUp",), styles=("a", "b"),
                                        seal_open_channels=("mouthFunnel",)))
        x = torch.randn(2, 40, 16, generator=torch.Generator().manual_seed(100 + rank))
        out = model(x, torch.tensor([rank, 1 - rank]))
        sum(v.pow(2).mean() for v in out.values()).backward()  # every head, as the trainers' loss
        alone.append({n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
    assert set(g0) == set(alone[0]) and len(g0) > 10
    differ = 0
    for name in g0:
        torch.testing.assert_close(g0[name], g1[name])  # every rank holds the same gradient...
        torch.testing.assert_close(g0[name], (alone[0][name] + alone[1][name]) / 2, rtol=1e-4, atol=1e-6)
        differ += not torch.allclose(alone[0][name], alone[1][name])
    assert differ > 10  # ...which is the average of two really different ones
