"""Published dataset facts: the BP4D+ and DISFA folds and the BP4D+ exclusion list (supp. D),
transcribed in ``bp4d_plus.yaml``."""

from __future__ import annotations

from importlib import resources

import yaml

from pipeline.config import SAFE_LOADER

# datasets whose folds are published (supp. D): splits uses these, never generated folds
PUBLISHED_FOLD_DATASETS = ("bp4d", "disfa")


def dataset_reference() -> dict:
    """The published splits and exclusions, by dataset (pipeline/reference/bp4d_plus.yaml)."""
    text = resources.files("pipeline.reference").joinpath("bp4d_plus.yaml").read_text()
    # libyaml's parser: Snakemake's start reads this file once per sheet row
    return yaml.load(text, Loader=SAFE_LOADER)


def published_exclusions() -> dict[str, str]:
    """BP4D+ trial id -> reason, from the supplement's list."""
    ref = dataset_reference()["bp4d"]["exclusions"]
    return {t: ref["reason"] for t in ref["trials"]}


def published_folds(dataset: str) -> list[dict]:
    """The published folds of ``dataset`` (each with its test subjects)."""
    return dataset_reference()[dataset]["folds"]


def code_release_placement() -> dict[str, str]:
    """BP4D+ subjects absent from the published splits -> fold of the authors' code release."""
    return dict(dataset_reference()["bp4d"]["code_release_placement"])
