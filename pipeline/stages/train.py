"""Train the model(s) of one row of the experiment sheet on one fold's training subjects."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.config import load_params
from pipeline.experiments.train_job import train_run_fold
from pipeline.experiments.sheet import get_run, load_sheet


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline train", description=__doc__)
    ap.add_argument("--run", required=True, help="<experiment>/<run> of the sheet")
    ap.add_argument("--fold", required=True, help="fold name of the training data's splits.json")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sheet", default="experiments.yaml")
    ap.add_argument("--cache", required=True, type=Path, help="data/cache/<train data>")
    ap.add_argument("--splits", required=True, type=Path, help="data/interim/<train data>/splits.json")
    ap.add_argument("--parent", type=Path, default=None, help="the parent run's model folder (fine-tuning)")
    ap.add_argument("--out", required=True, type=Path, help="results/runs/<experiment>/<run>/<fold>/model")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = ap.parse_args(argv)
    run = get_run(load_sheet(args.sheet), args.run, args.sheet)
    print(train_run_fold(load_params(args.params), run, args.fold, args.cache, args.splits, args.out,
                         parent=args.parent, progress=not args.no_progress))


if __name__ == "__main__":
    sys.exit(run_main(main))
