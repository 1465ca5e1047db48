"""Libraries never import stage modules, and a stage module is argument parsing plus one call."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pipeline"
STAGE_DIR = PACKAGE / "stages"
LIBRARIES = sorted(p for p in PACKAGE.rglob("*.py") if STAGE_DIR not in p.parents and p.name != "__main__.py")
STAGE_MODULES = sorted(p for p in STAGE_DIR.glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", LIBRARIES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_library_imports_a_stage(path):
    """Import statements only: the DAG declaration names stage modules as strings to run them."""
    imported = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
    assert not [m for m in imported if m == "pipeline.stages" or m.startswith("pipeline.stages.")]


@pytest.mark.parametrize("path", STAGE_MODULES, ids=lambda p: p.name)
def test_a_stage_module_is_argument_parsing_plus_one_call(path):
    tree = ast.parse(path.read_text())
    defs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef))]
    assert defs == ["main"], f"{path.name} defines {defs}: logic belongs in a library"
    main = tree.body[[getattr(n, "name", None) for n in tree.body].index("main")]
    # no loops or branches: the work is the library's
    assert not [n for n in ast.walk(main) if isinstance(n, (ast.For, ast.While, ast.If, ast.Try, ast.With))]
    assert ast.get_docstring(tree), f"{path.name}: a one-line docstring says what the stage does"


def test_the_dispatcher_finds_every_stage():
    from pipeline.__main__ import stage_names

    assert stage_names() == sorted(p.stem.replace("_", "-") for p in STAGE_MODULES)
