"""POS and CHROM heart rate on the test trials of every fold: one baseline row of the sheet."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.config import load_params
from pipeline.experiments.sheet import get_run, load_sheet
from pipeline.unsupervised import evaluate_baseline_run


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline unsupervised", description=__doc__)
    ap.add_argument("--run", required=True, help="<experiment>/<run> of the sheet")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sheet", default="experiments.yaml")
    ap.add_argument("--cache", required=True, type=Path, help="data/cache/<test data>")
    ap.add_argument("--splits", required=True, type=Path, help="data/interim/<test data>/splits.json")
    ap.add_argument("--manifest-summary", type=Path, default=None,
                    help="data/interim/<test data>/manifest.json (the data origin)")
    ap.add_argument("--out", required=True, type=Path, help="results/runs/<experiment>/<run>")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = ap.parse_args(argv)
    run = get_run(load_sheet(args.sheet), args.run, args.sheet)
    print(evaluate_baseline_run(load_params(args.params), run, args.cache, args.splits, args.manifest_summary,
                                args.out, progress=not args.no_progress))


if __name__ == "__main__":
    sys.exit(run_main(main))
