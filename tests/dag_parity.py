"""Expand the Snakemake DAG and the DVC DAG of a checkout and compare them.

Kept in one module because the Snakemake side uses private API (pinned snakemake==9.27.1).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path

SNAKEMAKE_ONLY_PREFIXES = ("logs/",)
DELEGATION_PREFIX = "PIPELINE_FROM_DVC=1 snakemake --cores all -q -f --allowed-rules"


@dataclass
class Node:
    """One job (Snakemake) or stage (DVC), reduced to what the two engines must agree on."""

    name: str
    rule: str
    cmd: str
    outputs: tuple[str, ...]
    inputs: tuple[str, ...]
    params: frozenset[str] = field(default_factory=frozenset)


def _norm(path: str) -> str:
    return os.path.normpath(str(path))


def snakemake_dag(root: Path) -> tuple[list[Node], set[str]]:
    """All jobs of the full DAG (forceall) and the files requested by the default target."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DAGSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
    )

    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api:
            workflow_api = api.workflow(
                resource_settings=ResourceSettings(cores=1),
                config_settings=ConfigSettings(),
                snakefile=Path(root) / "Snakefile",
                workdir=Path(root),
            )
            dag_api = workflow_api.dag(dag_settings=DAGSettings(forceall=True))
            workflow = workflow_api._workflow
            workflow.dag_settings = dag_api.dag_settings
            workflow._prepare_dag(forceall=True, ignore_incomplete=True, lock_warn_only=True, nolock=True)
            workflow._build_dag()
            jobs, targets = [], set()
            for job in workflow.dag.jobs:
                if job.rule.name == "all":
                    targets = {_norm(f) for f in job.input}
                    continue
                tracked = job.params.get("tracked", {}) if hasattr(job.params, "get") else {}
                jobs.append(
                    Node(
                        name=f"{job.rule.name}{dict(job.wildcards)}",
                        rule=job.rule.name,
                        cmd=" ".join(str(job.shellcmd or "").split()),
                        outputs=tuple(_norm(f) for f in job.output if not str(f).startswith(SNAKEMAKE_ONLY_PREFIXES)),
                        inputs=tuple(_norm(f) for f in job.input),
                        params=frozenset(tracked),
                    )
                )
    finally:
        os.chdir(cwd)
    return jobs, targets


def dvc_dag(root: Path) -> list[Node]:
    """All stages of dvc.yaml, fully expanded (foreach/matrix)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    nodes = []
    with Repo(str(root)) as repo:
        for stage in repo.index.stages:
            params: set[str] = set()
            inputs = []
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    params.update(dep.params)
                else:
                    inputs.append(_norm(dep.def_path))
            nodes.append(
                Node(
                    name=stage.addressing,
                    rule=stage.addressing.split("@")[0],
                    cmd=" ".join(str(stage.cmd).split()),
                    outputs=tuple(_norm(o.def_path) for o in stage.outs),
                    inputs=tuple(inputs),
                    params=frozenset(params),
                )
            )
    return nodes


def delegation_command(rule: str, outputs: tuple[str, ...]) -> str:
    """The one command a DVC stage may run: exactly its Snakemake job."""
    return f"{DELEGATION_PREFIX} {rule} -- " + " ".join(shlex.quote(o) for o in outputs)


def covered(path: str, others: tuple[str, ...] | set[str]) -> bool:
    """True if ``path`` is one of ``others`` or lies inside a directory among them."""
    return any(path == o or path.startswith(o.rstrip("/") + "/") for o in others)


def compare(root: Path) -> list[str]:
    """Differences between the two DAGs, as readable lines (empty when they agree)."""
    jobs, targets = snakemake_dag(root)
    stages = dvc_dag(root)
    problems: list[str] = []
    by_outputs = {frozenset(j.outputs): j for j in jobs}
    matched = set()
    for stage in stages:
        job = by_outputs.get(frozenset(stage.outputs))
        if job is None:
            problems.append(f"DVC stage {stage.name}: no Snakemake job has outputs {sorted(stage.outputs)}")
            continue
        matched.add(frozenset(job.outputs))
        if stage.rule != job.rule:
            problems.append(f"DVC stage {stage.name} is named after another rule than job {job.name}")
        expected_cmd = delegation_command(job.rule, job.outputs)
        if stage.cmd != expected_cmd:
            problems.append(f"DVC stage {stage.name}: cmd is '{stage.cmd}', expected '{expected_cmd}'")
        if stage.params != job.params:
            problems.append(
                f"{stage.name}: params differ: DVC only {sorted(stage.params - job.params)},"
                f" Snakemake only {sorted(job.params - stage.params)}"
            )
        for path in job.inputs:
            if not covered(path, stage.inputs):
                problems.append(f"{stage.name}: Snakemake input {path} is not a DVC dep")
        for path in stage.inputs:
            if not any(covered(i, (path,)) for i in job.inputs):
                problems.append(f"{stage.name}: DVC dep {path} is no Snakemake input")
    for job in jobs:
        if frozenset(job.outputs) not in matched:
            problems.append(f"Snakemake job {job.name}: no DVC stage has outputs {sorted(job.outputs)}")
    consumed = {i for j in jobs for i in j.inputs}
    for stage in stages:
        for out in stage.outputs:
            if out not in targets and not covered(out, consumed) and not any(covered(c, (out,)) for c in consumed):
                problems.append(f"DVC output {out} is neither requested by rule all nor consumed by a job")
    return problems
