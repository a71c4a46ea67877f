"""End-to-end runs of the training loop on a tiny IGNN (n_feats 8, 2 blocks, 32 px crops).

* resume: a run SIGKILLed right after its checkpoint at iteration 4, resumed, ends with
  the same weights, optimiser state and log as an uninterrupted run (bitwise);
* DDP: two Gloo processes with half the batch each reach the weights of one process
  with the whole batch;
* user errors are caught before training starts;
* SIGINT / SIGTERM sent to ``ignn-pyg train`` write a checkpoint at the iteration reached
  and exit 130 / 143, and the resumed run ends bitwise equal to an uninterrupted one;
  under torchrun a SIGINT to one of two Gloo processes stops both after one iteration,
  and torchrun --resume ends bitwise where an uninterrupted two-process run ends;
* on CUDA (when there is a GPU), in each precision: a SIGKILLed run resumes to within
  2 % of one Adam step of the uninterrupted weights;
* a second ``ignn-pyg train`` on a folder whose run is alive is refused (exit 2, the
  holder's PID), and the lock a SIGKILLed run leaves behind does not block its resume.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml

from ignn_pyg.commands.main import main as cli_main
from ignn_pyg.inference.checkpoints import load_checkpoint, save_checkpoint
from ignn_pyg.training import load_config, train
from ignn_pyg.training.engine import trained_iterations
from ignn_pyg.training.interrupt import TrainingInterrupted
from ignn_pyg.training.logs import read_log
from ignn_pyg.training.run_lock import RunLock
from tests.cli_process import cli_command, cli_env, one_line_error, run_cli

# Runs the training in a child process that kills itself (SIGKILL: no clean-up, no
# flush) right after writing last.pt at the given iteration.
KILL_AFTER_CHECKPOINT = textwrap.dedent("""
    import os, signal, sys
    from ignn_pyg.training import engine, load_config

    kill_at = int(sys.argv[2])
    save = engine.save_checkpoint

    def save_then_die(path, model, **state):
        save(path, model, **state)
        if os.path.basename(path) == "last.pt" and state["iteration"] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    engine.save_checkpoint = save_then_die
    engine.train(load_config(sys.argv[1]))
