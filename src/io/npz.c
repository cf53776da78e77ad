/* npz.c — .npz / .npy reader: the archive through src/io/zip.h, each member's .npy header (a
 * Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}) parsed by a small
 * scanner that accepts exactly numpy's three keys, then shape × item size checked against the
 * member's data. */
#include "npz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zip.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npz.c reads little-endian data with memcpy: a big-endian host needs byte swaps"
#endif

struct wx_npz {
    uint8_t *image;          /* the whole file */
    size_t size;
    char *label;
    wx_zip zip;              /* owns inflated members */
    wx_npy_array *arrays;
    char **names;
    int n_arrays;
};

typedef struct dtype_info {
    const char *descr;
    enum wx_npy_dtype dtype;
    size_t size;
} dtype_info;

static const dtype_info DTYPES[] = {
    {"<f8", WX_NPY_F8, 8}, {"<f4", WX_NPY_F4, 4}, {"<f2", WX_NPY_F2, 2},
    {"<i8", WX_NPY_I8, 8}, {"<i4", WX_NPY_I4, 4}, {"<i2", WX_NPY_I2, 2}, {"|i1", WX_NPY_I1, 1},
    {"<u8", WX_NPY_U8, 8}, {"<u4", WX_NPY_U4, 4}, {"<u2", WX_NPY_U2, 2}, {"|u1", WX_NPY_U1, 1},
    {"|b1", WX_NPY_B1, 1},
};

static const dtype_info *dtype_lookup(const char *descr)
{
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (strcmp(DTYPES[i].descr, descr) == 0) return &DTYPES[i];
    return NULL;
}

const char *wx_npy_dtype_name(enum wx_npy_dtype dtype)
{
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].dtype == dtype) return DTYPES[i].descr;
    return "?";
}

static size_t dtype_size(enum wx_npy_dtype dtype)
{
    for (size_t i = 0; i < sizeof DTYPES / sizeof DTYPES[0]; i++)
        if (DTYPES[i].dtype == dtype) return DTYPES[i].size;
    return 0;
}

/* ---- the header dictionary --------------------------------------------------------------- */

typedef struct scanner {
    const char *p, *end;
    const char *label;
    wx_err *err;
} scanner;

static void skip_space(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')) s->p++;
}

static bool accept(scanner *s, char c)
{
    skip_space(s);
    if (s->p < s->end && *s->p == c) { s->p++; return true; }
    return false;
}

static wx_status bad_header(scanner *s, const char *what)
{
    return wx_fail(s->err, WX_ERR_FORMAT, "%s: malformed .npy header (%s)", s->label, what);
}

/* A quoted Python string without escapes into buf (cap bytes). */
static wx_status scan_string(scanner *s, char *buf, size_t cap)
{
    skip_space(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"')) return bad_header(s, "a string expected");
    char q = *s->p++;
    size_t n = 0;
    while (s->p < s->end && *s->p != q) {
        if (*s->p == '\\' || n + 1 >= cap) return bad_header(s, "unexpected string");
        buf[n++] = *s->p++;
    }
    if (s->p >= s->end) return bad_header(s, "unterminated string");
    s->p++;
    buf[n] = '\0';
    return WX_OK;
}

static wx_status scan_descr(scanner *s, wx_npy_array *a)
{
    skip_space(s);
    if (s->p < s->end && *s->p == '[')
        return wx_fail(s->err, WX_ERR_UNSUPPORTED, "%s: structured dtypes are not supported", s->label);
    char descr[32];
    wx_status st = scan_string(s, descr, sizeof descr);
    if (st) return st;
    const dtype_info *d = dtype_lookup(descr);
    if (d) { a->dtype = d->dtype; return WX_OK; }
    if (strchr(descr, 'O'))
        return wx_fail(s->err, WX_ERR_UNSUPPORTED, "%s: object arrays (dtype '%s') are not "
                       "supported", s->label, descr);
    if (descr[0] == '>')
        return wx_fail(s->err, WX_ERR_UNSUPPORTED, "%s: big-endian dtype '%s' is not supported "
                       "(save it little-endian)", s->label, descr);
    return wx_fail(s->err, WX_ERR_UNSUPPORTED, "%s: dtype '%s' is not supported (numeric "
                   "little-endian dtypes are)", s->label, descr);
}

static wx_status scan_fortran_order(scanner *s, bool *fortran)
{
    skip_space(s);
    size_t left = (size_t)(s->end - s->p);
    if (left >= 4 && memcmp(s->p, "True", 4) == 0) { *fortran = true; s->p += 4; return WX_OK; }
    if (left >= 5 && memcmp(s->p, "False", 5) == 0) { *fortran = false; s->p += 5; return WX_OK; }
    return bad_header(s, "fortran_order is not True or False");
}

static wx_status scan_shape(scanner *s, wx_npy_array *a)
{
    if (!accept(s, '(')) return bad_header(s, "shape is not a tuple");
    a->ndim = 0;
    while (!accept(s, ')')) {
        skip_space(s);
        if (a->ndim == WX_NPY_MAX_DIMS)
            return wx_fail(s->err, WX_ERR_UNSUPPORTED, "%s: more than %d dimensions", s->label,
                           WX_NPY_MAX_DIMS);
        int64_t v = 0;
        int digits = 0;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return bad_header(s, "dimension too large");
            v = v * 10 + (*s->p++ - '0');
            digits++;
        }
        if (!digits) return bad_header(s, "shape holds a non-integer");
        if (s->p < s->end && *s->p == 'L') s->p++;   /* Python 2's long literals */
        a->shape[a->ndim++] = v;
        if (accept(s, ',')) continue;
        if (!accept(s, ')')) return bad_header(s, "shape tuple not closed");
        break;
    }
    return WX_OK;
}

