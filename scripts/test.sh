#!/usr/bin/env bash
# test.sh — the README's second command: builds the release tree and an AddressSanitizer +
# UndefinedBehaviorSanitizer tree, and runs the whole ctest suite in both.
# Needs what scripts/setup.sh installs (it runs the install and model steps itself).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install_deps.sh
bash builder/fetch_models.sh
jobs=$(nproc)

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs" >/dev/null
# The sanitizer tree runs the CUDA kernels under the emulator only (no nvcc objects: they
# cannot run here and are built once in the release tree).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWX_SANITIZE=ON -DWX_WITH_NVCC=OFF >/dev/null
cmake --build build-asan -j "$jobs" >/dev/null

echo "== release build" >&2
ctest --test-dir build --output-on-failure
echo "== address + undefined sanitizer build" >&2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure
