"""The DAG is declared once (pipeline/dag/spec.py): dvc.yaml is its rendering and is fresh;
every job depends on exactly its stage module's import closure."""

from __future__ import annotations

import subprocess
import sys

import yaml

from pipeline.dag.closure import import_closure
from pipeline.dag.dvc_yaml import job_name, render
from pipeline.dag.machine import local_gpus
from pipeline.dag.spec import STAGES, TORCH_JOB_THREADS, Config
from pipeline.experiments.references import validate_configuration
from tests.tiny_config import ROOT


def committed_config() -> Config:
    return Config(*validate_configuration(ROOT / "params.yaml", ROOT / "experiments.yaml"))


def test_committed_dvc_yaml_is_fresh():
    """Fails when the declaration, params.yaml or the sheet changed the jobs and dvc.yaml was not
    regenerated (`python -m pipeline dvc-yaml`)."""
    assert (ROOT / "dvc.yaml").read_text() == render(committed_config())


def test_every_job_of_the_configuration_is_a_dvc_stage():
    cfg = committed_config()
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    expected = {job_name(s, job) for s in STAGES for job in s.jobs(cfg)}
    assert set(stages) == expected
    params = cfg.params
    for ds in params["synth"]["datasets"]:
        assert f"generate-{ds}" in stages
    for ds in params["datasets"]:
        for stage in ("ingest", "splits", "preprocess"):
            assert f"{stage}-{ds}" in stages
    assert {"unsupervised-baselines-bp4d", "unsupervised-baselines-ubfc", "unsupervised-baselines-pure",
            "compute_audit-compute_audit-all_variants", "report"} <= set(stages)
    # Table 1: every row on every published BP4D+ fold, trained, evaluated, then aggregated
    table1 = [r for r in cfg.sheet["experiments"]["table1"]["runs"]]
    for stage in ("train", "evaluate"):
        assert {n for n in stages if n.startswith(f"{stage}-table1-")} == {
            f"{stage}-table1-{r}-fold{k}" for r in table1 for k in (1, 2, 3)}
    assert "aggregate-table1" in stages


def test_each_job_depends_on_exactly_its_import_closure():
    cfg = committed_config()
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage in STAGES:
        closure = set(import_closure(stage.module))
        for job in stage.jobs(cfg):
            deps = stages[job_name(stage, job)].get("deps", [])
            assert {d for d in deps if d.startswith("pipeline/")} == closure, stage.name
        assert "pipeline/__main__.py" not in closure  # the dispatcher shapes no output
        assert not any(p.startswith("pipeline/dag/spec") for p in closure)
        # no stage runs another stage's command line
        assert {p for p in closure if p.startswith("pipeline/stages/") and not p.endswith("__init__.py")} == \
            {f"pipeline/stages/{stage.module.rsplit('.', 1)[1]}.py"}


def test_a_parent_run_is_a_dependency_of_its_children():
    params, sheet = validate_configuration(ROOT / "params.yaml", ROOT / "experiments.yaml")
    sheet["experiments"]["finetune"] = {"stage": "train", "title": "fine-tuning", "runs": {"bigsmall": {
        **sheet["experiments"]["table1"]["runs"]["bigsmall"], "parent": "table1/bigsmall",
        "overrides": {"epochs": 1}, "published": []}}}
    cfg = Config(params, sheet)
    stages = render(cfg)
    doc = yaml.safe_load(stages)["stages"]
    assert "results/runs/table1/bigsmall/fold2/model" in doc["train-finetune-bigsmall-fold2"]["deps"]
    assert "results/runs/table1/bigsmall/fold2/model" not in doc["train-table1-bigsmall-fold2"]["deps"]


def test_closure_follows_imports_strings_and_data_files():
    ingest = import_closure("pipeline.stages.ingest")
    # a layout named only in an importlib table, a package __init__, a YAML the code names
    assert "pipeline/datasets/pure.py" in ingest and "pipeline/datasets/__init__.py" in ingest
    assert "pipeline/reference/bp4d_plus.yaml" in ingest
    assert "pipeline/reference/published.yaml" not in ingest
    assert "pipeline/synth/render.py" not in ingest
    preprocess = import_closure("pipeline.stages.preprocess")
    assert "pipeline/signals/pos.py" in preprocess
    assert not any(p.startswith(("pipeline/metrics", "pipeline/models", "pipeline/report")) for p in preprocess)
    assert "pipeline/metrics/rates.py" in import_closure("pipeline.stages.unsupervised")
    assert "pipeline/metrics/au.py" not in import_closure("pipeline.stages.unsupervised")
    # training never runs the evaluation code, nor evaluation the training loop
    train, evaluate = import_closure("pipeline.stages.train"), import_closure("pipeline.stages.evaluate")
    assert not any(p.startswith("pipeline/evaluate/") for p in train)
    assert not any(p.startswith("pipeline/train/") for p in evaluate)
    assert "pipeline/cache/dataset.py" in train and "pipeline/metrics/au.py" in evaluate
    assert "pipeline/report/templates/index.html.j2" in import_closure("pipeline.stages.report") or any(
        p.startswith("pipeline/report/templates/") for p in import_closure("pipeline.stages.report"))


