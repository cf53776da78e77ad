#!/usr/bin/env python3
"""der.py — diarization error rate of wx-diarize (tools/bench_diarize.c) and of the
Resemblyzer + spectralcluster anchor (tools/bench_diarize_anchor.py) on our four recordings.

  .cache/venv-vad/bin/python tools/der.py --file sample|dev00|tst00|stereo --hyp X.rttm
  .cache/venv-vad/bin/python tools/der.py --table [--engines ours,anchor] [--threads 2]
        [--repeat 3] [--files sample,dev00,tst00,stereo] [--bin build-tools/wx-diarize]
        [--json OUT.jsonl] [-- extra wx-diarize flags]

DER: pyannote.metrics 4.2.0 DiarizationErrorRate(collar=0.0, skip_overlap=False), scored
over the whole recording (uem = [0, duration]); missed / false alarm / confusion are in
percent of the reference speech, as DER is. References (../shared/data, WX_DATA_DIR
overrides):
  sample  sample.wav, sample.rttm (uri sample)
  dev00   dev00.wav, debug.development.rttm (uri dev00 only)
  tst00   tst00.wav, debug.test.rttm (uri tst00 only)
  stereo  stereo_diarization.wav has no RTTM: the reference is derived from its channels,
          each channel one speaker (ch0 → "left", ch1 → "right"):
            - RMS of 10 ms frames (160 samples) per channel, in dB;
            - a frame is active when within 25 dB of that channel's loudest frame;
            - hangover smoothing: inactive gaps under 0.30 s inside a run are filled, then
              active runs under 0.10 s dropped;
            - each run is one turn of that channel's speaker (the two may overlap).
          Both systems get the mono downmix, what the worker sees: the mean of the two
          channels rounded to 16 bits (FFmpeg's -ac 1, which our decoder src/io/audio.c
          reproduces, differs from it by at most 1 LSB on this file), written once to
          .cache/diarize/stereo_mono.wav.
--table runs each engine once per file in its own process (wall = the engine's own
"seconds=" of the diarization, model load and decoding excluded; median of --repeat runs
inside the process; cpu = the process CPU seconds per run, all threads, steadier than the
wall on a busy host) and prints one row per (file, engine). RTF = wall / audio seconds;
ratio = the anchor's wall / ours on the same file (x2.00: ours is twice as fast).
Engines: "ours" (wx-diarize), "anchor" (min 1, max 8 clusters) and "anchor:MIN:MAX" (the
anchor with other cluster bounds, e.g. anchor:2:7, spectralcluster's README example).
"""
import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("WX_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))
CACHE = os.path.join(ROOT, ".cache", "diarize")
FILES = ("sample", "dev00", "tst00", "stereo")
RTTM = {"sample": ("sample.wav", "sample.rttm"),
        "dev00": ("dev00.wav", "debug.development.rttm"),
        "tst00": ("tst00.wav", "debug.test.rttm")}

# stereo reference rule (see the docstring)
FRAME = 160
REL_DB = 25.0
FILL_GAP_S = 0.30
MIN_RUN_S = 0.10


def _runs(active):
    """(start, end) frame index pairs of the True runs."""
    d = np.diff(np.concatenate(([0], active.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def stereo_reference(path):
    """→ (Annotation, mono int16 samples): the channel-derived reference of a stereo file."""
    import soundfile as sf
    from pyannote.core import Annotation, Segment
    w, sr = sf.read(path, dtype="int16", always_2d=True)
    assert sr == 16000 and w.shape[1] == 2, path
    x = w.astype(np.float64) / 32768
    n = len(x) // FRAME
    ann = Annotation(uri="stereo")
    fill, keep = round(FILL_GAP_S * sr / FRAME), round(MIN_RUN_S * sr / FRAME)
    for c, name in enumerate(("left", "right")):
        rms = np.sqrt((x[:n * FRAME, c].reshape(n, FRAME) ** 2).mean(axis=1))
        db = 20 * np.log10(np.maximum(rms, 1e-10))
        active = db > db.max() - REL_DB
        runs = _runs(active)
        for (_, e0), (s1, _) in zip(runs, runs[1:]):   # fill short gaps between runs
            if s1 - e0 < fill:
                active[e0:s1] = True
        for s, e in _runs(active):
            if e - s >= keep:
                ann[Segment(s * FRAME / sr, e * FRAME / sr)] = name
    mono = np.round(w.astype(np.int64).sum(axis=1) / 2).astype(np.int16)
    return ann, mono


def load_rttm_text(text, uri=None):
    """Annotation of RTTM lines (uri filter optional; the label is field 8)."""
    from pyannote.core import Annotation, Segment
    ann = Annotation(uri=uri)
    for line in text.splitlines():
        f = line.split()
        if len(f) < 8 or f[0] != "SPEAKER" or (uri and f[1] != uri):
            continue
        start, dur = float(f[3]), float(f[4])
        if dur > 0:
            ann[Segment(start, start + dur), ann.new_track(Segment(start, start + dur))] = f[7]
    return ann


def reference(name):
    """→ (reference Annotation, audio path the systems get, duration s)."""
    import soundfile as sf
    if name == "stereo":
        ref, mono = stereo_reference(os.path.join(DATA, "stereo_diarization.wav"))
        os.makedirs(CACHE, exist_ok=True)
        path = os.path.join(CACHE, "stereo_mono.wav")
        if not os.path.exists(path):
            sf.write(path, mono, 16000, subtype="PCM_16")
        return ref, path, len(mono) / 16000
    wav, rttm = RTTM[name]
    path = os.path.join(DATA, wav)
    with open(os.path.join(DATA, rttm)) as f:
        ref = load_rttm_text(f.read(), uri=name)
    return ref, path, sf.info(path).frames / 16000


def score(ref, hyp, duration):
    """→ dict: der, missed, false_alarm, confusion (percent of reference speech), speakers."""
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate
    metric = DiarizationErrorRate(collar=0.0, skip_overlap=False)
    uem = Timeline([Segment(0, duration)])
    d = metric(ref, hyp, uem=uem, detailed=True)
    total = d["total"] or 1.0
    return {"der": 100 * d["diarization error rate"],
            "missed": 100 * d["missed detection"] / total,
            "false_alarm": 100 * d["false alarm"] / total,
            "confusion": 100 * d["confusion"] / total,
            "ref_speakers": len(ref.labels()), "hyp_speakers": len(hyp.labels())}


def engine_command(engine, audio, uri, threads, repeat, binary, extra):
    if engine == "ours":
        return [binary, "--uri", uri, "--threads", str(threads), "--repeat", str(repeat),
                *extra, audio]
    cmd = [sys.executable, os.path.join(ROOT, "tools", "bench_diarize_anchor.py"), audio,
           "--uri", uri, "--threads", str(threads), "--repeat", str(repeat)]
    if engine.startswith("anchor:"):
        lo, hi = engine.split(":")[1:3]
        cmd += ["--min-clusters", lo, "--max-clusters", hi]
    elif engine != "anchor":
        raise ValueError(f"unknown engine {engine!r} (ours, anchor, anchor:MIN:MAX)")
    return cmd


def run_engine(cmd):
    """→ (rttm text, wall seconds, audio seconds, cpu seconds); raises on failure."""
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()[-500:]}")
    m = re.search(r"seconds=([0-9.eE+-]+) audio=([0-9.]+)", p.stderr)
    if not m:
        raise RuntimeError(f"{' '.join(cmd)}: no seconds= line on stderr")
    c = re.search(r" cpu=([0-9.]+)", p.stderr)
    return p.stdout, float(m.group(1)), float(m.group(2)), float(c.group(1)) if c else float("nan")


def evaluate(name, engine="ours", threads=2, repeat=1, binary=None, extra=()):
    """Runs one engine on one file → row dict (file, engine, scores, wall, rtf)."""
    binary = binary or os.environ.get("WX_DIARIZE", os.path.join(ROOT, "build-tools", "wx-diarize"))
    ref, audio, duration = reference(name)
    text, wall, audio_s, cpu = run_engine(engine_command(engine, audio, name, threads, repeat,
                                                         binary, list(extra)))
    row = {"file": name, "engine": engine, **score(ref, load_rttm_text(text), duration),
           "wall_s": wall, "cpu_s": cpu, "audio_s": audio_s,
           "rtf": wall / audio_s if audio_s else 0.0}
    return row


def print_table(rows, out=sys.stdout):
    """ratio: this row's wall / the "ours" row's wall on the same file (x2.00: ours 2x faster)."""
    ours = {r["file"]: r["wall_s"] for r in rows if r["engine"] == "ours"}

    def ratio(r):
        o = ours.get(r["file"])
        return f"x{r['wall_s'] / o:.2f}" if r["engine"] != "ours" and o else "-"
    hdr = ["file", "engine", "DER %", "missed", "false al.", "confusion", "spk ref/hyp",
           "wall s", "cpu s", "RTF", "ratio"]
    body = [[r["file"], r["engine"], f"{r['der']:.1f}", f"{r['missed']:.1f}",
             f"{r['false_alarm']:.1f}", f"{r['confusion']:.1f}",
             f"{r['ref_speakers']}/{r['hyp_speakers']}", f"{r['wall_s']:.3f}",
             f"{r.get('cpu_s', float('nan')):.3f}", f"{r['rtf']:.4f}", ratio(r)] for r in rows]
    w = [max(len(x) for x in col) for col in zip(hdr, *body)]
    for line in [hdr] + body:
        print("  ".join(x.ljust(n) if i < 2 else x.rjust(n) for i, (x, n) in enumerate(zip(line, w))),
              file=out)


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", choices=FILES)
    ap.add_argument("--hyp", help="hypothesis RTTM (with --file)")
    ap.add_argument("--table", action="store_true", help="run the engines on --files")
    ap.add_argument("--files", default=",".join(FILES))
    ap.add_argument("--engines", default="ours,anchor")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--bin", help="wx-diarize (default $WX_DIARIZE or build-tools/wx-diarize)")
    ap.add_argument("--json", help="append one JSON line per row to this file")
    ap.add_argument("--check", help="FILE=MAX_DER,...: exit 1 when our DER on a file is above "
                    "its bound (the ctest diarization_der)")
    a = ap.parse_args(argv)
    if a.file and a.hyp:
        ref, _, duration = reference(a.file)
        with open(a.hyp) as f:
            s = score(ref, load_rttm_text(f.read()), duration)
        print(f"{a.file}: DER {s['der']:.2f} %  missed {s['missed']:.2f}  false alarm "
              f"{s['false_alarm']:.2f}  confusion {s['confusion']:.2f}  speakers "
              f"{s['ref_speakers']}/{s['hyp_speakers']}")
        return 0
    if not a.table:
        ap.error("give --file and --hyp, or --table")
    rows, status = [], 0
    for name in a.files.split(","):
        for engine in a.engines.split(","):
            try:
                rows.append(evaluate(name, engine, a.threads, a.repeat, a.bin, extra))
            except Exception as e:  # one failing engine does not hide the others
                print(f"der.py: {name}/{engine}: {e}", file=sys.stderr)
                status = 1
    if a.json:
        with open(a.json, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    print_table(rows)
    for bound in (a.check.split(",") if a.check else []):
        name, limit = bound.split("=")
        ders = [r["der"] for r in rows if r["file"] == name and r["engine"] == "ours"]
        if not ders or ders[0] > float(limit):
            print(f"der.py: {name}: DER {ders[0] if ders else 'missing'} above the bound "
                  f"{limit} %", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
