#!/usr/bin/env bash
# install_deps.sh — installs the Debian packages the build needs, only those missing (so a
# second run does nothing). Uses sudo when not root. The ffmpeg program is for the tests
# only (tests/test_audio_ffmpeg.c compares our decoder with it); the worker links FFmpeg's
# libraries and never runs it.
set -euo pipefail

packages=(build-essential cmake pkg-config python3 python3-pip
          libavformat-dev libavcodec-dev libswresample-dev libavutil-dev ffmpeg
          libopenblas-dev libpcre2-dev libjansson-dev
          libcurl4-openssl-dev libutf8proc-dev libmicrohttpd-dev zlib1g-dev libyaml-dev)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3 and pip may come from elsewhere (pyenv); only ask apt when they are really absent.
filtered=()
for p in "${missing[@]}"; do
    case "$p" in
    python3) command -v python3 >/dev/null || filtered+=("$p") ;;
    python3-pip) python3 -m pip --version >/dev/null 2>&1 || filtered+=("$p") ;;
    *) filtered+=("$p") ;;
    esac
done
[ ${#filtered[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${filtered[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${filtered[@]}" >&2
