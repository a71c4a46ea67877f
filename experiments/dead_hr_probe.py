"""The first training steps of an IGNN config, counting the live channels of its HR
fusion's last ReLU (``fuse_hr``, right before the output convolution) at every step.

The run's recipe (initialisation, data, Adam, L1 loss, fp32 on the CPU) without its
bookkeeping: no checkpoints, validation or logs, so a few dozen steps show within
minutes whether the recipe kills the HR fusion (docs/model_zoo.md, "Dead HR channels").
A channel counts as alive at a step when it is positive somewhere in that step's batch.

Usage::

    python experiments/dead_hr_probe.py experiments/configs/zoo/ignn_x3.yaml --steps 60
    python experiments/dead_hr_probe.py experiments/configs/zoo/ignn_x3.yaml --override model.residual=none
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ignn_pyg.evaluation.dead_channels import DeadChannelCounter
from ignn_pyg.inference.checkpoints import build_model
from ignn_pyg.models import IGNN
from ignn_pyg.training import load_config
from ignn_pyg.training.data import StreamSampler, build_train_dataset
from ignn_pyg.training.engine import seed_everything
from ignn_pyg.training.weight_init import scaled_kaiming_init_


def probe(config_path: str, overrides: list[str], steps: int) -> list[dict[str, float]]:
    """Train ``steps`` steps of the config and return, per step, the loss and the live
    channels of ``fuse_hr``'s last ReLU."""
    config = load_config(config_path, overrides)
    seed = config.run.seed
    seed_everything(seed)
    model = build_model(config.model_kwargs())
    if not isinstance(model, IGNN):
        raise SystemExit(f"dead_hr_probe: {config_path} trains {type(model).__name__}; the probe needs an IGNN")
    scaled_kaiming_init_(model, config.model.init_scale, config.model.init_embedding, config.model.init_unscaled)
    sampler = StreamSampler(config.data.batch_size, 0, steps, 0, 1)
    loader = DataLoader(
        build_train_dataset(config.data, seed),
        batch_size=sampler.local_batch,
        sampler=sampler,
        generator=torch.Generator().manual_seed(seed),
    )
    optimizer = torch.optim.Adam(
        [p for p in model.parameters() if p.requires_grad], lr=config.optim.lr, betas=tuple(config.optim.betas)
    )
    rows = []
    model.train()
    for step, batch in enumerate(loader, start=1):
        with DeadChannelCounter(model.fuse_hr) as counter:
            loss = F.l1_loss(model(batch["lr"]), batch["hr"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        dead, total = list(counter.counts().values())[-1]  # fuse_hr's last ReLU, in module order
        rows.append({"step": step, "loss": loss.item(), "alive": total - dead, "channels": total})
        print(f"step {step}: loss {loss.item():.4f}, fuse_hr channels alive {total - dead}/{total}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--override", nargs="*", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    probe(args.config, args.override, args.steps)


if __name__ == "__main__":
    main()
