"""The precision switch: what ``auto`` picks, warnings, errors, and what a Precision does."""

from __future__ import annotations

import contextlib

import pytest
import torch

from ignn_pyg.runtime import precision as precision_module
from ignn_pyg.runtime.precision import NATIVE_BF16_ENV, Precision, resolve_precision


@pytest.mark.parametrize("native", [False, True])
def test_auto_picks_bf16_only_where_the_cpu_computes_it_natively(monkeypatch, native):
    monkeypatch.delenv(NATIVE_BF16_ENV, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    chosen = resolve_precision("auto", "cpu")
    assert chosen.name == ("bf16" if native else "fp32")
    assert chosen.channels_last
    assert ("natively" if native else "no native bf16") in chosen.reason


def test_amx_alone_counts_as_native(monkeypatch):
    monkeypatch.delenv(NATIVE_BF16_ENV, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert precision_module.native_bf16("cpu")
    assert resolve_precision("auto").dtype is torch.bfloat16


@pytest.mark.parametrize("cpu_flags", [False, True])
@pytest.mark.parametrize("forced", ["0", "1"])
def test_environment_overrides_what_the_cpu_reports(monkeypatch, cpu_flags, forced):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: cpu_flags)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: cpu_flags)
    monkeypatch.setenv(NATIVE_BF16_ENV, forced)
    assert precision_module.native_bf16("cpu") is (forced == "1")
    chosen = resolve_precision("auto", "cpu")
    assert chosen.name == ("bf16" if forced == "1" else "fp32") and chosen.channels_last
    assert f"({NATIVE_BF16_ENV}={forced})" in chosen.reason  # the user sees why
    with pytest.warns(RuntimeWarning) if forced == "0" else contextlib.nullcontext():
        assert resolve_precision("bf16", "cpu").dtype is torch.bfloat16


def test_empty_environment_asks_the_cpu_and_other_values_fail(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setenv(NATIVE_BF16_ENV, "")
    assert resolve_precision("auto", "cpu").name == "bf16"
    monkeypatch.setenv(NATIVE_BF16_ENV, "yes")
    with pytest.raises(ValueError, match=f"^{NATIVE_BF16_ENV} must be 0 or 1 .*, got 'yes'$"):
        resolve_precision("auto", "cpu")


def test_environment_leaves_gpus_alone(monkeypatch):
    monkeypatch.setenv(NATIVE_BF16_ENV, "1")
    assert precision_module.native_bf16("cuda") is (torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def test_bf16_without_native_support_runs_with_one_warning(monkeypatch):
    monkeypatch.setattr(precision_module, "native_bf16", lambda device: False)
    with pytest.warns(RuntimeWarning, match="no native bf16") as record:
        chosen = resolve_precision("bf16", "cpu")
    assert len(record) == 1 and "\n" not in str(record[0].message)
    assert chosen.dtype is torch.bfloat16


def test_fp32_is_the_exact_path_and_bad_names_fail():
    exact = resolve_precision("fp32")
    assert exact.dtype is None and not exact.channels_last
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16, fp16, got 'half'"):
        resolve_precision("half")
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", "cpu")


def test_run_returns_float32_in_the_default_layout_and_autocasts_inside():
    seen = {}

    def forward(x):
        seen["layout"] = x.is_contiguous(memory_format=torch.channels_last)
        seen["autocast"] = torch.is_autocast_enabled("cpu")
        return torch.nn.functional.conv2d(x, torch.ones(2, 3, 1, 1))

    x = torch.rand(1, 3, 5, 6)
    out = Precision("bf16", True, "test").run(forward, x)
    assert seen == {"layout": True, "autocast": True}
    assert out.dtype is torch.float32 and out.is_contiguous()
    # a 1x1 conv of ones sums the channels: bf16 keeps 8 significant bits
    assert torch.allclose(out, x.sum(1, keepdim=True).expand(1, 2, 5, 6), rtol=2**-7)
    out = Precision("fp32", False, "test").run(forward, x)
    assert seen == {"layout": False, "autocast": False}
    assert torch.equal(out, torch.nn.functional.conv2d(x, torch.ones(2, 3, 1, 1)))


def test_exact_float32_turns_tf32_and_autocast_off_inside_and_restores_them():
    """The graph's and the fp32 path's guard: IEEE float32 inside, whatever the caller
    allowed, and the caller's settings back afterwards, also after an exception."""
    from ignn_pyg.runtime.precision import exact_float32

    matmul, conv_tf32 = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    try:
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        with torch.autocast("cpu", dtype=torch.bfloat16):
            with exact_float32("cpu"):
                assert not torch.is_autocast_enabled("cpu")
                assert torch.get_float32_matmul_precision() == "highest"
                assert torch.backends.cudnn.allow_tf32 is False
                assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
            assert torch.is_autocast_enabled("cpu")
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32 is True
        with pytest.raises(KeyError), exact_float32("cpu"):
            raise KeyError("inside")
        assert torch.get_float32_matmul_precision() == "high" and torch.backends.cudnn.allow_tf32 is True
        with resolve_precision("fp32").autocast("cpu"):  # the fp32 path runs under the guard
            assert torch.get_float32_matmul_precision() == "highest"
    finally:
        torch.set_float32_matmul_precision(matmul)
        torch.backends.cudnn.allow_tf32 = conv_tf32


def test_cpu_description_names_the_cpu_and_its_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    line = precision_module.describe_cpu()
    assert line.endswith(" (AVX512-BF16 yes, AMX no)") and "\n" not in line
