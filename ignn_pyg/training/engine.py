r"""The training loop: L1 loss (or another, ``loss.name``), Adam, step decay, validation,
resumable checkpoints, and optionally an EMA of the weights (``ema.decay``,
:mod:`~ignn_pyg.training.weight_average`).

One iteration ``t`` (global batch ``B`` of HR crops :math:`y_b` and LR inputs :math:`x_b`):

.. math::
    \mathcal{L}_t = \frac{1}{B \cdot 3 s^2 h w} \sum_b \lVert f_\theta(x_b) - y_b \rVert_1,
    \qquad \theta \leftarrow \mathrm{Adam}(\theta, \nabla_\theta \mathcal{L}_t, \eta_t),
    \qquad \eta_t = \eta_0\, \gamma^{|\{m \in \text{milestones} : m \le t\}|}

With ``W`` processes each takes ``B / W`` of the crops and DDP averages the gradients,
which is the gradient of the same mean (IGNN's graph is built per image, so batching
couples nothing).

Every ``run.val_every`` iterations (and at the end) rank 0 measures PSNR/SSIM (Y, border
``scale``) on the validation images and writes ``last.pt`` (and ``best.pt`` when the
PSNR improved) with :func:`~ignn_pyg.inference.checkpoints.save_checkpoint`.  A checkpoint holds
the weights (and their EMA when kept), optimiser, scheduler, iteration, best score, elapsed time, the train
config and the RNG states (Python, numpy, torch; rank 0's), and the data of iteration
``t`` is a pure function of ``(seed, t)`` (:mod:`ignn_pyg.training.data`), so a run
killed at any moment and resumed from ``last.pt`` continues exactly as if it had not
stopped.  On SIGINT or SIGTERM the run writes ``last.pt`` at the current iteration (with
the loss sums of the unfinished log interval) and raises
:class:`~ignn_pyg.training.interrupt.TrainingInterrupted`; rank 0 holds a
:class:`~ignn_pyg.training.run_lock.RunLock` on ``run.out_dir`` for the whole run.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader
from tqdm import tqdm

from ignn_pyg.data.atomic_files import atomic_output
from ignn_pyg.evaluation.engine import evaluate, make_forward, probe_graph, summarize
from ignn_pyg.inference.checkpoints import build_model, load_checkpoint, save_checkpoint
from ignn_pyg.inference.compilation import compile_dense_parts
from ignn_pyg.models import IGNN
from ignn_pyg.runtime.precision import Precision, resolve_precision

from .config import TrainConfig, config_to_yaml
from .data import StreamSampler, build_train_dataset, build_val_samples, seed_worker
from .distributed import Distributed, setup_distributed, teardown_distributed
from .interrupt import StopSignals, TrainingInterrupted
from .logs import CSVLog, open_tensorboard, plot_progress
from .losses import reconstruction_loss
from .optimization import build_optimizer, build_scheduler, clip_gradients
from .run_lock import RunLock
from .weight_average import build_weight_average, load_weight_average_state, weight_average_state
from .weight_init import scaled_kaiming_init_, warm_start_

__all__ = ["train", "trained_iterations", "rng_state", "set_rng_state", "seed_everything"]


def rng_state() -> dict[str, Any]:
    """The global Python, numpy and torch (CPU and CUDA) generator states, in types that
    ``torch.load(weights_only=True)`` reads back."""
    numpy_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            **numpy_state,
            "state": {
                "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
                "pos": numpy_state["state"]["pos"],
            },
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(state["python"])
    numpy_state = dict(state["numpy"])
    numpy_state["state"] = {
        "key": state["numpy"]["state"]["key"].numpy().astype(np.uint32),
        "pos": state["numpy"]["state"]["pos"],
    }
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators with ``seed``, as a run starts."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _validate(
    model: nn.Module,
    samples: list[dict],
    scale: int,
    image_dir: Path,
    device: torch.device,
    baseline: list[dict] | None,
    precision: Precision,
    probe: bool,
) -> tuple[dict[str, float], list[dict]]:
    """Mean ``val_psnr``, ``val_ssim``, ``bicubic_psnr``, ``bicubic_ssim`` of ``model`` on whole
    ``samples`` (:func:`ignn_pyg.evaluation.evaluate`, which also writes the SR images
    to ``image_dir``; ``baseline``: an earlier validation's rows, whose bicubic scores are
    reused), with ``probe`` for an IGNN with a graph also ``val_reliance`` (against random
    neighbours, :func:`~ignn_pyg.evaluation.probe_graph`), and the per-image rows; the model is left
    in training mode."""
    rows = evaluate(
        samples,
        make_forward(model, precision=precision),
        scale,
        image_dir,
        device=device,
        progress=False,
        baseline=baseline,
    )
    if probe and isinstance(model, IGNN) and model.uses_cross_scale_graph:
        rows = probe_graph(
            model, samples, rows, controls=("random",), device=device, precision=precision, progress=False
        )
    model.train()
    mean = summarize(rows)
    scores = {
        "val_psnr": mean["psnr"],
        "val_ssim": mean["ssim"],
        "bicubic_psnr": mean["bicubic_psnr"],
        "bicubic_ssim": mean["bicubic_ssim"],
    }
    if "reliance_random" in mean:
        scores["val_reliance"] = mean["reliance_random"]
    return scores, rows


def _configure_torch(config: TrainConfig) -> None:
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    if config.run.deterministic:
        # cuBLAS needs this before its first call to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)


def _config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """``"key: old -> new"`` for every leaf where two nested dicts differ."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def trained_iterations(out_dir: str | Path) -> int:
    """How far the run in ``out_dir`` got: the iteration of its ``last.pt``, 0 when it has
    none (for scripts that train, resume or skip a run)."""
    path = Path(out_dir) / "last.pt"
    return int(load_checkpoint(path)[1].get("iteration", 0)) if path.is_file() else 0


