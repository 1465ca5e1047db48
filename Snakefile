# Multi-task camera physiology (BigSmall) reference pipeline.
# The DAG is declared once, in pipeline/dag/spec.py: Snakemake builds its rules from it
# (workflow/rules/stages.smk) and dvc.yaml is rendered from it. Configuration: params.yaml
# (stage defaults) and experiments.yaml (the sheet of runs).

from snakemake.utils import min_version

min_version("9.0")


configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/stages.smk"


rule all:
    input:
        all_outputs(CFG),
    default_target: True


# dvc.lock after a kill: a run killed during the onsuccess commit leaves a marker, and the next
# start commits again here (a start with nothing to do runs neither onstart nor onsuccess). Only
# the snakemake command itself does it: not job subprocesses, not DVC-run jobs (DVC holds the
# repository lock), not the Python API; a dry run only says so.
import os as _os
import sys as _sys

from pipeline.dvc_sync import commit_outputs, repair_interrupted_commit, snakemake_cli_dry_run

_DRY_RUN = snakemake_cli_dry_run(_sys.argv)
if workflow.is_main_process and _DRY_RUN is not None and not _os.environ.get("PIPELINE_FROM_DVC"):
    repair_interrupted_commit(dry_run=_DRY_RUN)


onsuccess:
    # Leave dvc.lock consistent with what Snakemake built, unless DVC itself is running this
    # job (it holds the repository lock and records the stage on its own).
    if not _os.environ.get("PIPELINE_FROM_DVC"):
        commit_outputs()
