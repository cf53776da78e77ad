#!/usr/bin/env python3
"""bench_pipelines.py — pyannote's two diarization pipelines on our engine (build/wx-diarize
--pyannote) against pyannote.audio 4.0.7 running the same weights, side by side on the same
files and threads.

Weights (the real ResNet34 and PLDA are gated or not fetchable here): segmentation-3.0's real
ones (models/segmentation-3.0, pyannote's sinc conv replaced by the exported filterbank as in
tools/gen_pyannote_pipeline_fixtures.py); a random WeSpeaker ResNet34 of the real shape
(channel width 32, 6.6 M parameters, written once into .cache/bench/pipelines/ by
gen_wespeaker_fixtures' writer); the fixture PLDA (tests/fixtures/vbx_*.npz). The pipeline
directories .cache/bench/pipelines/{community-1,3.1} hold config.yaml (community-1's;
3.1's values with "$model/" references) and those models.

Prints one row per (pipeline, file): wall seconds (median of --repeat), seconds per audio
hour, ratio (pyannote / ours: > 1 means we are faster) and whether the turns are the same
(rounded to the frame). JSON lines go to --json.
Usage: .cache/venv-vad/bin/python tools/bench_pipelines.py [--threads 2] [--repeat 3]
       [--files sample,dev00,tst00] [--bin build/wx-diarize] [--json OUT]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_pyannote_pipeline_fixtures import segmentation3  # noqa: E402
from gen_wespeaker_fixtures import load, save_checkpoint, wespeaker  # noqa: E402

from pyannote.audio import Model  # noqa: E402
from pyannote.audio.core.plda import PLDA  # noqa: E402
from pyannote.audio.pipelines import SpeakerDiarization  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(ROOT, ".cache", "bench", "pipelines")
FRAME = 0.016875
CONFIG_31 = """dependencies:
  pyannote.audio: 4.0.0
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: AgglomerativeClustering
    embedding: $model/embedding
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    segmentation: $model/segmentation
    segmentation_batch_size: 32
params:
  clustering:
    method: centroid
    min_cluster_size: 12
    threshold: 0.7045654963945799
  segmentation:
    min_duration_off: 0.0
"""
PARAMS = {
    "community-1": ({"clustering": "VBxClustering"},
                    {"segmentation": {"min_duration_off": 0.0},
                     "clustering": {"threshold": 0.6, "Fa": 0.07, "Fb": 0.8}}),
    "3.1": ({"clustering": "AgglomerativeClustering"},
            {"segmentation": {"min_duration_off": 0.0},
             "clustering": {"method": "centroid", "min_cluster_size": 12,
                            "threshold": 0.7045654963945799}}),
}


def make_dirs():
    """The two pipeline directories, the full-width random ResNet34 written once."""
    emb = os.path.join(OUT, "wespeaker_random_w32.bin")
    if not os.path.exists(emb):
        os.makedirs(OUT, exist_ok=True)
        save_checkpoint(wespeaker(32, 11), emb + ".partial")
        os.replace(emb + ".partial", emb)
    for name in PARAMS:
        d = os.path.join(OUT, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "embedding"))
        os.symlink(os.path.join(ROOT, "models", "segmentation-3.0"), os.path.join(d, "segmentation"))
        os.symlink(emb, os.path.join(d, "embedding", "pytorch_model.bin"))
        if name == "community-1":
            shutil.copy(os.path.join(ROOT, "tests", "data", "pipelines", "community-1.yaml"),
                        os.path.join(d, "config.yaml"))
            os.makedirs(os.path.join(d, "plda"))
            for src, dst in (("vbx_xvec_transform.npz", "xvec_transform.npz"),
                             ("vbx_plda.npz", "plda.npz")):
                os.symlink(os.path.join(FIX, src), os.path.join(d, "plda", dst))
        else:
            with open(os.path.join(d, "config.yaml"), "w") as f:
                f.write(CONFIG_31)
    return emb


def frames(turns):
    return sorted((round(s / FRAME), round(e / FRAME), lab) for s, e, lab in turns)


def run_ours(binary, name, path, threads, repeat):
    proc = subprocess.run([binary, "--pyannote", os.path.join(OUT, name), "--threads",
                           str(threads), "--repeat", str(repeat), path], capture_output=True,
                          text=True, check=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    wall = float(re.search(r"seconds=([0-9.]+)", proc.stderr).group(1))
    turns = [(float(f[3]), float(f[3]) + float(f[4]), f[7])
             for f in (line.split() for line in proc.stdout.splitlines())]
    return wall, turns


def run_pyannote(pipe, path, repeat):
    audio = torch.from_numpy(load(path)[None])
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = pipe({"waveform": audio, "sample_rate": 16000})
        walls.append(time.perf_counter() - t0)
    turns = [(t.start, t.end, lab) for t, _, lab in out.speaker_diarization.itertracks(yield_label=True)]
    return statistics.median(walls), turns


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--files", default="sample,dev00,tst00")
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "wx-diarize"))
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    emb_path = make_dirs()
    seg, emb = segmentation3(), Model.from_pretrained(emb_path).eval()
    plda = PLDA(os.path.join(FIX, "vbx_xvec_transform.npz"), os.path.join(FIX, "vbx_plda.npz"))
    rows = []
    print(f"{'pipeline':12s} {'file':8s} {'audio':>6s} {'ours s':>8s} {'pyannote s':>11s} "
          f"{'ours s/h':>9s} {'pyannote s/h':>13s} {'ratio':>7s}  same turns")
    for name, (init, params) in PARAMS.items():
        pipe = SpeakerDiarization(segmentation=seg, embedding=emb, plda=plda,
                                  embedding_exclude_overlap=True, embedding_batch_size=32,
                                  segmentation_batch_size=32, **init).instantiate(params)
        for f in args.files.split(","):
            path = os.path.join(args.data, f + ".wav")
            audio_s = len(load(path)) / 16000
            ours, ours_turns = run_ours(args.bin, name, path, args.threads, args.repeat)
            theirs, their_turns = run_pyannote(pipe, path, args.repeat)
            same = frames(ours_turns) == frames(their_turns)
            row = {"pipeline": name, "file": f, "audio_s": audio_s, "ours_s": ours,
                   "pyannote_s": theirs, "ratio": theirs / ours, "same_turns": same,
                   "threads": args.threads}
            rows.append(row)
            print(f"{name:12s} {f:8s} {audio_s:6.1f} {ours:8.2f} {theirs:11.2f} "
                  f"{ours / audio_s * 3600:9.0f} {theirs / audio_s * 3600:13.0f} "
                  f"x{theirs / ours:6.2f}  {'yes' if same else 'NO'}", flush=True)
    if args.json:
        with open(args.json, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    return 0 if all(r["same_turns"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
