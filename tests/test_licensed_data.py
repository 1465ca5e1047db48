"""Licensed (user-supplied) data is read as it is and never replaced by generated data.

- Unit level: which folders the start-up check accepts, the data origin, the generate guard.
- Dry runs in a scratch clone: a missing, dangling or empty user folder stops Snakemake and DVC
  with one line naming it; a generated dataset whose folder holds foreign data stops too.
- End to end (slow): the README's "Using licensed data" steps in a scratch clone. A small
  UBFC-rPPG copy in the real layout (rendered with other subjects and seed than the clone's
  generator would use, and stripped of the generator's truth, as a licensed copy has none) is
  placed at data/raw/ubfc with file times older than the code; the pipeline reads exactly those
  files, labels them user-supplied, and never generates or touches them, under both engines.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline.errors import ConfigError, InputError
from pipeline.ingest import listing_hash
from pipeline.raw_data import check_generation_target, check_raw_folders, data_origin, describe_origin
from tests.tiny_config import make_tiny_clone, regenerate_dvc_yaml, tiny_params

BIN = str(Path(sys.executable).parent)
ENV = {**os.environ, "PATH": BIN + os.pathsep + os.environ.get("PATH", ""), "DVC_NO_ANALYTICS": "1",
       "TQDM_DISABLE": "1"}
MISSING_UBFC = ("error: data/raw/ubfc: {problem}; 'ubfc' is not in synth.datasets, so put (or symlink) "
                "the UBFC-rPPG copy there, or add 'ubfc' to synth.datasets to use the built-in data")


def _params(user: list[str], synth: list[str]) -> dict:
    p = {"datasets": user + synth, "synth": {"datasets": synth}}
    return p


def _generated(folder: Path, difficulty: str = "easy", seed: int = 0) -> Path:
    (folder / "_truth").mkdir(parents=True)
    (folder / "_truth" / "summary.json").write_text(json.dumps({"difficulty": difficulty, "seed": seed, "trials": []}))
    (folder / "subject1").mkdir()
    (folder / "subject1" / "vid.avi").write_bytes(b"x")
    return folder


# ---------------------------------------------------------------- unit level

def test_user_folder_must_exist_and_hold_files(tmp_path):
    params = _params(["ubfc"], [])
    raw = tmp_path / "data" / "raw" / "ubfc"
    cases = []
    with pytest.raises(InputError) as err:
        check_raw_folders(params, tmp_path)
    cases.append(str(err.value))
    raw.parent.mkdir(parents=True)
    raw.symlink_to(tmp_path / "nowhere")
    with pytest.raises(InputError) as err:
        check_raw_folders(params, tmp_path)
    cases.append(str(err.value))
    raw.unlink()
    (raw / "subject1").mkdir(parents=True)  # folders but no file
    with pytest.raises(InputError) as err:
        check_raw_folders(params, tmp_path)
    cases.append(str(err.value))
    assert [c.split(";")[0] for c in cases] == [
        "data/raw/ubfc: does not exist", "data/raw/ubfc: is a symlink to a missing folder", "data/raw/ubfc: is empty"]
    assert all("put (or symlink) the UBFC-rPPG copy there" in c for c in cases)
    (raw / "subject1" / "vid.avi").write_bytes(b"x")
    check_raw_folders(params, tmp_path)
    # a symlink to an existing copy is the README's way too
    shutil.move(raw, tmp_path / "elsewhere")
    raw.symlink_to(tmp_path / "elsewhere")
    check_raw_folders(params, tmp_path)


def test_generated_folder_must_not_hold_foreign_data(tmp_path):
    params = _params([], ["ubfc"])
    raw = tmp_path / "data" / "raw" / "ubfc"
    check_raw_folders(params, tmp_path)  # absent: the generator will write it
    raw.mkdir(parents=True)
    check_raw_folders(params, tmp_path)  # empty: nothing to lose
    (raw / "subject1").mkdir()
    (raw / "subject1" / "vid.avi").write_bytes(b"licensed")
    with pytest.raises(InputError, match=r"^data/raw/ubfc: holds data the generator did not write "
                                         r"\(no _truth/summary.json\), but 'ubfc' is in synth.datasets"):
        check_raw_folders(params, tmp_path)
    shutil.rmtree(raw)
    _generated(raw)
    check_raw_folders(params, tmp_path)  # the generator's own output may be rebuilt
    shutil.move(raw, tmp_path / "copy")
    raw.symlink_to(tmp_path / "copy")
    with pytest.raises(InputError, match=r"^data/raw/ubfc: is a symlink"):
        check_raw_folders(params, tmp_path)


def test_generate_refuses_user_datasets_and_foreign_folders(tmp_path):
    with pytest.raises(ConfigError, match="'ubfc' is not in synth.datasets"):
        check_generation_target(_params(["ubfc"], []), "ubfc", tmp_path / "ubfc")
    foreign = tmp_path / "ubfc"
    foreign.mkdir()
    (foreign / "vid.avi").write_bytes(b"licensed")
    with pytest.raises(InputError, match="the generator would replace it"):
        check_generation_target(_params([], ["ubfc"]), "ubfc", foreign)
    check_generation_target(_params([], ["ubfc"]), "ubfc", _generated(tmp_path / "gen"))


def test_data_origin_reads_the_generator_summary(tmp_path):
    gen = _generated(tmp_path / "ubfc", difficulty="hard", seed=3)
    assert data_origin("ubfc", gen, _params([], ["ubfc"])) == {"kind": "built-in", "preset": "hard", "seed": 3}
    # outside synth.datasets it is user-supplied, and says it holds generated data
    assert data_origin("ubfc", gen, _params(["ubfc"], [])) == {
        "kind": "user-supplied", "generator_truth": {"preset": "hard", "seed": 3}}
    plain = tmp_path / "plain"
    plain.mkdir()
    # in synth.datasets but without the generator's summary: never called built-in
    assert data_origin("ubfc", plain, _params([], ["ubfc"])) == {"kind": "user-supplied"}
    assert describe_origin({"kind": "built-in", "preset": "easy", "seed": 0}) == \
        "built-in semi-synthetic (preset easy, seed 0)"


def test_ingest_cli_names_a_missing_user_folder(tmp_path):
    params = tiny_params()
    params["synth"]["datasets"] = ["bp4d", "pure", "disfa"]
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(params))
    proc = subprocess.run([sys.executable, "-m", "pipeline", "ingest", "--dataset", "ubfc", "--params", str(pfile),
                           "--raw", str(tmp_path / "raw" / "ubfc"), "--out", str(tmp_path / "m.csv")],
                          capture_output=True, text=True, env=ENV, cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'raw' / 'ubfc'}: does not exist; put (or symlink) the UBFC-rPPG copy there, "
        "or add 'ubfc' to synth.datasets to use the built-in data"]
    assert not (tmp_path / "m.csv").exists()


# ---------------------------------------------------------------- scratch clones

def _ubfc_only(params: dict) -> dict:
    """The README's steps for UBFC-rPPG: only it, not generated."""
    params["datasets"] = ["ubfc"]
    params["synth"]["datasets"] = []
    params["preprocess"]["crop_to_au_range"] = []
    params["report"]["example_waveform"]["dataset"] = "ubfc"
    return params


