"""Load, validate and expand the experiment sheet (experiments.yaml).

Each row of the sheet is a ``Run``: ``<experiment>/<run>`` with the variant, tasks, data,
folds, parent run, overrides of its stage's defaults and the published rows it reproduces. A
job reads exactly one row and its stage's section of params.yaml; ``tracked_key`` names the
row for the engines' params tracking, so editing one row re-runs only that run's jobs.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import jsonschema

from pipeline.config import read_yaml
from pipeline.errors import ConfigError
from pipeline.reference.datasets import PUBLISHED_FOLD_DATASETS, published_folds

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "experiments.schema.yaml"
DEFAULT_SHEET = Path("experiments.yaml")
# the params.yaml section holding each stage's defaults (what a row's overrides replace)
STAGE_SECTIONS = {"unsupervised": "unsupervised", "compute_audit": "compute", "train": "train"}


@dataclasses.dataclass(frozen=True)
class Run:
    """One row of the sheet."""

    experiment: str
    name: str
    stage: str
    row: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.experiment}/{self.name}"

    @property
    def tracked_key(self) -> str:
        """Dotted key of this row in experiments.yaml (what both engines track)."""
        return f"experiments.{self.experiment}.runs.{self.name}"

    @property
    def datasets(self) -> list[str]:
        """Datasets the run reads (training data first), without repeats."""
        names = [self.row.get("train_data"), self.row.get("test_data")]
        return list(dict.fromkeys(n for n in names if n))

    @property
    def test_data(self) -> str | None:
        return self.row.get("test_data")

    @property
    def cache(self) -> str | None:
        """The cache variant the run reads (params.yaml ``cache_variants``), None for the plain cache."""
        return self.row.get("cache")

    def cache_dir(self, dataset: str) -> str:
        """The chunk cache of ``dataset`` this run reads: data/cache/<dataset>[-<variant>]."""
        return cache_dir(dataset, self.cache)

    @property
    def published(self) -> list[dict[str, str]]:
        return [dict(p) for p in self.row.get("published", [])]


def cache_dir(dataset: str, variant: str | None = None) -> str:
    """Where the chunk cache of ``dataset`` (of cache variant ``variant``) is written."""
    return f"data/cache/{dataset}" if variant is None else f"data/cache/{dataset}-{variant}"


def validate_sheet(doc: Any, source: str = "experiments.yaml") -> dict:
    """Schema check and parent references; ConfigError naming the first bad key."""
    schema = read_yaml(SCHEMA_PATH)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc),
                    key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        key = ".".join(str(p) for p in err.path) or "<top level>"
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            raise ConfigError(f"{source}: unknown key '{'.'.join([*map(str, err.path), *extra[:1]])}'")
        raise ConfigError(f"{source}: key '{key}': {err.message}")
    ids = {f"{e}/{r}" for e, exp in doc["experiments"].items() for r in exp["runs"]}
    for run in runs_of(doc):
        parent = run.row.get("parent")
        if parent is not None and parent not in ids:
            raise ConfigError(f"{source}: key '{run.tracked_key}.parent': no run '{parent}' in the sheet")
        if parent == run.id:
            raise ConfigError(f"{source}: key '{run.tracked_key}.parent': a run cannot be its own parent")
    return doc


def load_sheet(path: str | Path = DEFAULT_SHEET) -> dict:
    """Read and validate the sheet."""
    path = Path(path)
    return validate_sheet(read_yaml(path), str(path))


def runs_of(sheet: dict, stage: str | None = None) -> list[Run]:
    """Every row (of ``stage``, when given) in sheet order."""
    return [
        Run(exp_name, run_name, exp["stage"], copy.deepcopy(row))
        for exp_name, exp in sheet["experiments"].items()
        if stage is None or exp["stage"] == stage
        for run_name, row in exp["runs"].items()
    ]


def get_run(sheet: dict, run_id: str, source: str = "experiments.yaml") -> Run:
    """The row ``<experiment>/<run>``; ConfigError naming the known runs if absent."""
    for run in runs_of(sheet):
        if run.id == run_id:
            return run
    raise ConfigError(f"{source}: no run '{run_id}' (known: {', '.join(r.id for r in runs_of(sheet))})")


def left_out_reason(run: Run, params: dict) -> str | None:
    """Why the configured datasets leave ``run`` out (None when it runs)."""
    missing = [d for d in run.datasets if d not in params["datasets"]]
    if missing:
        return f"{', '.join(missing)} not in params.yaml 'datasets'"
    return None


def active_runs(sheet: dict, params: dict, stage: str | None = None) -> list[Run]:
    """The rows (of ``stage``) whose datasets are all configured: narrowing 'datasets' narrows
    the runs too."""
    return [r for r in runs_of(sheet, stage) if left_out_reason(r, params) is None]


def deep_merge(base: Any, override: Any) -> Any:
    """``override`` over ``base`` (mappings merged key by key, anything else replaced)."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = copy.deepcopy(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def run_settings(params: dict, run: Run, source: str = "experiments.yaml") -> dict:
    """The stage's params.yaml section with the row's overrides applied (unknown keys refused)."""
    section_name = STAGE_SECTIONS[run.stage]
    section = params.get(section_name)
    if section is None:
        raise ConfigError(f"params.yaml: no '{section_name}' section for the {run.stage} stage of '{run.id}'")
    overrides = run.row.get("overrides") or {}
    unknown = sorted(set(overrides) - set(section))
    if unknown:
        raise ConfigError(f"{source}: key '{run.tracked_key}.overrides.{unknown[0]}': "
                          f"not a key of params.yaml '{section_name}'")
    return deep_merge(section, overrides)


def fold_names(dataset: str, params: dict) -> list[str]:
    """The folds splits.json will hold for ``dataset``, known before it is written (the DAG is
    expanded from them): the published folds of BP4D+ and DISFA, else ``splits.n_folds``."""
    if dataset in PUBLISHED_FOLD_DATASETS:
        return [str(f["name"]) for f in published_folds(dataset)]
    return [f"fold{k + 1}" for k in range(int(params["splits"]["n_folds"]))]


def run_folds(run: Run, params: dict, source: str = "experiments.yaml") -> list[str]:
    """The folds ``run`` trains and evaluates: 'all' or the row's list, checked against the
    folds of its test data."""
    data = run.test_data or run.row.get("train_data")
    if data is None:
        return []
    known = fold_names(data, params)
    folds = run.row.get("folds", "all")
    if folds == "all":
        return known
    unknown = [f for f in folds if f not in known]
    if unknown:
        raise ConfigError(f"{source}: key '{run.tracked_key}.folds': {unknown[0]} is not a fold of {data} "
                          f"({', '.join(known)})")
    return list(folds)
