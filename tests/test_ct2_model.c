/* test_ct2_model.c — CTranslate2 model directory reader: the real tiny.en model (shapes,
 * aliases, scalars, config.json), the synthetic seed from tools/gen_ct2_seed.py (every dtype
 * through wx_ct2_model_read_f32), binary versions 1–5 built in memory, and corrupted images
 * (every truncation of the seed, bad versions, ranks, shapes, sizes, names, aliases). */
#include "io/ct2_model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wx_test.h"

/* ---- a little-endian image builder for hand-made model.bin files ---- */

typedef struct image {
    unsigned char *p;
    size_t n, cap;
} image;

static void put(image *im, const void *data, size_t n)
{
    if (im->n + n > im->cap) {
        im->cap = (im->n + n) * 2 + 256;
        im->p = realloc(im->p, im->cap);
        if (!im->p) abort();
    }
    if (n) memcpy(im->p + im->n, data, n);
    im->n += n;
}

static void put_u8(image *im, uint32_t v) { unsigned char b = (unsigned char)v; put(im, &b, 1); }
static void put_u16(image *im, uint32_t v) { put_u8(im, v & 0xff); put_u8(im, v >> 8); }
static void put_u32(image *im, uint32_t v) { put_u16(im, v & 0xffff); put_u16(im, v >> 16); }

static void put_str(image *im, const char *s)
{
    put_u16(im, (uint32_t)strlen(s) + 1);
    put(im, s, strlen(s) + 1);
}

static void put_header(image *im, uint32_t version, uint32_t n_vars)
{
    put_u32(im, version);
    if (version >= 2) {
        put_str(im, "TestSpec");
        put_u32(im, 2);
    }
    put_u32(im, n_vars);
}

/* One variable; for version < 4 `dtype_or_item` is the item size and `count` the element
 * count, otherwise the dtype id and byte count. `data` holds `nbytes` bytes. */
static void put_var(image *im, const char *name, int rank, const uint32_t *dims,
                    uint32_t dtype_or_item, uint32_t count, const void *data, size_t nbytes)
{
    put_str(im, name);
    put_u8(im, (uint32_t)rank);
    for (int d = 0; d < rank; d++) put_u32(im, dims[d]);
    put_u8(im, dtype_or_item);
    put_u32(im, count);
    put(im, data, nbytes);
}

static void put_f32_var(image *im, const char *name, uint32_t n, const float *data)
{
    put_var(im, name, 1, &n, WX_CT2_FLOAT32, n * 4, data, n * 4);
}

/* Parses an image that must be rejected; checks the message names the label and says `what`. */
static void expect_reject(const image *im, const char *what, const char *case_name)
{
    wx_err err = {{0}};
    wx_ct2_model *m = NULL;
    wx_status st = wx_ct2_model_parse(im->p, im->n, "bad/model.bin", &m, &err);
    CHECK_MSG(st != WX_OK && m == NULL, "%s: accepted", case_name);
    CHECK_MSG(strstr(err.msg, "bad/model.bin") != NULL, "%s: message lacks the label: %s",
              case_name, err.msg);
    CHECK_MSG(strstr(err.msg, what) != NULL, "%s: message lacks '%s': %s", case_name, what,
              err.msg);
    wx_ct2_model_free(m);
}

static wx_ct2_model *parse_ok(const image *im, const char *case_name)
{
    wx_err err = {{0}};
    wx_ct2_model *m = NULL;
    wx_status st = wx_ct2_model_parse(im->p, im->n, case_name, &m, &err);
    CHECK_MSG(st == WX_OK && m != NULL, "%s: %s", case_name, err.msg);
    return m;
}

/* Independent half -> float: sign * 2^(e-15) * (1 + m/1024), subnormals 2^-14 * m/1024. */
static float half_by_formula(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 0x1f, man = h & 0x3ff;
    double v = e == 0 ? ldexp(man / 1024.0, -14)
             : e == 31 ? (man ? NAN : INFINITY)
                       : ldexp(1.0 + man / 1024.0, e - 15);
    return (float)(sign ? -v : v);
}

