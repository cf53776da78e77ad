"""worker_local_test.py - the local test_input mode (--test_input / ./test_input.json) of the
real whisperx-worker binary (WX_WORKER_BIN): a good job prints {"output"} and exits 0; every bad
input prints one {"error"} line and exits 1, never on a signal (ftp:// once crashed it); local
paths only under the working directory or --rp_local_audio_dir; speaker diarization (turns,
speakers on segments and words, RTTM, speaker samples); a crash injected in the worker process is
answered as an error. Standard library only; every run is bounded."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_test_util import FAILURES, JFK, ROOT, check, data_uri  # noqa: E402

# WX_TEST_LIGHT=1 (the ThreadSanitizer tree): word times on jfk.wav only, one diarization job.
LIGHT = os.environ.get("WX_TEST_LIGHT") == "1"


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


def rttm_turns(path):
    """(start, end, speaker) of each line of an RTTM file."""
    with open(path) as f:
        return [(float(p[3]), float(p[3]) + float(p[4]), p[7]) for p in (l.split() for l in f) if p]


def one_speaker_span(turns):
    """The longest turn, trimmed to the part no other speaker's turn overlaps."""
    start, end, who = max(turns, key=lambda t: t[1] - t[0])
    for s, e, other in turns:
        if other != who and start < s < end:
            end = s
        if other != who and start < e < end:
            start = e
    return start, end


def cut_wav(src, dst, start, end):
    with wave.open(src, "rb") as w:
        rate = w.getframerate()
        w.setpos(int(start * rate))
        frames = w.readframes(int((end - start) * rate))
        params = w.getparams()
    with wave.open(dst, "wb") as out:
        out.setparams(params)
        out.writeframes(frames)


def diarization_models_missing():
    """The open diarization set under the model directory's parent (scripts/setup.sh)."""
    model = os.path.abspath(os.environ.get("WX_MODEL_DIR", os.path.join(ROOT, "models", "tiny.en")))
    models = os.path.dirname(model)
    return [p for p in (os.path.join(models, "segmentation-3.0", "model.safetensors"),
                        os.path.join(models, "ge2e", "pretrained.pt")) if not os.path.exists(p)]


