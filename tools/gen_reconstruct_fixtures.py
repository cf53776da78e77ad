"""gen_reconstruct_fixtures.py — reference reconstruction from pyannote.audio 4.0.7 itself
(SpeakerDiarization.reconstruct, to_diarization and to_annotation, as SpeakerDiarization.apply
runs them), for tests/test_diarize.c. Run from the project root with .cache/venv-vad/bin/python
(tools/requirements-vad.txt):

    .cache/venv-vad/bin/python tools/gen_reconstruct_fixtures.py

Seeded binarized segmentations on segmentation-3.0's grid (10 s chunks every 1 s, 589 frames
of 991 samples every 270) made of speech runs, hard clusters with inactive speakers at -2,
the speaker count capped as apply caps it, and min_duration_off 0 and 0.5 s. Where clusters tie
in a frame's activations, numpy's argsort order is unspecified (numpy 2 sorts with
x86-simd-sort on AVX-512 machines: not stable, and not the same as on AVX2 ones), so the
reference runs pyannote with a stable argsort: the lower cluster first, the rule our C port
follows. Writes
tests/fixtures/reconstruct.fix: per case the segmentation (C, 589, 3) as a text of 0/1, the hard
clusters, the count and the turns pyannote's annotation holds (text lines "start end cluster",
Python's repr of the floats).
"""
import os
import sys

import numpy as np
from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization
from pyannote.core import SlidingWindow, SlidingWindowFeature

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES = SlidingWindow(start=0.0, duration=991 / 16000, step=270 / 16000)
# (chunks, clusters, cap on the count, min_duration_off)
CASES = [(8, 3, 2, 0.0), (6, 2, 1, 0.5), (10, 4, 3, 0.0), (4, 1, 2, 0.5)]


def runs(rng, F):
    """0/1 activity of one local speaker: a few speech runs."""
    x = np.zeros(F, dtype=np.float32)
    for _ in range(rng.integers(0, 4)):
        a = rng.integers(0, F)
        x[a:a + rng.integers(5, 250)] = 1.0
    return x


def stable_argsort(a, axis=-1, kind=None, order=None):
    return NUMPY_ARGSORT(a, axis=axis, kind="stable", order=order)


NUMPY_ARGSORT = np.argsort


def main():
    np.argsort = stable_argsort   # pyannote's to_diarization calls np.argsort(-activations)
    rng = np.random.default_rng(20261202)
    pipeline = object.__new__(SpeakerDiarization)
    arrays = {"cases": np.array([len(CASES)], dtype=np.int32)}
    for i, (C, K, cap, off) in enumerate(CASES):
        F = 589
        seg = np.stack([np.stack([runs(rng, F) for _ in range(3)], axis=1) for _ in range(C)])
        chunks = SlidingWindow(start=0.0, duration=10.0, step=1.0)
        segmentations = SlidingWindowFeature(seg, chunks)
        hard = rng.integers(0, K, size=(C, 3)).astype(np.int8)
        hard[np.sum(seg, axis=1) == 0] = -2
        count = SpeakerDiarization.speaker_count(segmentations, FRAMES, warm_up=(0.0, 0.0))
        count.data = np.minimum(count.data, cap).astype(np.int8)
        discrete = pipeline.reconstruct(segmentations, hard, count)
        annotation = SpeakerDiarization.to_annotation(discrete, min_duration_on=0.0,
                                                      min_duration_off=off)
        turns = [(s.start, s.end, float(label))
                 for s, _, label in annotation.itertracks(yield_label=True)]
        arrays[f"case{i}.params"] = np.array([K, off], dtype=np.float32)
        arrays[f"case{i}.segmentation_text"] = "".join("01"[int(v)] for v in seg.ravel())
        arrays[f"case{i}.hard"] = hard.astype(np.int32)
        arrays[f"case{i}.count"] = count.data[:, 0].astype(np.int32)
        arrays[f"case{i}.turns_text"] = "".join(f"{a!r} {b!r} {int(k)}\n" for a, b, k in turns)
        print(f"case {i}: {C} chunks, {K} clusters, cap {cap}, off {off}: {len(turns)} turns")
    out = os.path.join(ROOT, "tests/fixtures/reconstruct.fix")
    write_fixture(out, arrays)
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
