#!/usr/bin/env bash
# test.sh — the README's second command: builds the release tree and an AddressSanitizer +
# UndefinedBehaviorSanitizer tree and runs the whole ctest suite in both, then a
# ThreadSanitizer tree for the tests that run threads (the runtime, the CPU thread pool, the
# pipeline), then the GPU check's emulated dry run.
# Needs what scripts/setup.sh installs (it runs the install and model steps itself).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install_deps.sh
bash builder/fetch_models.sh
jobs=$(nproc)

# RunPod's official client for the local-API test (tests/requirements-client.txt), in a venv
# made once and remade when the pins change; without it that one check is skipped.
venv=.cache/venv-client
hash=$(sha256sum tests/requirements-client.txt | cut -d' ' -f1)
if [ "$(cat "$venv/.req-hash" 2>/dev/null)" != "$hash" ]; then
    rm -rf "$venv"
    if python3 -m venv "$venv" &&
       "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
           -r tests/requirements-client.txt; then
        echo "$hash" > "$venv/.req-hash"
    else
        echo "test.sh: could not install the runpod client; its check will be skipped" >&2
        rm -rf "$venv"
    fi
fi
python_opt=()
[ -x "$venv/bin/python" ] && python_opt=(-DPython3_EXECUTABLE="$root/$venv/bin/python")

# pyannote.metrics for the DER test (tools/requirements-der.txt, no torch), made the same way;
# without it the ctest diarization_der is not registered, and this says so.
der_venv=.cache/venv-der
der_hash=$(sha256sum tools/requirements-der.txt | cut -d' ' -f1)
if [ "$(cat "$der_venv/.req-hash" 2>/dev/null)" != "$der_hash" ]; then
    rm -rf "$der_venv"
    if python3 -m venv "$der_venv" &&
       "$der_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
           -r tools/requirements-der.txt; then
        echo "$der_hash" > "$der_venv/.req-hash"
    else
        echo "test.sh: could not install pyannote.metrics; diarization_der is not run" >&2
        rm -rf "$der_venv"
    fi
fi
der_opt=(-DWX_DER_PYTHON=)
[ -x "$der_venv/bin/python" ] && der_opt=(-DWX_DER_PYTHON="$root/$der_venv/bin/python")

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${python_opt[@]}" "${der_opt[@]}" >/dev/null
cmake --build build -j "$jobs" >/dev/null
# The sanitizer tree runs the CUDA kernels under the emulator only (no nvcc objects: they
# cannot run here and are built once in the release tree).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWX_SANITIZE=ON -DWX_WITH_NVCC=OFF \
    "${python_opt[@]}" >/dev/null
cmake --build build-asan -j "$jobs" >/dev/null
# ThreadSanitizer: only the binaries its tests need (no kernels, no emulator).
# The worker tests transcribe through the pipeline's threads; whole-recording parity is left to
# the other trees (8 minutes under TSan), and so are worker_local (one job at a time, its
# many bad inputs each a new process: 5.5 minutes) and worker_queue_soak (300 jobs through
# the paths worker_queue_protocol, _leak and _crash already run threaded: 2 minutes), and
# worker_hub (seven worker processes; the hub's own threads run in test_hub here).
tsan_targets=(whisperx-worker test_backend_cpu test_vad test_job_render fuzz_request_smoke test_hub)
tsan_tests='^(worker_|test_backend_cpu|test_vad|test_job_render|fuzz_request|test_hub)'
tsan_skip='^(worker_local|worker_queue_soak|worker_hub)$'
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWX_TSAN=ON -DWX_WITH_NVCC=OFF \
    "${python_opt[@]}" >/dev/null
cmake --build build-tsan -j "$jobs" --target "${tsan_targets[@]}" >/dev/null

echo "== release build" >&2
ctest --test-dir build --output-on-failure
# Left to the release tree, to keep CI within its time: the whole-recording parity runs
# (every recording decoded twice, float32 and int8; their code runs under ASan in
# test_whisper, test_vad, test_word_timing, test_backend_q8* and worker_local) and
# worker_queue_soak (300 jobs; worker_queue_leak runs the same paths for 50).
echo "== address + undefined sanitizer build" >&2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan -E '^(test_whisperx_parity|test_whisperx_parity_int8|worker_queue_soak)$' \
    --output-on-failure
echo "== thread sanitizer build (runtime, thread pool, pipeline)" >&2
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    ctest --test-dir build-tsan -R "$tsan_tests" -E "$tsan_skip" --output-on-failure
# The GPU check's dry run (scripts/gpu_check.sh --emulate): every step of the check on the
# emulated CUDA backend with small shapes, reusing the release tree (about 40 s).
echo "== GPU check, emulated dry run" >&2
WX_GPU_CHECK_BUILD=build bash scripts/gpu_check.sh --emulate build/gpu-check-dry-run
