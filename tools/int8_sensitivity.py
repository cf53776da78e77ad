"""int8_sensitivity.py — why the int8 parity test bounds a word error rate instead of asking
for equal tokens (run with .cache/venv-vad/bin/python from the project root; tools/
requirements-vad.txt pins ctranslate2 and faster-whisper).

Runs tiny.en's encoder on jfk.wav's log-mel three ways: CTranslate2 itself (float32 and
int8), and a numpy re-implementation of CTranslate2's CPU int8 arithmetic (per-row weight
scales 127 / max |w|, per-row u8 activations nearbyint(a · scale + 128), exact integer sums,
(c · (1 / a_scale)) / w_scale, convolutions in float as CTranslate2 keeps them), once on the
log-mel and once on the log-mel times (1 + 1e-6 · noise). Prints the RMS differences:
  numpy float32 against CTranslate2 float32 (the float path agrees: ~1e-6),
  numpy int8 against numpy int8 on the perturbed log-mel (the int8 path's own sensitivity),
  numpy int8 against CTranslate2 int8.
Measured 2026-12-03: 2.1e-6; 0.0181; 0.0179 (outputs of RMS 1.1). A change in the 6th
digit of the input moves the int8 encoder as far as two implementations of the same
arithmetic differ, so tokens decoded from it can only be compared statistically.
"""
import os
import struct
import sys

import ctranslate2
import numpy as np
import scipy.special
from faster_whisper.audio import decode_audio
from faster_whisper.feature_extractor import FeatureExtractor

MODEL = "models/tiny.en"
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path):
    """Variables of a CTranslate2 model.bin (binary version 6) as float32 arrays."""
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        (v,) = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v

    def string():
        nonlocal pos
        n = take("<H")
        s = data[pos:pos + n].rstrip(b"\0").decode()
        pos += n
        return s

    take("<I"), string(), take("<I")
    out = {}
    for _ in range(take("<I")):
        name = string()
        dims = [take("<I") for _ in range(take("<B"))]
        dtype, nbytes = take("<B"), take("<I")
        out[name] = np.frombuffer(data[pos:pos + nbytes], DTYPES[dtype]).reshape(dims).astype(np.float32)
        pos += nbytes
    return out


def gelu(x):
    return (0.5 * x * (1 + scipy.special.erf(x / np.sqrt(2)))).astype(np.float32)


def conv(x, w, bias, stride):
    cout, _, k = w.shape
    xp = np.pad(x, ((0, 0), (1, 1)))
    tout = (x.shape[1] + 2 - k) // stride + 1
    cols = np.stack([xp[:, i * stride:i * stride + k].reshape(-1) for i in range(tout)])
    return (w.reshape(cout, -1) @ cols.T + bias[:, None]).astype(np.float32)


def layer_norm(x, g, b):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return ((x - m) / np.sqrt(v + 1e-5) * g + b).astype(np.float32)


def row_scale(x):
    amax = np.abs(x).max(-1, keepdims=True).astype(np.float32)
    return np.where(amax != 0, np.float32(127) / amax, np.float32(1)).astype(np.float32)


def linear(W, x, name, int8):
    w, bias = W[name + "/weight"], W.get(name + "/bias")
    if not int8:
        y = x @ w.T
    else:
        sw, sa = row_scale(w), row_scale(x)
        qw = np.rint(w * sw).astype(np.int64)
        qa = np.rint((x * sa).astype(np.float32) + np.float32(128)).astype(np.int64) - 128
        y = ((qa @ qw.T).astype(np.float32) * (np.float32(1) / sa)).astype(np.float32) / sw.T
    return (y + bias if bias is not None else y).astype(np.float32)


def encode(W, mel, int8):
    x = gelu(conv(mel, W["encoder/conv1/weight"], W["encoder/conv1/bias"], 1))
    x = gelu(conv(x, W["encoder/conv2/weight"], W["encoder/conv2/bias"], 2)).T
    x = x + W["encoder/position_encodings/encodings"][: x.shape[0]]
    d = x.shape[1]
    n_head = d // 64
    layer = 0
    while f"encoder/layer_{layer}/ffn/linear_0/weight" in W:
        p = f"encoder/layer_{layer}"
        h = layer_norm(x, W[p + "/self_attention/layer_norm/gamma"], W[p + "/self_attention/layer_norm/beta"])
        q, k, v = np.split(linear(W, h, p + "/self_attention/linear_0", int8), 3, axis=1)
        o = np.zeros_like(q)
        for hh in range(n_head):
            s = slice(64 * hh, 64 * hh + 64)
            a = (q[:, s] @ k[:, s].T) / 8.0
            a = np.exp(a - a.max(1, keepdims=True))
            o[:, s] = (a / a.sum(1, keepdims=True)) @ v[:, s]
        x = x + linear(W, o.astype(np.float32), p + "/self_attention/linear_1", int8)
        h = layer_norm(x, W[p + "/ffn/layer_norm/gamma"], W[p + "/ffn/layer_norm/beta"])
        x = x + linear(W, gelu(linear(W, h, p + "/ffn/linear_0", int8)), p + "/ffn/linear_1", int8)
        layer += 1
    return layer_norm(x, W["encoder/layer_norm/gamma"], W["encoder/layer_norm/beta"])


def ct2_encode(mel, compute_type):
    model = ctranslate2.models.Whisper(MODEL, device="cpu", compute_type=compute_type, intra_threads=2)
    return np.array(model.encode(ctranslate2.StorageView.from_array(mel[None]), to_cpu=True))[0]


def rms(a, b):
    return float(np.sqrt(((a - b) ** 2).mean()))


def main():
    data = os.environ.get("WX_DATA_DIR", "../shared/data")
    audio = decode_audio(os.path.join(data, "jfk.wav"))
    mel = FeatureExtractor(feature_size=80)(audio, padding=480000 - len(audio))[:, :3000].astype(np.float32)
    noise = np.random.default_rng(1).standard_normal(mel.shape).astype(np.float32)
    perturbed = (mel * (1 + np.float32(1e-6) * noise)).astype(np.float32)
    W = read_ct2(os.path.join(MODEL, "model.bin"))
    sim_f32, sim_int8, sim_int8_p = encode(W, mel, False), encode(W, mel, True), encode(W, perturbed, True)
    print(f"output RMS {np.sqrt((sim_f32 ** 2).mean()):.3f}")
    print(f"numpy float32 vs CTranslate2 float32: RMS {rms(sim_f32, ct2_encode(mel, 'float32')):.3g}")
    print(f"numpy int8 vs numpy int8 on log-mel x (1 + 1e-6 noise): RMS {rms(sim_int8, sim_int8_p):.3g}")
    print(f"numpy int8 vs CTranslate2 int8: RMS {rms(sim_int8, ct2_encode(mel, 'int8')):.3g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
