"""Data-parallel training through ``torch.distributed`` (launched by ``torchrun``), or none.

    torchrun --nproc_per_node 4 -m talkface.training.animator --data RECORDS --out W.safetensors
    python -m talkface.training.animator --data RECORDS --out W.safetensors      # the same, one process

``setup`` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT); without
it (or with WORLD_SIZE=1) nothing distributed happens and the trainers run exactly as before.
Backend NCCL when training on CUDA (one GPU per process, chosen by LOCAL_RANK), gloo on the CPU.
Gradients are averaged by ``DistributedDataParallel``; each rank draws its own batches from a
seed that includes its rank; only rank 0 logs, checkpoints and writes weights (``training.loop``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..core.device import resolve_device
from ..core.errors import DeviceError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str = ""

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto") -> DistContext:
    """Join torchrun's process group if launched by it; pick this process's device."""
    want = resolve_device(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=want)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if want.type == "cuda":
        if local >= torch.cuda.device_count():
            raise DeviceError(f"process {local} on this node has no GPU of its own "
                              f"({torch.cuda.device_count()} visible): lower --nproc_per_node")
        torch.cuda.set_device(local)
        want, backend = torch.device("cuda", local), "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, init_method="env://")
    return DistContext(rank, world, local, want, backend)


def cleanup(ctx: DistContext) -> None:
    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.active:
        dist.barrier()


class DDP(DistributedDataParallel):
    """DistributedDataParallel that also answers the wrapped model's attributes (``cfg``,
    buffers, helper methods), so loss functions written for the bare model take it unchanged."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def wrap(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """The model itself in a single process, a ``DDP`` of it under torchrun."""
    if not ctx.active:
        return model
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DDP(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model
