"""fake_runpod.py - a fake RunPod job API on 127.0.0.1 for the worker tests (standard library
only): scripted job-take answers, scripted job-done statuses, recorded requests, and a few
audio URLs (file, 404, slow, redirect, non-audio, empty, oversize)."""

import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietServer(ThreadingHTTPServer):
    """Clients that hang up early (size caps, time-outs, aborted polls) are expected here."""
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class FakeRunPod:
    """Holds the script and the record; serve() starts it on an ephemeral loopback port."""

    def __init__(self, audio_path):
        self.lock = threading.Lock()
        self.takes = []          # scripted answers: ("job", dict) | ("status", n) | ("raw", body)
        self.done_statuses = {}  # job id -> list of statuses to answer, in order
        self.requests = []       # (time, method, path, query dict, headers dict, body str)
        self.audio = open(audio_path, "rb").read()
        self.idle_wait = 0.2
        self.server = None

    # -- script --
    def add_job(self, job_id, job_input, done_statuses=None):
        with self.lock:
            self.takes.append(("job", {"id": job_id, "input": job_input}))
            if done_statuses:
                self.done_statuses[job_id] = list(done_statuses)

    def add_take(self, kind, value):
        with self.lock:
            self.takes.append((kind, value))

    def pending_takes(self):
        with self.lock:
            return len(self.takes)

    # -- record --
    def record(self, kind=None):
        with self.lock:
            return [r for r in self.requests if kind is None or r["kind"] == kind]

    def done_posts(self, job_id):
        return [r for r in self.record("done") if r["job_id"] == job_id]

    def results(self, job_id):
        """Final (non-progress) bodies posted for a job, parsed."""
        out = []
        for r in self.done_posts(job_id):
            body = json.loads(r["body"])
            if body.get("status") != "IN_PROGRESS":
                out.append((r, body))
        return out

    def wait_result(self, job_id, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [b for r, b in self.results(job_id) if r["answered"] < 300]
            if got:
                return got[-1]
            time.sleep(0.05)
        return None

    # -- server --
    def serve(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", ctype="application/json", extra=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if body:
                    try:
                        self.wfile.write(body)
                    except (BrokenPipeError, ConnectionResetError):
                        pass

            def _record(self, kind, job_id, body, answered):
                url = urllib.parse.urlsplit(self.path)
                with fake.lock:
                    fake.requests.append({
                        "time": time.time(), "method": self.command, "path": url.path,
                        "query": dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True)),
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body, "kind": kind, "job_id": job_id, "answered": answered})

            def do_GET(self):
                path = urllib.parse.urlsplit(self.path).path
                if "/job-take/" in path:
                    return self._take()
                if "/ping/" in path:
                    self._record("ping", None, "", 200)
                    return self._send(200)
                if path.startswith("/audio/"):
                    return self._audio(path[len("/audio/"):])
                self._send(404)

            def _take(self):
                with fake.lock:
                    item = fake.takes.pop(0) if fake.takes else None
                if item is None:
                    time.sleep(fake.idle_wait)
                    self._record("take", None, "", 204)
                    return self._send(204)
                kind, value = item
                if kind == "job":
                    self._record("take", value["id"], "", 200)
                    return self._send(200, json.dumps(value).encode())
                if kind == "status":
                    self._record("take", None, "", value)
                    return self._send(value)
                self._record("take", None, "", 200)
                return self._send(200, value.encode())

            def _audio(self, name):
                if name == "jfk.wav":
                    return self._send(200, fake.audio, "audio/wav")
                if name == "redirect":
                    return self._send(302, extra={"Location": "/audio/jfk.wav"})
                if name == "loop":
                    return self._send(302, extra={"Location": "/audio/loop"})
                if name == "slow":
                    time.sleep(5)
                    return self._send(200, fake.audio, "audio/wav")
                if name == "text":
                    return self._send(200, b"this is not audio at all\n" * 40, "text/plain")
                if name == "empty":
                    return self._send(200, b"", "audio/wav")
                if name == "big":
                    return self._send(200, b"\0" * (4 << 20), "audio/wav")
                return self._send(404, b"not found", "text/plain")

            def do_POST(self):
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8")
                if "/job-done/" in url.path:
                    job_id = url.path.rstrip("/").split("/")[-1]
                    status = 200
                    with fake.lock:
                        script = fake.done_statuses.get(job_id)
                        is_final = '"IN_PROGRESS"' not in body
                        if script and is_final:
                            status = script.pop(0)
                    self._record("done", job_id, body, status)
                    return self._send(status)
                self._send(404)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server.server_address[1]

    def close(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
