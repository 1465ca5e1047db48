"""Check params.yaml and the experiment sheet against their schemas and each other."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli import run_main
from pipeline.experiments.references import validate_configuration


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline validate-params", description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sheet", default="experiments.yaml")
    args = ap.parse_args(argv)
    validate_configuration(args.params, args.sheet)
    print(f"{args.params}, {args.sheet}: ok")


if __name__ == "__main__":
    sys.exit(run_main(main))
