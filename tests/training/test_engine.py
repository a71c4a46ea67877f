"""End-to-end runs of the training loop on a tiny IGNN (n_feats 8, 2 blocks, 32 px crops).

* resume: a run SIGKILLed right after its checkpoint at iteration 4, resumed, ends with
  the same weights, optimiser state and log as an uninterrupted run (bitwise);
* DDP: two Gloo processes with half the batch each reach the weights of one process
  with the whole batch;
* user errors are caught before training starts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

from ignn_pyg.cli import main as cli_main
from ignn_pyg.training import load_config, train
from ignn_pyg.training.logs import read_log

ROOT = Path(__file__).parents[2]
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


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _write(config: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def _final(out_dir: str) -> dict:
    return torch.load(Path(out_dir) / "last.pt", weights_only=True)


def _log_without_time(out_dir: str) -> list[list[str]]:
    lines = (Path(out_dir) / "log.csv").read_text().splitlines()
    return [line.split(",")[:-1] for line in lines]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_sigkilled_run_resumes_to_the_same_weights(tiny_config, tmp_path, restore_torch_globals, precision):
    reference = tiny_config("uninterrupted", run={"precision": precision})
    train(load_config(_write(reference, tmp_path / "a.yaml")))

    killed = tiny_config("killed", run={"precision": precision})
    path = _write(killed, tmp_path / "b.yaml")
    child = subprocess.run([sys.executable, "-c", KILL_AFTER_CHECKPOINT, str(path), "4"], env=_env(),
                           capture_output=True, text=True, timeout=300)
    assert child.returncode == -9, child.stderr[-2000:]
    assert _final(killed["run"]["out_dir"])["iteration"] == 4
    train(load_config(path), resume=True)

    a, b = _final(reference["run"]["out_dir"]), _final(killed["run"]["out_dir"])
    assert a["iteration"] == b["iteration"] == 6
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    moments = [(sa[m], sb[m]) for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values())
               for m in ("exp_avg", "exp_avg_sq")]
    assert all(torch.equal(x, y) for x, y in moments)
    assert a["scheduler"]["last_epoch"] == b["scheduler"]["last_epoch"] == 6
    assert _log_without_time(reference["run"]["out_dir"]) == _log_without_time(killed["run"]["out_dir"])
    assert (Path(killed["run"]["out_dir"]) / "progress.png").is_file()
    assert all(v.dtype == torch.float32 for v in b["state_dict"].values() if v.is_floating_point())
    validated = [row for row in read_log(Path(killed["run"]["out_dir"]) / "log.csv") if row["val_psnr"]]
    assert len(validated) == 3 and all(row["val_reliance"] for row in validated)  # IGNN: graph reliance logged


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_match_one_process_with_the_whole_batch(tiny_config, tmp_path, restore_torch_globals):
    single = tiny_config("single", optim={"iterations": 3}, run={"val_every": 3})
    train(load_config(_write(single, tmp_path / "single.yaml")))

    ddp = tiny_config("ddp", optim={"iterations": 3}, run={"val_every": 3})
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
               "-m", "ignn_pyg.training", "--config", str(_write(ddp, tmp_path / "ddp.yaml"))]
    child = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=300)
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
    losses = [[float(r[1]) for r in _log_without_time(d)[1:]] for d in (single["run"]["out_dir"], ddp["run"]["out_dir"])]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_user_errors_exit_2_before_training(tiny_config, tmp_path, image_folders, capsys, restore_torch_globals):
    config_path = _write(tiny_config("errors"), tmp_path / "c.yaml")

    assert cli_main(["train", "--config", str(config_path), "--override", "optim.lrr=1"]) == 2
    assert "unknown config key 'optim.lrr'" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(config_path), "--override", "data.batch_size=two"]) == 2
    assert "'data.batch_size' must be int" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(config_path),
                     "--override", f"data.train_root={image_folders['empty']}"]) == 2
    assert "no images" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(config_path), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err

    assert cli_main(["train", "--config", str(config_path), "--override", "optim.iterations=2",
                     "run.val_every=2"]) == 0
    assert cli_main(["train", "--config", str(config_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(config_path), "--resume", "--override", "model.arch=edsr"]) == 2
    err = capsys.readouterr().err
    assert "different model" in err and "arch: 'ignn' -> 'edsr'" in err and "window: 30 -> None" in err
    assert cli_main(["train", "--config", str(config_path), "--resume", "--override", "model.n_feats=16"]) == 2
    assert "n_feats: 8 -> 16" in capsys.readouterr().err
    assert cli_main(["train", "--config", str(config_path), "--resume", "--override", "optim.iterations=2"]) == 2
    assert "already at iteration 2" in capsys.readouterr().err
