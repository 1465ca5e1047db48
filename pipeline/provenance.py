"""Provenance of a run: git commit, params hash, data hash, seed, device, versions."""

from __future__ import annotations

import datetime as _dt
import hashlib
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


def hash_files(paths: Iterable[str | Path]) -> str:
    """Content hash over files (directories are walked in sorted order)."""
    digest = hashlib.sha256()
    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p])
    for f in files:
        digest.update(str(f).encode())
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
