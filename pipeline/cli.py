"""What every stage module shares: running its ``main`` with one-line errors."""

from __future__ import annotations

import sys
from typing import Callable

from pipeline.errors import PipelineError


def run_main(main: Callable[[list[str]], None], argv: list[str] | None = None) -> int:
    """Call ``main(argv)``; a PipelineError becomes one line on stderr and exit code 1."""
    try:
        main(list(sys.argv[1:] if argv is None else argv))
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
