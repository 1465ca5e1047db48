#!/usr/bin/env bash
# Set up the environment and run the test suite (unit tests, DAG parity, both engines end to end
# on the tiny configuration). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# the report test opens reports/index.html in headless Chromium (Debian's package): install it when
# we may; where it cannot be installed that test is skipped and says why
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "warning: could not install chromium; the browser test of the report will be skipped" >&2
  else
    echo "note: no chromium (apt-get install chromium); the browser test of the report will be skipped" >&2
  fi
fi
export PATH="$PWD/.venv/bin:$PATH" DVC_NO_ANALYTICS=1
exec python -m pytest "$@"
