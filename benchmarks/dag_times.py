"""Wall time of a reproduction, job by job, from the benchmark files Snakemake writes for every job
(``logs/benchmark/<stage>/<wildcards>.tsv``, one per job of pipeline/dag/spec.py).

    .venv/bin/python benchmarks/dag_times.py [--root .] [--jobs]

Prints the seconds per stage and per experiment (training rows: train and evaluate summed, and
per fold), the peak resident memory of any job, and the sum of every job's seconds. Under
``snakemake --cores N`` up to N jobs run at once (every job takes one core), so the sum is the
run's wall time only under ``--cores 1``; under ``--cores 2`` it is about twice the wall time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def read_benchmarks(root: Path) -> pd.DataFrame:
    """One row per job: stage, the job's wildcard path, seconds, peak RSS (MB)."""
    rows = []
    base = root / "logs" / "benchmark"
    for path in sorted(base.glob("*/**/*.tsv")):
        table = pd.read_csv(path, sep="\t")
        if table.empty:
            continue
        stage = path.relative_to(base).parts[0]
        job = str(path.relative_to(base / stage).with_suffix(""))
        last = table.iloc[-1]  # one row per job (Snakemake rewrites the file when the job re-runs)
        rows.append({"stage": stage, "job": job, "seconds": float(last["s"]),
                     "max_rss_mb": float(last["max_rss"]) if str(last["max_rss"]) != "-" else float("nan")})
    return pd.DataFrame(rows, columns=["stage", "job", "seconds", "max_rss_mb"])


def by_experiment(jobs: pd.DataFrame) -> pd.DataFrame:
    """Training rows' seconds (train + evaluate) per experiment and fold: the job path of those
    stages is <experiment>/<run>/<fold>."""
    learned = jobs[jobs["stage"].isin(["train", "evaluate"])].copy()
    if learned.empty:
        return pd.DataFrame(columns=["experiment", "fold", "runs", "train_s", "evaluate_s", "total_s"])
    parts = learned["job"].str.split("/", expand=True)
    learned["experiment"], learned["run"], learned["fold"] = parts[0], parts[1], parts[2]
    table = learned.pivot_table(index=["experiment", "fold"], columns="stage", values="seconds", aggfunc="sum",
                                fill_value=0.0)
    table["runs"] = learned.groupby(["experiment", "fold"])["run"].nunique()
    table = table.rename(columns={"train": "train_s", "evaluate": "evaluate_s"})
    for col in ("train_s", "evaluate_s"):
        if col not in table:
            table[col] = 0.0
    table["total_s"] = table["train_s"] + table["evaluate_s"]
    table.columns.name = None
    return table.reset_index()[["experiment", "fold", "runs", "train_s", "evaluate_s", "total_s"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path("."), help="the reproduction's folder")
    parser.add_argument("--jobs", action="store_true", help="also list every job")
    args = parser.parse_args()
    jobs = read_benchmarks(args.root)
    if jobs.empty:
        raise SystemExit(f"error: no benchmark files under {args.root / 'logs' / 'benchmark'} (run snakemake first)")
    pd.set_option("display.width", 200)
    if args.jobs:
        print(jobs.to_string(index=False, float_format=lambda x: f"{x:.1f}"), "\n")
    stages = jobs.groupby("stage").agg(jobs=("job", "size"), seconds=("seconds", "sum"),
                                       max_rss_mb=("max_rss_mb", "max"))
    print("per stage:\n" + stages.to_string(float_format=lambda x: f"{x:.1f}"), "\n")
    per_fold = by_experiment(jobs)
    if not per_fold.empty:
        print("training rows, per experiment and fold:\n"
              + per_fold.to_string(index=False, float_format=lambda x: f"{x:.1f}"), "\n")
        totals = per_fold.groupby("experiment")[["train_s", "evaluate_s", "total_s"]].sum()
        print("training rows, per experiment:\n" + (totals / 60).round(1).rename(
            columns=lambda c: c.replace("_s", "_min")).to_string(), "\n")
    total = jobs["seconds"].sum()
    print(f"all {len(jobs)} jobs: {total:.0f} s = {total / 60:.1f} min of job time; "
          f"peak RSS of one job {jobs['max_rss_mb'].max():.0f} MB")


if __name__ == "__main__":
    main()
