"""Copy the finished compact-model runs into ``ignn_pyg/weights`` (the bundled models).

Each bundled file holds the model's config and weights plus where they came from (the
training config, the iteration, the last validation); optimiser and RNG states are
dropped, so the files stay a few MB.  Reproduce a run with::

    ignn-pyg train --config experiments/configs/zoo/ignn_x2.yaml     # likewise edsr_x2, *_x3, *_x4
    python experiments/bundle_weights.py                             # or --models ignn_x3 edsr_x3
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ignn_pyg.checkpoints import load_checkpoint, save_checkpoint
from ignn_pyg.upscale import BUNDLED, WEIGHTS_DIR


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs/zoo"))
    parser.add_argument("--models", nargs="+", metavar="ARCH_xS", choices=[f"{a}_x{s}" for a, s in BUNDLED],
                        help="bundle only these runs (default: every bundled model)")
    args = parser.parse_args()
    WEIGHTS_DIR.mkdir(exist_ok=True)
    for (arch, scale), name in BUNDLED.items():
        if args.models and f"{arch}_x{scale}" not in args.models:
            continue
        run = args.runs / f"{arch}_x{scale}" / "last.pt"
        model, payload = load_checkpoint(run)
        config = payload["train_config"]
        if payload["iteration"] != config["optim"]["iterations"]:
            raise ValueError(f"{run} stopped at iteration {payload['iteration']} of {config['optim']['iterations']}")
        save_checkpoint(WEIGHTS_DIR / name, model, iteration=payload["iteration"], train_config=config,
                        training_seconds=payload["seconds"])
        size = (WEIGHTS_DIR / name).stat().st_size
        print(f"{run} -> {WEIGHTS_DIR / name} ({size / 2**20:.2f} MiB, iteration {payload['iteration']})")


if __name__ == "__main__":
    main()
