"""gen_vbx_fixtures.py — reference fixtures for tests/test_vbx.c: pyannote.audio 4.0.7's own
VBxClustering (community-1's clustering) on a random but valid PLDA and synthetic embeddings.
Deterministic; run in the reference venv:

    /work/main/.cache/venv-vad/bin/python tools/gen_vbx_fixtures.py

Writes into tests/fixtures/:
  vbx_xvec_transform.npz  mean1 (256,) lda (256, 128) mean2 (128,), float64 (savez_compressed;
                          values on a 2^-12 grid so that they compress)
  vbx_plda.npz            mu (128,) tr (128, 128) psi (128,), float64, psi > 0, tr invertible
  vbx_<set>.fix           one embedding set each ("four": 4 speakers, "two": 2 speakers, so
                          that the constrained assignment leaves local speakers out):
    embeddings (C, S, D) f32 (NaN rows), segmentation (C, F, S) i32 (binary)
    phi (128) f64                       PLDA.phi
    train (n) i32                       c*S + s of filter_embeddings' rows
    ahc (n) i32                         AHC labels (fcluster - 1, np.unique-renumbered)
    fea (n, 128) f32                    PLDA features (self.plda(train_embeddings)), rounded
    gamma (n, K0) f64, pi (K0) f64      cluster_vbx's posteriors and priors
    case<i>.params (3) i32              num_clusters, min_clusters, max_clusters (0: None/inf)
    case<i>.hard (C, S) i32, case<i>.centroids (K, D) f32 (rounded), case<i>.soft (C, S, K) f64
    case<i>.kmeans (n) i32              k-means labels when the count is forced (else absent)
  vbx_plda_bad_shape.npz, vbx_plda_bad_psi.npz   mu (127,); psi[127] = -1
  lsap.fix                 scipy.optimize.linear_sum_assignment on small integer matrices
                          (many ties): m<i>.cost (r, c) f64, m<i>.maximize (1) i32,
                          m<i>.rows / m<i>.cols (min(r, c)) i32; mt42 (8) f64, the first
                          random_sample() values of np.random.RandomState(42)
The case parameters are passed as the pipeline passes them after set_num_speakers
(min defaults to 1, max to inf).
"""
import pathlib
import sys

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.linalg import eigh
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from fixture import Float64, write_fixture  # noqa: E402

from pyannote.audio.core.plda import PLDA  # noqa: E402
from pyannote.audio.pipelines.clustering import VBxClustering  # noqa: E402
from pyannote.audio.pipelines.utils.diarization import set_num_speakers  # noqa: E402
from pyannote.audio.utils.vbx import cluster_vbx  # noqa: E402
from pyannote.core import SlidingWindow, SlidingWindowFeature  # noqa: E402

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
DIN, LDA = 256, 128
F, S = 30, 3
NOISE = (0.44, 0.56)


def grid(x):
    return np.round(x * 4096) / 4096


def scatter(x, labels):
    """Within- and between-class covariances of rows x grouped by labels."""
    classes = np.unique(labels)
    means = np.stack([x[labels == k].mean(0) for k in classes])
    within = sum(np.cov(x[labels == k].T, bias=True) for k in classes) / len(classes)
    return within, np.cov(means.T, bias=True)


def write_plda(rng, speaker_means, noise):
    """A PLDA trained as BUT's is, on background speakers drawn like the test data: an LDA of
    the length-normalised embeddings (mean1, lda, mean2), then a two-covariance PLDA (tr
    whitens the within-class covariance, psi the between-class variances)."""
    n_spk, per = 200, 20   # more speakers than dimensions: psi has no tied zeros
    labels = np.repeat(np.arange(n_spk), per)
    x = speaker_means(n_spk)[labels] + rng.normal(0, 1, (n_spk * per, DIN)) * noise
    mean1 = grid(x.mean(0))
    y = np.sqrt(DIN) * l2(x - mean1)
    sw, sb = scatter(y, labels)
    _, vec = eigh(sb, sw + 1e-3 * np.eye(DIN))
    lda = np.ascontiguousarray(grid(vec[:, ::-1][:, :LDA] / np.abs(vec).max()))
    z = y @ lda
    mean2 = grid(z.mean(0))
    u = np.sqrt(LDA) * l2(z - mean2)
    mu = grid(u.mean(0))
    sw, sb = scatter(u - mu, labels)
    psi, vec = eigh(sb, sw)
    tr = np.ascontiguousarray(grid(vec.T[::-1]))
    psi = grid(np.maximum(psi[::-1], 1e-3))
    np.savez_compressed(OUT / "vbx_xvec_transform.npz", mean1=mean1, lda=lda, mean2=mean2)
    np.savez_compressed(OUT / "vbx_plda.npz", mu=mu, tr=tr, psi=psi)