""")


def _write(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def _final(out_dir: str) -> dict:
    return torch.load(Path(out_dir) / "last.pt", weights_only=True)


def _log_without_time(out_dir: str) -> list[list[str]]:
    lines = (Path(out_dir) / "log.csv").read_text().splitlines()
    return [line.split(",")[:-1] for line in lines]


def _train_until_killed(path: Path, iteration: int) -> None:
    """Train the config at ``path`` in a child process that SIGKILLs itself once the
    checkpoint of ``iteration`` is written."""
    child = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_CHECKPOINT, str(path), str(iteration)],
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -9, child.stderr[-2000:]


def _assert_same_end(reference_dir: str, resumed_dir: str, iterations: int) -> None:
    """Both runs end at ``iterations`` with bitwise equal weights, Adam moments and
    scheduler, and the same log (up to the time column)."""
    a, b = _final(reference_dir), _final(resumed_dir)
    assert a["iteration"] == b["iteration"] == iterations
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    moments = [
        (sa[m], sb[m])
        for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values())
        for m in ("exp_avg", "exp_avg_sq")
    ]
    assert all(torch.equal(x, y) for x, y in moments)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == iterations
    assert ("ema_state_dict" in a) == ("ema_state_dict" in b)
    if "ema_state_dict" in a:
        assert a["ema_updates"] == b["ema_updates"] == iterations
        assert all(torch.equal(a["ema_state_dict"][k], b["ema_state_dict"][k]) for k in a["ema_state_dict"])
    assert _log_without_time(reference_dir) == _log_without_time(resumed_dir)


def test_a_recipe_run_resumes_to_the_same_weights(tiny_config, tmp_path, restore_torch_globals):
    """AdamW with weight decay, cosine after a linear warm-up (SequentialLR's state),
    clipping, the Charbonnier loss and an EMA of the weights: killed after iteration 4,
    resumed, it ends where the uninterrupted run ends, bit for bit, EMA included."""
    recipe = {
        "optim": {
            "name": "adamw",
            "weight_decay": 0.01,
            "schedule": "cosine",
            "warmup": 2,
            "milestones": [],
            "clip_grad_norm": 0.5,
        },
        "loss": {"name": "charbonnier", "eps": 0.01},
        "ema": {"decay": 0.9},
    }
    reference = tiny_config("uninterrupted", **recipe)
    train(load_config(_write(reference, tmp_path / "a.yaml")))
    killed = tiny_config("killed", **recipe)
    path = _write(killed, tmp_path / "b.yaml")
    _train_until_killed(path, 4)
    train(load_config(path), resume=True)
    _assert_same_end(reference["run"]["out_dir"], killed["run"]["out_dir"], 6)
    rates = [float(row["lr"]) for row in read_log(Path(reference["run"]["out_dir"]) / "log.csv")]
    assert rates[0] < rates[1] > rates[-1]  # warm-up, then the cosine decay


def test_an_ema_run_validates_and_keeps_the_average(tiny_config, tmp_path, restore_torch_globals, monkeypatch):
    """With ema.decay, every validation scores the averaged weights (the ones last.pt stores
    as ema_state_dict at that iteration, not the raw ones), and a run started without an EMA
    cannot be resumed with one."""
    from ignn_pyg.training import engine

    validated = []
    original = engine._validate

    def spy(model, *args, **kwargs):
        validated.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return original(model, *args, **kwargs)

    monkeypatch.setattr(engine, "_validate", spy)
    config = tiny_config("ema", ema={"decay": 0.5})
    train(load_config(_write(config, tmp_path / "ema.yaml")))
    final = _final(config["run"]["out_dir"])
    assert len(validated) == 3 and final["ema_updates"] == 6
    assert all(torch.equal(validated[-1][k], v) for k, v in final["ema_state_dict"].items())
    assert not all(torch.equal(validated[-1][k], v) for k, v in final["state_dict"].items())
    best = torch.load(Path(config["run"]["out_dir"]) / "best.pt", weights_only=True)
    assert "ema_state_dict" in best

    plain = tiny_config("plain", optim={"iterations": 2})
    path = _write(plain, tmp_path / "plain.yaml")
    train(load_config(path))
    with pytest.raises(ValueError, match="kept no EMA"):
        train(load_config(path, ["ema.decay=0.5", "optim.iterations=4"]), resume=True)


def test_validation_without_the_graph_probe(tiny_config, tmp_path, restore_torch_globals):
    """validation.probe_graph false leaves the reliance column empty and changes nothing
    else: the same PSNR at each validation and the same final weights as a probed run."""
    probed, plain = tiny_config("probed"), tiny_config("plain", validation={"probe_graph": False})
    for config in (probed, plain):
        train(load_config(_write(config, tmp_path / f"{Path(config['run']['out_dir']).name}.yaml")))
    rows = [
        [row for row in read_log(Path(config["run"]["out_dir"]) / "log.csv") if row["val_psnr"]]
        for config in (probed, plain)
    ]
    assert [r["val_psnr"] for r in rows[0]] == [r["val_psnr"] for r in rows[1]] and len(rows[1]) == 3
    assert all(r["val_reliance"] for r in rows[0]) and not any(r["val_reliance"] for r in rows[1])
    a, b = _final(probed["run"]["out_dir"]), _final(plain["run"]["out_dir"])
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_sigkilled_run_resumes_to_the_same_weights(tiny_config, tmp_path, restore_torch_globals, precision):
    reference = tiny_config("uninterrupted", run={"precision": precision})
    train(load_config(_write(reference, tmp_path / "a.yaml")))

    killed = tiny_config("killed", run={"precision": precision})
    path = _write(killed, tmp_path / "b.yaml")
    _train_until_killed(path, 4)
    assert _final(killed["run"]["out_dir"])["iteration"] == 4
    train(load_config(path), resume=True)

    _assert_same_end(reference["run"]["out_dir"], killed["run"]["out_dir"], 6)
    assert (Path(killed["run"]["out_dir"]) / "progress.png").is_file()
    weights = _final(killed["run"]["out_dir"])["state_dict"]
    assert all(v.dtype == torch.float32 for v in weights.values() if v.is_floating_point())
    validated = [row for row in read_log(Path(killed["run"]["out_dir"]) / "log.csv") if row["val_psnr"]]
    assert len(validated) == 3 and all(row["val_reliance"] for row in validated)  # IGNN: graph reliance logged


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_sigkilled_cuda_run_resumes_to_the_uninterrupted_weights(
    tiny_config, tmp_path, restore_torch_globals, precision
):
    """On the GPU, where scatter kernels add in any order, to within 2 % of one Adam
    step (lr): a resume that lost fp16's gradient-scaler state would start again at
    scale 2^16 and skip other steps than the uninterrupted run, a whole step apart."""
    reference = tiny_config("uninterrupted", run={"precision": precision, "device": "cuda"})
    train(load_config(_write(reference, tmp_path / "a.yaml")))

    killed = tiny_config("killed", run={"precision": precision, "device": "cuda"})
    path = _write(killed, tmp_path / "b.yaml")
    _train_until_killed(path, 4)
    assert ("grad_scaler" in _final(killed["run"]["out_dir"])) == (precision == "fp16")
    train(load_config(path), resume=True)

    a, b = _final(reference["run"]["out_dir"]), _final(killed["run"]["out_dir"])
    assert a["iteration"] == b["iteration"] == 6
    assert all(bool(torch.isfinite(v).all()) for v in b["state_dict"].values() if v.is_floating_point())
    worst = max((a["state_dict"][k] - b["state_dict"][k]).abs().max().item() for k in a["state_dict"])
    assert worst < 0.02 * reference["optim"]["lr"]
    losses = [[float(r[1]) for r in _log_without_time(run["run"]["out_dir"])[1:]] for run in (reference, killed)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(config_path: Path, *extra: str) -> list[str]:
    """Two Gloo processes of ``python -m ignn_pyg train`` under ``torchrun``."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        "-m",
        "ignn_pyg",
        "train",
        "--config",
        str(config_path),
        *extra,
    ]


