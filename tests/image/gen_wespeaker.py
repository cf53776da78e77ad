#!/usr/bin/env python3
"""gen_wespeaker.py — a random-weight WeSpeaker ResNet34 (seed 0) saved as pyannote.audio
saves a model (state_dict, hyper_parameters, Model.on_save_checkpoint's "pyannote.audio"
entry), checked to load back with Model.from_pretrained: the stand-in for
pyannote/wespeaker-voxceleb-resnet34-LM in tests/image_test.sh (about 26 MB; not committed).

    /work/main/.cache/venv-vad/bin/python tests/image/gen_wespeaker.py OUT.bin
"""
import os
import sys

import lightning
import torch
from pyannote.audio import Model
from pyannote.audio.core.task import Problem, Resolution, Specifications
from pyannote.audio.models.embedding import WeSpeakerResNet34


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: gen_wespeaker.py OUT.bin")
    torch.manual_seed(0)
    model = WeSpeakerResNet34()
    model.specifications = Specifications(problem=Problem.REPRESENTATION,
                                          resolution=Resolution.CHUNK, duration=5.0, classes=None)
    ckpt = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": lightning.__version__}
    model.on_save_checkpoint(ckpt)
    tmp = sys.argv[1] + ".partial"
    torch.save(ckpt, tmp)
    loaded = Model.from_pretrained(tmp)
    assert loaded(torch.zeros(1, 1, 16000)).shape == (1, 256)
    os.replace(tmp, sys.argv[1])


if __name__ == "__main__":
    main()
