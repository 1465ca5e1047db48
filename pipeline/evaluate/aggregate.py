"""Mean and spread over folds of every scalar metric of a run (``results/metrics/<experiment>``).

Each fold's metrics.json (written by :func:`pipeline.evaluate.run.evaluate_fold`) is flattened
to dotted keys (``pulse.hr_mae``, ``au.f1.AU01``, ``baselines.hr_train_mean.hr_mae``, ...);
numbers only (booleans, strings, lists and the ``provenance``, ``models`` records are left
out). Per metric: the mean and standard deviation over the folds that have a value (null =
no value), how many folds have one, and each fold's value.

Output: a table with columns ``metric``, ``mean``, ``std``, ``n_folds`` and one column per
fold (CSV), and the same as JSON (strict: NaN -> null) with the source files, where each metric
also has a 95% confidence interval (``pipeline.evaluate.stats``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.atomic import atomic_path
from pipeline.errors import InputError
from pipeline.evaluate.stats import fold_ci
from pipeline.evaluate.strict_json import write_strict_json

SKIPPED_KEYS = frozenset({"provenance", "models"})
DEFAULT_DDOF = 1  # sample standard deviation over folds (pandas' convention)
FOLD_CI_METHOD = "t-interval of the per-fold values"


def flatten_metrics(doc: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """Dotted key -> float of every numeric scalar in ``doc`` (None -> NaN)."""
    out: dict[str, float] = {}
    for key, value in doc.items():
        if not prefix and key in SKIPPED_KEYS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, bool) or isinstance(value, (str, list)):
            continue
        elif value is None:
            out[name] = math.nan
        elif isinstance(value, (int, float)):
            out[name] = float(value)
    return out


def _read(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except json.JSONDecodeError:
        raise InputError(path, "not valid JSON") from None
    if not isinstance(doc, dict):
        raise InputError(path, "not a metrics record")
    return doc


def aggregate_runs(metrics_paths_by_fold: dict[str, Path], ddof: int = DEFAULT_DDOF) -> pd.DataFrame:
    """One row per metric: ``metric``, ``mean``, ``std`` (``ddof``), ``n_folds`` and each fold's
    value (columns named by fold, in the given order). Metrics only some folds have are kept;
    their statistics use the folds that have them (std NaN with fewer than ``ddof + 1``)."""
    if not metrics_paths_by_fold:
        raise ValueError("no fold to aggregate")
    folds = list(metrics_paths_by_fold)
    flat = {fold: flatten_metrics(_read(Path(p))) for fold, p in metrics_paths_by_fold.items()}
    keys: list[str] = []
    seen: set[str] = set()
    for fold in folds:
        for k in flat[fold]:
            if k not in seen:
                seen.add(k)
                keys.append(k)
    rows = []
    for key in keys:
        values = np.array([flat[f].get(key, math.nan) for f in folds], dtype=float)
        have = values[np.isfinite(values)]
        mean = float(np.mean(have)) if have.size else math.nan
        std = float(np.std(have, ddof=ddof)) if have.size > ddof else math.nan
        rows.append({"metric": key, "mean": mean, "std": std, "n_folds": int(have.size),
                     **dict(zip(folds, values.tolist()))})
    return pd.DataFrame.from_records(rows, columns=["metric", "mean", "std", "n_folds", *folds])


def aggregate_to_dict(table: pd.DataFrame, ddof: int = DEFAULT_DDOF) -> dict[str, Any]:
    """``{"folds": [...], "std_ddof": d, "metrics": {metric: {mean, std, n_folds, per_fold, ci95,
    ci95_method}}}``; ci95 is the t-interval of the per-fold values (None with one fold)."""
    folds = [c for c in table.columns if c not in ("metric", "mean", "std", "n_folds")]
    metrics = {}
    for row in table.to_dict("records"):
        ci = fold_ci([row[f] for f in folds])
        metrics[row["metric"]] = {"mean": row["mean"], "std": row["std"], "n_folds": int(row["n_folds"]),
                                  "per_fold": {f: row[f] for f in folds},
                                  "ci95": None if ci is None else list(ci), "ci95_method": FOLD_CI_METHOD}
    return {"folds": folds, "std_ddof": ddof, "metrics": metrics}


def write_aggregate(
    metrics_paths_by_fold: dict[str, Path],
    csv_path: str | Path,
    json_path: str | Path | None = None,
    extra: dict[str, Any] | None = None,
    ddof: int = DEFAULT_DDOF,
) -> pd.DataFrame:
    """Aggregate the folds and write the CSV (and JSON, default beside it), each atomically.

    ``extra`` (e.g. the experiment and run ids) is added to the JSON document.
    """
    table = aggregate_runs(metrics_paths_by_fold, ddof=ddof)
    csv_path = Path(csv_path)
    json_path = Path(json_path) if json_path is not None else csv_path.with_suffix(".json")
    with atomic_path(csv_path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")
    doc = {**(extra or {}), **aggregate_to_dict(table, ddof),
           "sources": {f: str(p) for f, p in metrics_paths_by_fold.items()}}
    write_strict_json(json_path, doc)
    return table
