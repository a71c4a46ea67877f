"""Compiling a model's dense parts: the same outputs as eager, the same weights, and one
warning (no compilation) where there is no C++ compiler.  The graphs are traced with
``aot_eager`` (dynamo and AOT autograd, no code generation), so the tests take seconds;
inductor's kernels are measured by benchmarks/compile_speedup.py."""

import pytest
import torch

from ignn_pyg.commands.main import main
from ignn_pyg.data import read_image, write_image
from ignn_pyg.inference import compilation
from ignn_pyg.inference.compilation import DENSE_PARTS, compile_dense_parts
from ignn_pyg.inference.forward import forward_whole
from ignn_pyg.models import EDSR, IGNN


def tiny_models():
    torch.manual_seed(0)
    return [IGNN(2, n_feats=8, n_resblocks=2, window=4), EDSR(3, n_feats=8, n_resblocks=1)]


@pytest.mark.parametrize("model", tiny_models(), ids=["ignn", "edsr"])
def test_compiled_dense_parts_give_the_eager_output_at_every_size(model):
    model.eval()
    inputs = [
        torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h)) * 255 for h, w in ((24, 20), (29, 33))
    ]  # two sizes: one compilation, dynamic shapes
    expected = [forward_whole(model, x) for x in inputs]
    keys = list(model.state_dict())
    torch._dynamo.reset()
    assert compile_dense_parts(model, inference=True, backend="aot_eager") == list(DENSE_PARTS[type(model)])
    for x, want in zip(inputs, expected):
        torch.testing.assert_close(forward_whole(model, x), want, rtol=1e-5, atol=1e-3)  # 0-255 scale
    assert list(model.state_dict()) == keys  # checkpoints are unaffected


def test_a_trained_model_still_learns_through_compiled_parts():
    model = tiny_models()[0].train()
    torch._dynamo.reset()
    compile_dense_parts(model, inference=False, backend="aot_eager")
    x = torch.rand(2, 3, 20, 20) * 255
    model(x).mean().backward()
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.grad is not None for p in trainable)


def test_no_compiler_is_one_warning_and_no_compilation(monkeypatch):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr("shutil.which", lambda name: None)  # no compiler on the PATH
    model = tiny_models()[1]
    with pytest.warns(
        UserWarning,
        match=r"^--compile: no C\+\+ compiler found \(c\+\+, g\+\+, clang\+\+\), "
        r"which torch.compile needs on the CPU; running without compilation$",
    ):
        assert compile_dense_parts(model, inference=True) == []
    assert model._compiled_call_impl is None


def test_upscale_compile_falls_back_in_one_line(tmp_path, checkpoint, monkeypatch, capsys):
    """Without a compiler ``--compile`` warns once and writes what the eager command writes."""
    monkeypatch.setattr(compilation, "missing_compiler", lambda: "no C++ compiler found (c++)")
    src = tmp_path / "in.png"
    write_image(src, torch.randint(0, 256, (21, 18, 3), dtype=torch.uint8).numpy())
    common = ["--weights", str(checkpoint), "--precision", "fp32"]
    assert main(["upscale", str(src), "-o", str(tmp_path / "eager.png"), *common]) == 0
    capsys.readouterr()
    assert main(["upscale", str(src), "-o", str(tmp_path / "compiled.png"), "--compile", *common]) == 0
    assert capsys.readouterr().err.strip() == (
        "ignn-pyg upscale: warning: --compile: no C++ compiler found (c++); running without compilation"
    )
    assert (read_image(tmp_path / "eager.png") == read_image(tmp_path / "compiled.png")).all()
    assert main(["upscale", str(src), "--method", "graph", "--compile"]) == 2
    assert "--compile need --method network" in capsys.readouterr().err


def test_an_architecture_without_dense_parts_is_refused():
    with pytest.raises(ValueError, match="no dense parts to compile for Linear"):
        compile_dense_parts(torch.nn.Linear(2, 2), inference=True, backend="aot_eager")


def test_whole_ignn_compiles_with_one_graph_break_the_graph_construction():
    """torch.compile of a whole IGNN: the only graph break left is the graph construction
    (the search's data-dependent tile loops, kept eager in one piece), and the output is
    the eager one, at two sizes (dynamic shapes)."""
    model = tiny_models()[0].eval()
    inputs = [torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h)) * 255 for h, w in ((24, 20), (29, 33))]
    torch._dynamo.reset()
    with torch.no_grad():
        explained = torch._dynamo.explain(model)(inputs[0])
        # where each break falls: its innermost frame of user code
        assert {reason.user_stack[-1].name for reason in explained.break_reasons} == {"build_graph"}
        compiled = torch.compile(model, backend="aot_eager")
        for x in inputs:
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-5, atol=1e-3)


def test_resize_exact_float32_and_the_aggregation_trace_without_a_break():
    """The three former graph breaks inside traced code (the resize matrix built with
    numpy, the float32-precision switch, the aggregation's edge-layout check) now trace
    into one graph (fullgraph=True raises at any break) and give the eager numbers."""
    from ignn_pyg.data.resize import imresize
    from ignn_pyg.runtime.precision import exact_float32

    torch._dynamo.reset()
    resize = torch.compile(lambda x: imresize(x, 0.5), backend="aot_eager", fullgraph=True)
    for h, w in ((20, 24), (31, 26)):
        image = torch.rand(1, 3, h, w)
        assert torch.equal(resize(image), imresize(image, 0.5))

    def product(x):
        with exact_float32("cpu"):
            return x @ x

    square = torch.rand(9, 9)
    assert torch.equal(torch.compile(product, backend="aot_eager", fullgraph=True)(square), product(square))

    model = tiny_models()[0].eval()
    lr = torch.rand(1, 3, 24, 20) * 255
    with torch.no_grad():
        graph = model.build_graph(lr)
        features = torch.randn(1, model.aggregation.channels, 24, 20)
        expected = model.aggregation(features, graph)
        traced = torch.compile(model.aggregation, backend="aot_eager", fullgraph=True)(features, graph)
    for ours, theirs in zip(traced, expected):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(compilation.missing_compiler() is not None, reason="inductor needs a C++ compiler")
def test_edsr_compiles_with_inductor_at_two_sizes():
    """Inductor itself (code generated, frozen weights, dynamic sizes) on a whole EDSR, whose
    forward ends in the MATLAB-bicubic residual: the eager output at two sizes.  (Its
    output size, ceil(h * s), must stay an integer expression for inductor.)"""
    torch.manual_seed(0)
    model = EDSR(2, n_feats=8, n_resblocks=1, residual="bicubic").eval()
    inputs = [torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h)) * 255 for h, w in ((24, 20), (29, 33))]
    expected = [forward_whole(model, x) for x in inputs]
    torch._dynamo.reset()
    assert compile_dense_parts(model, inference=True) == [""]
    for x, want in zip(inputs, expected):
        torch.testing.assert_close(forward_whole(model, x), want, rtol=1e-5, atol=1e-3)
