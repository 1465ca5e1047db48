"""The Snakefile and dvc.yaml declare the same DAG (stages, outputs, inputs, params keys)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.dag_parity import compare, dvc_dag, snakemake_dag

ROOT = Path(__file__).resolve().parent.parent


def test_snakefile_and_dvc_yaml_agree():
    assert compare(ROOT) == []


def test_every_dataset_and_stage_is_expanded():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    stages = {n.name for n in dvc_dag(ROOT)}
    for ds in params["synth"]["datasets"]:
        assert f"generate@{ds}" in stages
    for ds in params["datasets"]:
        for stage in ("ingest", "splits", "preprocess"):
            assert f"{stage}@{ds}" in stages
    for ds in params["unsupervised"]["datasets"]:
        assert f"unsupervised@{ds}" in stages
    assert {"compute_audit", "report"} <= stages


def _copy_repo(tmp_path: Path) -> Path:
    dst = tmp_path / "repo"
    ignore = shutil.ignore_patterns(".git", "data", "results", "reports", ".snakemake", "logs", "__pycache__", ".venv")
    shutil.copytree(ROOT, dst, ignore=ignore)
    subprocess.run(["git", "init", "-q"], cwd=dst, check=True)  # DVC needs a git repository
    return dst


def test_parity_check_catches_drift(tmp_path):
    """A dropped params key, a renamed output and a missing stage are all reported."""
    repo = _copy_repo(tmp_path)
    dvc = yaml.safe_load((repo / "dvc.yaml").read_text())
    dvc["stages"]["splits"]["do"]["params"] = ["splits"]  # dropped 'seed'
    dvc["stages"]["compute_audit"]["outs"][0] = {"results/compute/audit_renamed.csv": {"cache": False}}
    del dvc["stages"]["report"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    problems = "\n".join(compare(repo))
    assert "params differ" in problems and "splits@" in problems
    assert "audit_renamed.csv" in problems
    assert "Snakemake job report" in problems


def test_rule_all_requests_everything():
    jobs, targets = snakemake_dag(ROOT)
    for node in dvc_dag(ROOT):
        for out in node.outputs:
            assert out in targets, f"rule all does not request {out}"
    assert jobs


def test_snakemake_lint_passes():
    import os
    import sys

    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"]}
    proc = subprocess.run(["snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
