/* test_torch_ckpt.c — the PyTorch checkpoint reader: the known values of the three small
 * fixtures that torch.save wrote (zip and legacy layouts, pickle protocols 2 and 4: every
 * dtype, strided views, hyper-parameters, OrderedDict _metadata), a clear error naming the
 * file at every truncation point and for foreign or hostile files, and, when the wheels are
 * in .cache/wheels, the real checkpoints: whisperx's bundled pyannote model (zip layout)
 * against models/vad/model.safetensors, Resemblyzer's pretrained.pt (legacy layout) against
 * torch.load's values in tests/fixtures/resemblyzer_pretrained.fix. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fixture.h"
#include "io/safetensors.h"
#include "io/torch_ckpt.h"
#include "io/zip.h"
#include "wx_test.h"

static const char *fixture_path(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"), name);
    return path;
}

static const wx_torch_tensor *expect_tensor(const wx_torch_ckpt *ck, const char *name,
                                            enum wx_torch_dtype dtype, int ndim,
                                            const int64_t *shape)
{
    const wx_torch_tensor *t = wx_torch_find(ck, name);
    CHECK_MSG(t != NULL, "tensor %s missing", name);
    if (!t) return NULL;
    CHECK_MSG(t->dtype == dtype && t->ndim == ndim, "tensor %s: dtype %s ndim %d", name,
              wx_torch_dtype_name(t->dtype), t->ndim);
    for (int i = 0; i < ndim && i < t->ndim; i++) CHECK(t->shape[i] == shape[i]);
    return t;
}

/* Values exact: every literal in tools/gen_torch_fixtures.py is representable in its dtype
 * and the reader copies or widens bits without arithmetic. */
