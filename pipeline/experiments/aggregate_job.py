"""Aggregation of one experiment: every run's metrics over its folds (results/metrics/)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.atomic import atomic_path
from pipeline.errors import InputError
from pipeline.evaluate.aggregate import aggregate_runs, aggregate_to_dict
from pipeline.evaluate.stats import N_RESAMPLES, rate_cis
from pipeline.evaluate.strict_json import write_strict_json
from pipeline.experiments.sheet import runs_of


def aggregate_experiment(sheet: dict, experiment: str, metrics_paths: list[Path], csv_out: Path) -> str:
    """Mean and spread over folds of every metric of each run of ``experiment``: one CSV (run,
    metric, mean, std, n_folds, one column per fold) and a JSON beside it with each run's
    published rows. The run and fold of each metrics file come from the file itself."""
    by_run: dict[str, dict[str, Path]] = {}
    # per run and fold, each task model's training scale (epochs, updates, batch, lr, ...)
    training: dict[str, dict[str, dict]] = {}
    for path in map(Path, metrics_paths):
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise InputError(path, "unreadable metrics") from None
        run_id, fold = doc.get("run"), doc.get("fold")
        if not run_id or not fold:
            raise InputError(path, "no 'run' and 'fold' (re-run the evaluate job)")
        by_run.setdefault(str(run_id), {})[str(fold)] = path
        training.setdefault(str(run_id), {})[str(fold)] = {
            group: model.get("training") for group, model in (doc.get("models") or {}).items()}
    runs = {r.id: r for r in runs_of(sheet) if r.experiment == experiment}
    unknown = sorted(set(by_run) - set(runs))
    if unknown:
        raise InputError(metrics_paths[0], f"metrics of '{unknown[0]}', not a run of experiment '{experiment}'")
    tables, doc = [], {"experiment": experiment, "runs": {}}
    for run_id, paths in by_run.items():
        table = aggregate_runs(paths)
        table.insert(0, "run", run_id)
        tables.append(table)
        entry = {"variant": runs[run_id].row.get("variant"), "tasks": runs[run_id].row["tasks"],
                 "published": runs[run_id].published, **aggregate_to_dict(table.drop(columns="run")),
                 "sources": {f: str(p) for f, p in paths.items()}, "training": training[run_id]}
        _rate_cis(entry["metrics"], [p.parent / "predictions.csv" for p in paths.values()])
        doc["runs"][run_id] = entry
    combined = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["run", "metric"])
    with atomic_path(csv_out) as tmp:
        combined.to_csv(tmp, index=False, float_format="%.6g")
    write_strict_json(csv_out.with_suffix(".json"), doc)
    return f"aggregate {experiment}: {len(by_run)} runs, {sum(map(len, by_run.values()))} folds -> {csv_out}"


SUBJECT_CI_METHOD = (f"bootstrap over test subjects ({N_RESAMPLES} resamples, percentile) of the metric on all "
                     "test trials")
PREDICTION_COLUMNS = ("subject", "hr_pred", "hr_true", "hr_status", "rr_pred", "rr_true", "rr_status")


def _rate_cis(metrics: dict, prediction_paths: list[Path]) -> None:
    """Replace the fold t-interval of the HR and RR metrics by the subject bootstrap over the
    per-trial predictions of all folds (each test trial is in exactly one fold)."""
    frames = []
    for path in prediction_paths:
        try:
            frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"subject": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
            raise InputError(path, "unreadable predictions (re-run the evaluate job)") from None
        missing = [c for c in PREDICTION_COLUMNS if c not in frame.columns]
        if missing:
            raise InputError(path, f"lacks columns {missing} (re-run the evaluate job)")
        frames.append(frame)
    predictions = pd.concat(frames, ignore_index=True)
    for prefix in ("hr", "rr"):
        if not (predictions[f"{prefix}_status"] == "ok").any():
            continue
        for key, ci in rate_cis(predictions, prefix).items():
            if key in metrics:
                metrics[key]["ci95"], metrics[key]["ci95_method"] = ci, SUBJECT_CI_METHOD
