"""``--device``: what a name resolves to, and the one-line refusals."""

from __future__ import annotations

import pytest
import torch

from ignn_pyg.runtime.devices import default_device, parse_device


def test_default_is_the_gpu_when_there_is_one(fake_gpus):
    fake_gpus(0)
    assert default_device() == "cpu"
    fake_gpus(2)
    assert default_device() == "cuda"


def test_visible_devices_parse(fake_gpus):
    fake_gpus(2)
    assert parse_device("cpu") == torch.device("cpu")
    assert parse_device("cuda") == torch.device("cuda")
    assert parse_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize(
    "gpus, name, message",
    [
        (0, "cuda", "--device 'cuda': no CUDA device is visible; use --device cpu"),
        (2, "cuda:2", r"--device 'cuda:2': only 2 CUDA device\(s\) visible \(cuda:0 to cuda:1\)"),
        (2, "gpu", "--device 'gpu' is not a torch device"),
    ],
)
def test_unusable_devices_are_one_line(fake_gpus, gpus, name, message):
    fake_gpus(gpus)
    with pytest.raises(ValueError, match=message) as error:
        parse_device(name)
    assert "\n" not in str(error.value)
