# Configuration checks and the helpers that turn the DAG declaration (pipeline/dag/spec.py)
# into Snakemake rules. No stage is declared here.

import os
import re
import sys

from pipeline.config import get as _param
from pipeline.dag.dvc_yaml import write_dvc_yaml
from pipeline.dag.machine import local_gpus
from pipeline.dag.spec import PARAMS, SHEET, STAGES, Config, all_outputs
from pipeline.errors import PipelineError
from pipeline.experiments.references import check_references
from pipeline.experiments.sheet import load_sheet, validate_sheet
from pipeline.raw_data import check_raw_folders

# One clear line naming the bad key or folder, before any job starts. set_default is never
# used: a value DVC cannot see in params.yaml must not exist. The folder check stops a run on
# a missing or empty user-supplied data/raw/<name> (instead of planning jobs that cannot run)
# and on a generated dataset whose folder holds data the generator did not write.
try:
    from pipeline.config import validate_params

    validate_params(config, PARAMS)
    _SHEET = load_sheet(SHEET)
    check_references(_SHEET, config, SHEET)
    check_raw_folders(config)
except PipelineError as err:
    sys.stderr.write(f"error: {err}\n")
    sys.exit(1)

CFG = Config(config, _SHEET)


def one_of(names):
    """A wildcard regex matching exactly these names (and nothing when there is none)."""
    return "|".join(re.escape(n) for n in sorted(set(names))) or "(?!)"


def constraints(stage):
    """Each wildcard of ``stage`` limited to the values its jobs take."""
    values = {}
    for job in stage.jobs(CFG):
        for key, value in job.items():
            values.setdefault(key, []).append(value)
    return {w: one_of(values.get(w, [])) for w in stage.wildcards}


def _job(wildcards):
    return {k: v for k, v in wildcards.items()}


def resources_of(stage):
    """The job's resources. A job that can use a GPU claims one only where one shows
    (pipeline/dag/machine.py): the default profile then runs one at a time on it, and on a
    machine without a GPU the torch jobs run side by side as cores allow (the SLURM profile
    requests GPUs itself, set-resources)."""
    res = dict(stage.resources)
    if "gpu" in res and not local_gpus():
        res["gpu"] = 0
    return res


def priority_of(stage):
    """The job's priority (pipeline/dag/cost.py: the longest training jobs start first, and the
    jobs they wait for before them); 0 where the stage declares none."""
    if stage.priority is None:
        return 0
    return lambda wildcards: stage.priority(CFG, _job(wildcards))


def shell_of(stage):
    """The job's command line. The torch stages run with torch's threads set to the job's; the
    others keep the command they had, since Snakemake re-runs a job whose command text changed."""
    if stage.torch_threads:
        return "OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads} {params.command} 2>&1 | tee {log}"
    return "{params.command} 2>&1 | tee {log}"


def inputs_of(stage):
    """Input function: the job's data inputs plus the stage module's import closure."""
    code = stage.code
    return lambda wildcards: {**stage.inputs(CFG, _job(wildcards)), "code": code}


def outputs_of(stage):
    """Named outputs, folders as directory(), report annotations as report()."""
    outs = {}
    for key, path in stage.outputs.items():
        if key in stage.directories:
            outs[key] = directory(path)
        elif key in stage.report:
            ann = stage.report[key]
            outs[key] = report(path, category=ann["category"], caption=os.path.relpath(ann["caption"], "workflow/rules"))
        else:
            outs[key] = path
    return outs


def tracked_of(stage):
    """Params function: the values of the keys the job reads (Snakemake re-runs a job when it
    changes; dvc.yaml lists the same keys, so both engines react to the same edits)."""

    def tracked(wildcards):
        values = {}
        for p in stage.params(CFG, _job(wildcards)):
            source = config if p.file == PARAMS else _SHEET
            values[f"{p.file}:{p.key}"] = _param(source, p.key)
        return values

    return tracked


class _Joined:
    """Attribute access that gives a path, or paths joined by spaces (Snakemake's shell style)."""

    def __init__(self, values):
        self._values = values

    def __getattr__(self, name):
        value = self._values[name]
        return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def command_of(stage):
    """Params function: the stage module's command line for one job.

    Built here rather than in a ``shell:`` directive because Snakemake evaluates a rule's shell
    expression again when the job runs, when the loop variable names the last stage.
    """
    extra = stage.extra or (lambda cfg, job: {})

    def command(wildcards, input, output):
        job = _job(wildcards)
        args = stage.args.format(input=_Joined(dict(input.items())), output=_Joined(dict(output.items())),
                                 wildcards=_Joined(job), params=_Joined(extra(CFG, job)))
        return f"python -m {stage.module} {args}"

    return command


# dvc.yaml is generated from the same declaration: a configuration edit that adds or removes
# jobs (a row, a dataset) rewrites it here; inside a DVC-run job a stale file is an error,
# since DVC is already executing the old one.
# A dry run only says so.
if workflow.is_main_process:
    from pipeline.dag.dvc_yaml import render as _render_dvc_yaml
    from pipeline.dvc_sync import snakemake_cli_dry_run as _dry_run_of

    if not os.path.isfile("dvc.yaml") or open("dvc.yaml").read() != _render_dvc_yaml(CFG):
        if os.environ.get("PIPELINE_FROM_DVC"):
            sys.stderr.write("error: dvc.yaml is stale for this params.yaml/experiments.yaml: run "
                             "`python -m pipeline dvc-yaml`, then `dvc repro` again\n")
            sys.exit(1)
        if _dry_run_of(sys.argv) is not False:  # a dry run, or not the snakemake command
            sys.stderr.write("note: dvc.yaml is stale for this configuration; a real run (or "
                             "`python -m pipeline dvc-yaml`) rewrites it\n")
        else:
            write_dvc_yaml(CFG)
            sys.stderr.write("dvc.yaml rewritten from the DAG declaration for this configuration\n")
