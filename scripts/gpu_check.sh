#!/usr/bin/env bash
# gpu_check.sh — the GPU check for a short rental (one GPU, no network, < 8 minutes): builds
# for this device's architecture only, runs every _gpu suite plainly and under
# compute-sanitizer (memcheck, racecheck, synccheck), runs the benchmark rows on a
# random-weight large-v3 made here (decoding steps as CUDA graphs, then once more with
# WX_CUDA_GRAPHS=0 for the launch-by-launch figure), and writes OUTDIR/report.md + OUTDIR/report.json. Each
# step has its own timeout inside a global deadline; a failed step is recorded and the next
# one runs, so partial results are always kept.
#   scripts/gpu_check.sh --prepare        on the dev machine: the int8 tiny.en, the VAD and
#                                         jfk.wav into .cache/gpu-check (47 MB; carry it)
#   scripts/gpu_check.sh OUTDIR           on the GPU machine
#   scripts/gpu_check.sh --emulate OUTDIR the same steps on the emulated CUDA backend, small
#                                         shapes (the dry run that .ci/run takes)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pack=.cache/gpu-check

prepare() {
    set -e
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build build -j"$(nproc)" --target wx-ct2-tool >/dev/null
    mkdir -p "$pack/data"
    build/wx-ct2-tool int8 models/tiny.en "$pack/tiny.en-int8"
    rm -rf "$pack/vad" && cp -r models/vad "$pack/vad"
    cp "${WX_DATA_DIR:-../shared/data}/jfk.wav" "$pack/data/jfk.wav"
    du -sh "$pack"
}

emulate=0
case "${1:-}" in
--prepare) prepare; exit $? ;;
--emulate) emulate=1; shift ;;
esac
[ $# -eq 1 ] || { echo "usage: $0 [--emulate] OUTDIR | --prepare" >&2; exit 2; }
out=$(mkdir -p "$1" && cd "$1" && pwd)
deadline=$(( $(date +%s) + ${WX_GPU_CHECK_SECONDS:-470} ))
steps_json=()
steps_md=()

# run NAME TIMEOUT CMD...: runs CMD with min(TIMEOUT, time left), logs to OUTDIR/NAME.log.
run() {
    local name=$1 limit=$2 left status rc t0 t1
    shift 2
    left=$(( deadline - $(date +%s) ))
    if [ "$left" -lt 5 ]; then
        status=skipped; rc=-1; t0=0; t1=0
        echo "not run: the check's deadline was reached" > "$out/$name.log"
    else
        [ "$limit" -gt "$left" ] && limit=$left
        t0=$(date +%s.%N)
        timeout --kill-after=5 "$limit" "$@" > "$out/$name.log" 2>&1
        rc=$?
        t1=$(date +%s.%N)
        case $rc in 0) status=pass ;; 77) status=skipped ;; 124|137) status=timeout ;; *) status=fail ;; esac
    fi
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    steps_json+=("{\"step\": \"$name\", \"status\": \"$status\", \"exit\": $rc, \"seconds\": $secs, \"limit_s\": $limit}")
    steps_md+=("| $name | $status | $secs | $limit |")
    echo "gpu_check: $name: $status (${secs} s)" >&2
    [ "$status" = pass ]
}

# ---- what this machine is ---------------------------------------------------------------
{
    date -u
    uname -a
    nvidia-smi 2>&1 || echo "nvidia-smi: not available"
    nvcc --version 2>&1 || echo "nvcc: not available"
    command -v compute-sanitizer || echo "compute-sanitizer: not available"
} > "$out/machine.txt" 2>&1

model_dir=$pack/tiny.en-int8
[ -f "$model_dir/model.bin" ] || model_dir=models/tiny.en
data_dir=$pack/data
[ -f "$data_dir/jfk.wav" ] || data_dir=${WX_DATA_DIR:-../shared/data}
export WX_MODEL_DIR=$root/$model_dir WX_DATA_DIR=$(cd "$data_dir" 2>/dev/null && pwd)
export OPENBLAS_NUM_THREADS=1

if [ "$emulate" = 1 ]; then
    # WX_GPU_CHECK_BUILD: an existing tree to reuse as configured (scripts/test.sh: build/)
    bdir=${WX_GPU_CHECK_BUILD:-build-gpucheck-emu}
    cfg=(-DWX_WITH_NVCC=OFF)
    [ -n "${WX_GPU_CHECK_BUILD:-}" ] && cfg=()
    suites=(test_cuda_ops_emu test_cuda_robust_emu test_cuda_vad_emu test_cuda_resnet_emu)
    bench=(wx-gpu-bench-emu "$bdir/rand-tiny" 1 2 3 1)
    bench_off=("${bench[@]}")
    shape=tiny
    arch=emulated
