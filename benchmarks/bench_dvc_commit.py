"""Time the closing commit of a Snakemake run in a built repository, the three ways DVC can take it.

A copy of the repository is committed from the same state each time:
- `dvc commit --force` (every stage; what a run that built everything runs),
- `dvc commit --force NAME...` of the built stages (DVC takes a pass over dvc.yaml and dvc.lock
  per name),
- `python -m pipeline.dvc_sync commit NAME...` (one pass through DVC's API; what a run that left
  some stages unbuilt runs).

Usage: .venv/bin/python benchmarks/bench_dvc_commit.py --repo PATH [--drop N]
(PATH: a repository where a run has built every stage, e.g. a tiny clone after `snakemake`;
--drop: leave out the last N stages from the named lists, as a partial run would).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.dvc_sync import built_stages  # noqa: E402


def timed(command: list[str], repo: Path) -> float:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    subprocess.run(command, cwd=repo, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--drop", type=int, default=1)
    args = parser.parse_args()
    stages = built_stages(args.repo)
    if not stages:
        sys.exit(f"error: {args.repo}: no built stage in its dvc.yaml")
    named = stages[: max(1, len(stages) - args.drop)]
    ways = {
        f"dvc commit --force (all {len(stages)} stages)": ["dvc", "commit", "--force", "--quiet"],
        f"dvc commit --force NAME... ({len(named)} names)": ["dvc", "commit", "--force", "--quiet", *named],
        f"python -m pipeline.dvc_sync commit NAME... ({len(named)} names)":
            [sys.executable, "-m", "pipeline.dvc_sync", "commit", *named],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for label, command in ways.items():
            copy = Path(tmp) / "repo"
            shutil.copytree(args.repo, copy, symlinks=True)
            timed(["dvc", "status", "-q"], copy)  # DVC's hash state warm for every way alike
            print(f"{label}: {timed(command, copy):.1f} s", flush=True)
            shutil.rmtree(copy)


if __name__ == "__main__":
    main()
