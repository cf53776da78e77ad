"""gen_speaker_fixtures.py — reference speaker assignment from whisperx 3.8.6's own
assign_word_speakers (whisperx/diarize.py), for tests/test_speakers.c. Run from the project root
with .cache/venv-vad/bin/python (tools/requirements-vad.txt pins whisperx 3.8.6):

    .cache/venv-vad/bin/python tools/gen_speaker_fixtures.py

Seeded random cases: speaker turns (overlapping, touching, gaps, equal starts) and a transcript
of segments with words (some without times, as WhisperX leaves unalignable words), each run
with fill_nearest false and true. Writes tests/fixtures/speakers.fix: per case, `case<i>.input`
(JSON: turns, segments, fill_nearest) and `case<i>.expected` (JSON: the result's segments).
"""
import copy
import json
import os
import sys

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

from whisperx.diarize import assign_word_speakers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def random_case(rng, n_speakers):
    turns, t = [], 0.0
    for _ in range(int(rng.integers(3, 12))):
        start = round(t + float(rng.uniform(-1.0, 2.0)), 3)
        start = max(start, 0.0)
        end = round(start + float(rng.uniform(0.1, 4.0)), 3)
        turns.append({"start": start, "end": end,
                      "speaker": f"SPEAKER_{int(rng.integers(0, n_speakers)):02d}"})
        t = end
    if len(turns) > 2:   # an equal start: the stable sort's order matters
        turns.append({"start": turns[1]["start"], "end": turns[1]["end"] + 0.5,
                      "speaker": "SPEAKER_00"})
    segments, t = [], 0.0
    for _ in range(int(rng.integers(2, 8))):
        start = round(t + float(rng.uniform(0.0, 2.5)), 3)
        words, w = [], start
        for _ in range(int(rng.integers(0, 6))):
            ws = round(w + float(rng.uniform(0.0, 0.4)), 3)
            we = round(ws + float(rng.uniform(0.05, 0.6)), 3)
            word = {"word": "w", "start": ws, "end": we, "score": 0.5}
            if rng.random() < 0.15:
                word = {"word": "1961"}
            words.append(word)
            w = we
        end = round(max(w, start + 0.2), 3)
        segments.append({"start": start, "end": end, "text": " text", "words": words})
        t = end
    return turns, segments


def main():
    rng = np.random.default_rng(20261202)
    arrays = {}
    k = 0
    for n_speakers in (1, 2, 3, 2, 3, 4):
        turns, segments = random_case(rng, n_speakers)
        for fill in (False, True):
            df = pd.DataFrame(turns)
            result = assign_word_speakers(df, {"segments": copy.deepcopy(segments)},
                                          fill_nearest=fill)
            arrays[f"case{k}.input"] = json.dumps({"turns": turns, "segments": segments,
                                                   "fill_nearest": fill})
            arrays[f"case{k}.expected"] = json.dumps({"segments": result["segments"]})
            k += 1
    arrays["cases"] = np.array([k], dtype=np.int32)
    out = os.path.join(ROOT, "tests/fixtures/speakers.fix")
    write_fixture(out, arrays)
    print("wrote", out, k, "cases")


if __name__ == "__main__":
    main()
