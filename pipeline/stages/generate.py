"""Write the built-in semi-synthetic dataset in a real dataset's layout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.config import load_params
from pipeline.synth.generate import GENERATORS, generate_dataset


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline generate", description=__doc__)
    ap.add_argument("--dataset", required=True, choices=sorted(GENERATORS))
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", required=True, type=Path, help="data/raw/<dataset>")
    args = ap.parse_args(argv)
    print(generate_dataset(load_params(args.params), args.dataset, args.out, source=str(args.params)))


if __name__ == "__main__":
    sys.exit(run_main(main))
