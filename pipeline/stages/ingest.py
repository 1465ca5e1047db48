"""Scan a raw dataset in its real layout and write the trial manifest (ok / excluded + reason)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.config import load_params
from pipeline.datasets import check_dataset
from pipeline.ingest import ingest_dataset


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline ingest", description=__doc__)
    ap.add_argument("--dataset", required=True, type=check_dataset)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--raw", required=True, type=Path, help="data/raw/<dataset> in the real layout")
    ap.add_argument("--out", required=True, type=Path, help="data/interim/<dataset>/manifest.csv")
    args = ap.parse_args(argv)
    print(ingest_dataset(args.dataset, args.raw, args.out, load_params(args.params)))


if __name__ == "__main__":
    sys.exit(run_main(main))
