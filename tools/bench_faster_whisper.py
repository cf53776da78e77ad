#!/usr/bin/env python3
"""bench_faster_whisper.py — the anchor: faster-whisper/CTranslate2 driven the way WhisperX drives it.

Run from the project root (tools/bench.sh runs it for you):
    .cache/venv-tools/bin/python tools/bench_faster_whisper.py --model models/tiny.en \
        --audio ../shared/data/jfk.wav --threads 2 --beam 5 --batch 8 --compute-type float32

Pipeline (no VAD): faster_whisper.decode_audio -> consecutive 30 s windows -> log-mel per
window (FeatureExtractor, padding = 480000 - len, first 3000 frames, as WhisperX's
preprocess) -> per batch of windows: model.encode, then model.generate with the arguments
of whisperx/asr.py generate_segment_batched (beam_size, patience=1, length_penalty=1,
max_length=448, suppress_blank=True, suppress_tokens=[-1], no_repeat_ngram_size=0,
repetition_penalty=1, return_scores=True; prompt [<|startoftranscript|>, <|notimestamps|>]
for English-only models) -> texts (tokens < eot, HF decode_batch).
Model: ctranslate2.models.Whisper(device="cpu" or "cuda", intra_threads=N, inter_threads=1).

Prints ONE JSON line: engine, compute_type, audio, audio_s, wall_s (decode_audio + mel +
encode + decode; model load excluded), rtf, stages{decode_audio, mel, encode, decode},
load_s, peak_rss_mb (ru_maxrss), text (window texts stripped, joined with one space).
"""
import argparse
import json
import os
import resource
import time

import numpy as np

N_SAMPLES = 480000  # 30 s at 16 kHz
N_FRAMES = 3000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--audio", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--compute-type", default="float32",
                    choices=["float32", "int8", "float16", "int8_float16"])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = ap.parse_args()

    import ctranslate2
    import tokenizers
    from faster_whisper import decode_audio
    from faster_whisper.feature_extractor import FeatureExtractor
    from faster_whisper.tokenizer import Tokenizer

    t0 = time.perf_counter()
    model = ctranslate2.models.Whisper(args.model, device=args.device, compute_type=args.compute_type,
                                       intra_threads=args.threads, inter_threads=1)
    hf = tokenizers.Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tok = Tokenizer(hf, model.is_multilingual, task="transcribe", language="en")
    prompt = list(tok.sot_sequence) + [tok.no_timestamps]
    fe = FeatureExtractor(feature_size=model.n_mels)
    load_s = time.perf_counter() - t0

    stages = {"decode_audio": 0.0, "mel": 0.0, "encode": 0.0, "decode": 0.0}
    t_start = time.perf_counter()

    t = time.perf_counter()
    audio = decode_audio(args.audio, sampling_rate=16000)
    stages["decode_audio"] = time.perf_counter() - t

    t = time.perf_counter()
    feats = []
    for start in range(0, max(len(audio), 1), N_SAMPLES):
        chunk = audio[start:start + N_SAMPLES]
        feats.append(fe(chunk, padding=N_SAMPLES - len(chunk))[:, :N_FRAMES])
    stages["mel"] = time.perf_counter() - t

    texts = []
    for b in range(0, len(feats), args.batch):
        batch = np.ascontiguousarray(np.stack(feats[b:b + args.batch]), dtype=np.float32)
        t = time.perf_counter()
        enc = model.encode(ctranslate2.StorageView.from_array(batch))
        stages["encode"] += time.perf_counter() - t

        t = time.perf_counter()
        results = model.generate(enc, [prompt] * len(batch), beam_size=args.beam, patience=1,
                                 length_penalty=1, max_length=448, suppress_blank=True,
                                 suppress_tokens=[-1], no_repeat_ngram_size=0,
                                 repetition_penalty=1, return_scores=True)
        tokens = [[x for x in r.sequences_ids[0] if x < tok.eot] for r in results]
        texts += hf.decode_batch(tokens)
        stages["decode"] += time.perf_counter() - t

    wall = time.perf_counter() - t_start
    audio_s = len(audio) / 16000.0
    print(json.dumps({
        "engine": "faster-whisper",
        "device": args.device,
        "compute_type": args.compute_type,
        "audio": args.audio,
        "audio_s": round(audio_s, 3),
        "wall_s": round(wall, 4),
        "rtf": round(wall / audio_s, 5) if audio_s else None,
        "stages": {k: round(v, 4) for k, v in stages.items()},
        "load_s": round(load_s, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "text": " ".join(s.strip() for s in texts if s.strip()),
    }, ensure_ascii=False))


if __name__ == "__main__":
    main()
