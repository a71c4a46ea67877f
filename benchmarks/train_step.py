"""Training-step cost of IGNN and EDSR in each precision, side by side in one run.

One step is forward, L1 loss (float32), backward and Adam, as in
:mod:`ignn_pyg.training.engine`.  For each configuration (width, depth, batch, LR crop,
x2) it times IGNN and EDSR of equal width and depth in float32 (the exact path, default
layout), float32 channels-last, and bf16 autocast channels-last (best of ``--repeats``
interleaved rounds), counts the step's FLOPs (:class:`~torch.utils.flop_counter.FlopCounterMode`)
and prints the achieved GFLOP/s, each as a fraction of this machine's bf16 convolution
throughput measured in the same run (a 64->64 3x3 convolution, forward and backward,
under bf16 autocast, channels-last) and of its fp32 channels-last throughput.

Usage::

    python benchmarks/train_step.py            # 64/16 batch 16 x 24^2 and 32/8 batch 8 x 32^2
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from model_forward import best_times, count_flops  # this folder's timing and FLOP counting

from ignn_pyg.data import downsample_for_graph
from ignn_pyg.models import EDSR, IGNN
from ignn_pyg.runtime.precision import Precision, native_bf16

PRECISIONS = {
    "fp32": Precision("fp32", False, "exact path"),
    "fp32-cl": Precision("fp32", True, "channels-last"),
    "bf16-cl": Precision("bf16", True, "autocast"),
}
CONFIGS = ((64, 16, 16, 24), (32, 8, 8, 32))  # (n_feats, n_resblocks, batch, LR crop)


def conv_throughput(precision: Precision, repeats: int) -> float:
    """GFLOP/s of a 64->64 3x3 convolution's forward and backward (batch 16, 64^2)."""
    conv = precision.prepare_model(torch.nn.Conv2d(64, 64, 3, padding=1))
    x = precision.prepare_input(torch.randn(16, 64, 64, 64, requires_grad=True))

    def step():
        with precision.autocast("cpu"):
            out = conv(x)
        out.float().sum().backward()

    flops = count_flops(step)
    return flops / best_times({"conv": step}, repeats)["conv"] / 1e9


def train_step(model: torch.nn.Module, precision: Precision, lr: torch.Tensor, hr: torch.Tensor):
    """One training step of ``model`` (already in ``precision``'s layout, on ``lr``'s
    device) as a closure: forward under the autocast, L1 in float32, backward, Adam."""
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    lr = precision.prepare_input(lr)

    def step():
        with precision.autocast(lr.device):
            out = model(lr)
        loss = F.l1_loss(out.float(), hr)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__} ({torch.backends.cpu.get_cpu_capability()}, native bf16: "
        f"{native_bf16('cpu')}), {torch.get_num_threads()} threads"
    )
    peak = {
        name: conv_throughput(p, args.repeats)
        for name, p in (("fp32-cl", PRECISIONS["fp32-cl"]), ("bf16-cl", PRECISIONS["bf16-cl"]))
    }
    print(
        f"64->64 3x3 conv fwd+bwd: fp32 channels-last {peak['fp32-cl']:.1f} GFLOP/s, "
        f"bf16 channels-last {peak['bf16-cl']:.1f} GFLOP/s"
    )
    print(
        f"{'model':>5} {'feats':>5} {'blocks':>6} {'batch':>5} {'LR':>4} {'precision':>9} {'step s':>8} "
        f"{'GFLOP':>7} {'GFLOP/s':>8} {'/bf16 conv':>10} {'/fp32 conv':>10} {'vs fp32':>8}"
    )
    for n_feats, n_resblocks, batch, crop in CONFIGS:
        torch.manual_seed(0)
        hr = torch.rand(batch, 3, 2 * crop, 2 * crop) * 255
        lr = downsample_for_graph(hr, 2)
        models = {
            "IGNN": IGNN(2, n_feats, n_resblocks, residual="bicubic"),
            "EDSR": EDSR(2, n_feats, n_resblocks, residual="bicubic"),
        }
        steps, flops = {}, {}
        for arch, model in models.items():
            for name, precision in PRECISIONS.items():
                # each precision trains its own copy: a layout change is in place
                copy = type(model)(**{k: v for k, v in model.config_dict().items() if k != "arch"})
                copy.load_state_dict(model.state_dict())
                step = train_step(precision.prepare_model(copy), precision, lr, hr)
                steps[arch, name] = step
                flops[arch, name] = count_flops(step)
        times = best_times(steps, args.repeats)
        for arch in models:
            for name in PRECISIONS:
                seconds = times[arch, name]
                gflops = flops[arch, name] / seconds / 1e9
                print(
                    f"{arch:>5} {n_feats:>5} {n_resblocks:>6} {batch:>5} {crop:>4} {name:>9} {seconds:8.3f} "
                    f"{flops[arch, name] / 1e9:7.1f} {gflops:8.1f} {gflops / peak['bf16-cl']:10.2f} "
                    f"{gflops / peak['fp32-cl']:10.2f} {times[arch, 'fp32'] / seconds:7.2f}x",
                    flush=True,
                )
        ratio = (flops["IGNN", "bf16-cl"] / times["IGNN", "bf16-cl"]) / (
            flops["EDSR", "bf16-cl"] / times["EDSR", "bf16-cl"]
        )
        bf16_speedup = times["IGNN", "fp32"] / times["IGNN", "bf16-cl"]
        print(
            f"  {n_feats}/{n_resblocks} batch {batch} x {crop}^2: bf16 step {bf16_speedup:.2f}x "
            f"IGNN's fp32 [target >= 1.8x: {'met' if bf16_speedup >= 1.8 else 'missed'}]; "
            f"fp32 channels-last {times['IGNN', 'fp32'] / times['IGNN', 'fp32-cl']:.2f}x; IGNN FLOP/s in bf16 = "
            f"{ratio:.0%} of EDSR's [target >= 60%: {'met' if ratio >= 0.6 else 'missed'}]"
        )


if __name__ == "__main__":
    main()
