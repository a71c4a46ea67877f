"""Learning curves of the model-zoo runs, every stage of a model on one iteration axis.

Reads the run logs kept in ``experiments/results/zoo_logs/<config name>.csv`` (copies of
each run's ``log.csv``).  A stage ``<model>_stage<N>`` continues ``<model>_stage<N-1>``
(stage 1 is ``<model>``), so its iterations are shifted by the iterations of the stages
before it, read from their configs in ``experiments/configs/zoo/``.  Draws, per scale,
the validation PSNR (4 eval photos centre-cropped to 192 px, every 250 iterations) of
every model, and below it each IGNN's graph reliance on those crops, into
``experiments/results/zoo_curves.png``.

Usage::

    python experiments/zoo_curves.py
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

from ignn_pyg.training import load_config
from ignn_pyg.training.logs import log_series, read_log

RESULTS = Path(__file__).resolve().parent / "results"
LOGS = RESULTS / "zoo_logs"
CONFIGS = Path(__file__).resolve().parent / "configs" / "zoo"
RUN_NAME = re.compile(
    r"(?P<model>(?P<arch>ignn_detail|ignn|edsr)(?P<planted>_planted)?(?P<width>48)?_x(?P<scale>\d)(?P<deeper>_15blocks)?"
    r"(?P<unscaled>_fuse_unscaled)?)(?:_stage(?P<stage>\d+))?"
)
#: line style of a model family: bundled 32/8 solid, 48/12 dashed, 15 blocks dotted, fuse_hr unscaled
#: dash-dot, planted training crops dash-dot-dot
STYLES = (("_fuse_unscaled", "-."), ("_planted", (0, (3, 1, 1, 1, 1, 1))), ("48", "--"), ("_15blocks", ":"), ("", "-"))


@dataclass(frozen=True)
class Curve:
    """One run's log on its model's iteration axis: ``model`` (the config name without
    the stage), ``stage`` (1 for the first run), ``offset`` (iterations of the stages
    before), and the log's rows."""

    model: str
    arch: str
    scale: int
    stage: int
    offset: int
    rows: list[dict[str, str]]


def stage_config(model: str, stage: int) -> Path:
    """The config of ``model``'s stage ``stage``."""
    return CONFIGS / (f"{model}.yaml" if stage == 1 else f"{model}_stage{stage}.yaml")


def read_curves(logs: Path = LOGS) -> list[Curve]:
    """Every ``<config name>.csv`` in ``logs`` whose name is a zoo run, in name order."""
    curves = []
    for path in sorted(logs.glob("*.csv")):
        match = RUN_NAME.fullmatch(path.stem)
        if match is None:
            continue
        model, stage = match["model"], int(match["stage"] or 1)
        # only the iterations are read: the earlier stage's checkpoint (init_from) need not be here
        offset = sum(
            load_config(stage_config(model, s), ["model.init_from="]).optim.iterations for s in range(1, stage)
        )
        curves.append(Curve(model, match["arch"], int(match["scale"]), stage, offset, read_log(path)))
    return curves


def shifted(curve: Curve, column: str) -> tuple[list[int], list[float]]:
    """``column`` of the curve against its model's cumulative iteration."""
    iterations, values = log_series(curve.rows, column)
    return [curve.offset + i for i in iterations], values


def plot(curves: list[Curve], path: Path) -> None:
    """Two rows of panels, one column per scale: validation PSNR of every model, then
    graph reliance of every IGNN (with the 0.10 dB line of the graph study); line
    styles per family (:data:`STYLES`), IGNN blue, IGNN-detail green, EDSR orange."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    scales = sorted({c.scale for c in curves})
    fig, axes = plt.subplots(2, len(scales), figsize=(5 * len(scales), 7), squeeze=False, layout="constrained")
    models = sorted({c.model for c in curves})
    style = {m: next(line for marker, line in STYLES if marker in m) for m in models}
    colour = {"ignn": "tab:blue", "ignn_detail": "tab:green", "edsr": "tab:orange"}
    for column, (psnr_ax, reliance_ax) in zip(scales, zip(*axes)):
        for model in sorted({c.model for c in curves if c.scale == column}):
            stages = [c for c in curves if c.model == model]
            label = model
            for curve in sorted(stages, key=lambda c: c.stage):
                psnr_ax.plot(
                    *shifted(curve, "val_psnr"),
                    linestyle=style[model],
                    color=colour[curve.arch],
                    lw=1.2,
                    marker="o",
                    ms=2,
                    label=label,
                )
                reliance = shifted(curve, "val_reliance")
                if reliance[0]:
                    reliance_ax.plot(
                        *reliance,
                        linestyle=style[model],
                        color=colour[curve.arch],
                        lw=1.2,
                        marker="o",
                        ms=2,
                        label=label,
                    )
                if curve.stage > 1:
                    psnr_ax.axvline(curve.offset, color="gray", lw=0.5, ls=":")
                label = None
        psnr_ax.set(title=f"x{column}: validation PSNR", xlabel="iteration (all stages)", ylabel="dB (Y)")
        reliance_ax.axhline(0.0, color="gray", lw=0.8)
        reliance_ax.axhline(0.10, color="tab:red", ls=":", lw=1, label="0.10 dB")
        reliance_ax.set(
            title=f"x{column}: IGNN graph reliance (own − random)", xlabel="iteration (all stages)", ylabel="dB"
        )
        for ax in (psnr_ax, reliance_ax):
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    curves = read_curves()
    if not curves:
        raise SystemExit(f"zoo_curves: no run log in {LOGS}")
    plot(curves, RESULTS / "zoo_curves.png")
    for curve in curves:
        iterations, psnr = shifted(curve, "val_psnr")
        if psnr:
            print(
                f"{curve.model} stage {curve.stage}: iterations {iterations[0]}-{iterations[-1]}, "
                f"validation PSNR {psnr[0]:.2f} -> {psnr[-1]:.2f} dB"
            )
    print(f"wrote {RESULTS / 'zoo_curves.png'}")


if __name__ == "__main__":
    main()
