"""The trial manifest (``data/interim/<dataset>/manifest.csv``): its columns and its reader.

Written by ingest, read by splits, preprocess and the report; one row per trial found, ``ok`` or
``excluded`` with a reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from pipeline.errors import InputError

MANIFEST_COLUMNS = ["dataset", "trial_id", "subject", "task", "n_frames", "fps", "duration_s",
                    "pulse_len", "resp_len", "au_len", "au_start", "au_stop", "au_uncoded_frames",
                    "status", "reason", "warning"]
INT_COLUMNS = ["n_frames", "pulse_len", "resp_len", "au_len", "au_start", "au_stop", "au_uncoded_frames"]
NUMERIC_COLUMNS = ["n_frames", "fps", "duration_s", *INT_COLUMNS[1:]]


def read_manifest(path: str | Path, required: Sequence[str] = tuple(MANIFEST_COLUMNS)) -> pd.DataFrame:
    """Read a manifest written by ingest (empty strings stay strings); InputError naming the file
    when it is missing, unreadable or lacks one of the ``required`` columns."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"trial_id": str, "subject": str, "task": str,
                                         "status": str, "reason": str, "warning": str}, keep_default_na=False,
                            na_values={c: [""] for c in NUMERIC_COLUMNS})
    except FileNotFoundError:
        raise InputError(path, "manifest not found") from None
    except (OSError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise InputError(path, "manifest unreadable") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(path, f"manifest lacks columns {missing}")
    return table
