"""Parsing helpers for label files: numeric text columns, finiteness, deterministic text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import InputError


def finite(values: np.ndarray, path: str | Path) -> np.ndarray:
    """``values`` as float64, or InputError naming the file if any value is NaN or infinite."""
    arr = np.asarray(values, np.float64)
    if arr.size == 0:
        raise InputError(path, "label file is empty")
    if not np.all(np.isfinite(arr)):
        raise InputError(path, f"non-finite label values ({int(np.sum(~np.isfinite(arr)))} samples)")
    return arr


def read_single_column(path: Path, header: bool = True) -> np.ndarray:
    """One numeric value per line (optionally after one header line), as float64."""
    if not path.is_file():
        raise InputError(path, "label file missing")
    try:
        frame = pd.read_csv(path, header=None, skiprows=1 if header else 0)
        values = frame.to_numpy(dtype=np.float64).ravel()
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise InputError(path, "label file not numeric") from None
    return finite(values, path)


def format_column(values: np.ndarray, header: str | None, fmt: str = "%.9g") -> str:
    """Text with an optional header line then one value per line (fixed format, deterministic)."""
    lines = [header] if header is not None else []
    lines.extend(fmt % v for v in np.asarray(values).ravel())
    return "\n".join(lines) + "\n"
