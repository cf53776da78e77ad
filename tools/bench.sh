#!/usr/bin/env bash
# bench.sh — the one benchmark command: our engine (build/wx-bench) vs the faster-whisper
# anchor (float32 and int8), on jfk.wav and a >= 5 min concatenation of the test recordings.
#
#   tools/bench.sh [--threads N] [--beam N] [--batch N] [--device cpu|cuda]   (from anywhere)
#
# --device cuda (a GPU machine): ours on the CUDA backend against faster-whisper on CUDA in
# float16 and int8_float16, and WhisperX on CUDA in float16; the VAD-alone rows stay CPU.
# Steps: (a) venv .cache/venv-tools from tools/requirements.txt (rebuilt when the file's
# hash changes), (b) cmake Release build in build/, (c) tools/make_long_audio.py,
# (d) each engine in its own process, one JSON line each (kept in .cache/bench/results.jsonl),
# then a table. WX_BENCH=/path/to/cmd overrides the engine binary (e.g. a fake for testing).
# Exits 1 (after running the anchors) when build/wx-bench is missing or fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

THREADS="$(nproc)"; BEAM=5; BATCH=8; DEVICE=cpu
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --beam)    BEAM="$2"; shift 2 ;;
    --batch)   BATCH="$2"; shift 2 ;;
    --device)  DEVICE="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

case "$DEVICE" in
  cpu)  ANCHOR_TYPES=(float32 int8); WHISPERX_TYPES=(float32 int8); OUR_TYPES=(float32 int8) ;;
  cuda) ANCHOR_TYPES=(float16 int8_float16); WHISPERX_TYPES=(float16); OUR_TYPES=(default) ;;
  *) echo "bench.sh: --device must be cpu or cuda" >&2; exit 2 ;;
esac
MODEL=models/tiny.en
VENV=.cache/venv-tools
PY="$VENV/bin/python"
OUTDIR=.cache/bench
mkdir -p "$OUTDIR"

# (a) tools venv, keyed by the hash of tools/requirements.txt
REQ_HASH="$(sha256sum tools/requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$PY" || "$(cat "$VENV/.req-hash" 2>/dev/null)" != "$REQ_HASH" ]]; then
  echo "== creating $VENV from tools/requirements.txt" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check -r tools/requirements.txt
  echo "$REQ_HASH" > "$VENV/.req-hash"
fi

[[ -f "$MODEL/model.bin" ]] || { echo "bench.sh: $MODEL/model.bin missing (fetch the models first)" >&2; exit 1; }

# (b) C build (incremental; configure once)
WX_BENCH="${WX_BENCH:-}"
if [[ -z "$WX_BENCH" ]]; then
  WX_BENCH=build/wx-bench
  if [[ ! -f build/Makefile && ! -f build/build.ninja ]]; then
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >&2 || echo "bench.sh: cmake configure failed" >&2
  fi
  if [[ -f build/Makefile || -f build/build.ninja ]]; then
    cmake --build build -j "$(nproc)" >&2 || echo "bench.sh: cmake build failed" >&2
  fi
fi

# (c) long input
"$PY" tools/make_long_audio.py

# (d) runs: one process per engine and audio.
#   windows: our engine on consecutive 30 s windows vs faster-whisper (float32, int8);
#   whisperx: our full flow (pyannote VAD + merged chunks) vs WhisperX's own transcribe,
#             and the VAD stage alone (build/wx-bench-vad vs tools/bench_vad_anchor.py).
# On the CPU both sides run float32 and int8, and each anchor row is compared with our row
# of the same precision.
RESULTS="$OUTDIR/results.jsonl"
: > "$RESULTS"
STATUS=0
COMMON=(--model "$MODEL" --threads "$THREADS" --beam "$BEAM" --batch "$BATCH")
run_ours() {  # run_ours <audio> <vad 0|1>: once per compute type of OUR_TYPES
  if [[ ! -x "$WX_BENCH" ]]; then
    echo "bench.sh: ERROR: $WX_BENCH not found or not executable (did the build fail?)" >&2
    STATUS=1; return
  fi
  for CT in "${OUR_TYPES[@]}"; do
    "$WX_BENCH" "${COMMON[@]}" --device "$DEVICE" --audio "$1" --vad "$2" --compute_type "$CT" |
      tail -n 1 >> "$RESULTS" || { echo "bench.sh: ERROR: $WX_BENCH failed on $1" >&2; STATUS=1; }
  done
}
for AUDIO in ../shared/data/jfk.wav "$OUTDIR/long.wav"; do
  echo "== windows: $AUDIO" >&2
  run_ours "$AUDIO" 0
  for CT in "${ANCHOR_TYPES[@]}"; do
    "$PY" tools/bench_faster_whisper.py "${COMMON[@]}" --audio "$AUDIO" --compute-type "$CT" \
      --device "$DEVICE" >> "$RESULTS"
  done
done

