"""fixture.py — writer for the reference fixtures read by tests/fixture.h.

Layout (little-endian): b"WXFIX1", u32 count, then per array: u16 name length, name,
u8 dtype (0 float32, 1 int32, 2 UTF-8 text, 3 float64), u8 rank, u32 dims[rank], data.
"""
import struct

import numpy as np


class Float64:
    """Marks an array to be written as float64 (dtype 3); other floats are written float32."""

    def __init__(self, value):
        self.value = np.asarray(value, dtype=np.float64)


def write_fixture(path, arrays):
    """arrays: dict name -> numpy array (float32/int32), Float64(array) or str."""
    with open(path, "wb") as f:
        f.write(b"WXFIX1")
        f.write(struct.pack("<I", len(arrays)))
        for name, value in arrays.items():
            raw = name.encode()
            f.write(struct.pack("<H", len(raw)) + raw)
            if isinstance(value, str):
                data = value.encode("utf-8")
                f.write(struct.pack("<BBI", 2, 1, len(data)) + data)
                continue
            if isinstance(value, Float64):
                arr = np.ascontiguousarray(value.value.astype("<f8"))
                f.write(struct.pack("<BB", 3, arr.ndim))
                f.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
                f.write(arr.tobytes())
                continue
            arr = np.ascontiguousarray(value)
            if arr.dtype.kind == "f":
                dtype, arr = 0, arr.astype("<f4")
            elif arr.dtype.kind in "iu":
                dtype, arr = 1, arr.astype("<i4")
            else:
                raise TypeError(f"{name}: unsupported dtype {arr.dtype}")
            f.write(struct.pack("<BB", dtype, arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
            f.write(arr.tobytes())
