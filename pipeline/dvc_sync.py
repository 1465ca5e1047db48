"""Keep dvc.lock in step with what Snakemake built, also across a run killed while committing.

Snakemake's ``onsuccess`` runs ``dvc commit --force``, which records every stage's outputs in
dvc.lock. A SIGKILL during that commit leaves dvc.lock stale (or half written) while Snakemake
has nothing left to do, and Snakemake runs neither ``onstart`` nor ``onsuccess`` when nothing
is to be done. So :func:`commit_outputs` writes a marker before it commits and removes it only
once the commit succeeded; :func:`repair_interrupted_commit`, called at the top of the
Snakefile (which every start runs), finds a marker left behind and commits again.

The marker holds the dvc.lock that was valid before the commit started: if the kill left
dvc.lock empty or unparseable, it is restored first so that DVC can read it.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from pipeline.atomic import write_json, write_text
from pipeline.config import SAFE_LOADER

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
MARKER = Path(".snakemake") / "pipeline" / "dvc-commit.pending"
COMMIT = ("dvc", "commit", "--force", "--quiet")


def _paths(entries: Sequence) -> list[str]:
    """The paths of a dvc.yaml ``deps``/``outs``/``metrics``/``plots`` list (strings, or
    one-key mappings of a path to its options)."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


