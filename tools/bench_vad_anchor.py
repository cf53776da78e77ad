#!/usr/bin/env python3
"""bench_vad_anchor.py — times WhisperX's own VAD (pyannote segmentation on CPU, then
Binarize + merge_chunks, as FasterWhisperPipeline.transcribe runs them) on one recording
and prints one JSON line, the anchor for tools/bench_vad.c:
  {"engine": "whisperx", "stage": "vad", "audio": ..., "audio_s": ..., "wall_s": ..., ...}

Run in the VAD venv (tools/requirements-vad.txt):
  .cache/venv-vad/bin/python tools/bench_vad_anchor.py [--audio .cache/bench/long.wav] [--threads N]
wall_s covers the VAD only (audio decoded and model loaded beforehand, timed apart); cpu_s
is the process CPU time over the same span (all threads), steadier on a shared host.
"""
import argparse
import json
import os
import time

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--audio", default=".cache/bench/long.wav")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import whisperx
    from whisperx.vads import Pyannote

    audio = whisperx.load_audio(args.audio)
    t0 = time.perf_counter()
    vad = Pyannote(torch.device("cpu"), token=None, vad_onset=0.500, vad_offset=0.363,
                   chunk_size=30)
    t1, c1 = time.perf_counter(), time.process_time()
    scores = vad({"waveform": Pyannote.preprocess_audio(audio), "sample_rate": 16000})
    chunks = Pyannote.merge_chunks(scores, 30, onset=0.500, offset=0.363)
    t2, c2 = time.perf_counter(), time.process_time()
    print(json.dumps({"engine": "whisperx", "stage": "vad", "audio": args.audio,
                      "audio_s": round(len(audio) / 16000, 3), "wall_s": round(t2 - t1, 4),
                      "cpu_s": round(c2 - c1, 3), "load_s": round(t1 - t0, 4), "threads": args.threads,
                      "chunks": len(chunks)}))


if __name__ == "__main__":
    main()
