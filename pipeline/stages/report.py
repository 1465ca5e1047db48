"""reports/index.html with tables and figures, from this run's outputs only."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli import run_main
from pipeline.config import load_params
from pipeline.report.build import ReportInputs, build_report


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline report", description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", required=True, type=Path, help="reports")
    ap.add_argument("--manifests", nargs="*", type=Path, default=[], help="data/interim/<ds>/manifest.csv ...")
    ap.add_argument("--splits", nargs="*", type=Path, default=[], help="data/interim/<ds>/splits.json ...")
    ap.add_argument("--unsupervised", nargs="*", type=Path, default=[], help="results/runs/<baseline run> ...")
    ap.add_argument("--audit", type=Path, default=None, help="results/runs/<compute audit run>/audit.csv")
    ap.add_argument("--caches", nargs="*", type=Path, default=[], help="data/cache/<ds> ...")
    ap.add_argument("--raw", nargs="*", type=Path, default=[],
                    help="data/raw/<ds> ... (data origin; skin-type truth of built-in data)")
    ap.add_argument("--audit-runs", nargs="*", default=[], help="sheet run ids the audit comes from")
    ap.add_argument("--sheet", type=Path, default=None, help="experiments.yaml")
    ap.add_argument("--experiments", nargs="*", type=Path, default=[], help="results/metrics/<experiment>.json ...")
    ap.add_argument("--learned-predictions", nargs="*", type=Path, default=[],
                    help="results/runs/<experiment>/<run>/<fold>/predictions.csv ...")
    ap.add_argument("--learned-au", nargs="*", type=Path, default=[],
                    help="results/runs/<experiment>/<run>/<fold>/predictions.h5 ... (runs with an AU output)")
    args = ap.parse_args(argv)
    inputs = ReportInputs(args.manifests, args.splits, args.unsupervised, args.audit, args.caches, args.raw,
                          args.sheet, args.audit_runs, args.experiments, args.learned_predictions, args.learned_au)
    metrics = build_report(load_params(args.params), inputs, args.out)
    print(f"report: {args.out / 'index.html'} written ({metrics['absent_inputs']} absent inputs, "
          f"{metrics['deviations_from_paper']} settings deviating from the paper)")


if __name__ == "__main__":
    sys.exit(run_main(main))
