"""Provenance of a run: git commit, params hash, data hash, seed, device, versions."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable

from pipeline.config import REPO_ROOT, params_hash


def git_commit() -> str:
    """HEAD commit, with '+dirty' when tracked files differ from it; 'unknown' outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# Keys of provenance records that say when, not what: left out of data hashes so that the same
# data hashes the same on every run.
VOLATILE_KEYS = frozenset({"created_utc"})


def _without_volatile(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_without_volatile(v) for v in value]
    return value


def _stable_name(path: Path) -> str:
    """The file's name relative to the repository (or its bare name): the same in every clone."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return path.name


def hash_files(paths: Iterable[str | Path]) -> str:
    """Content hash over files (directories are walked in sorted order). JSON files are hashed
    without their creation time stamps, so re-running a stage on the same data keeps the hash."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    for f in files:
        digest.update(_stable_name(f).encode())
        if f.suffix == ".json":
            try:
                doc = json.loads(f.read_text())
            except (ValueError, UnicodeDecodeError):
                pass
            else:
                digest.update(json.dumps(_without_volatile(doc), sort_keys=True).encode())
                continue
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def device_name() -> str:
    """The accelerator a stage could compute on. Stages that never load torch run on the CPU;
    importing torch just to say so would cost seconds at every stage start."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(0)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def provenance(params_subset: Any, data_paths: Iterable[str | Path] = (), seed: int | None = None) -> dict:
    """A provenance record for a stage output."""
    return {
        "git_commit": git_commit(),
        "params_hash": params_hash(params_subset),
        "data_hash": hash_files(data_paths) if data_paths else None,
        "seed": seed,
        "device": device_name(),
        "python": platform.python_version(),
        "created_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
