"""Which device a training process takes (``run.device``), and the one-line refusals."""

from __future__ import annotations

import pytest
import torch

from ignn_pyg.training.distributed import process_device, setup_distributed


@pytest.mark.parametrize("gpus", [0, 2])
def test_cpu_is_the_cpu_whatever_the_gpus(fake_gpus, gpus):
    fake_gpus(gpus)
    assert process_device("cpu", 1) == torch.device("cpu")


def test_auto_is_the_processs_own_gpu_when_there_are_gpus(fake_gpus):
    fake_gpus(0)
    assert process_device("auto", 0) == torch.device("cpu")
    fake_gpus(2)
    assert process_device("auto", 1) == torch.device("cuda", 1)
    assert process_device("cuda", 0) == torch.device("cuda", 0)


def test_cuda_without_a_gpu_and_more_processes_than_gpus_are_one_line_errors(fake_gpus):
    fake_gpus(0)
    with pytest.raises(ValueError, match="run.device is cuda but no CUDA device is visible") as error:
        process_device("cuda", 0)
    assert "\n" not in str(error.value)
    fake_gpus(1)
    for requested in ("auto", "cuda"):
        with pytest.raises(
            ValueError,
            match=r"LOCAL_RANK 1 has no GPU of its own: 1 visible.*"
            r"--nproc_per_node <= 1\), or run.device cpu",
        ):
            process_device(requested, 1)


def test_a_single_process_joins_no_group(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = setup_distributed("cpu")
    assert (ctx.rank, ctx.world_size, ctx.device, ctx.is_main) == (0, 1, torch.device("cpu"), True)
    assert not torch.distributed.is_initialized()