/* The dict of header[0, len): descr, fortran_order and shape, each exactly once. */
static wx_status parse_dict(const char *header, size_t len, const char *label, wx_npy_array *a,
                            wx_err *err)
{
    scanner s = {header, header + len, label, err};
    bool seen[3] = {false, false, false}, fortran = false;
    if (!accept(&s, '{')) return bad_header(&s, "not a dict");
    while (!accept(&s, '}')) {
        char key[32];
        wx_status st = scan_string(&s, key, sizeof key);
        if (st) return st;
        if (!accept(&s, ':')) return bad_header(&s, "':' expected");
        int k = strcmp(key, "descr") == 0 ? 0 : strcmp(key, "fortran_order") == 0 ? 1
              : strcmp(key, "shape") == 0 ? 2 : -1;
        if (k < 0 || seen[k]) return bad_header(&s, "unexpected or repeated key");
        seen[k] = true;
        st = k == 0 ? scan_descr(&s, a) : k == 1 ? scan_fortran_order(&s, &fortran) : scan_shape(&s, a);
        if (st) return st;
        if (accept(&s, ',')) continue;
        if (!accept(&s, '}')) return bad_header(&s, "',' or '}' expected");
        break;
    }
    if (!seen[0] || !seen[1] || !seen[2]) return bad_header(&s, "descr, fortran_order or shape missing");
    a->fortran_order = fortran;
    return WX_OK;
}

wx_status wx_npy_parse(const uint8_t *image, size_t size, const char *label, wx_npy_array *a,
                       wx_err *err)
{
    memset(a, 0, sizeof *a);
    a->name = label;
    if (size < 10 || memcmp(image, "\x93NUMPY", 6) != 0)
        return wx_fail(err, WX_ERR_FORMAT, "%s: not a .npy array (bad magic or truncated)", label);
    int major = image[6], minor = image[7];
    if (major < 1 || major > 3 || minor != 0)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported "
                       "(1.0, 2.0 and 3.0 are)", label, major, minor);
    size_t prefix = major == 1 ? 10 : 12;
    if (size < prefix) return wx_fail(err, WX_ERR_FORMAT, "%s: truncated .npy header", label);
    uint64_t hlen = image[8] | (uint64_t)image[9] << 8;
    if (major > 1) hlen |= (uint64_t)image[10] << 16 | (uint64_t)image[11] << 24;
    if (hlen > size - prefix) return wx_fail(err, WX_ERR_FORMAT, "%s: truncated .npy header", label);
    wx_status st = parse_dict((const char *)image + prefix, (size_t)hlen, label, a, err);
    if (st) return st;
    size_t item = dtype_size(a->dtype), data_off = prefix + (size_t)hlen;
    uint64_t n = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] && n > (UINT64_MAX >> 4) / (uint64_t)a->shape[d] / item)
            return wx_fail(err, WX_ERR_FORMAT, "%s: shape too large", label);
        n *= (uint64_t)a->shape[d];
    }
    uint64_t nbytes = n * item;
    if (nbytes > size - data_off)
        return wx_fail(err, WX_ERR_FORMAT, "%s: truncated data (%llu bytes for the shape, %zu "
                       "present)", label, (unsigned long long)nbytes, size - data_off);
    if (nbytes != size - data_off)
        return wx_fail(err, WX_ERR_FORMAT, "%s: %zu data bytes do not match the shape's %llu",
                       label, size - data_off, (unsigned long long)nbytes);
    a->nelem = (int64_t)n;
    a->data = image + data_off;
    a->nbytes = (size_t)nbytes;
    return WX_OK;
}

