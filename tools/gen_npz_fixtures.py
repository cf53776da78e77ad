"""gen_npz_fixtures.py — .npz files written by numpy for tests/test_npz.c and the seed of
tests/fuzz_npz.c, plus hand-broken ones. Deterministic; run in the reference venv:

    /work/main/.cache/venv-vad/bin/python tools/gen_npz_fixtures.py

Writes tests/fixtures/npz_*.npz. The good archives hold (values the test recomputes):
  f8  (3, 4) <f8  arange(12) * 0.5 - 1
  f4  (5,)   <f4  arange(5) / 4
  i8  (2, 2, 2) <i8  arange(8) - 3
  i4  ()     <i4  -7
  u1  (0,)   |u1  empty
npz_plain.npz (np.savez), npz_compressed.npz (np.savez_compressed), npz_v2.npz and
npz_v3.npz (the same arrays in .npy format 2.0 / 3.0, stored); npz_fortran.npz: "x" =
arange(6).reshape(2, 3) stored with fortran_order True. Broken, one array "x" each: bigendian (>f8), object (dtype O), truncated (data cut short),
shape (header shape larger than the data), trailing (data longer than the shape), version
(format 4.0), header (descr key missing).
"""
import io
import pathlib
import zipfile

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"


def good_arrays():
    return {
        "f8": (np.arange(12, dtype=np.float64) * 0.5 - 1).reshape(3, 4),
        "f4": np.arange(5, dtype=np.float32) / 4,
        "i8": (np.arange(8, dtype=np.int64) - 3).reshape(2, 2, 2),
        "i4": np.array(-7, dtype=np.int32),
        "u1": np.zeros(0, dtype=np.uint8),
    }


def npy_bytes(arr, version=None, allow_pickle=False):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, version=version, allow_pickle=allow_pickle)
    return buf.getvalue()


def write_zip(path, members, compression=zipfile.ZIP_STORED):
    # A fixed date keeps the bytes deterministic.
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = compression
            z.writestr(info, data)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    arrays = good_arrays()
    np.savez(OUT / "npz_plain.npz", **arrays)
    np.savez_compressed(OUT / "npz_compressed.npz", **arrays)
    for major in (2, 3):
        write_zip(OUT / f"npz_v{major}.npz",
                  {f"{k}.npy": npy_bytes(v, version=(major, 0)) for k, v in arrays.items()})

    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    good = npy_bytes(x)
    header_end = good.index(b"\n") + 1
    broken = {
        "bigendian": npy_bytes(x.astype(">f8")),
        "object": npy_bytes(np.array([1, "a"], dtype=object), allow_pickle=True),
        "truncated": good[:-5],
        "shape": good[:header_end].replace(b"(2, 3)", b"(3, 3)") + good[header_end:],
        "trailing": good + b"\0" * 8,
        "version": good[:6] + b"\x04\x00" + good[8:],
        "header": good.replace(b"'descr'", b"'descX'"),
    }
    for name, data in broken.items():
        write_zip(OUT / f"npz_bad_{name}.npz", {"x.npy": data})
    # column-major storage (np.savez of a transposed view writes it): read back in C order
    write_zip(OUT / "npz_fortran.npz", {"x.npy": npy_bytes(np.asfortranarray(x))})


if __name__ == "__main__":
    main()
