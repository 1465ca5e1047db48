#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv from pyproject.toml.
# Idempotent: re-installs only when pyproject.toml changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  # Debian ships venv's pip bootstrap separately (python3-venv); install it when we may
  if ! "$PYTHON" -c "import ensurepip" 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv
    else
      echo "error: $PYTHON cannot create a virtual environment: install python3-venv (apt-get install python3-venv)" >&2
      exit 1
    fi
  fi
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  # The face-landmark detector that aligns user-supplied videos (preprocess.face_alignment,
  # source mediapipe): mediapipe 0.10.14 is the last release line whose wheel ships the Face Mesh
  # model (1.x wheels ship none), so nothing downloads at run time. Installed without its unused
  # dependencies (jax, and opencv-contrib-python, which would shadow OpenCV's headless build).
  .venv/bin/python -m pip install --quiet --no-deps 'mediapipe==0.10.14' 'absl-py>=2' 'flatbuffers>=2.0' \
    'protobuf>=4.25.3,<5' 'attrs>=19.1.0' 'sounddevice>=0.4.4'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