/* ---- the archive ------------------------------------------------------------------------- */

static wx_status parse_member(wx_npz *z, const wx_zip_entry *e, int index, wx_err *err)
{
    size_t len = e->name_len;
    if (len >= 4 && memcmp(e->name + len - 4, ".npy", 4) == 0) len -= 4;
    char *name = malloc(len + 1);
    if (!name) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", z->label);
    memcpy(name, e->name, len);
    name[len] = '\0';
    z->names[index] = name;
    for (int i = 0; i < index; i++)
        if (strcmp(z->names[i], name) == 0)
            return wx_fail(err, WX_ERR_FORMAT, "%s: array %s stored twice", z->label, name);
    const uint8_t *data;
    size_t size;
    wx_status st = wx_zip_data(&z->zip, e, &data, &size, err);
    if (st) return st;
    char label[512];
    snprintf(label, sizeof label, "%s: array %s", z->label, name);
    st = wx_npy_parse(data, size, label, &z->arrays[index], err);
    z->arrays[index].name = name;
    return st;
}

static wx_status parse_archive(wx_npz *z, wx_err *err)
{
    if (!wx_zip_is_zip(z->image, z->size))
        return wx_fail(err, WX_ERR_FORMAT, "%s: not a .npz archive (no zip header)", z->label);
    wx_status st = wx_zip_open(&z->zip, z->image, z->size, z->label, err);
    if (st) return st;
    if (z->zip.n_entries > 100000)
        return wx_fail(err, WX_ERR_FORMAT, "%s: too many members", z->label);
    size_t n = z->zip.n_entries ? z->zip.n_entries : 1;
    z->arrays = calloc(n, sizeof *z->arrays);
    z->names = calloc(n, sizeof *z->names);
    if (!z->arrays || !z->names) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", z->label);
    for (size_t i = 0; i < z->zip.n_entries; i++) {
        st = parse_member(z, &z->zip.entries[i], (int)i, err);
        z->n_arrays = (int)i + 1;   /* names[0, n_arrays) to free */
        if (st) return st;
    }
    return WX_OK;
}

wx_status wx_npz_parse(const void *data, size_t size, const char *label, wx_npz **out,
                       wx_err *err)
{
    *out = NULL;
    wx_npz *z = calloc(1, sizeof *z);
    if (!z) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", label);
    z->image = malloc(size ? size : 1);
    z->label = strdup(label);
    if (!z->image || !z->label) {
        wx_npz_free(z);
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", label);
    }
    if (size) memcpy(z->image, data, size);
    z->size = size;
    wx_status st = parse_archive(z, err);
    if (st) {
        wx_npz_free(z);
        return st;
    }
    *out = z;
    return WX_OK;
}

wx_status wx_npz_load(const char *path, wx_npz **out, wx_err *err)
{
    *out = NULL;
    char *image = NULL;
    size_t size = 0;
    wx_status st = wx_read_file(path, &image, &size, err);
    if (st) return st;
    st = wx_npz_parse(image, size, path, out, err);
    free(image);
    return st;
}

void wx_npz_free(wx_npz *z)
{
    if (!z) return;
    for (int i = 0; i < z->n_arrays; i++) free(z->names[i]);
    free(z->names);
    free(z->arrays);
    wx_zip_close(&z->zip);
    free(z->image);
    free(z->label);
    free(z);
}

int wx_npz_count(const wx_npz *z) { return z->n_arrays; }