# WhisperX anchors need their own venv (PyTorch: large) and ffmpeg; made once, cached.
VAD_VENV=.cache/venv-vad
VAD_HASH="$(sha256sum tools/requirements-vad.txt | cut -d' ' -f1)"
if [[ ! -x "$VAD_VENV/bin/python" || "$(cat "$VAD_VENV/.req-hash" 2>/dev/null)" != "$VAD_HASH" ]]; then
  echo "== creating $VAD_VENV from tools/requirements-vad.txt (once)" >&2
  rm -rf "$VAD_VENV"
  python3 -m venv "$VAD_VENV"
  "$VAD_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tools/requirements-vad.txt
  echo "$VAD_HASH" > "$VAD_VENV/.req-hash"
fi
command -v ffmpeg >/dev/null || { apt-get update -qq && apt-get install -y -qq ffmpeg >&2; }
for AUDIO in ../shared/data/jfk.wav "$OUTDIR/long.wav"; do
  echo "== whisperx flow: $AUDIO" >&2
  run_ours "$AUDIO" 1
  for CT in "${WHISPERX_TYPES[@]}"; do
    "$VAD_VENV/bin/python" tools/bench_whisperx.py "${COMMON[@]}" --audio "$AUDIO" \
      --device "$DEVICE" --compute-type "$CT" 2>/dev/null | tail -n 1 >> "$RESULTS"
  done
done
echo "== VAD stage alone: $OUTDIR/long.wav" >&2
VAD_RESULTS="$OUTDIR/vad.jsonl"
: > "$VAD_RESULTS"
build/wx-bench-vad --audio "$OUTDIR/long.wav" --threads "$THREADS" | tail -n 1 >> "$VAD_RESULTS" || STATUS=1
"$VAD_VENV/bin/python" tools/bench_vad_anchor.py --audio "$OUTDIR/long.wav" --threads "$THREADS" 2>/dev/null | tail -n 1 >> "$VAD_RESULTS"

echo "== decoding alone: $OUTDIR/long.wav and an M4A (AAC 44.1 kHz stereo) made from it" >&2
DECODE_RESULTS="$OUTDIR/decode.jsonl"
: > "$DECODE_RESULTS"
[[ -f "$OUTDIR/long.m4a" && "$OUTDIR/long.m4a" -nt "$OUTDIR/long.wav" ]] ||
  ffmpeg -nostdin -v error -y -i "$OUTDIR/long.wav" -ar 44100 -ac 2 -c:a aac -b:a 128k "$OUTDIR/long.m4a"
for AUDIO in "$OUTDIR/long.wav" "$OUTDIR/long.m4a"; do
  build/wx-bench-decode --audio "$AUDIO" | tail -n 1 >> "$DECODE_RESULTS" || STATUS=1
  "$PY" tools/bench_decode_anchor.py --audio "$AUDIO" | tail -n 1 >> "$DECODE_RESULTS"
done

echo "== word timing: ../shared/data/sample.wav (random-weight wav2vec2 of the real shapes)" >&2
ALIGN_DIR="$OUTDIR/align"
ALIGN_RESULTS="$OUTDIR/align.jsonl"
ALIGN_AUDIO=../shared/data/sample.wav
"$VAD_VENV/bin/python" tools/bench_align_anchor.py --audio "$ALIGN_AUDIO" --whisper "$MODEL" \
  --out "$ALIGN_DIR" --threads "$THREADS" 2>/dev/null > "$ALIGN_RESULTS" || STATUS=1
for FAMILY in base large; do
  build/wx-bench-align --model "$ALIGN_DIR/w2v-$FAMILY" --audio "$ALIGN_AUDIO" \
    --segments "$ALIGN_DIR/segments.json" --threads "$THREADS" >> "$ALIGN_RESULTS" || STATUS=1
done
for RUN in 1 2 3; do
  "$WX_BENCH" "${COMMON[@]}" --device "$DEVICE" --audio "$ALIGN_AUDIO" --vad 1 --words 1 |
    tail -n 1 >> "$ALIGN_RESULTS" || STATUS=1
done

# table
echo "device=$DEVICE threads=$THREADS beam=$BEAM batch=$BATCH  (ratio = anchor wall / our wall; >1 means we are faster)"
DEVICE="$DEVICE" "$PY" - "$RESULTS" <<'EOF'
import json, os, sys
rows = []
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    try:
        rows.append(json.loads(line))
    except json.JSONDecodeError:
        print(f"bench.sh: not a JSON line: {line[:120]!r}", file=sys.stderr)
def flow(r):  # our rows say whether the VAD ran; anchors: WhisperX runs it, faster-whisper not
    return bool(r.get("vad")) if r.get("engine") == "whisperx-worker" else r.get("engine") == "whisperx"
def wer(ref, hyp):  # word error rate of hyp against ref (word-level edit distance / words)
    a, b = ref.split(), hyp.split()
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j - 1] + (x != y), prev[j] + 1, cur[j - 1] + 1))
        prev = cur
    return prev[-1] / len(a) if a else float(bool(b))
def precision(r):  # our CUDA rows are float16 whatever the anchor's type
    ct = r.get("compute_type", "")
    if os.environ.get("DEVICE") == "cuda":
        return "float16"
    return "int8" if ct.startswith("int8") else ct
