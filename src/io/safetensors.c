/* safetensors.c — safetensors reader: the header is parsed with jansson, every tensor's
 * dtype, shape and data_offsets validated against the data section before any access. */
#include "safetensors.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER_BYTES (100u << 20) /* the reference implementation's limit */

struct wx_safetensors {
    uint8_t *image;          /* the whole file */
    size_t size;
    json_t *header;          /* owns the tensor names */
    wx_st_tensor *tensors;
    int n_tensors;
};

typedef struct dtype_info {
    const char *name;
    enum wx_st_dtype dtype;
    size_t size;
} dtype_info;

static const dtype_info DTYPES[] = {
    {"F32", WX_ST_F32, 4},  {"F16", WX_ST_F16, 2},   {"BF16", WX_ST_BF16, 2},
    {"F64", WX_ST_F64, 8},  {"I64", WX_ST_I64, 8},   {"I32", WX_ST_I32, 4},
    {"I16", WX_ST_I16, 2},  {"I8", WX_ST_I8, 1},     {"U8", WX_ST_U8, 1},
    {"BOOL", WX_ST_BOOL, 1}, {"U16", WX_ST_OTHER, 2}, {"U32", WX_ST_OTHER, 4},
    {"U64", WX_ST_OTHER, 8}, {"F8_E4M3", WX_ST_OTHER, 1}, {"F8_E5M2", WX_ST_OTHER, 1},
};

static const dtype_info *dtype_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(DTYPES[i].name, name) == 0) return &DTYPES[i];
    return NULL;
}

static const char *dtype_name(enum wx_st_dtype dtype)
{
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].dtype == dtype) return DTYPES[i].name;
    return "?";
}

int64_t wx_st_tensor_nelem(const wx_st_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

/* Reads shape into t, rejecting negative dims and element counts that overflow. */
static wx_status parse_shape(json_t *shape, wx_st_tensor *t, uint64_t *nelem,
                             const char *label, wx_err *err)
{
    if (!json_is_array(shape) || json_array_size(shape) > WX_ST_MAX_DIMS)
        return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s: shape is not an array of at most %d "
                       "dimensions", label, t->name, WX_ST_MAX_DIMS);
    t->ndim = (int)json_array_size(shape);
    uint64_t n = 1;
    for (int i = 0; i < t->ndim; i++) {
        json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s: dimension %d is not a "
                           "non-negative integer", label, t->name, i);
        uint64_t dim = (uint64_t)json_integer_value(d);
        if (dim && n > UINT64_MAX / 16 / dim)
            return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s: shape too large", label, t->name);
        n *= dim;
        t->shape[i] = (int64_t)dim;
    }
    *nelem = n;
    return WX_OK;
}

/* Fills t from one header entry {dtype, shape, data_offsets} over data[0, data_size). */
static wx_status parse_entry(const char *name, json_t *entry, const uint8_t *data,
                             size_t data_size, wx_st_tensor *t, const char *label, wx_err *err)
{
    t->name = name;
    if (!json_is_object(entry))
        return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s: entry is not an object", label, name);
    const char *dt = json_string_value(json_object_get(entry, "dtype"));
    const dtype_info *info = dt ? dtype_lookup(dt) : NULL;
    if (!info)
        return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s: missing or unknown dtype %s", label,
                       name, dt ? dt : "(none)");
    t->dtype = info->dtype;
    uint64_t nelem = 0;
    wx_status st = parse_shape(json_object_get(entry, "shape"), t, &nelem, label, err);
    if (st != WX_OK) return st;
    json_t *off = json_object_get(entry, "data_offsets");
    json_t *b = json_array_get(off, 0), *e = json_array_get(off, 1);
    if (!json_is_array(off) || json_array_size(off) != 2 || !json_is_integer(b) ||
        !json_is_integer(e))
        return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s: data_offsets is not [begin, end]",
                       label, name);
    json_int_t begin = json_integer_value(b), end = json_integer_value(e);
    if (begin < 0 || end < begin || (uint64_t)end > data_size)
        return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s: data_offsets [%lld, %lld] outside "
                       "the %zu data bytes (truncated file?)", label, name, (long long)begin,
                       (long long)end, data_size);
    if ((uint64_t)(end - begin) != nelem * info->size)
        return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s: %lld data bytes for %llu elements "
                       "of %s", label, name, (long long)(end - begin),
                       (unsigned long long)nelem, info->name);
    t->data = data + begin;
    t->nbytes = (size_t)(end - begin);
    return WX_OK;
}

