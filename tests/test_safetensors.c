/* test_safetensors.c — the safetensors reader: values of F32/F16/BF16 tensors and metadata
 * from the seed file, the converted VAD model's tensor table, and a clear error (never a
 * crash) for each kind of corruption: truncation, oversized header, bad JSON, offsets outside
 * the data, size/shape mismatch, unknown dtype, wrong shape or dtype asked by the caller. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "wx_test.h"

/* Builds an image: u64 header length + header text + data bytes. */
static size_t make_image(uint8_t *buf, const char *header, const void *data, size_t data_size)
{
    size_t h = strlen(header);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    memcpy(buf + 8 + h, data, data_size);
    return 8 + h + data_size;
}

/* Parses header+data and expects failure with `status` and a message containing `needle`. */
static void expect_error(const char *header, size_t data_size, wx_status status,
                         const char *needle)
{
    static const float zeros[64];
    uint8_t buf[1024];
    size_t n = make_image(buf, header, zeros, data_size);
    wx_safetensors *st = NULL;
    wx_err err = {{0}};
    wx_status s = wx_safetensors_parse(buf, n, "case", &st, &err);
    CHECK_MSG(s == status && st == NULL, "header %s gave %s", header, wx_status_name(s));
    CHECK_MSG(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
}

static void test_seed_values(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/safetensors_seed.safetensors", dir);
    wx_safetensors *st = NULL;
    wx_err err = {{0}};
    CHECK_MSG(wx_safetensors_load(path, &st, &err) == WX_OK, "%s", err.msg);
    if (!st) return;
    CHECK(wx_safetensors_count(st) == 3);
    CHECK(strcmp(wx_safetensors_metadata(st, "format"), "pt") == 0);
    CHECK(wx_safetensors_metadata(st, "absent") == NULL);
    float w[6], b[4], s;
    const int64_t wshape[2] = {2, 3}, bshape[1] = {4};
    CHECK(wx_safetensors_read_f32(st, "conv.weight", 2, wshape, w, &err) == WX_OK);
    const float wref[6] = {0.5f, -1.0f, 2.0f, 3.25f, -0.125f, 8.0f};
    CHECK(memcmp(w, wref, sizeof w) == 0); /* exact: F32 copied bit for bit */
    CHECK(wx_safetensors_read_f32(st, "norm.bias", 1, bshape, b, &err) == WX_OK);
    /* exact: these values are representable in half precision */
    CHECK(b[0] == 1.0f && b[1] == -2.0f && b[2] == 0.5f && b[3] == 65504.0f);
    CHECK(wx_safetensors_read_f32(st, "scale", 0, NULL, &s, &err) == WX_OK);
    CHECK(s == 1.5f);
    const int64_t wrong[2] = {3, 2};
    CHECK(wx_safetensors_read_f32(st, "conv.weight", 2, wrong, w, &err) == WX_ERR_FORMAT);
    CHECK(strstr(err.msg, "shape") != NULL);
    CHECK(wx_safetensors_read_f32(st, "missing", 1, bshape, b, &err) == WX_ERR_FORMAT);
    CHECK(strstr(err.msg, "missing") != NULL);
    wx_safetensors_free(st);
}

static void test_corruptions(void)
{
    uint8_t buf[16] = {0};
    wx_safetensors *st = NULL;
    wx_err err = {{0}};
    CHECK(wx_safetensors_parse(buf, 5, "short", &st, &err) == WX_ERR_FORMAT);
    buf[0] = 0xff; /* header length 255 in a 16-byte file */
    CHECK(wx_safetensors_parse(buf, sizeof buf, "long", &st, &err) == WX_ERR_FORMAT);
    CHECK(strstr(err.msg, "exceeds") != NULL);
    expect_error("{\"a\":", 0, WX_ERR_FORMAT, "JSON");
    expect_error("[1,2]", 0, WX_ERR_FORMAT, "not a JSON object");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                 WX_ERR_FORMAT, "outside");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                 WX_ERR_FORMAT, "data bytes for 3 elements");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0,
                 WX_ERR_FORMAT, "non-negative");
    expect_error("{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                 WX_ERR_FORMAT, "unknown dtype");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4,
                 WX_ERR_FORMAT, "outside");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4,
                 WX_ERR_FORMAT, "data_offsets");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                 "\"data_offsets\":[0,4]}}", 4, WX_ERR_FORMAT, "too large");
    expect_error("{\"__metadata__\":3}", 0, WX_ERR_FORMAT, "__metadata__");
    expect_error("{\"a\":7}", 0, WX_ERR_FORMAT, "not an object");

    uint8_t ok[128];
    const int64_t one[1] = {1};
    size_t n = make_image(ok, "{\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
                          "\1\0\0\0\0\0\0\0", 8);
    CHECK(wx_safetensors_parse(ok, n, "int", &st, &err) == WX_OK);
    if (st) {
        float v;
        CHECK(wx_safetensors_read_f32(st, "i", 1, one, &v, &err) == WX_ERR_UNSUPPORTED);
        CHECK(strstr(err.msg, "I64") != NULL);
        wx_safetensors_free(st);
    }
    CHECK(wx_safetensors_load("/nonexistent/model.safetensors", &st, &err) == WX_ERR_IO);
}

/* The converted VAD model, when fetched: 54 float32 tensors of PyanNet. */
static void test_vad_model(const char *model_dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/../vad/model.safetensors", model_dir);
    wx_safetensors *st = NULL;
    wx_err err = {{0}};
    if (wx_safetensors_load(path, &st, &err) != WX_OK) {
        printf("skipping the VAD model check: %s\n", err.msg);
        return;
    }
    CHECK(wx_safetensors_count(st) == 54);
    const wx_st_tensor *t = wx_safetensors_find(st, "lstm.weight_ih_l1_reverse");
    CHECK(t && t->dtype == WX_ST_F32 && t->ndim == 2 && t->shape[0] == 512 && t->shape[1] == 256);
    wx_safetensors_free(st);
}

int main(void)
{
    test_seed_values(wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    test_corruptions();
    test_vad_model(wx_test_env("WX_MODEL_DIR", "models/tiny.en"));
    return wx_test_finish("test_safetensors");
}
