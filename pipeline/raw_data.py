"""Who owns ``data/raw/<name>``: the built-in generator or the user, and where data came from.

A dataset listed in ``synth.datasets`` is written by the generator; any other dataset of
``datasets`` must be supplied by the user at ``data/raw/<name>/`` (licensed data). Three guards
keep the two apart, so licensed data is never silently replaced by synthetic data:

- :func:`check_raw_folders` (Snakefile start-up, before any job): a user-supplied dataset whose
  folder is missing, a dangling symlink or empty stops the run; so does a generated dataset whose
  folder holds data the generator did not write (a licensed copy the generator would replace);
- :func:`require_user_data` (ingest CLI, which DVC runs too): the same check for one folder;
- :func:`check_generation_target` (generate CLI): refuses a dataset outside ``synth.datasets``
  and a target folder it did not write.

:func:`data_origin` labels each dataset ``built-in`` (with its preset and seed, read from the
generator's ``_truth/summary.json``) or ``user-supplied``, for every metrics file and the report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError, InputError

RAW_ROOT = Path("data") / "raw"
TRUTH_SUMMARY = Path("_truth") / "summary.json"
NAMES = {"bp4d": "BP4D+", "ubfc": "UBFC-rPPG", "pure": "PURE", "disfa": "DISFA"}


def _has_files(folder: Path) -> bool:
    """True if any file lies under ``folder`` (stops at the first; cheap on large copies)."""
    return any(p.is_file() for p in folder.rglob("*"))


def user_data_problem(raw: Path) -> str | None:
    """Why ``raw`` cannot serve as a user-supplied dataset folder, or None when it can."""
    raw = Path(raw)
    if raw.is_symlink() and not raw.exists():
        return "is a symlink to a missing folder"
    if not raw.exists():
        return "does not exist"
    if not raw.is_dir():
        return "is not a folder"
    if not _has_files(raw):
        return "is empty"
    return None


def _user_hint(dataset: str) -> str:
    return (f"put (or symlink) the {NAMES.get(dataset, dataset)} copy there, or add '{dataset}' to "
            "synth.datasets to use the built-in data")


def require_user_data(dataset: str, raw: str | Path) -> None:
    """Raise InputError (one line naming the folder and what to do) if ``raw`` is unusable."""
    problem = user_data_problem(Path(raw))
    if problem is not None:
        raise InputError(raw, f"{problem}; {_user_hint(dataset)}")


def generator_summary(raw: str | Path) -> dict | None:
    """The generator's ``_truth/summary.json`` of ``raw`` (None when absent or unreadable)."""
    path = Path(raw) / TRUTH_SUMMARY
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def foreign_data_problem(raw: Path) -> str | None:
    """Why the generator must not write ``raw``: it holds data the generator did not write."""
    raw = Path(raw)
    if raw.is_symlink():
        return "is a symlink (user-supplied data?)"
    if not raw.exists():
        return None
    if not raw.is_dir():
        return "is not a folder"
    if _has_files(raw) and generator_summary(raw) is None:
        return f"holds data the generator did not write (no {TRUTH_SUMMARY.as_posix()})"
    return None


def check_generation_target(params: dict, dataset: str, out: str | Path) -> None:
    """Refuse to generate ``dataset`` into ``out`` unless the generator owns that folder."""
    if dataset not in params["synth"]["datasets"]:
        raise ConfigError(f"generate: '{dataset}' is not in synth.datasets, so data/raw/{dataset} is "
                          "user-supplied and is never generated")
    problem = foreign_data_problem(Path(out))
    if problem is not None:
        raise InputError(out, f"{problem}; the generator would replace it: move it away, or remove "
                              f"'{dataset}' from synth.datasets to use it")


def check_raw_folders(params: dict, root: str | Path = ".") -> None:
    """Start-up check of every ``data/raw/<name>`` (see the module docstring); first problem raises."""
    synth = set(params["synth"]["datasets"])
    for dataset in params["datasets"]:
        raw = Path(root) / RAW_ROOT / dataset
        shown = (RAW_ROOT / dataset).as_posix()
        if dataset in synth:
            problem = foreign_data_problem(raw)
            if problem is not None:
                raise InputError(shown, f"{problem}, but '{dataset}' is in synth.datasets, so the "
                                        "generator would replace it: remove it from synth.datasets to "
                                        "use this copy, or move the folder away")
        else:
            problem = user_data_problem(raw)
            if problem is not None:
                raise InputError(shown, f"{problem}; '{dataset}' is not in synth.datasets, so "
                                        f"{_user_hint(dataset)}")


def data_origin(dataset: str, raw: str | Path, params: dict) -> dict[str, Any]:
    """Where the numbers of ``dataset`` come from, as written into metrics files.

    ``{"kind": "built-in", "preset": ..., "seed": ...}`` only when the dataset is in
    ``synth.datasets`` and its folder holds the generator's summary (preset and seed are read
    from that file, i.e. what was rendered); otherwise ``{"kind": "user-supplied"}``. A
    user-supplied folder that holds a generator summary (generated data copied in by hand) says
    so, so that synthetic numbers are never taken for measured ones.
    """
    summary = generator_summary(raw)
    rendered = None
    if summary is not None:
        rendered = {"preset": summary.get("difficulty"), "seed": summary.get("seed")}
    if dataset in params.get("synth", {}).get("datasets", []) and rendered is not None:
        return {"kind": "built-in", **rendered}
    origin: dict[str, Any] = {"kind": "user-supplied"}
    if rendered is not None:
        origin["generator_truth"] = rendered
    return origin


def describe_origin(origin: dict | None) -> str:
    """The origin in words, for the report."""
    if not origin:
        return "origin unknown (no data_origin recorded)"
    if origin.get("kind") == "built-in":
        return f"built-in semi-synthetic (preset {origin.get('preset')}, seed {origin.get('seed')})"
    text = "user-supplied"
    rendered = origin.get("generator_truth")
    if rendered:
        text += (f" (the folder holds the generator's truth file: semi-synthetic, preset "
                 f"{rendered.get('preset')}, seed {rendered.get('seed')})")
    return text