/* ---- the real tiny.en model ---- */

static void check_shape(const wx_ct2_model *m, const char *name, int rank, const int64_t *dims,
                        enum wx_ct2_dtype dtype)
{
    const wx_ct2_var *v = wx_ct2_model_find(m, name);
    CHECK_MSG(v != NULL, "missing %s", name);
    if (!v) return;
    CHECK_MSG(v->rank == rank && v->dtype == dtype, "%s: rank %d dtype %d", name, v->rank,
              (int)v->dtype);
    for (int d = 0; d < rank && d < v->rank; d++)
        CHECK_MSG(v->dims[d] == dims[d], "%s dim %d = %lld", name, d, (long long)v->dims[d]);
}

static void test_tiny_en(void)
{
    const char *dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    wx_err err = {{0}};
    wx_ct2_model *m = NULL;
    double t0 = wx_now();
    wx_status st = wx_ct2_model_load(dir, &m, &err);
    double t1 = wx_now();
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    if (st) return;
    printf("tiny.en: model.bin + config.json loaded in %.1f ms\n", (t1 - t0) * 1e3);

    CHECK(strcmp(wx_ct2_model_spec(m), "WhisperSpec") == 0);
    CHECK(wx_ct2_model_binary_version(m) == 6);
    CHECK(wx_ct2_model_spec_revision(m) == 3);
    CHECK(wx_ct2_model_var_count(m) == 148);
    check_shape(m, "encoder/conv1/weight", 3, (int64_t[]){384, 80, 3}, WX_CT2_FLOAT16);
    check_shape(m, "decoder/embeddings/weight", 2, (int64_t[]){51864, 384}, WX_CT2_FLOAT16);
    check_shape(m, "encoder/position_encodings/encodings", 2, (int64_t[]){1500, 384},
                WX_CT2_FLOAT16);
    const wx_ct2_var *emb = wx_ct2_model_find(m, "decoder/embeddings/weight");
    CHECK(emb && wx_ct2_model_find(m, "decoder/projection/weight") == emb);
    CHECK(wx_ct2_model_find(m, "decoder/no_such_weight") == NULL);
    CHECK(wx_ct2_model_scalar_int(m, "decoder/num_heads", -1) == 6);
    CHECK(wx_ct2_model_scalar_int(m, "encoder/num_heads", -1) == 6);
    CHECK(wx_ct2_model_scalar_int(m, "decoder/alignment_layer", 0) == -1);
    CHECK(wx_ct2_model_scalar_int(m, "decoder/absent", 42) == 42);
    int aligned = 1;
    for (int i = 0; i < wx_ct2_model_var_count(m); i++)
        aligned &= ((uintptr_t)wx_ct2_model_var_at(m, i)->data % 64) == 0;
    CHECK_MSG(aligned, "variable data not 64-byte aligned");

    /* read_f32 of a float16 tensor equals the bit-level formula; exact (tolerance 0):
     * every half is exactly representable in float. */
    const wx_ct2_var *conv = wx_ct2_model_find(m, "encoder/conv1/weight");
    int64_t n = conv ? wx_ct2_var_nelem(conv) : 0;
    float *buf = malloc((size_t)(n ? n : 1) * sizeof *buf);
    CHECK(conv && n == 384 * 80 * 3 && buf);
    if (conv && buf && wx_ct2_model_read_f32(m, "encoder/conv1/weight", buf, n, &err) == WX_OK) {
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, (const unsigned char *)conv->data + 2 * i, 2);
            bad += buf[i] != half_by_formula(h);
        }
        CHECK_MSG(bad == 0, "%lld float16 values differ", (long long)bad);
    }
    CHECK(wx_ct2_model_read_f32(m, "encoder/conv1/weight", buf, n - 1, &err) ==
          WX_ERR_INVALID_INPUT);
    free(buf);

    const wx_ct2_config *c = wx_ct2_model_config(m);
    /* tiny.en's config.json holds 90 suppress_ids (1, 2, 7, 8, 9, ...). */
    CHECK(c->n_suppress_ids == 90);
    CHECK(c->n_suppress_ids >= 3 && c->suppress_ids[0] == 1 && c->suppress_ids[1] == 2 &&
          c->suppress_ids[2] == 7);
    CHECK(c->n_suppress_ids_begin == 2 && c->suppress_ids_begin[0] == 220 &&
          c->suppress_ids_begin[1] == 50256);
    CHECK(c->n_lang_ids == 98 && c->lang_ids[0] == 50259);
    CHECK(c->n_alignment_heads == 8);
    CHECK(c->n_alignment_heads == 8 && c->alignment_heads[0][0] == 1 &&
          c->alignment_heads[0][1] == 0 && c->alignment_heads[7][0] == 3 &&
          c->alignment_heads[7][1] == 4);
    wx_ct2_model_free(m);
}

