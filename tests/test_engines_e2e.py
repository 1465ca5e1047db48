"""Both DAG engines end to end on the tiny configuration, from a fresh clone.

- `snakemake --cores 2` builds everything; afterwards `snakemake -n` has nothing to do and
  `dvc status` is clean (onsuccess runs dvc commit).
- `dvc repro` from another fresh clone builds everything; afterwards Snakemake agrees.
- Editing one parameter re-runs only the stages that depend on it, under both engines.
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
    repo = make_tiny_clone(tmp_path_factory.mktemp("dvc") / "repo")
    out = run(["dvc", "repro"], repo)
    return repo, out


def test_snakemake_builds_everything_and_leaves_dvc_clean(snakemake_clone):
    repo = snakemake_clone
    assert (repo / "reports" / "index.html").stat().st_size > 0
    assert (repo / "results" / "compute" / "audit.csv").exists()
    assert snakemake_pending_rules(repo) == {}
    assert dvc_changed_stages(repo) == set()


# (dotted key, new value) -> (Snakemake rules a dry run schedules, DVC stages reported changed).
# Upstream edits must not touch generate, ingest, splits or the compute audit; DVC reports only
# the stages that list the key (downstream ones change once their inputs do).
DRY_RUN_EDITS = {
    "preprocess.small_size": (7, {"preprocess", "unsupervised", "report"}, {"preprocess", "report"}),
    "signals.chrom.window_s": (3.2, {"unsupervised", "report"}, {"unsupervised", "report"}),
    "splits.unlisted_policy": ("code_release", {"splits", "unsupervised", "report"}, {"splits", "report"}),
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
        assert {s.split("@")[0] for s in dvc_changed_stages(repo)} == expected_stages
    finally:
        (repo / "params.yaml").write_text(original)
    assert snakemake_pending_rules(repo) == {}


def test_snakemake_reruns_only_affected_jobs(snakemake_clone):
    repo = snakemake_clone
    edit_param(repo)
    pending = snakemake_pending_rules(repo)
    assert set(pending) == EXPECTED_AFTER_EDIT, pending
    assert {s.split("@")[0] for s in dvc_changed_stages(repo)} == {"unsupervised"}
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
    ran = {s.split("@")[0] for s in re.findall(r"Running stage '([^']+)'", out)}
    assert ran == EXPECTED_AFTER_EDIT, out[-3000:]
    assert dvc_changed_stages(repo) == set()
    assert snakemake_pending_rules(repo) == {}
