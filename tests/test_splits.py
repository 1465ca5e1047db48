"""Splits: published folds reproduced exactly, disjointness, determinism, unlisted policy."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipeline import splits as sp
from pipeline.__main__ import main as cli
from pipeline.errors import InputError
from pipeline.manifest import MANIFEST_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
CFG = {"unlisted_policy": "exclude", "n_folds": 3}

# supp. D, in the order printed there
SUPP_SPLIT1 = ("F003 F004 F005 F009 F017 F022 F028 F029 F031 F032 F033 F038 F044 F047 F048 F052 F053 "
               "F055 F061 F063 F067 F068 F074 F075 F076 F081 M003 M005 M006 M009 M012 M019 M025 M026 "
               "M031 M036 M037 M040 M046 M047 M049 M051 M054 M056").split()
SUPP_SPLIT2 = ("F001 F002 F008 F018 F021 F025 F026 F035 F036 F037 F039 F040 F041 F042 F046 F049 F057 "
               "F058 F060 F062 F064 F066 F070 F071 F072 F073 F077 M001 M002 M007 M013 M014 M022 M023 "
               "M024 M027 M029 M030 M034 M035 M041 M042 M043 M048 M055").split()
SUPP_SPLIT3 = ("F078 M008 F080 M011 F014 M033 F020 M010 M052 M057 M017 M038 F030 F051 M032 F013 F011 "
               "F015 F016 F065 M015 M020 F007 F050 F010 M021 F012 F045 F059 M045 F023 M004 F069 M044 "
               "M053 M018 M058 M050 F019 F024 F034 F079 M039 F056 F054 F027 F043").split()


def manifest(dataset: str, trials: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Rows (subject, task, status) in the manifest format."""
    rows = [{"dataset": dataset, "trial_id": f"{s}{t}", "subject": s, "task": t, "status": st,
             "reason": "" if st == "ok" else "x"} for s, t, st in trials]
    return pd.DataFrame(rows).reindex(columns=MANIFEST_COLUMNS)


def all_bp4d(extra: list[str] = ()) -> pd.DataFrame:
    subjects = SUPP_SPLIT1 + SUPP_SPLIT2 + SUPP_SPLIT3 + list(extra)
    return manifest("bp4d", [(s, t, "ok") for s in subjects for t in ("T1", "T8")])


def test_bp4d_published_folds_exactly() -> None:
    doc = sp.make_splits("bp4d", all_bp4d(), CFG, seed=0)
    assert doc["source"] == "published"
    tests = [f["test"] for f in doc["folds"]]
    assert tests == [sorted(SUPP_SPLIT1), sorted(SUPP_SPLIT2), sorted(SUPP_SPLIT3)]
    assert [len(t) for t in tests] == [44, 45, 47]
    for k, fold in enumerate(doc["folds"]):
        others = [s for j, t in enumerate(tests) if j != k for s in t]
        assert fold["train"] == sorted(others)
        assert not set(fold["train"]) & set(fold["test"])
    assert doc["unlisted_subjects"] == [] and doc["excluded_subjects"] == {}


def test_unlisted_subjects_both_policies() -> None:
    extra = ["F006", "F082", "M016", "M028"]
    doc = sp.make_splits("bp4d", all_bp4d(extra), CFG, seed=0)
    assert doc["unlisted_subjects"] == extra
    assert doc["excluded_subjects"] == {s: sp.UNLISTED_REASON for s in extra}
    placed = {s for f in doc["folds"] for s in f["test"] + f["train"]}
    assert not placed & set(extra)
    doc = sp.make_splits("bp4d", all_bp4d(extra), {**CFG, "unlisted_policy": "code_release"}, seed=0)
    assert doc["unlisted_subjects"] == extra and doc["excluded_subjects"] == {}
    tests = {f["name"]: f["test"] for f in doc["folds"]}
    assert tests["fold1"] == sorted(SUPP_SPLIT1 + ["F006", "M028"])
    assert tests["fold2"] == sorted(SUPP_SPLIT2 + ["F082", "M016"])
    assert tests["fold3"] == sorted(SUPP_SPLIT3)
    assert [len(t) for t in tests.values()] == [46, 47, 47]  # the code release's fold sizes