def _read_resume_checkpoint(path: Path, model: nn.Module, config: TrainConfig) -> dict[str, Any]:
    """The payload of ``path``, after checking that it was written by a training run of
    the same model and that iterations remain (ValueError naming the differences)."""
    stored_model, payload = load_checkpoint(path)
    if "iteration" not in payload or "optimizer" not in payload:
        raise ValueError(f"{str(path)!r} holds weights but no training state; it cannot be resumed")
    # Compared as rebuilt, so a constructor argument added since (with its default)
    # does not count as a difference.
    differences = _config_differences(stored_model.config_dict(), model.config_dict())
    if differences:
        raise ValueError(
            f"cannot resume from {str(path)!r}: it holds a different model "
            f"(checkpoint -> config): {'; '.join(differences)}"
        )
    if payload["iteration"] >= config.optim.iterations:
        raise ValueError(
            f"the run is already at iteration {payload['iteration']} of optim.iterations="
            f"{config.optim.iterations}; raise it with --override optim.iterations=N to train further"
        )
    if config.ema.decay and "ema_state_dict" not in payload:
        raise ValueError(
            f"cannot resume {str(path)!r} with ema.decay {config.ema.decay}: its run kept no EMA of the weights"
        )
    changed = _config_differences(payload.get("train_config", {}), asdict(config))
    if changed:
        print(f"resuming with a changed config (checkpoint -> now): {'; '.join(changed)}", flush=True)
    return payload


