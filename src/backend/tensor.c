/* tensor.c — backend-independent tensor helpers: sizes and views. */
#include <assert.h>
#include <string.h>

#include "backend.h"

size_t wx_dtype_size(enum wx_dtype dtype)
{
    switch (dtype) {
    case WX_F32: return 4;
    case WX_F16: return 2;
    case WX_I32: return 4;
    }
    assert(!"unknown dtype");
    return 0;
}

int64_t wx_tensor_nelem(const wx_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t wx_tensor_nbytes(const wx_tensor *t)
{
    return (size_t)wx_tensor_nelem(t) * wx_dtype_size(t->dtype);
}

wx_tensor wx_tensor_view(const wx_tensor *t, int64_t offset, int ndim, const int64_t *shape)
{
    assert(ndim >= 1 && ndim <= WX_MAX_DIMS);
    wx_tensor v;
    memset(&v, 0, sizeof v);
    v.dtype = t->dtype;
    v.ndim = ndim;
    for (int i = 0; i < ndim; i++) v.shape[i] = shape[i];
    v.data = (char *)t->data + (size_t)offset * wx_dtype_size(t->dtype);
    v.backend = t->backend;
    v.is_view = true;
    return v;
}
