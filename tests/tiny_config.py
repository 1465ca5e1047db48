"""The tiny configuration used by the end-to-end tests: params.yaml with tests/tiny/*.yaml merged in.

Each tests/tiny/<section>.yaml holds the tiny values of one params.yaml section (either the
section's mapping itself or ``{<section>: mapping}``); they are deep-merged over params.yaml.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TINY_DIR = ROOT / "tests" / "tiny"


def deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def tiny_params() -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for path in sorted(TINY_DIR.glob("*.yaml")):
        section = path.stem
        values = yaml.safe_load(path.read_text()) or {}
        if isinstance(values, dict) and set(values) == {section}:
            values = values[section]
        if section == "top":  # top-level scalars and lists (seed, datasets)
            params = deep_merge(params, values)
        else:
            params[section] = deep_merge(params.get(section, {}), values)
    return params


def project_files() -> list[str]:
    """Tracked files plus untracked ones git does not ignore (what a commit would hold)."""
    out = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if line and (ROOT / line).is_file()]


def tiny_sheet() -> dict:
    """experiments.yaml with the edits of tests/tiny_sheet/experiments.yaml: per experiment, the
    rows kept (none: the experiment is left out) and the values set in each."""
    sheet = yaml.safe_load((ROOT / "experiments.yaml").read_text())
    edits = yaml.safe_load((ROOT / "tests" / "tiny_sheet" / "experiments.yaml").read_text()) or {}
    for experiment, edit in edits.items():
        runs = sheet["experiments"][experiment]["runs"]
        keep = edit.get("rows", list(runs))
        if not keep:  # rows: [] leaves the experiment out
            del sheet["experiments"][experiment]
            continue
        sheet["experiments"][experiment]["runs"] = {
            name: {**row, **copy.deepcopy(edit.get("set", {}))} for name, row in runs.items() if name in keep}
    return sheet


def regenerate_dvc_yaml(repo: Path) -> None:
    """dvc.yaml for the clone's own params.yaml and sheet (what a user runs after an edit that
    adds or removes jobs)."""
    subprocess.run([sys.executable, "-m", "pipeline", "dvc-yaml"], cwd=repo, check=True, capture_output=True)


def make_tiny_clone(dst: Path, datasets: list[str] | None = None) -> Path:
    """A fresh git repository at ``dst`` with the project's files and the tiny params.yaml;
    ``datasets``: only these built-in datasets (the README's edit for a subset), not all."""
    dst.mkdir(parents=True, exist_ok=True)
    for rel in project_files():
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / rel).read_bytes())
        target.chmod((ROOT / rel).stat().st_mode)
    params = tiny_params()
    if datasets is not None:
        params["datasets"] = list(datasets)
        params["synth"]["datasets"] = [d for d in params["synth"]["datasets"] if d in datasets]
        if params["report"]["example_waveform"]["dataset"] not in datasets:
            params["report"]["example_waveform"]["dataset"] = None
    (dst / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (dst / "experiments.yaml").write_text(yaml.safe_dump(tiny_sheet(), sort_keys=False))
    regenerate_dvc_yaml(dst)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=dst, check=True)
    subprocess.run(git + ["add", "-A"], cwd=dst, check=True)
    subprocess.run(git + ["commit", "-q", "-m", "tiny configuration"], cwd=dst, check=True)
    return dst