def check_diarization(shared):
    """Speaker diarization of sample.wav (two speakers, pyannote's RTTM): turns, speakers on
    every segment and timed word, RTTM lines; speaker samples, one good and one not audio, and
    the speakers' embeddings."""
    missing = diarization_models_missing()
    if missing:
        print("worker_local_test: SKIPPED the diarization checks: %s absent (scripts/setup.sh "
              "fetches them)" % ", ".join(missing))
        return
    rc, body, log = run(job("sample.wav", diarization=True, align_output=True, output_format="rttm",
                            debug=True) + ["--rp_local_audio_dir", shared])
    out = (body or {}).get("output", {})
    segs = out.get("segments", [])
    turns = out.get("diarization")
    check(rc == 0 and segs, "diarization: a result with segments: %r\n%s" % (body, log[-800:]))
    check(isinstance(turns, list) and turns and all(t["start"] < t["end"] for t in turns),
          "diarization: a non-empty list of turns with start < end: %r" % turns)
    speakers = {t["speaker"] for t in turns or []}
    check(len(speakers) == 2, "diarization: two distinct speakers in sample.wav: %r" % speakers)
    check(all("speaker" in s for s in segs), "diarization: every segment has a speaker")
    check({s.get("speaker") for s in segs} <= speakers, "diarization: segments name turn speakers")
    # assign_word_speakers needs an intersection > 0: a zero-length word gets no speaker there.
    timed = [w for s in segs for w in s.get("words", []) if "start" in w and w["end"] > w["start"]]
    check(timed and all("speaker" in w for w in timed),
          "diarization: every timed word has a speaker: %r" % [w for w in timed if "speaker" not in w])
    check({w.get("speaker") for w in timed} == speakers, "diarization: the words name both speakers")
    lines = out.get("rttm", "").splitlines()
    check(len(lines) == len(turns or []) and all(re.match(
        r"^SPEAKER audio 1 \d+\.\d{3} \d+\.\d{3} <NA> <NA> SPEAKER_\d\d <NA> <NA>$", l) for l in lines),
          "diarization: one RTTM line per turn: %r" % out.get("rttm"))
    info = out.get("debug_info", {})
    check(info.get("diarization_model") and "diarize" in info.get("stage_seconds", {}),
          "diarization: debug_info names the model and times the stage: %r" % info)
    if LIGHT:
        return
    # Speaker samples: a clean stretch of one speaker's longest turn names that speaker; a
    # sample that is not audio is warned about and left out, the job still succeeds.
    with tempfile.TemporaryDirectory() as audio_dir:
        shutil.copy(os.path.join(shared, "sample.wav"), audio_dir)
        start, end = one_speaker_span(rttm_turns(os.path.join(shared, "sample.rttm")))
        cut_wav(os.path.join(shared, "sample.wav"), os.path.join(audio_dir, "alice.wav"), start, end)
        samples = [{"name": "Alice", "audio_file": "alice.wav"},
                   {"name": "Bob", "audio_file": "bm90IGF1ZGlv"}]   # base64 of "not audio"
        rc, body, log = run(job("sample.wav", diarization=True, speaker_samples=samples,
                                return_speaker_embeddings=True)
                            + ["--rp_local_audio_dir", audio_dir])
    out = (body or {}).get("output", {})
    warnings = out.get("warnings", [])
    check(rc == 0 and out.get("segments"), "speaker samples: the job succeeds: %r\n%s" % (body, log[-800:]))
    check(any(re.match(r'^speaker_samples\[1\] \("Bob"\): .+; that name is not used\.$', w)
              for w in warnings), "speaker samples: the bad sample is warned about: %r" % warnings)
    check(not any("Alice" in w for w in warnings), "speaker samples: no warning about Alice: %r" % warnings)
    named = {t["speaker"] for t in out.get("diarization", [])}
    check(len(named) == 2 and "Alice" in named and "Bob" not in named,
          "speaker samples: Alice names her turns, Bob names nothing: %r" % named)
    embeddings = out.get("speaker_embeddings", {})
    check(set(embeddings) == named and len({len(v) for v in embeddings.values()}) == 1
          and all(isinstance(x, float) for v in embeddings.values() for x in v),
          "speaker samples: one embedding per speaker, of one size: %r" % {k: len(v) for k, v in embeddings.items()})


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
    for name in ("jfk.wav",) if LIGHT else ("jfk.wav", "sample.wav", "dev00.wav"):
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
    expect_error(job("tests/data/jfk.wav", speaker_samples=[{"name": "", "audio_file": "x.wav"}]),
                 r"speaker_samples\[0\]\.name must be a non-empty string")
    # The diarization models named on the command line or in the environment reach the engine:
    # a named file that is missing stops the start-up, naming it.
    expect_error(job("tests/data/jfk.wav") + ["--segmentation_dir", "/nonexistent/seg"],
                 r"/nonexistent/seg/model\.safetensors does not exist")
    expect_error(job("tests/data/jfk.wav"), r"/nonexistent/ge2e\.pt does not exist",
                 extra_env={"WX_EMBEDDING_PATH": "/nonexistent/ge2e.pt"})
    check_diarization(shared)
    # A crash in the worker process: answered, exit 1, not a signal.
    expect_error(job("tests/data/jfk.wav"), r"^the worker process crashed \(exit status 3\) while "
                 r"running this job", extra_env={"WX_DEBUG_CRASH": "transcribe:exit"})
    expect_error(job("tests/data/jfk.wav"), r"crashed \(signal 11, Segmentation fault\)",
                 extra_env={"WX_DEBUG_CRASH": "fetch:segv"})
    print("worker_local_test: %d failures, %.1f s" % (len(FAILURES), time.time() - start))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
