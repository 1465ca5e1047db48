"""Stage splits: subject-disjoint cross-validation folds from an ingest manifest.

BP4D+ and DISFA use the three published folds (supp. D): each fold tests on its list and
trains on the other lists. The published BP4D+ lists omit subjects that the authors' code
release places (F006, M028 in fold 1; M016, F082 in fold 2); such subjects are reported as
``unlisted_subjects`` and, by ``splits.unlisted_policy``, either left out (``exclude``) or
placed as in the code release (``code_release``). UBFC-rPPG and PURE have no published folds:
their subjects are sorted, shuffled with the global seed and cut into ``splits.n_folds``
nearly equal folds. Only subjects with at least one ``ok`` trial are placed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.atomic import write_json
from pipeline.config import load_params
from pipeline.errors import InputError
from pipeline.manifest import read_manifest
from pipeline.provenance import provenance
from pipeline.reference.datasets import PUBLISHED_FOLD_DATASETS, code_release_placement, published_folds

UNLISTED_REASON = "not in the published splits (supp. D)"
NO_OK_REASON = "no trial passed ingest"


def natural_key(subject: str) -> tuple:
    """Sort key that orders embedded numbers numerically (subject2 < subject10)."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", subject))


def _folds_from_tests(tests: dict[str, list[str]]) -> list[dict]:
    names = list(tests)
    folds = []
    for name in names:
        train = [s for other in names if other != name for s in tests[other]]
        folds.append({"name": name, "test": sorted(tests[name], key=natural_key),
                      "train": sorted(train, key=natural_key)})
    return folds


def make_splits(dataset: str, manifest: pd.DataFrame, cfg: dict, seed: int) -> dict:
    """The splits document for a dataset (see the module docstring); ``cfg`` = ``splits``."""
    ok = manifest["status"] == "ok"
    subjects_ok = sorted(set(manifest.loc[ok, "subject"]), key=natural_key)
    # rows of unknown subject (a folder name the layout does not accept) place no subject
    all_subjects = sorted({s for s in manifest["subject"] if isinstance(s, str) and s}, key=natural_key)
    excluded = {s: NO_OK_REASON for s in all_subjects if s not in set(subjects_ok)}
    unlisted: list[str] = []
    if dataset in PUBLISHED_FOLD_DATASETS:
        published = published_folds(dataset)
        tests = {f["name"]: [s for s in f["test"] if s in subjects_ok] for f in published}
        listed = {s for f in published for s in f["test"]}
        unlisted = [s for s in subjects_ok if s not in listed]
        placement = code_release_placement() if dataset == "bp4d" else {}
        policy = cfg["unlisted_policy"]
        for s in unlisted:
            if policy == "code_release" and s in placement:
                tests[placement[s]].append(s)
            elif policy == "code_release":
                excluded[s] = f"{UNLISTED_REASON}; no placement in the code release"
            else:
                excluded[s] = UNLISTED_REASON
        source, policy_text = "published", f"published folds (supp. D); unlisted subjects: {policy}"
    else:
        n_folds = cfg["n_folds"]
        if len(subjects_ok) < n_folds:
            raise InputError(f"{dataset} manifest", f"{len(subjects_ok)} subjects with ok trials, "
                             f"fewer than splits.n_folds={n_folds}")
        order = np.random.default_rng(seed).permutation(len(subjects_ok))
        chunks = np.array_split(order, n_folds)
        tests = {f"fold{k + 1}": [subjects_ok[i] for i in chunk] for k, chunk in enumerate(chunks)}
        source, policy_text = "generated", f"sorted, shuffled with seed {seed}, {n_folds} subject-disjoint folds"
    folds = _folds_from_tests(tests)
    empty = [f["name"] for f in folds if not f["test"]]
    if empty:
        raise InputError(f"{dataset} manifest", f"no subject with ok trials in the test set of {', '.join(empty)}")
    return {"dataset": dataset, "source": source, "policy": policy_text, "folds": folds,
            "unlisted_subjects": unlisted,
            "excluded_subjects": dict(sorted(excluded.items(), key=lambda kv: natural_key(kv[0])))}


def split_dataset(dataset: str, manifest_path: Path, out: Path, params: dict) -> str:
    """Folds of ``dataset`` from its manifest, written to ``out``; return a one-line summary."""
    manifest = read_manifest(manifest_path)
    doc = make_splits(dataset, manifest, params["splits"], params["seed"])
    doc["provenance"] = provenance({"splits": params["splits"], "seed": params["seed"],
                                    "dataset": dataset}, data_paths=[manifest_path],
                                   seed=params["seed"])
    write_json(out, doc)
    sizes = ", ".join(f"{f['name']}: {len(f['test'])} test" for f in doc["folds"])
    return f"splits {dataset}: {sizes} -> {out}"
