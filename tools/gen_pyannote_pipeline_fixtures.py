#!/usr/bin/env python3
"""gen_pyannote_pipeline_fixtures.py — whole-pipeline references for tests/test_pyannote_pipeline.c:
pyannote.audio 4.0.7's own SpeakerDiarization, configured as speaker-diarization-community-1
and speaker-diarization-3.1 configure it (tests/data/pipelines/*.yaml, read here with pyannote's
own PyYAML path), run on sample.wav, dev00.wav, tst00.wav and sample.wav followed by 12 s of zeros (windows where
nobody speaks) with

  - segmentation-3.0's real weights, models/segmentation-3.0 (the float32 tensors of the ONNX
    export under pyannote's names, builder/convert_segmentation3.py): pyannote's parametric sinc
    convolution is replaced by a Conv1d holding the exported filterbank, the one tensor the
    export stores precomputed (our loader reads it as stored);
  - the random-weight WeSpeaker ResNet34 of tests/fixtures/wespeaker_random.bin (channel width
    8, tools/gen_wespeaker_fixtures.py);
  - for community-1, the random PLDA tests/fixtures/vbx_{xvec_transform,plda}.npz
    (tools/gen_vbx_fixtures.py).

Writes tests/fixtures/pyannote_pipeline.fix: per "<pipeline>/<recording>/turns" (text: one
"start end label" line per track of output.speaker_diarization, itertracks order, full
precision): what WhisperX's DiarizationPipeline turns into its diarize_df.

Audio: s16 / 32768 of the recordings, as src/io/audio.c decodes them (gen_wespeaker_fixtures'
load). Usage: .cache/venv-vad/bin/python tools/gen_pyannote_pipeline_fixtures.py
"""
import argparse
import os
import sys

import numpy as np
import torch
import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402
from gen_wespeaker_fixtures import load, wespeaker  # noqa: E402

from pyannote.audio.core.plda import PLDA  # noqa: E402
from pyannote.audio.core.task import Problem, Resolution, Specifications  # noqa: E402
from pyannote.audio.models.segmentation import PyanNet  # noqa: E402
from pyannote.audio.pipelines import SpeakerDiarization  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "tests", "fixtures")
RECORDINGS = ["sample.wav", "dev00.wav", "tst00.wav", "sample.wav+silence"]
SILENCE = 12 * 16000   # zeros after sample.wav: windows where nobody speaks
PIPELINES = {"community-1": "community-1.yaml", "3.1": "speaker-diarization-3.1.yaml"}


def segmentation3():
    state = load_file(os.path.join(ROOT, "models", "segmentation-3.0", "model.safetensors"))
    model = PyanNet(sincnet={"stride": 10},
                    lstm={"hidden_size": 128, "num_layers": 4, "bidirectional": True,
                          "monolithic": True, "dropout": 0.0},
                    linear={"hidden_size": 128, "num_layers": 2})
    model.specifications = Specifications(problem=Problem.MONO_LABEL_CLASSIFICATION,
                                          resolution=Resolution.FRAME, duration=10.0,
                                          classes=["speaker#1", "speaker#2", "speaker#3"],
                                          powerset_max_classes=2, permutation_invariant=True)
    model.build()
    filters = state.pop("sincnet.conv1d.0.weight")
    conv = torch.nn.Conv1d(1, filters.shape[0], filters.shape[2], stride=10, bias=False)
    with torch.no_grad():
        conv.weight.copy_(filters)
    model.sincnet.conv1d[0] = conv
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and missing == ["sincnet.conv1d.0.weight"], (missing, unexpected)
    return model.eval()


def embedding():
    ckpt = torch.load(os.path.join(FIX, "wespeaker_random.bin"), map_location="cpu",
                      weights_only=False)
    model = wespeaker(8, 0)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


def pipeline(config_name, seg, emb, plda):
    with open(os.path.join(ROOT, "tests", "data", "pipelines", config_name)) as f:
        cfg = yaml.safe_load(f)
    p = cfg["pipeline"]["params"]
    pipe = SpeakerDiarization(segmentation=seg, embedding=emb, plda=plda,
                              clustering=p["clustering"],
                              embedding_exclude_overlap=p["embedding_exclude_overlap"],
                              embedding_batch_size=p["embedding_batch_size"],
                              segmentation_batch_size=p["segmentation_batch_size"])
    return pipe.instantiate(cfg["params"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    seg, emb = segmentation3(), embedding()
    plda = PLDA(os.path.join(FIX, "vbx_xvec_transform.npz"), os.path.join(FIX, "vbx_plda.npz"))
    arrays = {}
    for name, config in PIPELINES.items():
        pipe = pipeline(config, seg, emb, plda)
        for rec in RECORDINGS:
            audio = load(os.path.join(args.data, rec.split("+")[0]))
            if rec.endswith("+silence"):
                audio = np.concatenate([audio, np.zeros(SILENCE, np.float32)])
            out = pipe({"waveform": torch.from_numpy(audio[None]), "sample_rate": 16000})
            lines = [f"{turn.start!r} {turn.end!r} {label}"
                     for turn, _, label in out.speaker_diarization.itertracks(yield_label=True)]
            key = f"{name}/{rec}"
            arrays[key + "/turns"] = "\n".join(lines)
            print(f"{key}: {len(lines)} turns, {len(out.speaker_diarization.labels())} "
                  f"speakers", file=sys.stderr)
    write_fixture(os.path.join(FIX, "pyannote_pipeline.fix"), arrays)


if __name__ == "__main__":
    main()
