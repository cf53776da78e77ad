"""gen_ge2e_fixtures.py — reference values for tests/test_ge2e.c from Resemblyzer 0.1.4 itself.

Runs resemblyzer.VoiceEncoder("cpu") (its bundled pretrained.pt) on the raw 16 kHz samples of
jfk.wav and sample.wav — s16 / 32768, exactly what src/io/audio.c decodes — with no
preprocess_wav (no volume normalisation, no webrtcvad silence trimming), and writes per clip:
  <clip>.n_samples, <clip>.sum     length and float64 sum of the samples (same input check)
  <clip>.mel_head, <clip>.mel_tail audio.wav_to_mel_spectrogram(samples) frames [0, 64) and
                                   the last 16 (the tail covers librosa's centre padding)
  <clip>.mel_frames                total frame count of that mel
  <clip>.slices                    compute_partial_slices(n, 1.3, 0.75)'s mel ranges (n, 2)
  <clip>.partials, <clip>.embed    embed_utterance's partial embeddings and utterance embedding
"slices_table" (n, count, last start) of compute_partial_slices(n, 1.3, 0.75) over 62 lengths,
and a short clip (jfk [0, 8000): 0.5 s, shorter than one 1.6 s partial, which Resemblyzer
zero-pads) as "short.*", and librosa.filters.mel(sr=16000, n_fft=400, n_mels=40) as
"mel_basis". Also one partial straight through VoiceEncoder.forward on the mel of
jfk frames [100, 260) ("frames.input" is not stored: the test takes it from its own mel).

Usage: .cache/venv-vad/bin/python tools/gen_ge2e_fixtures.py [--data ../shared/data]
       [--out tests/fixtures/ge2e_ref.fix]
Needs torch, librosa and `pip install --no-deps Resemblyzer==0.1.4`; webrtcvad is only imported
by resemblyzer.audio for preprocess_wav, which is not used, so a stub module stands in for it.
"""
import argparse
import os
import sys
import types

import numpy as np
import soundfile as sf
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402

sys.modules.setdefault("webrtcvad", types.ModuleType("webrtcvad"))
import librosa  # noqa: E402
from resemblyzer import VoiceEncoder, audio  # noqa: E402


def resemblyzer_version():
    from importlib.metadata import version
    return version("Resemblyzer")


def load(path):
    pcm, rate = sf.read(path, dtype="int16")
    assert rate == 16000 and pcm.ndim == 1, path
    return pcm.astype(np.float32) / 32768.0


def clip_arrays(enc, name, wav, arrays):
    mel = audio.wav_to_mel_spectrogram(wav)
    _, mel_slices = enc.compute_partial_slices(len(wav), 1.3, 0.75)
    embed, partials, _ = enc.embed_utterance(wav, return_partials=True)
    arrays[f"{name}.n_samples"] = np.array([len(wav)], np.int32)
    arrays[f"{name}.sum"] = repr(float(np.sum(wav.astype(np.float64))))
    arrays[f"{name}.mel_head"] = mel[:64]
    arrays[f"{name}.mel_tail"] = mel[-16:]
    arrays[f"{name}.mel_frames"] = np.array([mel.shape[0]], np.int32)
    arrays[f"{name}.slices"] = np.array([[s.start, s.stop] for s in mel_slices], np.int32)
    arrays[f"{name}.partials"] = partials.astype(np.float32)
    arrays[f"{name}.embed"] = embed.astype(np.float32)
    return mel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=os.path.join("..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join("tests", "fixtures", "ge2e_ref.fix"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    enc = VoiceEncoder("cpu", verbose=False)
    jfk = load(os.path.join(args.data, "jfk.wav"))
    sample = load(os.path.join(args.data, "sample.wav"))
    arrays = {
        "versions": f"Resemblyzer {resemblyzer_version()}, librosa {librosa.__version__}, "
                    f"numpy {np.__version__}, torch {torch.__version__}",
        "mel_basis": librosa.filters.mel(sr=16000, n_fft=400, n_mels=40),
    }
    mel = clip_arrays(enc, "jfk", jfk, arrays)
    clip_arrays(enc, "sample", sample, arrays)
    clip_arrays(enc, "short", jfk[:8000].copy(), arrays)
    # compute_partial_slices over lengths at its boundaries (coverage exactly 0.75 at 31520,
    # one partial up to 25440 + …) and seeded random ones: rows (n, count, last start)
    rng = np.random.default_rng(0)
    lengths = [0, 1, 159, 160, 161, 8000, 12319, 12320, 25440, 25599, 25600, 25601, 27200,
               31519, 31520, 31521, 33000, 37920, 37921, 100000, 176000, 480000]
    lengths += sorted(int(v) for v in rng.integers(0, 2_000_000, 40))
    table = []
    for n in lengths:
        _, sl = enc.compute_partial_slices(n, 1.3, 0.75)
        table.append([n, len(sl), sl[-1].start])
    arrays["slices_table"] = np.array(table, np.int32)
    with torch.no_grad():
        frames = torch.from_numpy(mel[None, 100:260].copy())
        arrays["frames.jfk_100_260"] = enc(frames).numpy()[0]
    write_fixture(args.out, arrays)
    print(f"wrote {args.out}: {arrays['versions']}; jfk {len(arrays['jfk.slices'])} partials, "
          f"sample {len(arrays['sample.slices'])}, short {len(arrays['short.slices'])}")


if __name__ == "__main__":
    main()
