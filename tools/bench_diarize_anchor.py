#!/usr/bin/env python3
"""bench_diarize_anchor.py — the diarization a user without a Hugging Face token builds today
from the same open weights as ours (Resemblyzer's GE2E VoiceEncoder, resemblyzer/pretrained.pt
from the PyPI package) with spectralcluster, the anchor for tools/bench_diarize.c (wx-diarize).
Prints RTTM on stdout and "seconds=<wall> audio=<s> rtf=<ratio> cpu=<s>" on stderr, as
wx-diarize does (cpu: process CPU seconds per run, all threads, mean over --repeat).

  .cache/venv-vad/bin/python tools/bench_diarize_anchor.py AUDIO [--uri NAME] [--threads 2]
        [--repeat N] [--min-clusters 1] [--max-clusters 8]

(venv: tools/requirements-vad.txt, then tools/requirements-diarize.txt; see its header.)

The pipeline, as Resemblyzer's diarization demo (demo02_diarization.py) does it:
  1. audio: soundfile, channels mixed down to their mean and rounded to 16-bit as the
     worker's decoder (and `ffmpeg -ac 1`) does; 16 kHz expected (all our test files are).
  2. preprocess_wav: normalize_volume(-30 dBFS, increase only), then trim_long_silences
     (webrtcvad mode 3 on 30 ms windows, moving average of 8, dilation of 6 windows). We
     run Resemblyzer's own code and keep its mask, so that times map back to the original
     recording (the demo plots on the trimmed timeline, which an RTTM cannot use).
  3. embed_utterance(trimmed, return_partials=True, rate=16): one 1.6 s partial embedding
     every 62.5 ms of trimmed audio.
  4. SpectralClusterer with spectralcluster's README configuration (ICASSP 2018, "Speaker
     Diarization with LSTM": CropDiagonal, GaussianBlur(1), RowWiseThreshold(p=0.95, RowMax,
     soft 0.01), Symmetrize, Diffuse, RowWiseNormalize, cosine) but min_clusters=1,
     max_clusters=8 (no speaker count is known; the README's 2..7 cannot say "one speaker").
  5. each kept (speech) sample takes the label of the nearest partial centre on the trimmed
     timeline; runs of one label in the original timeline are the RTTM turns (consecutive
     same-label partial centres merged; VAD gaps end a turn).
Timed (seconds=): steps 2-5 (audio read, model load and one warm-up call on 3 s of noise
excluded; wx-diarize needs no warm-up); median of --repeat runs; torch on --threads threads
(default 2).
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np


def load_audio(path):
    import soundfile as sf
    wav, sr = sf.read(path, dtype="float32", always_2d=True)
    if sr != 16000:
        sys.exit(f"bench_diarize_anchor: {path}: {sr} Hz (16 kHz expected)")
    mono = wav.mean(axis=1)
    return (np.clip(np.round(mono * 32768), -32768, 32767) / 32768).astype(np.float32)


def speech_mask(wav):
    """Resemblyzer's trim_long_silences, returning its per-sample mask over wav[:len(mask)]."""
    import struct
    import webrtcvad
    from scipy.ndimage import binary_dilation
    from resemblyzer import hparams as hp
    from resemblyzer.audio import int16_max
    spw = (hp.vad_window_length * hp.sampling_rate) // 1000
    wav = wav[:len(wav) - (len(wav) % spw)]
    pcm = struct.pack("%dh" % len(wav), *(np.round(wav * int16_max)).astype(np.int16))
    vad = webrtcvad.Vad(mode=3)
    flags = np.array([vad.is_speech(pcm[s * 2:(s + spw) * 2], sample_rate=hp.sampling_rate)
                      for s in range(0, len(wav), spw)])
    if flags.size == 0:
        return np.zeros(0, dtype=bool)

    def moving_average(array, width):
        padded = np.concatenate((np.zeros((width - 1) // 2), array, np.zeros(width // 2)))
        ret = np.cumsum(padded, dtype=float)
        ret[width:] = ret[width:] - ret[:-width]
        return ret[width - 1:] / width

    mask = np.round(moving_average(flags, hp.vad_moving_average_width)).astype(bool)
    mask = binary_dilation(mask, np.ones(hp.vad_max_silence_length + 1))
    return np.repeat(mask, spw)


def clusterer(min_clusters, max_clusters):
    from spectralcluster import configs
    from spectralcluster import SpectralClusterer
    return SpectralClusterer(min_clusters=min_clusters, max_clusters=max_clusters,
                             autotune=None, laplacian_type=None,
                             refinement_options=configs.icassp2018_refinement_options,
                             custom_dist="cosine")


def diarize(encoder, wav, min_clusters, max_clusters):
    """→ list of (start s, end s, label int) in the original timeline, by start."""
    from resemblyzer.audio import normalize_volume
    from resemblyzer import hparams as hp
    sr = hp.sampling_rate
    wav = normalize_volume(wav, hp.audio_norm_target_dBFS, increase_only=True)
    mask = speech_mask(wav)
    kept = np.flatnonzero(mask)              # original index of each trimmed sample
    if kept.size < sr:                       # under 1 s of speech: no turns
        return []
    trimmed = wav[kept]
    _, partials, slices = encoder.embed_utterance(trimmed, return_partials=True, rate=16)
    if len(partials) > 1:
        labels = clusterer(min_clusters, max_clusters).predict(partials)
    else:
        labels = np.zeros(len(partials), dtype=int)
    centres = np.array([(s.start + min(s.stop, kept.size)) / 2 for s in slices])
    # label of each trimmed sample: nearest partial centre (centres are increasing)
    bounds = (centres[1:] + centres[:-1]) / 2
    lab = np.asarray(labels)[np.searchsorted(bounds, np.arange(kept.size))]
    # runs in the original timeline: a new run where the label changes or the mask has a gap
    brk = np.flatnonzero((np.diff(lab) != 0) | (np.diff(kept) != 1)) + 1
    starts = np.concatenate(([0], brk))
    ends = np.concatenate((brk, [kept.size]))
    turns = [(kept[a] / sr, (kept[b - 1] + 1) / sr, int(lab[a])) for a, b in zip(starts, ends)]
    # labels renumbered by first appearance, like wx-diarize's SPEAKER_%02d
    order = {}
    for _, _, k in turns:
        order.setdefault(k, len(order))
    return [(s, e, order[k]) for s, e, k in turns]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("audio")
    ap.add_argument("--uri")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--min-clusters", type=int, default=1)
    ap.add_argument("--max-clusters", type=int, default=8)
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from resemblyzer import VoiceEncoder
    import librosa.feature  # noqa: F401  (lazy imports done before the clock starts)
    import spectralcluster.configs  # noqa: F401
    import webrtcvad  # noqa: F401

    uri = args.uri or os.path.splitext(os.path.basename(args.audio))[0]
    wav = load_audio(args.audio)
    encoder = VoiceEncoder("cpu", verbose=False)
    # untimed warm-up: librosa's lazy imports and first calls, torch's first LSTM call,
    # the clusterer's first run (seconds on a cold process; a server pays them once)
    noise = np.random.default_rng(0).standard_normal(3 * 16000).astype(np.float32) * 0.01
    _, warm, _ = encoder.embed_utterance(noise, return_partials=True, rate=16)
    clusterer(args.min_clusters, args.max_clusters).predict(warm)
    walls = []
    c0 = time.process_time()
    for _ in range(max(1, args.repeat)):
        t0 = time.perf_counter()
        turns = diarize(encoder, wav, args.min_clusters, args.max_clusters)
        walls.append(time.perf_counter() - t0)
    for s, e, k in turns:
        print(f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> SPEAKER_{k:02d} <NA> <NA>")
    cpu = (time.process_time() - c0) / len(walls)
    wall = statistics.median(walls)
    audio_s = len(wav) / 16000
    print(f"seconds={wall:.4f} audio={audio_s:.3f} rtf={wall / audio_s if audio_s else 0:.4f} "
          f"cpu={cpu:.3f}", file=sys.stderr)


if __name__ == "__main__":
    main()