def _write_params(repo: Path, params: dict) -> None:
    """The edited params.yaml, and dvc.yaml regenerated for it (the README's step for DVC)."""
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    regenerate_dvc_yaml(repo)


def _run(cmd: list[str], repo: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=repo, env=ENV, capture_output=True, text=True, timeout=timeout)


def _error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def ubfc_clone(tmp_path_factory) -> Path:
    repo = make_tiny_clone(tmp_path_factory.mktemp("licensed") / "repo")
    _write_params(repo, _ubfc_only(yaml.safe_load((repo / "params.yaml").read_text())))
    return repo


@pytest.mark.parametrize("state,problem", [
    ("missing", "does not exist"), ("dangling", "is a symlink to a missing folder"), ("empty", "is empty")])
def test_snakemake_stops_before_any_job_on_a_bad_user_folder(ubfc_clone, state, problem):
    raw = ubfc_clone / "data" / "raw" / "ubfc"
    raw.parent.mkdir(parents=True, exist_ok=True)
    if state == "dangling":
        raw.symlink_to(ubfc_clone / "no" / "such" / "folder")
    elif state == "empty":
        raw.mkdir()
    try:
        for target in ([], ["results/runs/baselines/ubfc/metrics.json"]):
            proc = _run(["snakemake", "-n", "--cores", "1", *target], ubfc_clone)
            assert proc.returncode == 1
            assert _error_lines(proc) == [MISSING_UBFC.format(problem=problem)]
            assert "generate" not in proc.stdout + proc.stderr
        # nothing was written over the path: the link still dangles, the folder is still empty
        assert raw.is_symlink() if state == "dangling" else (raw.is_dir() if state == "empty" else not raw.exists())
    finally:
        if raw.is_symlink() or raw.is_file():
            raw.unlink()
        elif raw.is_dir():
            shutil.rmtree(raw)


