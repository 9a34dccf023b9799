#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu base image).
# It installs Python and the course's grading requirements, with CPU-only torch wheels.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DEBIAN_FRONTEND=noninteractive
if ! command -v python3 >/dev/null || ! python3 -m pip --version >/dev/null 2>&1; then
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-pip python3-venv
fi
TORCH_INDEX="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["torch_index"])' "$SOURCE/gradescope.json")"
python3 -m pip install --no-cache-dir --upgrade pip
# torch==X in requirements.txt also matches the index's X+cpu wheel, which pip prefers
python3 -m pip install --no-cache-dir --extra-index-url "$TORCH_INDEX" -r "$SOURCE/requirements.txt"
python3 -c "import torch, numpy, pytest; print('torch', torch.__version__, 'ready')"
