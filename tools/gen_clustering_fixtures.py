"""gen_clustering_fixtures.py — reference clustering from pyannote.audio 4.0.7's own
AgglomerativeClustering (metric "cosine", method "centroid"), as SpeakerDiarization calls it,
for tests/test_clustering.c. Run from the project root with .cache/venv-vad/bin/python
(tools/requirements-vad.txt pins pyannote.audio 4.0.7):

    .cache/venv-vad/bin/python tools/gen_clustering_fixtures.py

Seeded cases: per-(chunk, local speaker) embeddings drawn around a few speaker directions
(some NaN, as for speakers without an embedding), binary segmentations with overlap and
silence; thresholds, minimum cluster sizes and num/min/max cluster constraints that exercise
every branch (small clusters merged, the iteration search, max_clusters < 2). Also scipy's
linkage(method="centroid") and fcluster on the normalised training embeddings. Writes
tests/fixtures/clustering.fix.
"""
import os
import sys

import numpy as np
from pyannote.audio.pipelines.clustering import AgglomerativeClustering
from pyannote.core import SlidingWindow, SlidingWindowFeature
from scipy.cluster.hierarchy import fcluster, linkage

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIM, FRAMES, LOCAL = 16, 20, 3

# (speakers, chunks, threshold, min_cluster_size, num_clusters, min_clusters, max_clusters)
CASES = [
    (2, 20, 0.7, 2, None, None, None),
    (3, 30, 0.6, 3, None, None, None),
    (4, 40, 0.9, 4, None, None, None),
    (3, 30, 0.3, 2, None, None, None),
    (2, 25, 0.7, 2, 3, None, None),
    (4, 30, 0.7, 2, None, 5, None),
    (4, 30, 0.5, 2, None, None, 2),
    (3, 20, 0.7, 12, None, None, None),
    (2, 10, 0.7, 2, None, None, 1),
    (5, 40, 1.0, 1, 4, None, None),
]


def make_case(rng, n_speakers, chunks):
    centres = rng.normal(size=(n_speakers, DIM))
    seg = np.zeros((chunks, FRAMES, LOCAL), dtype=np.float32)
    emb = np.full((chunks, LOCAL, DIM), np.nan, dtype=np.float32)
    for c in range(chunks):
        who = rng.choice(n_speakers, size=LOCAL, replace=n_speakers < LOCAL)
        for s in range(LOCAL):
            a = int(rng.integers(0, FRAMES))
            b = min(FRAMES, a + int(rng.integers(0, FRAMES)))
            seg[c, a:b, s] = 1.0
            if seg[c, :, s].sum() > 0 and rng.random() < 0.9:
                emb[c, s] = centres[who[s]] + rng.normal(scale=0.6, size=DIM)
    return emb, seg


def main():
    rng = np.random.default_rng(20261202)
    arrays = {"cases": np.array([len(CASES)], dtype=np.int32)}
    for i, (spk, chunks, thr, mcs, num, lo, hi) in enumerate(CASES):
        emb, seg = make_case(rng, spk, chunks)
        ahc = AgglomerativeClustering(metric="cosine")
        ahc.instantiate({"method": "centroid", "threshold": thr, "min_cluster_size": mcs})
        segs = SlidingWindowFeature(seg, SlidingWindow(start=0.0, duration=10.0, step=1.0))
        hard, _, centroids = ahc(embeddings=emb.copy(), segmentations=segs, num_clusters=num,
                                 min_clusters=lo, max_clusters=hi)
        train, _, _ = ahc.filter_embeddings(emb, segmentations=segs)
        unit = train / np.linalg.norm(train, axis=-1, keepdims=True)
        Z = linkage(unit, method="centroid", metric="euclidean") if len(unit) > 1 else np.zeros((0, 4))
        arrays[f"case{i}.params"] = np.array([thr, mcs, num or 0, lo or 0, hi or 0], dtype=np.float32)
        arrays[f"case{i}.embeddings"] = emb
        arrays[f"case{i}.segmentation"] = seg.astype(np.int32)
        arrays[f"case{i}.hard"] = hard.astype(np.int32)
        arrays[f"case{i}.centroids"] = centroids.astype(np.float32)
        arrays[f"case{i}.Z"] = Z.astype(np.float32)
        arrays[f"case{i}.fcluster"] = (fcluster(Z, thr, criterion="distance") if len(unit) > 1
                                       else np.ones(len(unit))).astype(np.int32)
        print(f"case {i}: {len(train)} train embeddings, {centroids.shape[0]} clusters")
    out = os.path.join(ROOT, "tests/fixtures/clustering.fix")
    write_fixture(out, arrays)
    print("wrote", out, os.path.getsize(out), "bytes")


if __name__ == "__main__":
    main()