/* ---- the synthetic seed ---- */

static char *seed_path(void)
{
    static char path[1024];
    snprintf(path, sizeof path, "%s/ct2_tiny_model.bin",
             wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    return path;
}

static void expect_values(const wx_ct2_model *m, const char *name, const float *want, int n)
{
    float got[16];
    wx_err err = {{0}};
    wx_status st = wx_ct2_model_read_f32(m, name, got, n, &err);
    CHECK_MSG(st == WX_OK, "%s: %s", name, err.msg);
    if (st) return;
    /* Exact (tolerance 0): the generator picked values representable in every dtype and
     * power-of-two scales, so conversion and q / scale are exact in float. */
    for (int i = 0; i < n; i++)
        CHECK_MSG(got[i] == want[i], "%s[%d] = %.9g, want %.9g", name, i, got[i], want[i]);
}

static void check_seed_values(const wx_ct2_model *m)
{
    CHECK(strcmp(wx_ct2_model_spec(m), "TinySpec") == 0);
    CHECK(wx_ct2_model_binary_version(m) == 6 && wx_ct2_model_spec_revision(m) == 1);
    CHECK(wx_ct2_model_var_count(m) == 10);
    expect_values(m, "f32/weight", (float[]){1.5f, -2, 0.25f, 3, 4, -0.125f}, 6);
    expect_values(m, "f16/weight", (float[]){0.5f, -1.5f, 65504, 0x1p-24f}, 4);
    expect_values(m, "bf16/weight", (float[]){1, -2.5f, 0x1p100f, 0.15625f}, 4);
    /* int8 rows: q / 64 and q / 0.5 */
    float int8_want[8] = {127 / 64.f, -127 / 64.f, 1, 0, -2, 4, -6, 8};
    expect_values(m, "int8/weight", int8_want, 8);
    expect_values(m, "proj/weight", int8_want, 8);        /* alias, and its _scale alias */
    expect_values(m, "int16/weight", (float[]){-8192, 250, 32767 / 4.f}, 3);
    expect_values(m, "int32/ids", (float[]){-7, 0, 16777216}, 3);
    CHECK(wx_ct2_model_find(m, "proj/weight_scale") == wx_ct2_model_find(m, "int8/weight_scale"));
    CHECK(wx_ct2_model_scalar_int(m, "num_heads", -1) == 6);
    CHECK(wx_ct2_model_scalar_int(m, "flag", -1) == 1);
    CHECK(wx_ct2_model_scalar_int(m, "f32/weight", -1) == -1);   /* not a scalar */
    const wx_ct2_var *v = wx_ct2_model_find(m, "int8/weight");
    CHECK(v && v->rank == 2 && v->dims[0] == 2 && v->dims[1] == 4 && v->nbytes == 8 &&
          v->dtype == WX_CT2_INT8 && strcmp(v->name, "int8/weight") == 0);
    const wx_ct2_config *c = wx_ct2_model_config(m);
    CHECK(c->n_suppress_ids == 0 && c->n_lang_ids == 0 && c->n_alignment_heads == 0);
}

static void test_seed(const char *seed, size_t size)
{
    wx_err err = {{0}};
    wx_ct2_model *m = NULL;
    CHECK_MSG(wx_ct2_model_parse(seed, size, "seed", &m, &err) == WX_OK, "%s", err.msg);
    if (m) check_seed_values(m);
    wx_ct2_model_free(m);
}

/* Every proper prefix of the seed is a truncated file. */
static void test_truncations(const char *seed, size_t size)
{
    int bad = 0;
    for (size_t len = 0; len < size; len++) {
        wx_err err = {{0}};
        wx_ct2_model *m = NULL;
        char *copy = malloc(len ? len : 1);    /* exact-size copy so ASan sees over-reads */
        memcpy(copy, seed, len);
        wx_status st = wx_ct2_model_parse(copy, len, "cut/model.bin", &m, &err);
        bool rejected = st != WX_OK && !m && strstr(err.msg, "cut/model.bin") &&
                        strstr(err.msg, "truncated");
        if (!rejected && bad++ < 5)
            fprintf(stderr, "prefix %zu: status %d: %s\n", len, (int)st, err.msg);
        wx_ct2_model_free(m);
        free(copy);
    }
    CHECK_MSG(bad == 0, "%d of %zu prefixes not rejected as truncated", bad, size);
}

/* ---- older binary versions ---- */

/* The same two variables in each version's layout; float16 is only expressible from v4. */
static void test_versions(void)
{
    float f[3] = {1.0f, -2.0f, 0.5f};
    int8_t q[2] = {10, -20};
    for (uint32_t version = 1; version <= 6; version++) {
        image im = {0};
        put_header(&im, version, 3);
        uint32_t n = 3, two = 2;
        if (version >= 4) {
            put_var(&im, "w", 1, &n, WX_CT2_FLOAT32, 12, f, 12);
            put_var(&im, "q/weight", 1, &two, WX_CT2_INT8, 2, q, 2);
            put_var(&im, "q/weight_scale", 0, NULL, WX_CT2_FLOAT32, 4, (float[]){10}, 4);
        } else {
            put_var(&im, "w", 1, &n, 4, 3, f, 12);             /* item size 4, 3 elements */
            put_var(&im, "q/weight", 1, &two, 1, 2, q, 2);
            put_var(&im, "q/weight_scale", 0, NULL, 4, 1, (float[]){10}, 4);
        }
        if (version >= 3) {
            put_u32(&im, 1);
            put_str(&im, "alias");
            put_str(&im, "w");
        }
        char label[32];
        snprintf(label, sizeof label, "v%u", version);
        wx_ct2_model *m = parse_ok(&im, label);
        if (m) {
            CHECK(wx_ct2_model_binary_version(m) == (int)version);
            CHECK(strcmp(wx_ct2_model_spec(m), version >= 2 ? "TestSpec" : "") == 0);
            CHECK(wx_ct2_model_spec_revision(m) == (version >= 2 ? 2 : 1));
            expect_values(m, "w", f, 3);
            expect_values(m, "q/weight", (float[]){1, -2}, 2);
            CHECK((wx_ct2_model_find(m, "alias") != NULL) == (version >= 3));
        }
        wx_ct2_model_free(m);
        free(im.p);
    }
    /* Versions 1-3 map item size 2 to int16, as CTranslate2 does. */
    image im = {0};
    uint32_t two = 2;
    put_header(&im, 3, 1);
    put_var(&im, "h", 1, &two, 2, 2, (int16_t[]){-3, 300}, 4);
    put_u32(&im, 0);
    wx_ct2_model *m = parse_ok(&im, "v3 int16");
    if (m) {
        CHECK(wx_ct2_model_find(m, "h")->dtype == WX_CT2_INT16);
        expect_values(m, "h", (float[]){-3, 300}, 2);
    }
    wx_ct2_model_free(m);
    free(im.p);
}

/* ---- corrupted images ---- */

static void test_bad_versions(void)
{
    uint32_t versions[] = {0, 7, 0x46554747 /* "GGUF" */, 0xffffffff};
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
        image im = {0};
        put_header(&im, versions[i], 0);
        put_u32(&im, 0);
        expect_reject(&im, "binary version", "bad version");
        free(im.p);
    }
}

