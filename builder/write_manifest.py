#!/usr/bin/env python3
"""write_manifest.py — writes MODELS_DIR/manifest.json from the records the bake steps left
(builder/bake_hub.py, builder/fetch_models.sh), with every file's size and sha256 (Python
standard library only; Dockerfile.base's builder stage).

    python3 builder/write_manifest.py MODELS_DIR RECORDS.jsonl DEFAULT_WHISPER

manifest.json:
    {"version": 1, "default": "<whisper name>",
     "models": [{"name", "kind", "path", "source", "revision", "licence",
                 "files": [{"path", "bytes", "sha256"}]}],      paths relative to MODELS_DIR
     "left_out": [{"name", "why"}]}
kind: whisper | align | vad | segmentation | embedding | diarization. A record whose path is
missing or empty is an error; so is a file under MODELS_DIR that no model owns.
"""
import hashlib
import json
import os
import sys

KINDS = ("whisper", "align", "vad", "segmentation", "embedding", "diarization")


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def files_of(models, rel):
    """[{"path", "bytes", "sha256"}] of a model file or directory, sorted by path."""
    full = os.path.join(models, rel)
    if os.path.isfile(full):
        paths = [rel]
    else:
        paths = []
        for dirpath, _, filenames in os.walk(full):
            for name in filenames:
                paths.append(os.path.relpath(os.path.join(dirpath, name), models))
    if not paths:
        raise SystemExit("write_manifest: %s holds no file" % full)
    return [{"path": p, "bytes": os.path.getsize(os.path.join(models, p)),
             "sha256": sha256_of(os.path.join(models, p))} for p in sorted(paths)]


def read_records(path):
    models, left_out = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            if "left_out" in r:
                left_out.append({"name": r["left_out"], "why": r["why"]})
                continue
            if r.get("kind") not in KINDS:
                raise SystemExit("write_manifest: %s has kind %r" % (r.get("name"), r.get("kind")))
            models.append({k: r[k] for k in ("name", "kind", "path", "source", "revision", "licence")})
    return models, left_out


def unowned_files(models_dir, models):
    owned = {f["path"] for m in models for f in m["files"]}
    stray = []
    for dirpath, _, filenames in os.walk(models_dir):
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), models_dir)
            if rel != "manifest.json" and rel not in owned:
                stray.append(rel)
    return stray


def main():
    if len(sys.argv) != 4:
        raise SystemExit("usage: write_manifest.py MODELS_DIR RECORDS.jsonl DEFAULT_WHISPER")
    models_dir, records, default = sys.argv[1:]
    models, left_out = read_records(records)
    for m in models:
        m["files"] = files_of(models_dir, m["path"])
    if not any(m["kind"] == "whisper" and m["name"] == default for m in models):
        raise SystemExit("write_manifest: the default Whisper model %r was not baked" % default)
    stray = unowned_files(models_dir, models)
    if stray:
        raise SystemExit("write_manifest: files no model owns: %s" % ", ".join(sorted(stray)))
    manifest = {"version": 1, "default": default, "models": models, "left_out": left_out}
    tmp = os.path.join(models_dir, "manifest.json.partial")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    os.replace(tmp, os.path.join(models_dir, "manifest.json"))
    total = sum(f["bytes"] for m in models for f in m["files"])
    for m in models:
        print("baked %-12s %s (%s, %d files)" % (m["kind"], m["name"], m["source"], len(m["files"])),
              file=sys.stderr)
    for o in left_out:
        print("LEFT OUT %s: %s" % (o["name"], o["why"]), file=sys.stderr)
    print("manifest: %d models, %d bytes, %d left out" % (len(models), total, len(left_out)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