def test_two_gloo_processes_match_one_process_with_the_whole_batch(tiny_config, tmp_path, restore_torch_globals):
    single = tiny_config("single", optim={"iterations": 3}, run={"val_every": 3})
    train(load_config(_write(single, tmp_path / "single.yaml")))

    ddp = tiny_config("ddp", optim={"iterations": 3}, run={"val_every": 3})
    child = subprocess.run(
        _torchrun(_write(ddp, tmp_path / "ddp.yaml")), env=cli_env(), capture_output=True, text=True, timeout=300
    )
    assert child.returncode == 0, child.stderr[-3000:]

    a, b = _final(single["run"]["out_dir"]), _final(ddp["run"]["out_dir"])
    # Adam's first moment is a weighted sum of the gradients: equal up to float32
    # round-off, and it would be off by 2x if the ranks summed instead of averaging.
    # The tolerance is relative to the largest moment of the model: a parameter whose
    # gradient is zero in exact arithmetic (a bias cancelled by a softmax) holds only
    # round-off, which no per-parameter scale can bound.
    pairs = list(zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()))
    scale = max(float(state_a["exp_avg"].abs().max()) for state_a, _ in pairs)
    for state_a, state_b in pairs:
        assert torch.allclose(state_a["exp_avg"], state_b["exp_avg"], rtol=0, atol=1e-4 * scale)
    # Adam divides by sqrt(v), which amplifies round-off where gradients nearly cancel:
    # the weights agree to 2 % of one step (lr = 1e-3).
    worst = max((a["state_dict"][k] - b["state_dict"][k]).abs().max().item() for k in a["state_dict"])
    assert worst < 0.02 * single["optim"]["lr"]
    losses = [
        [float(r[1]) for r in _log_without_time(d)[1:]] for d in (single["run"]["out_dir"], ddp["run"]["out_dir"])
    ]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_user_errors_exit_2_before_training(tiny_config, tmp_path, image_folders, capsys, restore_torch_globals):
    config_path = _write(tiny_config("errors"), tmp_path / "c.yaml")

    assert cli_main(["train", "--config", str(config_path), "--override", "optim.lrr=1"]) == 2
    assert "unknown config key 'optim.lrr'" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(config_path), "--override", "data.batch_size=two"]) == 2
    assert "'data.batch_size' must be int" in capsys.readouterr().err
    assert (
        cli_main(["train", "--config", str(config_path), "--override", f"data.train_root={image_folders['empty']}"])
        == 2
    )
    assert "no images" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(config_path), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err

    assert cli_main(["train", "--config", str(config_path), "--override", "optim.iterations=2", "run.val_every=2"]) == 0
    assert cli_main(["train", "--config", str(config_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(config_path), "--resume", "--override", "model.arch=edsr"]) == 2
    err = capsys.readouterr().err
    assert "different model" in err and "arch: 'ignn' -> 'edsr'" in err and "window: 30 -> None" in err
    assert cli_main(["train", "--config", str(config_path), "--resume", "--override", "model.n_feats=16"]) == 2
    assert "n_feats: 8 -> 16" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(config_path), "--resume", "--override", "optim.iterations=2"]) == 2
    assert "already at iteration 2" in capsys.readouterr().err