def _stage_paths(root: Path) -> dict[str, list[str]] | None:
    """Each dvc.yaml stage's dependency and output paths, in file order; None without a readable
    dvc.yaml."""
    try:
        stages = yaml.load((root / "dvc.yaml").read_text(), Loader=SAFE_LOADER)["stages"]
        return {name: [*_paths(stage.get("deps")), *_paths(stage.get("outs")), *_paths(stage.get("metrics")),
                       *_paths(stage.get("plots"))] for name, stage in stages.items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None


def built_stages(root: str | Path = ".") -> list[str] | None:
    """The stages of dvc.yaml whose dependencies and outputs all exist, in file order; None
    without a readable dvc.yaml.

    ``dvc commit`` fails on a stage whose output is missing, and a run of part of the DAG (one
    table, one dataset) leaves the other stages' outputs unbuilt, so only these are committed.
    """
    root = Path(root)
    return _built(root, _stage_paths(root))


def _built(root: Path, stages: dict[str, list[str]] | None) -> list[str] | None:
    if stages is None:
        return None
    return [name for name, paths in stages.items() if all((root / p).exists() for p in paths)]


def _lock_readable(text: str) -> bool:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(doc, dict) and "stages" in doc


def commit_outputs(root: str | Path = ".") -> bool:
    """``dvc commit --force`` of the built stages (:func:`built_stages`; every stage without a
    readable dvc.yaml; :func:`commit_stages` when some are unbuilt), bracketed by the marker; a
    failure warns and keeps the marker."""
    root = Path(root)
    lock = root / "dvc.lock"
    before = lock.read_text() if lock.is_file() else None
    declared = _stage_paths(root)  # dvc.yaml read once (about 5,000 lines on the default sheet)
    stages = _built(root, declared)
    if stages == []:
        (root / MARKER).unlink(missing_ok=True)  # nothing built: nothing to record, nothing to repair
        return True
    # Every stage built: `dvc commit --force`. Some unbuilt: the built ones in one pass through
    # DVC's API (`python -m pipeline.dvc_sync commit NAME...`), because `dvc commit NAME...` commits
    # each named target in a pass of its own, reading and rewriting dvc.yaml and dvc.lock each
    # time: naming the 31 stages of the tiny configuration took 77 s where one pass takes 10
    every = stages is None or len(stages) == len(declared or {})
    command = list(COMMIT) if every else [sys.executable, "-m", "pipeline.dvc_sync", "commit", *stages]
    write_json(root / MARKER, {"dvc_lock_before": before if before and _lock_readable(before) else None})
    try:
        # the package's own folder on the path: the API commit imports this module wherever root is
        path = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        ok = subprocess.run(command, cwd=root, env=env).returncode == 0
    except OSError as err:  # dvc not installed or not executable
        print(f"warning: cannot run dvc ({err.strerror})", file=sys.stderr)
        ok = False
    if ok:
        (root / MARKER).unlink(missing_ok=True)
    else:
        print("warning: dvc commit failed, dvc.lock may not match the outputs; the next snakemake run "
              "retries it (or run: dvc commit --force)", file=sys.stderr)
    return ok


def repair_interrupted_commit(root: str | Path = ".", dry_run: bool = False) -> bool | None:
    """Commit again if an earlier run died during its commit; None when there was nothing to do.

    In a dry run only a notice is printed (a dry run changes nothing).
    """
    root = Path(root)
    marker = root / MARKER
    if not marker.is_file():
        return None
    if dry_run:
        print("note: the last run was killed while updating dvc.lock; the next real run repairs it",
              file=sys.stderr)
        return None
    print("dvc.lock: the last run was killed while updating it; running dvc commit --force again",
          file=sys.stderr)
    try:
        before = json.loads(marker.read_text()).get("dvc_lock_before")
    except (OSError, ValueError, AttributeError):
        before = None
    lock = root / "dvc.lock"
    current = lock.read_text() if lock.is_file() else None
    if before is not None and (current is None or not _lock_readable(current)):
        write_text(lock, before)  # a half-written lock would stop DVC from reading any stage
    return commit_outputs(root)


def snakemake_cli_dry_run(argv: Sequence[str]) -> bool | None:
    """Whether the ``snakemake`` command line ``argv`` asks for a dry run; None when this
    process is not the snakemake command (the API used from Python, e.g. by tests)."""
    if not argv or Path(argv[0]).name not in ("snakemake", "__main__.py"):
        return None
    if Path(argv[0]).name == "__main__.py" and Path(argv[0]).parent.name != "snakemake":
        return None
    for arg in argv[1:]:
        if arg == "--":
            break
        if arg in ("--dry-run", "--dryrun", "--dry_run"):
            return True
        if arg.startswith("-") and not arg.startswith("--") and "n" in arg[1:] and arg[1:].isalpha():
            return True  # -n, or -n within a group of short flags (-np)
    return False


def commit_stages(names: Sequence[str], root: str | Path = ".") -> list[str]:
    """``dvc commit --force`` of the named stages of dvc.yaml in one pass: each stage's
    dependencies and outputs are hashed and cached, then dvc.lock is written once. Returns the
    names committed; ValueError naming a stage dvc.yaml does not have."""
    from dvc.repo import Repo, lock_repo

    wanted = list(dict.fromkeys(names))
    logging.getLogger("dvc").setLevel(logging.WARNING)  # quiet, as `dvc commit --quiet`
    repo = Repo(str(root))
    try:
        with lock_repo(repo):
            stages = {s.addressing: s for s in repo.index.stages if s.addressing in wanted}
            unknown = [n for n in wanted if n not in stages]
            if unknown:
                raise ValueError(f"dvc.yaml has no stage {unknown[0]!r}")
            files: dict[str, tuple[Any, list[Any]]] = {}
            for name in wanted:
                stage = stages[name]
                stage.save()
                stage.commit()
                files.setdefault(str(stage.dvcfile.path), (stage.dvcfile, []))[1].append(stage)
            for dvcfile, group in files.values():
                dvcfile.dump_stages(group, update_pipeline=False)
    finally:
        repo.close()
    return wanted


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pipeline.dvc_sync commit NAME...``: :func:`commit_stages` in this directory."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "commit" or len(args) < 2:
        print("usage: python -m pipeline.dvc_sync commit STAGE [STAGE ...]", file=sys.stderr)
        return 2
    try:
        commit_stages(args[1:])
    except (ImportError, AttributeError) as err:
        # DVC's Python API is not its CLI's promise: should a DVC release move it, commit through
        # the CLI, one pass per stage (slower, same result)
        print(f"note: DVC's API changed ({err}); running dvc commit per stage", file=sys.stderr)
        return subprocess.run([*COMMIT, *args[1:]]).returncode
    except Exception as err:  # DVC's own errors (a missing output, a locked repository): one line
        print(f"error: dvc commit of {len(args) - 1} stages: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
