"""params.yaml validation: the committed file passes; a wrong key or type gives one line naming it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.atomic import atomic_path, write_json
from pipeline.config import get, load_params, params_hash, validate_params
from pipeline.errors import ConfigError
from tests.tiny_config import tiny_params

ROOT = Path(__file__).resolve().parent.parent


def committed() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_committed_and_tiny_params_are_valid():
    assert load_params(ROOT / "params.yaml")["datasets"]
    validate_params(tiny_params(), "tiny")


def test_unknown_key_is_named():
    params = committed()
    params["preprocess"]["big_sise"] = 144
    with pytest.raises(ConfigError, match=r"^params.yaml: unknown key 'preprocess.big_sise'$"):
        validate_params(params)


def test_unknown_top_level_key_is_named():
    params = committed()
    params["sed"] = 1
    with pytest.raises(ConfigError, match=r"unknown key 'sed'"):
        validate_params(params)


def test_wrong_type_is_named():
    params = committed()
    params["seed"] = "zero"
    with pytest.raises(ConfigError, match=r"key 'seed': 'zero' is not of type 'integer'"):
        validate_params(params)


def test_wrong_dataset_name_is_named():
    params = committed()
    params["datasets"] = ["bp4d", "cohface"]
    with pytest.raises(ConfigError, match=r"key 'datasets.1'"):
        validate_params(params)


def test_cli_prints_one_line(tmp_path):
    params = committed()
    params["signals"]["no_such_knob"] = 1
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline", "validate-params", "--params", str(bad)],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [f"error: {bad}: unknown key 'signals.no_such_knob'"]


def test_invalid_yaml_is_one_line(tmp_path):
    bad = tmp_path / "params.yaml"
    bad.write_text("seed: [1,\n")
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        load_params(bad)


def test_get_and_hash():
    params = committed()
    assert get(params, "synth.difficulty") == params["synth"]["difficulty"]
    with pytest.raises(ConfigError, match="missing key 'synth.nope'"):
        get(params, "synth.nope")
    assert params_hash({"a": 1, "b": [1, 2]}) == params_hash({"b": [1, 2], "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("stage failed")
    assert not target.exists()
    assert list((tmp_path / "sub").iterdir()) == []
    write_json(target, {"x": 1})
    assert yaml.safe_load(target.read_text()) == {"x": 1}


def test_atomic_directory_replaces_whole(tmp_path):
    target = tmp_path / "cache"
    with atomic_path(target, is_dir=True) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(ValueError):
        with atomic_path(target, is_dir=True) as tmp:
            (tmp / "b.txt").write_text("2")
            raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]
    # a successful rewrite replaces the old tree and leaves no old copy beside it
    with atomic_path(target, is_dir=True) as tmp:
        (tmp / "c.txt").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_snakemake_stops_with_one_line_on_a_bad_key(tmp_path):
    """The DAG engine refuses a wrong params.yaml before any job, naming the key."""
    repo = tmp_path / "repo"
    for part in ("Snakefile", "workflow", "pipeline", "profiles", "environment.yml"):
        src = ROOT / part
        if src.is_dir():
            shutil.copytree(src, repo / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (repo / part).parent.mkdir(parents=True, exist_ok=True)
            (repo / part).write_bytes(src.read_bytes())
    params = committed()
    params["sede"] = 1
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    bindir = str(Path(sys.executable).parent)
    proc = subprocess.run(
        ["snakemake", "-n", "--cores", "1"], cwd=repo, capture_output=True, text=True,
        env={**os.environ, "PATH": bindir + os.pathsep + os.environ["PATH"]},
    )
    assert proc.returncode == 1
    lines = [l for l in proc.stderr.splitlines() + proc.stdout.splitlines() if l.startswith("error:")]
    assert lines == ["error: params.yaml: unknown key 'sede'"]


def test_every_params_key_is_described_in_the_schema():
    """The README promises a description for every key: the schema is the reference."""
    from pipeline.config import load_schema

    def undescribed(node: dict, path: str) -> list[str]:
        out = []
        for key, sub in (node.get("properties") or {}).items():
            dotted = f"{path}.{key}" if path else key
            if "description" not in sub:
                out.append(dotted)
            out += undescribed(sub, dotted)
        if isinstance(node.get("additionalProperties"), dict):
            out += undescribed(node["additionalProperties"], f"{path}.*")
        return out

    assert undescribed(load_schema(), "") == []


# Every list naming datasets, with a value that names bp4d (removed from 'datasets' below).
DATASET_LISTS = {
    "synth.datasets": ["ubfc", "bp4d"],
    "preprocess.crop_to_au_range": ["bp4d"],
    "report.example_waveform.dataset": "bp4d",
}


def _narrowed() -> dict:
    """The committed params narrowed to UBFC-rPPG consistently: valid."""
    params = committed()
    params["datasets"] = ["ubfc"]
    params["synth"]["datasets"] = ["ubfc"]
    params["preprocess"]["crop_to_au_range"] = []
    params["report"]["example_waveform"]["dataset"] = "ubfc"
    return params


def test_consistently_narrowed_datasets_are_valid():
    validate_params(_narrowed())
    params = _narrowed()
    params["report"]["example_waveform"]["dataset"] = None  # null: the first baseline run's data
    validate_params(params)


@pytest.mark.parametrize("key", sorted(DATASET_LISTS))
def test_a_list_naming_a_dataset_outside_datasets_is_named(key):
    params = _narrowed()
    node = params
    *parents, leaf = key.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = DATASET_LISTS[key]
    with pytest.raises(ConfigError) as err:
        validate_params(params)
    assert str(err.value) == (f"params.yaml: key '{key}' names bp4d, not in 'datasets' [ubfc]: "
                              "remove it there or add it to 'datasets'")


def test_narrowing_only_datasets_fails_on_the_first_list(tmp_path):
    """The reported case: 'datasets: [ubfc]' alone used to pass and still plan bp4d and pure jobs."""
    params = committed()
    params["datasets"] = ["ubfc"]
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, "-m", "pipeline", "validate-params", "--params", str(bad)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad}: key 'synth.datasets' names bp4d, pure, disfa, not in 'datasets' [ubfc]: "
        "remove them there or add them to 'datasets'"]
