/* test_npz.c — the .npz / .npy reader (src/io/npz.h) on archives numpy wrote (np.savez,
 * np.savez_compressed, .npy format 2.0 and 3.0; tests/fixtures/npz_*.npz from
 * tools/gen_npz_fixtures.py) and on hand-broken ones, each refused with a message naming the
 * file and the array. Values are exact: every stored number is representable in float64. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npz.h"
#include "wx_test.h"

static void fixture_path(const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"), name);
}

static void check_shape(const wx_npy_array *a, enum wx_npy_dtype dtype, int ndim,
                        const int64_t *shape)
{
    CHECK_MSG(a != NULL, "array missing");
    if (!a) return;
    CHECK_MSG(a->dtype == dtype, "%s: dtype %s", a->name, wx_npy_dtype_name(a->dtype));
    CHECK_MSG(a->ndim == ndim, "%s: ndim %d", a->name, a->ndim);
    for (int d = 0; d < ndim && d < a->ndim; d++) CHECK(a->shape[d] == shape[d]);
}

static void check_good(const char *file)
{
    char path[4096];
    fixture_path(file, path, sizeof path);
    wx_npz *z = NULL;
    wx_err err = {{0}};
    wx_status st = wx_npz_load(path, &z, &err);
    CHECK_MSG(st == WX_OK, "%s: %s", file, err.msg);
    if (st) return;
    CHECK(wx_npz_count(z) == 5);
    check_shape(wx_npz_find(z, "f8"), WX_NPY_F8, 2, (int64_t[]){3, 4});
    check_shape(wx_npz_find(z, "f4"), WX_NPY_F4, 1, (int64_t[]){5});
    check_shape(wx_npz_find(z, "i8"), WX_NPY_I8, 3, (int64_t[]){2, 2, 2});
    check_shape(wx_npz_find(z, "i4"), WX_NPY_I4, 0, NULL);
    check_shape(wx_npz_find(z, "u1"), WX_NPY_U1, 1, (int64_t[]){0});
    CHECK(wx_npz_find(z, "f8.npy") == NULL);
    double f8[12], f4[5], i8[8], i4[1];
    CHECK(wx_npz_read_f64(z, "f8", 2, (int64_t[]){3, 4}, f8, &err) == WX_OK);
    for (int i = 0; i < 12; i++) CHECK(f8[i] == i * 0.5 - 1);
    CHECK(wx_npz_read_f64(z, "f4", 1, (int64_t[]){5}, f4, &err) == WX_OK);
    for (int i = 0; i < 5; i++) CHECK(f4[i] == i / 4.0);
    CHECK(wx_npz_read_f64(z, "i8", 3, (int64_t[]){2, 2, 2}, i8, &err) == WX_OK);
    for (int i = 0; i < 8; i++) CHECK(i8[i] == i - 3);
    CHECK(wx_npz_read_f64(z, "i4", 0, NULL, i4, &err) == WX_OK && i4[0] == -7);
    double *v = NULL;
    int ndim = -1;
    int64_t shape[WX_NPY_MAX_DIMS];
    CHECK(wx_npz_get_f64(z, "i8", &v, &ndim, shape, &err) == WX_OK);
    CHECK(ndim == 3 && shape[0] == 2 && shape[1] == 2 && shape[2] == 2 && v && v[7] == 4);
    free(v);
    CHECK(wx_npz_get_f64(z, "u1", &v, &ndim, shape, &err) == WX_OK && ndim == 1 && shape[0] == 0);
    free(v);
    /* the caller's shape is checked; a missing array is named */
    CHECK(wx_npz_read_f64(z, "f8", 2, (int64_t[]){4, 3}, f8, &err) == WX_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "f8") && strstr(err.msg, "(3, 4)") && strstr(err.msg, file), "%s", err.msg);
    CHECK(wx_npz_read_f64(z, "nope", 1, (int64_t[]){1}, f8, &err) == WX_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "nope") && strstr(err.msg, "missing"), "%s", err.msg);
    wx_npz_free(z);
}

static void check_bad(const char *file, wx_status want, const char *words)
{
    char path[4096];
    fixture_path(file, path, sizeof path);
    wx_npz *z = NULL;
    wx_err err = {{0}};
    wx_status st = wx_npz_load(path, &z, &err);
    CHECK_MSG(st == want, "%s: status %s (%s)", file, wx_status_name(st), err.msg);
    CHECK(z == NULL);
    CHECK_MSG(strstr(err.msg, file) && strstr(err.msg, "array x") && strstr(err.msg, words),
              "%s: message '%s' lacks '%s'", file, err.msg, words);
    wx_npz_free(z);
}

static void check_not_npz(void)
{
    wx_npz *z = NULL;
    wx_err err = {{0}};
    CHECK(wx_npz_parse("hello", 5, "mem.npz", &z, &err) == WX_ERR_FORMAT && !z);
    CHECK_MSG(strstr(err.msg, "mem.npz"), "%s", err.msg);
    CHECK(wx_npz_parse("", 0, "empty.npz", &z, &err) == WX_ERR_FORMAT && !z);
    char path[4096];
    fixture_path("npz_absent.npz", path, sizeof path);
    CHECK(wx_npz_load(path, &z, &err) != WX_OK && !z);
}

/* Column-major storage reads back in C order: arange(6).reshape(2, 3) stored as 0 3 1 4 2 5. */
static void check_fortran(void)
{
    char path[4096];
    fixture_path("npz_fortran.npz", path, sizeof path);
    wx_npz *z = NULL;
    wx_err err = {{0}};
    double v[6];
    int64_t shape[2] = {2, 3};
    CHECK_MSG(wx_npz_load(path, &z, &err) == WX_OK, "%s", err.msg);
    if (!z) return;
    CHECK(wx_npz_find(z, "x") && wx_npz_find(z, "x")->fortran_order);
    CHECK(wx_npz_read_f64(z, "x", 2, shape, v, &err) == WX_OK);
    for (int i = 0; i < 6; i++) CHECK(v[i] == i);
    wx_npz_free(z);
}

int main(void)
{
    check_good("npz_plain.npz");
    check_good("npz_compressed.npz");
    check_good("npz_v2.npz");
    check_good("npz_v3.npz");
    check_fortran();
    check_bad("npz_bad_bigendian.npz", WX_ERR_UNSUPPORTED, "big-endian");
    check_bad("npz_bad_object.npz", WX_ERR_UNSUPPORTED, "object");
    check_bad("npz_bad_truncated.npz", WX_ERR_FORMAT, "truncated");
    check_bad("npz_bad_shape.npz", WX_ERR_FORMAT, "truncated");
    check_bad("npz_bad_trailing.npz", WX_ERR_FORMAT, "do not match");
    check_bad("npz_bad_version.npz", WX_ERR_UNSUPPORTED, "version 4.0");
    check_bad("npz_bad_header.npz", WX_ERR_FORMAT, "header");
    check_not_npz();
    return wx_test_finish("test_npz");
}
