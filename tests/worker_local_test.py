"""worker_local_test.py - the local test_input mode (--test_input / ./test_input.json) of the
real whisperx-worker binary (WX_WORKER_BIN): a good job prints {"output"} and exits 0; every bad
input prints one {"error"} line and exits 1, never on a signal (ftp:// once crashed it); local
paths only under the working directory or --rp_local_audio_dir; a crash injected in the
worker process is answered as an error. Standard library only; every run is bounded."""

import json
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_test_util import FAILURES, JFK, ROOT, check, data_uri  # noqa: E402


def run(args, cwd=ROOT, extra_env=None, timeout=240):
    env = dict(os.environ)
    env.update(extra_env or {})
    model = os.path.abspath(os.environ.get("WX_MODEL_DIR", os.path.join(ROOT, "models", "tiny.en")))
    proc = subprocess.run([os.environ["WX_WORKER_BIN"], "--model_dir", model] + args, cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    body = None
    try:
        body = json.loads(lines[-1]) if len(lines) == 1 else None
    except ValueError:
        pass
    check(not any(s in proc.stderr for s in ("LeakSanitizer", "ERROR: AddressSanitizer",
                                               "ThreadSanitizer")),
          "no sanitizer report:\n" + proc.stderr[-3000:])
    return proc.returncode, body, proc.stderr


def expect_error(args, pattern, **kw):
    rc, body, log = run(args, **kw)
    err = body.get("error") if isinstance(body, dict) else None
    text = json.dumps(err) if isinstance(err, list) else (err or "")
    check(rc == 1 and re.search(pattern, text),
          "%s: exit 1 and an error matching %r, got rc %s, %r\n%s" % (args, pattern, rc, body, log[-800:]))


def job(audio_file, **keys):
    keys["audio_file"] = audio_file
    return ["--test_input", json.dumps({"input": keys})]


def main():
    start = time.time()
    rc, body, log = run(job("tests/data/jfk.wav"))
    text = " ".join(s["text"] for s in (body or {}).get("output", {}).get("segments", []))
    check(rc == 0 and "ask not" in text.lower(), "a local path under the working directory: %r" % body)
    for audio_file, pattern in [("ftp://x/y", r"scheme ftp is not supported"),
                                ("file:///etc/passwd", r"scheme file is not supported"),
                                ("/etc/passwd", r"not a readable file under the local audio directory"),
                                ("../../etc/passwd", r"not a readable file under"),
                                ("missing.wav", r"neither a readable file"),
                                ("data:audio/wav;base64,@@", r"not valid base64"),
                                (data_uri(0.0), r"."),
                                ("bm90IGF1ZGlv", r"not a recognised audio format|audio")]:
        expect_error(job(audio_file), pattern)
    expect_error(job("jfk.wav", beam_size="5"), r"beam_size should be <class 'int'>")
    expect_error(["--test_input", "{not json"], r"not valid JSON")
    expect_error(["--test_input", '{"nope": 1}'], r"no input parameter")
    expect_error(["--test_input", '{"input": [1]}'], r"should be <class 'dict'>")
    with tempfile.TemporaryDirectory() as empty:
        expect_error([], r"test_input.json not found", cwd=empty)
    # --rp_local_audio_dir: relative paths resolve under it, nothing outside is read.
    data = os.path.dirname(JFK)
    rc, body, _ = run(job("jfk.wav") + ["--rp_local_audio_dir", data])
    check(rc == 0 and "output" in (body or {}), "a path relative to --rp_local_audio_dir")
    expect_error(job(os.path.join(ROOT, "README.md")) + ["--rp_local_audio_dir", data],
                 r"not a readable file under")
    # Word times (align_output): every word inside its segment, starts non-decreasing,
    # word_segments = the words; asking for wav2vec2 without a model falls back with a warning.
    shared = os.environ.get("WX_DATA_DIR", os.path.join(ROOT, "..", "shared", "data"))
    for name in ("jfk.wav", "sample.wav", "dev00.wav"):
        check(os.path.exists(os.path.join(shared, name)), "recording %s in WX_DATA_DIR" % name)
        rc, body, _ = run(job(name, align_output=True, word_timestamps_method="wav2vec2",
                              output_format="vtt", highlight_words=True)
                          + ["--rp_local_audio_dir", shared])
        out = (body or {}).get("output", {})
        segs = out.get("segments", [])
        words = [w for s in segs for w in s.get("words", [])]
        check(rc == 0 and words and all("words" in s for s in segs), "%s: words on every segment" % name)
        check(all(s["start"] - 1e-6 <= w["start"] <= w["end"] <= s["end"] + 1e-6
                  for s in segs for w in s["words"] if "start" in w), "%s: words inside segments" % name)
        starts = [w["start"] for w in words if "start" in w]
        check(starts == sorted(starts), "%s: word starts non-decreasing" % name)
        check(out.get("word_segments") == words, "%s: word_segments" % name)
        check(any("is not installed" in w for w in out.get("warnings", [])),
              "%s: the fallback is warned: %r" % (name, out.get("warnings")))
        check("<u>" in out.get("vtt", ""), "%s: highlight_words underlines" % name)
    # A wav2vec2 model given as align_model (random weights, tests/fixtures): WhisperX's
    # aligned shape with chars; every word and char inside its segment.
    w2v = os.path.join(ROOT, "tests", "fixtures", "wav2vec2_hf_base")
    rc, body, _ = run(job("jfk.wav", align_output=True, align_model=w2v, debug=True,
                          return_char_alignments=True, interpolate_method="linear")
                      + ["--rp_local_audio_dir", shared])
    out = (body or {}).get("output", {})
    segs = out.get("segments", [])
    info = out.get("debug_info", {})
    check(rc == 0 and info.get("word_timestamps_method") == "wav2vec2"
          and info.get("align_model") == w2v, "wav2vec2 chosen: %r" % info)
    check(segs and all(isinstance(s.get("chars"), list) for s in segs), "chars on every segment")
    check(all(s["start"] - 1e-6 <= x["start"] <= x["end"] <= s["end"] + 1e-6
              for s in segs for x in s.get("words", []) + s.get("chars", []) if "start" in x),
          "wav2vec2 words and chars inside their segments")
    check(not out.get("warnings"), "no warning with an installed model: %r" % out.get("warnings"))
    expect_error(job("tests/data/jfk.wav", interpolate_method="cubic"),
                 r"interpolate_method does not meet the constraints")
    expect_error(job("tests/data/jfk.wav", word_timestamps_method="dtw"),
                 r"word_timestamps_method does not meet the constraints")
    # A crash in the worker process: answered, exit 1, not a signal.
    expect_error(job("tests/data/jfk.wav"), r"^the worker process crashed \(exit status 3\) while "
                 r"running this job", extra_env={"WX_DEBUG_CRASH": "transcribe:exit"})
    expect_error(job("tests/data/jfk.wav"), r"crashed \(signal 11, Segmentation fault\)",
                 extra_env={"WX_DEBUG_CRASH": "fetch:segv"})
    print("worker_local_test: %d failures, %.1f s" % (len(FAILURES), time.time() - start))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
