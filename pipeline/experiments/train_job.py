"""One training job of a sheet row: its settings, data, task models and parent run, then the
training library.

Training writes to ``<model dir>.partial/`` (kept when a job is killed, so it resumes from the
last epoch's checkpoint) and the finished folder is renamed into place: a model folder is
complete or absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipeline.dag.closure import code_fingerprint
from pipeline.errors import ConfigError, InputError
from pipeline.experiments.runs import CHECKPOINT, check_fold, fold_trials, task_groups
from pipeline.experiments.sheet import Run, run_settings
from pipeline.train.loop import train_model


def train_run_fold(params: dict, run: Run, fold: str, cache_root: Path, splits_path: Path, out: Path,
                   parent: Path | None = None, progress: bool = True) -> str:
    """Train every model of ``run`` on the training subjects of ``fold``; write ``out``."""
    if run.stage != "train":
        raise ConfigError(f"experiments.yaml: run '{run.id}' is a {run.stage} run, not a train run")
    check_fold(run, fold, params)
    settings = run_settings(params, run)
    data = run.row["train_data"]
    labels = settings["pulse_label"]
    trials = fold_trials(cache_root, splits_path, fold, "train")
    if not trials:
        raise InputError(splits_path, f"fold '{fold}' has no cached training trial")
    partial = out.with_name(out.name + ".partial")
    summaries = {}
    for group, tasks in task_groups(run).items():
        init = None
        if parent is not None:
            init = parent / group / CHECKPOINT
            if not init.is_file():
                raise InputError(init, f"parent model of '{run.id}' has no '{group}' model")
        summary = train_model(
            variant=run.row["variant"], tasks=tasks, cache_root=cache_root, train_trials=trials,
            settings={**settings, "pulse_label": labels.get(data, labels["default"]), "optimizer": "adamw"},
            seed=int(params["seed"]), out_dir=partial / group, init_checkpoint=init,
            code_version=code_fingerprint("pipeline.train.loop"), progress=progress,
        )
        summaries[group] = summary
    if out.exists():
        shutil.rmtree(out)
    os.replace(partial, out)
    done = ", ".join(f"{g}: {s.get('epochs', '?')} epochs" for g, s in summaries.items())
    return f"train {run.id} {fold}: {len(trials)} training trials; {done} -> {out}"
