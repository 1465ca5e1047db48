"""Both DAG engines end to end on the tiny configuration, from a fresh clone.

- `snakemake --cores 2` builds everything; afterwards `snakemake -n` has nothing to do and
  `dvc status` is clean (onsuccess runs dvc commit).
- `dvc repro` from another fresh clone builds everything; afterwards Snakemake agrees.
- Editing one parameter re-runs only the stages that depend on it, under both engines.
- Code: adding a stage, or editing a module no job runs, leaves every output up to date; an
  edit re-runs exactly the jobs whose stage module imports the edited file.
- The sheet: editing one row re-runs only that run's jobs (and the report).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.tiny_config import make_tiny_clone

pytestmark = pytest.mark.slow

BIN = str(Path(sys.executable).parent)
ENV = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1"}

# A parameter read only by the unsupervised evaluation (and, through its outputs, the report).
EDIT_KEY = ("unsupervised", "methods")
EDIT_VALUE = ["POS"]
EXPECTED_AFTER_EDIT = {"unsupervised", "report"}


def run(cmd: list[str], cwd: Path, timeout: int = 900) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-4000:]}"
    return out


def snakemake_pending_rules(repo: Path) -> dict[str, int]:
    """Rules (with job counts) that a dry run would execute."""
    out = run(["snakemake", "-n", "--cores", "2"], repo)
    if "Nothing to be done" in out:
        return {}
    stats = out.split("Job stats:", 1)[1]
    counts = {}
    for line in stats.splitlines():
        m = re.match(r"^\s*([A-Za-z_]\w*)\s+(\d+)\s*$", line)
        if m and m.group(1) not in {"total", "all", "job", "count"}:
            counts[m.group(1)] = int(m.group(2))
    return counts


def dvc_changed_stages(repo: Path) -> set[str]:
    status = json.loads(run(["dvc", "status", "--json"], repo).strip().splitlines()[-1] or "{}")
    return set(status)


def edit_param(repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    section, key = EDIT_KEY
    assert params[section][key] != EDIT_VALUE
    params[section][key] = EDIT_VALUE
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


@pytest.fixture(scope="module")
def snakemake_clone(tmp_path_factory):
    repo = make_tiny_clone(tmp_path_factory.mktemp("snakemake") / "repo")
    run(["snakemake", "--cores", "2"], repo)
    return repo


@pytest.fixture(scope="module")
def dvc_clone(tmp_path_factory):
    """A fresh clone reproduced by `dvc repro`, on BP4D+ alone: the whole Table 1 path (and the
    face-aligned cache variant, the baselines, the audit, the report) in 16 stages. The other
    datasets run the same stages through Snakemake above; DVC takes about 7 s per stage on 2
    cores (its lock rewrite and the delegated Snakemake start), so they are left out here."""
    repo = make_tiny_clone(tmp_path_factory.mktemp("dvc") / "repo", datasets=["bp4d"])
    out = run(["dvc", "repro"], repo)
    return repo, out


def test_snakemake_builds_everything_and_leaves_dvc_clean(snakemake_clone):
    repo = snakemake_clone
    assert (repo / "reports" / "index.html").stat().st_size > 0
    # the whole Table 1 path: every row trained, evaluated, aggregated and in the report
    table1 = json.loads((repo / "results" / "metrics" / "table1.json").read_text())
    assert set(table1["runs"]) == {f"table1/{r}" for r in yaml.safe_load(
        (repo / "experiments.yaml").read_text())["experiments"]["table1"]["runs"]}
    bigsmall = table1["runs"]["table1/bigsmall"]["metrics"]
    assert bigsmall["pulse.hr_mae"]["ci95_method"].startswith("bootstrap over test subjects")
    assert bigsmall["au.f1_mean"]["ci95"] is None  # one fold: no t-interval
    report = json.loads((repo / "reports" / "metrics.json").read_text())
    assert report["table1"]["runs"]["table1/bigsmall"]["au_f1"]["published"] == 43.3
    assert report["runs"]["table1/bigsmall"] == "results shown"
    # the trivial floor of the real data beside the AU columns, from the published class weights
    assert report["table1"]["au_f1_all_positive_published_data"] == pytest.approx(40.78, abs=0.01)
    assert "all-positive predictor reaches a mean AU F1 of 40.78" in report["table1"]["statements"][0]
    # DVC's metrics are the headline numbers alone: one per task and run, POS/CHROM per dataset
    headline = json.loads((repo / "reports" / "headline.json").read_text())
    assert set(headline["table1"]) == {"small_branch", "bigsmall"}
    assert set(headline["table1"]["bigsmall"]) == {"au_f1", "hr_mae", "rr_mae"}
    assert headline["table1"]["bigsmall"]["au_f1"] == report["table1"]["runs"]["table1/bigsmall"]["au_f1"]["reproduced"]
    shown = json.loads(run(["dvc", "metrics", "show", "--json"], repo))
    files = {path for rev in shown.values() for path in rev["data"]}
    assert files == {"reports/headline.json"}
    assert (repo / "reports" / "figures" / "table1_per_au_f1.svg").is_file()
    assert "BigSmall (table1/bigsmall): bias" in (repo / "reports" / "figures" / "table1_hr_bland_altman.txt").read_text()
    # paired comparisons: each run with a rate against its trivial predictor, the others against BigSmall
    paired = {(r["run"], r["rate"], r["against"]) for r in report["table1_paired_rates"]}
    assert ("table1/bigsmall", "heart rate", "training-fold mean rate") in paired
    assert ("table1/small_branch", "heart rate", "table1/bigsmall") in paired
    model = repo / "results" / "runs" / "table1" / "small_branch" / "fold1" / "model"
    assert {p.name for p in model.iterdir() if not p.name.startswith(".")} == {"pulse", "resp"}  # a model per task
    assert (repo / "results" / "runs" / "compute_audit" / "all_variants" / "audit.csv").exists()
    assert snakemake_pending_rules(repo) == {}
    assert dvc_changed_stages(repo) == set()


def test_torch_jobs_run_on_one_thread_and_claim_a_gpu_only_where_there_is_one(snakemake_clone):
    """Training and scoring jobs take 1 thread whatever --cores says, so every machine trains the
    same numbers and runs one of them per core, and set torch's threads to it; they claim the GPU
    resource (one job at a time) only where a GPU shows. The other jobs take one core each, with
    their command unchanged. `--cores all` is what each dvc.yaml stage passes to its Snakemake job,
    so `dvc repro` pins the threads the same way."""
    for cores, gpus in ((4, ""), (2, "0"), (1, ""), ("all", "")):
        env = {**ENV, "CUDA_VISIBLE_DEVICES": gpus}
        proc = subprocess.run(["snakemake", "-n", "--cores", str(cores), "--forcerun", "train", "preprocess"],
                              cwd=snakemake_clone, env=env, capture_output=True, text=True, timeout=900)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-4000:]
        jobs = {}
        for block in re.split(r"\n(?:local)?rule ", out)[1:]:
            if "python -m pipeline" in block:  # a stage's job (not the target rule 'all')
                jobs.setdefault(block.split(":", 1)[0], []).append(block)
        assert {"train", "evaluate", "preprocess"} <= set(jobs)
        threads = 1
        for rule, blocks in jobs.items():
            torch_job = rule in ("train", "evaluate")
            for block in blocks:
                if torch_job:
                    assert f"OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} python -m" in block, (rule, cores)
                    assert (f"threads: {threads}" in block) == (threads > 1), (rule, cores, block[:400])
                    assert f"gpu={1 if gpus else 0}" in block, (rule, gpus, block[:400])
                else:
                    assert "OMP_NUM_THREADS" not in block and "threads:" not in block, (rule, cores, block[:400])
                    assert "gpu=0" in block, (rule, block[:400])


# (dotted key, new value) -> (Snakemake rules a dry run schedules, DVC stages reported changed).
# Upstream edits must not touch generate, ingest, splits or the compute audit; DVC reports only
# the stages that list the key (downstream ones change once their inputs do).
LEARNED = {"train", "evaluate", "aggregate"}
DRY_RUN_EDITS = {
    "preprocess.small_size": (7, {"preprocess", "preprocess_variant", "unsupervised", "report", *LEARNED},
                              {"preprocess", "preprocess_variant", "report"}),
    # a cache variant's setting re-runs that variant's cache and its rows only, not the plain cache
    "cache_variants.aligned.face_alignment.enabled": (False, {"preprocess_variant", *LEARNED, "report"},
                                                      {"preprocess_variant"}),
    "signals.chrom.window_s": (3.2, {"unsupervised", "report"}, {"unsupervised", "report"}),
    "signals.pulse.order": (3, {"unsupervised", "evaluate", "aggregate", "report"},
                            {"unsupervised", "evaluate", "report"}),
    "splits.unlisted_policy": ("code_release", {"splits", "unsupervised", "report", *LEARNED}, {"splits", "report"}),
    "train.lr": (0.002, {"train", "evaluate", "aggregate", "report"}, {"train"}),
}


@pytest.mark.parametrize("key", sorted(DRY_RUN_EDITS))
def test_an_edit_schedules_only_its_dependants(snakemake_clone, key):
    repo = snakemake_clone
    value, expected_rules, expected_stages = DRY_RUN_EDITS[key]
    original = (repo / "params.yaml").read_text()
    params = yaml.safe_load(original)
    node = params
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part]
    assert node[leaf] != value
    node[leaf] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        assert set(snakemake_pending_rules(repo)) == expected_rules
        assert {s.split("-")[0] for s in dvc_changed_stages(repo)} == expected_stages
    finally:
        (repo / "params.yaml").write_text(original)
    assert snakemake_pending_rules(repo) == {}


def test_snakemake_reruns_only_affected_jobs(snakemake_clone):
    repo = snakemake_clone
    edit_param(repo)
    pending = snakemake_pending_rules(repo)
    assert set(pending) == EXPECTED_AFTER_EDIT, pending
    assert {s.split("-")[0] for s in dvc_changed_stages(repo)} == {"unsupervised"}
    run(["snakemake", "--cores", "2"], repo)
    assert snakemake_pending_rules(repo) == {}
    assert dvc_changed_stages(repo) == set()


def test_dvc_repro_builds_everything(dvc_clone):
    repo, out = dvc_clone
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    expected = {s for s in yaml.safe_load((repo / "dvc.lock").read_text())["stages"]}
    assert ran == expected and "report" in ran
    assert (repo / "reports" / "index.html").stat().st_size > 0
    assert dvc_changed_stages(repo) == set()
    # DVC delegated to the Snakemake jobs, so Snakemake has complete metadata too.
    assert snakemake_pending_rules(repo) == {}


def test_dvc_repro_reruns_only_affected_stages(dvc_clone):
    repo, _ = dvc_clone
    edit_param(repo)
    out = run(["dvc", "repro"], repo)
    ran = {s.split("-")[0] for s in re.findall(r"Running stage '([^']+)'", out)}
    assert ran == EXPECTED_AFTER_EDIT, out[-3000:]
    assert dvc_changed_stages(repo) == set()
    assert snakemake_pending_rules(repo) == {}


def stage_prefixes(names: set[str]) -> set[str]:
    return {n.split("-")[0] for n in names}


@pytest.fixture()
def restore_files(snakemake_clone):
    """Undo this test's edits of the clone's files (and dvc.yaml) afterwards."""
    saved: dict[Path, bytes | None] = {}

    def keep(*rels: str) -> None:
        for rel in rels:
            path = snakemake_clone / rel
            saved.setdefault(path, path.read_bytes() if path.exists() else None)

    keep("dvc.yaml")
    yield keep
    for path, data in saved.items():
        if data is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(data)
    assert snakemake_pending_rules(snakemake_clone) == {}


EXTRA_STAGE_MODULE = '''"""A stage added by the test: copies a dataset's splits."""
import shutil
import sys