/* Parses the JSON header of st->image and fills st->tensors. */
static wx_status parse_header(wx_safetensors *st, const char *label, wx_err *err)
{
    if (st->size < 8)
        return wx_fail(err, WX_ERR_FORMAT, "%s: %zu bytes, too short for a safetensors file",
                       label, st->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | st->image[i];
    if (hlen > MAX_HEADER_BYTES || hlen > st->size - 8)
        return wx_fail(err, WX_ERR_FORMAT, "%s: header length %llu exceeds the file (%zu bytes)",
                       label, (unsigned long long)hlen, st->size);
    json_error_t jerr;
    st->header = json_loadb((const char *)st->image + 8, (size_t)hlen, 0, &jerr);
    if (!json_is_object(st->header))
        return wx_fail(err, WX_ERR_FORMAT, "%s: header is not a JSON object: %s", label,
                       st->header ? "wrong type" : jerr.text);
    const uint8_t *data = st->image + 8 + hlen;
    size_t data_size = st->size - 8 - (size_t)hlen;
    st->tensors = calloc(json_object_size(st->header) + 1, sizeof *st->tensors);
    if (!st->tensors) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", label);
    const char *name;
    json_t *entry;
    json_object_foreach(st->header, name, entry) {
        if (strcmp(name, "__metadata__") == 0) {
            if (!json_is_object(entry))
                return wx_fail(err, WX_ERR_FORMAT, "%s: __metadata__ is not an object", label);
            continue;
        }
        wx_status s = parse_entry(name, entry, data, data_size, &st->tensors[st->n_tensors],
                                  label, err);
        if (s != WX_OK) return s;
        st->n_tensors++;
    }
    return WX_OK;
}

wx_status wx_safetensors_parse(const void *data, size_t size, const char *label,
                               wx_safetensors **out, wx_err *err)
{
    *out = NULL;
    wx_safetensors *st = calloc(1, sizeof *st);
    if (!st) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", label);
    st->image = malloc(size ? size : 1);
    if (!st->image) {
        free(st);
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for %zu bytes", label, size);
    }
    if (size) memcpy(st->image, data, size);
    st->size = size;
    wx_status s = parse_header(st, label, err);
    if (s != WX_OK) {
        wx_safetensors_free(st);
        return s;
    }
    *out = st;
    return WX_OK;
}

wx_status wx_safetensors_load(const char *path, wx_safetensors **out, wx_err *err)
{
    *out = NULL;
    char *image = NULL;
    size_t size = 0;
    wx_status s = wx_read_file(path, &image, &size, err);
    if (s != WX_OK) return s;
    wx_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        free(image);
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", path);
    }
    st->image = (uint8_t *)image;
    st->size = size;
    s = parse_header(st, path, err);
    if (s != WX_OK) {
        wx_safetensors_free(st);
        return s;
    }
    *out = st;
    return WX_OK;
}

void wx_safetensors_free(wx_safetensors *st)
{
    if (!st) return;
    free(st->tensors);
    json_decref(st->header);
    free(st->image);
    free(st);
}

int wx_safetensors_count(const wx_safetensors *st) { return st->n_tensors; }

const wx_st_tensor *wx_safetensors_at(const wx_safetensors *st, int index)
{
    return index >= 0 && index < st->n_tensors ? &st->tensors[index] : NULL;
}

const wx_st_tensor *wx_safetensors_find(const wx_safetensors *st, const char *name)
{
    for (int i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *wx_safetensors_metadata(const wx_safetensors *st, const char *key)
{
    return json_string_value(json_object_get(json_object_get(st->header, "__metadata__"), key));
}

static uint16_t load_u16le(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static float load_f32le(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

wx_status wx_safetensors_read_f32(const wx_safetensors *st, const char *name, int ndim,
                                  const int64_t *shape, float *dst, wx_err *err)
{
    const wx_st_tensor *t = wx_safetensors_find(st, name);
    if (!t) return wx_fail(err, WX_ERR_FORMAT, "weights: tensor %s is missing", name);
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[128] = "", got[128] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), " %lld", (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %lld", (long long)t->shape[i]);
        return wx_fail(err, WX_ERR_FORMAT, "weights: tensor %s has shape [%s ] where [%s ] is "
                       "expected", name, got, want);
    }
    int64_t n = wx_st_tensor_nelem(t);
    switch (t->dtype) {
    case WX_ST_F32:
        for (int64_t i = 0; i < n; i++) dst[i] = load_f32le(t->data + 4 * i);
        return WX_OK;
    case WX_ST_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = wx_f16_to_f32(load_u16le(t->data + 2 * i));
        return WX_OK;
    case WX_ST_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = wx_bf16_to_f32(load_u16le(t->data + 2 * i));
        return WX_OK;
    default:
        return wx_fail(err, WX_ERR_UNSUPPORTED, "weights: tensor %s has dtype %s, not a float "
                       "type", name, dtype_name(t->dtype));
    }
}
