"""Train the stages of a zoo model in order, resuming where a run left off:
``python experiments/train_stages.py [--replica N] experiments/configs/zoo/ignn_detail_plant_decay_x2.yaml
experiments/configs/zoo/ignn_detail_plant_decay_x2_stage2.yaml ...``.

Each config is one stage; a later stage starts from the former's ``last.pt`` through
``model.init_from``.  A stage whose ``run.out_dir/last.pt`` is at ``optim.iterations`` is
skipped, one with an earlier ``last.pt`` is resumed, one without is started; so rerunning
the same command after an interruption (or on a machine that kept ``runs/``) goes on
where it stopped.  Each stage runs as ``ignn-pyg train`` in this process, with the threads
the environment gives (``OMP_NUM_THREADS=1`` for a background run beside another).

``--replica N`` (N >= 1) trains the same recipe again with other seeds: every stage's
``run.seed`` is raised by ``100 N``, its ``run.out_dir`` gets the suffix ``_rN``, and each
stage after the first starts from the former stage of the same replica.  Replica 0 is
the configs as written.
"""

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from ignn_pyg.training.config import TrainConfig, load_config
from ignn_pyg.training.engine import train, trained_iterations

REPLICA_SEED_STEP = 100


def stage_config(path: str, replica: int, former_out_dir: str | None) -> TrainConfig:
    """The config of one stage of ``replica``; read at its turn, since its ``init_from`` is
    the former stage's ``last.pt``."""
    if replica == 0:
        return load_config(path)
    config = load_config(path, [f"model.init_from={former_out_dir}/last.pt"] if former_out_dir is not None else [])
    run = replace(
        config.run, seed=config.run.seed + REPLICA_SEED_STEP * replica, out_dir=f"{config.run.out_dir}_r{replica}"
    )
    return replace(config, run=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", help="the stages' YAML configs, first stage first")
    parser.add_argument("--replica", type=int, default=0, help="0: the configs as written; N: other seeds")
    args = parser.parse_args(argv)
    missing = [path for path in args.configs if not Path(path).is_file()]
    if missing or args.replica < 0:
        parser.error(f"no such config: {', '.join(missing)}" if missing else "--replica must be 0 or more")
    former_out_dir = None
    for path in args.configs:
        config = stage_config(path, args.replica, former_out_dir)
        former_out_dir = config.run.out_dir
        done = trained_iterations(Path(config.run.out_dir))
        if done >= config.optim.iterations:
            print(f"{path} -> {config.run.out_dir}: finished ({done} iterations), skipped", flush=True)
            continue
        print(f"{path} -> {config.run.out_dir}: {f'resuming at iteration {done}' if done else 'starting'}", flush=True)
        train(config, resume=done > 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