def test_warm_start_takes_the_checkpoints_weights(tiny_config, tmp_path, capsys, restore_torch_globals):
    """``model.init_from``: one Adam step from the checkpoint moves no weight by more than
    the learning rate (Adam's first step is lr * g / (|g| + eps)), frozen ones not at all;
    a run from another seed's random initialisation is far from it."""
    source = tiny_config("source", optim={"iterations": 2}, run={"val_every": 2})
    train(load_config(_write(source, tmp_path / "source.yaml")))
    checkpoint = Path(source["run"]["out_dir"]) / "last.pt"
    warm = tiny_config("warm", model={"init_from": str(checkpoint)}, optim={"iterations": 1}, run={"val_every": 1})
    fresh = tiny_config("fresh", optim={"iterations": 1}, run={"val_every": 1, "seed": 1})
    capsys.readouterr()
    train(load_config(_write(warm, tmp_path / "warm.yaml")))
    assert f"weights from {checkpoint} (iteration 2)" in capsys.readouterr().out
    train(load_config(_write(fresh, tmp_path / "fresh.yaml")))

    model, _ = load_checkpoint(checkpoint)
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    start, end = (_final(c["run"]["out_dir"])["state_dict"] for c in (source, warm))
    lr = warm["optim"]["lr"]
    moved = {k: float((end[k].float() - start[k].float()).abs().max()) for k in start}
    assert all(moved[k] <= lr * (1 + 1e-4) for k in trainable)
    assert all(moved[k] == 0 for k in start if k not in trainable)
    assert max(moved[k] for k in trainable) > lr / 2  # it did train
    far = _final(fresh["run"]["out_dir"])["state_dict"]
    assert max(float((far[k] - start[k]).abs().max()) for k in trainable) > 10 * lr


