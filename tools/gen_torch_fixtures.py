#!/usr/bin/env python3
"""gen_torch_fixtures.py — PyTorch checkpoint fixtures for tests/test_torch_ckpt.c and
tests/fuzz_torch_ckpt.c, made with torch.save itself (venv: tools/requirements-torch.txt).

Writes, under tests/fixtures/:
  torch_ckpt_seed.pt     the zip layout (torch >= 1.6 default), also the fuzz seed
  torch_ckpt_legacy.pt   the same checkpoint in the legacy layout
                         (_use_new_zipfile_serialization=False)
  torch_ckpt_proto4.pt   the zip layout with pickle protocol 4 (FRAME, MEMOIZE,
                         SHORT_BINUNICODE, STACK_GLOBAL instead of protocol 2's opcodes)
All hold a pyannote-like dict: hyper-parameters (int, float, str, bool, None, list, tuple,
nested dict, a torch dtype and device), a state dict that is an OrderedDict with _metadata (nn.Linear's), tensors of
dtypes f32/f16/bf16/f64/int64/bool, a 0-d tensor, a transposed view and an offset slice
sharing one storage. The values are the literals below; tests/test_torch_ckpt.c checks the
same literals, and this script checks with torch.load that the files hold them.

With --resemblyzer WHEEL it also writes tests/fixtures/resemblyzer_pretrained.fix
(tools/fixture.py format): for every tensor of Resemblyzer 0.1.4's resemblyzer/pretrained.pt
(legacy layout) as torch.load reads it, its shape, its first 16 elements and the exact sum
of its elements (math.fsum, as text), plus the "step" value.
"""
import argparse
import collections
import io
import math
import os
import sys
import zipfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture import write_fixture  # noqa: E402

OUT = "tests/fixtures"


def checkpoint():
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 2)
    with torch.no_grad():
        linear.weight.copy_(torch.tensor([[0.5, -1.0, 2.0], [3.25, -0.125, 8.0]]))
        linear.bias.copy_(torch.tensor([1.5, -2.5]))
    state = linear.state_dict(prefix="linear.")           # OrderedDict with _metadata
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4) / 4
    state["base"] = base
    state["base_t"] = base.t()                            # (4, 3), strides (1, 4)
    state["slice"] = base[1:, 2]                          # offset 6, stride 4
    state["half"] = torch.tensor([1.0, -2.0, 0.5, 65504.0], dtype=torch.float16)
    state["bf16"] = torch.tensor([[1.5, -3.0], [0.25, 256.0]], dtype=torch.bfloat16)
    state["f64"] = torch.tensor([0.1, -1e300, 3.0], dtype=torch.float64)
    state["ids"] = torch.tensor([7, -1, 1 << 40], dtype=torch.int64)
    state["mask"] = torch.tensor([True, False, True])
    state["scalar"] = torch.tensor(2.75)
    hyper = {
        "sample_rate": 16000,
        "scale": 0.5,
        "name": "tiny",
        "bidirectional": True,
        "extra": None,
        "classes": ["speech", "music"],
        "window": (5, 2.5),
        "lstm": {"hidden_size": 4, "num_layers": -2},
        "big": 1 << 40,
        "dtype": torch.float16,
        "device": torch.device("cpu"),
    }
    return {"hyper_parameters": hyper, "state_dict": state,
            "layers": [torch.tensor([1.0, 2.0]), {"w": torch.tensor([[3.0]])}]}


def write_small():
    ckpt = checkpoint()
    paths = {"torch_ckpt_seed.pt": (True, 2), "torch_ckpt_legacy.pt": (False, 2),
             "torch_ckpt_proto4.pt": (True, 4)}
    for name, (zip_layout, protocol) in paths.items():
        path = os.path.join(OUT, name)
        torch.save(ckpt, path, _use_new_zipfile_serialization=zip_layout,
                   pickle_protocol=protocol)
        back = torch.load(path, weights_only=False)
        for key, value in ckpt["state_dict"].items():
            got = back["state_dict"][key]
            assert got.dtype == value.dtype and torch.equal(got, value), key
        assert back["hyper_parameters"] == ckpt["hyper_parameters"]
        assert back["state_dict"]._metadata == ckpt["state_dict"]._metadata
        print(f"wrote {path} ({os.path.getsize(path)} bytes)", file=sys.stderr)


def flat_tensors(value, prefix=""):
    """(dotted name, tensor) for every tensor under value, as tests/test_torch_ckpt.c names them."""
    if isinstance(value, torch.Tensor):
        yield prefix, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from flat_tensors(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from flat_tensors(v, f"{prefix}.{i}" if prefix else str(i))


def write_resemblyzer(wheel):
    with zipfile.ZipFile(wheel) as whl:
        raw = whl.read("resemblyzer/pretrained.pt")
    ckpt = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=False)
    arrays = collections.OrderedDict()
    names = []
    for name, t in flat_tensors(ckpt):
        t = t.detach().to(torch.float32).contiguous()
        values = t.flatten().tolist()
        names.append(name)
        arrays[name + ".shape"] = torch.tensor(list(t.shape), dtype=torch.int32).numpy()
        arrays[name + ".head"] = t.flatten()[:16].numpy()
        arrays[name + ".sum"] = repr(math.fsum(values))
    arrays["names"] = "\n".join(names)
    arrays["step"] = repr(ckpt["step"])
    arrays["torch_version"] = torch.__version__
    path = os.path.join(OUT, "resemblyzer_pretrained.fix")
    write_fixture(path, arrays)
    print(f"wrote {path}: {len(names)} tensors", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resemblyzer", help="Resemblyzer-0.1.4-py3-none-any.whl")
    args = ap.parse_args()
    write_small()
    if args.resemblyzer:
        write_resemblyzer(args.resemblyzer)


if __name__ == "__main__":
    main()
