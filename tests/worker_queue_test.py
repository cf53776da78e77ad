"""worker_queue_test.py - drives the real whisperx-worker binary (WX_WORKER_BIN) through a fake
RunPod queue on 127.0.0.1. Scenarios (argv[1]): protocol, limits, sigterm, leak, crash
(a crash injected in the worker process answered, the next job served; a crash loop exits 1),
soak (WX_SOAK_JOBS jobs, a third malformed: RSS and file descriptors flat, every job
answered exactly once). Standard library only; every wait is bounded."""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_runpod import FakeRunPod  # noqa: E402
from worker_test_util import FAILURES, JFK, ROOT, check, data_uri  # noqa: E402

def wait_until(pred, timeout, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Worker:
    """The worker binary in queue mode against a fake server, with a private TMPDIR."""

    def __init__(self, fake, port, extra_env=None):
        self.tmpdir = tempfile.mkdtemp(prefix="wx-worker-test-")
        base = "http://127.0.0.1:%d/v2/ep-test" % port
        env = dict(os.environ)
        env.update({
            "RUNPOD_WEBHOOK_GET_JOB": base + "/job-take/$RUNPOD_POD_ID?gpu=$RUNPOD_GPU_TYPE_ID",
            "RUNPOD_WEBHOOK_POST_OUTPUT": base + "/job-done/$RUNPOD_POD_ID/$ID?gpu=$RUNPOD_GPU_TYPE_ID",
            "RUNPOD_WEBHOOK_PING": base + "/ping/$RUNPOD_POD_ID",
            "RUNPOD_PING_INTERVAL": "300",
            "RUNPOD_POD_ID": "pod-test",
            "RUNPOD_GPU_TYPE_ID": "NVIDIA-TEST",
            "RUNPOD_AI_API_KEY": "secret-key",
            "TMPDIR": self.tmpdir,
        })
        env.update(extra_env or {})
        self.stderr = open(os.path.join(self.tmpdir, "..", os.path.basename(self.tmpdir) + ".log"), "w+")
        self.proc = subprocess.Popen([os.environ["WX_WORKER_BIN"]], cwd=ROOT, env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.stderr)

    def stop(self, timeout=60, signal_first=True):
        if signal_first and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.stderr.seek(0)
        log = self.stderr.read()
        self.stderr.close()
        os.unlink(self.stderr.name)
        leftovers = os.listdir(self.tmpdir)
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        check(not leftovers, "no temporary files left behind: %s" % leftovers)
        check("LeakSanitizer" not in log and "ERROR: AddressSanitizer" not in log,
              "no sanitizer report:\n" + log[-3000:])
        return rc, log


def expect_error(fake, job_id, pattern, timeout=60):
    body = fake.wait_result(job_id, timeout)
    err = body.get("error") if body else None
    text = json.dumps(err) if isinstance(err, list) else (err or "")
    check(body is not None and re.search(pattern, text),
          "%s: error matching %r, got %r" % (job_id, pattern, body))


def expect_output(fake, job_id, timeout=240):
    body = fake.wait_result(job_id, timeout)
    out = body.get("output") if body else None
    check(isinstance(out, dict) and "segments" in out and "error" not in body,
          "%s: output with segments, got %r" % (job_id, body))
    return out or {}


def scenario_protocol(fake, port):
    fake.add_take("status", 204)
    fake.add_take("status", 400)
    fake.add_take("raw", "")
    fake.add_take("raw", "this is not json")
    fake.add_take("raw", '{"id": "j-noinput"}')
    fake.add_take("status", 429)
    fake.add_job("j-ok", {"audio_file": "http://127.0.0.1:%d/audio/redirect" % port,
                          "output_format": "srt", "debug": True,
                          "huggingface_access_token": "hf_abcdefghijklmnop"})
    url = "http://127.0.0.1:%d/audio/" % port
    bad = [
        ("j-missing", {"language": "en"}, r"audio_file is a required input\."),
        ("j-unknown", {"audio_file": url + "jfk.wav", "foo": 1},
         r"Unexpected input\. foo is not a valid input option\."),
        ("j-mistyped", {"audio_file": url + "jfk.wav", "batch_size": "8"},
         r"batch_size should be <class 'int'> type, not <class 'str'>\."),
        ("j-unreachable", {"audio_file": "http://127.0.0.1:1/x.wav"}, r"download failed"),
        ("j-404", {"audio_file": url + "nothing.wav"}, r"HTTP 404"),
        ("j-timeout", {"audio_file": url + "slow"}, r"timed out"),
        ("j-redirects", {"audio_file": url + "loop"}, r"redirects"),
        ("j-notaudio", {"audio_file": url + "text"}, r"."),
        ("j-empty", {"audio_file": url + "empty"}, r"empty"),
        ("j-toobig", {"audio_file": url + "big"}, r"exceeds the limit"),
        ("j-badb64", {"audio_file": "data:audio/wav;base64,@@@not-base64@@@"}, r"not valid base64"),
        ("j-scheme", {"audio_file": "ftp://127.0.0.1/x.wav"}, r"scheme ftp is not supported"),
        ("j-ftp", {"audio_file": "ftp://x/y"}, r"scheme ftp is not supported"),
        ("j-file", {"audio_file": "file:///etc/passwd"}, r"scheme file is not supported"),
        ("j-passwd", {"audio_file": "/etc/passwd"}, r"looks like a local path"),
        ("j-localpath", {"audio_file": JFK}, r"looks like a local path"),
        ("j-notobject", [1, 2], r"should be <class 'dict'>"),
    ]
    for job_id, job_input, _ in bad:
        fake.add_job(job_id, job_input)
    fake.add_job("j-after", {"audio_file": data_uri(1.5)})
    # The post path is the same for outputs and errors: these two fail validation, fast.
    fake.add_job("j-retry", {"audio_file": data_uri(1.5), "beam_size": "5"}, done_statuses=[500, 503, 200])
    fake.add_job("j-4xx", {"audio_file": data_uri(1.5), "beam_size": "5"}, done_statuses=[413, 200])

    worker = Worker(fake, port, {"RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS": "true",
                                 "WX_DOWNLOAD_TIMEOUT": "2", "RUNPOD_MAX_DOWNLOAD_BYTES": "2000000"})
    expect_error(fake, "j-noinput", r"missing field")
    out = expect_output(fake, "j-ok")
    text = " ".join(s.get("text", "") for s in out.get("segments", []))
    check("ask not" in text.lower(), "j-ok transcript mentions 'ask not': %r" % text)
    check(out.get("srt", "").startswith("1\n00:00:"), "j-ok carries an SRT rendering")
    check(out.get("effective_input", {}).get("huggingface_access_token") == "hf_a\u2026mnop",
          "token masked in effective_input")
    check("audio_file" not in out.get("effective_input", {}), "audio_file not echoed")
    check("debug_info" in out, "debug_info present when debug")
    for job_id, _, pattern in bad:
        expect_error(fake, job_id, pattern)
    expect_output(fake, "j-after")
    expect_error(fake, "j-retry", r"beam_size should be")
    wait_until(lambda: len(fake.results("j-4xx")) >= 2, 60)
    time.sleep(1.0)  # anything posted late would show up now
    rc, log = worker.stop()
    check(rc == 0, "worker exits 0 on SIGTERM when idle, got %s" % rc)

    everything = fake.record()
    check(all(r["headers"].get("authorization") == "secret-key" for r in everything),
          "every request carries the raw API key")
    check(all(r["headers"].get("user-agent", "").startswith("whisperx-worker/") for r in everything),
          "every request names the worker in User-Agent")
    takes = fake.record("take")
    check(all(r["path"] == "/v2/ep-test/job-take/pod-test" and r["query"].get("gpu") == "NVIDIA-TEST"
              and r["query"].get("job_in_progress") == "0" for r in takes),
          "job-take URL placeholders and parameters")
    t429 = [r["time"] for r in takes if r["answered"] == 429]
    after = [r["time"] for r in takes if t429 and r["time"] > t429[0]]
    check(t429 and after and after[0] - t429[0] >= 4.8, "5 s wait after 429")

    posts = fake.done_posts("j-ok")
    final_index = [i for i, r in enumerate(posts) if '"IN_PROGRESS"' not in r["body"]]
    progress = [json.loads(r["body"]) for r in posts if '"IN_PROGRESS"' in r["body"]]
    check(progress and final_index and final_index[0] == len(posts) - 1,
          "progress posts come before the result and none after")
    check(all(0 <= p["output"]["progress"] <= 1 and p["output"]["stage"] for p in progress),
          "progress posts carry a stage and 0..1")
    check(all(r["headers"].get("x-request-id") == "j-ok" and r["query"].get("isStream") == "false"
              and r["path"].endswith("/job-done/pod-test/j-ok") for r in posts),
          "job-done URL, isStream=false and X-Request-ID")

    retry = [r for r, _ in fake.results("j-retry")]
    check(len(retry) == 3 and [r["answered"] for r in retry] == [500, 503, 200],
          "5xx answers are retried up to 3 attempts")
    if len(retry) == 3:
        gaps = [retry[1]["time"] - retry[0]["time"], retry[2]["time"] - retry[1]["time"]]
        check(1.8 <= gaps[0] <= 4 and 2.8 <= gaps[1] <= 5, "retry waits 2 s then 3 s: %s" % gaps)
    four = fake.results("j-4xx")
    check(len(four) == 2 and isinstance(four[0][1].get("error"), list)
          and "HTTP 413" in four[1][1].get("error", ""),
          "a 4xx on the result is followed by a short error post")

    pings = fake.record("ping")
    check(len(pings) >= 5, "pings keep coming (%d)" % len(pings))
    check(all(p["query"].get("runpod_version") and p["path"] == "/v2/ep-test/ping/pod-test"
              for p in pings), "ping URL and runpod_version")
    check(any(p["query"].get("job_id") for p in pings) and any("job_id" not in p["query"] for p in pings),
          "job_id sent while a job runs, omitted when idle")
    times = [p["time"] for p in pings]
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(gaps and max(gaps) < 2.0, "ping cadence holds during jobs (max gap %.2f s)" % max(gaps or [0]))


def scenario_limits(fake, port):
    fake.add_job("j-private", {"audio_file": "http://127.0.0.1:%d/audio/jfk.wav" % port})
    fake.add_job("j-private6", {"audio_file": "http://[::1]:%d/audio/jfk.wav" % port})
    fake.add_job("j-oversize", {"audio_file": data_uri(1.5)})
    fake.add_job("j-b64big", {"audio_file": base64.b64encode(b"\0" * 300000).decode()})
    worker = Worker(fake, port, {"WX_MAX_RESULT_BYTES": "300", "RUNPOD_MAX_DOWNLOAD_BYTES": "200000"})
    expect_error(fake, "j-private", r"private address")
    expect_error(fake, "j-private6", r"private address|download failed")
    expect_error(fake, "j-oversize", r"size limit")
    expect_error(fake, "j-b64big", r"exceeds the limit")
    rc, _ = worker.stop()
    check(rc == 0, "worker exits 0, got %s" % rc)


def scenario_sigterm(fake, port):
    fake.add_job("j-term", {"audio_file": data_uri(11.0)})
    worker = Worker(fake, port)
    seen = wait_until(lambda: any('"IN_PROGRESS"' in r["body"] for r in fake.done_posts("j-term")), 60, 0.01)
    check(seen, "job started")
    worker.proc.send_signal(signal.SIGTERM)
    expect_output(fake, "j-term")
    rc, log = worker.stop(signal_first=False)
    check(rc == 0, "SIGTERM mid-job: exit 0 after posting, got %s" % rc)
    check(fake.pending_takes() == 0 and len([r for r in fake.record("take") if r["time"] > 0]) >= 1,
          "takes stopped")

    fake.add_job("j-term2", {"audio_file": data_uri(11.0)})
    worker = Worker(fake, port)
    wait_until(lambda: fake.done_posts("j-term2"), 60, 0.01)
    worker.proc.send_signal(signal.SIGTERM)
    time.sleep(0.05)
    worker.proc.send_signal(signal.SIGTERM)
    start = time.time()
    rc, _ = worker.stop(timeout=10)
    check(rc != 0 and time.time() - start < 5, "a second signal exits at once (rc %s)" % rc)


def vm_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def is_sanitized():
    with open(os.environ["WX_WORKER_BIN"], "rb") as f:
        data = f.read()
        return b"__asan_init" in data or b"__tsan_init" in data


def scenario_leak(fake, port):
    """WX_LEAK_JOBS jobs (default 50): every fifth transcribes a 1 s clip (every 25th under ASan,
    whose leak report needs no repetition), the others take the error paths (schema, base64,
    non-audio bytes, empty audio)."""
    n = int(os.environ.get("WX_LEAK_JOBS", "50"))
    every = 25 if is_sanitized() else 5
    uri = data_uri(1.0)
    failing = [{"audio_file": uri, "foo": 1}, {"audio_file": "data:audio/wav;base64,@@"},
               {"audio_file": base64.b64encode(b"not audio " * 100).decode()},
               {"audio_file": "data:audio/wav;base64,"}]
    for i in range(n):
        fake.add_job("j-%03d" % i, {"audio_file": uri} if i % every == 0 else failing[i % 4])
    worker = Worker(fake, port, {"RUNPOD_PING_INTERVAL": "1000"})
    rss = {}
    for i in range(n):
        body = fake.wait_result("j-%03d" % i, 120)
        check(body is not None and (("error" in body) == (i % every != 0)), "job %d result %r" % (i, body))
        if i in (n // 5, n - 1):
            rss[i] = vm_rss_kb(worker.proc.pid)
    rc, _ = worker.stop()
    check(rc == 0, "worker exits 0 after %d jobs, got %s" % (n, rc))
    grow = rss.get(n - 1, 0) - rss.get(n // 5, 0)
    print("RSS after job %d: %s kB, after job %d: %s kB" % (n // 5, rss.get(n // 5), n - 1, rss.get(n - 1)))
    check(is_sanitized() or grow < 16 * 1024, "resident memory stable across jobs (grew %d kB)" % grow)


def scenario_crash(fake, port):
    arm = os.path.join(tempfile.gettempdir(), "wx-crash-arm-%d" % os.getpid())
    open(arm, "w").close()
    fake.add_job("j-crash", {"audio_file": data_uri(1.0)})
    fake.add_job("j-next", {"audio_file": data_uri(1.0)})
    worker = Worker(fake, port, {"WX_DEBUG_CRASH": "transcribe", "WX_DEBUG_CRASH_ARM": arm})
    expect_error(fake, "j-crash", r"^the worker process crashed \(signal 6, Aborted\) while "
                 r"running this job; it has been restarted$")
    expect_output(fake, "j-next")
    time.sleep(0.5)
    check(len(fake.results("j-crash")) == 1 and len(fake.results("j-next")) == 1,
          "each job answered exactly once")
    rc, log = worker.stop()
    check(rc == 0, "worker exits 0 on SIGTERM after a crash, got %s" % rc)
    check(not os.path.exists(arm), "the armed crash fired")
    # A fatal exit (what a CUDA error does) in every job: three crashes, then exit 1.
    for i in range(4):
        fake.add_job("j-loop%d" % i, {"audio_file": data_uri(1.0)})
    worker = Worker(fake, port, {"WX_DEBUG_CRASH": "decode_audio:exit"})
    for i in range(3):
        expect_error(fake, "j-loop%d" % i, r"crashed \(exit status 3\)")
    check("stopping after 3 crashes" in str(fake.wait_result("j-loop2", 5)), "crash loop named")
    rc, log = worker.stop(timeout=60, signal_first=False)
    check(rc == 1, "a crash loop exits 1, got %s" % rc)
    check(fake.pending_takes() == 1, "no job taken after giving up")


def process_tree(pid):
    """The worker's pid and its children's (the supervised worker process)."""
    pids = [pid]
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def scenario_soak(fake, port):
    """WX_SOAK_JOBS jobs (default 300; a tenth under a sanitizer): two thirds transcribe a 1 s
    clip, a third are malformed in the ways the other scenarios collect. RSS and open file
    descriptors of the supervisor and the worker process are sampled after warm-up and at the
    end; every job must be answered exactly once."""
    n = int(os.environ.get("WX_SOAK_JOBS", "30" if is_sanitized() else "300"))
    uri = data_uri(1.0)
    url = "http://127.0.0.1:%d/audio/" % port
    bad = [{"audio_file": uri, "foo": 1}, {"language": "en"}, {"audio_file": uri, "beam_size": "5"},
           {"audio_file": "ftp://x/y"}, {"audio_file": "file:///etc/passwd"},
           {"audio_file": "/etc/passwd"}, {"audio_file": "data:audio/wav;base64,@@"},
           {"audio_file": base64.b64encode(b"not audio " * 100).decode()},
           {"audio_file": url + "text"}, {"audio_file": url + "nothing.wav"}, [1, 2]]
    for i in range(n):
        fake.add_job("s-%03d" % i, bad[(i // 3) % len(bad)] if i % 3 == 2 else {"audio_file": uri})
    worker = Worker(fake, port, {"RUNPOD_PING_INTERVAL": "1000", "RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS": "1"})
    samples = {}
    start = time.time()
    for i in range(n):
        body = fake.wait_result("s-%03d" % i, 120)
        check(body is not None and (("error" in body) == (i % 3 == 2)), "job %d result %r" % (i, body))
        if i in (n // 5, n - 1):
            pids = process_tree(worker.proc.pid)
            samples[i] = ([vm_rss_kb(p) for p in pids], [open_fds(p) for p in pids])
    elapsed = time.time() - start
    time.sleep(1.0)
    answers = {}
    for r in fake.record("done"):
        if '"IN_PROGRESS"' not in r["body"]:
            answers[r["job_id"]] = answers.get(r["job_id"], 0) + 1
    check(len(answers) == n and all(v == 1 for v in answers.values()),
          "every job answered exactly once (%d answered, %d twice or more)"
          % (len(answers), sum(1 for v in answers.values() if v > 1)))
    rc, _ = worker.stop()
    check(rc == 0, "worker exits 0 after the soak, got %s" % rc)
    warm, end = samples.get(n // 5), samples.get(n - 1)
    print("soak: %d jobs in %.1f s; after job %d: RSS %s kB, fds %s; after job %d: RSS %s kB, fds %s"
          % (n, elapsed, n // 5, warm[0], warm[1], n - 1, end[0], end[1]))
    if warm and end and len(warm[0]) == len(end[0]) == 2:
        grow = [b - a for a, b in zip(warm[0], end[0])]
        check(is_sanitized() or max(grow) < 16 * 1024, "RSS flat after warm-up (grew %s kB)" % grow)
        # Up to three sockets may be open at a sample (the long poll, a ping, a post); a leak
        # would grow with the jobs.
        check(all(b - a <= 3 for a, b in zip(warm[1], end[1])),
              "no leaked file descriptors (%s then %s)" % (warm[1], end[1]))
    else:
        check(False, "samples of both processes: %r %r" % (warm, end))


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "protocol"
    fake = FakeRunPod(JFK)
    port = fake.serve()
    start = time.time()
    try:
        globals()["scenario_" + name](fake, port)
    finally:
        fake.close()
    print("worker_queue_test %s: %d failures, %.1f s" % (name, len(FAILURES), time.time() - start))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
