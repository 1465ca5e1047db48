"""Subject-disjoint folds of a dataset (the published folds where the paper gives them)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.config import load_params
from pipeline.datasets import check_dataset
from pipeline.splits import split_dataset


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline splits", description=__doc__)
    ap.add_argument("--dataset", required=True, type=check_dataset)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--manifest", required=True, type=Path, help="data/interim/<dataset>/manifest.csv")
    ap.add_argument("--out", required=True, type=Path, help="data/interim/<dataset>/splits.json")
    args = ap.parse_args(argv)
    print(split_dataset(args.dataset, args.manifest, args.out, load_params(args.params)))


if __name__ == "__main__":
    sys.exit(run_main(main))
