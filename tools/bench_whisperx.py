"""bench_whisperx.py — the anchor for the WhisperX flow: WhisperX's own transcribe (pyannote
VAD, merge_chunks, batched faster-whisper), timed per stage in one process, printing one JSON
line with the keys of build/wx-bench (run with .cache/venv-vad/bin/python, pinned in
tools/requirements-vad.txt).

  bench_whisperx.py --model DIR --audio FILE --threads N --beam N --batch N
"""
import argparse
import json
import resource
import time

import torch
import whisperx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--audio", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--compute-type", default="float32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = whisperx.load_model(args.model, args.device, compute_type=args.compute_type, language="en",
                                vad_method="pyannote", threads=args.threads,
                                asr_options={"beam_size": args.beam})
    t1 = time.perf_counter()
    audio = whisperx.load_audio(args.audio)
    t2 = time.perf_counter()
    vad_time = [0.0]
    base = type(model.vad_model)

    class TimedVad(base):  # same class for WhisperX's isinstance checks, timed __call__
        def __call__(self, *a, **k):
            s = time.perf_counter()
            out = base.__call__(self, *a, **k)
            vad_time[0] += time.perf_counter() - s
            return out
    model.vad_model.__class__ = TimedVad
    result = model.transcribe(audio, batch_size=args.batch, language="en")
    t3 = time.perf_counter()
    wall = t3 - t1
    segs = result["segments"]
    print(json.dumps({
        "engine": "whisperx", "device": args.device, "compute_type": args.compute_type,
        "audio": args.audio,
        "audio_s": len(audio) / 16000, "wall_s": round(wall, 4),
        "rtf": round(wall / (len(audio) / 16000), 5),
        "stages": {"decode_audio": round(t2 - t1, 4), "vad": round(vad_time[0], 4),
                   "mel": 0.0, "encode": 0.0, "decode": round(t3 - t2 - vad_time[0], 4)},
        "load_s": round(t1 - t0, 4),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "text": " ".join(s["text"].strip() for s in segs), "segments": len(segs)}))


if __name__ == "__main__":
    main()
