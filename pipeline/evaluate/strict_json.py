"""Strict JSON for metrics files: NaN and infinities become null, numpy values plain numbers.

Kept apart from the evaluation code so that aggregation imports neither torch nor the models.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.atomic import write_text


def strict_json(obj: Any) -> Any:
    """``obj`` with NaN and infinities replaced by None and numpy values made plain."""
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_strict_json(target: str | Path, obj: Any) -> None:
    """Write ``obj`` as strict JSON (no NaN tokens), atomically."""
    write_text(target, json.dumps(strict_json(obj), indent=2, sort_keys=True, allow_nan=False) + "\n")
