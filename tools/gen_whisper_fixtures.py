#!/usr/bin/env python3
"""gen_whisper_fixtures.py — reference fixture for the Whisper engine (tests/fixtures/whisper_jfk.fix).

Run from the project root:  /tmp/fwvenv/bin/python tools/gen_whisper_fixtures.py
(or .cache/venv-tools/bin/python; needs ctranslate2 + faster-whisper, see tools/requirements.txt).
Inputs: models/tiny.en (CTranslate2 conversion), ../shared/data/jfk.wav, ../shared/data/sample.wav.

What it reproduces: one WhisperX chunk through faster-whisper/CTranslate2, i.e.
whisperx/asr.py FasterWhisperPipeline.preprocess + WhisperModel.generate_segment_batched:
  * audio: PCM16 read with the stdlib wave module, int16 / 32768 (float32);
  * features: log-mel of the chunk zero-padded to 30 s: faster_whisper FeatureExtractor
    (80 mels) called with padding = 480000 - len(audio), first 3000 frames kept.
    (WhisperX itself uses its torch log_mel_spectrogram with the same padding; the
    faster-whisper numpy one is the same recipe: hann 400, hop 160, |X|^2 without the
    last frame, slaney mel, log10 clamp 1e-10, max-8, (x+4)/4.)
  * model: ctranslate2.models.Whisper(model_dir, device="cpu", compute_type="float32");
    encoder_output = model.encode(features[None]);
  * prompt = faster_whisper get_prompt(previous_tokens=[], without_timestamps=True) =
    tokenizer.sot_sequence + [no_timestamps]. tiny.en is not multilingual, so
    sot_sequence = [<|startoftranscript|>] = [50257] (no language / task token) and
    <|notimestamps|> = 50362 (checked against tokenizer.json below).
  * generate, with the exact arguments of WhisperX generate_segment_batched and its
    default asr_options (whisperx/asr.py load_model):
        model.generate(encoder_output, [prompt] * batch, beam_size=5, patience=1,
                       length_penalty=1, max_length=448 (= faster_whisper
                       WhisperModel.max_length; WhisperX ignores max_new_tokens),
                       suppress_blank=True, suppress_tokens=[-1] (raw; CTranslate2
                       expands -1 to config.json suppress_ids), no_repeat_ngram_size=0,
                       repetition_penalty=1, return_scores=True)
    Here return_no_speech_prob=True is added (it does not change the search).
    greedy.* uses the same call with beam_size=1.
  * text: tokens < eot, decoded with the HF tokenizer (tokenizer.decode_batch, as
    WhisperX's decode_batch does; keeps the leading space).
  * avg_logprob as faster-whisper/WhisperX: cum = score * seq_len**length_penalty;
    avg_logprob = cum / (seq_len + 1), seq_len = len(sequences_ids[0]).

Step-0 logits: CTranslate2 4.8.5's Whisper.generate(return_logits_vocab=True) returns,
per decoding step, the vocabulary logits AFTER the logits processors (suppressed ids
set to -FLT_MAX) and BEFORE log_softmax (verified: max 20.5, logsumexp 20.8, so they
are not log-probs). Calling it with beam_size=1, max_length=3 (one step after the
2-token prompt), suppress_blank=False, suppress_tokens=[] gives the raw decoder
logits of step 0: "step0.logits" (kind in "step0.kind"). "step0.suppressed" lists
the ids that WhisperX's settings (suppress_blank + suppress_tokens=[-1]) set to
-inf at step 0 (config suppress_ids + blank ids 220 and eot 50256).

Arrays written (tools/fixture.py format):
  prompt (int32), encoder.shape (int32 [1,1500,384]), encoder.every10 (rows 0,10,..,1490
  of encoder_output[0], float32 150 x d_model), mel.every10 (frames 0,10,..,2990 of the
  features, 80 x 300), step0.logits (51864), step0.kind (text), step0.suppressed (int32),
  {beam5,greedy}.{tokens,text,score,avg_logprob,no_speech_prob} for jfk.wav, and
  sample.{beam5,greedy}.* for the first 30 s window of sample.wav.
"""
import json
import os
import sys
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import ctranslate2  # noqa: E402
import tokenizers  # noqa: E402
from faster_whisper.feature_extractor import FeatureExtractor  # noqa: E402
from faster_whisper.tokenizer import Tokenizer  # noqa: E402

from fixture import write_fixture  # noqa: E402

