"""gen_align_fixtures.py — reference output of whisperx 3.8.6's alignment (whisperx.alignment.align)
on recorded emissions, for tests/test_align.c. Run from the project root with
.cache/venv-vad/bin/python (tools/requirements-vad.txt pins whisperx 3.8.6, torch 2.8.0, nltk):

    .cache/venv-vad/bin/python tools/gen_align_fixtures.py

The align model is a stand-in module that returns seeded logits shaped like a wav2vec2 CTC head's
for the segment's samples (frames from the real feature extractor's strides), leaning towards
the segment's characters so that the paths are plausible; whisperx applies its own log_softmax,
and the fixture records that log-softmax (the same torch op on the same tensor) for the C side.
Punkt's trained punkt_tab tables cannot be fetched here (and whisperx would download them), so
whisperx's sentence splitter is NLTK's own PunktSentenceTokenizer with the parameters our
splitter has: the abbreviation list of src/pipeline/sentences.c (read from that file), no
collocations, no sentence starters, no orthographic context. Everything else is whisperx's code.

Writes tests/fixtures/align_cases.fix: per case i, `case<i>.config` (JSON: language,
interpolate, chars, labels, max_duration, segments), `case<i>.lp<k>` (float32 (T, V), the
emissions of the k-th model call) and `case<i>.expected` (JSON of align's result).
"""
import json
import os
import re
import sys

import numpy as np
import torch
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

import whisperx.alignment as wxa  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# torchaudio's WAV2VEC2_ASR_BASE_960H labels (torchaudio/pipelines/_wav2vec2/utils.py).
EN_LABELS = ["-", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L", "U", "M", "W", "C",
             "F", "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q", "Z"]
# A Hugging Face vocab.json order with <pad> not first (the blank rule) and duplicate case.
ZH_LABELS = ["<s>", "</s>", "<unk>", "|", "<pad>", "你", "好", "我", "们", "是", "朋", "友",
             "今", "天", "气", "很", "吗", "A", "a"]

CASES = [
    {"language": "en", "interpolate": "nearest", "chars": True, "labels": EN_LABELS,
     "seconds": 20.0, "segments": [
         (0.0, 5.24, " And so my fellow Americans, ask not what your country can do for you, "
                     "ask what you can do for your country."),
         (5.3, 8.45, " Mr. Smith went to Washington in 1961. He said: \"Hello!\" Did he? Yes."),
         (8.5, 8.7, "   "),
         (8.75, 11.0, " It cost 5.50 dollars... really. The U.S. Army. J. R. R. Tolkien wrote it."),
         (11.05, 11.07, " This text is far too long for so little audio to hold."),
         (11.25, 13.0, " (They left.) Then it rained; it poured! e.g. a storm. 3. Next."),
         (13.1, 14.95, " ♪ La la la ♪ — naïve café, Zürich!"),
         (21.0, 22.0, " Past the end of the audio."),
     ]},
    {"language": "en", "interpolate": "linear", "chars": False, "labels": EN_LABELS,
     "seconds": 6.0, "segments": [
         (0.25, 2.5, " One. Two. Three."),
         (2.5, 5.9, " Dr. Jones lives on St. James St. and works for Acme Inc. in the U.K."),
     ]},
    {"language": "zh", "interpolate": "nearest", "chars": True, "labels": ZH_LABELS,
     "seconds": 4.0, "segments": [
         (0.0, 1.75, "你好,我们是朋友! 今天天气很好吗?"),
         (1.8, 3.95, " A 你好 a"),
     ]},
    {"language": "en", "interpolate": "ignore", "chars": True, "labels": EN_LABELS,
     "seconds": 3.0, "segments": [
         (0.125, 2.875, " Hello there. How are you today? Fine!"),
     ]},
]

# Texts for the splitter alone (Punkt's spans in code points).
PUNKT_TEXTS = [
    " Hello there. How are you?", "Mr. Smith is here. Yes.", "(Done.) Next one.",
    "It was 5. then more.", "Wait... what? No!", "He said \u201cgo.\u201d Then left.",
    "The U.S. is big. The U.K. too.", "I met J. Smith. He was nice.", "Really?! Yes!!! Okay.",
    "Line one.\nLine two. End", "Price: $3.50. Cheap. e.g. this. i.e. that.",
    "St. Louis, Mo. is far. Dr. No.", "A -- B. C.", "\u00bfQu\u00e9? \u00a1S\u00ed! Claro.",
    "Ende. \u00c4rger. \u00f6ffnen. Gut.", "1. First. 2. Second.", "x.y.z. Next.", "...",
    " Trailing space.   ", "No end", "Quote 'inside.' Next.", "Paren (a.) b. C.",
]


