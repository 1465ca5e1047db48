"""Stage ``unsupervised``: POS and CHROM heart rate against the pulse ground truth.

``python -m pipeline unsupervised --dataset ubfc --params params.yaml --cache data/cache/ubfc
--splits data/interim/ubfc/splits.json --out results/unsupervised/ubfc`` writes

    results/unsupervised/<dataset>/predictions.csv   one row per trial (or window) and method
    results/unsupervised/<dataset>/metrics.json      MAE, RMSE, MAPE, Pearson r per method,
                                                     overall and per fold, with provenance and
                                                     the data origin (built-in or user-supplied)

``--manifest-summary data/interim/<dataset>/manifest.json`` (ingest's summary) supplies the
data origin and the listing hash of the raw folder the numbers come from.

The methods need no training, so every trial of every fold's test subjects is evaluated (the
union of the folds' test sets, i.e. each trial once, tagged with the fold that tests it).
Each method runs on the trial's cached per-frame face-mean RGB: ``rgb_mean`` (the face region of
preprocessing), with ``trace: crop`` ``rgb_mean_crop`` (the whole square crop, the authors'
BP4D+ protocol, under which the published BP4D+ errors were measured), or with ``trace: box``
``rgb_mean_box`` (the rPPG-Toolbox's protocol, behind the published UBFC-rPPG and PURE errors:
the Haar face of the first frame enlarged 1.5 times, kept for the whole video); its output and
the raw ground-truth pulse wave (``labels/pulse_raw``: the BP wave for BP4D+, PPG for UBFC-rPPG
and PURE) go through the same rate estimation (``pipeline.signals.rates``, the ``signals``
section: detrend, band-pass, spectral peak). A trial whose rate cannot be estimated (too short
for a window, no power in the band) is kept in predictions.csv with status ``excluded`` and a
reason, and left out of the metrics.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.atomic import atomic_path, write_json
from pipeline.cache.format import QUALITY_COLUMNS
from pipeline.cache.reader import open_cache
from pipeline.config import load_params
from pipeline.errors import ConfigError, InputError
from pipeline.experiments.sheet import Run, run_settings
from pipeline.folds import fold_of_subjects, read_splits
from pipeline.provenance import provenance
from pipeline.metrics import rates as rate_errors
from pipeline.signals.methods import pulse_signal
from pipeline.signals.windows import rate_windows

PREDICTION_COLUMNS = [
    "dataset", "trial_id", "subject", "task", "fold", "method", "window_start_s", "window_end_s",
    "hr_pred", "hr_true", "abs_err", "status", "reason", *QUALITY_COLUMNS,
]
TRACES = ("region", "crop", "box")  # the cache's face-region trace, the whole crop's mean, the toolbox's box
METRIC_KEYS = ("hr_mae", "hr_rmse", "hr_mape", "hr_pearson")


def evaluate_trial(
    rgb: np.ndarray,
    pulse: np.ndarray,
    fps: float,
    methods: Sequence[str],
    signals: dict,
    hr_mode: str = "trial",
) -> list[dict[str, Any]]:
    """Rows (method, window, hr_pred, hr_true, status, reason) for one trial's arrays."""
    rows: list[dict[str, Any]] = []
    try:
        truth = rate_windows(np.asarray(pulse, dtype=float), fps, signals, "pulse", False, hr_mode)
        truth_error = None
    except ValueError as err:
        truth, truth_error = [], f"ground-truth pulse: {err}"
    for method in methods:
        if truth_error is not None:
            rows.append({"method": method, "status": "excluded", "reason": truth_error})
            continue
        try:
            pred = rate_windows(pulse_signal(method, rgb, fps, signals), fps, signals, "pulse", False, hr_mode)
        except ValueError as err:
            rows.append({"method": method, "status": "excluded", "reason": f"{method}: {err}"})
            continue
        for (start, end, hr_true), (_, _, hr_pred) in zip(truth, pred):
            reason = ""
            if not math.isfinite(hr_true):
                reason = "ground-truth pulse has no power in the pulse band"
            elif not math.isfinite(hr_pred):
                reason = f"{method} output has no power in the pulse band"
            rows.append({
                "method": method, "window_start_s": start, "window_end_s": end,
                "hr_pred": hr_pred, "hr_true": hr_true,
                "abs_err": abs(hr_pred - hr_true) if not reason else float("nan"),
                "status": "excluded" if reason else "ok", "reason": reason,
            })
    return rows


def summarise(predictions: pd.DataFrame, methods: Sequence[str]) -> dict[str, Any]:
    """Metrics per method (overall and per fold) from the prediction rows with status ok."""
    out: dict[str, Any] = {}

    def block(rows: pd.DataFrame) -> dict[str, Any]:
        ok = rows[rows["status"] == "ok"]
        res: dict[str, Any] = {k: None for k in METRIC_KEYS}
        if not ok.empty:
            pred, gt = ok["hr_pred"].to_numpy(float), ok["hr_true"].to_numpy(float)
            res.update({
                "hr_mae": rate_errors.mae(pred, gt), "hr_rmse": rate_errors.rmse(pred, gt),
                "hr_mape": rate_errors.mape(pred, gt), "hr_pearson": rate_errors.pearson(pred, gt),
            })
        res = {k: rate_errors.finite_or_none(v) for k, v in res.items()}
        res["n_trials"] = int(ok["trial_id"].nunique())
        res["n_samples"] = int(len(ok))
        res["n_excluded_trials"] = int(rows.loc[rows["status"] != "ok", "trial_id"].nunique())
        return res

    for method in methods:
        rows = predictions[predictions["method"] == method]
        out[method] = block(rows)
    out["per_fold"] = {
        str(fold): {m: block(g[g["method"] == m]) for m in methods}
        for fold, g in predictions.groupby("fold", sort=True)
    }
    return out


