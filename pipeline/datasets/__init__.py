"""Dataset layouts (readers and writers of the real on-disk formats), by name."""

from __future__ import annotations

import importlib
from types import ModuleType

from pipeline.errors import ConfigError

LAYOUTS = {"bp4d": "pipeline.datasets.bp4d", "ubfc": "pipeline.datasets.ubfc",
           "pure": "pipeline.datasets.pure", "disfa": "pipeline.datasets.disfa"}


def get_layout(name: str) -> ModuleType:
    """The layout module of a dataset (``NAME``, ``FPS``, ``list_trials``, ``load_trial``,
    ``write_trial``; see ``pipeline.datasets.base``)."""
    if name not in LAYOUTS:
        raise ConfigError(f"unknown dataset '{name}' (known: {', '.join(sorted(LAYOUTS))})")
    return importlib.import_module(LAYOUTS[name])
