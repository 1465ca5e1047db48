"""Parameters and FLOPs per output frame of the model variants, beside the published figures."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.compute_audit import write_compute_audit
from pipeline.config import load_params
from pipeline.experiments.sheet import get_run, load_sheet, run_settings


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline compute-audit", description=__doc__)
    ap.add_argument("--run", required=True, help="<experiment>/<run> of the sheet")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--sheet", default="experiments.yaml")
    ap.add_argument("--out", required=True, type=Path, help="results/runs/<experiment>/<run>/audit.csv")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    run = get_run(load_sheet(args.sheet), args.run, args.sheet)
    write_compute_audit(run_settings(params, run, args.sheet), args.out, params.get("seed"))


if __name__ == "__main__":
    sys.exit(run_main(main))
