#!/usr/bin/env python3
"""gen_pyannet_ckpt_fixtures.py — a checkpoint in pyannote.audio's own format for the PyanNet
loader's pytorch_model.bin path (src/models/pyannet.c), with pyannote's outputs:

  tests/fixtures/pyannet_powerset_ckpt/pytorch_model.bin   a small random-weight PyanNet with
      segmentation-3.0's task (powerset of 3 speakers in sets of at most 2: 7 log-softmax
      classes, 10 s windows) and LSTM 2x16, linear 2x16, saved as pyannote saves a model
      (state_dict, hyper_parameters and Model.on_save_checkpoint's "pyannote.audio" entry), and
      checked to load back with pyannote.audio's Model.from_pretrained.
  tests/fixtures/pyannet_powerset.fix   "windows" (2, 4000): 0.25 s of jfk.wav and seeded noise;
      "scores" (2, F, 7): Model.from_pretrained(...)(windows), the log-softmax outputs.

Usage: .cache/venv-vad/bin/python tools/gen_pyannet_ckpt_fixtures.py [--data ../shared/data]
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402
from gen_vad_fixtures import random_pyannet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = 4000


def random_powerset_pyannet():
    from pyannote.audio.core.task import Problem, Resolution, Specifications

    spec = Specifications(problem=Problem.MONO_LABEL_CLASSIFICATION, resolution=Resolution.FRAME,
                          duration=10.0, classes=["speaker#1", "speaker#2", "speaker#3"],
                          powerset_max_classes=2, permutation_invariant=True)
    return random_pyannet(spec, seed=4321)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    import whisperx
    from pyannote.audio import Model

    model = random_powerset_pyannet()
    import lightning
    ckpt = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(ckpt)
    out_dir = os.path.join(args.out, "pyannet_powerset_ckpt")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "pytorch_model.bin")
    torch.save(ckpt, path)
    loaded = Model.from_pretrained(path).eval()
    assert loaded.specifications.powerset and len(loaded.specifications.classes) == 3
    speech = whisperx.load_audio(os.path.join(args.data, "jfk.wav"))[16000:16000 + SAMPLES]
    noise = np.random.default_rng(6).standard_normal(SAMPLES).astype(np.float32) * 0.1
    windows = np.stack([speech, noise]).astype(np.float32)
    with torch.no_grad():
        scores = loaded(torch.from_numpy(windows[:, None, :])).numpy()
        assert np.array_equal(scores, model(torch.from_numpy(windows[:, None, :])).numpy())
    write_fixture(os.path.join(args.out, "pyannet_powerset.fix"),
                  {"windows": windows, "scores": scores.astype(np.float32)})
    print(f"powerset PyanNet: scores {scores.shape}, {os.path.getsize(path)} bytes",
          file=sys.stderr)


if __name__ == "__main__":
    main()
