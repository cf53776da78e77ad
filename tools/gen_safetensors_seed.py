#!/usr/bin/env python3
"""gen_safetensors_seed.py — writes tests/fixtures/safetensors_seed.safetensors, the fuzz seed
for tests/fuzz_safetensors.c: three small tensors (F32 2x3, F16 [4], BF16 scalar) and
metadata, in the format builder/convert_pyannote_vad.py writes. Standard library only."""
import json
import struct
import sys

tensors = [
    ("conv.weight", "F32", [2, 3], struct.pack("<6f", 0.5, -1.0, 2.0, 3.25, -0.125, 8.0)),
    ("norm.bias", "F16", [4], struct.pack("<4e", 1.0, -2.0, 0.5, 65504.0)),
    ("scale", "BF16", [], struct.pack("<H", 0x3FC0)),  # 1.5
]
header, offset, data = {"__metadata__": {"format": "pt", "source": "seed"}}, 0, b""
for name, dtype, shape, raw in tensors:
    header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    offset += len(raw)
    data += raw
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/safetensors_seed.safetensors"
with open(out, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
