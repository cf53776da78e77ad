#!/usr/bin/env python3
"""tune_diarize.py — grid search of wx-diarize's parameters on dev00.wav ONLY (reference
debug.development.rttm, uri dev00), minimising DER (tools/der.py's metric: pyannote.metrics
DiarizationErrorRate, collar 0, overlap scored). sample, tst00 and stereo stay held out:
they are never run while choosing (--heldout runs them afterwards, defaults vs chosen, for
the report only).

  .cache/venv-vad/bin/python tools/tune_diarize.py [--bin build-tools/wx-diarize]
        [--threads 2] [--heldout]

Two stages, about 50 runs of a few seconds each:
  1. the full grid of the clustering flags: --threshold × --min-cluster-size × links on/off;
  2. from the best of stage 1, one flag at a time over its values (--step, --min-off,
     --link-iou, --link-min, --min-train; the link flags only when links are on), each
     flag keeping its best value before the next is swept.
Ties (equal DER to 0.01 %) keep the value closer to wx_diarize_params_default (read from
wx-diarize's "params" line), so that nothing moves without a measured gain. Prints every
tried setting (DER, missed, false alarm, confusion, speakers, wall) and the chosen flags.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import der  # noqa: E402

STAGE1 = {"threshold": [0.3, 0.4, 0.45, 0.5, 0.6, 0.7],
          "min-cluster-size": [2, 6, 12],
          "links": [1, 0]}
STAGE2 = {"step": [0.05, 0.1, 0.2],
          "min-off": [0.0, 0.1, 0.3, 0.5],
          "link-iou": [0.5, 0.7, 0.9],
          "link-min": [0.25, 0.5, 1.0],
          "min-train": [0.5, 1.0, 2.0, 3.0]}


def defaults(binary):
    """The engine's defaults, from the "params" line wx-diarize prints."""
    ref, audio, _ = der.reference("stereo")   # the shortest file: the run is only for the line
    p = subprocess.run([binary, audio], capture_output=True, text=True)
    m = re.search(r"^params (.*)$", p.stderr, re.M)
    if p.returncode or not m:
        sys.exit(f"tune_diarize: {binary} gave no params line: {p.stderr[-300:]}")
    return {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}


def flags(setting):
    out = []
    for k, v in setting.items():
        if k == "links":
            out += [] if v else ["--no-links"]
        elif k != "sample-threshold":
            out += [f"--{k}", str(int(v) if k == "min-cluster-size" else v)]
    return out


def describe(setting, base):
    changed = [f"{k}={setting[k]:g}" for k in setting if setting[k] != base[k]]
    return " ".join(changed) or "(defaults)"


class Runner:
    def __init__(self, binary, threads, base):
        self.binary, self.threads, self.base = binary, threads, base
        self.seen, self.rows = {}, []

    def __call__(self, setting):
        key = tuple(sorted(setting.items()))
        if key not in self.seen:
            r = der.evaluate("dev00", "ours", self.threads, 1, self.binary, flags(setting))
            r["setting"] = describe(setting, self.base)
            self.seen[key] = r
            self.rows.append(r)
            print(f"  {r['setting']:48s} DER {r['der']:6.2f}  miss {r['missed']:5.2f}  "
                  f"fa {r['false_alarm']:5.2f}  conf {r['confusion']:5.2f}  "
                  f"spk {r['ref_speakers']}/{r['hyp_speakers']}  {r['wall_s']:.2f} s", flush=True)
        return self.seen[key]["der"]


def closeness(setting, base):
    """Smaller is closer to the defaults (count of changed flags, then relative distance)."""
    changed = [k for k in setting if setting[k] != base[k]]
    rel = sum(abs(setting[k] - base[k]) / (abs(base[k]) or 1.0) for k in changed)
    return (len(changed), rel)


def better(a_der, a, b_der, b, base):
    if abs(a_der - b_der) > 0.01:
        return a_der < b_der
    return closeness(a, base) < closeness(b, base)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.environ.get(
        "WX_DIARIZE", os.path.join(der.ROOT, "build-tools", "wx-diarize")))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--heldout", action="store_true",
                    help="after choosing, score defaults and chosen on the held-out files")
    a = ap.parse_args()
    base = defaults(a.bin)
    base.pop("sample-threshold", None)    # voice-sample naming: not a diarization flag
    base.pop("onset", None)               # multi-label heads only; segmentation-3.0 is powerset
    run = Runner(a.bin, a.threads, base)

    print("stage 1: threshold x min-cluster-size x links (dev00)")
    best, best_der = dict(base), run(base)
    for t in STAGE1["threshold"]:
        for m in STAGE1["min-cluster-size"]:
            for links in STAGE1["links"]:
                s = {**base, "threshold": t, "min-cluster-size": m, "links": links}
                d = run(s)
                if better(d, s, best_der, best, base):
                    best, best_der = s, d
    print("stage 2: one flag at a time from the best of stage 1 (dev00)")
    for k, values in STAGE2.items():
        if k.startswith("link-") and not best["links"]:
            continue
        for v in values:
            s = {**best, k: v}
            d = run(s)
            if better(d, s, best_der, best, base):
                best, best_der = s, d

    print(f"\n{len(run.rows)} settings tried on dev00; best DER {best_der:.2f} % "
          f"(defaults {run.seen[tuple(sorted(base.items()))]['der']:.2f} %)")
    print("chosen:", describe(best, base))
    print("flags: ", " ".join(flags(best)))
    if a.heldout:
        print("\nheld out (not used for choosing):")
        rows = []
        for name in ("sample", "tst00", "stereo"):
            for label, s in (("defaults", base), ("chosen", best)):
                r = der.evaluate(name, "ours", a.threads, 1, a.bin, flags(s))
                r["engine"] = label
                rows.append(r)
        der.print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
