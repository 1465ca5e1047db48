"""Crop, resize and normalise a dataset into the keyed HDF5 chunk cache, with POS pseudo-labels."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.config import load_params
from pipeline.datasets import check_dataset
from pipeline.preprocess import preprocess_from_params


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline preprocess", description=__doc__)
    ap.add_argument("--dataset", required=True, type=check_dataset)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--raw", required=True, type=Path, help="data/raw/<dataset>")
    ap.add_argument("--manifest", required=True, type=Path, help="data/interim/<dataset>/manifest.csv")
    ap.add_argument("--out", required=True, type=Path, help="data/cache/<dataset> (a variant: data/cache/<dataset>-<variant>)")
    ap.add_argument("--variant", default=None, help="a cache variant of params.yaml cache_variants (e.g. aligned)")
    ap.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = ap.parse_args(argv)
    print(preprocess_from_params(args.dataset, args.raw, args.manifest, args.out, load_params(args.params),
                                 progress=not args.no_progress, variant=args.variant))


if __name__ == "__main__":
    sys.exit(run_main(main))