/* A v6 image with one variable described by the arguments and an empty alias table. */
static void one_var_image(image *im, const char *name, int rank, const uint32_t *dims,
                          uint32_t dtype, uint32_t nbytes, size_t data_bytes)
{
    unsigned char *data = calloc(data_bytes ? data_bytes : 1, 1);
    put_header(im, 6, 1);
    put_var(im, name, rank, dims, dtype, nbytes, data, data_bytes);
    put_u32(im, 0);
    free(data);
}

static void test_bad_variables(void)
{
    image im = {0};
    uint32_t dims[9] = {2, 3, 4, 5, 6, 7, 8, 9, 10};
    one_var_image(&im, "deep", 9, dims, WX_CT2_INT8, 0, 0);
    expect_reject(&im, "rank 9", "rank above 8");
    im.n = 0;
    uint32_t big[4] = {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff};
    one_var_image(&im, "huge", 4, big, WX_CT2_FLOAT32, 16, 16);
    expect_reject(&im, "overflow", "dims product overflow");
    im.n = 0;
    uint32_t wrap[3] = {0x40000000, 0x40000000, 4};   /* 2^62 elements: bytes wrap at 2^64 */
    one_var_image(&im, "wrap", 3, wrap, WX_CT2_FLOAT32, 0, 0);
    expect_reject(&im, "stores 0 bytes", "byte count wraps");
    im.n = 0;
    uint32_t d2[2] = {2, 3};
    one_var_image(&im, "short", 2, d2, WX_CT2_FLOAT16, 10, 10);
    expect_reject(&im, "'short' stores 10 bytes", "nbytes mismatch");
    im.n = 0;
    one_var_image(&im, "big", 2, d2, WX_CT2_FLOAT32, 24, 12);
    expect_reject(&im, "truncated in variable 'big' (needs 24 bytes", "data past the end");
    im.n = 0;
    one_var_image(&im, "odd", 2, d2, 9, 6, 6);
    expect_reject(&im, "dtype id 9", "unknown dtype");
    im.n = 0;
    put_header(&im, 6, 0xffffffff);
    expect_reject(&im, "claims 4294967295 variables", "variable count");
    im.n = 0;
    put_header(&im, 6, 1);
    put_u16(&im, 3);
    put(&im, "abc", 3);                                 /* no NUL */
    put_u8(&im, 0);
    put_u8(&im, WX_CT2_INT8);
    put_u32(&im, 1);
    put_u8(&im, 0);
    put_u32(&im, 0);
    expect_reject(&im, "not NUL-terminated", "name without NUL");
    im.n = 0;
    put_header(&im, 6, 1);
    put_u16(&im, 0);                                    /* empty name field */
    put(&im, "\0\0\0\0\0\0\0\0\0\0\0", 11);
    expect_reject(&im, "not NUL-terminated", "zero-length name");
    im.n = 0;
    put_header(&im, 6, 1);
    put_u16(&im, 4);
    put(&im, "a\0b", 4);                                /* NUL inside */
    put(&im, "\0\0\1\0\0\0\0", 7);
    put_u32(&im, 0);
    expect_reject(&im, "contains a NUL", "embedded NUL");
    im.n = 0;
    one_var_image(&im, "x", 0, NULL, WX_CT2_INT8, 1, 1);
    put_u8(&im, 0);
    expect_reject(&im, "1 bytes of trailing garbage", "trailing byte");
    free(im.p);
}

