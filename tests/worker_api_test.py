"""worker_api_test.py - the local HTTP API (--rp_serve_api) over real HTTP on 127.0.0.1.
Scenarios (argv[1]):
  main       readiness while the model loads, /runsync, /run with concurrent /status polling,
             the /v2 routes, /cancel, errors, /metrics, RunPod's own client when installed;
  hardening  WX_API_KEY, body / queue / kept-result limits, local paths only under
             --rp_local_audio_dir, the bad sources that used to crash the server;
  crash      a crash injected in the worker process fails only the job in flight, the queued
             jobs complete, /health comes back; a crash loop ends the server with status 1.
Standard library only; every wait is bounded."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_test_util import FAILURES, ROOT, check, data_uri  # noqa: E402


class Api:
    def __init__(self, port, key=None):
        self.base = "http://127.0.0.1:%d" % port
        self.key = key
        self.last_headers = {}

    def call(self, method, path, body=None, raw=None, timeout=120, key=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"}
        if key or self.key:
            headers["Authorization"] = "Bearer " + (key or self.key)
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                self.last_headers = dict(resp.headers)
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            self.last_headers = dict(err.headers)
            return err.code, err.read().decode()

    def json(self, method, path, body=None, raw=None, timeout=120, key=None):
        status, text = self.call(method, path, body, raw, timeout, key)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, {"unparsed": text}


def start_worker(extra_env=None, args=("--rp_local_audio_dir", ROOT)):
    env = dict(os.environ)
    env.update(extra_env or {})
    proc = subprocess.Popen([os.environ["WX_WORKER_BIN"], "--rp_serve_api", "--rp_api_port", "0"]
                            + list(args), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    port = [None]
    log = []
    ready = threading.Event()

    def pump():
        for line in proc.stderr:
            log.append(line)
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                port[0] = int(m.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    ready.wait(30)
    return proc, port[0], log


def wait_status(api, job_id, final, timeout=120):
    deadline = time.time() + timeout
    body = {}
    while time.time() < deadline:
        _, body = api.json("GET", "/status/" + job_id)
        if body.get("status") in final:
            return body
        time.sleep(0.05)
    return body


def test_readiness(api):
    status, body = api.json("GET", "/health")
    state = body.get("models", {}).get("whisper", {}).get("state")
    check(status in (200, 503) and state in ("loading", "ready"), "health while loading: %s %r" % (status, body))
    check(isinstance(body.get("jobs"), dict) and "inQueue" in body["jobs"], "health carries job counts")
    deadline = time.time() + 60
    while time.time() < deadline and api.json("GET", "/health")[0] != 200:
        time.sleep(0.05)
    status, body = api.json("GET", "/health")
    check(status == 200 and body["models"]["whisper"]["state"] == "ready", "model becomes ready: %r" % body)


def test_runsync(api):
    status, body = api.json("POST", "/runsync?wait=240000",
                            {"input": {"audio_file": "tests/data/jfk.wav", "output_format": "vtt"}},
                            timeout=250)
    check(status == 200 and body.get("status") == "COMPLETED", "runsync completes: %r" % body)
    out = body.get("output", {})
    text = " ".join(s["text"] for s in out.get("segments", []))
    check("ask not" in text.lower(), "runsync transcript: %r" % text)
    check(out.get("vtt", "").startswith("WEBVTT"), "vtt rendering present")
    check(body.get("id", "").startswith("sync-") and "executionTime" in body and "delayTime" in body,
          "runsync id and timings")
    status, body = api.json("POST", "/v2/ep-local/runsync", {"input": {"audio_file": data_uri(1.0),
                                                                       "foo": 1}})
    check(status == 200 and body.get("status") == "FAILED" and body.get("error") ==
          ["Unexpected input. foo is not a valid input option."], "/v2/{endpoint}/runsync: %r" % body)


def test_concurrent_run(api):
    """Four clients submit at once (one transcription, three inputs that fail validation in
    the executor) and poll /status concurrently until each job is final."""
    inputs = [{"audio_file": data_uri(1.0)}] + [{"audio_file": "x", "beam_size": str(i)}
                                                for i in range(3)]
    ids, lock = {}, threading.Lock()

    def submit(job_input):
        status, body = api.json("POST", "/run", {"input": job_input})
        check(status == 200 and body.get("status") == "IN_QUEUE", "run answers IN_QUEUE: %r" % body)
        with lock:
            ids[body.get("id")] = "beam_size" not in job_input

    threads = [threading.Thread(target=submit, args=(i,)) for i in inputs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    check(len(ids) == 4, "four distinct ids: %r" % ids)
    seen = {}

    def poll(job_id):
        seen[job_id] = wait_status(api, job_id, ("COMPLETED", "FAILED"), 250)

    pollers = [threading.Thread(target=poll, args=(i,)) for i in ids]
    for t in pollers:
        t.start()
    for t in pollers:
        t.join(260)
    check(all(seen.get(i, {}).get("status") == ("COMPLETED" if real else "FAILED")
              for i, real in ids.items()), "concurrent jobs end as expected: %r" % seen)
    real_id = [i for i, real in ids.items() if real][0]
    _, body = api.json("POST", "/v2/ep-local/status/" + real_id)
    check(body.get("status") == "COMPLETED" and "output" in body, "POST /v2/{endpoint}/status/{id}")


def test_errors(api):
    status, body = api.json("GET", "/status/no-such-id")
    check(status == 404 and "error" in body, "unknown id: 404")
    status, body = api.json("POST", "/run", raw=b"{not json")
    check(status == 400 and "error" in body, "invalid JSON body: 400")
    status, body = api.json("POST", "/run", {"nope": 1})
    check(status == 400 and "input" in body.get("error", ""), "body without input: 400")
    status, body = api.json("POST", "/runsync", {"input": {"audio_file": "x", "batch_size": "8"}})
    check(body.get("status") == "FAILED" and
          "batch_size should be <class 'int'> type, not <class 'str'>." in body.get("error", []),
          "validation errors as a list: %r" % body)
    status, _ = api.json("GET", "/nowhere")
    check(status == 404, "unknown route: 404")


def test_cancel(api):
    _, first = api.json("POST", "/run", {"input": {"audio_file": data_uri(1.0)}})
    _, second = api.json("POST", "/run", {"input": {"audio_file": "tests/data/jfk.wav"}})
    status, body = api.json("POST", "/cancel/" + second["id"])
    check(status == 200 and body.get("status") == "CANCELLED", "cancel a queued job: %r" % body)
    api.json("POST", "/cancel/" + first["id"])
    body = wait_status(api, first["id"], ("CANCELLED", "COMPLETED", "FAILED"), 250)
    check(body.get("status") in ("CANCELLED", "COMPLETED"), "cancel a running job: %r" % body)
    check(wait_status(api, second["id"], ("CANCELLED",), 5).get("status") == "CANCELLED",
          "a cancelled queued job never runs")


def test_metrics(api):
    status, text = api.call("GET", "/metrics")
    check(status == 200, "metrics answers 200")
    m = re.search(r'wx_jobs_total\{outcome="completed"\} (\d+)', text)
    check(m and int(m.group(1)) >= 2, "completed jobs counted")
    check('wx_stage_seconds_bucket{stage="encode",le="+Inf"}' in text, "stage histograms")
    m = re.search(r"wx_audio_seconds_total ([\d.]+)", text)
    check(m and float(m.group(1)) >= 12, "audio seconds counted")


def test_runpod_client(api):
    try:
        import runpod  # noqa: F401
    except ImportError:
        print("runpod package not installed: the official-client check is skipped")
        return
    runpod.api_key = "local"
    runpod.endpoint_url_base = api.base + "/v2"
    out = runpod.Endpoint("ep-local").run_sync({"audio_file": data_uri(1.0)}, timeout=120)
    check(isinstance(out, dict) and "segments" in out, "runpod.Endpoint.run_sync: %r" % out)


def wait_ready(api, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and api.json("GET", "/health")[0] != 200:
        time.sleep(0.05)
    return api.json("GET", "/health")[0] == 200


def stop_worker(proc, log, expect_rc=0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    check(rc == expect_rc, "API exits %d, got %s" % (expect_rc, rc))
    text = "".join(log)
    check(not any(s in text for s in ("LeakSanitizer", "ERROR: AddressSanitizer",
                                       "ThreadSanitizer")), "no sanitizer report:\n" + text[-3000:])
    return text


def scenario_main():
    proc, port, log = start_worker()
    check(port is not None, "the API announces its port")
    if port:
        api = Api(port)
        for test in (test_readiness, test_runsync, test_concurrent_run, test_errors, test_cancel,
                     test_metrics, test_runpod_client):
            test(api)
    stop_worker(proc, log)


def scenario_hardening():
    key = "k-" + "x" * 30
    proc, port, log = start_worker({"WX_API_KEY": key, "WX_MAX_REQUEST_BYTES": "400000",
                                    "WX_MAX_QUEUED_JOBS": "2", "WX_MAX_KEPT_RESULTS": "3",
                                    "WX_RESULT_TTL_SECONDS": "4"},
                                   ("--rp_local_audio_dir", os.path.join(ROOT, "tests", "data")))
    if not port:
        check(False, "the API announces its port")
        return
    api = Api(port, key)
    anon = Api(port)
    check(wait_ready(api), "model ready")
    status, body = anon.json("GET", "/health")
    check(status == 200, "/health needs no key")
    for method, path in (("POST", "/run"), ("POST", "/runsync"), ("GET", "/status/x"),
                         ("POST", "/cancel/x"), ("GET", "/metrics"), ("POST", "/v2/ep/run")):
        status, body = anon.json(method, path, {"input": {"audio_file": data_uri(1.0)}})
        check(status == 401 and "Bearer" in body.get("error", "")
              and anon.last_headers.get("WWW-Authenticate") == "Bearer",
              "%s %s without a key: 401, got %s %r" % (method, path, status, body))
    status, _ = api.json("POST", "/run", {"input": {"audio_file": "x"}}, key="wrong-key")
    check(status == 401, "a wrong key: 401")
    status, body = api.json("POST", "/run", raw=b'{"input": {"audio_file": "' + b"A" * 500000 + b'"}}')
    check(status == 413 and "WX_MAX_REQUEST_BYTES" in body.get("error", ""), "body limit: 413 %r" % body)
    # Bad sources, each answered and the server still up (ftp:// used to crash it).
    cases = [("ftp://x/y", r"scheme ftp"), ("file:///etc/passwd", r"scheme file"),
             ("/etc/passwd", r"not a readable file under"),
             ("../../README.md", r"not a readable file under"),
             ("../fixtures/audio_seeds/jfk.wav", r"not a readable file under"),
             ("missing.wav", r"neither a readable file")]
    for audio_file, pattern in cases:
        status, body = api.json("POST", "/runsync", {"input": {"audio_file": audio_file}})
        check(body.get("status") == "FAILED" and re.search(pattern, str(body.get("error"))),
              "%s: FAILED matching %r, got %r" % (audio_file, pattern, body))
    status, body = api.json("POST", "/runsync", {"input": {"audio_file": "jfk.wav"}}, timeout=250)
    check(body.get("status") == "COMPLETED", "a file under the local directory: %r" % body)
    # Queue bound: one runs, two wait, the next is refused with Retry-After.
    ids = []
    for i in range(6):
        status, body = api.json("POST", "/run", {"input": {"audio_file": data_uri(2.0)}})
        if status == 200:
            ids.append(body["id"])
        else:
            check(status == 429 and api.last_headers.get("Retry-After") and
                  "WX_MAX_QUEUED_JOBS" in body.get("error", ""), "queue full: 429 %r" % body)
            break
    check(2 <= len(ids) <= 3 and status == 429, "queue bounded at 2 waiting (%d accepted)" % len(ids))
    for job_id in ids:
        check(wait_status(api, job_id, ("COMPLETED",), 120).get("status") == "COMPLETED",
              "accepted jobs complete")
    # Kept results: after the TTL, finished jobs are gone.
    time.sleep(4.5)
    status, _ = api.json("GET", "/status/" + ids[0])
    check(status == 404, "results expire after WX_RESULT_TTL_SECONDS: %s" % status)
    stop_worker(proc, log)


def scenario_crash():
    arm = os.path.join(ROOT, "build", ".wx-crash-arm-%d" % os.getpid())
    open(arm, "w").close()
    proc, port, log = start_worker({"WX_DEBUG_CRASH": "transcribe:segv", "WX_DEBUG_CRASH_ARM": arm})
    if not port:
        check(False, "the API announces its port")
        return
    api = Api(port)
    check(wait_ready(api), "model ready")
    ids = [api.json("POST", "/run", {"input": {"audio_file": data_uri(1.0)}})[1]["id"]
           for _ in range(3)]
    first = wait_status(api, ids[0], ("COMPLETED", "FAILED"), 120)
    check(first.get("status") == "FAILED" and re.search(
        r"the worker process crashed \(signal 11, Segmentation fault\) while running this job; "
        r"it has been restarted", str(first.get("error"))), "crashed job FAILED: %r" % first)
    for job_id in ids[1:]:
        body = wait_status(api, job_id, ("COMPLETED", "FAILED"), 120)
        check(body.get("status") == "COMPLETED", "queued jobs survive the crash: %r" % body)
    check(wait_ready(api), "/health ready again after the restart")
    stop_worker(proc, log)
    if os.path.exists(arm):
        os.unlink(arm)
    # A crash loop: every job crashes; the third crash ends the server with status 1.
    proc, port, log = start_worker({"WX_DEBUG_CRASH": "fetch"})
    api = Api(port)
    check(wait_ready(api), "model ready (crash loop)")
    for _ in range(3):
        api.json("POST", "/run", {"input": {"audio_file": data_uri(1.0)}})
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        pass
    check(proc.poll() == 1, "a crash loop exits 1, got %r" % proc.poll())
    text = stop_worker(proc, log, expect_rc=1)
    check("3 crashes within 60 s: giving up" in text, "the crash loop is logged")


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "main"
    start = time.time()
    globals()["scenario_" + name]()
    print("worker_api_test %s: %d failures, %.1f s" % (name, len(FAILURES), time.time() - start))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