def main(argv):
    shutil.copyfile(argv[0], argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
'''

EXTRA_STAGE_ENTRY = '''
STAGES.append(Stage(
    name="extra",
    module="pipeline.stages.extra",
    outputs={"duplicate": "results/extra/{dataset}.json"},
    jobs=_each_dataset,
    inputs=lambda cfg, job: {"splits": f"data/interim/{job['dataset']}/splits.json"},
    params=lambda cfg, job: [Param("seed")],
    args="{input.splits} {output.duplicate}",
))
'''


def test_adding_a_stage_leaves_existing_outputs_up_to_date(snakemake_clone, restore_files):
    repo = snakemake_clone
    restore_files("pipeline/dag/spec.py", "pipeline/stages/extra.py")
    (repo / "pipeline" / "stages" / "extra.py").write_text(EXTRA_STAGE_MODULE)
    spec = repo / "pipeline" / "dag" / "spec.py"
    spec.write_text(spec.read_text() + EXTRA_STAGE_ENTRY)
    n_datasets = len(yaml.safe_load((repo / "params.yaml").read_text())["datasets"])
    assert snakemake_pending_rules(repo) == {"extra": n_datasets}
    run([sys.executable, "-m", "pipeline", "dvc-yaml"], repo)
    assert stage_prefixes(dvc_changed_stages(repo)) == {"extra"}


@pytest.mark.parametrize("module,rules,stages", [
    # AU F1: re-scores the learned models, and the report, which pairs their AU decisions by the same
    # rule; the caches, the baselines and the training stay up to date
    ("pipeline/metrics/au.py", {"evaluate", "aggregate", "report"}, {"evaluate", "report"}),
    # the rate errors: the baselines and the learned models' scores; never the caches or training
    ("pipeline/metrics/rates.py", {"unsupervised", "evaluate", "aggregate", "report"}, {"unsupervised", "evaluate"}),
    # the training reader: retrains; preprocessing and the baselines stay up to date
    ("pipeline/cache/dataset.py", {"train", "evaluate", "aggregate", "report"}, {"train"}),
    # the dispatcher of `python -m pipeline` is nobody's dependency
    ("pipeline/__main__.py", set(), set()),
])
def test_a_code_edit_reruns_only_the_jobs_that_run_it(snakemake_clone, restore_files, module, rules, stages):
    repo = snakemake_clone
    restore_files(module)
    path = repo / module
    path.write_text(path.read_text() + "\n# edited\n")
    assert set(snakemake_pending_rules(repo)) == rules
    assert stage_prefixes(dvc_changed_stages(repo)) == stages


def test_editing_one_row_reruns_only_that_run(snakemake_clone, restore_files):
    repo = snakemake_clone
    restore_files("experiments.yaml")
    sheet = yaml.safe_load((repo / "experiments.yaml").read_text())
    sheet["experiments"]["baselines"]["runs"]["ubfc"]["overrides"] = {"hr_mode": "windowed"}
    (repo / "experiments.yaml").write_text(yaml.safe_dump(sheet, sort_keys=False))
    assert snakemake_pending_rules(repo) == {"unsupervised": 1, "report": 1}
    assert dvc_changed_stages(repo) == {"unsupervised-baselines-ubfc", "report"}


def test_editing_one_training_row_retrains_only_that_run(snakemake_clone, restore_files):
    repo = snakemake_clone
    restore_files("experiments.yaml")
    sheet = yaml.safe_load((repo / "experiments.yaml").read_text())
    sheet["experiments"]["table1"]["runs"]["bigsmall"]["overrides"] = {"lr": 0.002}
    (repo / "experiments.yaml").write_text(yaml.safe_dump(sheet, sort_keys=False))
    folds = sheet["experiments"]["table1"]["runs"]["bigsmall"]["folds"]
    n = len(folds) if isinstance(folds, list) else 3
    assert snakemake_pending_rules(repo) == {"train": n, "evaluate": n, "aggregate": 1, "report": 1}
    changed = dvc_changed_stages(repo)
    assert {s for s in changed if s.startswith(("train", "evaluate"))} == {
        f"{stage}-table1-bigsmall-{fold}" for stage in ("train", "evaluate")
        for fold in (folds if isinstance(folds, list) else ["fold1", "fold2", "fold3"])}
    assert stage_prefixes(changed) == {"train", "evaluate", "aggregate", "report"}