class _Recorder:
    """Rank 0's side of a run: ``log.csv``, TensorBoard, validation, checkpoints and
    ``progress.png`` in ``out_dir``, and the best validation PSNR so far."""

    def __init__(
        self,
        config: TrainConfig,
        val_samples: list[dict],
        payload: dict[str, Any] | None,
        precision: Precision,
        scaler: torch.amp.GradScaler,
        average: AveragedModel | None,
    ) -> None:
        self.config, self.val_samples, self.precision, self.scaler = config, val_samples, precision, scaler
        self.average = average
        self.out_dir = Path(config.run.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / "config.yaml").write_text(config_to_yaml(config))
        start = None if payload is None else payload["iteration"]
        self.csv_log = CSVLog(self.out_dir / "log.csv", resume_from=start)
        self.tensorboard = open_tensorboard(
            self.out_dir / "tensorboard", purge_step=None if start is None else start + 1
        )
        self.best_psnr = -math.inf if payload is None else payload["best_psnr"]
        self.best_iteration = 0 if payload is None else payload["best_iteration"]
        self.baseline: list[dict] | None = None  # the first validation's rows: bicubic scores

    def record(
        self,
        iteration: int,
        mean_loss: float,
        seconds: float,
        validate: bool,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
    ) -> dict[str, float]:
        """Log one row; with ``validate`` also validate (the EMA weights when the run
        keeps them, else ``model``), checkpoint and plot.  Returns the validation scores
        (empty without ``validate``)."""
        lr = optimizer.param_groups[0]["lr"]
        row: dict[str, Any] = {
            "iteration": iteration,
            "loss": f"{mean_loss:.6g}",
            "lr": f"{lr:.6g}",
            "seconds": f"{seconds:.1f}",
        }
        scores = {}
        if validate:
            scores, self.baseline = _validate(
                model if self.average is None else self.average.module,
                self.val_samples,
                self.config.data.scale,
                self.out_dir / "val_images",
                next(model.parameters()).device,
                self.baseline,
                self.precision,
                self.config.validation.probe_graph,
            )
            row.update(
                val_psnr=f"{scores['val_psnr']:.4f}",
                val_ssim=f"{scores['val_ssim']:.5f}",
                val_reliance=f"{scores['val_reliance']:.4f}" if "val_reliance" in scores else "",
            )
        # The row goes first: a crash before the checkpoint leaves a row that the resume
        # from the previous checkpoint drops, never a checkpoint without its row.
        self.csv_log.append(row)
        if self.tensorboard is not None:
            for tag, value in (
                ("train/loss", mean_loss),
                ("train/lr", lr),
                *((f"val/{k[4:]}", v) for k, v in scores.items() if k.startswith("val_")),
            ):
                self.tensorboard.add_scalar(tag, value, iteration)
        if validate:
            if scores["val_psnr"] > self.best_psnr:
                self.best_psnr, self.best_iteration = scores["val_psnr"], iteration
            self.save_last(iteration, seconds, model, optimizer, scheduler)
            if self.best_iteration == iteration:  # the same bytes, written whole or not at all
                with atomic_output(self.out_dir / "best.pt") as partial:
                    shutil.copyfile(self.out_dir / "last.pt", partial)
            plot_progress(self.csv_log.read(), self.out_dir / "progress.png", scores["bicubic_psnr"])
        return scores

    def save_last(
        self,
        iteration: int,
        seconds: float,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: Any,
        **extra: Any,
    ) -> Path:
        """Write ``last.pt``, everything a resume needs at ``iteration`` (``extra``: more
        entries); returns its path."""
        path = self.out_dir / "last.pt"
        if self.scaler.is_enabled():
            extra["grad_scaler"] = self.scaler.state_dict()
        if self.average is not None:
            extra.update(weight_average_state(self.average))
        save_checkpoint(
            path,
            model,
            iteration=iteration,
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            rng=rng_state(),
            best_psnr=self.best_psnr,
            best_iteration=self.best_iteration,
            seconds=seconds,
            train_config=asdict(self.config),
            **extra,
        )
        return path

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _mean_over_ranks(values: Tensor, ctx: Distributed) -> Tensor:
    """Mean of a CPU tensor over the processes (reduced on ``ctx.device``: nccl reduces
    GPU tensors only)."""
    if ctx.world_size > 1:
        reduced = values.to(ctx.device)
        dist.all_reduce(reduced)
        values = reduced.cpu() / ctx.world_size
    return values


def _save_stop_checkpoint(
    recorder: _Recorder | None,
    interval: Tensor,
    ctx: Distributed,
    iteration: int,
    seconds: float,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
) -> None:
    """Rank 0 writes ``last.pt`` at ``iteration``, plus ``loss_interval``: the unfinished
    log interval's loss sum (mean over the ranks) and count, so the resumed run writes
    the log rows this one would have; the other ranks wait."""
    loss_interval = _mean_over_ranks(interval.clone(), ctx)
    loss_interval[1] = interval[1]
    if recorder is not None:
        recorder.save_last(iteration, seconds, model, optimizer, scheduler, loss_interval=loss_interval)
        recorder.close()
    if ctx.world_size > 1:
        dist.barrier()


