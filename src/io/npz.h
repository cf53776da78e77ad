/* npz.h — reader for numpy's .npz archives (np.savez / np.savez_compressed: a zip of .npy
 * members, stored or deflated) and the .npy format inside them (header versions 1.0, 2.0 and
 * 3.0; little-endian or single-byte numeric dtypes, C order). Every member is validated when
 * the archive is opened — magic, header dictionary, dtype, order, shape against the data
 * size — so a truncated or corrupted file is an error naming the file and the array, never a
 * crash. Arrays can be read as float64. */
#ifndef WX_NPZ_H
#define WX_NPZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/wx_base.h"

#define WX_NPY_MAX_DIMS 8

enum wx_npy_dtype {
    WX_NPY_F8, WX_NPY_F4, WX_NPY_F2, WX_NPY_I8, WX_NPY_I4, WX_NPY_I2, WX_NPY_I1,
    WX_NPY_U8, WX_NPY_U4, WX_NPY_U2, WX_NPY_U1, WX_NPY_B1,
};

typedef struct wx_npy_array {
    const char *name;                 /* the member name without ".npy" (NUL-terminated) */
    enum wx_npy_dtype dtype;
    int ndim;                         /* 0 for a scalar */
    int64_t shape[WX_NPY_MAX_DIMS];
    int64_t nelem;
    bool fortran_order;               /* data column-major (the readers below give C order) */
    const uint8_t *data;              /* nbytes of little-endian elements, in C order unless
                                         fortran_order */
    size_t nbytes;
} wx_npy_array;

typedef struct wx_npz wx_npz;

/* Reads and validates a .npz file. */
wx_status wx_npz_load(const char *path, wx_npz **out, wx_err *err);
/* Validates an image already in memory (copied; label names it in messages). */
wx_status wx_npz_parse(const void *data, size_t size, const char *label, wx_npz **out,
                       wx_err *err);
void wx_npz_free(wx_npz *z);

int wx_npz_count(const wx_npz *z);
const wx_npy_array *wx_npz_at(const wx_npz *z, int index);
/* The array with this name (without ".npy"); NULL if absent. */
const wx_npy_array *wx_npz_find(const wx_npz *z, const char *name);

/* Validates one .npy image (label names it in messages): on success *a describes it, its
 * data pointing into image, a->name set to label. */
wx_status wx_npy_parse(const uint8_t *image, size_t size, const char *label, wx_npy_array *a,
                       wx_err *err);

/* Copies array `name` converted to float64 into dst (nelem values), after checking that it
 * exists and has exactly the shape (ndim, shape) the caller expects. */
wx_status wx_npz_read_f64(const wx_npz *z, const char *name, int ndim, const int64_t *shape,
                          double *dst, wx_err *err);

/* Array `name` as a malloc'd float64 copy *data with its shape (*ndim ≤ WX_NPY_MAX_DIMS
 * dims written to shape). */
wx_status wx_npz_get_f64(const wx_npz *z, const char *name, double **data, int *ndim,
                         int64_t *shape, wx_err *err);

/* The dtype as numpy spells it ("<f8", "|u1", ...). */
const char *wx_npy_dtype_name(enum wx_npy_dtype dtype);

#endif
