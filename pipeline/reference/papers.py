"""Published numbers of the BigSmall paper and supplementary, as (table, row, metric) -> value.

The transcription lives in ``published.yaml`` next to this module (its header documents the
table, row and metric names). Stages compare what they reproduce with these numbers; nothing
here is computed.
"""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from pipeline.errors import InputError

PUBLISHED_PATH = Path(__file__).resolve().parent / "published.yaml"


def _read_yaml(path: str | Path) -> Any:
    try:
        with open(path) as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except yaml.YAMLError:
        raise InputError(path, "not valid YAML") from None


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict:
    data = _read_yaml(path)
    _check(data, path)
    return data


def _check(data: Any, path: str) -> None:
    """Structural checks, so a typo in the transcription fails loudly at the first look-up."""
    if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
        raise InputError(path, "expected a mapping with a 'tables' mapping")
    for name, table in data["tables"].items():
        for key in ("title", "source", "metrics", "rows"):
            if key not in table:
                raise InputError(path, f"table '{name}' lacks '{key}'")
        metrics = table["metrics"]
        if len(set(metrics)) != len(metrics):
            raise InputError(path, f"table '{name}' lists a metric twice")
        for row, entry in table["rows"].items():
            if "label" not in entry or not isinstance(entry.get("values"), dict):
                raise InputError(path, f"table '{name}' row '{row}' needs 'label' and 'values'")
            for metric, value in entry["values"].items():
                if metric not in metrics:
                    raise InputError(path, f"table '{name}' row '{row}': unknown metric '{metric}'")
                if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                    raise InputError(path, f"table '{name}' row '{row}' metric '{metric}': not a number")


def reference(path: str | Path = PUBLISHED_PATH) -> dict:
    """The whole transcription (a deep copy: callers may modify it freely)."""
    return copy.deepcopy(_load(str(path)))


def table_names(path: str | Path = PUBLISHED_PATH) -> list[str]:
    """Names of the transcribed tables, in file order."""
    return list(_load(str(path))["tables"])


def _table(table: str, path: str | Path) -> dict:
    tables = _load(str(path))["tables"]
    if table not in tables:
        raise KeyError(f"no published table '{table}'; known: {', '.join(tables)}")
    return tables[table]


def table_info(table: str, path: str | Path = PUBLISHED_PATH) -> dict:
    """Title, source, dataset, note, metric order and per-row label/kind/config of a table."""
    entry = _table(table, path)
    return {
        "table": table,
        "title": entry["title"],
        "source": entry["source"],
        "dataset": entry.get("dataset"),
        "note": entry.get("note"),
        "metrics": list(entry["metrics"]),
        "rows": {
            row: {k: copy.deepcopy(v) for k, v in spec.items() if k != "values"}
            for row, spec in entry["rows"].items()
        },
    }


def published(table: str, path: str | Path = PUBLISHED_PATH) -> pd.DataFrame:
    """One published table as a DataFrame: index = row ids, columns = metrics (NaN = not given).

    ``df.attrs`` carries ``table``, ``title``, ``source``, ``dataset`` and ``labels`` (row id ->
    row name as printed), so a report can cite the table next to the numbers.
    """
    entry = _table(table, path)
    metrics = list(entry["metrics"])
    records = {row: spec["values"] for row, spec in entry["rows"].items()}
    frame = pd.DataFrame.from_dict(records, orient="index", dtype=float).reindex(columns=metrics)
    frame.index.name = "row"
    frame.attrs = {
        "table": table,
        "title": entry["title"],
        "source": entry["source"],
        "dataset": entry.get("dataset"),
        "labels": {row: spec["label"] for row, spec in entry["rows"].items()},
    }
    return frame


def value(table: str, row: str, metric: str, path: str | Path = PUBLISHED_PATH) -> float | None:
    """A single published number; None where the paper prints none for that cell.

    Unknown table, row or metric names raise KeyError (a misspelt look-up must not pass as an
    empty cell).
    """
    entry = _table(table, path)
    if row not in entry["rows"]:
        raise KeyError(f"published table '{table}' has no row '{row}'; rows: {', '.join(entry['rows'])}")
    if metric not in entry["metrics"]:
        raise KeyError(f"published table '{table}' has no metric '{metric}'; metrics: {', '.join(entry['metrics'])}")
    got = entry["rows"][row]["values"].get(metric)
    return None if got is None else float(got)


PAPER_TRAINING_PATH = Path(__file__).resolve().parent / "paper_training.yaml"
PAPER_TRAINING_KEYS = ("source", "optimizer", "lr", "epochs", "batch_chunks", "chunk_length", "precision",
                       "training_data")


def paper_training(path: str | Path = PAPER_TRAINING_PATH) -> dict:
    """The paper's training scale of the BP4D+ models (``paper_training.yaml``)."""
    data = _read_yaml(path)
    missing = [k for k in PAPER_TRAINING_KEYS if not isinstance(data, dict) or k not in data]
    if missing:
        raise InputError(path, f"lacks key '{missing[0]}'")
    return data
