"""Command line: ``python -m pipeline <stage> [options]``.

Every stage is a pure function in its own module plus a thin ``main(argv)`` that reads its
params.yaml section; this dispatcher only routes and turns PipelineError into one line.
"""

from __future__ import annotations

import importlib
import sys

from pipeline.errors import PipelineError

# stage name -> module exposing main(argv: list[str]) -> None
STAGES = {
    "generate": "pipeline.synth.generate",
    "ingest": "pipeline.ingest",
    "splits": "pipeline.splits",
    "preprocess": "pipeline.preprocess",
    "unsupervised": "pipeline.unsupervised",
    "compute-audit": "pipeline.compute_audit",
    "report": "pipeline.report.build",
    "validate-params": "pipeline.validate_params",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in STAGES:
        names = ", ".join(sorted(STAGES))
        print(f"usage: python -m pipeline <stage> [options]\nstages: {names}", file=sys.stderr)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    stage, rest = argv[0], argv[1:]
    try:
        module = importlib.import_module(STAGES[stage])
        module.main(rest)
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
