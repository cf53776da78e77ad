"""gen_ct2_seed.py — writes tests/fixtures/ct2_tiny_model.bin, a tiny synthetic CTranslate2
model.bin (binary version 6) used by tests/test_ct2_model.c and as the fuzz seed.

The file is serialized by ctranslate2's own writer (ModelSpec._serialize), so the layout is
the upstream one. Every dtype appears once, with values exactly representable in it:

    f32/weight          (2, 3) float32
    f16/weight          (4,)   float16  (includes the largest half and a subnormal)
    bf16/weight         (2, 2) bfloat16 (bit patterns = top halves of float32 values)
    int8/weight         (2, 4) int8, int8/weight_scale (2,) float32: value = q / scale[row]
    int16/weight        (3,)   int16, int16/weight_scale () float32 (a global scale)
    int32/ids           (3,)   int32
    num_heads           ()     int16 scalar, flag () int8 scalar
    proj/weight         alias of int8/weight

Usage: /tmp/fwvenv/bin/python tools/gen_ct2_seed.py [output path]
"""
import os
import sys

import numpy as np
from ctranslate2.specs import model_spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class BFloat16Variable(model_spec.Variable):
    """bfloat16 variable from float32 values whose low 16 bits are zero (numpy has no bf16)."""

    def __init__(self, values):
        f32 = np.asarray(values, dtype="<f4")
        bits = f32.view("<u4")
        assert not (bits & 0xFFFF).any(), "values must be exact in bfloat16"
        self.array = (bits >> 16).astype("<u2")

    @property
    def shape(self):
        return self.array.shape

    @property
    def dtype(self):
        return "bfloat16"

    def numpy(self):
        return self.array

    def num_bytes(self):
        return self.array.nbytes

    def to_bytes(self):
        return self.array.tobytes()

    def _to(self, dtype):
        raise NotImplementedError

    def _equal(self, other):
        return self is other


class TinySpec:
    """Just what ModelSpec._serialize reads: name, revision and the variables."""

    name = "TinySpec"
    revision = 1

    def __init__(self):
        v = model_spec.NumpyVariable
        self._vars = {
            "f32/weight": v(np.array([[1.5, -2.0, 0.25], [3.0, 4.0, -0.125]], "<f4")),
            "f16/weight": v(np.array([0.5, -1.5, 65504.0, 2.0**-24], "<f2")),
            "bf16/weight": BFloat16Variable([[1.0, -2.5], [2.0**100, 0.15625]]),
            "int8/weight": v(np.array([[127, -127, 64, 0], [-1, 2, -3, 4]], "i1")),
            "int8/weight_scale": v(np.array([64.0, 0.5], "<f4")),
            "int16/weight": v(np.array([-32768, 1000, 32767], "<i2")),
            "int16/weight_scale": v(np.array(4.0, "<f4")),
            "int32/ids": v(np.array([-7, 0, 2**24], "<i4")),
            "num_heads": v(np.array(6, "<i2")),
            "flag": v(np.array(1, "i1")),
            "proj/weight": "int8/weight",
        }

    def variables(self, ordered=False):
        items = self._vars.items()
        return sorted(items) if ordered else dict(items)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        ROOT, "tests", "fixtures", "ct2_tiny_model.bin")
    model_spec.ModelSpec._serialize(TinySpec(), out)
    print(f"wrote {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
