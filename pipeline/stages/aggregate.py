"""Mean and spread over folds of every metric of one experiment's runs (results/metrics/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.experiments.aggregate_job import aggregate_experiment
from pipeline.experiments.sheet import load_sheet


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline aggregate", description=__doc__)
    ap.add_argument("--experiment", required=True, help="an experiment of the sheet")
    ap.add_argument("--sheet", default="experiments.yaml")
    ap.add_argument("--metrics", nargs="+", type=Path, required=True, help="results/runs/<run>/<fold>/metrics.json ...")
    ap.add_argument("--out", required=True, type=Path, help="results/metrics/<experiment>.csv (JSON beside it)")
    args = ap.parse_args(argv)
    print(aggregate_experiment(load_sheet(args.sheet), args.experiment, args.metrics, args.out))


if __name__ == "__main__":
    sys.exit(run_main(main))
