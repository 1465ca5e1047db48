"""One evaluation job of a sheet row: its models for one fold, scored on the fold's test
subjects by the evaluation library."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import InputError
from pipeline.evaluate.run import evaluate_fold
from pipeline.experiments.runs import CHECKPOINT, check_fold, task_groups
from pipeline.experiments.sheet import Run


def evaluate_run_fold(params: dict, run: Run, fold: str, model: Path, cache_root: Path, splits_path: Path,
                      train_cache: Path, train_splits: Path, out: Path, progress: bool = True) -> str:
    """Score the models of ``run`` for ``fold`` on its test subjects; write under ``out``."""
    check_fold(run, fold, params)
    checkpoints = {group: model / group / CHECKPOINT for group in task_groups(run)}
    missing = [str(p) for p in checkpoints.values() if not p.is_file()]
    if missing:
        raise InputError(missing[0], "checkpoint not found (re-run the train job)")
    metrics = evaluate_fold(
        checkpoints=checkpoints, cache_root=cache_root, splits_path=splits_path, fold=fold,
        tasks=list(run.row["tasks"]), signals=params["signals"], out_dir=out,
        # a recorded heart rate under the ingest floor is no reading (vs_rate_label leaves it out)
        settings={**params["evaluate"], "min_recorded_hr_bpm": params["ingest"]["min_recorded_hr_bpm"]},
        train_cache_root=train_cache, train_splits_path=train_splits, run_id=run.id, progress=progress,
    )
    return f"evaluate {run.id} {fold}: {metrics.get('n_trials', '?')} test trials -> {out}"
