"""bench_align_anchor.py — the anchor for word timing: whisperx 3.8.6's wav2vec2 alignment
(transformers' Wav2Vec2ForCTC + whisperx.alignment.align) and faster-whisper's Whisper word
timing, on 2 threads, printing JSON lines for tools/bench.sh (run with .cache/venv-vad/bin/python,
pinned in tools/requirements-vad.txt).

  bench_align_anchor.py --audio FILE --whisper DIR --out DIR [--threads N] [--runs N]

1. Makes (once, seeded) two random-weight wav2vec2 CTC models of the real shapes in DIR:
   base (WAV2VEC2_ASR_BASE_960H: 768 wide, 12 layers, group-norm extractor, post-norm) and large
   (XLS-R 53: 1024 wide, 24 layers, layer-norm extractor, stable layer norm), English letters.
2. Transcribes the audio once with WhisperX (its VAD and batched decoding on the Whisper model),
   writes the segments to DIR/segments.json (our side aligns the same ones).
3. Times whisperx.align with each model: the median of --runs, one JSON line each (its Punkt
   tables cannot be fetched here: NLTK's Punkt with our parameters, as tools/gen_align_fixtures.py).
4. Times faster-whisper's word timing: the time BatchedInferencePipeline.transcribe(...,
   word_timestamps=True) spends in its add_word_timestamps (CTranslate2's align and the word
   merge) on the same audio, median of --runs.
"""
import argparse
import json
import os
import statistics
import time

import sys

import torch
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer
from transformers import Wav2Vec2Config, Wav2Vec2ForCTC

import whisperx
import whisperx.alignment as wxa

sys.path.insert(0, os.path.dirname(__file__))
from gen_align_fixtures import punkt_abbreviations  # noqa: E402

LABELS = ["<pad>", "<s>", "</s>", "<unk>", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D",
          "L", "U", "M", "W", "C", "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q", "Z"]
SHAPES = {
    "base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, feat_extract_norm="group", do_stable_layer_norm=False,
                 conv_bias=False),
    "large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                  intermediate_size=4096, feat_extract_norm="layer", do_stable_layer_norm=True,
                  conv_bias=True),
}


def make_model(out, family):
    path = os.path.join(out, f"w2v-{family}")
    if os.path.exists(os.path.join(path, "model.safetensors")):
        return path
    torch.manual_seed({"base": 1, "large": 2}[family])
    cfg = Wav2Vec2Config(vocab_size=len(LABELS), pad_token_id=0, **SHAPES[family])
    Wav2Vec2ForCTC(cfg).eval().save_pretrained(path)
    with open(os.path.join(path, "vocab.json"), "w") as f:
        json.dump({c: i for i, c in enumerate(LABELS)}, f)
    return path


def median_time(fn, runs):
    walls = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
    return statistics.median(walls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--audio", required=True)
    ap.add_argument("--whisper", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    params = PunktParameters()
    params.abbrev_types = punkt_abbreviations()
    splitter = PunktSentenceTokenizer(params)
    wxa.nltk_load = lambda _name: splitter
    audio = whisperx.load_audio(args.audio)
    audio_s = len(audio) / 16000
    asr = whisperx.load_model(args.whisper, "cpu", compute_type="float32", language="en",
                              vad_method="pyannote", threads=args.threads)
    segments = asr.transcribe(audio, batch_size=8)["segments"]
    with open(os.path.join(args.out, "segments.json"), "w") as f:
        json.dump({"segments": segments}, f)
    for family in ("base", "large"):
        path = make_model(args.out, family)
        model = Wav2Vec2ForCTC.from_pretrained(path).eval()
        meta = {"language": "en", "dictionary": {c.lower(): i for i, c in enumerate(LABELS)},
                "type": "huggingface"}
        words = []

        def align():
            words[:] = wxa.align(segments, model, meta, audio, "cpu")["word_segments"]
        wall = median_time(align, args.runs)
        print(json.dumps({"engine": "whisperx.align", "model": path, "family": family,
                          "audio": args.audio, "audio_s": audio_s, "wall_s": wall,
                          "s_per_audio_min": wall * 60 / audio_s, "words": len(words),
                          "runs": args.runs, "threads": args.threads}), flush=True)
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    whisper = WhisperModel(args.whisper, device="cpu", compute_type="float32",
                           cpu_threads=args.threads)
    spent = []
    timed = whisper.add_word_timestamps

    def add_word_timestamps(*a, **k):   # the whole cost of faster-whisper's word timing
        t = time.perf_counter()
        result = timed(*a, **k)
        spent[-1] += time.perf_counter() - t
        return result
    whisper.add_word_timestamps = add_word_timestamps
    fw = BatchedInferencePipeline(whisper)
    walls = []
    for _ in range(args.runs):
        spent.append(0.0)
        t = time.perf_counter()
        list(fw.transcribe(audio, language="en", beam_size=5, batch_size=8,
                           word_timestamps=True)[0])
        walls.append(time.perf_counter() - t)
    cost = statistics.median(spent)
    print(json.dumps({"engine": "faster-whisper", "audio": args.audio, "audio_s": audio_s,
                      "wall_s": statistics.median(walls), "word_timing_s": cost,
                      "s_per_audio_min": cost * 60 / audio_s, "runs": args.runs,
                      "threads": args.threads}), flush=True)


if __name__ == "__main__":
    main()
