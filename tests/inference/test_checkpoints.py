"""Checkpoints: the authors' names, reference-format loading, our own round trip."""

import os
import pickle
import random

import pytest
import torch

from ignn_pyg.inference.checkpoints import (
    load_checkpoint,
    load_reference_checkpoint,
    load_weights,
    load_weights_at_scales,
    reference_key_map,
    save_checkpoint,
    to_reference_state_dict,
)
from ignn_pyg.models import EDSR, IGNN

# The authors' state-dict names for IGNN at x4 with 2 residual blocks, as printed by
# their models/IGNN.py (graph.embedcnn.* duplicates vggnet.*).
AUTHORS_X4_KEYS = """
sub_mean.weight sub_mean.bias add_mean.weight add_mean.bias
vggnet.model.0.weight vggnet.model.0.bias vggnet.model.2.weight vggnet.model.2.bias
vggnet.sub_mean.weight vggnet.sub_mean.bias
graph.embedcnn.model.0.weight graph.embedcnn.model.0.bias graph.embedcnn.model.2.weight
graph.embedcnn.model.2.bias graph.embedcnn.sub_mean.weight graph.embedcnn.sub_mean.bias
head.0.weight head.0.bias body1.0.body.0.weight body1.0.body.0.bias body1.0.body.2.weight body1.0.body.2.bias
gcn.knn_downsample.0.0.weight gcn.knn_downsample.0.0.bias gcn.knn_downsample.1.0.weight
gcn.knn_downsample.1.0.bias gcn.knn_downsample.2.0.weight gcn.knn_downsample.2.0.bias
gcn.weightnet_lr.0.0.weight gcn.weightnet_lr.0.0.bias gcn.weightnet_lr.1.body.0.weight
gcn.weightnet_lr.1.body.0.bias gcn.weightnet_lr.1.body.2.weight gcn.weightnet_lr.1.body.2.bias
gcn.weightnet_lr.2.0.weight gcn.weightnet_lr.2.0.bias
gcn.weightnet_hr.0.0.weight gcn.weightnet_hr.0.0.bias gcn.weightnet_hr.1.body.0.weight
gcn.weightnet_hr.1.body.0.bias gcn.weightnet_hr.1.body.2.weight gcn.weightnet_hr.1.body.2.bias
gcn.weightnet_hr.2.0.weight gcn.weightnet_hr.2.0.bias
fuse_b.0.0.weight fuse_b.0.0.bias fuse_b.1.0.weight fuse_b.1.0.bias
body2.0.body.0.weight body2.0.body.0.bias body2.0.body.2.weight body2.0.body.2.bias
body2.1.0.weight body2.1.0.bias upsample.0.weight upsample.0.bias
fuse_up.0.0.weight fuse_up.0.0.bias fuse_up.1.0.weight fuse_up.1.0.bias
tail.0.0.weight tail.0.0.bias tail.1.0.weight tail.1.0.bias
""".split()


def small(scale: int, **kw) -> IGNN:
    return IGNN(scale, n_feats=8, n_resblocks=2, **kw)


def test_reference_names_are_the_authors():
    assert set(to_reference_state_dict(small(4))) == set(AUTHORS_X4_KEYS)
    names = reference_key_map(small(2))
    assert names["tail.0.weight"] == "tail.0.0.weight"
    assert names["upsample.0.weight"] == "upsample.0.weight"


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_reference_format_round_trip(scale):
    torch.manual_seed(scale)
    model = small(scale)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    released = {"epoch_idx": 3, "net_state_dict": {f"module.{k}": v for k, v in to_reference_state_dict(model).items()}}
    loaded = load_reference_checkpoint(released, scale, n_feats=8, n_resblocks=2)
    assert not loaded.training
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_reference_mismatch_is_reported():
    state = to_reference_state_dict(small(2))
    state.pop("head.0.bias")
    state["extra.weight"] = torch.zeros(1)
    state["tail.0.0.weight"] = torch.zeros(3, 9, 3, 3)
    with pytest.raises(ValueError) as err:
        load_reference_checkpoint(state, 2, n_feats=8, n_resblocks=2)
    message = str(err.value)
    assert "missing (1): head.0.bias" in message
    assert "unexpected (1): extra.weight" in message
    assert "tail.0.0.weight: checkpoint (3, 9, 3, 3) vs model (3, 8, 3, 3)" in message
    with pytest.raises(ValueError, match="unexpected .*tail.1.0.weight"):  # x4 weights, x2 model
        load_reference_checkpoint(to_reference_state_dict(small(4)), 2, n_feats=8, n_resblocks=2)


def test_reference_embedding_copies_must_agree():
    state = to_reference_state_dict(small(2))
    state["graph.embedcnn.model.0.bias"] = state["graph.embedcnn.model.0.bias"] + 1
    with pytest.raises(ValueError, match="different weights"):
        load_reference_checkpoint(state, 2, n_feats=8, n_resblocks=2)


