"""bench_decode_anchor.py — times WhisperX's audio decoding on one file and prints one JSON
line, the anchor of tools/bench_decode.c:
  {"engine":"whisperx","stage":"decode","audio":...,"audio_s":...,"wall_s":...}
whisperx.load_audio (whisperx 3.8.6, whisperx/audio.py) is reproduced here line for line
(the ffmpeg subprocess, np.frombuffer, / 32768) so that timing it needs only numpy and the
ffmpeg program, not the PyTorch venv. wall_s: median of --runs.
Usage: python tools/bench_decode_anchor.py --audio FILE [--runs 3]
"""
import argparse
import json
import statistics
import subprocess
import time

import numpy as np


def load_audio(file, sr=16000):
    cmd = ["ffmpeg", "-nostdin", "-threads", "0", "-i", file, "-f", "s16le", "-ac", "1",
           "-acodec", "pcm_s16le", "-ar", str(sr), "-"]
    out = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(out, np.int16).flatten().astype(np.float32) / 32768.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audio", required=True)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    walls, n = [], 0
    for _ in range(a.runs):
        t0 = time.perf_counter()
        n = len(load_audio(a.audio))
        walls.append(time.perf_counter() - t0)
    print(json.dumps({"engine": "whisperx", "stage": "decode", "audio": a.audio,
                      "audio_s": round(n / 16000, 3), "wall_s": round(statistics.median(walls), 4),
                      "runs": a.runs}))


if __name__ == "__main__":
    main()