def l2(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def make_set(rng, n_speakers, C):
    """Embeddings (C, S, D) around n_speakers class means and a binary segmentation."""
    means = rng.normal(0, 1, (n_speakers, DIN))
    noise = np.linspace(NOISE[0], NOISE[1], n_speakers)   # the noisier speakers split under AHC
    emb = np.full((C, S, DIN), np.nan, dtype=np.float32)
    seg = np.zeros((C, F, S), dtype=np.int32)
    for c in range(C):
        n_active = rng.choice([1, 2, 2, 2, 3])
        spk = rng.choice(n_speakers, size=min(n_active, n_speakers), replace=False)
        bounds = np.round(np.linspace(0, F, len(spk) + 1)).astype(int)
        bounds[1:-1] = np.sort(bounds[1:-1] + rng.integers(-F // 6, F // 6 + 1, len(spk) - 1))
        for s, g in enumerate(spk):   # consecutive turns, a few frames of overlap
            start = max(0, bounds[s] - rng.integers(0, 4))
            seg[c, start:bounds[s + 1], s] = 1
            if rng.random() < 0.05:   # a few active speakers without an embedding
                continue
            mean = means[g]
            if rng.random() < 0.15:   # ambiguous ones, between two speakers: soft posteriors
                w = rng.uniform(0.35, 0.65)
                mean = w * means[g] + (1 - w) * means[(g + 1) % n_speakers]
            emb[c, s] = (mean + rng.normal(0, noise[g], DIN)).astype(np.float32)
    return emb, seg


def run_set(name, emb, seg, cases, plda):
    C = emb.shape[0]
    clustering = VBxClustering(plda, metric="cosine")
    clustering.instantiate({"threshold": 0.6, "Fa": 0.07, "Fb": 0.8})
    segmentations = SlidingWindowFeature(seg.astype(np.float32), SlidingWindow(start=0.0, duration=10.0, step=1.0))
    train, chunk_idx, speaker_idx = clustering.filter_embeddings(emb, segmentations=segmentations)
    normed = train / np.linalg.norm(train, axis=1, keepdims=True)
    ahc = fcluster(linkage(normed, method="centroid", metric="euclidean"), 0.6, criterion="distance") - 1
    _, ahc = np.unique(ahc, return_inverse=True)
    fea = plda(train)
    gamma, pi = cluster_vbx(ahc, fea, plda.phi, Fa=0.07, Fb=0.8, maxIters=20)
    arrays = {
        "embeddings": emb,
        "segmentation": seg,
        "phi": Float64(plda.phi),
        "train": (chunk_idx * S + speaker_idx).astype(np.int32),
        "ahc": ahc.astype(np.int32),
        "fea": fea.astype(np.float32),
        "gamma": Float64(gamma),
        "pi": Float64(pi),
    }
    for i, (num, lo, hi) in enumerate(cases):
        num, lo, hi = set_num_speakers(num, lo, hi)
        hard, soft, centroids = clustering(embeddings=emb, segmentations=segmentations,
                                           num_clusters=num, min_clusters=lo, max_clusters=hi)
        kept = int(np.sum(pi > 1e-7))
        target = lo if kept < lo else hi if kept > hi else num
        forced = bool(target) and target != kept
        arrays[f"case{i}.params"] = np.array([num or 0, lo, 0 if hi == np.inf else hi], np.int32)
        arrays[f"case{i}.hard"] = hard.astype(np.int32)
        arrays[f"case{i}.centroids"] = centroids.astype(np.float32)
        arrays[f"case{i}.soft"] = Float64(soft)
        if forced:
            from sklearn.cluster import KMeans
            labels = KMeans(n_clusters=centroids.shape[0], n_init=3, random_state=42,
                            copy_x=False).fit_predict(normed.copy())
            arrays[f"case{i}.kmeans"] = labels.astype(np.int32)
        print(f"{name} case{i}: num/min/max {num}/{lo}/{hi}: n {len(train)}, ahc {ahc.max() + 1}, "
              f"vbx kept {kept}, K {centroids.shape[0]}, forced {forced}")
    write_fixture(OUT / f"vbx_{name}.fix", arrays)


def write_lsap(rng):
    arrays = {}
    shapes = [(3, 2), (3, 3), (3, 4), (4, 4), (5, 3), (2, 6), (6, 6), (1, 3), (3, 1)]
    i = 0
    for r, c in shapes:
        for maximize in (False, True):
            for levels in (2, 4):
                cost = rng.integers(0, levels, (r, c)).astype(np.float64)
                rows, cols = linear_sum_assignment(cost, maximize=maximize)
                arrays[f"m{i}.cost"] = Float64(cost)
                arrays[f"m{i}.maximize"] = np.array([int(maximize)], np.int32)
                arrays[f"m{i}.rows"] = rows.astype(np.int32)
                arrays[f"m{i}.cols"] = cols.astype(np.int32)
                i += 1
    arrays["count"] = np.array([i], np.int32)
    arrays["mt42"] = Float64(np.random.RandomState(42).random_sample(8))   # numpy's MT19937
    write_fixture(OUT / "lsap.fix", arrays)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(15)
    write_plda(rng, lambda k: rng.normal(0, 1, (k, DIN)), rng.uniform(*NOISE, (200 * 20, 1)) * 1.5)
    plda = PLDA(OUT / "vbx_xvec_transform.npz", OUT / "vbx_plda.npz")
    cases = [(None, None, None), (2, None, None), (None, None, 3), (None, 2, 6), (None, 6, None)]
    run_set("four", *make_set(rng, 4, 36), cases, plda)
    run_set("two", *make_set(rng, 2, 24), [(None, None, None), (3, None, None)], plda)
    write_lsap(rng)
    # broken PLDA files: a wrong shape, a non-positive psi (tr zeros: refused before use)
    np.savez_compressed(OUT / "vbx_plda_bad_shape.npz", mu=np.zeros(127), tr=np.zeros((128, 128)),
                        psi=np.ones(128))
    np.savez_compressed(OUT / "vbx_plda_bad_psi.npz", mu=np.zeros(128), tr=np.zeros((128, 128)),
                        psi=np.concatenate([np.ones(127), [-1.0]]))


if __name__ == "__main__":
    main()
