"""Errors that carry a one-line, user-facing message naming the offending file."""

from __future__ import annotations

from pathlib import Path


class PipelineError(Exception):
    """Base class: the CLI prints ``str(err)`` as one line and exits non-zero."""


class ConfigError(PipelineError):
    """params.yaml is missing, unreadable or fails its schema."""


class InputError(PipelineError):
    """A file of the input data is missing, corrupt or inconsistent.

    ``reason`` is a short machine-friendly phrase (also used as the exclusion reason in
    manifests); ``path`` names the file at fault.
    """

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
