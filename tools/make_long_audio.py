#!/usr/bin/env python3
"""make_long_audio.py — builds the long benchmark input .cache/bench/long.wav.

Run from the project root with the tools venv (tools/bench.sh does it):
    .cache/venv-tools/bin/python tools/make_long_audio.py [--out PATH] [--min-seconds 300]

Concatenates the real recordings of ../shared/data (every .wav/.mp3/.flac except
empty.wav, sorted by name, decoded to 16 kHz mono with faster_whisper.decode_audio)
with 0.5 s of silence between them, repeating the list until the result is at least
--min-seconds long, and writes a 16 kHz mono PCM16 WAV. Does nothing when the output
exists and is newer than this script.
"""
import argparse
import glob
import os
import sys
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SR = 16000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(ROOT, ".cache", "bench", "long.wav"))
    ap.add_argument("--min-seconds", type=float, default=300.0)
    args = ap.parse_args()

    if os.path.exists(args.out) and os.path.getmtime(args.out) > os.path.getmtime(__file__):
        print(f"{os.path.relpath(args.out, ROOT)} is up to date", file=sys.stderr)
        return

    from faster_whisper import decode_audio  # imported late: slow, and unneeded when cached

    files = sorted(f for ext in ("wav", "mp3", "flac")
                   for f in glob.glob(os.path.join(args.data, f"*.{ext}"))
                   if os.path.basename(f) != "empty.wav")
    if not files:
        sys.exit(f"make_long_audio: no recordings found in {args.data}")
    clips = [decode_audio(f, sampling_rate=SR) for f in files]
    gap = np.zeros(SR // 2, np.float32)

    parts, total = [], 0
    while total < args.min_seconds * SR:
        for clip in clips:
            parts += [clip, gap]
            total += len(clip) + len(gap)
    audio = np.concatenate(parts[:-1])  # no trailing gap

    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())
    os.replace(tmp, args.out)
    print(f"wrote {os.path.relpath(args.out, ROOT)}: {len(pcm) / SR:.1f} s from "
          f"{len(files)} recordings", file=sys.stderr)


if __name__ == "__main__":
    main()