else
    bdir=build-gpucheck
    cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d '. ')
    arch=${cap:-90}
    cfg=(-DCMAKE_CUDA_ARCHITECTURES="${arch}-real")
    suites=(test_cuda_ops_gpu test_cuda_model_gpu test_cuda_pipeline_gpu test_cuda_robust_gpu
            test_cuda_vad_gpu test_cuda_resnet_gpu)
    bench=(wx-gpu-bench "$bdir/rand-large-v3" 16 5 40 3)
    bench_off=(wx-gpu-bench "$bdir/rand-large-v3" 16 5 40 1)
    shape=large-v3
fi
targets=("${suites[@]}" "${bench[0]}" wx-ct2-tool wx-memory-plan)

run configure 60 cmake -S . -B "$bdir" -DCMAKE_BUILD_TYPE=Release ${cfg[@]+"${cfg[@]}"}
run build 200 cmake --build "$bdir" -j"$(nproc)" --target "${targets[@]}"
for s in "${suites[@]}"; do run "$s" 90 "$bdir/$s"; done
run random-model 60 "$bdir/wx-ct2-tool" random "$bdir/rand-$shape" "$shape" 1
run bench 150 "$bdir/${bench[0]}" "${bench[@]:1}"
WX_CUDA_GRAPHS=0 run bench-graphs-off 100 "$bdir/${bench_off[0]}" "${bench_off[@]:1}"
gib=$(nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits 2>/dev/null | head -1)
plan=()
[ -n "$gib" ] && plan=(--gib "$(awk -v m="$gib" 'BEGIN { printf "%.1f", m / 1024 }')" --gib 24 --gib 48 --gib 80)
run memory-plan 10 "$bdir/wx-memory-plan" ${plan[@]+"${plan[@]}"}
if [ "$emulate" = 0 ] && command -v compute-sanitizer >/dev/null; then
    for tool in memcheck racecheck synccheck; do
        for s in test_cuda_robust_gpu test_cuda_ops_gpu test_cuda_vad_gpu test_cuda_resnet_gpu; do
            WX_TEST_QUICK=1 run "sanitizer-$tool-$s" 60 \
                compute-sanitizer --tool "$tool" --error-exitcode 1 "$bdir/$s"
        done
    done
else
    run sanitizer 1 sh -c 'echo "compute-sanitizer not run: emulated or not installed"; exit 77'
fi

# ---- the report -------------------------------------------------------------------------
bench_json=$(grep -m1 '^{' "$out/bench.log" 2>/dev/null || echo null)
bench_off_json=$(grep -m1 '^{' "$out/bench-graphs-off.log" 2>/dev/null || echo null)
{
    echo "{\"emulated\": $([ "$emulate" = 1 ] && echo true || echo false), \"arch\": \"$arch\","
    echo " \"model_dir\": \"$model_dir\", \"bench\": $bench_json,"
    echo " \"bench_graphs_off\": $bench_off_json,"
    echo " \"steps\": ["
    for i in "${!steps_json[@]}"; do
        sep=,; [ "$i" -eq $(( ${#steps_json[@]} - 1 )) ] && sep=
        echo "  ${steps_json[$i]}$sep"
    done
    echo " ]}"
} > "$out/report.json"
{
    echo "# GPU check $([ "$emulate" = 1 ] && echo "(emulated dry run)")"
    echo
    echo "$(date -u), architecture $arch, model $model_dir. Logs: one per step in this folder."
    echo
    echo '```'
    grep -m1 -A12 "^+--\|NVIDIA-SMI" "$out/machine.txt" | head -14 || true
    echo '```'
    echo
    echo "| step | status | seconds | limit |"
    echo "|---|---|---|---|"
    printf '%s\n' "${steps_md[@]}"
    echo
    echo "Bench: \`$bench_json\`"
    echo
    echo "Bench with WX_CUDA_GRAPHS=0: \`$bench_off_json\`"
    echo
    cat "$out/memory-plan.log" 2>/dev/null
} > "$out/report.md"
failed=$(grep -c '"status": "\(fail\|timeout\)"' "$out/report.json")
echo "gpu_check: report in $out/report.md ($failed failed steps)" >&2
[ "$failed" -eq 0 ]
