#!/usr/bin/env python3
"""gen_vad_fixtures.py — reference fixtures for the VAD tests, made with the real WhisperX and
pyannote.audio (versions pinned in tools/requirements-vad.txt; run in their venv, CPU):

  tests/fixtures/vad_parity.fix       per recording of ../shared/data, decoded as
      whisperx.load_audio does: "<file>/n_samples" (i32), "<file>/scores" (the aggregated
      speech score curve, every frame, f32), "<file>/frames" (text: start duration step of
      the frame grid), "<file>/regions" (text: Binarize's regions, one "start end" per line in
      full precision) and "<file>/chunks" (text: merge_chunks' "start end n_regions", start
      and end rounded to 3 decimals as WhisperX's transcribe outputs them).
  tests/fixtures/pyannet_random/      a small random-weight PyanNet (LSTM 2x16, linear 2x16,
      3 sigmoid outputs) saved as a torch checkpoint and converted by
      builder/convert_pyannote_vad.py, and pyannet_random.fix with its input windows and the
      outputs of pyannote's own module layer by layer: sinc filters, normalised waveform,
      each SincNet block, LSTM, linear, final scores.

Usage: .cache/venv-vad/bin/python tools/gen_vad_fixtures.py [--data ../shared/data]
"""
import argparse
import importlib.util
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECORDINGS = ["jfk.wav", "sample.wav", "dev00.wav", "tst00.wav", "empty.wav",
              "stereo_diarization.wav", "multilingual.mp3", "hotwords.mp3", "jfk.flac",
              "jfk.mp3"]
CHUNK_SIZE, VAD_ONSET, VAD_OFFSET = 30, 0.500, 0.363  # whisperx.asr default_vad_options
RANDOM_SAMPLES, RANDOM_BATCH = 4000, 2


