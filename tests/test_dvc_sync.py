"""dvc.lock after a kill: the onsuccess commit leaves a marker until it succeeds, and the next
snakemake start commits again (restoring a half-written dvc.lock first).

The unit tests use a stand-in ``dvc`` on PATH; the last test kills a real Snakemake run during
its commit in a scratch clone of the project (UBFC-format data only, about a minute).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipeline.dvc_sync import MARKER, built_stages, commit_outputs, repair_interrupted_commit, snakemake_cli_dry_run
from tests.tiny_config import make_tiny_clone

ROOT = Path(__file__).resolve().parent.parent
GOOD_LOCK = "schema: '2.0'\nstages:\n  ingest:\n    cmd: old\n"


def fake_dvc(bin_dir: Path, body: str) -> None:
    """A ``dvc`` executable running ``body`` (sh); it logs the dvc.lock it was started with."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "dvc"
    script.write_text("#!/bin/sh\necho \"$@\" >> dvc-args.log\n"
                      "{ echo '---'; cat dvc.lock 2>/dev/null; } >> dvc-calls.log\n" + body + "\n")
    script.chmod(0o755)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "dvc.lock").write_text(GOOD_LOCK)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def test_cli_dry_run_detection() -> None:
    assert snakemake_cli_dry_run(["/venv/bin/snakemake", "--cores", "2"]) is False
    assert snakemake_cli_dry_run(["/venv/bin/snakemake", "-n"]) is True
    assert snakemake_cli_dry_run(["snakemake", "-pn", "--cores", "1"]) is True
    assert snakemake_cli_dry_run(["snakemake", "--dry-run"]) is True
    assert snakemake_cli_dry_run(["snakemake", "--unlock"]) is False
    assert snakemake_cli_dry_run(["snakemake", "--cores", "1", "--", "-n"]) is False
    assert snakemake_cli_dry_run(["/lib/python3.11/site-packages/snakemake/__main__.py", "-n"]) is True
    assert snakemake_cli_dry_run(["/venv/bin/pytest", "-n", "2"]) is None   # the API from Python
    assert snakemake_cli_dry_run([]) is None


def test_commit_removes_marker_only_on_success(repo: Path, capsys: pytest.CaptureFixture) -> None:
    fake_dvc(repo / "bin", "exit 0")
    assert commit_outputs(repo) is True
    assert not (repo / MARKER).exists()
    fake_dvc(repo / "bin", "exit 1")
    assert commit_outputs(repo) is False
    assert json.loads((repo / MARKER).read_text()) == {"dvc_lock_before": GOOD_LOCK}
    assert "the next snakemake run retries it" in capsys.readouterr().err
    # nothing pending: nothing run
    (repo / MARKER).unlink()
    calls = (repo / "dvc-calls.log").read_text().count("---")
    assert repair_interrupted_commit(repo) is None
    assert (repo / "dvc-calls.log").read_text().count("---") == calls


def test_a_partial_run_commits_only_the_stages_it_built(repo: Path) -> None:
    """dvc commit fails on a stage whose output is missing: a run of one table commits the
    stages whose dependencies and outputs exist, and a run that built nothing commits nothing."""
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "ingest-ubfc": {"cmd": "x", "deps": ["params.yaml"], "outs": ["data/m.csv"]},
        "report": {"cmd": "y", "deps": ["data/m.csv"], "outs": ["reports/index.html"],
                   "metrics": [{"reports/metrics.json": {"cache": False}}]},
        "audit": {"cmd": "z", "deps": ["params.yaml"], "outs": [{"results/audit.csv": {"cache": True}}]},
    }}, sort_keys=False))
    fake_dvc(repo / "bin", "exit 0")
    assert built_stages(repo) == []
    assert commit_outputs(repo) is True and not (repo / "dvc-args.log").exists()
    # a marker left by a killed commit is settled too: with nothing built there is nothing to repair
    (repo / MARKER).parent.mkdir(parents=True, exist_ok=True)
    (repo / MARKER).write_text('{"dvc_lock_before": null}')
    assert repair_interrupted_commit(repo) is True
    assert not (repo / MARKER).exists() and not (repo / "dvc-args.log").exists()
    (repo / "params.yaml").write_text("seed: 0\n")
    for path in ("data/m.csv", "results/audit.csv", "reports/index.html"):  # the report's metrics missing
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("built\n")
    assert built_stages(repo) == ["ingest-ubfc", "audit"]  # committed in one pass (the next test)
    # every stage built: one unnamed commit (DVC takes a pass over dvc.yaml and dvc.lock per named target)
    (repo / "reports" / "metrics.json").write_text("{}\n")
    assert built_stages(repo) == ["ingest-ubfc", "report", "audit"]
    assert commit_outputs(repo) is True and not (repo / MARKER).exists()
    assert (repo / "dvc-args.log").read_text().splitlines()[-1] == "commit --force --quiet"
    assert built_stages(repo / "nowhere") is None  # no dvc.yaml: every stage, as dvc commit does


