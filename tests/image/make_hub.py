#!/usr/bin/env python3
"""make_hub.py — lays out the repos the stand-in hub (tests/fake_hub.py) serves to the image
test, from small real-format models of this repository (Python standard library only):

    python3 tests/image/make_hub.py ROOT CONFIG.json TOKEN [--wespeaker CKPT]

  Systran/faster-whisper-tiny.en         models/tiny.en (CTranslate2 Whisper) + a model card
  torchaudio/models                      tests/fixtures/wav2vec2_ta_base.pth, served as
                                         torchaudio's WAV2VEC2_ASR_BASE_960H file (the test
                                         points TORCHAUDIO_MODELS_URL at this repo)
  jonatasgrosman/wav2vec2-large-xlsr-53-dutch   tests/fixtures/wav2vec2_hf_base (tiny random)
  pyannote/wespeaker-voxceleb-resnet34-LM       CKPT (tests/fixtures/wespeaker_random.bin: a
                                         random WeSpeaker ResNet34 in pyannote's format)
  pyannote/speaker-diarization-community-1      gated (TOKEN only): config.yaml, segmentation
                                         (tests/fixtures/pyannet_powerset_ckpt), embedding
                                         (CKPT), PLDA arrays of the published shapes (zeros)
Without --wespeaker the two pyannote repos are not served (the test bakes DIARIZATION=open).
Large files are served as LFS (302 to the stand-in CDN with X-Linked-Etag), as the hub does.
"""
import argparse
import io
import json
import os
import shutil
import struct
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")

COMMUNITY1_CONFIG = """\
dependencies:
  pyannote.audio: 4.0.0
pipeline:
  name: pyannote.audio.pipelines.SpeakerDiarization
  params:
    clustering: VBxClustering
    segmentation: $model/segmentation
    segmentation_batch_size: 32
    embedding: $model/embedding
    embedding_batch_size: 32
    embedding_exclude_overlap: true
    plda: $model/plda
params:
  clustering:
    threshold: 0.6
    Fa: 0.07
    Fb: 0.8
  segmentation:
    min_duration_off: 0.0
"""


def card(licence):
    return "---\nlicense: %s\n---\n# stand-in model card for the image test\n" % licence


def npy_zeros(shape):
    """A float32 .npy file of zeros (NumPy format 1.0)."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(
        "%d," % n for n in shape)
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    count = 1
    for n in shape:
        count *= n
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(4 * count)


def npz(arrays):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, shape in arrays.items():
            z.writestr(name + ".npy", npy_zeros(shape))
    return buf.getvalue()


class Layout:
    def __init__(self, root):
        self.root = root
        self.repos = {}

    def put(self, repo, path, data=None, copy_from=None, lfs=False, gated_token=None):
        target = os.path.join(self.root, repo, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if copy_from:
            shutil.copyfile(copy_from, target)
        else:
            with open(target, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
        entry = self.repos.setdefault(repo, {"access": "public", "lfs": []})
        if gated_token:
            entry.update(access="gated", tokens=[gated_token])
        if lfs:
            entry["lfs"].append(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("config")
    ap.add_argument("token")
    ap.add_argument("--wespeaker")
    a = ap.parse_args()
    hub = Layout(a.root)

    tiny = os.path.join(ROOT, "models", "tiny.en")
    repo = "Systran/faster-whisper-tiny.en"
    for name in sorted(os.listdir(tiny)):
        hub.put(repo, name, copy_from=os.path.join(tiny, name), lfs=name == "model.bin")
    hub.put(repo, "README.md", card("mit"))

    hub.put("torchaudio/models", "wav2vec2_fairseq_base_ls960_asr_ls960.pth",
            copy_from=os.path.join(FIXTURES, "wav2vec2_ta_base.pth"), lfs=True)
    repo = "jonatasgrosman/wav2vec2-large-xlsr-53-dutch"
    w2v = os.path.join(FIXTURES, "wav2vec2_hf_base")
    for name in sorted(os.listdir(w2v)):
        hub.put(repo, name, copy_from=os.path.join(w2v, name), lfs=name.endswith(".safetensors"))
    hub.put(repo, "README.md", card("apache-2.0"))

    if a.wespeaker:
        repo = "pyannote/wespeaker-voxceleb-resnet34-LM"
        hub.put(repo, "pytorch_model.bin", copy_from=a.wespeaker, lfs=True)
        hub.put(repo, "README.md", card("cc-by-4.0"))
        repo = "pyannote/speaker-diarization-community-1"
        hub.put(repo, "config.yaml", COMMUNITY1_CONFIG, gated_token=a.token)
        hub.put(repo, "README.md", card("cc-by-4.0"))
        hub.put(repo, "segmentation/pytorch_model.bin", lfs=True,
                copy_from=os.path.join(FIXTURES, "pyannet_powerset_ckpt", "pytorch_model.bin"))
        hub.put(repo, "embedding/pytorch_model.bin", copy_from=a.wespeaker, lfs=True)
        hub.put(repo, "plda/plda.npz", npz({"mu": (128,), "tr": (128, 128), "psi": (128,)}), lfs=True)
        hub.put(repo, "plda/xvec_transform.npz",
                npz({"mean1": (256,), "mean2": (128,), "lda": (256, 128)}), lfs=True)

    with open(a.config, "w") as f:
        json.dump({"valid_tokens": [a.token], "repos": hub.repos}, f, indent=1)


if __name__ == "__main__":
    main()
