"""worker_hub_test.py - pyannote's gated pipelines fetched by the real whisperx-worker binary
(WX_WORKER_BIN) from a stand-in hub on loopback (tests/fake_hub.py): a gated
speaker-diarization-community-1 repo (config.yaml, a powerset segmentation checkpoint, the
random WeSpeaker ResNet34, a PLDA; all real formats from tests/fixtures) and the ungated
pyannote/wespeaker-voxceleb-resnet34-LM. Checks: with the token the job diarizes with
community-1 and a second worker finds it in the cache without a download; the token never
appears in the output or the log; no token, an unknown token (401) and a token without access
(403) fail a job that names the pipeline, with the cause; "auto" without a token falls back
to the open set with a warning and asks the hub nothing; 3.1 is fetched without a token
(its WeSpeaker model is not gated, segmentation-3.0 is the local copy); a pipeline
directory given by WX_DIARIZATION_DIR is used offline, without a token. Standard library
only."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from worker_test_util import FAILURES, ROOT, check  # noqa: E402

TOKEN, OTHER = "hf_wx_test_token_0123456789", "hf_wx_other_account_token"
COMMUNITY1 = "pyannote/speaker-diarization-community-1"
PYANNOTE31 = "pyannote/speaker-diarization-3.1"
FIX = os.path.join(ROOT, "tests", "fixtures")


def serve_repos(root):
    """The two repos under root, as fake_hub.py serves them."""
    c1 = os.path.join(root, COMMUNITY1)
    for sub in ("segmentation", "embedding", "plda"):
        os.makedirs(os.path.join(c1, sub))
    shutil.copy(os.path.join(ROOT, "tests", "data", "pipelines", "community-1.yaml"),
                os.path.join(c1, "config.yaml"))
    shutil.copy(os.path.join(FIX, "pyannet_powerset_ckpt", "pytorch_model.bin"),
                os.path.join(c1, "segmentation", "pytorch_model.bin"))
    shutil.copy(os.path.join(FIX, "wespeaker_random.bin"),
                os.path.join(c1, "embedding", "pytorch_model.bin"))
    shutil.copy(os.path.join(FIX, "vbx_xvec_transform.npz"), os.path.join(c1, "plda", "xvec_transform.npz"))
    shutil.copy(os.path.join(FIX, "vbx_plda.npz"), os.path.join(c1, "plda", "plda.npz"))
    emb = os.path.join(root, "pyannote", "wespeaker-voxceleb-resnet34-LM")
    os.makedirs(emb)
    shutil.copy(os.path.join(FIX, "wespeaker_random.bin"), os.path.join(emb, "pytorch_model.bin"))
    lfs = ["segmentation/pytorch_model.bin", "embedding/pytorch_model.bin",
           "plda/xvec_transform.npz", "plda/plda.npz"]
    return {"valid_tokens": [TOKEN, OTHER],
            "repos": {COMMUNITY1: {"access": "gated", "tokens": [TOKEN], "lfs": lfs},
                      "pyannote/wespeaker-voxceleb-resnet34-LM": {"access": "public",
                                                                  "lfs": ["pytorch_model.bin"]}}}


def start_hub(root, config):
    path = os.path.join(root, "hub.json")
    with open(path, "w") as f:
        json.dump(config, f)
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "fake_hub.py"), root, path],
                            stdout=subprocess.PIPE, text=True)
    port = int(proc.stdout.readline())
    return proc, "http://127.0.0.1:%d" % port


def stats(endpoint):
    with urllib.request.urlopen(endpoint + "/_stats", timeout=10) as r:
        return dict(kv.split("=") for kv in r.read().decode().split())


def run(endpoint, cache, keys, token=None, extra_env=None):
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_HUB_CACHE=cache, HF_HOME=cache)
    for name in ("HF_TOKEN", "HUGGINGFACE_ACCESS_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE",
                 "WX_DIARIZATION_DIR"):
        env.pop(name, None)
    if token:
        env["HF_TOKEN"] = token
    env.update(extra_env or {})
    model = os.path.abspath(os.environ.get("WX_MODEL_DIR", os.path.join(ROOT, "models", "tiny.en")))
    keys = dict(keys, audio_file="jfk.wav", diarization=True, debug=True)
    proc = subprocess.run([os.environ["WX_WORKER_BIN"], "--model_dir", model, "--rp_local_audio_dir",
                           os.path.join(ROOT, "tests", "data"), "--test_input",
                           json.dumps({"input": keys})], env=env, capture_output=True, text=True,
                          timeout=240)
    for secret in (TOKEN, OTHER):
        check(secret not in proc.stdout and secret not in proc.stderr,
              "the token never appears in the output or the log")
    try:
        body = json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        body = {}
    return proc.returncode, body, proc.stderr


def main():
    if not os.path.exists(os.path.join(FIX, "wespeaker_random.bin")):
        print("worker_hub_test: no fixtures")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        repos, cache = os.path.join(tmp, "repos"), os.path.join(tmp, "cache")
        os.makedirs(repos)
        hub, endpoint = start_hub(repos, serve_repos(repos))
        try:
            # auto without a token: nothing is asked of the hub, the open set diarizes
            rc, body, log = run(endpoint, cache, {})
            out = body.get("output", {})
            check(rc == 0 and out.get("debug_info", {}).get("diarization_model") == "open",
                  "auto without a token: the open set: %r\n%s" % (body, log[-600:]))
            check(any("no Hugging Face token" in w for w in out.get("warnings", [])),
                  "auto without a token says why: %r" % out.get("warnings"))
            check(stats(endpoint)["head"] == "0", "auto without a token asks the hub nothing")
            # a pipeline directory given by path: used without the network, no token needed
            local = {"WX_DIARIZATION_DIR": os.path.join(repos, COMMUNITY1), "HF_HUB_OFFLINE": "1"}
            rc, body, log = run(endpoint, os.path.join(tmp, "empty-cache"),
                                {"diarization_model": COMMUNITY1}, extra_env=local)
            info = body.get("output", {}).get("debug_info", {})
            check(rc == 0 and info.get("diarization_model") == COMMUNITY1
                  and os.path.join(repos, COMMUNITY1) in info.get("diarization_note", ""),
                  "WX_DIARIZATION_DIR: community-1 from the directory: %r\n%s" % (info, log[-600:]))
            check(stats(endpoint)["head"] == "0", "WX_DIARIZATION_DIR asks the hub nothing")
            # named pipeline, no token / unknown token / no access: the job fails with the cause
            for token, cause in ((None, "401"), ("hf_unknown_token_xyz", "401"), (OTHER, "403")):
                rc, body, _ = run(endpoint, cache, {"diarization_model": COMMUNITY1}, token)
                err = body.get("error", "")
                check(rc == 1 and COMMUNITY1 in err and cause in err,
                      "community-1 with token %s: an error with %s: %r" % (bool(token), cause, body))
            check("hf_unknown_token_xyz" not in json.dumps(body), "no token in errors")
            # with the token: fetched, diarized by community-1
            rc, body, log = run(endpoint, cache, {"diarization_model": COMMUNITY1}, TOKEN)
            info = body.get("output", {}).get("debug_info", {})
            check(rc == 0 and info.get("diarization_model") == COMMUNITY1,
                  "community-1 with the token: %r\n%s" % (body, log[-800:]))
            check(isinstance(body.get("output", {}).get("diarization"), list), "turns listed")
            gets = stats(endpoint)["get"]
            # a second worker: from the cache, no download, even for auto with the token
            rc, body, _ = run(endpoint, cache, {}, TOKEN)
            info = body.get("output", {}).get("debug_info", {})
            check(rc == 0 and info.get("diarization_model") == COMMUNITY1,
                  "auto with the token and the cache: community-1: %r" % info)
            check(stats(endpoint)["get"] == gets, "the cached pipeline is not downloaded again")
            # 3.1: its WeSpeaker model is ungated, segmentation-3.0 the local copy
            rc, body, log = run(endpoint, cache, {"diarization_model": PYANNOTE31})
            info = body.get("output", {}).get("debug_info", {})
            check(rc == 0 and info.get("diarization_model") == PYANNOTE31,
                  "3.1 without a token: %r\n%s" % (body, log[-800:]))
            check(not body.get("output", {}).get("warnings"), "3.1: no warning")
        finally:
            hub.terminate()
            hub.wait(timeout=10)
    if FAILURES:
        print("worker_hub_test: %d failures" % len(FAILURES))
        return 1
    print("worker_hub_test: passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
