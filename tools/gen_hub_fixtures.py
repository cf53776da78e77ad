"""gen_hub_fixtures.py — the hub cache layout huggingface_hub writes, as a fixture for
tests/test_hub.c, which checks that our client writes the very same tree.

Serves the repo "public/model" (the same three files tests/test_hub.c serves: a regular file,
an LFS file, a regular file in a folder) with tests/fake_hub.py, downloads each file with
huggingface_hub.hf_hub_download (HF_ENDPOINT pointed at the fake hub) into a fresh cache, and
writes the listing of cache/models--public--model (sorted lines: "blobs/{etag} {size}",
"refs/main {commit}", "snapshots/{commit}/{path} -> {link target}") into
tests/fixtures/hub_layout.fix as the text entry "layout".

Run in the reference venv (huggingface_hub 0.36.2):
    /work/main/.cache/venv-vad/bin/python tools/gen_hub_fixtures.py
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from fixture import write_fixture  # noqa: E402

REPO = "public/model"


def repo_files():
    """Must match layout_repo_files() in tests/test_hub.c."""
    return {
        "config.yaml": b"pipeline: public\n",
        "weights.bin": bytes((i * 7 + 3) & 0xFF for i in range(10000)),
        "sub/readme.txt": b"nested file\n",
    }


def listing(storage):
    lines = []
    for dirpath, dirnames, filenames in os.walk(storage):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, storage)
            if os.path.islink(full):
                lines.append("%s -> %s" % (rel, os.readlink(full)))
            elif os.path.isfile(full):
                if rel.startswith("refs/"):
                    with open(full) as f:
                        lines.append("%s %s" % (rel, f.read()))
                else:
                    lines.append("%s %d" % (rel, os.path.getsize(full)))
    return "\n".join(sorted(lines)) + "\n"


def main():
    with tempfile.TemporaryDirectory() as tmp:
        served = os.path.join(tmp, "served")
        for path, data in repo_files().items():
            full = os.path.join(served, REPO, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(data)
        config = os.path.join(tmp, "hub.json")
        with open(config, "w") as f:
            json.dump({"repos": {REPO: {"access": "public", "lfs": ["weights.bin"]}}}, f)
        server = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "fake_hub.py"), served, config],
                                  stdout=subprocess.PIPE, text=True)
        try:
            port = int(server.stdout.readline())
            os.environ["HF_ENDPOINT"] = "http://127.0.0.1:%d" % port
            os.environ["HF_HUB_DISABLE_XET"] = "1"
            from huggingface_hub import hf_hub_download

            cache = os.path.join(tmp, "cache")
            for path in repo_files():
                got = hf_hub_download(REPO, path, cache_dir=cache, token=False)
                with open(got, "rb") as f:
                    assert f.read() == repo_files()[path], path
            text = listing(os.path.join(cache, "models--public--model"))
        finally:
            server.terminate()
            server.wait()
    out = os.path.join(ROOT, "tests", "fixtures", "hub_layout.fix")
    write_fixture(out, {"layout": text})
    print(text, end="")
    print("wrote", out)


if __name__ == "__main__":
    main()
