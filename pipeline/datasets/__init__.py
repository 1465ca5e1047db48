"""Dataset layouts (readers and writers of the real on-disk formats), by name."""

from __future__ import annotations

import importlib
from types import ModuleType

from pipeline.errors import ConfigError

LAYOUTS = {"bp4d": "pipeline.datasets.bp4d", "ubfc": "pipeline.datasets.ubfc",
           "pure": "pipeline.datasets.pure", "disfa": "pipeline.datasets.disfa"}


def check_dataset(name: str) -> str:
    """``name`` if it is a known dataset, else ConfigError listing the known ones.

    Used as the argparse ``type`` of every stage's ``--dataset``: the error propagates out of
    the parser as one line (``python -m pipeline`` prints it), before any file is looked for.
    """
    if name not in LAYOUTS:
        raise ConfigError(f"unknown dataset '{name}' (known: {', '.join(sorted(LAYOUTS))})")
    return name


def get_layout(name: str) -> ModuleType:
    """The layout module of a dataset (``NAME``, ``FPS``, ``list_trials``, ``load_trial``,
    ``write_trial``; see ``pipeline.datasets.base``)."""
    return importlib.import_module(LAYOUTS[check_dataset(name)])