@pytest.mark.parametrize("model", [small(3, fusion="edge", window=7), EDSR(2, n_feats=8, n_resblocks=1)])
def test_own_checkpoint_round_trip(tmp_path, model):
    path = tmp_path / "model.pt"
    save_checkpoint(path, model, iteration=12)
    assert os.listdir(tmp_path) == ["model.pt"]  # no temporary file left behind
    loaded, payload = load_checkpoint(path)
    assert payload["iteration"] == 12
    assert type(loaded) is type(model) and loaded.config == model.config
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values()):
        assert torch.equal(a, b)
    assert type(load_weights(path)) is type(model)


def test_weights_at_scales_ours_and_the_authors(tmp_path):
    """Ours at its own scale; the authors' (no scale recorded) at each scale they fit."""
    ours = tmp_path / "edsr.pt"
    save_checkpoint(ours, EDSR(3, n_feats=8, n_resblocks=1))
    assert list(load_weights_at_scales(ours, (2, 3, 4))) == [3]
    assert load_weights_at_scales(ours, (2, 4)) == {}
    authors = tmp_path / "IGNN_x2.pth"
    model = small(2)
    torch.save({"net_state_dict": to_reference_state_dict(model)}, authors)
    loaded = load_weights_at_scales(authors, (4, 3, 2), n_feats=8, n_resblocks=2)
    assert list(loaded) == [2] and not loaded[2].training
    for a, b in zip(model.state_dict().values(), loaded[2].state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match=r"IGNN_x2.pth' fits no IGNN at x3, x4 \(x3: checkpoint does not fit"):
        load_weights_at_scales(authors, (3, 4), n_feats=8, n_resblocks=2)


def test_bad_files(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="corrupt.pt"):
        load_weights(corrupt, scale=2)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_weights(tmp_path / "missing.pt")
    reference = tmp_path / "IGNN_x2.pth"
    torch.save({"net_state_dict": to_reference_state_dict(small(2))}, reference)
    with pytest.raises(ValueError, match="give its scale"):
        load_weights(reference)
    with pytest.raises(ValueError, match="not an ignn-pyg checkpoint"):
        load_checkpoint(reference)
    assert isinstance(load_weights(reference, scale=2, n_feats=8, n_resblocks=2), IGNN)


class _RunsACommand:
    """Unpickling this would run ``touch <marker>``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _bad_checkpoint(path, kind: str) -> None:
    """Write one kind of file that is not a loadable checkpoint to ``path``."""
    if kind == "random bytes":
        path.write_bytes(random.Random(0).randbytes(4096))
    elif kind == "text":
        path.write_text("weights: see the README\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        save_checkpoint(path, EDSR(2, n_feats=8, n_resblocks=1))
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "runs a command":
        torch.save({"state_dict": _RunsACommand(path.with_name("ran"))}, path)
    elif kind == "plain pickle that runs a command":
        path.write_bytes(pickle.dumps(_RunsACommand(path.with_name("ran"))))


@pytest.mark.parametrize(
    "kind", ["random bytes", "text", "empty", "truncated", "runs a command", "plain pickle that runs a command"]
)
@pytest.mark.parametrize("load", [load_weights, load_checkpoint])
def test_bad_checkpoints_are_one_line_naming_the_file(tmp_path, kind, load):
    path = tmp_path / "model.pt"
    _bad_checkpoint(path, kind)
    with pytest.raises(ValueError) as err:
        load(path)
    message = str(err.value)
    assert "\n" not in message and "'" + str(path) + "'" in message
    assert "weights_only" not in message  # PyTorch's advice to retry with weights_only=False is unsafe here
    assert not (tmp_path / "ran").exists()  # the command never ran


def test_bad_checkpoint_messages_say_what_was_expected(tmp_path):
    path = tmp_path / "notes.pt"
    _bad_checkpoint(path, "text")
    with pytest.raises(
        ValueError,
        match=r"not a PyTorch checkpoint \(it starts with b'weights:'\); expected a "
        r"file written by torch.save",
    ):
        load_weights(path)
    _bad_checkpoint(path, "runs a command")
    with pytest.raises(
        ValueError,
        match=r"refused checkpoint .*notes.pt': it holds posix.system, which is not a "
        r"tensor",
    ):
        load_weights(path)
    _bad_checkpoint(path, "truncated")
    with pytest.raises(ValueError, match="the file is truncated or corrupt"):
        load_weights(path)


def test_legacy_format_checkpoints_still_load(tmp_path):
    path = tmp_path / "IGNN_x2.pth"  # the format of torch.save before PyTorch 1.6
    torch.save({"net_state_dict": to_reference_state_dict(small(2))}, path, _use_new_zipfile_serialization=False)
    assert isinstance(load_weights(path, scale=2, n_feats=8, n_resblocks=2), IGNN)
