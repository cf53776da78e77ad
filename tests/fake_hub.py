#!/usr/bin/env python3
"""fake_hub.py — a stand-in Hugging Face hub on loopback for tests/test_hub.c and
tools/gen_hub_fixtures.py (Python standard library only).

    python3 tests/fake_hub.py ROOT CONFIG.json

serves the files under ROOT/{org}/{name}/ as model repos at
/{org}/{name}/resolve/{revision}/{path} on 127.0.0.1, on a free port that it prints on
stdout (one line) once it listens. CONFIG.json:

    {"valid_tokens": ["hf_..."],                  tokens the hub knows (others: 401)
     "repos": {"org/name": {
         "access": "public" | "gated",            gated: only "tokens" may read it
         "tokens": ["hf_..."],
         "lfs": ["path", ...],                    served as LFS: 302 to the CDN
         "mode": "normal" | "truncate" | "bad_sha256",
         "delay": seconds}}}                      wait before sending a body

Answers as huggingface.co does (huggingface_hub/utils/_http.py hf_raise_for_status reads
them): X-Repo-Commit, ETag (git blob sha1 of a regular file), X-Linked-Etag and
X-Linked-Size for LFS files (the sha256 and size of the blob) with a 302 to
http://localhost:{port}/_cdn/{sha256} (another origin: the client must not send its token
there); 401 X-Error-Code GatedRepo / RepoNotFound without a token, 401 "Invalid credentials in
Authorization header" for an unknown token, 403 GatedRepo for a known token without access,
404 RepoNotFound / RevisionNotFound / EntryNotFound. truncate: the body stops half way and the
connection closes; bad_sha256: X-Linked-Etag is the sha256 of other bytes.
GET /_stats gives "head=H get=G cdn=C cdn_auth=A" (requests so far; cdn_auth: CDN requests
that carried an Authorization header); GET /_reset sets them to zero.
"""
import hashlib
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hub:
    def __init__(self, root, config):
        self.root = root
        self.repos = config.get("repos", {})
        self.valid_tokens = set(config.get("valid_tokens", []))
        self.lock = threading.Lock()
        self.stats = {"head": 0, "get": 0, "cdn": 0, "cdn_auth": 0}
        self.cdn = {}  # sha256 -> (repo id, path)
        for repo_id in self.repos:
            for path in self.repos[repo_id].get("lfs", []):
                data = self.read(repo_id, path)
                if data is not None:
                    self.cdn[hashlib.sha256(data).hexdigest()] = (repo_id, path)

    def count(self, key):
        with self.lock:
            self.stats[key] += 1

    def read(self, repo_id, path):
        full = os.path.join(self.root, repo_id, path)
        if not os.path.isfile(full):
            return None
        with open(full, "rb") as f:
            return f.read()

    @staticmethod
    def commit(repo_id):
        return hashlib.sha1(("commit of " + repo_id).encode()).hexdigest()


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub = None  # set in main

    def log_message(self, fmt, *args):  # quiet
        pass

    def answer(self, status, headers=(), body=b"", send_body=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body and self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code=None, message=None, commit=None):
        headers = []
        if code:
            headers.append(("X-Error-Code", code))
        if message:
            headers.append(("X-Error-Message", message))
        if commit:
            headers.append(("X-Repo-Commit", commit))
        self.answer(status, headers, (message or code or "error").encode())

    def token(self):
        auth = self.headers.get("Authorization", "")
        return auth[len("Bearer "):] if auth.startswith("Bearer ") else None

    def send_file(self, status, headers, data, repo):
        """Headers with the whole size, then the body (or half of it, in truncate mode)."""
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        time.sleep(repo.get("delay", 0))
        if repo.get("mode") == "truncate":
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    def do_HEAD(self):
        self.route()

    def do_GET(self):
        self.route()

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/_stats":
            s = self.hub.stats
            text = "head=%d get=%d cdn=%d cdn_auth=%d" % (s["head"], s["get"], s["cdn"], s["cdn_auth"])
            return self.answer(200, [("Content-Type", "text/plain")], text.encode())
        if url.path == "/_reset":
            with self.hub.lock:
                for k in self.hub.stats:
                    self.hub.stats[k] = 0
            return self.answer(200, body=b"ok")
        if url.path.startswith("/_cdn/"):
            return self.serve_cdn(url.path[len("/_cdn/"):])
        parts = url.path.lstrip("/").split("/", 4)
        if len(parts) < 5 or parts[2] != "resolve":
            return self.error(404, message="not a resolve URL")
        self.hub.count("head" if self.command == "HEAD" else "get")
        repo_id = parts[0] + "/" + parts[1]
        revision = urllib.parse.unquote(parts[3])
        path = urllib.parse.unquote(parts[4])
        self.resolve(repo_id, revision, path)

    def resolve(self, repo_id, revision, path):
        token = self.token()
        if token is not None and token not in self.hub.valid_tokens:
            return self.error(401, message="Invalid credentials in Authorization header")
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            return self.error(401 if token is None else 404, "RepoNotFound", "Repository not found")
        if repo.get("access") == "gated":
            if token is None:
                return self.error(401, "GatedRepo", "Access to model %s is restricted." % repo_id)
            if token not in repo.get("tokens", []):
                return self.error(403, "GatedRepo", "Access to model %s is restricted and you are not in "
                                  "the authorized list." % repo_id)
        commit = self.hub.commit(repo_id)
        if revision not in ("main", commit):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + revision)
        data = self.hub.read(repo_id, path)
        if data is None:
            return self.error(404, "EntryNotFound", "Entry not found", commit)
        if path in repo.get("lfs", []):
            sha = hashlib.sha256(data).hexdigest()
            linked = hashlib.sha256(data + b"!").hexdigest() if repo.get("mode") == "bad_sha256" else sha
            port = self.server.server_address[1]
            return self.answer(302, [("X-Repo-Commit", commit), ("X-Linked-Etag", '"%s"' % linked),
                                     ("X-Linked-Size", str(len(data))), ("ETag", '"%s"' % git_blob_sha1(data)),
                                     ("Location", "http://localhost:%d/_cdn/%s" % (port, sha))])
        self.send_file(200, [("X-Repo-Commit", commit), ("ETag", '"%s"' % git_blob_sha1(data))], data, repo)

    def serve_cdn(self, sha):
        self.hub.count("cdn")
        if "Authorization" in self.headers:
            self.hub.count("cdn_auth")
        entry = self.hub.cdn.get(sha)
        if entry is None:
            return self.error(404, message="no such blob")
        repo_id, path = entry
        self.send_file(200, [("Content-Type", "application/octet-stream")], self.hub.read(repo_id, path),
                       self.hub.repos[repo_id])


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: fake_hub.py ROOT CONFIG.json")
    with open(sys.argv[2]) as f:
        config = json.load(f)
    Handler.hub = Hub(sys.argv[1], config)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
