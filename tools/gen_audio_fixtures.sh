#!/usr/bin/env bash
# gen_audio_fixtures.sh — makes the container fixtures of the audio tests with the ffmpeg
# program (Debian 12's ffmpeg 5.1, installed by scripts/install_deps.sh), from the shared
# recording jfk.flac (faster-whisper tests/data, MIT; speech public domain):
#   tests/fixtures/audio_seeds/   the fuzzer's seed corpus (tests/fuzz_audio.c): 0.3 s
#                                 (1.0–1.3 s) of jfk in each container users upload, a few KB
#   tests/fixtures/audio_bomb.flac  one hour of 8 kHz digital silence (14 KB) whose STREAMINFO
#                                 no longer declares its length or MD5: a decompression bomb
#                                 that only the during-decoding limit catches
# Run from the project root: tools/gen_audio_fixtures.sh [data dir, default ../shared/data]
set -euo pipefail
data=${1:-../shared/data}
src=$data/jfk.flac
out=tests/fixtures/audio_seeds
mkdir -p "$out"
ff() { ffmpeg -nostdin -v error -y -fflags +bitexact "$@"; }
cut=(-ss 1.0 -t 0.3 -i "$src")
ff "${cut[@]}" -ac 1 -ar 16000 -c:a pcm_s16le -flags +bitexact "$out/jfk.wav"
ff "${cut[@]}" -c:a aac -b:a 32k -flags +bitexact "$out/jfk.m4a"
ff -f lavfi -i "color=c=gray:size=16x16:rate=5:duration=0.3" "${cut[@]}" -shortest \
   -c:v mpeg4 -c:a aac -b:a 32k -flags +bitexact "$out/jfk_video.mp4"
ff "${cut[@]}" -c:a libopus -b:a 16k -flags +bitexact "$out/jfk.webm"
ff "${cut[@]}" -c:a libvorbis -q:a 0 -flags +bitexact "$out/jfk.ogg"
ff "${cut[@]}" -ac 1 -c:a libmp3lame -b:a 32k -flags +bitexact "$out/jfk.mp3"
ff "${cut[@]}" -c:a aac -b:a 32k -f adts -flags +bitexact "$out/jfk.aac"
ff "${cut[@]}" -ar 8000 -ac 1 -c:a pcm_mulaw -flags +bitexact "$out/jfk_ulaw.wav"

bomb=tests/fixtures/audio_bomb.flac
ff -f lavfi -i anullsrc=r=8000:cl=mono -t 3600 -c:a flac -frame_size 65535 "$bomb"
# STREAMINFO (bytes 8..41): zero the 36-bit total-samples field and the MD5.
python3 - "$bomb" <<'PY'
import sys
path = sys.argv[1]
d = bytearray(open(path, "rb").read())
assert d[:4] == b"fLaC" and d[4] & 0x7F == 0, "first metadata block must be STREAMINFO"
o = 8 + 10
v = int.from_bytes(d[o:o + 8], "big") & ~((1 << 36) - 1)
d[o:o + 8] = v.to_bytes(8, "big")
d[26:42] = bytes(16)
open(path, "wb").write(d)
PY
ls -l "$out" "$bomb"
