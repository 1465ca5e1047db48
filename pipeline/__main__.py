"""Command line: ``python -m pipeline <stage> [options]``.

Routes to ``pipeline.stages.<stage>`` (dashes for underscores). The stages are found in that
package, so there is no list to maintain, and no job depends on this dispatcher: the DAG runs
``python -m pipeline.stages.<name>`` directly.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import pipeline.stages
from pipeline.cli import run_main


def stage_names() -> list[str]:
    """Command names of the stage modules."""
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(pipeline.stages.__path__))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = stage_names()
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in names:
        print(f"usage: python -m pipeline <stage> [options]\nstages: {', '.join(names)}", file=sys.stderr)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    module = importlib.import_module(f"pipeline.stages.{argv[0].replace('-', '_')}")
    return run_main(module.main, argv[1:])


if __name__ == "__main__":
    sys.exit(main())