def test_dvc_yaml_command_writes_the_same_file(tmp_path):
    out = tmp_path / "dvc.yaml"
    proc = subprocess.run([sys.executable, "-m", "pipeline", "dvc-yaml", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text() == (ROOT / "dvc.yaml").read_text()


def test_narrowing_datasets_narrows_the_jobs_and_the_runs():
    params, sheet = validate_configuration(ROOT / "params.yaml", ROOT / "experiments.yaml")
    params["datasets"] = ["ubfc"]
    params["synth"]["datasets"] = ["ubfc"]
    params["preprocess"]["crop_to_au_range"] = []
    params["report"]["example_waveform"]["dataset"] = "ubfc"
    names = {job_name(s, job) for s in STAGES for job in s.jobs(Config(params, sheet))}
    # Table 1 trains on BP4D+: left out with it
    assert names == {"generate-ubfc", "ingest-ubfc", "splits-ubfc", "preprocess-ubfc",
                     "unsupervised-baselines-ubfc", "compute_audit-compute_audit-all_variants", "report"}


def test_a_train_job_tracks_the_default_keys_its_row_does_not_override():
    """A row that sets epochs, lr and max_chunks is not retrained when those defaults change (its
    resolved settings do not), but is when any other default or its own row changes."""
    params, sheet = validate_configuration(ROOT / "params.yaml", ROOT / "experiments.yaml")
    runs = sheet["experiments"]["table1"]["runs"]
    runs["small_branch"]["overrides"] = {"epochs": 5, "lr": 0.001, "max_chunks": None, "pulse_label": {"bp4d": "ppg"}}
    runs["big_branch"]["overrides"] = {}
    cfg = Config(params, sheet)
    train = next(s for s in STAGES if s.name == "train")
    keys = {name: {(p.file, p.key) for p in train.params(cfg, {"run": f"table1/{name}", "fold": "fold1"})}
            for name in ("small_branch", "big_branch")}
    every_key = {("params.yaml", f"train.{k}") for k in params["train"]}
    row = ("experiments.yaml", "experiments.table1.runs.{}")
    # a row without overrides depends on the whole section, tracked as one value
    assert keys["big_branch"] == {("params.yaml", "seed"), ("params.yaml", "train"), (row[0], row[1].format("big_branch"))}
    # a mapping override is merged into the default, so the default stays tracked
    assert keys["small_branch"] == {("params.yaml", "seed"), (row[0], row[1].format("small_branch")),
                                    *(every_key - {("params.yaml", f"train.{k}") for k in ("epochs", "lr", "max_chunks")})}
    # the same keys in dvc.yaml
    doc = yaml.safe_load(render(cfg))["stages"]["train-table1-small_branch-fold1"]["params"]
    assert "train.batch_chunks" in doc and "train.pulse_label" in doc and "train.epochs" not in doc


def test_local_gpus_reads_cuda_visible_devices_then_device_files(tmp_path):
    for name in ("nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"):
        (tmp_path / name).touch()
    files = str(tmp_path / "nvidia[0-9]*")
    assert local_gpus({}, files) == 2                       # the device files, not the control nodes
    assert local_gpus({}, str(tmp_path / "none[0-9]*")) == 0
    assert local_gpus({"CUDA_VISIBLE_DEVICES": ""}, files) == 0      # hidden on purpose
    assert local_gpus({"CUDA_VISIBLE_DEVICES": "-1"}, files) == 0
    assert local_gpus({"CUDA_VISIBLE_DEVICES": "0"}, files) == 1
    assert local_gpus({"CUDA_VISIBLE_DEVICES": "2, 3"}, files) == 2
    assert local_gpus({"CUDA_VISIBLE_DEVICES": "0,-1,1"}, files) == 1  # CUDA stops at an invalid entry


def test_torch_stages_run_on_fixed_threads_and_others_on_one():
    by_name = {s.name: s for s in STAGES}
    for name in ("train", "evaluate"):
        assert by_name[name].threads == TORCH_JOB_THREADS == 1 and by_name[name].torch_threads
        assert by_name[name].resources == {"gpu": 1}
    assert all(s.threads == 1 and not s.torch_threads for s in STAGES if s.name not in ("train", "evaluate"))


def test_the_longest_training_jobs_and_the_jobs_they_wait_for_start_first():
    """Priorities (pipeline/dag/cost.py) order the committed default: the six-epoch AlexNet dagger,
    the longest job, above every other training job; a dataset's jobs above every training job
    that reads it, its cache variant above the rows that read that variant; nothing else raised."""
    from pipeline.dag.cost import RELATIVE_FRAME_COST, training_cost
    from pipeline.models.registry import list_variants

    assert set(RELATIVE_FRAME_COST) == set(list_variants())   # every variant has a measured cost
    cfg = committed_config()
    by_name = {s.name: s for s in STAGES}
    train = {job["run"]: by_name["train"].priority(cfg, job) for job in by_name["train"].jobs(cfg)}
    assert max(train, key=train.get) == "table2/alexnet_aligned"
    # cost = per-frame cost x epochs x frame share x models: AlexNet 1.7 x 6 epochs, then the
    # 10-epoch BigSmall dagger; the frame-budget Big branch 2.6 / 3; the Small branch's two single-task
    # models 0.09 x 10 x 2
    assert train["table2/alexnet_aligned"] == 1020 and train["table2/bigsmall_aligned"] == 1000
    assert train["table1/big_branch"] == 87 and train["table1/small_branch"] == 180
    run = cfg.run("table2/alexnet_aligned")
    assert training_cost(cfg.params, run) == 1.7 * 6
    for name in ("generate", "ingest", "splits", "preprocess"):
        assert by_name[name].priority(cfg, {"dataset": "bp4d"}) > max(train.values())
        assert by_name[name].priority(cfg, {"dataset": "ubfc"}) == 0   # no training job reads it
    aligned = by_name["preprocess_variant"].priority(cfg, {"dataset": "bp4d", "variant": "aligned"})
    assert max(train.values()) < aligned < by_name["preprocess"].priority(cfg, {"dataset": "bp4d"})
    assert all(s.priority is None for s in STAGES
               if s.name not in ("generate", "ingest", "splits", "preprocess", "preprocess_variant", "train"))