def _wait_for(condition, process: subprocess.Popen, what: str, timeout: float = 240) -> None:
    """Poll ``condition()`` until true; fail if ``process`` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run exited ({process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _logged_iterations(out_dir: str) -> list[int]:
    path = Path(out_dir) / "log.csv"
    return [int(line.split(",")[0]) for line in path.read_text().splitlines()[1:]] if path.is_file() else []


@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_writes_a_checkpoint_and_the_resume_is_bitwise_uninterrupted(
    signum, status, tiny_config, tmp_path, restore_torch_globals
):
    """Log rows every 5 iterations, validation only at the end: the stop checkpoint is the
    run's only one and (unless the signal lands on a log row) holds a partial log interval."""
    sections = {"optim": {"iterations": 12}, "run": {"val_every": 100, "log_every": 5}}
    reference = tiny_config("uninterrupted", **sections)
    train(load_config(_write(reference, tmp_path / "a.yaml")))

    stopped = tiny_config("stopped", **sections)
    path = _write(stopped, tmp_path / "b.yaml")
    child = subprocess.Popen(
        cli_command("train", "--config", path),
        env=cli_env(),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    _wait_for(lambda: 5 in _logged_iterations(stopped["run"]["out_dir"]), child, "the row of iteration 5")
    child.send_signal(signum)
    _, stderr = child.communicate(timeout=240)
    assert child.returncode == status, stderr[-2000:]
    iteration = _final(stopped["run"]["out_dir"])["iteration"]
    last = str(Path(stopped["run"]["out_dir"]) / "last.pt")
    assert 5 <= iteration < 12
    assert stderr.strip().splitlines()[-1] == (
        f"ignn-pyg train: stopped by {signal.Signals(signum).name} at iteration {iteration}; "
        f"checkpoint written to {last}; continue with --resume"
    )

    resumed = run_cli("train", "--config", path, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    _assert_same_end(reference["run"]["out_dir"], stopped["run"]["out_dir"], 12)


def _worker_of_rank(torchrun: subprocess.Popen, rank: int) -> int | None:
    """PID of ``torchrun``'s worker process of ``rank`` (read from /proc), if started."""
    children = Path(f"/proc/{torchrun.pid}/task/{torchrun.pid}/children")
    for pid in map(int, children.read_text().split() if children.is_file() else []):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:  # it exited meanwhile
            continue
        if f"RANK={rank}".encode() in environ:
            return pid
    return None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds torchrun's workers through /proc")
def test_signal_to_one_ddp_process_stops_both_at_one_iteration_and_the_resume_is_uninterrupted(tiny_config, tmp_path):
    """SIGINT to rank 1 alone: rank 0 learns of it through the per-iteration agreement,
    so both stop after the same iteration, rank 0 writes last.pt, and torchrun --resume
    ends where an uninterrupted two-process run ends (bitwise: the same Gloo sums)."""
    sections = {"optim": {"iterations": 12}, "run": {"val_every": 100, "log_every": 5}}
    reference = tiny_config("uninterrupted", **sections)
    child = subprocess.run(
        _torchrun(_write(reference, tmp_path / "a.yaml")), env=cli_env(), capture_output=True, text=True, timeout=300
    )
    assert child.returncode == 0, child.stderr[-3000:]

    stopped = tiny_config("stopped", **sections)
    path = _write(stopped, tmp_path / "b.yaml")
    torchrun = subprocess.Popen(
        _torchrun(path), env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: 5 in _logged_iterations(stopped["run"]["out_dir"]), torchrun, "the row of iteration 5")
    worker = _worker_of_rank(torchrun, 1)
    assert worker is not None
    os.kill(worker, signal.SIGINT)
    _, stderr = torchrun.communicate(timeout=240)
    assert torchrun.returncode != 0  # its workers exited 130
    assert "SIGINT received: stopping after this iteration" in stderr
    iteration = _final(stopped["run"]["out_dir"])["iteration"]
    assert 5 <= iteration < 12, stderr[-3000:]
    assert stderr.count(f"stopped by SIGINT at iteration {iteration}") >= 1

    resumed = subprocess.run(_torchrun(path, "--resume"), env=cli_env(), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _assert_same_end(reference["run"]["out_dir"], stopped["run"]["out_dir"], 12)


def test_stop_between_log_rows_keeps_the_log_interval(tiny_config, tmp_path, monkeypatch, restore_torch_globals):
    """The same, in this process with the signal raised during iteration 7 (so always
    between the rows of 5 and 10): the checkpoint holds losses 6 and 7, and the resumed
    run's row 10 still averages 6..10."""
    sections = {"optim": {"iterations": 12}, "run": {"val_every": 100, "log_every": 5}}
    reference = tiny_config("uninterrupted", **sections)
    train(load_config(_write(reference, tmp_path / "a.yaml")))

    stopped = tiny_config("stopped", **sections)
    path = _write(stopped, tmp_path / "b.yaml")
    calls, l1_loss, handler = [], torch.nn.functional.l1_loss, signal.getsignal(signal.SIGINT)

    def l1_loss_raising_sigint_at_7(*args, **kwargs):
        calls.append(None)
        if len(calls) == 7:
            signal.raise_signal(signal.SIGINT)
        return l1_loss(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "l1_loss", l1_loss_raising_sigint_at_7)  # loss.name l1 is it
    with pytest.raises(TrainingInterrupted, match="stopped by SIGINT at iteration 7") as stop:
        train(load_config(path))
    assert stop.value.exit_status == 130
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is handler  # put back
    assert _final(stopped["run"]["out_dir"])["loss_interval"][1] == 2
    train(load_config(path), resume=True)
    _assert_same_end(reference["run"]["out_dir"], stopped["run"]["out_dir"], 12)


def test_second_launch_on_a_live_run_is_refused_and_a_killed_runs_lock_does_not_block(tiny_config, tmp_path):
    config = tiny_config("busy", optim={"iterations": 100_000})
    path = _write(config, tmp_path / "busy.yaml")
    out_dir = config["run"]["out_dir"]
    first = subprocess.Popen(
        cli_command("train", "--config", path), env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for(lambda: (Path(out_dir) / "last.pt").is_file(), first, "the first checkpoint")
        for extra in (["--resume"], []):
            second = run_cli("train", "--config", path, *extra)
            assert second.returncode == 2, second.stderr[-2000:]
            assert one_line_error(second) == (
                f"ignn-pyg train: error: run folder {out_dir!r} is in use by another training process "
                f"(PID {first.pid}); wait for it to finish or stop it, or choose another run.out_dir"
            )
    finally:
        first.kill()
        first.wait(timeout=60)
    assert (Path(out_dir) / ".lock").read_text().strip() == str(first.pid)  # left behind by SIGKILL

    target = _final(out_dir)["iteration"] + 1
    resumed = run_cli("train", "--config", path, "--resume", "--override", f"optim.iterations={target}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert _final(out_dir)["iteration"] == target


def test_resume_of_a_run_in_training_names_its_process(tiny_config, tmp_path, capsys, restore_torch_globals):
    """Before its first checkpoint a run has no last.pt; a --resume then must say who
    holds the folder, not that there is nothing to resume (the lock comes first)."""
    config = tiny_config("busy")
    config_path = _write(config, tmp_path / "c.yaml")
    with RunLock(config["run"]["out_dir"]):  # flock: a second open in this process conflicts too
        assert cli_main(["train", "--config", str(config_path), "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"is in use by another training process (PID {os.getpid()})" in err
    assert "nothing to resume" not in err
    # with no folder there is no process to name, and the refusal creates none
    missing = tiny_config("missing")
    assert cli_main(["train", "--config", str(_write(missing, tmp_path / "m.yaml")), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert not Path(missing["run"]["out_dir"]).exists()


def test_trained_iterations_reads_last_pt(tmp_path):
    """0 for a run folder without last.pt (or no folder), else last.pt's iteration."""
    from ignn_pyg.models import EDSR

    assert trained_iterations(tmp_path / "none") == 0
    save_checkpoint(tmp_path / "run" / "last.pt", EDSR(2, n_feats=4, n_resblocks=1), iteration=7)
    assert trained_iterations(tmp_path / "run") == 7
