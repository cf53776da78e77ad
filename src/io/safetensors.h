/* safetensors.h — reader for the safetensors weight format (u64 little-endian header length,
 * a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {...}}, then the raw
 * little-endian data). Every offset and size is checked against the file length, so a
 * truncated or corrupted file is an error naming the file, never a crash. Tensors of dtype
 * F32, F16 and BF16 can be read as float32; other dtypes are listed but not converted. */
#ifndef WX_SAFETENSORS_H
#define WX_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../base/wx_base.h"

#define WX_ST_MAX_DIMS 8

enum wx_st_dtype {
    WX_ST_F32, WX_ST_F16, WX_ST_BF16,          /* readable as float32 */
    WX_ST_F64, WX_ST_I64, WX_ST_I32, WX_ST_I16, WX_ST_I8, WX_ST_U8, WX_ST_BOOL, WX_ST_OTHER,
};

typedef struct wx_st_tensor {
    const char *name;
    enum wx_st_dtype dtype;
    int ndim;                         /* 0 for scalars */
    int64_t shape[WX_ST_MAX_DIMS];
    const uint8_t *data;              /* nbytes long, inside the file image */
    size_t nbytes;
} wx_st_tensor;

typedef struct wx_safetensors wx_safetensors;

/* Reads and validates a .safetensors file. */
wx_status wx_safetensors_load(const char *path, wx_safetensors **out, wx_err *err);
/* Validates an image already in memory (copied; label names it in messages). */
wx_status wx_safetensors_parse(const void *data, size_t size, const char *label,
                               wx_safetensors **out, wx_err *err);
void wx_safetensors_free(wx_safetensors *st);

int wx_safetensors_count(const wx_safetensors *st);
const wx_st_tensor *wx_safetensors_at(const wx_safetensors *st, int index);
/* The tensor with this name; NULL if absent. */
const wx_st_tensor *wx_safetensors_find(const wx_safetensors *st, const char *name);
/* A string value of "__metadata__"; NULL if absent. */
const char *wx_safetensors_metadata(const wx_safetensors *st, const char *key);

int64_t wx_st_tensor_nelem(const wx_st_tensor *t);

/* Copies tensor `name` as float32 into dst, after checking that it exists, has a float dtype
 * and exactly the shape (ndim, shape) the caller expects. */
wx_status wx_safetensors_read_f32(const wx_safetensors *st, const char *name, int ndim,
                                  const int64_t *shape, float *dst, wx_err *err);

#endif
