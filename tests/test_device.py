import pytest
import torch

from talkface.core.device import compute_dtype, resolve_device, use_half
from talkface.core.errors import DeviceError


def test_cpu_is_always_available():
    assert resolve_device("CPU") == torch.device("cpu")
    assert compute_dtype(torch.device("cpu")) == torch.float32
    assert not use_half(torch.device("cpu"))


def test_auto_picks_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_request_without_cuda_is_a_clear_error():
    with pytest.raises(DeviceError, match="CUDA was requested"):
        resolve_device("cuda")


def test_unknown_device_name():
    with pytest.raises(DeviceError, match="Unknown device"):
        resolve_device("tpu")


def test_half_only_on_cuda_and_when_allowed():
    assert use_half(torch.device("cuda"))
    assert compute_dtype(torch.device("cuda")) == torch.float16
    assert compute_dtype(torch.device("cuda"), allow_half=False) == torch.float32