def read_origin(manifest_summary: str | Path) -> tuple[dict[str, Any], str | None]:
    """(data_origin, raw listing hash) recorded by ingest in ``manifest.json``."""
    path = Path(manifest_summary)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, json.JSONDecodeError):
        raise InputError(path, "not valid JSON") from None
    origin = doc.get("data_origin") if isinstance(doc, dict) else None
    if not isinstance(origin, dict) or origin.get("kind") not in ("built-in", "user-supplied"):
        raise InputError(path, "no data_origin (re-run ingest)")
    return origin, (doc.get("provenance") or {}).get("raw_listing_hash")


def run_unsupervised(
    dataset: str,
    cache_root: str | Path,
    splits_path: str | Path,
    signals: dict,
    section: dict,
    progress: bool = True,
    manifest_summary: str | Path | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate the methods of ``section`` on every test trial; return (predictions, metrics).

    ``manifest_summary`` (ingest's manifest.json) gives the metrics their data origin; without
    it the origin is recorded as unknown.
    """
    origin, raw_listing = ({"kind": "unknown"}, None)
    if manifest_summary is not None:
        origin, raw_listing = read_origin(manifest_summary)
    splits_path = Path(splits_path)
    splits = read_splits(splits_path)
    fold_of = fold_of_subjects(splits, splits_path)
    index = open_cache(cache_root)
    methods = list(section["methods"])
    hr_mode = str(section["hr_mode"])
    trace = str(section["trace"])
    if trace not in TRACES:
        raise ConfigError(f"unsupervised.trace must be one of {TRACES}, not {trace!r}")
    records: list[dict[str, Any]] = []
    outside: list[str] = []
    table = index.table.sort_values("trial_id", kind="stable")
    bar = tqdm(list(table.itertuples(index=False)), desc=f"unsupervised {dataset}", unit="trial",
               disable=not progress, file=sys.stderr)
    for row in bar:
        subject = str(row.subject)
        if subject not in fold_of:
            outside.append(str(row.trial_id))
            continue
        with index.open(str(row.trial_id)) as trial:
            labels = trial.labels
            if "pulse_raw" not in labels:
                raise InputError(trial.path, "no labels/pulse_raw: this dataset has no pulse ground truth")
            rgb = {"crop": trial.rgb_mean_crop, "box": trial.rgb_mean_box}.get(trace) if trace != "region" \
                else trial.rgb_mean
            rows = evaluate_trial(rgb, labels["pulse_raw"], trial.fps, methods, signals, hr_mode)
        base = {"dataset": dataset, "trial_id": str(row.trial_id), "subject": subject,
                "task": str(row.task), "fold": fold_of[subject],
                # the face trace's quality as preprocessing recorded it (absent in older caches)
                **{col: getattr(row, col, None) for col in QUALITY_COLUMNS}}
        records.extend({**base, **r} for r in rows)
    predictions = pd.DataFrame.from_records(records, columns=PREDICTION_COLUMNS)
    predictions["reason"] = predictions["reason"].fillna("")
    metrics = summarise(predictions, methods)
    metrics.update({
        "dataset": dataset,
        "data_origin": origin,
        "raw_listing_hash": raw_listing,
        "hr_mode": hr_mode,
        "trace": trace,
        "methods": methods,
        "n_trials_in_cache": int(len(table)),
        "trials_outside_test_folds": sorted(outside),
        "cache_key": index.key,
        "provenance": provenance(
            {"dataset": dataset, "signals": signals, "unsupervised": section},
            [splits_path, index.root / "index.csv", index.root / "cache_info.json"],
        ),
    })
    return predictions, metrics


def write_outputs(predictions: pd.DataFrame, metrics: dict[str, Any], out: str | Path) -> None:
    """predictions.csv and metrics.json under ``out``, each written atomically."""
    out = Path(out)
    with atomic_path(out / "predictions.csv") as tmp:
        predictions.to_csv(tmp, index=False, float_format="%.6g")
    write_json(out / "metrics.json", metrics)


def evaluate_baseline_run(params: dict, run: Run, cache_root: Path, splits_path: Path,
                          manifest_summary: Path | None, out: Path, progress: bool = True) -> str:
    """Evaluate one baseline row of the sheet (its test data, its settings) and write
    predictions.csv and metrics.json under ``out``; return a one-line summary."""
    if run.test_data is None:
        raise ConfigError(f"experiments.yaml: key '{run.tracked_key}.test_data': a baseline run needs test data")
    section = run_settings(params, run)
    predictions, metrics = run_unsupervised(
        run.test_data, cache_root, splits_path, params["signals"], section, progress=progress,
        manifest_summary=manifest_summary,
    )
    metrics["run"] = run.id
    write_outputs(predictions, metrics, out)
    summary = ", ".join(
        f"{m} MAE {metrics[m]['hr_mae']:.2f} bpm over {metrics[m]['n_trials']} trials"
        if metrics[m]["hr_mae"] is not None else f"{m}: no trial evaluated"
        for m in section["methods"]
    )
    return f"unsupervised {run.id} ({metrics['data_origin']['kind']} data): {summary}"
