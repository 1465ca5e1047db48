"""Score one row's trained model(s) on one fold's test subjects: predictions and metrics."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.config import load_params
from pipeline.experiments.evaluate_job import evaluate_run_fold
from pipeline.experiments.sheet import get_run, load_sheet


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline evaluate", description=__doc__)
    ap.add_argument("--run", required=True, help="<experiment>/<run> of the sheet")
    ap.add_argument("--fold", required=True, help="fold name of the test data's splits.json")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sheet", default="experiments.yaml")
    ap.add_argument("--model", required=True, type=Path, help="results/runs/<experiment>/<run>/<fold>/model")
    ap.add_argument("--cache", required=True, type=Path, help="data/cache/<test data>")
    ap.add_argument("--splits", required=True, type=Path, help="data/interim/<test data>/splits.json")
    ap.add_argument("--train-cache", required=True, type=Path, help="data/cache/<train data> (constant baseline)")
    ap.add_argument("--train-splits", required=True, type=Path, help="data/interim/<train data>/splits.json")
    ap.add_argument("--out", required=True, type=Path, help="results/runs/<experiment>/<run>/<fold>")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = ap.parse_args(argv)
    run = get_run(load_sheet(args.sheet), args.run, args.sheet)
    print(evaluate_run_fold(load_params(args.params), run, args.fold, args.model, args.cache, args.splits,
                            args.train_cache, args.train_splits, args.out, progress=not args.no_progress))


if __name__ == "__main__":
    sys.exit(run_main(main))
