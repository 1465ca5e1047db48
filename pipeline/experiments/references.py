"""Cross-checks of the sheet against the published tables and the configured params.

Run at start-up (Snakefile, ``python -m pipeline validate-params``) and by the tests; no job
imports this module, so editing the published transcription re-runs only what reads it.
"""

from __future__ import annotations

from pathlib import Path

import jsonschema

from pipeline.config import load_params, load_schema, read_yaml
from pipeline.errors import ConfigError
from pipeline.experiments.sheet import STAGE_SECTIONS, load_sheet, run_folds, run_settings, runs_of

PUBLISHED_PATH = Path(__file__).resolve().parent.parent / "reference" / "published.yaml"


def check_references(sheet: dict, params: dict, source: str = "experiments.yaml") -> None:
    """Every published id names a transcribed table row, every override a key of its stage's
    section with a value its schema allows (for stages whose section exists), every cache variant one of params.yaml, and no
    run has a parent of another stage."""
    tables = read_yaml(PUBLISHED_PATH)["tables"]
    stages = {r.id: r.stage for r in runs_of(sheet)}
    schema = None  # params.yaml's schema, loaded when a row overrides a section
    validators: dict[str, jsonschema.Draft202012Validator] = {}
    for run in runs_of(sheet):
        for i, ref in enumerate(run.published):
            table = tables.get(ref["table"])
            if table is None:
                raise ConfigError(f"{source}: key '{run.tracked_key}.published.{i}.table': "
                                  f"no published table '{ref['table']}'")
            if ref["row"] not in table["rows"]:
                raise ConfigError(f"{source}: key '{run.tracked_key}.published.{i}.row': "
                                  f"table '{ref['table']}' has no row '{ref['row']}'")
        parent = run.row.get("parent")
        if parent is not None and stages[parent] != run.stage:
            raise ConfigError(f"{source}: key '{run.tracked_key}.parent': '{parent}' is a "
                              f"{stages[parent]} run, not a {run.stage} run")
        variant = run.cache
        if variant is not None and variant not in (params.get("cache_variants") or {}):
            raise ConfigError(f"{source}: key '{run.tracked_key}.cache': no cache variant '{variant}' in "
                              f"params.yaml 'cache_variants' ({', '.join(sorted(params.get('cache_variants') or {}))})")
        if variant is not None and run.stage != "train":
            raise ConfigError(f"{source}: key '{run.tracked_key}.cache': only train rows read a cache variant")
        section = STAGE_SECTIONS[run.stage]
        if section in params:
            settings = run_settings(params, run, source)
            if run.row.get("overrides"):
                # the row's values obey the section's schema like params.yaml's own (a stride of
                # 0 would otherwise fail deep inside planning or training)
                if section not in validators:
                    schema = schema or load_schema()
                    validators[section] = jsonschema.Draft202012Validator(schema["properties"][section])
                errors = sorted(validators[section].iter_errors(settings), key=lambda e: list(map(str, e.path)))
                if errors:
                    key = ".".join(map(str, errors[0].path))
                    raise ConfigError(f"{source}: key '{run.tracked_key}.overrides.{key}': {errors[0].message}")
        if run.stage == "train":
            run_folds(run, params, source)


def validate_configuration(params_path: str | Path = "params.yaml",
                           sheet_path: str | Path = "experiments.yaml") -> tuple[dict, dict]:
    """params.yaml and the sheet, each validated and cross-checked; (params, sheet)."""
    params = load_params(params_path)
    sheet = load_sheet(sheet_path)
    check_references(sheet, params, str(sheet_path))
    return params, sheet
