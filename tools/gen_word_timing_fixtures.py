"""gen_word_timing_fixtures.py — reference word times from faster-whisper's own Whisper word
timing (CTranslate2's align + faster-whisper's add_word_timestamps), for tests/test_word_timing.c.
Run from the project root with .cache/venv-vad/bin/python (tools/requirements-vad.txt pins
whisperx 3.8.6, faster-whisper 1.2.1, ctranslate2 4.8.5).

Per recording (jfk.wav, sample.wav): WhisperX's own VAD chunks (whisperx.load_model on the local
tiny.en, CPU float32, beam 5, as tools/gen_whisperx_fixtures.py), each chunk's features as
WhisperX computes them (log_mel_spectrogram with the audio zero-padded to 30 s), its tokens
from CTranslate2's beam search with WhisperX's prompt, then faster-whisper's
add_word_timestamps over the whole batch, exactly as BatchedInferencePipeline.forward calls it
(segment size ceil(duration) · 100 frames, seek int(offset · 100), last speech 0). The test
feeds our implementation the same samples and tokens.
End to end, for the job-level check, WhisperModel.transcribe(jfk.wav, word_timestamps=True,
beam 5, language "en") twice: at its defaults (faster-whisper's sequential path: timestamp tokens,
first window at 0 s) and decoding as WhisperX does (without_timestamps=True, clip_timestamps =
WhisperX's VAD chunk; the words of the chunk's first window, the one WhisperX decodes).
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

import whisperx  # noqa: E402
from faster_whisper import WhisperModel  # noqa: E402
from whisperx.audio import N_SAMPLES, log_mel_spectrogram  # noqa: E402

RECORDINGS = ["jfk.wav", "sample.wav"]
PREPEND = "\"'“¿([{-"
APPEND = "\"'.。,，!！?？:：”)]}、"


def chunk_words(model, audio, segments):
    wm, tok, opt = model.model, model.tokenizer, model.options
    begins = [int(s["start"] * 16000) for s in segments]
    ends = [min(int(s["end"] * 16000), len(audio)) for s in segments]
    feats = np.stack([log_mel_spectrogram(audio[b:e], n_mels=80, padding=N_SAMPLES - (e - b))
                      for b, e in zip(begins, ends)])
    enc = wm.encode(feats)
    prompt = wm.get_prompt(tok, [], without_timestamps=True)
    res = wm.model.generate(enc, [prompt] * len(segments), beam_size=5, patience=1,
                            length_penalty=1, max_length=wm.max_length, suppress_blank=True,
                            suppress_tokens=opt.suppress_tokens, return_scores=True)
    tokens = [r.sequences_ids[0] for r in res]
    outs, sizes = [], []
    for s, t in zip(segments, tokens):
        duration = s["end"] - s["start"]
        sizes.append(int(math.ceil(duration) * wm.frames_per_second))
        outs.append([dict(tokens=t, start=s["start"], end=s["end"],
                          seek=int(s["start"] * wm.frames_per_second))])
    wm.add_word_timestamps(outs, tok, enc, sizes, PREPEND, APPEND, 0.0)
    return begins, ends, tokens, outs


def e2e_words(arrays, key, words):
    arrays[key + ".word_text"] = "\x1f".join(w.word.strip() for w in words)
    arrays[key + ".start"] = np.array([w.start for w in words], np.float32)
    arrays[key + ".end"] = np.array([w.end for w in words], np.float32)
    print(key, [(w.word, w.start, w.end) for w in words])


def main():
    data = os.environ.get("WX_DATA_DIR", "../shared/data")
    model = whisperx.load_model("models/tiny.en", "cpu", compute_type="float32",
                                language="en", vad_method="pyannote",
                                asr_options={"beam_size": 5})
    arrays = {}
    for name in RECORDINGS:
        audio = whisperx.load_audio(os.path.join(data, name))
        segs = model.transcribe(audio, batch_size=8, language="en")["segments"]
        begins, ends, tokens, outs = chunk_words(model, audio, segs)
        key = name.replace(".", "_")
        arrays[key + ".n"] = np.array([len(segs)], np.int32)
        arrays[key + ".begin"] = np.array(begins, np.int32)
        arrays[key + ".end"] = np.array(ends, np.int32)
        arrays[key + ".start_s"] = np.array([s["start"] for s in segs], np.float32)
        arrays[key + ".end_s"] = np.array([s["end"] for s in segs], np.float32)
        for k, (t, o) in enumerate(zip(tokens, outs)):
            sub = o[0]
            words = sub["words"]
            arrays[f"{key}.tokens.{k}"] = np.array(t, np.int32)
            arrays[f"{key}.word_text.{k}"] = "\x1f".join(w["word"].strip() for w in words)
            arrays[f"{key}.word_start.{k}"] = np.array([w["start"] for w in words], np.float32)
            arrays[f"{key}.word_end.{k}"] = np.array([w["end"] for w in words], np.float32)
            arrays[f"{key}.word_prob.{k}"] = np.array([w["probability"] for w in words],
                                                      np.float32)
            arrays[f"{key}.seg.{k}"] = np.array([sub["start"], sub["end"]], np.float32)
            print(name, k, len(words), "words", words[:3])
    fw = WhisperModel("models/tiny.en", device="cpu", compute_type="float32")
    jfk = whisperx.load_audio(os.path.join(data, "jfk.wav"))
    segments, _ = fw.transcribe(jfk, beam_size=5, language="en", word_timestamps=True)
    e2e_words(arrays, "e2e_jfk", [w for s in segments for w in s.words])
    chunk = (float(arrays["jfk_wav.start_s"][0]), float(arrays["jfk_wav.end_s"][-1]))
    segments, _ = fw.transcribe(jfk, beam_size=5, language="en", word_timestamps=True,
                                without_timestamps=True, clip_timestamps=list(chunk))
    segments = list(segments)
    first = [s for s in segments if s.seek == segments[0].seek]
    e2e_words(arrays, "e2e_jfk_chunk", [w for s in first for w in s.words])
    write_fixture("tests/fixtures/word_timing.fix", arrays)


if __name__ == "__main__":
    main()
