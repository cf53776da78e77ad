"""gen_mel_fixture.py — reference log-mel features of jfk.wav for tests/test_mel.c.

Usage: /tmp/fwvenv/bin/python tools/gen_mel_fixture.py [DATA_DIR] [OUT]
       (defaults ../shared/data and tests/fixtures/mel_jfk.fix)

Reference: faster-whisper 1.1.1's numpy FeatureExtractor, called the way WhisperX calls
its own log_mel_spectrogram per chunk: padding = 480000 - len(samples), 3000 frames.
Checked against whisperx/audio.py (log_mel_spectrogram(audio, n_mels, padding=N_SAMPLES -
len)); the computation is the same:
  - pad right with zeros to 480000 samples (F.pad / np.pad);
  - STFT n_fft 400, hop 160, periodic Hann (torch.hann_window(400) ==
    np.hanning(401)[:-1]), center=True with reflect padding of 200 on each side;
  - |X|^2 with the last of the 3001 frames dropped (magnitudes[..., :-1]);
  - Slaney mel filters: WhisperX loads librosa.filters.mel(sr=16000, n_fft=400, n_mels)
    from mel_filters.npz; faster-whisper recomputes the same formula (Slaney scale,
    Slaney area normalisation) in float64 and casts to float32;
  - log10(max(x, 1e-10)), floor at global max - 8, then (x + 4) / 4.
Differences, all at float32 rounding level: torch computes the Hann window in float32,
faster-whisper in float64 then casts; the FFT is torch's (pocketfft/MKL) vs numpy 2's
pocketfft in float32; the npz filters were made by librosa rather than recomputed.

jfk.wav is PCM16 mono 16 kHz; it is decoded with Python's wave module and /32768, the
conversion whisperx.load_audio (ffmpeg s16 output) and the worker apply.

Stored arrays (the full 80x3000 mel would be ~1 MB):
  frames        int32 (F,)        the frame indices kept: every frame of the speech
                                  (0..1100 covers 11 s) in steps of 2, plus frames
                                  1100..1120 and every 50th of the padding
  mel80         float32 (80, F)   log-mel at those frames
  filters80     float32 (80, 201) mel filterbank
  filters128    float32 (128, 201)
  n_samples     int32 (1,)        samples in jfk.wav
"""
import importlib.util
import os
import sys
import wave

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402

N_SAMPLES = 480000


def load_feature_extractor():
    """Imports faster_whisper/feature_extractor.py alone: the package __init__ pulls in the
    model-download stack (requests), which the fixture does not need."""
    spec = importlib.util.find_spec("faster_whisper")
    path = os.path.join(spec.submodule_search_locations[0], "feature_extractor.py")
    mod_spec = importlib.util.spec_from_file_location("fw_feature_extractor", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod.FeatureExtractor


def read_pcm16(path):
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getframerate() == 16000
        raw = w.readframes(w.getnframes())
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/data"
    out = sys.argv[2] if len(sys.argv) > 2 else "tests/fixtures/mel_jfk.fix"
    FeatureExtractor = load_feature_extractor()
    samples = read_pcm16(os.path.join(data_dir, "jfk.wav"))
    fe80 = FeatureExtractor(feature_size=80)
    fe128 = FeatureExtractor(feature_size=128)
    mel = fe80(samples, padding=N_SAMPLES - len(samples))[:, :3000]
    assert mel.shape == (80, 3000), mel.shape
    speech_end = len(samples) // 160
    frames = np.unique(np.concatenate([
        np.arange(0, speech_end, 2),
        np.arange(speech_end, speech_end + 20),
        np.arange(speech_end + 20, 3000, 50),
        [2999],
    ])).astype(np.int32)
    write_fixture(out, {
        "frames": frames,
        "mel80": np.ascontiguousarray(mel[:, frames], dtype=np.float32),
        "filters80": fe80.mel_filters.astype(np.float32),
        "filters128": fe128.mel_filters.astype(np.float32),
        "n_samples": np.array([len(samples)], dtype=np.int32),
    })
    print(f"{out}: {len(frames)} frames of {mel.shape}, mel range "
          f"[{mel.min():.4f}, {mel.max():.4f}]")


if __name__ == "__main__":
    main()
