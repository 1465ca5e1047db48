"""Write dvc.yaml from the DAG declaration, params.yaml and the experiment sheet."""

from __future__ import annotations

import argparse
import sys

from pipeline.cli import run_main
from pipeline.dag.dvc_yaml import write_dvc_yaml
from pipeline.dag.spec import Config
from pipeline.experiments.references import validate_configuration


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline dvc-yaml", description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sheet", default="experiments.yaml")
    ap.add_argument("--out", default="dvc.yaml")
    args = ap.parse_args(argv)
    changed = write_dvc_yaml(Config(*validate_configuration(args.params, args.sheet)), args.out)
    print(f"{args.out}: {'written' if changed else 'up to date'}")


if __name__ == "__main__":
    sys.exit(run_main(main))
