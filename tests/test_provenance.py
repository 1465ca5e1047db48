"""Provenance records: the data hash depends on content only, never on when or where."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.provenance import hash_files, provenance


def write_run(folder: Path, value: float, created: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(
        {"mae": value, "provenance": {"created_utc": created, "seed": 0}}))
    (folder / "predictions.csv").write_text(f"trial,hr\nF001T1,{value}\n")
    return folder


def test_data_hash_ignores_time_stamps_and_location(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a" / "run", 1.5, "2026-01-01T00:00:00+00:00")
    b = write_run(tmp_path / "b" / "run", 1.5, "2026-06-30T12:00:00+00:00")
    assert hash_files([a]) == hash_files([b])
    c = write_run(tmp_path / "c" / "run", 1.6, "2026-01-01T00:00:00+00:00")
    assert hash_files([c]) != hash_files([a])
    # the file names are part of the hash: the same bytes under another name differ
    (b / "predictions.csv").rename(b / "other.csv")
    assert hash_files([b]) != hash_files([a])


def test_non_json_content_in_a_json_file_is_hashed_as_bytes(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("not json {")
    first = hash_files([tmp_path / "x.json"])
    (tmp_path / "x.json").write_text("not json }")
    assert hash_files([tmp_path / "x.json"]) != first


def test_provenance_record_fields(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", 2.0, "2026-01-01T00:00:00+00:00")
    rec = provenance({"k": 1}, [run], seed=7)
    assert set(rec) >= {"git_commit", "params_hash", "data_hash", "seed", "device", "created_utc"}
    assert rec["seed"] == 7 and rec["data_hash"] == hash_files([run])
    assert rec["params_hash"] == provenance({"k": 1})["params_hash"] != provenance({"k": 2})["params_hash"]
    assert rec["device"].startswith(("cpu:", "cuda:"))
