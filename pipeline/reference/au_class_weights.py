"""The published AU class weights (``au_class_weights.yaml``) and the trivial reference they imply
on the real data: the all-positive predictor's mean F1, which a published AU F1 has to clear to
mean that a model learned anything."""

from __future__ import annotations

from importlib import resources

import numpy as np
import yaml


def published_pos_weight(dataset: str) -> dict[str, float]:
    """AU -> published pos_weight (negatives / positives) of ``dataset``; {} if none is published."""
    text = resources.files("pipeline.reference").joinpath("au_class_weights.yaml").read_text()
    entry = yaml.safe_load(text).get(dataset)
    return {} if entry is None else {str(k): float(v) for k, v in entry["pos_weight"].items()}


def prevalence_from_pos_weight(pos_weight: dict[str, float]) -> dict[str, float]:
    """AU -> positive-frame fraction p = 1 / (1 + w), w = negatives / positives."""
    return {au: 1.0 / (1.0 + w) for au, w in pos_weight.items()}


def all_positive_f1_per_au(prevalence: dict[str, float]) -> dict[str, float]:
    """AU -> the all-positive predictor's F1 x100: precision p, recall 1, F1 2p / (1 + p)."""
    return {au: 100.0 * 2 * p / (1 + p) for au, p in prevalence.items()}


def all_positive_f1(prevalence: dict[str, float]) -> float:
    """Mean over AUs of the all-positive predictor's F1 x100 (``all_positive_f1_per_au``)."""
    if not prevalence:
        raise ValueError("no AU prevalences given")
    return float(np.mean(list(all_positive_f1_per_au(prevalence).values())))


def published_all_positive_f1(dataset: str) -> float | None:
    """The all-positive mean F1 on the real ``dataset`` implied by its published class weights
    (BP4D+: 41.0), or None where no weights are published."""
    weights = published_pos_weight(dataset)
    return all_positive_f1(prevalence_from_pos_weight(weights)) if weights else None