def test_dvc_stops_on_a_missing_user_folder_and_never_generates(ubfc_clone):
    stages = _run(["dvc", "stage", "list", "--all"], ubfc_clone)
    assert stages.returncode == 0 and "generate" not in stages.stdout
    proc = _run(["dvc", "repro"], ubfc_clone)
    assert proc.returncode != 0
    assert "data/raw/ubfc" in proc.stdout + proc.stderr
    assert not (ubfc_clone / "data" / "raw" / "ubfc").exists()
    # an empty folder passes DVC's own dependency check, then the stage's check stops it
    (ubfc_clone / "data" / "raw" / "ubfc").mkdir(parents=True)
    try:
        proc = _run(["dvc", "repro", "ingest-ubfc"], ubfc_clone)
        assert proc.returncode != 0
        assert "data/raw/ubfc: is empty" in proc.stdout + proc.stderr
        assert not (ubfc_clone / "data" / "interim" / "ubfc" / "manifest.csv").exists()
    finally:
        shutil.rmtree(ubfc_clone / "data" / "raw" / "ubfc")


def test_snakemake_refuses_to_generate_over_foreign_data(ubfc_clone):
    """The README's step 1 forgotten: the copy is in place but ubfc is still generated."""
    original = (ubfc_clone / "params.yaml").read_text()
    params = yaml.safe_load(original)
    params["synth"]["datasets"] = ["ubfc"]
    _write_params(ubfc_clone, params)
    raw = ubfc_clone / "data" / "raw" / "ubfc" / "subject1"
    raw.mkdir(parents=True)
    (raw / "vid.avi").write_bytes(b"licensed")
    try:
        proc = _run(["snakemake", "-n", "--cores", "1"], ubfc_clone)
        assert proc.returncode == 1
        assert _error_lines(proc) == [
            "error: data/raw/ubfc: holds data the generator did not write (no _truth/summary.json), but 'ubfc' "
            "is in synth.datasets, so the generator would replace it: remove it from synth.datasets to use "
            "this copy, or move the folder away"]
        assert (raw / "vid.avi").read_bytes() == b"licensed"
    finally:
        (ubfc_clone / "params.yaml").write_text(original)
        regenerate_dvc_yaml(ubfc_clone)
        shutil.rmtree(ubfc_clone / "data" / "raw" / "ubfc")


# ---------------------------------------------------------------- end to end (the README's steps)

def _fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """relative path -> (sha256, mtime in ns) of every file under ``folder``."""
    return {str(f.relative_to(folder)): (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mtime_ns)
            for f in sorted(folder.rglob("*")) if f.is_file()}