static void test_bad_names(void)
{
    float f = 1;
    image im = {0};
    put_header(&im, 6, 2);
    put_f32_var(&im, "a", 1, &f);
    put_f32_var(&im, "a", 1, &f);
    put_u32(&im, 0);
    expect_reject(&im, "duplicate variable 'a'", "duplicate variable");
    im.n = 0;
    put_header(&im, 6, 1);
    put_f32_var(&im, "a", 1, &f);
    put_u32(&im, 1);
    put_str(&im, "b");
    put_str(&im, "missing");
    expect_reject(&im, "alias 'b' points to missing variable 'missing'", "dangling alias");
    im.n = 0;
    put_header(&im, 6, 1);
    put_f32_var(&im, "a", 1, &f);
    put_u32(&im, 1);
    put_str(&im, "a");
    put_str(&im, "a");
    expect_reject(&im, "duplicate name 'a'", "alias shadows a variable");
    im.n = 0;
    put_header(&im, 6, 1);
    put_f32_var(&im, "a", 1, &f);
    put_u32(&im, 2);
    put_str(&im, "c");
    put_str(&im, "b");                                  /* alias declared later */
    put_str(&im, "b");
    put_str(&im, "a");
    expect_reject(&im, "alias 'c' points to missing variable 'b'", "forward alias");
    im.n = 0;
    put_header(&im, 6, 1);
    put_f32_var(&im, "a", 1, &f);
    put_u32(&im, 2);
    put_str(&im, "b");
    put_str(&im, "a");
    put_str(&im, "c");
    put_str(&im, "b");                                  /* alias of an earlier alias */
    wx_ct2_model *m = parse_ok(&im, "alias chain");
    CHECK(m && wx_ct2_model_find(m, "c") == wx_ct2_model_find(m, "a"));
    wx_ct2_model_free(m);
    free(im.p);
}

