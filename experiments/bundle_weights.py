"""Copy the finished compact-model runs into ``ignn_pyg/weights`` (the bundled models).

Each bundled file holds the model's config and weights plus where they came from: the
training config, the iteration and the last validation, and ``stages``, one entry
(``iteration``, ``training_seconds``, ``train_config``) per training run that led to the
weights.  A model trained further from its weights (``model.init_from``) lives in
``runs/zoo/<model>_stage<N>``; the highest finished stage is bundled (one still under way
is passed over), and its ``stages`` follow ``init_from`` back to the first run.
Optimiser and RNG states are dropped, so the files stay a few MB.  Reproduce the runs
with::

    ignn-pyg train --config experiments/configs/zoo/ignn_x2.yaml          # likewise edsr_x2, *_x3, *_x4
    ignn-pyg train --config experiments/configs/zoo/ignn_x2_stage2.yaml   # then stage 2, likewise for every model
    ignn-pyg train --config experiments/configs/zoo/ignn_x2_stage3.yaml   # then stage 3
    python experiments/bundle_weights.py                                  # or --models ignn_x2 edsr_x2
    python experiments/bundle_weights.py --models ignn_detail_x2 --run ignn_detail_planted_x2  # another recipe's runs
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from ignn_pyg.inference.bundled import BUNDLED, WEIGHTS_DIR
from ignn_pyg.inference.checkpoints import load_checkpoint, save_checkpoint


def finished(payload: dict[str, Any]) -> bool:
    """Whether a run's checkpoint is at its config's last iteration."""
    return payload["iteration"] == payload["train_config"]["optim"]["iterations"]


def latest_run(runs: Path, name: str) -> Path:
    """``runs/<name>_stage<N>`` of the highest ``N`` whose ``last.pt`` is finished, else
    ``runs/<name>``.  A later stage still under way is named on stderr and passed over, so
    the previous stage stays bundled until it finishes."""
    stages = {
        int(m.group(1)): path
        for path in runs.glob(f"{name}_stage*")
        if (m := re.fullmatch(rf"{re.escape(name)}_stage(\d+)", path.name)) and (path / "last.pt").is_file()
    }
    for number in sorted(stages, reverse=True):
        payload = load_checkpoint(stages[number] / "last.pt")[1]
        if finished(payload):
            return stages[number]
        print(
            f"{stages[number]} is at iteration {payload['iteration']} of "
            f"{payload['train_config']['optim']['iterations']}; passed over",
            file=sys.stderr,
        )
    return runs / name


def training_stages(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The training runs behind a checkpoint's weights, first to last: the ``stages`` a
    bundled file records, or for a run's checkpoint those of its ``model.init_from``
    followed by the run itself."""
    if "stages" in payload:
        return payload["stages"]
    config = payload["train_config"]
    own = {
        "iteration": payload["iteration"],
        "training_seconds": payload.get("seconds", payload.get("training_seconds")),
        "train_config": config,
    }
    source = (config.get("model") or {}).get("init_from")
    return (training_stages(load_checkpoint(source)[1]) if source else []) + [own]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs/zoo"))
    parser.add_argument(
        "--models",
        nargs="+",
        metavar="ARCH_xS",
        choices=[f"{a}_x{s}" for a, s in BUNDLED],
        help="bundle only these runs (default: every bundled model)",
    )
    parser.add_argument(
        "--run",
        metavar="NAME",
        help="with one --models: bundle the runs runs/zoo/NAME[_stage<N>] (another recipe of "
        "that model, e.g. ignn_detail_planted_x2) instead of the model's own",
    )
    args = parser.parse_args()
    if args.run and len(args.models or ()) != 1:
        parser.error("--run needs exactly one --models")
    WEIGHTS_DIR.mkdir(exist_ok=True)
    for (arch, scale), name in BUNDLED.items():
        if args.models and f"{arch}_x{scale}" not in args.models:
            continue
        run = latest_run(args.runs, args.run or f"{arch}_x{scale}") / "last.pt"
        model, payload = load_checkpoint(run)
        config = payload["train_config"]
        if not finished(payload):
            raise ValueError(f"{run} stopped at iteration {payload['iteration']} of {config['optim']['iterations']}")
        stages = training_stages(payload)
        save_checkpoint(
            WEIGHTS_DIR / name,
            model,
            iteration=payload["iteration"],
            train_config=config,
            training_seconds=payload["seconds"],
            stages=stages,
        )
        size = (WEIGHTS_DIR / name).stat().st_size
        print(
            f"{run} -> {WEIGHTS_DIR / name} ({size / 2**20:.2f} MiB, {len(stages)} stage(s), "
            f"{sum(s['iteration'] for s in stages)} iterations)"
        )


if __name__ == "__main__":
    main()