def _stand_in(repo: Path, dst: Path) -> Path:
    """A small UBFC-rPPG copy in the real layout that the clone's generator would never write:
    other subjects and seed, no _truth/ sidecar, file times older than the code."""
    params = tiny_params()
    params["seed"] = 11
    params["synth"]["ubfc"]["subjects"] = [4, 5, 8]
    pfile = repo.parent / "standin_params.yaml"
    dst.parent.mkdir(parents=True, exist_ok=True)
    pfile.write_text(yaml.safe_dump(params))
    proc = _run([sys.executable, "-m", "pipeline", "generate", "--dataset", "ubfc", "--params", str(pfile),
                 "--out", str(dst)], repo)
    assert proc.returncode == 0, proc.stderr[-2000:]
    shutil.rmtree(dst / "_truth")
    old = 946684800  # 2000-01-01: older than every file of the code
    for p in [*dst.rglob("*"), dst]:
        os.utime(p, (old, old), follow_symlinks=False)
    return dst


@pytest.mark.slow
def test_readme_licensed_data_steps_end_to_end(ubfc_clone):
    repo = ubfc_clone
    raw = repo / "data" / "raw" / "ubfc"
    _stand_in(repo, raw)  # step 2: the copy in place (step 1 is the clone's params)
    before = _fingerprint(raw)
    expected_listing = listing_hash(raw)

    proc = _run(["snakemake", "--cores", "2"], repo)  # step 3
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "rule generate" not in proc.stdout + proc.stderr and not (repo / "logs" / "generate").exists()
    assert _fingerprint(raw) == before  # same bytes, same times: read, never rewritten

    # the DAG read exactly those files: their listing hash and their trials
    summary = json.loads((repo / "data" / "interim" / "ubfc" / "manifest.json").read_text())
    assert summary["data_origin"] == {"kind": "user-supplied"}
    assert summary["provenance"]["raw_listing_hash"] == expected_listing
    manifest = (repo / "data" / "interim" / "ubfc" / "manifest.csv").read_text()
    assert {line.split(",")[1] for line in manifest.splitlines()[1:]} == {"subject4", "subject5", "subject8"}
    metrics = json.loads((repo / "results" / "runs" / "baselines" / "ubfc" / "metrics.json").read_text())
    assert metrics["data_origin"] == {"kind": "user-supplied"}
    assert metrics["raw_listing_hash"] == expected_listing
    report = json.loads((repo / "reports" / "metrics.json").read_text())
    assert report["data_origin"] == {"ubfc": {"kind": "user-supplied"}}
    html = (repo / "reports" / "index.html").read_text()
    assert "User-supplied datasets" in html and "Data: user-supplied. Face trace: the mean over the rPPG-Toolbox" in html
    assert "built-in semi-synthetic" not in html
    assert "UBFC-rPPG: user-supplied data, skin type not known." in html

    # editing a module the generator depends on plans no generate job
    render = repo / "pipeline" / "synth" / "render.py"
    render.write_text(render.read_text() + "\n# edited\n")
    proc = _run(["snakemake", "-n", "--cores", "1"], repo)
    assert proc.returncode == 0 and "generate" not in proc.stdout + proc.stderr
    # DVC agrees: no generate stage, nothing to do, the copy untouched
    proc = _run(["dvc", "repro"], repo)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Running stage" not in proc.stdout + proc.stderr
    assert _fingerprint(raw) == before

    # a wrong path (link to a missing folder) stops both engines with one line; nothing is generated
    shutil.move(raw, repo / "standin")
    raw.symlink_to(repo / "no_such_copy")
    proc = _run(["snakemake", "--cores", "1"], repo)
    assert proc.returncode == 1
    assert _error_lines(proc) == [MISSING_UBFC.format(problem="is a symlink to a missing folder")]
    assert raw.is_symlink() and not raw.exists()
    raw.unlink()
    shutil.move(repo / "standin", raw)
    assert _fingerprint(raw) == before
