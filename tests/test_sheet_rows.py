"""Every training row of the committed experiment sheet, through the train and evaluate jobs'
library calls on a tiny cache: each row builds its variant with its tasks and task models,
trains at its resolved settings (the params.yaml defaults under the row's overrides), and is
scored on the AU-coded frames and trials of its fold.

Rows that share a variant, task models and overrides take the same path (the cache variant
only changes the folder read), so one row of each kind runs.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.config import load_params
from pipeline.experiments.aggregate_job import aggregate_experiment
from pipeline.experiments.evaluate_job import evaluate_run_fold
from pipeline.experiments.runs import task_groups
from pipeline.experiments.sheet import active_runs, load_sheet, run_settings
from pipeline.experiments.train_job import train_run_fold
from pipeline.preprocess import preprocess_trials
from pipeline.report.items.learned import training_scale_text
from tests.test_preprocess import make_trial, small_settings
from tests.test_train import pulse_wave

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parent.parent
N_FRAMES = 60                       # 59 stored frames (difference tail trimmed): 19 chunks of 3
TRIALS = {"F001T1": (6, 54), "M002T6": (0, 60), "F003T7": (10, 40)}   # AU-coded video frames
TEST_SUBJECT = "F001"
# Big and Small frame sizes each variant accepts (the BigSmall family pools Big by 16 onto
# Small; the temporal baselines and the spatial baselines need larger frames)
SIZES = {"drml": (72, 9), "alexnet": (96, 9), "deepphys": (48, 3), "mtts_can": (48, 3), "efficientphys": (48, 3),
         "jaanet_2018": (48, 3), "jaanet_2021": (48, 3)}
DEFAULT_SIZE = (32, 2)


def committed_rows() -> list:
    """One training row of each kind: (variant, task models, overrides)."""
    params = load_params(ROOT / "params.yaml")
    seen, rows = set(), []
    for run in active_runs(load_sheet(ROOT / "experiments.yaml"), params, "train"):
        kind = (run.row["variant"], json.dumps(task_groups(run), sort_keys=True),
                json.dumps(run.row.get("overrides") or {}, sort_keys=True))
        if kind not in seen:
            seen.add(kind)
            rows.append(run)
    return rows


ROWS = committed_rows()


@pytest.fixture(scope="module")
def caches(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Tiny BP4D+ caches at each frame size, built on first use, and their splits."""
    root = tmp_path_factory.mktemp("sheet_rows")
    splits = root / "splits.json"
    subjects = sorted({t[:4] for t in TRIALS})
    splits.write_text(json.dumps({"folds": [
        {"name": f, "test": [TEST_SUBJECT], "train": [s for s in subjects if s != TEST_SUBJECT]}
        for f in ("fold1", "fold2", "fold3")]}))
    built: dict = {"splits": splits}

    def cache(size: tuple[int, int]) -> Path:
        if size not in built:
            out = root / f"cache{size[0]}x{size[1]}" / "bp4d"
            trials = []
            for i, (tid, au_range) in enumerate(TRIALS.items()):
                t = np.arange(N_FRAMES) / 25.0
                au = (np.random.default_rng(i).random((N_FRAMES, 12)) < 0.3).astype(np.int8)
                trials.append(make_trial(n=N_FRAMES, h=2 * size[0], w=2 * size[0], trial_id=tid, seed=i, au=au,
                                         au_range=au_range,
                                         signals={"pulse": pulse_wave(N_FRAMES),
                                                  "resp": np.sin(2 * np.pi * 0.3 * t + i)}))
            preprocess_trials("bp4d", trials, out, small_settings(big_size=size[0], small_size=size[1]),
                              progress=False, code="c")
            built[size] = out
        return built[size]

    built["cache"] = cache
    return built


def tiny_params() -> dict:
    """The committed params.yaml with a few chunks per epoch (the rows' overrides still apply)."""
    params = copy.deepcopy(load_params(ROOT / "params.yaml"))
    params["train"].update(batch_chunks=2, max_chunks=4, log_every=1)
    params["signals"]["zero_pad_factor"] = 4
    return params


@pytest.mark.parametrize("run", ROWS, ids=[r.id for r in ROWS])
def test_every_training_row_trains_and_scores(run, caches, tmp_path: Path) -> None:
    params = tiny_params()
    cache = caches["cache"](SIZES.get(run.row["variant"], DEFAULT_SIZE))
    model = tmp_path / "model"
    train_run_fold(params, run, "fold1", cache, caches["splits"], model, progress=False)
    settings = run_settings(params, run)
    groups = task_groups(run)
    assert sorted(p.name for p in model.iterdir()) == sorted(groups)
    for group, tasks in groups.items():
        summary = json.loads((model / group / "train.json").read_text())
        assert summary["variant"] == run.row["variant"] and summary["tasks"] == list(tasks)
        # the row's resolved settings, not the defaults: e.g. the Small-input rows' 10 epochs
        assert summary["epochs"] == settings["epochs"] and summary["settings"]["lr"] == settings["lr"]
        # 4 training chunks of 2 per update (the subsample is AU-coded chunks of M002 and F003)
        assert summary["steps"] == 2 * settings["epochs"]
        assert summary["provenance"]["seed"] == params["seed"]
        assert all(np.isfinite(v) for v in summary["final_losses"].values())
    evaluate_run_fold(params, run, "fold1", model, cache, caches["splits"], cache, caches["splits"],
                      tmp_path / "eval", progress=False)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["tasks"] == list(run.row["tasks"]) and metrics["test_subjects"] == [TEST_SUBJECT]
    if "au" in run.row["tasks"]:
        # F001T1's AU-coded frames 6..53, the last chunk's tail dropped: 48 frames, 12 AUs
        assert metrics["au"]["n_frames"] == 48 and metrics["au"]["n_aus_scored"] == 12
        assert 0.0 <= metrics["au"]["f1_mean"] <= 100.0
    for task in ("pulse", "resp"):
        if task in run.row["tasks"]:
            assert metrics[task]["n_trials"] + metrics[task].get("n_excluded_trials", 0) == 1
    # each model's training scale travels with the metrics into the aggregate and the report
    n, stride = settings["chunk_length"], settings["chunk_stride"]
    scale = {"epochs": settings["epochs"], "updates": 2 * settings["epochs"], "batch_chunks": 2, "chunk_length": n,
             "chunk_stride": stride, "lr": settings["lr"], "precision": settings["precision"], "max_chunks": 4,
             "frames_per_epoch": 4 * n, "n_train_trials": 2}
    for group in groups:
        recorded = dict(metrics["models"][group]["training"])
        assert recorded.pop("train_seconds") > 0 and recorded == scale
    aggregate_experiment(load_sheet(ROOT / "experiments.yaml"), run.experiment, [tmp_path / "eval" / "metrics.json"],
                         tmp_path / "aggregate.csv")
    training = json.loads((tmp_path / "aggregate.json").read_text())["runs"][run.id]["training"]
    assert set(training) == {"fold1"} and set(training["fold1"]) == set(groups)
    text = training_scale_text(run.id, training)
    epochs = f"{settings['epochs']} epoch{'' if settings['epochs'] == 1 else 's'}"
    every = "" if stride == 1 else f", one chunk in {stride} of each trial"
    assert text.startswith(run.id) and (f"{epochs}, {2 * settings['epochs']} updates of 2 chunks of {n} "
                                        f"frame{'' if n == 1 else 's'} at lr {settings['lr']} ({settings['precision']}"
                                        f"{every}, a subsample of 4 chunks), {4 * n} training frames per epoch "
                                        "from 2 trials") in text