def punkt_abbreviations():
    text = open(os.path.join(ROOT, "src/pipeline/sentences.c"), encoding="utf-8").read()
    block = text.split("BEGIN wx_punkt_abbreviations")[1].split("END wx_punkt_abbreviations")[0]
    return set(re.findall(r'"([^"]+)"', block))


def n_frames(n_samples):
    n = max(n_samples, 400)
    for k, s in [(10, 5)] + [(3, 2)] * 4 + [(2, 2)] * 2:
        n = (n - k) // s + 1
    return n


def plausible_logits(rng, text, labels, frames):
    """Seeded logits whose best path spells the text's characters, with noise."""
    vocab = {c.lower(): i for i, c in enumerate(labels)}
    blank = vocab.get("<pad>", vocab.get("[pad]", 0))
    cols = []
    for ch in text.strip().lower():
        ch = "|" if ch == " " and "|" in vocab else ch
        cols.append(vocab.get(ch, int(rng.integers(0, len(labels)))))
    logits = rng.normal(0.0, 1.5, (frames, len(labels))).astype(np.float32)
    logits[:, blank] += 3.0
    if cols and len(cols) <= frames:
        starts = np.sort(rng.choice(frames, size=len(cols), replace=False))
        for c, t in zip(cols, starts):
            logits[t:t + int(rng.integers(1, 3)), c] += 7.0
    return logits


class RecordedModel(torch.nn.Module):
    """Stands in for Wav2Vec2ForCTC: seeded logits per call, its log-softmax recorded."""

    def __init__(self, case, rng):
        super().__init__()
        self.case, self.rng, self.recorded = case, rng, []
        self.texts = [s[2] for s in case["segments"]]

    def forward(self, waveform):
        frames = n_frames(waveform.shape[-1])
        # whisperx calls the model once per alignable segment, in order; find which one by
        # the sample count is not possible, so the text is taken from the call order.
        text = self.texts_alignable.pop(0)
        logits = torch.from_numpy(plausible_logits(self.rng, text, self.case["labels"], frames))
        logits = logits[None]
        self.recorded.append(torch.log_softmax(logits, dim=-1)[0].numpy().copy())

        class Out:
            pass
        out = Out()
        out.logits = logits
        return out


def alignable(text, labels, language, start, seconds):
    vocab = {c.lower() for c in labels}
    chars = [c.lower() for c in text.strip()]
    if language not in ("ja", "zh"):
        chars = ["|" if c == " " else c for c in chars]
    return start < seconds and any(c in vocab or c not in (" ", "|") for c in chars)


def main():
    abbrevs = punkt_abbreviations()
    params = PunktParameters()
    params.abbrev_types = set(abbrevs)
    splitter = PunktSentenceTokenizer(params)
    wxa.nltk_load = lambda _name: splitter
    rng = np.random.default_rng(20261202)
    arrays = {}
    for i, case in enumerate(CASES):
        model = RecordedModel(case, rng)
        model.texts_alignable = [s[2] for s in case["segments"]
                                 if alignable(s[2], case["labels"], case["language"], s[0],
                                              case["seconds"])]
        transcript = [{"start": a, "end": b, "text": t, "avg_logprob": -0.25 - 0.01 * k}
                      for k, (a, b, t) in enumerate(case["segments"])]
        vocab = {c.lower(): k for k, c in enumerate(case["labels"])}
        meta = {"language": case["language"], "dictionary": vocab, "type": "huggingface"}
        audio = np.zeros(int(case["seconds"] * 16000), dtype=np.float32)
        result = wxa.align(transcript, model, meta, audio, "cpu",
                           interpolate_method=case["interpolate"],
                           return_char_alignments=case["chars"])
        config = {k: case[k] for k in ("language", "interpolate", "chars", "labels")}
        config["max_duration"] = len(audio) / 16000
        config["segments"] = transcript
        arrays[f"case{i}.config"] = json.dumps(config, ensure_ascii=False)
        for k, lp in enumerate(model.recorded):
            arrays[f"case{i}.lp{k}"] = lp
        arrays[f"case{i}.expected"] = json.dumps(result, ensure_ascii=False)
        print(f"case {i}: {len(transcript)} segments -> {len(result['segments'])} aligned, "
              f"{len(result['word_segments'])} words, {len(model.recorded)} model calls")
    spans = [";".join(f"{a}-{b}" for a, b in splitter.span_tokenize(t)) for t in PUNKT_TEXTS]
    arrays["punkt.texts"] = "\x1e".join(PUNKT_TEXTS)
    arrays["punkt.spans"] = "\x1e".join(spans)
    out = os.path.join(ROOT, "tests/fixtures/align_cases.fix")
    write_fixture(out, arrays)
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
