"""gen_stats_pool_fixtures.py — reference statistics pooling from pyannote.audio 4.0.7's own
StatsPool (models/blocks/pooling.py), with (batch, speakers, frames) weights already at the
frame rate of the features, as the WeSpeaker ResNet34 calls it, for
tests/cuda/test_cuda_resnet.cpp. Run from the project root with .cache/venv-vad/bin/python
(tools/requirements-vad.txt pins pyannote.audio 4.0.7):

    .cache/venv-vad/bin/python tools/gen_stats_pool_fixtures.py

Seeded cases (x, w, out per case): soft weights in [0, 1]; a speaker whose weights are all 0
(pyannote's epsilons give mean 0 and std 0); a speaker with one weighted frame; weights of
about 1e-7 per frame, where the 1e-8 added to Σw moves the mean by ~1 %; T below, at and
above a warp (31, 32, 33 frames), 512 channels (the ResNet34 has 2560: the test runs that
shape against its double loop; here it would pass 200 KB). Writes
tests/fixtures/stats_pool.fix.
"""
import os
import sys

import numpy as np
import torch
from pyannote.audio.models.blocks.pooling import StatsPool

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, B, S, C, T, weight scale)
CASES = [
    ("warp_minus_one", 2, 3, 5, 31, 1.0),
    ("warp", 1, 2, 7, 32, 1.0),
    ("warp_plus_one", 2, 3, 6, 33, 1.0),
    ("tiny_weights", 1, 2, 4, 13, 1e-7),
    ("many_channels", 1, 3, 512, 20, 1.0),
]


def make_case(rng, b, s, c, t, scale):
    x = (rng.standard_normal((b, c, t)) * 2.0 + 1.0).astype(np.float32)
    w = (rng.random((b, s, t)) * scale).astype(np.float32)
    w[0, 0, :] = 0.0  # a silent speaker: Σw = 0
    if s > 1:  # one weighted frame
        w[-1, 1, :] = 0.0
        w[-1, 1, t // 2] = 0.5 * scale
    return x, w


def main():
    rng = np.random.default_rng(20261204)
    pool = StatsPool()
    arrays = {}
    for name, b, s, c, t, scale in CASES:
        x, w = make_case(rng, b, s, c, t, scale)
        with torch.no_grad():
            out = pool(torch.from_numpy(x), torch.from_numpy(w)).numpy()
        assert out.shape == (b, s, 2 * c)
        arrays[f"{name}.x"] = x
        arrays[f"{name}.w"] = w
        arrays[f"{name}.out"] = out.astype(np.float32)
    arrays["cases"] = "\n".join(case[0] for case in CASES)
    path = os.path.join(ROOT, "tests", "fixtures", "stats_pool.fix")
    write_fixture(path, arrays)
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


if __name__ == "__main__":
    main()