def test_only_subjects_with_ok_trials_are_placed() -> None:
    table = manifest("bp4d", [("F003", "T1", "ok"), ("F001", "T1", "ok"), ("F007", "T1", "ok"),
                              ("F004", "T1", "excluded"), ("F004", "T6", "excluded"),
                              ("F002", "T1", "excluded"), ("F002", "T6", "ok"), ("M099", "T1", "ok")])
    doc = sp.make_splits("bp4d", table, CFG, seed=0)
    assert [f["test"] for f in doc["folds"]] == [["F003"], ["F001", "F002"], ["F007"]]
    assert doc["folds"][0]["train"] == ["F001", "F002", "F007"]
    assert doc["excluded_subjects"] == {"F004": sp.NO_OK_REASON, "M099": sp.UNLISTED_REASON}
    assert doc["unlisted_subjects"] == ["M099"]
    # a published fold left without test subjects is an error, not an empty fold
    with pytest.raises(InputError, match="fold3"):
        sp.make_splits("bp4d", table[table["subject"] != "F007"], CFG, seed=0)


def test_disfa_published_folds() -> None:
    subjects = [f"SN{k:03d}" for k in (*range(1, 14), 16, 17, 18, 21, *range(23, 33))]
    assert len(subjects) == 27
    doc = sp.make_splits("disfa", manifest("disfa", [(s, "left", "ok") for s in subjects]), CFG, seed=0)
    assert [f["test"] for f in doc["folds"]] == [
        [f"SN{k:03d}" for k in range(1, 10)],
        ["SN010", "SN011", "SN012", "SN013", "SN016", "SN017", "SN018", "SN021", "SN023"],
        [f"SN{k:03d}" for k in range(24, 33)]]
    assert doc["unlisted_subjects"] == []


def test_generated_folds_disjoint_deterministic_seeded() -> None:
    subjects = [f"subject{k}" for k in (1, 3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16)]
    table = manifest("ubfc", [(s, "vid", "ok") for s in subjects])
    doc = sp.make_splits("ubfc", table, {**CFG, "n_folds": 4}, seed=0)
    assert doc["source"] == "generated" and len(doc["folds"]) == 4
    tests = [f["test"] for f in doc["folds"]]
    assert sorted(len(t) for t in tests) == [3, 3, 3, 4]
    assert sorted(s for t in tests for s in t) == sorted(subjects)  # a partition
    for fold in doc["folds"]:
        assert not set(fold["train"]) & set(fold["test"])
        assert sorted(fold["train"] + fold["test"]) == sorted(subjects)
        assert fold["test"] == sorted(fold["test"], key=sp.natural_key)
    # same seed -> same folds, whatever the manifest's row order; another seed -> others
    again = sp.make_splits("ubfc", table.iloc[::-1], {**CFG, "n_folds": 4}, seed=0)
    assert again == doc
    other = sp.make_splits("ubfc", table, {**CFG, "n_folds": 4}, seed=1)
    assert [f["test"] for f in other["folds"]] != tests


def test_pure_subject_is_person_and_trials_stay_together() -> None:
    trials = [(f"{p:02d}", f"{m:02d}", "ok") for p in range(1, 11) for m in range(1, 7)]
    doc = sp.make_splits("pure", manifest("pure", trials), CFG, seed=0)
    tests = [f["test"] for f in doc["folds"]]
    assert sorted(s for t in tests for s in t) == [f"{p:02d}" for p in range(1, 11)]
    assert sorted(len(t) for t in tests) == [3, 3, 4]
    with pytest.raises(InputError, match="fewer than splits.n_folds"):
        sp.make_splits("pure", manifest("pure", trials[:6]), CFG, seed=0)


def test_cli_writes_splits_json(tmp_path: Path) -> None:
    table = all_bp4d(["F006"])
    mpath = tmp_path / "manifest.csv"
    table.to_csv(mpath, index=False)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["splits"] = {"unlisted_policy": "code_release", "n_folds": 3}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "splits.json"
    assert cli(["splits", "--dataset", "bp4d", "--params", str(tmp_path / "params.yaml"),
                "--manifest", str(mpath), "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert set(doc) == {"dataset", "source", "policy", "folds", "unlisted_subjects",
                        "excluded_subjects", "provenance"}
    assert doc["unlisted_subjects"] == ["F006"] and "F006" in doc["folds"][0]["test"]
    assert doc["provenance"]["seed"] == params["seed"] and doc["provenance"]["data_hash"]
