"""The code a module runs: its import closure within the package, read statically.

A job depends on exactly the files that can shape its output: the stage module, every
``pipeline`` module it imports (directly or through other modules, including each imported
package's ``__init__``), and the data files those modules name (a YAML table, a template).
The same list drives the Snakemake inputs, the DVC deps and any cache key
(``code_fingerprint``), so an edit re-runs a job under both engines exactly when it can
change what the job writes, and never otherwise: the CLI dispatcher and other stages are not in
a stage's closure.

Reading is static (``ast``), so nothing is imported: a module named only as a string (an
``importlib`` table such as the dataset layouts) counts as imported when the string is the full
dotted name of a module of the package. A data file counts when a string literal of a
closure module equals its file name or its path below the package.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "pipeline"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = PACKAGE_DIR.parent
# suffixes of files that may be read as data by package code
DATA_SUFFIXES = (".yaml", ".yml", ".json", ".j2", ".csv", ".txt")


def _module_path(name: str) -> Path | None:
    """Source file of module ``name`` (a package's ``__init__.py``), or None if not in the package."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    if base.is_dir() and (base / "__init__.py").is_file():
        return base / "__init__.py"
    file = base.with_suffix(".py")
    return file if file.is_file() else None


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE_DIR).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.lru_cache(maxsize=None)
def _data_files() -> dict[str, Path]:
    """Data files of the package by file name and by path below the package."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if path.is_file() and path.suffix in DATA_SUFFIXES and "__pycache__" not in path.parts:
            found.setdefault(path.name, path)
            found[path.relative_to(PACKAGE_DIR).as_posix()] = path
    return found


def _parents(name: str) -> list[str]:
    """Packages whose ``__init__`` runs when ``name`` is imported (``a.b.c`` -> ``a``, ``a.b``)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@functools.lru_cache(maxsize=None)
def _direct(path: Path) -> tuple[frozenset[str], frozenset[Path]]:
    """Modules of the package imported by one source file, and the data files it names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    modules: set[str] = set()
    data: set[Path] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            modules.add(origin)
            # ``from pkg import mod`` imports a submodule when one of that name exists
            modules.update(f"{origin}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text.startswith(f"{PACKAGE}.") and _module_path(text) is not None:
                modules.add(text)
            elif text in _data_files():
                data.add(_data_files()[text])
    inside = {m for m in modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")}
    return frozenset(m for m in inside if _module_path(m) is not None), frozenset(data)


@functools.lru_cache(maxsize=None)
def import_closure(module: str) -> tuple[str, ...]:
    """Repository-relative paths of every file ``module`` runs or reads, sorted.

    ``module`` is a dotted name in the package (``pipeline.stages.preprocess``).
    """
    start = _module_path(module)
    if start is None:
        raise ValueError(f"no module {module!r} in package {PACKAGE!r}")
    seen: set[Path] = set()
    data: set[Path] = set()
    pending = [module, *_parents(module)]
    while pending:
        name = pending.pop()
        path = _module_path(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        modules, files = _direct(path)
        data.update(files)
        for imported in modules:
            pending.extend([imported, *_parents(imported)])
    return tuple(sorted(p.relative_to(REPO_ROOT).as_posix() for p in seen | data))


def code_fingerprint(module: str, extra: str = "") -> str:
    """Hash of the names and bytes of ``import_closure(module)`` (plus ``extra``): a cache key
    component that changes exactly when the job's code dependencies change."""
    digest = hashlib.sha256(extra.encode())
    for rel in import_closure(module):
        digest.update(rel.encode() + b"\0")
        digest.update((REPO_ROOT / rel).read_bytes())
    return digest.hexdigest()[:16]
