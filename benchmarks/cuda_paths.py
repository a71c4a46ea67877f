"""The CUDA paths on a GPU, measured side by side in one run; every table names the card.

1. **Graph** of the 640x400 photo at x2 (the bundled IGNN x2's embedding and graph
   settings): time of the embedding and of each k-NN backend on the GPU, and how many
   queries' neighbour lists differ from the CPU's float32 graph -- for each backend, and
   for a graph whose embedding ran with TF32 (cuDNN's default for float32 convolutions,
   which :func:`~ignn_pyg.runtime.precision.exact_float32` turns off).
2. **Upscale** of that photo by the bundled IGNN x2 in each precision: time, and the
   largest difference and PSNR against the exact path (fp32); also the exact path
   against the same forward on the CPU, and fp32 with TF32 allowed in the network.
3. **Training steps** (forward, L1, backward, Adam) of IGNN and EDSR at the bundled
   size (32 features, 8 blocks) and 48/12, batch 8, 32x32 LR crops, x2: iterations per
   second in fp32 and bf16.

Times are the best of ``--repeats`` after one warm-up, between CUDA events.

Usage::

    python benchmarks/cuda_paths.py [--repeats 5] [--json cuda_paths.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from train_step import train_step  # this folder's training step

from ignn_pyg.data import downsample_for_graph, image_to_tensor, load_photo
from ignn_pyg.graph.cross_scale_graph import build_cross_scale_graph
from ignn_pyg.graph.knn import cluster_available
from ignn_pyg.inference.bundled import bundled_weights
from ignn_pyg.inference.checkpoints import load_weights
from ignn_pyg.models import EDSR, IGNN
from ignn_pyg.runtime.precision import exact_float32, resolve_precision, tf32


def cuda_seconds(fn, repeats: int) -> float:
    """Best time of ``fn()`` over ``repeats`` calls after a warm-up, between CUDA events."""
    fn()
    best = math.inf
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1000)
    return best


def lists_differing(a, b) -> float:
    """Fraction of queries whose neighbour sets differ between graphs ``a`` and ``b``."""
    na, nb = a.neighbors().cpu().sort(1).values, b.neighbors().cpu().sort(1).values
    return float((na != nb).any(1).float().mean())


def psnr_against(x: torch.Tensor, reference: torch.Tensor) -> float:
    mse = float(F.mse_loss(x.float(), reference.float()))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def graph_section(model: IGNN, lr: torch.Tensor, repeats: int) -> dict:
    cfg, s = model.config, model.graph_scale

    def search(query, source, backend):
        return build_cross_scale_graph(
            query, source, s, cfg.num_neighbors, cfg.patch_size, cfg.stride, cfg.window, backend, cfg.window_indexing
        )

    def graph(embed, device):
        x = lr.to(device)
        return search(embed(x), embed(downsample_for_graph(x, s)), "dense")

    with torch.no_grad(), exact_float32("cpu"):
        cpu_graph = graph(model.embedding.cpu(), "cpu")
    embedding = model.embedding.cuda()
    out: dict = {}
    with torch.no_grad(), exact_float32("cuda"):
        lr_cuda = lr.cuda()
        out["embedding_s"] = cuda_seconds(lambda: embedding(lr_cuda), repeats)
        query, source = embedding(lr_cuda), embedding(downsample_for_graph(lr_cuda, s))
        for backend in ("dense", "cluster") if cluster_available() else ("dense",):
            out[f"{backend}_search_s"] = cuda_seconds(lambda backend=backend: search(query, source, backend), repeats)
            out[f"{backend}_vs_cpu_differing"] = lists_differing(search(query, source, backend), cpu_graph)
    with torch.no_grad(), tf32(True):
        out["tf32_vs_cpu_differing"] = lists_differing(graph(embedding, "cuda"), cpu_graph)
    out["queries"] = cpu_graph.neighbors().shape[0]
    return out


def upscale_section(lr: torch.Tensor, repeats: int) -> dict:
    model = load_weights(bundled_weights(2))
    with torch.no_grad():
        cpu_exact = resolve_precision("fp32", "cpu").run(model, lr)
        model.cuda()
        lr_cuda = lr.cuda()
        exact = resolve_precision("fp32", "cuda").run(model, lr_cuda)
        out = {
            "exact_vs_cpu_max_abs": float((exact.cpu() - cpu_exact).abs().max()),
            "exact_vs_cpu_psnr": psnr_against(exact.cpu(), cpu_exact),
        }
        for name in ("fp32", "bf16", "fp16"):
            precision = resolve_precision(name, "cuda")
            precision.prepare_model(model)
            out[f"{name}_s"] = cuda_seconds(lambda precision=precision: precision.run(model, lr_cuda), repeats)
            result = precision.run(model, lr_cuda)
            out[f"{name}_max_abs"] = float((result - exact).abs().max())
            out[f"{name}_psnr_vs_exact"] = psnr_against(result, exact)
            model.to(memory_format=torch.contiguous_format)
        with tf32(True):  # in the network only: the graph stays guarded
            out["fp32_tf32_s"] = cuda_seconds(lambda: model(lr_cuda), repeats)
            fast = model(lr_cuda)
        out["fp32_tf32_max_abs"] = float((fast - exact).abs().max())
        out["fp32_tf32_psnr_vs_exact"] = psnr_against(fast, exact)
    return out


def training_section(repeats: int) -> dict:
    out = {}
    torch.manual_seed(0)
    hr = torch.rand(8, 3, 64, 64, device="cuda") * 255
    lr = downsample_for_graph(hr, 2)
    for feats, blocks in ((32, 8), (48, 12)):
        for arch in (IGNN, EDSR):
            for name in ("fp32", "bf16"):
                precision = resolve_precision(name, "cuda")
                model = precision.prepare_model(arch(2, n_feats=feats, n_resblocks=blocks, residual="bicubic").cuda())
                step = train_step(model, precision, lr, hr)
                seconds = cuda_seconds(step, repeats)
                out[f"{arch.__name__.lower()}_{feats}x{blocks}_{name}_it_per_s"] = 1 / seconds
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("cuda_paths: no CUDA device visible; this benchmark measures the GPU paths")
    card = torch.cuda.get_device_name()
    print(
        f"card: {card} | torch {torch.__version__} | CUDA {torch.version.cuda} | "
        f"torch-cluster {'yes' if cluster_available() else 'no'} | "
        f"NCCL {'.'.join(map(str, torch.cuda.nccl.version())) if torch.distributed.is_nccl_available() else 'no'} "
        f"| {torch.cuda.device_count()} GPU(s)",
        flush=True,
    )
    image = load_photo("rocket")[:400, :640]
    lr = image_to_tensor(image)
    results = {"card": card, "torch": torch.__version__, "cuda": torch.version.cuda}
    for name, section in (
        ("graph", lambda: graph_section(load_weights(bundled_weights(2)), lr, args.repeats)),
        ("upscale", lambda: upscale_section(lr, args.repeats)),
        ("training", lambda: training_section(args.repeats)),
    ):
        start = time.perf_counter()
        results[name] = section()
        print(f"\n[{name} on {card}, {time.perf_counter() - start:.0f} s]", flush=True)
        for key, value in results[name].items():
            print(f"  {key:32s} {value:.6g}" if isinstance(value, float) else f"  {key:32s} {value}", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)


if __name__ == "__main__":
    main()
