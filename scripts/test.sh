#!/usr/bin/env bash
# Set up the environment and run the test suite (unit tests, DAG parity, both engines end to end
# on the tiny configuration). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1
exec python -m pytest "$@"
