"""IGNN with ``aggregation="ignn_detail"``: the detail map reaches the output exactly,
the graph controls, autocast, checkpoints."""

import pytest
import torch

from ignn_pyg.data import bicubic_upsample, downsample_for_graph
from ignn_pyg.inference.checkpoints import load_checkpoint, save_checkpoint
from ignn_pyg.models import IGNN
from tests.models.test_ignn import textured_image
from tests.nn.test_gated_detail_transfer import exact_match_image


def small(**kwargs) -> IGNN:
    torch.manual_seed(0)
    return IGNN(2, n_feats=8, n_resblocks=2, window=30, aggregation="ignn_detail", residual="bicubic", **kwargs)


def test_an_exact_match_reaches_the_output_unchanged():
    """With the tail silenced the output is bicubic + D; in a query whose window recurs
    exactly in the downsampled image (found by the model's own graph), that is the HR example."""
    image, query, source = exact_match_image()
    model = small(embedding="pixel", patch_size=2, num_neighbors=3).eval()
    with torch.no_grad():
        for p in model.tail.parameters():
            p.zero_()
        out = model(image)
        graph = model.build_graph(image)
    assert source in graph.edge_index[0].view(-1, 3)[query].tolist()
    qr, qc = divmod(query, 12)
    sr, sc = divmod(source, 6)
    arrived = out[0, :, 4 * qr : 4 * qr + 4, 4 * qc : 4 * qc + 4]
    torch.testing.assert_close(arrived, image[0, :, 4 * sr : 4 * sr + 4, 4 * sc : 4 * sc + 4], atol=2e-3, rtol=0)
    bicubic = bicubic_upsample(image, 2)[0, :, 4 * qr : 4 * qr + 4, 4 * qc : 4 * qc + 4]
    assert float((arrived - bicubic).abs().max()) > 1.0


def test_forward_backward_and_graph_none_sends_no_detail():
    lr = textured_image(24, 20)
    model = small()
    out = model(lr)
    assert out.shape == (1, 3, 48, 40)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    none = small(graph="none").eval()
    with torch.no_grad():
        before = none(lr)
        none.aggregation.detail.log_threshold.fill_(100.0)  # would open every gate
        assert torch.equal(none(lr), before)
    random = small(graph="random").eval()
    with torch.no_grad():
        assert random(lr).shape == (1, 3, 48, 40)


def test_forward_backward_under_bf16_autocast():
    lr = textured_image(24, 20)
    model = small()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(lr, downsample_for_graph(lr, 2))
    assert bool(torch.isfinite(out).all())
    out.float().square().mean().backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and bool(torch.isfinite(p.grad).all()), name


def test_checkpoint_round_trip(tmp_path):
    model = small().eval()
    with torch.no_grad():
        model.aggregation.detail.gate_slope.fill_(3.0)
    save_checkpoint(tmp_path / "m.pt", model)
    loaded, _ = load_checkpoint(tmp_path / "m.pt")
    lr = textured_image(24, 20)
    assert loaded.config.aggregation == "ignn_detail"
    with torch.no_grad():
        assert torch.equal(loaded.eval()(lr), model(lr))


def test_scale_three_works_and_four_is_refused():
    assert IGNN(3, n_feats=8, n_resblocks=2, window=30, aggregation="ignn_detail")(textured_image(27, 24)).shape == (
        1,
        3,
        81,
        72,
    )
    with pytest.raises(ValueError, match="output scale"):
        IGNN(4, n_feats=8, n_resblocks=2, aggregation="ignn_detail")