def load_converter():
    path = os.path.join(ROOT, "builder", "convert_pyannote_vad.py")
    spec = importlib.util.spec_from_file_location("convert_pyannote_vad", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vad_reference(vad, audio):
    """WhisperX's flow (asr.FasterWhisperPipeline.transcribe) up to the merged chunks."""
    from whisperx.vads import Pyannote
    from whisperx.vads.pyannote import Binarize

    scores = vad({"waveform": Pyannote.preprocess_audio(audio), "sample_rate": 16000})
    regions = [(s.start, s.end) for s in
               Binarize(max_duration=CHUNK_SIZE, onset=VAD_ONSET, offset=VAD_OFFSET)(scores)
               .get_timeline()]
    chunks = Pyannote.merge_chunks(scores, CHUNK_SIZE, onset=VAD_ONSET, offset=VAD_OFFSET)
    return scores, regions, chunks


def real_model_fixture(data_dir, out_path):
    import whisperx
    from whisperx.vads import Pyannote

    vad = Pyannote(torch.device("cpu"), token=None, vad_onset=VAD_ONSET, vad_offset=VAD_OFFSET,
                   chunk_size=CHUNK_SIZE)
    arrays = {}
    for name in RECORDINGS:
        audio = whisperx.load_audio(os.path.join(data_dir, name))
        scores, regions, chunks = vad_reference(vad, audio)
        sw = scores.sliding_window
        arrays[f"{name}/n_samples"] = np.array([len(audio)], dtype=np.int32)
        arrays[f"{name}/scores"] = scores.data[:, 0].astype(np.float32)
        arrays[f"{name}/frames"] = f"{sw.start!r} {sw.duration!r} {sw.step!r}"
        arrays[f"{name}/regions"] = "".join(f"{s!r} {e!r}\n" for s, e in regions)
        arrays[f"{name}/chunks"] = "".join(
            f"{round(c['start'], 3)!r} {round(c['end'], 3)!r} {len(c['segments'])}\n"
            for c in chunks)
        print(f"{name}: {len(audio)} samples, {scores.data.shape[0]} frames, "
              f"{len(regions)} regions, {len(chunks)} chunks", file=sys.stderr)
    write_fixture(out_path, arrays)


def random_pyannet(specifications=None, seed=1234):
    """A small PyanNet (LSTM 2x16, linear 2x16) with seeded random weights; the task defaults
    to 3 multi-label classes over 5 s windows."""
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from pyannote.audio.models.segmentation import PyanNet

    torch.manual_seed(seed)
    model = PyanNet(sincnet={"stride": 10},
                    lstm={"hidden_size": 16, "num_layers": 2, "bidirectional": True,
                          "monolithic": True, "dropout": 0.0},
                    linear={"hidden_size": 16, "num_layers": 2})
    model.specifications = specifications or Specifications(
        problem=Problem.MULTI_LABEL_CLASSIFICATION, resolution=Resolution.FRAME, duration=5.0,
        classes=["a", "b", "c"])
    model.build()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "filterbank" in name:  # keep the mel-spaced cut-offs, jittered by up to 20 %
                p.mul_(1.0 + 0.2 * (torch.rand_like(p) - 0.5))
            elif "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.3 * torch.randn_like(p))
            else:
                p.copy_(0.3 * torch.randn_like(p))
    return model.eval()


def pyannet_taps(model, windows):
    """pyannote's own modules, step by step as SincNet.forward and PyanNet.forward."""
    taps = {}
    sinc = model.sincnet
    with torch.no_grad():
        taps["sinc_filters"] = sinc.conv1d[0].filterbank.filters()[:, 0, :]
        x = sinc.wav_norm1d(windows)
        taps["waveform_norm"] = x
        for c, (conv, pool, norm) in enumerate(zip(sinc.conv1d, sinc.pool1d, sinc.norm1d)):
            x = conv(x)
            if c == 0:
                x = torch.abs(x)
            x = torch.nn.functional.leaky_relu(norm(pool(x)))
            taps[f"block{c}"] = x
        assert torch.equal(x, sinc(windows))
        x, _ = model.lstm(x.transpose(1, 2))
        taps["lstm"] = x
        for linear in model.linear:
            x = torch.nn.functional.leaky_relu(linear(x))
        taps["linear"] = x
        taps["scores"] = model.activation(model.classifier(x))
        assert torch.allclose(taps["scores"], model(windows))
    return {k: v.numpy().astype(np.float32) for k, v in taps.items()}


def random_model_fixture(data_dir, out_dir, fix_path):
    import whisperx

    model = random_pyannet()
    ckpt = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    model.on_save_checkpoint(ckpt)
    converter = load_converter()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "random.ckpt")
        torch.save(ckpt, path)
        with open(path, "rb") as f:
            raw = f.read()
    loaded = converter.load_checkpoint(raw)
    state = {k: v for k, v in loaded["state_dict"].items() if isinstance(v, converter.Tensor)}
    config = converter.build_config(loaded, state, "tools/gen_vad_fixtures.py random PyanNet",
                                    "")
    os.makedirs(out_dir, exist_ok=True)
    converter.write_safetensors(os.path.join(out_dir, "model.safetensors"), state,
                                {"format": "pt", "source": config["source"]})
    import json
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    # window 0: speech from jfk.wav at 1 s; window 1: seeded noise
    speech = whisperx.load_audio(os.path.join(data_dir, "jfk.wav"))[16000:16000 + RANDOM_SAMPLES]
    noise = np.random.default_rng(5).standard_normal(RANDOM_SAMPLES).astype(np.float32) * 0.1
    windows = torch.from_numpy(np.stack([speech, noise])[:, None, :].astype(np.float32))
    arrays = {"windows": windows.numpy()[:, 0, :]}
    arrays.update(pyannet_taps(model, windows))
    write_fixture(fix_path, arrays)
    print(f"random PyanNet: {sum(v.size for v in arrays.values())} floats", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    random_model_fixture(args.data, os.path.join(args.out, "pyannet_random"),
                         os.path.join(args.out, "pyannet_random.fix"))
    real_model_fixture(args.data, os.path.join(args.out, "vad_parity.fix"))


if __name__ == "__main__":
    main()
