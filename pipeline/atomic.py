"""Atomic writes: a stage's outputs appear complete or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


_RANDOM = "abcdefghijklmnopqrstuvwxyz0123456789_"  # tempfile's name alphabet


def _temp_prefix(target: Path) -> str:
    # the writing process's id is part of the name, so a later run can tell a killed job's
    # leftovers from a temporary another live process is still writing
    return f".{target.name}.{os.getpid()}-"


def _leftover_re(target: Path) -> re.Pattern[str]:
    """Names of this target's temporaries: ``.<name>.<pid>-<8 random>[.old].tmp`` (and the
    older ``.<name>.<8 random>[.old].tmp`` without a process id). Another target's never
    match: the random part has no dot."""
    return re.compile(rf"^\.{re.escape(target.name)}\.(?:(\d+)-)?[{_RANDOM}]{{8}}(?:\.old)?\.tmp$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_leftovers(target: str | Path) -> list[Path]:
    """Remove the temporaries a killed earlier write of ``target`` left beside it.

    A SIGKILL skips the clean-up of ``atomic_path``; its temporary file or folder (possibly
    hundreds of MB of cache) would stay forever. Only this target's temporaries whose writing
    process is gone are removed; returns what was removed.
    """
    target = Path(target)
    if not target.parent.is_dir():
        return []
    pattern = _leftover_re(target)
    removed = []
    for path in target.parent.iterdir():
        m = pattern.match(path.name)
        if m is None or (m.group(1) is not None and _alive(int(m.group(1)))):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(target: str | Path, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``target`` only if the block succeeds.

    Parent directories are created (DVC does not create them). On error the temporary file or
    directory is removed, so no partial output is ever left where a later stage would read it;
    leftovers of an earlier write that was killed (SIGKILL skips any clean-up) are removed
    before this one starts.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    prefix = _temp_prefix(target)
    if is_dir:
        tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=target.parent))
    else:
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if is_dir:
            # two renames, then the slow delete: the target is absent only between the renames,
            # never while an old tree is being removed
            old = None
            if target.exists():
                old = Path(tempfile.mkdtemp(prefix=prefix, suffix=".old.tmp", dir=target.parent))
                os.replace(target, old / target.name)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def write_text(target: str | Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_json(target: str | Path, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    # numpy scalars and arrays without importing numpy at module load
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