static void check_small_tensors(const wx_torch_ckpt *ck)
{
    float f[16];
    const int64_t s23[2] = {2, 3}, s2[1] = {2}, s34[2] = {3, 4}, s43[2] = {4, 3};
    const int64_t s4[1] = {4}, s22[2] = {2, 2}, s3[1] = {3}, s11[2] = {1, 1};
    CHECK(wx_torch_count(ck) == 13);
    CHECK(wx_torch_read_f32(ck, "state_dict.linear.weight", 2, s23, f, NULL) == WX_OK);
    const float w[6] = {0.5f, -1.0f, 2.0f, 3.25f, -0.125f, 8.0f};
    CHECK(memcmp(f, w, sizeof w) == 0);
    CHECK(wx_torch_read_f32(ck, "state_dict.linear.bias", 1, s2, f, NULL) == WX_OK);
    CHECK(f[0] == 1.5f && f[1] == -2.5f);
    CHECK(wx_torch_read_f32(ck, "state_dict.base", 2, s34, f, NULL) == WX_OK);
    for (int i = 0; i < 12; i++) CHECK(f[i] == i / 4.0f);
    const wx_torch_tensor *t = expect_tensor(ck, "state_dict.base_t", WX_TORCH_F32, 2, s43);
    if (t) CHECK(t->stride[0] == 1 && t->stride[1] == 4 && t->offset == 0 &&
                 !wx_torch_tensor_contiguous(t));
    CHECK(wx_torch_read_f32(ck, "state_dict.base_t", 2, s43, f, NULL) == WX_OK);
    for (int j = 0; j < 4; j++)
        for (int i = 0; i < 3; i++) CHECK(f[j * 3 + i] == (4 * i + j) / 4.0f);
    t = expect_tensor(ck, "state_dict.slice", WX_TORCH_F32, 1, s2);
    if (t) CHECK(t->offset == 6 && t->stride[0] == 4 && !wx_torch_tensor_contiguous(t));
    t = wx_torch_find(ck, "state_dict.base");
    CHECK(t && wx_torch_tensor_contiguous(t));
    CHECK(wx_torch_read_f32(ck, "state_dict.slice", 1, s2, f, NULL) == WX_OK);
    CHECK(f[0] == 1.5f && f[1] == 2.5f);
    expect_tensor(ck, "state_dict.half", WX_TORCH_F16, 1, s4);
    CHECK(wx_torch_read_f32(ck, "state_dict.half", 1, s4, f, NULL) == WX_OK);
    CHECK(f[0] == 1.0f && f[1] == -2.0f && f[2] == 0.5f && f[3] == 65504.0f);
    expect_tensor(ck, "state_dict.bf16", WX_TORCH_BF16, 2, s22);
    CHECK(wx_torch_read_f32(ck, "state_dict.bf16", 2, s22, f, NULL) == WX_OK);
    CHECK(f[0] == 1.5f && f[1] == -3.0f && f[2] == 0.25f && f[3] == 256.0f);
    expect_tensor(ck, "state_dict.f64", WX_TORCH_F64, 1, s3);
    CHECK(wx_torch_read_f32(ck, "state_dict.f64", 1, s3, f, NULL) == WX_OK);
    CHECK(f[0] == (float)0.1 && f[1] == -INFINITY && f[2] == 3.0f); /* -1e300 overflows */
    t = expect_tensor(ck, "state_dict.ids", WX_TORCH_I64, 1, s3);
    if (t) {
        int64_t ids[3];
        wx_torch_tensor_raw(t, ids);
        CHECK(ids[0] == 7 && ids[1] == -1 && ids[2] == (int64_t)1 << 40);
        wx_err err = {{0}};
        CHECK(wx_torch_tensor_f32(t, f, &err) == WX_ERR_UNSUPPORTED);
        CHECK(strstr(err.msg, "int64") != NULL);
    }
    t = expect_tensor(ck, "state_dict.mask", WX_TORCH_BOOL, 1, s3);
    if (t) {
        uint8_t m[3];
        wx_torch_tensor_raw(t, m);
        CHECK(m[0] == 1 && m[1] == 0 && m[2] == 1);
    }
    expect_tensor(ck, "state_dict.scalar", WX_TORCH_F32, 0, NULL);
    CHECK(wx_torch_read_f32(ck, "state_dict.scalar", 0, NULL, f, NULL) == WX_OK);
    CHECK(f[0] == 2.75f);
    CHECK(wx_torch_read_f32(ck, "layers.0", 1, s2, f, NULL) == WX_OK);
    CHECK(f[0] == 1.0f && f[1] == 2.0f);
    CHECK(wx_torch_read_f32(ck, "layers.1.w", 2, s11, f, NULL) == WX_OK);
    CHECK(f[0] == 3.0f);
}