/* Dequantization needs a scale that fits the rows; read_f32 refuses otherwise. */
static void test_bad_scales(void)
{
    int8_t q[4] = {1, 2, 3, 4};
    uint32_t d[2] = {2, 2}, three = 3;
    image im = {0};
    put_header(&im, 6, 3);
    put_var(&im, "a/weight", 2, d, WX_CT2_INT8, 4, q, 4);
    put_var(&im, "b/weight", 2, d, WX_CT2_INT8, 4, q, 4);
    put_f32_var(&im, "b/weight_scale", three, (float[]){1, 2, 3});
    put_u32(&im, 0);
    wx_ct2_model *m = parse_ok(&im, "scales");
    float out[4];
    wx_err err = {{0}};
    if (m) {
        CHECK(wx_ct2_model_read_f32(m, "a/weight", out, 4, &err) == WX_ERR_FORMAT);
        CHECK(strstr(err.msg, "no scale variable 'a/weight_scale'") != NULL);
        CHECK(wx_ct2_model_read_f32(m, "b/weight", out, 4, &err) == WX_ERR_FORMAT);
        CHECK(strstr(err.msg, "scale of 'b/weight'") != NULL);
        CHECK(wx_ct2_model_read_f32(m, "c", out, 4, &err) == WX_ERR_FORMAT);
        CHECK(strstr(err.msg, "no variable 'c'") != NULL);
    }
    wx_ct2_model_free(m);
    free(im.p);
}

/* Nothing in the reader is sized for tiny: a large-v3 style conv1 (1280, 128, 3) float16
 * and its 32 layers' worth of names parse like any other. */
static void test_large_v3_header(void)
{
    uint32_t dims[3] = {1280, 128, 3};
    size_t nbytes = 1280 * 128 * 3 * 2;
    unsigned char *data = calloc(nbytes, 1);
    image im = {0};
    put_header(&im, 6, 33);
    put_var(&im, "encoder/conv1/weight", 3, dims, WX_CT2_FLOAT16, (uint32_t)nbytes, data, nbytes);
    for (int i = 0; i < 32; i++) {
        char name[96];
        int16_t heads = 20;
        snprintf(name, sizeof name, "decoder/layer_%d/self_attention/num_heads", i);
        put_var(&im, name, 0, NULL, WX_CT2_INT16, 2, &heads, 2);
    }
    put_u32(&im, 0);
    wx_ct2_model *m = parse_ok(&im, "large-v3");
    if (m) {
        check_shape(m, "encoder/conv1/weight", 3, (int64_t[]){1280, 128, 3}, WX_CT2_FLOAT16);
        CHECK(wx_ct2_model_scalar_int(m, "decoder/layer_31/self_attention/num_heads", 0) == 20);
    }
    wx_ct2_model_free(m);
    free(data);
    free(im.p);
}

/* ---- model directories ---- */

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static wx_status load_dir(const char *dir, wx_err *err)
{
    wx_ct2_model *m = NULL;
    wx_status st = wx_ct2_model_load(dir, &m, err);
    CHECK((st == WX_OK) == (m != NULL));
    wx_ct2_model_free(m);
    return st;
}

