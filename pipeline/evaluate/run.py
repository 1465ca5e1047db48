"""Evaluate one fold of one training run: checkpoints + cache + splits -> predictions and metrics.

:func:`evaluate_fold` (what the evaluate stage calls) writes under ``out_dir``:

``predictions.h5``
    root attrs ``fold``, ``dataset``, ``tasks`` (JSON), ``chunk_length``, ``cache_key``,
    ``models`` (JSON: group -> variant and checkpoint), ``au_names`` (JSON); one group per
    test trial (``/<trial_id>``) with ``frame_index`` (n,) int64, ``pulse`` (n,) and ``resp``
    (n,) float32 (difference-normalised waves), ``au_logits`` (n, K) float32 for the tasks
    evaluated, ``au_true`` (n, K) int8 the AU labels of the scored frames (1 active, 0 inactive,
    -1 not scored: uncoded or outside the AU-coded range; root attr ``au_threshold`` turns the
    logits into the scored decisions); group attrs ``subject``, ``task``, ``fold``, ``fps``, ``n_frames`` (cached),
    ``chunk_length``, ``pulse_kind``, ``au_range``. n = n_chunks * N (the tail is dropped).
``predictions.csv``
    one row per test trial (per window in windowed mode): :data:`PREDICTION_COLUMNS`.
``metrics.json``
    strict JSON (NaN -> null): ``pulse`` / ``resp`` (``hr_mae`` ... ``rr_pearson``, counts,
    ``vs_rate_label``), ``au`` (per-AU ``f1`` and ``accuracy``, means, positives, coded
    frames), ``baselines`` (``au_all_positive``, ``hr_train_mean``, ``rr_train_mean``),
    ``n_trials``, ``n_frames``, the trials, the models and provenance.

Each file is written atomically, metrics.json last: an earlier metrics.json is removed first,
so a run that stops half-way never leaves outputs that look complete.

``settings`` (the run's evaluation settings; every key optional): ``hr_mode`` (``trial`` |
``windowed``; default from ``signals.eval_window.enabled``), ``batch_chunks`` (chunks per
forward pass, default 32), ``amp`` (autocast: false/'fp32', true/'bf16', 'fp16'), ``au_threshold``
(0.5), ``au_names`` (the AU columns the model predicts, in order; default the checkpoint's
``au_names`` if it has them, else every AU of the cache), ``chunk_length`` (checked against
the models), ``min_recorded_hr_bpm`` (heart-rate label samples under it are no reading in the
``vs_rate_label`` protocol; the evaluate stage passes ``ingest.min_recorded_hr_bpm``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.atomic import atomic_path
from pipeline.cache.format import QUALITY_COLUMNS
from pipeline.cache.reader import open_cache
from pipeline.errors import InputError
from pipeline.folds import read_fold
from pipeline.evaluate.metrics import (
    RATE_TASKS,
    AUCollector,
    coded_mask,
    constant_rate_baseline,
    hr_mode_of,
    merge_rate_rows,
    rate_rows,
    rate_summary,
    training_mean_rate,
)
from pipeline.evaluate.predict import (
    DEFAULT_BATCH_CHUNKS,
    TASKS,
    chunk_length_of,
    iter_predictions,
    load_checkpoint_model,
)
from pipeline.evaluate.strict_json import strict_json, write_strict_json
from pipeline.provenance import provenance

PREDICTION_COLUMNS = [
    "dataset", "trial_id", "subject", "task", "fold", "pulse_kind", "n_frames", "n_predicted",
    "n_au_frames", "window_start_s", "window_end_s",
    "hr_pred", "hr_true", "hr_abs_err", "hr_rate_label", "hr_status", "hr_reason",
    "rr_pred", "rr_true", "rr_abs_err", "rr_rate_label", "rr_status", "rr_reason",
    *QUALITY_COLUMNS,
]
PREDICTIONS_FORMAT = "2"  # 2: au_true and au_threshold


def _au_names(settings: dict, models: dict[str, Any], cache_names: list[str]) -> list[str]:
    names = settings.get("au_names")
    if names is None:
        for model in models.values():
            names = (getattr(model, "checkpoint_info", None) or {}).get("au_names")
            if names:
                break
    return list(names) if names else list(cache_names)


def _train_rates(cache_root: Path, trial_ids: Sequence[str], task: str, n: int) -> list[tuple[str, Any, float]]:
    """(trial_id, raw ground-truth wave over the trial's chunked frames, fps) per training trial."""
    label = RATE_TASKS[task][1]
    index = open_cache(cache_root)
    out = []
    for tid in trial_ids:
        with index.open(tid) as trial:
            frames = (trial.n_frames // n) * n
            raw = trial.labels.get(label)
            out.append((tid, None if raw is None or frames == 0 else raw[:frames], trial.fps))
    return out


TRAINING_SCALE_KEYS = ("batch_chunks", "chunk_length", "chunk_stride", "lr", "precision", "max_chunks")


def training_scale(info: dict[str, Any]) -> dict[str, Any]:
    """How much training a checkpoint had (the report puts it beside the paper's): epochs,
    updates, batch, chunk length and stride, lr, precision, chunk subsample, training frames
    per epoch and trials (a key the checkpoint's settings lack reads None)."""
    settings = info.get("settings") or {}
    epochs, frames = info.get("epoch"), info.get("frames")  # frames: all epochs' together
    return {"epochs": epochs, "updates": info.get("step"),
            **{k: settings.get(k) for k in TRAINING_SCALE_KEYS},
            "frames_per_epoch": frames // epochs if frames is not None and epochs else None,
            "n_train_trials": len(info["train_trials"]) if info.get("train_trials") is not None else None,
            "train_seconds": info.get("train_seconds")}


def evaluate_fold(
    *,
    checkpoints: dict[str, Path],
    cache_root: Path,
    splits_path: Path,
    fold: str,
    tasks: list[str],
    signals: dict,
    settings: dict,
    out_dir: Path,
    device: Any = None,
    progress: bool = True,
    train_cache_root: Path | None = None,
    train_splits_path: Path | None = None,
    train_trial_ids: Sequence[str] | None = None,
    run_id: str | None = None,
) -> dict:
    """Evaluate the run's checkpoints on the test trials of ``fold``; write predictions.h5,
    predictions.csv and metrics.json under ``out_dir``; return the metrics.

    ``checkpoints`` maps a task group (``'all'`` or a task name, one model per task) to its
    checkpoint. Test trials are the cached trials of the fold's test subjects. The constant-rate
    baseline predicts the mean ground-truth rate of the training trials: the trials of
    ``train_cache_root`` (default ``cache_root``) whose subjects are the training subjects of
    ``fold`` in ``train_splits_path`` (default ``splits_path``), as the trainer selects them
    (a model trained on another dataset), or ``train_trial_ids`` when given.
    """
    out_dir = Path(out_dir)
    cache_root, splits_path = Path(cache_root), Path(splits_path)
    settings = dict(settings or {})
    tasks = list(tasks)
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {TASKS}, got {tasks}")
    if not checkpoints:
        raise ValueError("no checkpoint given")
    for group in checkpoints:
        if group != "all" and group not in TASKS:
            raise ValueError(f"checkpoint group must be 'all' or a task, got {group!r}")
    (out_dir / "metrics.json").unlink(missing_ok=True)  # no stale marker of completion
    hr_mode = hr_mode_of(signals, settings)

    test_subjects, train_subjects = read_fold(splits_path, fold)
    index = open_cache(cache_root)
    dataset = str(index.info.get("dataset", ""))
    table = index.table.sort_values("trial_id", kind="stable")
    test_rows = table[table["subject"].isin(test_subjects)]
    if test_rows.empty:
        raise InputError(splits_path, f"fold {fold}: no cached trial of its test subjects in {index.root}")
    test_ids = [str(t) for t in test_rows["trial_id"]]
    row_of = {str(r.trial_id): r for r in test_rows.itertuples(index=False)}

    models = {g: load_checkpoint_model(p, device) for g, p in checkpoints.items()}
    n = chunk_length_of(models, settings.get("chunk_length"),
                        int(index.info.get("settings", {}).get("chunk_length", 3)))

    # the constant-rate baseline: the training trials' mean ground-truth rate
    train_root = Path(train_cache_root) if train_cache_root is not None else cache_root
    if train_trial_ids is None:
        if train_splits_path is not None and Path(train_splits_path).resolve() != splits_path.resolve():
            _, train_subjects = read_fold(train_splits_path, fold)
        train_table = open_cache(train_root).table if train_root.resolve() != cache_root.resolve() else table
        train_trial_ids = [str(t) for t in train_table.loc[train_table["subject"].isin(train_subjects), "trial_id"]]
    train_trial_ids = sorted(map(str, train_trial_ids))
    train_means = {task: training_mean_rate(_train_rates(train_root, train_trial_ids, task, n), signals, task, hr_mode)
                   for task in RATE_TASKS if task in tasks}

    au_collector: AUCollector | None = None
    au_names: list[str] = []
    records: list[dict[str, Any]] = []
    n_frames_total = 0
    no_au_labels: list[str] = []
    model_doc = {g: {"variant": getattr(m, "variant", None), "checkpoint": str(checkpoints[g]),
                     "training": training_scale(getattr(m, "checkpoint_info", {}))}
                 for g, m in models.items()}
    preds = iter_predictions(models, cache_root, test_ids, tasks=tasks, device=device,
                             batch_chunks=int(settings.get("batch_chunks", DEFAULT_BATCH_CHUNKS)),
                             amp=settings.get("amp", False), chunk_length=n)
    bar = tqdm(preds, total=len(test_ids), desc=f"evaluate {fold}", unit="trial", disable=not progress,
               file=sys.stderr)
    with atomic_path(out_dir / "predictions.h5") as tmp_h5, h5py.File(tmp_h5, "w") as h5:
        h5.attrs.update({"format": PREDICTIONS_FORMAT, "fold": fold, "dataset": dataset,
                         "tasks": json.dumps(tasks), "chunk_length": n, "cache_key": index.key,
                         "models": json.dumps(model_doc, sort_keys=True)})
        for pred in bar:
            meta = row_of[pred.trial_id]
            m = pred.n_predicted
            with index.open(pred.trial_id) as trial:
                labels = trial.labels
                attrs = trial.attrs
                if "au" in tasks and "au" in labels and au_collector is None:
                    au_names = _au_names(settings, models, trial.au_names)
                    au_collector = AUCollector(au_names, float(settings.get("au_threshold", 0.5)))
                au_cols = None
                if "au" in tasks and "au" in labels:
                    have = trial.au_names
                    missing = [a for a in au_names if a not in have]
                    if missing:
                        raise InputError(trial.path, f"no AU '{missing[0]}' in this trial")
                    au_cols = [have.index(a) for a in au_names]
                n_frames_total += m
                grp = h5.create_group(pred.trial_id)
                grp.attrs.update({"subject": str(meta.subject), "task": str(meta.task), "fold": fold,
                                  "fps": pred.fps, "n_frames": pred.n_frames, "chunk_length": n,
                                  "pulse_kind": str(attrs.get("pulse_kind", "")),
                                  "au_range": np.asarray(attrs.get("au_range", [-1, -1]), dtype=np.int64)})
                grp.create_dataset("frame_index", data=pred.frame_index)
                for task in tasks:
                    out = pred.output(task)
                    if out is not None and m:
                        grp.create_dataset("au_logits" if task == "au" else task, data=out.astype(np.float32))

                by_task = {}
                for task in RATE_TASKS:
                    if task not in tasks:
                        continue
                    _, raw_name, rate_name = RATE_TASKS[task]
                    if m == 0:
                        by_task[task] = rate_rows(None, None, pred.fps, signals, task, hr_mode)
                        by_task[task][0]["reason"] = f"shorter than one chunk of {n} frames"
                        continue
                    raw = labels.get(raw_name)
                    by_task[task] = rate_rows(
                        pred.output(task), None if raw is None else raw[:m], pred.fps, signals, task,
                        hr_mode, None if rate_name not in labels else labels[rate_name][:m],
                        settings.get("min_recorded_hr_bpm") if task == "pulse" else None)
                n_au = 0
                if au_collector is not None and au_cols is not None and m:
                    au_true = labels["au"][:m][:, au_cols]
                    n_au = au_collector.add(pred.au_logits, au_true, pred.frame_index, attrs.get("au_range"))
                    # the scored labels beside the logits: paired comparisons of per-frame decisions
                    scored = coded_mask(au_true, pred.frame_index, attrs.get("au_range"))
                    grp.create_dataset("au_true", data=np.where(scored, au_true == 1, -1).astype(np.int8))
                elif "au" in tasks and "au" not in labels:
                    no_au_labels.append(pred.trial_id)
            base = {"dataset": dataset, "trial_id": pred.trial_id, "subject": str(meta.subject),
                    "task": str(meta.task), "fold": fold, "pulse_kind": str(attrs.get("pulse_kind", "")),
                    "n_frames": pred.n_frames, "n_predicted": m, "n_au_frames": n_au,
                    **{col: getattr(meta, col, None) for col in QUALITY_COLUMNS}}
            for row in merge_rate_rows(by_task, pred.fps, m):
                records.append({**base, **row})
        h5.attrs["au_names"] = json.dumps(au_names)
        h5.attrs["au_threshold"] = float(settings.get("au_threshold", 0.5))

    predictions = pd.DataFrame.from_records(records, columns=PREDICTION_COLUMNS)
    for prefix, task in (("hr", "pulse"), ("rr", "resp")):
        if task not in tasks:
            predictions[f"{prefix}_status"] = "skipped"
            predictions[f"{prefix}_reason"] = "not a task of this run"
        predictions[f"{prefix}_reason"] = predictions[f"{prefix}_reason"].fillna("")
    with atomic_path(out_dir / "predictions.csv") as tmp:
        predictions.to_csv(tmp, index=False, float_format="%.6g")

    metrics: dict[str, Any] = {
        "run": run_id, "dataset": dataset, "fold": fold, "tasks": tasks, "hr_mode": hr_mode,
        "chunk_length": n, "models": model_doc,
        "n_trials": len(test_ids), "n_frames": n_frames_total,
        "test_trials": test_ids, "test_subjects": sorted(test_subjects),
        "n_train_trials": len(train_trial_ids), "train_cache_key": open_cache(train_root).key,
        "baselines": {},
        "cache_key": index.key,
    }
    for task, (prefix, _, _) in RATE_TASKS.items():
        if task not in tasks:
            continue
        metrics[task] = rate_summary(predictions, task)
        metrics["baselines"][f"{prefix}_train_mean"] = {
            "value": train_means[task]["value"],
            "n_train_trials": train_means[task]["n_trials"],
            "n_train_samples": train_means[task]["n_samples"],
            "n_train_excluded_trials": train_means[task]["n_excluded_trials"],
            **constant_rate_baseline(train_means[task]["value"], predictions, task),
        }
    if "au" in tasks:
        if au_collector is None:
            metrics["au"] = None
            metrics["baselines"]["au_all_positive"] = None
        else:
            metrics["au"] = au_collector.model_metrics()
            metrics["baselines"]["au_all_positive"] = au_collector.all_positive_metrics()
        metrics["au_trials_without_labels"] = no_au_labels
    data_paths = [*map(Path, checkpoints.values()), splits_path, index.root / "index.csv",
                  index.root / "cache_info.json"]
    if train_splits_path is not None and Path(train_splits_path).resolve() != splits_path.resolve():
        data_paths.append(Path(train_splits_path))
    metrics["provenance"] = provenance(
        {"fold": fold, "tasks": tasks, "signals": signals, "settings": settings,
         "checkpoints": {g: str(p) for g, p in checkpoints.items()}},
        data_paths,
    )
    metrics = strict_json(metrics)
    write_strict_json(out_dir / "metrics.json", metrics)
    return metrics
