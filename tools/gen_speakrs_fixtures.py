"""gen_speakrs_fixtures.py — copies the real-model test vectors that speakrs publishes
(github.com/avencera/speakrs, Apache-2.0, fixtures/ at commit 2019345) into
tests/fixtures/speakrs/ for tests/test_speakrs_vectors.c. They are intermediates of pyannote's
speaker-diarization-community-1 (real segmentation-3.0, WeSpeaker ResNet34 and PLDA, VBx) on
speakrs' own TTS recordings, written by speakrs' fixtures/generate.py. Deterministic; run in
the reference venv with the speakrs mirror (a bare git directory) given:

    /work/main/.cache/venv-vad/bin/python tools/gen_speakrs_fixtures.py \
        /work/.mirror/avencera+speakrs/repo

The .npy and .rttm files are copied byte for byte (only those the test reads); the four WAV
recordings are re-encoded to FLAC (ffmpeg, bitexact, lossless: checked here to decode to the
same s16 samples), 1.4 MB instead of 2.5 MB. Also checked here, so that the test may state
them as constants: every sliding window JSON (chunks 10 s every 1 s, frames 61.9375 ms every
16.875 ms, both from 0) and the pipeline parameters (threshold 0.6, Fa 0.07, Fb 0.8,
min_duration_off 0). """
import json
import pathlib
import subprocess
import sys

import numpy as np

COMMIT = "201934595b06220cb3ee9640734cd7f06e450a69"
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speakrs"

RECORDINGS = {  # prefix -> speakrs WAV
    "pipeline": "test.wav",
    "3speakers": "test_3speakers.wav",
    "single_speaker": "test_single_speaker.wav",
    "short": "test_short.wav",
}
PER_RECORDING = ["segmentation_data.npy", "speaker_counting_data.npy",
                 "discrete_diarization_data.npy"]
# embeddings and RTTMs where the test can reach the clustering (3speakers: VBx needs the PLDA)
EXTRA = ["pipeline_embeddings_data.npy", "single_speaker_embeddings_data.npy",
         "short_embeddings_data.npy", "pipeline_expected.rttm", "single_speaker_expected.rttm",
         "short_expected.rttm", "pipeline_train_chunk_idx.npy", "pipeline_train_speaker_idx.npy",
         "pipeline_train_embeddings.npy", "pipeline_ahc_clusters.npy",
         "pipeline_plda_features.npy", "pipeline_plda_phi.npy", "pipeline_vbx_gamma.npy",
         "pipeline_vbx_pi.npy", "pipeline_hard_clusters.npy"]
CHUNKS = {"start": 0.0, "duration": 10.0, "step": 1.0}
FRAMES = {"start": 0.0, "duration": 0.0619375, "step": 0.016875}


def show(repo: str, path: str) -> bytes:
    return subprocess.run(["git", "-C", repo, "show", f"{COMMIT}:fixtures/{path}"],
                          check=True, capture_output=True).stdout


def pcm(data: bytes) -> bytes:
    return subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", "pipe:0",
                           "-f", "s16le", "-ac", "1", "-ar", "16000", "pipe:1"],
                          input=data, check=True, capture_output=True).stdout


def to_flac(wav: bytes) -> bytes:
    return subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", "pipe:0",
                           "-map_metadata", "-1", "-fflags", "+bitexact", "-flags", "+bitexact",
                           "-c:a", "flac", "-compression_level", "12", "-f", "flac", "pipe:1"],
                          input=wav, check=True, capture_output=True).stdout


def check_metadata(repo: str) -> None:
    for prefix in RECORDINGS:
        seg = json.loads(show(repo, f"{prefix}_segmentation_window.json"))
        assert seg == CHUNKS, (prefix, seg)
        for step in ("speaker_counting", "discrete_diarization"):
            w = json.loads(show(repo, f"{prefix}_{step}_window.json"))
            assert w == FRAMES, (prefix, step, w)
    params = json.loads(show(repo, "pipeline_params.json"))
    assert params == {"segmentation": "{'min_duration_off': 0.0}",
                      "clustering": "{'threshold': 0.6, 'Fa': 0.07, 'Fb': 0.8}"}, params


def main() -> None:
    repo = sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/avencera+speakrs/repo"
    OUT.mkdir(parents=True, exist_ok=True)
    check_metadata(repo)
    names = [f"{p}_{f}" for p in RECORDINGS for f in PER_RECORDING] + EXTRA
    for name in names:
        (OUT / name).write_bytes(show(repo, name))
    for prefix, wav_name in RECORDINGS.items():
        wav = show(repo, wav_name)
        flac = to_flac(wav)
        assert pcm(flac) == pcm(wav), wav_name
        (OUT / wav_name.replace(".wav", ".flac")).write_bytes(flac)
        seg = np.load(OUT / f"{prefix}_segmentation_data.npy")
        print(f"{prefix}: {len(pcm(wav)) // 2} samples, segmentation {seg.shape}")
    total = sum(p.stat().st_size for p in OUT.iterdir() if p.name != "README.md")
    print(f"{len(names) + len(RECORDINGS)} files, {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
