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


def read_fold(splits_path: str | Path, fold: str) -> tuple[list[str], list[str]]:
    """(test subjects, training subjects) of ``fold`` in splits.json. Training subjects are the
    fold's ``train`` list, or the other folds' test subjects when it has none."""
    splits_path = Path(splits_path)
    splits = read_splits(splits_path)
    folds = splits.get("folds") if isinstance(splits, dict) else None
    if not isinstance(folds, list) or not folds:
        raise InputError(splits_path, "no 'folds' list")
    names = [str(f.get("name", f"fold{i + 1}")) for i, f in enumerate(folds)]
    if fold not in names:
        raise InputError(splits_path, f"no fold {fold!r} (folds: {', '.join(names)})")
    doc = folds[names.index(fold)]
    test = [str(s) for s in doc.get("test", [])]
    if "train" in doc:
        train = [str(s) for s in doc["train"]]
    else:
        train = [str(s) for name, f in zip(names, folds) if name != fold for s in f.get("test", [])]
    overlap = sorted(set(test) & set(train))
    if overlap:
        raise InputError(splits_path, f"fold {fold}: subject {overlap[0]} both trained and tested on")
    return test, train
