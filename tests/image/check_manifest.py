#!/usr/bin/env python3
"""check_manifest.py — checks a baked /models tree against its manifest.json (Python standard
library only; tests/image_test.sh runs it on the image's mounted root or on a directly baked
tree): version 1, the listed kinds, every file present with its bytes and sha256, no file
the manifest does not list, the default Whisper model linked, the expected models baked and
the expected ones left out, and (with --secret-file) the token nowhere in the manifest.

    check_manifest.py MODELS_DIR [--model NAME ...] [--left-out NAME ...] [--secret-file F]
"""
import argparse
import hashlib
import json
import os
import sys

KINDS = {"whisper", "align", "vad", "segmentation", "embedding", "diarization"}
KEYS = ["name", "kind", "path", "source", "revision", "licence", "files"]


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def problems(models_dir, args):
    with open(os.path.join(models_dir, "manifest.json"), "rb") as f:
        raw = f.read()
    if args.secret_file:
        with open(args.secret_file, "rb") as f:
            if f.read().strip() in raw:
                yield "the hf_token secret is in manifest.json"
    m = json.loads(raw)
    if m.get("version") != 1:
        yield "version is %r" % m.get("version")
    listed = set()
    for model in m["models"]:
        if sorted(model) != sorted(KEYS):
            yield "%s has keys %s" % (model.get("name"), sorted(model))
        if model["kind"] not in KINDS:
            yield "%s has kind %r" % (model["name"], model["kind"])
        for f in model["files"]:
            p = f["path"]
            full = os.path.join(models_dir, p)
            if p.startswith("/") or ".." in p.split("/") or not p.startswith(model["path"]):
                yield "%s lists %s outside its path %s" % (model["name"], p, model["path"])
            elif not os.path.isfile(full):
                yield "%s is missing" % p
            elif os.path.getsize(full) != f["bytes"] or sha256_of(full) != f["sha256"]:
                yield "%s differs from its manifest entry" % p
            listed.add(p)
    for dirpath, _, names in os.walk(models_dir):
        for n in names:
            rel = os.path.relpath(os.path.join(dirpath, n), models_dir)
            if rel != "manifest.json" and rel not in listed:
                yield "%s is not in the manifest" % rel
    names = {model["name"] for model in m["models"]}
    whisper = {model["name"] for model in m["models"] if model["kind"] == "whisper"}
    if m.get("default") not in whisper:
        yield "the default %r is not a baked Whisper model" % m.get("default")
    elif os.path.realpath(os.path.join(models_dir, "default")) != \
            os.path.realpath(os.path.join(models_dir, m["default"])):
        yield "models/default does not point at %s" % m["default"]
    for n in args.model:
        if n not in names:
            yield "%s is not baked" % n
    left = {o["name"] for o in m["left_out"]}
    if left != set(args.left_out):
        yield "left out: %s, expected %s" % (sorted(left), sorted(args.left_out))
    for o in m["left_out"]:
        if not o.get("why"):
            yield "%s is left out without a reason" % o["name"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models_dir")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--left-out", action="append", default=[])
    ap.add_argument("--secret-file")
    args = ap.parse_args()
    found = list(problems(args.models_dir, args))
    for p in found:
        print("manifest: " + p, file=sys.stderr)
    if found:
        sys.exit(1)
    with open(os.path.join(args.models_dir, "manifest.json")) as f:
        m = json.load(f)
    print("manifest ok: %d models (%s), %d left out" % (
        len(m["models"]), ", ".join(x["name"] for x in m["models"]), len(m["left_out"])))


if __name__ == "__main__":
    main()
