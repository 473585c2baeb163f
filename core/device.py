"""Compute-device choice for the frame generator.

One place decides CPU versus CUDA and the float type, so the flow, the warp and the neural
generator never disagree about where tensors live, and a user who asks for CUDA on a machine
without it gets one clear sentence instead of a torch traceback.
"""

from __future__ import annotations

import torch

from .errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for a user setting: "auto" (CUDA when available), "cpu" or "cuda"."""
    key = str(name).strip().lower()
    if key not in DEVICE_CHOICES:
        raise DeviceError(f"Unknown device '{name}': choose one of Auto, CPU or CUDA.")
    if key == "cpu":
        return torch.device("cpu")
    cuda_ok = torch.cuda.is_available()
    if key == "auto":
        return torch.device("cuda" if cuda_ok else "cpu")
    if not cuda_ok:
        raise DeviceError(
            "CUDA was requested but no CUDA GPU is usable here "
            f"(this PyTorch {torch.__version__} build "
            f"{'has no CUDA support' if torch.version.cuda is None else 'finds no GPU'}); "
            "choose CPU or Auto."
        )
    return torch.device("cuda")


def use_half(device: torch.device, allow_half: bool = True) -> bool:
    """Half precision only on CUDA: CPU half kernels are slow and some are missing."""
    return bool(allow_half) and torch.device(device).type == "cuda"


def compute_dtype(device: torch.device, allow_half: bool = True) -> torch.dtype:
    """The float type for the neural generator's activations on ``device``.

    Geometry (projection, rasterisation, flow) and the warp's sampling grid stay float32
    everywhere: half precision resolves only about 1/1000 of the image, half a pixel at 1024.
    """
    return torch.float16 if use_half(device, allow_half) else torch.float32


def free_memory(device: torch.device | str) -> int:
    """Bytes a bake can still allocate on ``device``: CUDA's free memory, or the system's
    MemAvailable (what Linux can hand out without swapping)."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import os

    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
