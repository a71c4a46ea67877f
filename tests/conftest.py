"""Test-wide settings.

The tests run tiny tensors, where a second intra-op thread only adds synchronisation
(on a loaded 2-core machine it made the suite 4x slower); one thread also makes
floating-point reductions reproducible run to run.
"""

import pytest
import torch

from ignn_pyg.inference.checkpoints import save_checkpoint
from ignn_pyg.models import IGNN

torch.set_num_threads(1)


@pytest.fixture
def checkpoint(tmp_path):
    """A tiny x2 IGNN (8 features, 2 blocks, window 4) saved as ``tiny.pt``."""
    torch.manual_seed(0)
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, IGNN(2, n_feats=8, n_resblocks=2, window=4))
    return path


@pytest.fixture
def fake_gpus(monkeypatch):
    """``fake_gpus(n)`` makes ``torch.cuda`` report ``n`` visible GPUs for the test."""

    def pretend(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)

    return pretend
