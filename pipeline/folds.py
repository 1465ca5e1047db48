"""Fold membership read from ``splits.json`` (written by the splits stage)."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.errors import InputError


def read_splits(path: str | Path) -> dict:
    """A splits.json document (InputError naming the file when it is missing or not JSON)."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except json.JSONDecodeError:
        raise InputError(path, "not valid JSON") from None


def fold_of_subjects(splits: dict, path: str | Path) -> dict[str, str]:
    """subject -> name of the fold whose test set holds it (folds must be subject-disjoint)."""
    folds = splits.get("folds")
    if not isinstance(folds, list) or not folds:
        raise InputError(path, "no 'folds' list")
    owner: dict[str, str] = {}
    for i, fold in enumerate(folds):
        name = str(fold.get("name", f"fold{i + 1}"))
        for subject in fold.get("test", []):
            if subject in owner:
                raise InputError(path, f"subject {subject} in the test sets of {owner[subject]} and {name}")
            owner[str(subject)] = name
    return owner
