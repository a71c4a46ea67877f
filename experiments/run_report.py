"""Zoo runs that are not bundled, reported in groups (:data:`GROUPS`):

* ``width``: width and depth, the 48-feature, 12-block pairs and the 15-block EDSR with
  the bundled IGNN's parameter count, beside the bundled 32/8 pairs;
* ``dead_hr``: IGNN with its HR fusion initialised unscaled (``model.init_unscaled``),
  against the dead HR channels of the bundled recipe.

Reports every finished run of the group's configs in ``experiments/configs/zoo/`` (its
``last.pt`` at the config's last iteration; a run still under way is named and passed
over) as
:mod:`zoo_report` reports a bundled file: parameters, iterations and training hours
over its stages, the eval photos' PSNR/SSIM (whole images, Y, the exact fp32 path), for
IGNN the graph reliance, and with ``--repeats N`` the 640x400 upscale time (leave it at
0 while other jobs run: times are then meaningless).  Writes
``experiments/results/<group>.{md,json}``; a file already there (same SHA-256) keeps its
quality numbers unless ``--recompute``.

Usage::

    python experiments/run_report.py width|dead_hr [--repeats 0] [--recompute]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bundle_weights import finished  # this folder
from zoo_report import RESULTS, ROOT, format_report, report_file

from ignn_pyg.inference.checkpoints import load_checkpoint
from ignn_pyg.runtime.allocator import retain_freed_memory
from ignn_pyg.training import load_config

CONFIGS = Path(__file__).resolve().parent / "configs" / "zoo"
#: group -> (config name patterns, report title)
GROUPS = {
    "width": (
        ("*48_x*.yaml", "*_15blocks.yaml"),  # the wide pairs; EDSR as large as the bundled IGNN
        "Wide pairs, 48 features / 12 blocks, and EDSR with the bundled IGNN's parameters",
    ),
    "dead_hr": (
        ("*_fuse_unscaled.yaml",),
        "IGNN with its HR fusion initialised unscaled (model.init_unscaled: [fuse_hr])",
    ),
}


def finished_runs(patterns: tuple[str, ...]) -> list[tuple[str, Path]]:
    """``(config name, last.pt)`` of every config matching ``patterns`` whose run has finished."""
    runs = []
    for config in sorted(path for pattern in patterns for path in CONFIGS.glob(pattern)):
        last = ROOT / load_config(config).run.out_dir / "last.pt"
        if not last.is_file():
            continue
        payload = load_checkpoint(last)[1]
        if finished(payload):
            runs.append((config.stem, last))
        else:
            print(
                f"{config.stem}: at iteration {payload['iteration']} of "
                f"{payload['train_config']['optim']['iterations']}, passed over",
                file=sys.stderr,
            )
    return runs


def main() -> None:
    retain_freed_memory()  # as the ignn-pyg command does, for --repeats
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("group", choices=sorted(GROUPS))
    parser.add_argument("--repeats", type=int, default=0, help="time the 640x400 upscale (best of N; 0: no)")
    parser.add_argument("--recompute", action="store_true", help="evaluate files already in <group>.json again")
    args = parser.parse_args()
    patterns, title = GROUPS[args.group]
    stored_path = RESULTS / f"{args.group}.json"
    stored = json.loads(stored_path.read_text()) if stored_path.is_file() else []
    known = {} if args.recompute else {r["sha256"]: r for r in stored}
    reports = []
    for name, last in finished_runs(patterns):
        reports.append(report_file(last, name, None, args.repeats, known))
        print(f"{name}: {reports[-1]['mean']['psnr']:.3f} dB", flush=True)
    if not reports:
        raise SystemExit(f"run_report: no run of {', '.join(patterns)} has finished")
    text = format_report(
        reports, f"{title} (produced by `python experiments/run_report.py {args.group}`)", bundled=False
    )
    stored_path.write_text(json.dumps(reports, indent=1) + "\n")
    (RESULTS / f"{args.group}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
