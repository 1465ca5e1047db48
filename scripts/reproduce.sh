#!/usr/bin/env bash
# Set up the environment and reproduce every table and figure of the default configuration
# (the built-in semi-synthetic datasets). Extra arguments go to snakemake, e.g. --cores 8.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1
if [ "$#" -eq 0 ]; then set -- --cores all; fi
snakemake "$@"
echo "Report: reports/index.html (tables in reports/tables, figures in reports/figures)"
