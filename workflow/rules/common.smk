# Config validation, tracked-params accessor and the DAG axes, shared by all rule files.

import glob
import os
import re
import sys

from pipeline.config import get as _param, validate_params
from pipeline.errors import PipelineError
from pipeline.raw_data import check_raw_folders

# One clear line naming the bad key or folder, before any job starts. set_default is never
# used: a value DVC cannot see in params.yaml must not exist. The folder check stops a run on
# a missing or empty user-supplied data/raw/<name> (instead of planning jobs that cannot run)
# and on a generated dataset whose folder holds data the generator did not write.
try:
    validate_params(config, "params.yaml")
    check_raw_folders(config)
except PipelineError as err:
    sys.stderr.write(f"error: {err}\n")
    sys.exit(1)

DATASETS = list(config["datasets"])
# subset of DATASETS (validated): only these data/raw/<name> folders are generator outputs
SYNTH_DATASETS = list(config["synth"]["datasets"])
PULSE_DATASETS = list(config["unsupervised"]["datasets"])

# Code every stage runs through (the CLI and its shared helpers).
CORE = [
    "pipeline/__main__.py",
    "pipeline/atomic.py",
    "pipeline/config.py",
    "pipeline/errors.py",
    "pipeline/provenance.py",
]
# who owns data/raw/<name> and the data origin: imported by generate, ingest (so splits) and report
RAW_DATA = "pipeline/raw_data.py"


def one_of(names):
    """A wildcard regex matching exactly these names (and nothing when there is none)."""
    return "|".join(re.escape(n) for n in sorted(names)) or "(?!)"


wildcard_constraints:
    dataset=one_of(DATASETS),


def tracked(*keys):
    """The params.yaml values under dotted keys, as one mapping.

    Snakemake re-runs a job when this mapping changes; dvc.yaml lists the same keys under
    `params:`, so both engines react to the same edits.
    """
    return {key: _param(config, key) for key in keys}


def code(*paths):
    """Source files of the given modules/packages (package folders are walked)."""
    files = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(
                f
                for f in sorted(glob.glob(f"{path}/**/*", recursive=True))
                if os.path.isfile(f) and "__pycache__" not in f and not f.endswith(".pyc")
            )
        else:
            files.append(path)
    return files


def all_outputs():
    """Every output that dvc.yaml declares (rule all requests them all)."""
    return (
        expand("data/raw/{dataset}", dataset=SYNTH_DATASETS)
        + expand(
            [
                "data/interim/{dataset}/manifest.csv",
                "data/interim/{dataset}/manifest.json",
                "data/interim/{dataset}/splits.json",
                "data/cache/{dataset}",
            ],
            dataset=DATASETS,
        )
        + expand(
            [
                "results/unsupervised/{dataset}/metrics.json",
                "results/unsupervised/{dataset}/predictions.csv",
            ],
            dataset=PULSE_DATASETS,
        )
        + ["results/compute/audit.csv", "results/compute/audit.json"]
        + REPORT_OUTPUTS
    )


REPORT_OUTPUTS = [
    "reports/index.html",
    "reports/metrics.json",
    "reports/tables",
    "reports/figures",
]
