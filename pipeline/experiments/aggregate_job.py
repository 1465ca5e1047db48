"""Aggregation of one experiment: every run's metrics over its folds (results/metrics/)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline.atomic import atomic_path
from pipeline.errors import InputError
from pipeline.evaluate.aggregate import aggregate_runs, aggregate_to_dict
from pipeline.evaluate.strict_json import write_strict_json
from pipeline.experiments.sheet import runs_of


def aggregate_experiment(sheet: dict, experiment: str, metrics_paths: list[Path], csv_out: Path) -> str:
    """Mean and spread over folds of every metric of each run of ``experiment``: one CSV (run,
    metric, mean, std, n_folds, one column per fold) and a JSON beside it with each run's
    published rows. The run and fold of each metrics file come from the file itself."""
    by_run: dict[str, dict[str, Path]] = {}
    for path in map(Path, metrics_paths):
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            raise InputError(path, "unreadable metrics") from None
        run_id, fold = doc.get("run"), doc.get("fold")
        if not run_id or not fold:
            raise InputError(path, "no 'run' and 'fold' (re-run the evaluate job)")
        by_run.setdefault(str(run_id), {})[str(fold)] = path
    runs = {r.id: r for r in runs_of(sheet) if r.experiment == experiment}
    unknown = sorted(set(by_run) - set(runs))
    if unknown:
        raise InputError(metrics_paths[0], f"metrics of '{unknown[0]}', not a run of experiment '{experiment}'")
    tables, doc = [], {"experiment": experiment, "runs": {}}
    for run_id, paths in by_run.items():
        table = aggregate_runs(paths)
        table.insert(0, "run", run_id)
        tables.append(table)
        doc["runs"][run_id] = {"variant": runs[run_id].row.get("variant"), "tasks": runs[run_id].row["tasks"],
                               "published": runs[run_id].published, **aggregate_to_dict(table.drop(columns="run")),
                               "sources": {f: str(p) for f, p in paths.items()}}
    combined = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=["run", "metric"])
    with atomic_path(csv_out) as tmp:
        combined.to_csv(tmp, index=False, float_format="%.6g")
    write_strict_json(csv_out.with_suffix(".json"), doc)
    return f"aggregate {experiment}: {len(by_run)} runs, {sum(map(len, by_run.values()))} folds -> {csv_out}"