MODEL_DIR = os.path.join(ROOT, "models", "tiny.en")
DATA = os.path.join(ROOT, "..", "shared", "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "whisper_jfk.fix")
N_SAMPLES = 480000  # 30 s at 16 kHz
N_FRAMES = 3000

# WhisperX generate_segment_batched arguments with its default asr_options.
WHISPERX_ARGS = dict(patience=1, length_penalty=1, max_length=448, suppress_blank=True,
                     suppress_tokens=[-1], no_repeat_ngram_size=0, repetition_penalty=1,
                     return_scores=True, return_no_speech_prob=True)


def read_wav(path):
    with wave.open(path) as w:
        assert w.getnchannels() == 1 and w.getframerate() == 16000 and w.getsampwidth() == 2, path
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return pcm.astype(np.float32) / 32768.0


def features_for(audio, fe):
    chunk = audio[:N_SAMPLES]
    feat = fe(chunk, padding=N_SAMPLES - len(chunk))[:, :N_FRAMES]
    return np.ascontiguousarray(feat, dtype=np.float32)


INITIAL_PROMPT = "  President Kennedy, 1961: ask NOT what your country can do; 100% true!  "


def run_generate(model, enc, prompt, beam, tok, hf):
    r = model.generate(enc, [prompt], beam_size=beam, **WHISPERX_ARGS)[0]
    tokens = list(r.sequences_ids[0])
    seq_len = len(tokens)
    score = float(r.scores[0])
    cum = score * (seq_len ** WHISPERX_ARGS["length_penalty"])
    text = hf.decode_batch([[t for t in tokens if t < tok.eot]])[0]
    return {"tokens": np.array(tokens, np.int32), "text": text,
            "score": np.array([score], np.float32),
            "avg_logprob": np.array([cum / (seq_len + 1)], np.float32),
            "no_speech_prob": np.array([r.no_speech_prob], np.float32)}


def main():
    model = ctranslate2.models.Whisper(MODEL_DIR, device="cpu", compute_type="float32")
    hf = tokenizers.Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
    tok = Tokenizer(hf, model.is_multilingual, task="transcribe", language="en")
    ids = {t["content"]: t["id"] for t in
           json.load(open(os.path.join(MODEL_DIR, "tokenizer.json")))["added_tokens"]}
    prompt = list(tok.sot_sequence) + [tok.no_timestamps]
    assert not model.is_multilingual
    assert prompt == [ids["<|startoftranscript|>"], ids["<|notimestamps|>"]] == [50257, 50362], prompt
    fe = FeatureExtractor(feature_size=model.n_mels)

    out = {"prompt": np.array(prompt, np.int32)}

    # --- jfk.wav: encoder, step 0, beam 5, greedy
    feat = features_for(read_wav(os.path.join(DATA, "jfk.wav")), fe)
    enc = model.encode(ctranslate2.StorageView.from_array(feat[None]))
    enc_np = np.array(enc)
    out["encoder.shape"] = np.array(enc_np.shape, np.int32)
    out["encoder.every10"] = enc_np[0, ::10, :].astype(np.float32)
    out["mel.every10"] = feat[:, ::10]

    raw = model.generate(enc, [prompt], beam_size=1, max_length=3, suppress_blank=False,
                         suppress_tokens=[], return_logits_vocab=True)[0]
    sup = model.generate(enc, [prompt], beam_size=1, max_length=3, suppress_blank=True,
                         suppress_tokens=[-1], return_logits_vocab=True)[0]
    logits = np.array(raw.logits[0][0], np.float32)
    logits_sup = np.array(sup.logits[0][0], np.float32)
    assert np.isfinite(logits).all()
    suppressed = np.nonzero(logits_sup < -1e30)[0]
    keep = logits_sup > -1e30
    assert np.array_equal(logits[keep], logits_sup[keep])
    out["step0.logits"] = logits
    out["step0.kind"] = ("raw decoder logits (pre-softmax, no suppression) of decoding step 0 "
                         "after prompt [50257, 50362]; from CTranslate2 generate("
                         "return_logits_vocab=True, beam_size=1, max_length=3, "
                         "suppress_blank=False, suppress_tokens=[])")
    out["step0.suppressed"] = suppressed.astype(np.int32)

    for name, beam in (("beam5", 5), ("greedy", 1)):
        for k, v in run_generate(model, enc, prompt, beam, tok, hf).items():
            out[f"{name}.{k}"] = v

    # --- jfk.wav with an initial prompt, built as WhisperX does (" " + prompt.strip(), BPE,
    # the last 223 tokens after <|startofprev|>; faster-whisper's get_prompt)
    prev = tok.encode(" " + INITIAL_PROMPT.strip())[-(448 // 2 - 1):]
    prompted = [tok.sot_prev] + prev + prompt
    out["prompted.initial_prompt"] = INITIAL_PROMPT
    out["prompted.prompt"] = np.array(prompted, np.int32)
    for k, v in run_generate(model, enc, prompted, 5, tok, hf).items():
        out[f"prompted.beam5.{k}"] = v

    # --- sample.wav first 30 s window: second end-to-end case
    feat_s = features_for(read_wav(os.path.join(DATA, "sample.wav")), fe)
    enc_s = model.encode(ctranslate2.StorageView.from_array(feat_s[None]))
    for name, beam in (("beam5", 5), ("greedy", 1)):
        for k, v in run_generate(model, enc_s, prompt, beam, tok, hf).items():
            out[f"sample.{name}.{k}"] = v

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    write_fixture(OUT, out)

    print(f"wrote {os.path.relpath(OUT, ROOT)} ({os.path.getsize(OUT)} bytes, {len(out)} arrays)")
    print(f"  prompt {prompt}  encoder {tuple(enc_np.shape)}  step0 argmax "
          f"{int(logits.argmax())} max {logits.max():.4f}  suppressed {len(suppressed)} ids")
    print(f"  prompted.beam5 text={out['prompted.beam5.text']!r}")
    for pre in ("", "sample."):
        for name in ("beam5", "greedy"):
            p = pre + name
            print(f"  {p:14s} n={len(out[p + '.tokens']):3d} score={out[p + '.score'][0]:.6f} "
                  f"avg_logprob={out[p + '.avg_logprob'][0]:.6f} "
                  f"no_speech={out[p + '.no_speech_prob'][0]:.6f}")
            print(f"  {'':14s} text={out[p + '.text']!r}")


if __name__ == "__main__":
    main()