static void check_small_values(const wx_torch_ckpt *ck, const char *path)
{
    int64_t i = 0;
    double d = 0;
    bool b = false;
    CHECK(wx_torch_value_int(wx_torch_get(ck, "hyper_parameters.sample_rate"), &i) && i == 16000);
    CHECK(wx_torch_value_double(wx_torch_get(ck, "hyper_parameters.scale"), &d) && d == 0.5);
    CHECK(strcmp(wx_torch_value_str(wx_torch_get(ck, "hyper_parameters.name"), NULL), "tiny") == 0);
    CHECK(wx_torch_value_bool(wx_torch_get(ck, "hyper_parameters.bidirectional"), &b) && b);
    CHECK(wx_torch_value_kind(wx_torch_get(ck, "hyper_parameters.extra")) == WX_TORCH_NONE);
    CHECK(strcmp(wx_torch_value_str(wx_torch_get(ck, "hyper_parameters.classes.1"), NULL),
                 "music") == 0);
    const wx_torch_value *win = wx_torch_get(ck, "hyper_parameters.window");
    CHECK(win && wx_torch_value_kind(win) == WX_TORCH_TUPLE && wx_torch_value_len(win) == 2);
    CHECK(win && wx_torch_value_double(wx_torch_value_item(win, 1), &d) && d == 2.5);
    CHECK(wx_torch_value_int(wx_torch_get(ck, "hyper_parameters.lstm.num_layers"), &i) && i == -2);
    CHECK(wx_torch_value_int(wx_torch_get(ck, "hyper_parameters.big"), &i) && i == 1ll << 40);
    CHECK(strcmp(wx_torch_value_str(wx_torch_get(ck, "hyper_parameters.dtype"), NULL),
                 "torch.float16") == 0);
    const wx_torch_value *dev = wx_torch_get(ck, "hyper_parameters.device");
    CHECK(wx_torch_value_kind(dev) == WX_TORCH_OBJECT &&
          strcmp(wx_torch_value_str(wx_torch_value_item(wx_torch_value_args(dev), 0), NULL),
                 "cpu") == 0);
    CHECK(wx_torch_get(ck, "hyper_parameters.absent") == NULL);
    CHECK(!wx_torch_value_int(wx_torch_get(ck, "hyper_parameters.absent"), &i));
    CHECK(wx_torch_get(ck, "hyper_parameters.classes.7") == NULL);
    const wx_torch_value *sd = wx_torch_get(ck, "state_dict");
    CHECK(sd && wx_torch_value_kind(sd) == WX_TORCH_DICT && wx_torch_value_len(sd) == 11);
    const wx_torch_value *meta = sd ? wx_torch_value_state(sd) : NULL;   /* OrderedDict BUILD */
    CHECK(meta && wx_torch_value_int(wx_torch_value_get(meta, "_metadata.linear.version"), &i) &&
          i == 1);
    const wx_torch_value *half = wx_torch_get(ck, "state_dict.half");
    CHECK(half && wx_torch_value_tensor(ck, half) == wx_torch_find(ck, "state_dict.half"));
    wx_err err = {{0}};
    float f[6];
    const int64_t wrong[2] = {3, 2};
    CHECK(wx_torch_read_f32(ck, "state_dict.linear.weight", 2, wrong, f, &err) == WX_ERR_FORMAT);
    CHECK(strstr(err.msg, "shape") != NULL && strstr(err.msg, path) != NULL);
    CHECK(wx_torch_read_f32(ck, "state_dict.nope", 2, wrong, f, &err) == WX_ERR_FORMAT);
    CHECK(strstr(err.msg, "missing") != NULL);
}

static void test_small(const char *name, bool zip)
{
    const char *path = fixture_path(name);
    wx_torch_ckpt *ck = NULL;
    wx_err err = {{0}};
    CHECK_MSG(wx_torch_load(path, &ck, &err) == WX_OK, "%s", err.msg);
    if (!ck) return;
    CHECK(wx_torch_is_zip(ck) == zip);
    check_small_tensors(ck);
    check_small_values(ck, path);
    wx_torch_free(ck);
}