ours = {(r["audio"], flow(r), precision(r)): r for r in rows if r.get("engine") == "whisperx-worker"}
hdr = ["engine", "compute", "audio", "audio s", "wall s", "RTF", "dec_audio", "vad", "mel",
       "encode", "decode", "RSS MB", "ratio", "same text (else WER vs anchor)"]
out = []
for r in rows:
    st = r.get("stages", {})
    our = ours.get((r["audio"], flow(r), precision(r)))
    ratio = same = "-"
    if r.get("engine") != "whisperx-worker" and our:
        ratio = f"x{r['wall_s'] / our['wall_s']:.2f}" if our.get("wall_s") else "-"
        same = "yes" if r.get("text") == our.get("text") else f"WER {wer(r.get('text', ''), our.get('text', '')):.3f}"
    out.append([r.get("engine", "?"), r.get("compute_type", "?"), os.path.basename(r["audio"]),
                f"{r.get('audio_s', 0):.1f}", f"{r.get('wall_s', 0):.3f}", f"{r.get('rtf', 0):.4f}"]
               + [f"{st.get(k, 0):.3f}" for k in ("decode_audio", "vad", "mel", "encode", "decode")]
               + [f"{r.get('peak_rss_mb', 0):.0f}", ratio, same])
w = [max(len(str(x)) for x in col) for col in zip(hdr, *out)]
for line in [hdr] + out:
    print("  ".join(str(x).rjust(n) if i > 2 else str(x).ljust(n) for i, (x, n) in enumerate(zip(line, w))))
EOF
echo
echo "VAD stage alone (long.wav):"
"$PY" - "$OUTDIR/vad.jsonl" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    print(f"  {r.get('engine', '?'):16s} wall {r.get('wall_s', 0):8.3f} s  audio {r.get('audio_s', 0):.1f} s")
if len(rows) == 2 and rows[0].get("wall_s"):
    print(f"  ratio (whisperx / ours): x{rows[1]['wall_s'] / rows[0]['wall_s']:.2f}")
EOF
echo
echo "Decoding alone (ours: bytes in memory to samples; whisperx: load_audio's ffmpeg subprocess):"
"$PY" - "$DECODE_RESULTS" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    print(f"  {r.get('engine', '?'):16s} {os.path.basename(r.get('audio', '?')):10s} wall "
          f"{r.get('wall_s', 0):7.3f} s  audio {r.get('audio_s', 0):.1f} s")
EOF
echo
echo "Word timing (sample.wav; seconds per audio minute, median of 3; ratio = anchor / ours):"
"$PY" - "$ALIGN_RESULTS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
anchor = {r["family"]: r for r in rows if r.get("engine") == "whisperx.align"}
ours = [r for r in rows if r.get("engine") == "whisperx-worker" and "s_per_audio_min" in r]
for fam, r in zip(("base", "large"), ours):
    a = anchor.get(fam)
    theirs = a["s_per_audio_min"] if a else float("nan")
    ratio = f"x{theirs / r['s_per_audio_min']:.2f}" if a else "-"
    print(f"  wav2vec2 {fam:5s}   ours {r['s_per_audio_min']:8.3f}   whisperx {theirs:8.3f}   {ratio}")
fw = next((r for r in rows if r.get("engine") == "faster-whisper"), None)
timed = [r for r in rows if r.get("engine") == "whisperx-worker" and "stages" in r]
if timed:
    align = statistics.median(r["stages"]["align"] for r in timed)
    total = statistics.median(r["wall_s"] for r in timed)
    per_min = align * 60 / timed[0]["audio_s"]
    theirs = fw["s_per_audio_min"] if fw else float("nan")
    ratio = f"x{theirs / per_min:.2f}" if fw and per_min > 0 else "-"
    print(f"  whisper timing   ours {per_min:8.3f}   faster-whisper {theirs:8.3f}   {ratio}"
          f"   (ours: {100 * align / max(total - align, 1e-9):.1f} % of its transcription)")
EOF

echo
echo "== diarization: sample, dev00, tst00, stereo (2 threads, median of 3; DER by tools/der.py)" >&2
# ours (build/wx-diarize) vs the Resemblyzer + spectralcluster anchor, same files and threads.
"$VAD_VENV/bin/python" -c "import resemblyzer, spectralcluster, webrtcvad" 2>/dev/null ||
  "$VAD_VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r tools/requirements-diarize.txt
: > "$OUTDIR/diarize.jsonl"
echo "Diarization (DER % collar 0 with overlap; ratio = anchor wall / ours; >1 means we are faster):"
"$VAD_VENV/bin/python" tools/der.py --table --engines ours,anchor --threads 2 --repeat 3 \
  --bin build/wx-diarize --json "$OUTDIR/diarize.jsonl" || STATUS=1

echo
echo "== pyannote's pipelines: community-1 and 3.1 on our engine vs pyannote.audio 4.0.7, same weights" >&2
: > "$OUTDIR/pipelines.jsonl"
"$VAD_VENV/bin/python" tools/bench_pipelines.py --threads "$THREADS" --repeat 1 \
  --bin build/wx-diarize --json "$OUTDIR/pipelines.jsonl" || STATUS=1
exit "$STATUS"
