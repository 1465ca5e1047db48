"""What the train and evaluate jobs of a sheet row share: its model folders and fold data.

A run trains one model for its tasks, or one single-task model per task when the row says
``separate_task_models`` (the paper's temporal-only rows); each model lives in
``<model dir>/<group>/`` where the group is ``all`` or the task's name.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.cache.reader import open_cache
from pipeline.errors import ConfigError
from pipeline.folds import read_fold
from pipeline.experiments.sheet import Run, run_folds

CHECKPOINT = "checkpoint.pt"


def task_groups(run: Run) -> dict[str, list[str]]:
    """Model folder name -> the tasks that model is trained on."""
    tasks = list(run.row["tasks"])
    if run.row.get("separate_task_models"):
        return {task: [task] for task in tasks}
    return {"all": tasks}


def fold_trials(cache_root: Path, splits_path: Path, fold: str, part: str) -> list[str]:
    """Cached trial ids of the fold's ``part`` ('train' or 'test') subjects, in cache order."""
    test, train = read_fold(splits_path, fold)
    subjects = set(test if part == "test" else train)
    index = open_cache(cache_root)
    return [t for t, s in zip(index.table["trial_id"], index.table["subject"]) if str(s) in subjects]


def check_fold(run: Run, fold: str, params: dict) -> None:
    if fold not in run_folds(run, params):
        raise ConfigError(f"experiments.yaml: run '{run.id}' has no fold '{fold}' "
                          f"({', '.join(run_folds(run, params))})")