/* Every proper prefix of a fixture fails with a message that names the file. */
static void test_truncations(const char *name)
{
    char *data = NULL;
    size_t size = 0;
    wx_err err = {{0}};
    if (wx_read_file(fixture_path(name), &data, &size, &err) != WX_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    int bad = 0;
    for (size_t n = 0; n < size; n++) {
        wx_torch_ckpt *ck = NULL;
        err.msg[0] = '\0';
        wx_status s = wx_torch_parse(data, n, "cut.pt", &ck, &err);
        if (s == WX_OK || ck || strncmp(err.msg, "cut.pt: ", 8) != 0) {
            if (!bad++) fprintf(stderr, "%s cut at %zu: %s '%s'\n", name, n, wx_status_name(s),
                                err.msg);
            wx_torch_free(ck);
        }
    }
    CHECK_MSG(bad == 0, "%d of %zu truncations of %s were not refused", bad, size, name);
    free(data);
}

/* Parses bytes and expects failure with a message containing needle. */
static void expect_error(const void *data, size_t size, const char *needle)
{
    wx_torch_ckpt *ck = NULL;
    wx_err err = {{0}};
    wx_status s = wx_torch_parse(data, size, "bad.pt", &ck, &err);
    CHECK_MSG(s != WX_OK && ck == NULL, "expected '%s', got %s", needle, wx_status_name(s));
    CHECK_MSG(strstr(err.msg, needle) != NULL && strncmp(err.msg, "bad.pt: ", 8) == 0,
              "message '%s' lacks '%s'", err.msg, needle);
    wx_torch_free(ck);
}

/* A legacy-layout file: magic, protocol 1001, empty sys_info, then `main` and `tail`. */
static size_t legacy(uint8_t *buf, const char *main, size_t main_len, const char *tail,
                     size_t tail_len)
{
    static const uint8_t head[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                   0x6a, 0xa8, 0x50, 0x19, '.', 0x80, 0x02, 'M', 0xe9, 0x03,
                                   '.', 0x80, 0x02, '}', '.'};
    memcpy(buf, head, sizeof head);
    memcpy(buf + sizeof head, main, main_len);
    memcpy(buf + sizeof head + main_len, tail, tail_len);
    return sizeof head + main_len + tail_len;
}

#define PK(s) s, sizeof s - 1
#define EMPTY_KEYS "\x80\x02]."

static void expect_legacy_error(const char *main, size_t len, const char *needle)
{
    uint8_t buf[4096];
    expect_error(buf, legacy(buf, main, len, PK(EMPTY_KEYS)), needle);
}

static void test_hostile_pickles(void)
{
    expect_legacy_error(PK("\x80\x02\x63os\nsystem\nX\x02\x00\x00\x00ls\x85R."),
                        "pickle global os.system is not allowed");
    expect_legacy_error(PK("\x80\x02\x8c\x08\x62uiltins\x8c\x04\x65val\x93."),
                        "pickle global builtins.eval is not allowed");
    expect_legacy_error(PK("\x80\x02}q\x00h\x05."), "memo entry missing");
    expect_legacy_error(PK("\x80\x02X\xff\xff\xff\x7f."), "truncated");
    expect_legacy_error(PK("\x80\x02Iabc\n."), "unsupported opcode 0x49");
    expect_legacy_error(PK("\x80\x02s."), "stack underflow");
    expect_legacy_error(PK("\x80\x02(K\x01."), "unbalanced");
    expect_legacy_error(PK("\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09."), "64 bits");
    expect_legacy_error(PK("\x80\x02K\x01K\x02R."), "REDUCE or NEWOBJ needs");
    expect_legacy_error(PK("\x80\x02(X\x07\x00\x00\x00storage\x63torch\nFloatStorage\n"
                           "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQ."),
                        "storage 0 is not in the file");
    expect_legacy_error(PK("\x80\x02(X\x07\x00\x00\x00storage\x63torch\nComplexFloatStorage\n"
                           "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x04tQ."),
                        "unsupported storage type torch.ComplexFloatStorage");
    /* a list nested deeper than the reader walks */
    char deep[512] = "\x80\x02";
    size_t n = 2;
    for (int i = 0; i < 150; i++) deep[n++] = ']';
    for (int i = 0; i < 149; i++) deep[n++] = 'a';
    deep[n++] = '.';
    expect_legacy_error(deep, n, "nested deeper");
    /* 40 levels of a list holding the level below twice: 2^40 paths, refused */
    n = 0;
    memcpy(deep, "\x80\x02]q\x00" "0", 6), n = 6;
    for (int k = 0; k < 40; k++) {
        char level[] = {']', 'q', (char)(k + 1), '(', 'h', (char)k, 'h', (char)k, 'e', '0'};
        memcpy(deep + n, level, sizeof level), n += sizeof level;
    }
    deep[n++] = 'h', deep[n++] = 40, deep[n++] = '.';
    expect_legacy_error(deep, n, "too many shared references");
    /* a list that contains itself is a cycle, skipped by the walk */
    uint8_t buf[256];
    size_t len = legacy(buf, PK("\x80\x02]q\x00h\x00\x61."), PK(EMPTY_KEYS));
    wx_torch_ckpt *ck = NULL;
    wx_err err = {{0}};
    CHECK_MSG(wx_torch_parse(buf, len, "cycle.pt", &ck, &err) == WX_OK, "%s", err.msg);
    if (ck) CHECK(wx_torch_count(ck) == 0);
    wx_torch_free(ck);
}

/* A stored (method 0) or deflated (8) one-entry zip archive. */
static size_t make_zip(uint8_t *buf, const char *name, const uint8_t *data, size_t size,
                       bool deflated)
{
    uint8_t packed[4096];
    uLongf csize = sizeof packed;
    if (deflated) {
        z_stream z = {0};
        deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
        z.next_in = (Bytef *)data, z.avail_in = (uInt)size;
        z.next_out = packed, z.avail_out = sizeof packed;
        deflate(&z, Z_FINISH);
        csize = z.total_out;
        deflateEnd(&z);
    } else {
        memcpy(packed, data, size);
        csize = size;
    }
    size_t nl = strlen(name), at = 0;
    uint8_t local[30] = {'P', 'K', 3, 4};
    local[8] = deflated ? 8 : 0;
    for (int i = 0; i < 4; i++) {
        local[18 + i] = (uint8_t)(csize >> (8 * i));
        local[22 + i] = (uint8_t)(size >> (8 * i));
    }
    local[26] = (uint8_t)nl;
    memcpy(buf, local, 30), at = 30;
    memcpy(buf + at, name, nl), at += nl;
    memcpy(buf + at, packed, csize), at += csize;
    size_t cd = at;
    uint8_t central[46] = {'P', 'K', 1, 2};
    central[10] = local[8];
    memcpy(central + 20, local + 18, 8);
    central[28] = (uint8_t)nl;
    memcpy(buf + at, central, 46), at += 46;
    memcpy(buf + at, name, nl), at += nl;
    uint8_t end[22] = {'P', 'K', 5, 6};
    end[8] = end[10] = 1;
    end[12] = (uint8_t)(46 + nl);
    for (int i = 0; i < 4; i++) end[16 + i] = (uint8_t)(cd >> (8 * i));
    memcpy(buf + at, end, 22), at += 22;
    return at;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* A stored one-entry archive in zip64 form: the central entry's sizes and offset in its zip64
 * extra field, the directory found through the zip64 locator and end record. */
static size_t make_zip64(uint8_t *buf, const char *name, const uint8_t *data, size_t size)
{
    size_t nl = strlen(name), at = 0;
    uint8_t local[30] = {'P', 'K', 3, 4};
    put_le(local + 18, size, 4), put_le(local + 22, size, 4), put_le(local + 26, nl, 2);
    memcpy(buf, local, 30), at = 30;
    memcpy(buf + at, name, nl), at += nl;
    memcpy(buf + at, data, size), at += size;
    size_t cd = at;
    uint8_t central[46] = {'P', 'K', 1, 2}, extra[28] = {1, 0, 24, 0};
    put_le(central + 20, 0xffffffff, 4), put_le(central + 24, 0xffffffff, 4);
    put_le(central + 28, nl, 2), put_le(central + 30, sizeof extra, 2);
    put_le(central + 42, 0xffffffff, 4);
    put_le(extra + 4, size, 8), put_le(extra + 12, size, 8), put_le(extra + 20, 0, 8);
    memcpy(buf + at, central, 46), at += 46;
    memcpy(buf + at, name, nl), at += nl;
    memcpy(buf + at, extra, sizeof extra), at += sizeof extra;
    size_t rec = at;
    uint8_t end64[56] = {'P', 'K', 6, 6}, locator[20] = {'P', 'K', 6, 7}, end[22] = {'P', 'K', 5, 6};
    put_le(end64 + 4, 44, 8), put_le(end64 + 24, 1, 8), put_le(end64 + 32, 1, 8);
    put_le(end64 + 40, rec - cd, 8), put_le(end64 + 48, cd, 8);
    put_le(locator + 8, rec, 8), put_le(locator + 16, 1, 4);
    put_le(end + 8, 0xffff, 2), put_le(end + 10, 0xffff, 2);
    put_le(end + 12, 0xffffffff, 4), put_le(end + 16, 0xffffffff, 4);
    memcpy(buf + at, end64, 56), at += 56;
    memcpy(buf + at, locator, 20), at += 20;
    memcpy(buf + at, end, 22), at += 22;
    return at;
}

static void test_zip64(void)
{
    uint8_t buf[1024];
    size_t n = make_zip64(buf, "archive/data.pkl", (const uint8_t *)"\x80\x02K\x07.", 5);
    wx_torch_ckpt *ck = NULL;
    wx_err err = {{0}};
    int64_t v = 0;
    CHECK_MSG(wx_torch_parse(buf, n, "zip64.pt", &ck, &err) == WX_OK, "%s", err.msg);
    CHECK(ck && wx_torch_value_int(wx_torch_root(ck), &v) && v == 7);
    wx_torch_free(ck);
    buf[n - 22 - 20 - 56] = 'X';                  /* the zip64 end record's signature */
    expect_error(buf, n, "zip64 end record missing");
}

static void test_foreign_files(void)
{
    uint8_t buf[8192];
    expect_error("", 0, "not a PyTorch checkpoint");
    expect_error("hello world\n", 12, "not a PyTorch checkpoint");
    expect_error("\x80\x02}.", 4, "not a PyTorch checkpoint");      /* a bare pickle */
    size_t n = make_zip(buf, "readme.txt", (const uint8_t *)"text", 4, false);
    expect_error(buf, n, "without <name>/data.pkl");
    /* data.pkl deflated: read through zlib; its os.system global is refused */
    const char *evil = "\x80\x02\x63os\nsystem\nX\x02\x00\x00\x00ls\x85R.";
    n = make_zip(buf, "archive/data.pkl", (const uint8_t *)evil, strlen(evil), true);
    expect_error(buf, n, "pickle global os.system is not allowed");
    n = make_zip(buf, "archive/data.pkl", (const uint8_t *)"\x80\x02}.", 4, true);
    wx_torch_ckpt *ck = NULL;
    wx_err err = {{0}};
    CHECK_MSG(wx_torch_parse(buf, n, "deflated.pt", &ck, &err) == WX_OK, "%s", err.msg);
    if (ck) CHECK(wx_torch_value_kind(wx_torch_root(ck)) == WX_TORCH_DICT);
    wx_torch_free(ck);
    buf[n - 22 - 46 - strlen("archive/data.pkl") + 24]++;   /* central size 5: inflates to 4 */
    expect_error(buf, n, "corrupt deflate data");
    buf[n - 22 + 16] ^= 0x40;                    /* central directory offset past the end */
    expect_error(buf, n, "truncated zip central directory");
    CHECK(wx_torch_load("/nonexistent/model.pt", &ck, &err) == WX_ERR_IO);
}

/* Big-endian storages are refused in both layouts. */
static void test_big_endian(void)
{
    char *data = NULL;
    size_t size = 0;
    wx_err err = {{0}};
    if (wx_read_file(fixture_path("torch_ckpt_seed.pt"), &data, &size, &err) != WX_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    char *order = memmem(data, size, "little", 6);    /* the byteorder record's bytes */
    CHECK(order != NULL);
    if (order) {
        memcpy(order, "bigbig", 6);
        expect_error(data, size, "not little-endian");
    }
    free(data);
    static const uint8_t big[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                  0x6a, 0xa8, 0x50, 0x19, '.', 0x80, 0x02, 'M', 0xe9, 0x03, '.',
                                  0x80, 0x02, '}', 'X', 13, 0, 0, 0, 'l', 'i', 't', 't', 'l',
                                  'e', '_', 'e', 'n', 'd', 'i', 'a', 'n', 0x89, 's', '.',
                                  0x80, 0x02, '}', '.', 0x80, 0x02, ']', '.'};
    expect_error(big, sizeof big, "big-endian legacy checkpoint");
}

/* ---- the real checkpoints, when their wheels are cached ---- */

/* Reads `member` of a wheel into a malloc'd buffer, or returns NULL with a reason. */
static uint8_t *wheel_member(const char *wheel, const char *member, size_t *size, wx_err *err)
{
    char *image = NULL;
    size_t image_size = 0;
    if (wx_read_file(wheel, &image, &image_size, err) != WX_OK) return NULL;
    wx_zip z;
    uint8_t *copy = NULL;
    const uint8_t *data;
    const wx_zip_entry *e = NULL;
    if (wx_zip_open(&z, (const uint8_t *)image, image_size, wheel, err) == WX_OK &&
        (e = wx_zip_find(&z, "", member)) &&
        wx_zip_data(&z, e, &data, size, err) == WX_OK && (copy = malloc(*size)))
        memcpy(copy, data, *size);
    if (!e) snprintf(err->msg, sizeof err->msg, "%s: no member %s", wheel, member);
    wx_zip_close(&z);
    free(image);
    return copy;
}

static const char *wheel_path(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/wheels/%s", wx_test_env("WX_CACHE_DIR", ".cache"), name);
    return path;
}

/* Exact: convert_pyannote_vad.py copies the same float32 bits into the safetensors file. */
static void test_pyannote(void)
{
    wx_err err = {{0}};
    size_t size = 0;
    uint8_t *raw = wheel_member(wheel_path("whisperx-3.8.6-py3-none-any.whl"),
                                "whisperx/assets/pytorch_model.bin", &size, &err);
    wx_safetensors *st = NULL;
    char vad[4096];
    snprintf(vad, sizeof vad, "%s/../vad/model.safetensors",
             wx_test_env("WX_MODEL_DIR", "models/tiny.en"));
    if (!raw || wx_safetensors_load(vad, &st, &err) != WX_OK) {
        printf("skipping the pyannote checkpoint check: %s\n", err.msg);
        free(raw);
        return;
    }
    wx_torch_ckpt *ck = NULL;
    CHECK_MSG(wx_torch_parse(raw, size, "pytorch_model.bin", &ck, &err) == WX_OK, "%s", err.msg);
    free(raw);
    if (!ck) goto cleanup;
    CHECK(wx_torch_is_zip(ck));
    int compared = 0;
    for (int i = 0; i < wx_safetensors_count(st); i++) {
        const wx_st_tensor *ref = wx_safetensors_at(st, i);
        char name[512];
        snprintf(name, sizeof name, "state_dict.%s", ref->name);
        int64_t n = wx_st_tensor_nelem(ref);
        float *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
        CHECK_MSG(wx_torch_read_f32(ck, name, ref->ndim, ref->shape, a, &err) == WX_OK, "%s",
                  err.msg);
        CHECK(wx_safetensors_read_f32(st, ref->name, ref->ndim, ref->shape, b, &err) == WX_OK);
        CHECK_MSG(memcmp(a, b, (size_t)n * sizeof *a) == 0, "%s differs", name);
        compared++;
        free(a);
        free(b);
    }
    CHECK(compared == 54);
    int64_t v = 0;
    bool bidir = false;
    CHECK(wx_torch_value_int(wx_torch_get(ck, "hyper_parameters.sample_rate"), &v) && v == 16000);
    CHECK(wx_torch_value_int(wx_torch_get(ck, "hyper_parameters.sincnet.stride"), &v) && v == 10);
    CHECK(wx_torch_value_int(wx_torch_get(ck, "hyper_parameters.lstm.num_layers"), &v) && v == 4);
    CHECK(wx_torch_value_bool(wx_torch_get(ck, "hyper_parameters.lstm.bidirectional"), &bidir) &&
          bidir);
    const wx_torch_value *ver = wx_torch_get(ck, "pytorch-lightning_version");
    CHECK(ver && strcmp(wx_torch_value_str(ver, NULL), "1.5.4") == 0);
    /* opaque objects: a dataclass read through its BUILD state, an enum through its args */
    const wx_torch_value *spec = wx_torch_get(ck, "pyannote.audio.specifications");
    CHECK(wx_torch_value_kind(spec) == WX_TORCH_OBJECT &&
          strcmp(wx_torch_value_str(spec, NULL), "pyannote.audio.core.task.Specifications") == 0);
    double duration = 0;
    CHECK(wx_torch_value_double(wx_torch_value_get(spec, "duration"), &duration) &&
          duration == 5.0);
    const wx_torch_value *problem = wx_torch_value_get(spec, "problem");
    CHECK(wx_torch_value_int(wx_torch_value_item(wx_torch_value_args(problem), 0), &v) && v == 2);
    printf("pyannote checkpoint: %d tensors, %d compared with model.safetensors\n",
           wx_torch_count(ck), compared);
cleanup:
    wx_torch_free(ck);
    wx_safetensors_free(st);
}

/* Sums: |ours - fsum| <= 1e-6 * sum|x| + 1e-30 (our double accumulation in row-major order
 * against an exact sum); the first elements are float32 and exact. */
static void test_resemblyzer(void)
{
    wx_err err = {{0}};
    size_t size = 0;
    uint8_t *raw = wheel_member(wheel_path("Resemblyzer-0.1.4-py3-none-any.whl"),
                                "resemblyzer/pretrained.pt", &size, &err);
    if (!raw) {
        printf("skipping the Resemblyzer checkpoint check: %s\n", err.msg);
        return;
    }
    wx_fixture fx = {0};
    wx_torch_ckpt *ck = NULL;
    CHECK(wx_fixture_load(fixture_path("resemblyzer_pretrained.fix"), &fx) == 0);
    CHECK_MSG(wx_torch_parse(raw, size, "pretrained.pt", &ck, &err) == WX_OK, "%s", err.msg);
    free(raw);
    const wx_fixture_array *names = wx_fixture_get(&fx, "names");
    if (!ck || !names) goto cleanup;
    CHECK(!wx_torch_is_zip(ck));
    int count = 0;
    for (char *line = strtok((char *)names->data, "\n"); line; line = strtok(NULL, "\n")) {
        char key[300];
        snprintf(key, sizeof key, "%s.shape", line);
        const wx_fixture_array *shape = wx_fixture_get(&fx, key);
        snprintf(key, sizeof key, "%s.head", line);
        const wx_fixture_array *head = wx_fixture_get(&fx, key);
        snprintf(key, sizeof key, "%s.sum", line);
        const wx_fixture_array *sum = wx_fixture_get(&fx, key);
        const wx_torch_tensor *t = wx_torch_find(ck, line);
        CHECK_MSG(t && shape && head && sum, "tensor %s", line);
        if (!t || !shape || !head || !sum) continue;
        CHECK(t->ndim == shape->n);
        for (int i = 0; i < t->ndim && i < shape->n; i++)
            CHECK(t->shape[i] == ((int32_t *)shape->data)[i]);
        int64_t n = wx_torch_tensor_nelem(t);
        float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
        CHECK(wx_torch_tensor_f32(t, v, &err) == WX_OK);
        double s = 0, abs_s = 0;
        for (int64_t i = 0; i < n; i++) s += v[i], abs_s += fabs(v[i]);
        CHECK_NEAR(s, strtod((char *)sum->data, NULL), 1e-6 * abs_s + 1e-30);
        CHECK(memcmp(v, head->data, (size_t)head->n * sizeof *v) == 0);
        free(v);
        count++;
    }
    CHECK(count == wx_torch_count(ck));
    int64_t step = 0;
    const wx_fixture_array *ref_step = wx_fixture_get(&fx, "step");
    CHECK(ref_step && wx_torch_value_int(wx_torch_get(ck, "step"), &step) &&
          step == strtoll((char *)ref_step->data, NULL, 10));
    printf("Resemblyzer checkpoint: %d tensors checked against torch.load\n", count);
cleanup:
    wx_torch_free(ck);
    wx_fixture_free(&fx);
}

int main(void)
{
    test_small("torch_ckpt_seed.pt", true);
    test_small("torch_ckpt_legacy.pt", false);
    test_small("torch_ckpt_proto4.pt", true);
    test_truncations("torch_ckpt_seed.pt");
    test_truncations("torch_ckpt_legacy.pt");
    test_truncations("torch_ckpt_proto4.pt");
    test_hostile_pickles();
    test_foreign_files();
    test_big_endian();
    test_zip64();
    test_pyannote();
    test_resemblyzer();
    return wx_test_finish("test_torch_ckpt");
}