def train(config: TrainConfig, resume: bool = False) -> dict[str, float]:
    """Run (or, with ``resume``, continue) the training ``config`` describes.

    Under ``torchrun`` every process calls this; see the module docstring.

    Returns:
        ``{"iteration", "iterations_per_second"}`` (of this invocation), and on rank 0
        also ``"loss"``, ``"best_psnr"`` and the last validation's ``"val_psnr"``,
        ``"val_ssim"``, ``"bicubic_psnr"``, ``"bicubic_ssim"``.

    Raises:
        ValueError: ``run.out_dir`` already holds a run and ``resume`` is false, the
            checkpoint is of another model or finished, a dataset is empty, ...
        RunFolderBusy: another live process trains in ``run.out_dir`` (a ``ValueError``).
        FileNotFoundError: ``resume`` without ``last.pt``, or a photo not installed.
        TrainingInterrupted: SIGINT or SIGTERM arrived; ``last.pt`` holds the iteration
            reached.
    """
    last_path = Path(config.run.out_dir) / "last.pt"
    nothing_to_resume = FileNotFoundError(f"nothing to resume: {str(last_path)!r} does not exist")
    if resume and not last_path.parent.is_dir():  # no folder, so no process to name: nothing to lock
        raise nothing_to_resume
    _configure_torch(config)
    ctx = setup_distributed(config.run.device)
    try:
        # The lock before any look at the folder: a run another process trains has no
        # last.pt until its first checkpoint, and the user should hear of that process.
        with RunLock(config.run.out_dir) if ctx.is_main else nullcontext(), StopSignals() as signals:
            if resume and not last_path.is_file():
                raise nothing_to_resume
            if not resume and last_path.is_file():
                raise ValueError(
                    f"{config.run.out_dir!r} already holds a run (last.pt); pass --resume to "
                    "continue it or choose another run.out_dir"
                )
            return _train(config, ctx, last_path if resume else None, signals)
    finally:
        teardown_distributed(ctx)


