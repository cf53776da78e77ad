"""gen_whisperx_fixtures.py — reference transcripts from the real WhisperX (PyPI, pinned in
tools/requirements-vad.txt; run with .cache/venv-vad/bin/python from the project root).

For each recording of ../shared/data, runs whisperx.load_model on the local tiny.en model
(CPU, float32, VAD "pyannote" with its bundled segmentation model, beam 5, batch 8,
language "en") and model.transcribe(whisperx.load_audio(path)), and stores every segment's
start, end (WhisperX's rounding) and text in tests/fixtures/whisperx_transcripts.fix:
  "<name>.start", "<name>.end"  float32 (n_segments)
  "<name>.text.<i>"             text of segment i
  "<name>.n"                    int32 (1): number of segments
whisperx.load_audio runs the ffmpeg program (Debian 12's ffmpeg 5.1, the FFmpeg version the
worker links; tests/test_audio_ffmpeg.c proves the worker's samples bit-identical to it), so
the C test feeds both implementations the same samples on every recording.
Nothing is downloaded from a model hub: the model directory and the VAD checkpoint are local.

`--compute_type int8` runs the same with CTranslate2's int8 compute type (what WhisperX users
pick on a CPU) into tests/fixtures/whisperx_transcripts_int8.fix, the reference of the
worker's int8 weights (test_whisperx_parity int8).
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from fixture import write_fixture  # noqa: E402

import whisperx  # noqa: E402

RECORDINGS = ["jfk.wav", "jfk.mp3", "jfk.flac", "sample.wav", "dev00.wav", "tst00.wav",
              "empty.wav", "stereo_diarization.wav", "multilingual.mp3", "hotwords.mp3"]


def main():
    compute_type = "float32"
    if len(sys.argv) == 3 and sys.argv[1] == "--compute_type":
        compute_type = sys.argv[2]
    suffix = "" if compute_type == "float32" else "_" + compute_type
    data = os.environ.get("WX_DATA_DIR", "../shared/data")
    model = whisperx.load_model("models/tiny.en", "cpu", compute_type=compute_type,
                                language="en", vad_method="pyannote",
                                asr_options={"beam_size": 5})
    arrays = {}
    for name in RECORDINGS:
        audio = whisperx.load_audio(os.path.join(data, name))
        result = model.transcribe(audio, batch_size=8, language="en")
        segs = result["segments"]
        key = name.replace(".", "_")
        arrays[f"{key}.n"] = np.array([len(segs)], dtype=np.int32)
        arrays[f"{key}.start"] = np.array([s["start"] for s in segs], dtype=np.float32)
        arrays[f"{key}.end"] = np.array([s["end"] for s in segs], dtype=np.float32)
        for i, s in enumerate(segs):
            arrays[f"{key}.text.{i}"] = s["text"]
        print(name, [(s["start"], s["end"], s["text"][:40]) for s in segs])
    write_fixture(f"tests/fixtures/whisperx_transcripts{suffix}.fix", arrays)


if __name__ == "__main__":
    main()
