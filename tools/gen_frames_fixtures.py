"""gen_frames_fixtures.py — reference aggregation and speaker count from pyannote.audio 4.0.7
itself (Inference.aggregate, SpeakerDiarization.speaker_count), for tests/test_frames.c. Run
from the project root with .cache/venv-vad/bin/python (tools/requirements-vad.txt):

    .cache/venv-vad/bin/python tools/gen_frames_fixtures.py

Seeded binarized segmentations of segmentation-3.0's grid (10 s chunks every 1 s, 589 frames
of 991 samples every 270) and of a coarser grid, with NaN chunks for the mask; both
aggregation modes and the speaker count. Writes tests/fixtures/frames.fix.
"""
import os
import sys

import numpy as np
from pyannote.audio.core.inference import Inference
from pyannote.audio.pipelines.speaker_diarization import SpeakerDiarization
from pyannote.core import SlidingWindow, SlidingWindowFeature

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (chunks, frames per chunk, chunk start/duration/step, frame duration/step)
CASES = [(12, 589, 0.0, 10.0, 1.0, 991 / 16000, 270 / 16000),
         (7, 40, 0.5, 4.0, 0.4, 0.12, 0.1)]


def main():
    rng = np.random.default_rng(20261202)
    arrays = {"cases": np.array([len(CASES)], dtype=np.int32)}
    for i, (C, F, cs, cd, cst, fd, fst) in enumerate(CASES):
        seg = (rng.random((C, F, 3)) < 0.35).astype(np.float32)
        chunks = SlidingWindow(start=cs, duration=cd, step=cst)
        frames = SlidingWindow(start=0.0, duration=fd, step=fst)
        count = SpeakerDiarization.speaker_count(SlidingWindowFeature(seg, chunks), frames,
                                                 warm_up=(0.0, 0.0))
        masked = seg.copy()
        masked[1, : F // 3, 0] = np.nan
        avg = Inference.aggregate(SlidingWindowFeature(masked.copy(), chunks), frames,
                                  hamming=False, missing=0.0, skip_average=False)
        raw = Inference.aggregate(SlidingWindowFeature(masked.copy(), chunks), frames,
                                  hamming=False, missing=0.0, skip_average=True)
        arrays[f"case{i}.windows_text"] = repr([cs, cd, cst, fd, fst])
        arrays[f"case{i}.segmentation"] = seg
        arrays[f"case{i}.count"] = count.data[:, 0].astype(np.int32)
        arrays[f"case{i}.average"] = avg.data.astype(np.float32)
        arrays[f"case{i}.sum"] = raw.data.astype(np.float32)
        print(f"case {i}: {C} chunks -> {count.data.shape[0]} frames, max count {count.data.max()}")
    out = os.path.join(ROOT, "tests/fixtures/frames.fix")
    write_fixture(out, arrays)
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
