"""Atomic outputs: a killed write leaves a temporary that the next write of the same target
removes; other targets' temporaries and live writers' temporaries are left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pipeline.atomic import atomic_path, remove_leftovers, write_text

ROOT = Path(__file__).resolve().parent.parent

# a writer that fills a temporary folder, says so, then waits to be killed
WRITER = """
import sys, time
from pathlib import Path
from pipeline.atomic import atomic_path
with atomic_path(Path(sys.argv[1]), is_dir=True) as tmp:
    (tmp / "part.h5").write_bytes(b"x" * 100_000)
    print(tmp, flush=True)
    time.sleep(60)
"""


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_sigkilled_write_is_cleaned_by_the_next_write_of_that_target(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "bp4d"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        leftover = Path(proc.stdout.readline().strip())
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert leftover.is_dir() and leftover.name.startswith(f".bp4d.{proc.pid}-") and not target.exists()
    # another target's temporaries, and one a live process (this one) is writing, must stay
    others = [tmp_path / "cache" / ".ubfc.abcdefgh.tmp", tmp_path / "cache" / ".bp4d.x.abcdefgh.tmp",
              tmp_path / "cache" / f".bp4d.{os.getpid()}-abcdefgh.tmp"]
    for p in others:
        p.mkdir()
    legacy = tmp_path / "cache" / ".bp4d.k2j4x9_q.tmp"         # name without a process id
    legacy.mkdir()
    (legacy / "a.h5").write_bytes(b"y")
    old = tmp_path / "cache" / f".bp4d.{_dead_pid()}-abcdefgh.old.tmp"
    old.mkdir()
    with atomic_path(target, is_dir=True) as tmp:
        (tmp / "trial.h5").write_bytes(b"z")
    assert (target / "trial.h5").read_bytes() == b"z"
    assert not leftover.exists() and not legacy.exists() and not old.exists()
    assert all(p.is_dir() for p in others)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(["bp4d", *(p.name for p in others)])


def test_file_leftovers_and_no_parent(tmp_path: Path) -> None:
    assert remove_leftovers(tmp_path / "absent" / "x.json") == []
    stale = tmp_path / f".manifest.csv.{_dead_pid()}-a1b2c3d4.tmp"
    stale.write_text("partial")
    keep = tmp_path / ".manifest.json.a1b2c3d4.tmp"             # a sibling target's temporary
    keep.write_text("other")
    write_text(tmp_path / "manifest.csv", "ok\n")
    assert (tmp_path / "manifest.csv").read_text() == "ok\n"
    assert not stale.exists() and keep.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".manifest.json.a1b2c3d4.tmp", "manifest.csv"]