def _train(config: TrainConfig, ctx: Distributed, resume_path: Path | None, signals: StopSignals) -> dict[str, float]:
    data, optim, run = config.data, config.optim, config.run
    seed_everything(run.seed)
    model = build_model(config.model_kwargs())
    scaled_kaiming_init_(model, config.model.init_scale, config.model.init_embedding, config.model.init_unscaled)
    if config.model.init_from and resume_path is None:
        warm = warm_start_(model, config.model.init_from)
        if ctx.is_main:
            print(
                f"weights from {config.model.init_from} (iteration {warm}); optimiser and schedule start afresh",
                flush=True,
            )
    payload = None if resume_path is None else _read_resume_checkpoint(resume_path, model, config)

    train_set = build_train_dataset(data, run.seed, optim.iterations)
    precision = resolve_precision(run.precision, ctx.device)
    # fp16 gradients underflow without loss scaling; bf16 has float32's exponent range
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=precision.dtype == torch.float16)

    precision.prepare_model(model.to(ctx.device))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, optim.name, optim.lr, optim.betas, optim.weight_decay)
    scheduler = build_scheduler(
        optimizer, optim.schedule, optim.iterations, optim.milestones, optim.gamma, optim.warmup, optim.min_lr
    )
    # only the main process validates and saves, so only it keeps the average
    average = build_weight_average(model, config.ema.decay) if ctx.is_main else None
    recorder = _Recorder(config, build_val_samples(data), payload, precision, scaler, average) if ctx.is_main else None
    start, seconds_before = 0, 0.0
    if payload is not None:
        model.load_state_dict(payload["state_dict"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        if "grad_scaler" in payload:
            scaler.load_state_dict(payload["grad_scaler"])
        if average is not None:
            load_weight_average_state(average, payload)
        start, seconds_before = payload["iteration"], payload["seconds"]
    if recorder is not None:
        print(
            f"{model.config_dict()} | {sum(p.numel() for p in params):,} trainable parameters | "
            f"{train_set} | {len(recorder.val_samples)} validation images | precision {precision}",
            flush=True,
        )

    if run.compile and compile_dense_parts(model, inference=False) and recorder is not None:
        print("compiled: the network's dense parts (torch.compile; the first steps take minutes)", flush=True)
    net: nn.Module = model
    if ctx.world_size > 1:
        net = DistributedDataParallel(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    sampler = StreamSampler(data.batch_size, start, optim.iterations, ctx.rank, ctx.world_size)
    loader = DataLoader(
        train_set,
        batch_size=sampler.local_batch,
        sampler=sampler,
        num_workers=data.workers,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(run.seed + ctx.rank),
        pin_memory=ctx.device.type == "cuda",
    )
    if payload is not None:
        set_rng_state(payload["rng"])

    loss_fn = reconstruction_loss(config.loss.name, config.loss.eps)
    summary: dict[str, float] = {}
    interval = torch.zeros(2, dtype=torch.float64)  # (sum of losses, count) since the last log row
    if payload is not None and "loss_interval" in payload:  # written by a stop between log rows
        interval = payload["loss_interval"].clone()
    started = time.perf_counter()
    bar = tqdm(
        total=optim.iterations,
        initial=start,
        desc="train",
        disable=not ctx.is_main,
        dynamic_ncols=True,
        mininterval=1.0,
    )
    net.train()
    iteration = start
    for batch in loader:
        stop = signals.agreed(ctx)  # checked here, when the last iteration's row and checkpoint are written
        if stop:
            _save_stop_checkpoint(
                recorder,
                interval,
                ctx,
                iteration,
                seconds_before + time.perf_counter() - started,
                model,
                optimizer,
                scheduler,
            )
            bar.close()
            raise TrainingInterrupted(stop, iteration, Path(run.out_dir) / "last.pt")
        with precision.autocast(ctx.device):
            sr = net(precision.prepare_input(batch["lr"].to(ctx.device)))
        loss = loss_fn(sr.float(), batch["hr"].to(ctx.device))  # the loss in float32 whatever the precision
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if optim.clip_grad_norm > 0:
            scaler.unscale_(optimizer)  # a no-op scaler unless fp16
            clip_gradients(params, optim.clip_grad_norm)
        scaler.step(optimizer)  # optimizer.step() itself unless fp16
        scaler.update()
        scheduler.step()
        if average is not None:
            average.update_parameters(model)
        iteration += 1
        interval += torch.tensor([loss.item(), 1.0], dtype=torch.float64)
        bar.update(1)
        bar.set_postfix(
            loss=f"{interval[0] / interval[1]:.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}", refresh=False
        )

        validate = iteration % run.val_every == 0 or iteration == optim.iterations
        if not (validate or iteration % run.log_every == 0):
            continue
        mean_loss = float(_mean_over_ranks(interval.clone(), ctx)[0] / interval[1])
        interval.zero_()
        if recorder is not None:
            seconds = seconds_before + time.perf_counter() - started
            scores = recorder.record(iteration, mean_loss, seconds, validate, model, optimizer, scheduler)
            if validate:
                bar.write(
                    f"iteration {iteration}: loss {mean_loss:.4f}, val PSNR {scores['val_psnr']:.3f} dB "
                    f"SSIM {scores['val_ssim']:.4f} (bicubic {scores['bicubic_psnr']:.3f} dB / "
                    f"{scores['bicubic_ssim']:.4f}), best {recorder.best_psnr:.3f} dB at "
                    f"{recorder.best_iteration}"
                    + (f", graph reliance {scores['val_reliance']:+.3f} dB" if "val_reliance" in scores else "")
                )
            summary.update(scores, loss=mean_loss)
        if validate and ctx.world_size > 1:
            dist.barrier()  # the others wait while rank 0 validates and writes
    bar.close()
    summary.update(iteration=iteration, iterations_per_second=(iteration - start) / (time.perf_counter() - started))
    if recorder is not None:
        recorder.close()
        summary["best_psnr"] = recorder.best_psnr
    return summary