static void expect_config_error(const char *dir, const char *cfg, const char *json,
                                const char *what)
{
    wx_err err = {{0}};
    write_file(cfg, json, strlen(json));
    wx_status st = load_dir(dir, &err);
    CHECK_MSG(st != WX_OK && strstr(err.msg, "config.json") && strstr(err.msg, what),
              "config %s: status %d: %s", json, (int)st, err.msg);
}

static void test_directories(const char *seed, size_t size)
{
    wx_err err = {{0}};
    CHECK(load_dir("/nonexistent/model/dir", &err) == WX_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent/model/dir") != NULL);

    char dir[] = "/tmp/wx_ct2_test_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(!"mkdtemp"); return; }
    char bin[64], cfg[64];
    snprintf(bin, sizeof bin, "%s/model.bin", dir);
    snprintf(cfg, sizeof cfg, "%s/config.json", dir);

    CHECK(load_dir(dir, &err) == WX_ERR_IO && strstr(err.msg, "model.bin"));
    write_file(bin, seed, size);
    CHECK(load_dir(dir, &err) == WX_ERR_IO && strstr(err.msg, "config.json"));
    expect_config_error(dir, cfg, "{\"suppress_ids\": [1, \"x\"]}", "suppress_ids");
    expect_config_error(dir, cfg, "{\"lang_ids\": 5}", "lang_ids");
    expect_config_error(dir, cfg, "{\"alignment_heads\": [[1, 2, 3]]}", "alignment_heads");
    expect_config_error(dir, cfg, "{\"alignment_heads\": [[1, -2]]}", "alignment_heads");
    expect_config_error(dir, cfg, "[1, 2]", "not a JSON object");
    expect_config_error(dir, cfg, "{\"suppress_ids\": [1,", "invalid JSON");

    const char *ok = "{\"suppress_ids\": [5, 6], \"alignment_heads\": [[0, 1]], \"x\": 1}";
    write_file(cfg, ok, strlen(ok));
    wx_ct2_model *m = NULL;
    CHECK_MSG(wx_ct2_model_load(dir, &m, &err) == WX_OK, "%s", err.msg);
    if (m) {
        const wx_ct2_config *c = wx_ct2_model_config(m);
        CHECK(c->n_suppress_ids == 2 && c->suppress_ids[1] == 6);
        CHECK(c->n_suppress_ids_begin == 0 && c->n_lang_ids == 0);
        CHECK(c->n_alignment_heads == 1 && c->alignment_heads[0][1] == 1);
        CHECK(strcmp(wx_ct2_model_spec(m), "TinySpec") == 0);
    }
    wx_ct2_model_free(m);

    write_file(bin, seed, size / 2);
    CHECK(load_dir(dir, &err) == WX_ERR_FORMAT && strstr(err.msg, bin) &&
          strstr(err.msg, "truncated"));
    write_file(bin, "", 0);
    CHECK(load_dir(dir, &err) == WX_ERR_FORMAT && strstr(err.msg, bin));
    CHECK(load_dir(bin, &err) == WX_ERR_IO && strstr(err.msg, "not a directory"));
    unlink(bin);
    unlink(cfg);
    rmdir(dir);
}

int main(void)
{
    char *seed = NULL;
    size_t size = 0;
    wx_err err = {{0}};
    if (wx_read_file(seed_path(), &seed, &size, &err) != WX_OK) {
        fprintf(stderr, "%s (run tools/gen_ct2_seed.py)\n", err.msg);
        return 1;
    }
    double t0 = wx_now();
    test_tiny_en();
    test_seed(seed, size);
    test_truncations(seed, size);
    test_versions();
    test_bad_versions();
    test_bad_variables();
    test_bad_names();
    test_bad_scales();
    test_large_v3_header();
    test_directories(seed, size);
    printf("test_ct2_model: %.2f s\n", wx_now() - t0);
    free(seed);
    return wx_test_finish("test_ct2_model");
}