def test_a_partial_commit_records_the_built_stages_in_one_pass(tmp_path: Path) -> None:
    """With real DVC: the built stages of a partial run are recorded in dvc.lock (and cached), the
    unbuilt one is not, and `dvc status` names only it; a stage dvc.yaml lacks is one error line."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, check=True, env=env)
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {
        "ingest-ubfc": {"cmd": "x", "deps": ["params.yaml"], "outs": ["data/m.csv"]},
        "report": {"cmd": "y", "deps": ["data/m.csv"], "outs": ["reports/index.html"]},
        "audit": {"cmd": "z", "deps": ["params.yaml"], "params": ["seed"], "outs": ["results/audit.csv"]},
    }}, sort_keys=False))
    for path in ("data/m.csv", "results/audit.csv"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(f"{path}\n")
    assert built_stages(tmp_path) == ["ingest-ubfc", "audit"]
    assert commit_outputs(tmp_path) is True and not (tmp_path / MARKER).exists()
    lock = yaml.safe_load((tmp_path / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"ingest-ubfc", "audit"} and lock["audit"]["params"] == {"params.yaml": {"seed": 0}}
    assert lock["ingest-ubfc"]["outs"][0]["path"] == "data/m.csv" and lock["ingest-ubfc"]["outs"][0]["md5"]
    status = subprocess.run(["dvc", "status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert set(json.loads(status.stdout)) == {"report"}
    bad = subprocess.run([sys.executable, "-m", "pipeline.dvc_sync", "commit", "audit", "nope"], cwd=tmp_path,
                         env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        "error: dvc commit of 2 stages: dvc.yaml has no stage 'nope'"]


def test_a_partial_commit_falls_back_to_the_cli_when_dvc_moves_its_api(repo: Path, monkeypatch: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture) -> None:
    import pipeline.dvc_sync as sync

    def moved(names, root="."):
        raise AttributeError("'Stage' object has no attribute 'save'")

    monkeypatch.setattr(sync, "commit_stages", moved)
    monkeypatch.chdir(repo)
    fake_dvc(repo / "bin", "exit 0")
    assert sync.main(["commit", "ingest-ubfc", "audit"]) == 0
    assert (repo / "dvc-args.log").read_text() == "commit --force --quiet ingest-ubfc audit\n"
    assert "running dvc commit per stage" in capsys.readouterr().err


def test_sigkill_during_commit_is_repaired_at_next_start(repo: Path) -> None:
    """Kill the committing process group while dvc is half way through writing dvc.lock."""
    fake_dvc(repo / "bin", "printf 'schema: 2.0\\nstages:\\n  ingest:\\n    cmd: [' > dvc.lock\nsleep 30")
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from pipeline.dvc_sync import commit_outputs; commit_outputs()"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=repo, start_new_session=True)
    deadline = time.time() + 30
    while "[" not in (repo / "dvc.lock").read_text() and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (repo / MARKER).is_file() and "cmd: [" in (repo / "dvc.lock").read_text()
    # a dry run only tells
    assert repair_interrupted_commit(repo, dry_run=True) is None and (repo / MARKER).is_file()
    fake_dvc(repo / "bin", "printf 'schema: 2.0\\nstages: {}\\n' > dvc.lock")
    assert repair_interrupted_commit(repo) is True
    assert not (repo / MARKER).exists()
    # the repair restored the lock DVC had before the killed commit, then committed
    assert (repo / "dvc-calls.log").read_text().split("---\n")[-1] == GOOD_LOCK
    assert (repo / "dvc.lock").read_text() == "schema: 2.0\nstages: {}\n"


@pytest.mark.slow
def test_snakemake_killed_during_onsuccess_commit(tmp_path: Path) -> None:
    """A real run killed as its onsuccess commit starts: dvc.lock is stale, Snakemake has
    nothing to do; the next snakemake start (here the --unlock the kill makes necessary)
    commits again and dvc status is clean."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1"}
    env.pop("PIPELINE_FROM_DVC", None)
    repo = make_tiny_clone(tmp_path / "repo")
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["datasets"] = params["synth"]["datasets"] = ["ubfc"]
    params["synth"]["ubfc"].update(subjects=[1, 2, 3], duration_s=3)
    params["preprocess"]["crop_to_au_range"] = []
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True, timeout=600)

    def dvc_clean() -> bool:
        return "Data and pipelines are up to date" in run("dvc", "status").stdout

    assert run("snakemake", "--cores", "2").returncode == 0 and dvc_clean()
    params["unsupervised"]["methods"] = ["POS"]  # re-runs the unsupervised and report jobs
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    lock_before = (repo / "dvc.lock").read_text()
    proc = subprocess.Popen(["snakemake", "--cores", "2"], cwd=repo, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (repo / MARKER).exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (repo / MARKER).exists(), "the run ended before its commit started"
    assert (repo / "dvc.lock").read_text() == lock_before and not dvc_clean()
    assert "Nothing to be done" in run("snakemake", "-n").stdout + run("snakemake", "-n").stderr
    assert (repo / MARKER).exists()  # the dry runs changed nothing
    unlock = run("snakemake", "--unlock")
    assert unlock.returncode == 0, unlock.stderr[-2000:]
    assert "running dvc commit --force again" in unlock.stderr
    assert not (repo / MARKER).exists() and dvc_clean()
    out = run("snakemake", "--cores", "2")
    assert out.returncode == 0 and "Nothing to be done" in out.stdout + out.stderr