const wx_npy_array *wx_npz_at(const wx_npz *z, int index)
{
    return index >= 0 && index < z->n_arrays ? &z->arrays[index] : NULL;
}

const wx_npy_array *wx_npz_find(const wx_npz *z, const char *name)
{
    for (int i = 0; i < z->n_arrays; i++)
        if (strcmp(z->arrays[i].name, name) == 0) return &z->arrays[i];
    return NULL;
}

/* ---- conversion -------------------------------------------------------------------------- */

/* Where element i in C order (row-major over the shape) is stored. */
static size_t storage_index(const wx_npy_array *a, size_t i)
{
    if (!a->fortran_order || a->ndim < 2) return i;
    size_t at = 0, stride = 1, rest = i;
    int64_t idx[WX_NPY_MAX_DIMS];
    for (int d = a->ndim - 1; d >= 0; d--) {   /* row-major digits of i */
        idx[d] = (int64_t)(rest % (size_t)a->shape[d]);
        rest /= (size_t)a->shape[d];
    }
    for (int d = 0; d < a->ndim; d++) {   /* column-major: the first index varies fastest */
        at += (size_t)idx[d] * stride;
        stride *= (size_t)a->shape[d];
    }
    return at;
}

static double element_f64(const wx_npy_array *a, size_t i)
{
    const uint8_t *p = a->data + storage_index(a, i) * dtype_size(a->dtype);
    union { double f8; float f4; uint16_t u2; int64_t i8; int32_t i4; int16_t i2; int8_t i1;
            uint64_t u8; uint32_t u4; uint8_t u1; } v;
    memcpy(&v, p, dtype_size(a->dtype));
    switch (a->dtype) {
    case WX_NPY_F8: return v.f8;
    case WX_NPY_F4: return v.f4;
    case WX_NPY_F2: return wx_f16_to_f32(v.u2);
    case WX_NPY_I8: return (double)v.i8;
    case WX_NPY_I4: return v.i4;
    case WX_NPY_I2: return v.i2;
    case WX_NPY_I1: return v.i1;
    case WX_NPY_U8: return (double)v.u8;
    case WX_NPY_U4: return v.u4;
    case WX_NPY_U2: return v.u2;
    case WX_NPY_U1: return v.u1;
    case WX_NPY_B1: return v.u1 != 0;
    }
    return 0.0;
}

static void shape_text(int ndim, const int64_t *shape, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, ndim == 1 ? ",)" : ")");
}

static wx_status find_array(const wx_npz *z, const char *name, const wx_npy_array **a, wx_err *err)
{
    *a = wx_npz_find(z, name);
    if (!*a) return wx_fail(err, WX_ERR_FORMAT, "%s: array %s is missing", z->label, name);
    return WX_OK;
}

wx_status wx_npz_read_f64(const wx_npz *z, const char *name, int ndim, const int64_t *shape,
                          double *dst, wx_err *err)
{
    const wx_npy_array *a;
    wx_status st = find_array(z, name, &a, err);
    if (st) return st;
    bool same = a->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) same = a->shape[d] == shape[d];
    if (!same) {
        char got[128], want[128];
        shape_text(a->ndim, a->shape, got, sizeof got);
        shape_text(ndim, shape, want, sizeof want);
        return wx_fail(err, WX_ERR_FORMAT, "%s: array %s has shape %s, %s expected", z->label,
                       name, got, want);
    }
    for (int64_t i = 0; i < a->nelem; i++) dst[i] = element_f64(a, (size_t)i);
    return WX_OK;
}

wx_status wx_npz_get_f64(const wx_npz *z, const char *name, double **data, int *ndim,
                         int64_t *shape, wx_err *err)
{
    *data = NULL;
    const wx_npy_array *a;
    wx_status st = find_array(z, name, &a, err);
    if (st) return st;
    double *v = malloc((size_t)(a->nelem ? a->nelem : 1) * sizeof *v);
    if (!v) return wx_fail(err, WX_ERR_NOMEM, "%s: array %s: out of memory", z->label, name);
    for (int64_t i = 0; i < a->nelem; i++) v[i] = element_f64(a, (size_t)i);
    *ndim = a->ndim;
    memcpy(shape, a->shape, (size_t)a->ndim * sizeof *shape);
    *data = v;
    return WX_OK;
}
