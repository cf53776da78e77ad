/* ct2_tool.c — wx-ct2-tool: writes CTranslate2 Whisper model directories for the GPU check
 * (scripts/gpu_check.sh), where the working tree that travels is small (64 MiB) and the
 * machine has no network:
 *   wx-ct2-tool int8 SRC_DIR DST_DIR
 *       every float "…weight" of rank ≥ 2 quantized to int8 in CTranslate2's layout (one
 *       float32 "<name>_scale" per row of dims[0], value = q / scale), the rest copied;
 *       config.json, tokenizer.json and vocabulary.* copied. tiny.en: 75 MB → 39 MB. The
 *       GPU suites compare the GPU with the CPU backend on the same weights, so the copy
 *       serves correctness. Aliases are dropped (whisper.c reads no alias).
 *   wx-ct2-tool random DST_DIR large-v3|medium|tiny [SEED]
 *       a model of that shape with random float16 weights (uniform, scaled by 1/sqrt(fan-in)
 *       so activations stay O(1)), layer norms 1/0, and a config.json: throughput only.
 * Binary format 6: u32 version, spec name, u32 revision, variables (name, u8 rank, u32 dims,
 * u8 dtype, u32 bytes, data), u32 alias count; strings are u16 length + bytes + NUL. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/ct2_model.h"
#include "models/whisper.h"

#define CT2_VERSION 6
#define CT2_REVISION 3

static void put_u8(FILE *f, unsigned v) { fputc((int)(v & 0xff), f); }
static void put_u16(FILE *f, unsigned v) { put_u8(f, v); put_u8(f, v >> 8); }
static void put_u32(FILE *f, uint32_t v) { put_u16(f, v & 0xffff); put_u16(f, v >> 16); }

static void put_string(FILE *f, const char *s)
{
    size_t n = strlen(s) + 1;
    put_u16(f, (unsigned)n);
    fwrite(s, 1, n, f);
}

static void put_header(FILE *f, uint32_t n_vars)
{
    put_u32(f, CT2_VERSION);
    put_string(f, "WhisperSpec");
    put_u32(f, CT2_REVISION);
    put_u32(f, n_vars);
}

static void put_var(FILE *f, const char *name, int rank, const int64_t *dims,
                    enum wx_ct2_dtype dtype, const void *data, size_t nbytes)
{
    put_string(f, name);
    put_u8(f, (unsigned)rank);
    for (int i = 0; i < rank; i++) put_u32(f, (uint32_t)dims[i]);
    put_u8(f, (unsigned)dtype);
    put_u32(f, (uint32_t)nbytes);
    fwrite(data, 1, nbytes, f);
}

static int copy_file(const char *src_dir, const char *dst_dir, const char *name)
{
    char a[4096], b[4096], buf[65536];
    snprintf(a, sizeof a, "%s/%s", src_dir, name);
    snprintf(b, sizeof b, "%s/%s", dst_dir, name);
    FILE *in = fopen(a, "rb");
    if (!in) return 0; /* optional files */
    FILE *out = fopen(b, "wb");
    size_t n;
    while (out && (n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    return out && fclose(out) == 0 ? 0 : -1;
}

static bool quantizable(const wx_ct2_var *v)
{
    size_t n = strlen(v->name);
    return v->rank >= 2 && n > 6 && strcmp(v->name + n - 6, "weight") == 0 &&
           (v->dtype == WX_CT2_FLOAT32 || v->dtype == WX_CT2_FLOAT16 ||
            v->dtype == WX_CT2_BFLOAT16);
}

/* q[r][i] = round(x · scale[r]), scale[r] = 127 / max|x[r]|: CTranslate2's int8 rows. */
static void put_int8(FILE *f, const wx_ct2_model *m, const wx_ct2_var *v, wx_err *err)
{
    int64_t n = wx_ct2_var_nelem(v), rows = v->dims[0], cols = n / rows;
    float *x = malloc((size_t)n * sizeof *x), *scale = malloc((size_t)rows * sizeof *scale);
    int8_t *q = malloc((size_t)n);
    if (!x || !scale || !q || wx_ct2_model_read_f32(m, v->name, x, n, err) != WX_OK) {
        fprintf(stderr, "wx-ct2-tool: %s: %s\n", v->name, err->msg);
        exit(1);
    }
    for (int64_t r = 0; r < rows; r++) {
        float mx = 0;
        for (int64_t i = 0; i < cols; i++) mx = fmaxf(mx, fabsf(x[r * cols + i]));
        scale[r] = mx > 0 ? 127.0f / mx : 1.0f;
        for (int64_t i = 0; i < cols; i++) q[r * cols + i] = (int8_t)lrintf(x[r * cols + i] * scale[r]);
    }
    put_var(f, v->name, v->rank, v->dims, WX_CT2_INT8, q, (size_t)n);
    char name[512];
    snprintf(name, sizeof name, "%s_scale", v->name);
    put_var(f, name, 1, &rows, WX_CT2_FLOAT32, scale, (size_t)rows * sizeof *scale);
    free(x), free(scale), free(q);
}

static int cmd_int8(const char *src, const char *dst)
{
    wx_err err;
    wx_ct2_model *m = NULL;
    if (wx_ct2_model_load(src, &m, &err) != WX_OK) {
        fprintf(stderr, "wx-ct2-tool: %s\n", err.msg);
        return 1;
    }
    mkdir(dst, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.bin", dst);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); return 1; }
    int n = wx_ct2_model_var_count(m), total = n;
    for (int i = 0; i < n; i++) total += quantizable(wx_ct2_model_var_at(m, i));
    put_header(f, (uint32_t)total);
    for (int i = 0; i < n; i++) {
        const wx_ct2_var *v = wx_ct2_model_var_at(m, i);
        if (quantizable(v)) put_int8(f, m, v, &err);
        else put_var(f, v->name, v->rank, v->dims, v->dtype, v->data, v->nbytes);
    }
    put_u32(f, 0); /* no aliases */
    int rc = fclose(f) == 0 ? 0 : 1;
    const char *files[] = {"config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json",
                           "preprocessor_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) rc |= copy_file(src, dst, files[i]) != 0;
    wx_ct2_model_free(m);
    printf("wrote %s (int8 weights)\n", path);
    return rc;
}

/* ---- random model ---------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float urand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 40) * (2.0 / 16777216.0) - 1.0);
}

static uint16_t to_half(float x) /* round to nearest even; |x| < 65504 here */
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint32_t sign = (u >> 16) & 0x8000u, e = (u >> 23) & 0xffu, man = u & 0x7fffffu;
    if (e < 103) return (uint16_t)sign;
    if (e < 113) { /* subnormal */
        man |= 0x800000u;
        int shift = (int)(126 - e);
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((e - 112) << 10) | (man >> 13), rem = man & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

/* kind: 'w' weight (uniform / sqrt(fan_in)), 'g' ones, 'b' zeros, 'p' small positions. */
static void put_random(FILE *f, const char *name, int rank, const int64_t *dims, char kind)
{
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    float scale = kind == 'w' ? 1.7f / sqrtf((float)(n / dims[0])) : 0.02f;
    uint16_t *h = malloc((size_t)n * sizeof *h);
    if (!h) { fprintf(stderr, "wx-ct2-tool: out of memory\n"); exit(1); }
    for (int64_t i = 0; i < n; i++)
        h[i] = to_half(kind == 'g' ? 1.0f : kind == 'b' ? 0.0f : urand() * scale);
    put_var(f, name, rank, dims, WX_CT2_FLOAT16, h, (size_t)n * sizeof *h);
    free(h);
}

static void put_linear(FILE *f, const char *prefix, int64_t n_out, int64_t n_in, int *count)
{
    char name[320];
    int64_t w[2] = {n_out, n_in};
    snprintf(name, sizeof name, "%s/weight", prefix);
    put_random(f, name, 2, w, 'w');
    snprintf(name, sizeof name, "%s/bias", prefix);
    put_random(f, name, 1, &n_out, 'b');
    *count += 2;
}

static void put_norm(FILE *f, const char *prefix, int64_t d, int *count)
{
    char name[320];
    snprintf(name, sizeof name, "%s/gamma", prefix);
    put_random(f, name, 1, &d, 'g');
    snprintf(name, sizeof name, "%s/beta", prefix);
    put_random(f, name, 1, &d, 'b');
    *count += 2;
}

static void put_layer(FILE *f, const char *stack, int i, bool decoder, int64_t d, int *count)
{
    char p[256];
    const char *parts[][3] = {{"self_attention/layer_norm", "", ""},
                              {"self_attention/linear_0", "3", "1"},
                              {"self_attention/linear_1", "1", "1"},
                              {"attention/layer_norm", "", ""},
                              {"attention/linear_0", "1", "1"},
                              {"attention/linear_1", "2", "1"},
                              {"attention/linear_2", "1", "1"},
                              {"ffn/layer_norm", "", ""},
                              {"ffn/linear_0", "4", "1"},
                              {"ffn/linear_1", "1", "4"}};
    for (size_t k = 0; k < sizeof parts / sizeof parts[0]; k++) {
        if (!decoder && k >= 3 && k <= 6) continue;
        snprintf(p, sizeof p, "%s/layer_%d/%s", stack, i, parts[k][0]);
        if (!parts[k][1][0]) put_norm(f, p, d, count);
        else put_linear(f, p, atoi(parts[k][1]) * d, atoi(parts[k][2]) * d, count);
    }
}

/* Every variable whisper.c reads, in file order; returns the count written. */
static int put_model(FILE *f, const wx_whisper_hparams *hp)
{
    int64_t d = hp->d_model, c1[3] = {d, hp->n_mels, 3}, c2[3] = {d, d, 3};
    int64_t ep[2] = {hp->n_audio_ctx, d}, dp[2] = {hp->n_text_ctx, d}, emb[2] = {hp->n_vocab, d};
    int n = 0;
    put_random(f, "encoder/conv1/weight", 3, c1, 'w'), n++;
    put_random(f, "encoder/conv1/bias", 1, &d, 'b'), n++;
    put_random(f, "encoder/conv2/weight", 3, c2, 'w'), n++;
    put_random(f, "encoder/conv2/bias", 1, &d, 'b'), n++;
    put_random(f, "encoder/position_encodings/encodings", 2, ep, 'p'), n++;
    put_norm(f, "encoder/layer_norm", d, &n);
    for (int i = 0; i < hp->n_audio_layer; i++) put_layer(f, "encoder", i, false, d, &n);
    put_random(f, "decoder/embeddings/weight", 2, emb, 'w'), n++;
    put_random(f, "decoder/position_encodings/encodings", 2, dp, 'p'), n++;
    put_norm(f, "decoder/layer_norm", d, &n);
    for (int i = 0; i < hp->n_text_layer; i++) put_layer(f, "decoder", i, true, d, &n);
    int32_t heads = hp->n_head;
    put_var(f, "encoder/num_heads", 0, NULL, WX_CT2_INT32, &heads, sizeof heads), n++;
    return n;
}

static int count_vars(const wx_whisper_hparams *hp)
{
    return 5 + 2 + hp->n_audio_layer * 12 + 2 + 2 + hp->n_text_layer * 20 + 1;
}

static int cmd_random(const char *dst, const char *shape, const char *seed)
{
    static const struct { const char *name; wx_whisper_hparams hp; } shapes[] = {
        {"tiny", {80, 1500, 448, 384, 6, 4, 4, 51865}},
        {"medium", {80, 1500, 448, 1024, 16, 24, 24, 51865}},
        {"large-v3", {128, 1500, 448, 1280, 20, 32, 32, 51866}},
    };
    const wx_whisper_hparams *hp = NULL;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (strcmp(shape, shapes[i].name) == 0) hp = &shapes[i].hp;
    if (!hp) { fprintf(stderr, "wx-ct2-tool: unknown shape '%s'\n", shape); return 2; }
    if (seed) rng ^= strtoull(seed, NULL, 0) * 0x2545f4914f6cdd1dull;
    mkdir(dst, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.bin", dst);
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); return 1; }
    put_header(f, (uint32_t)count_vars(hp));
    int n = put_model(f, hp);
    put_u32(f, 0);
    if (fclose(f) != 0 || n != count_vars(hp)) { fprintf(stderr, "wx-ct2-tool: write failed\n"); return 1; }
    snprintf(path, sizeof path, "%s/config.json", dst);
    f = fopen(path, "w");
    if (!f) { perror(path); return 1; }
    fprintf(f, "{\"suppress_ids\": [], \"suppress_ids_begin\": [], \"lang_ids\": [], "
            "\"alignment_heads\": []}\n");
    fclose(f);
    printf("wrote %s/model.bin: %s shape, random float16 weights\n", dst, shape);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "int8") == 0) return cmd_int8(argv[2], argv[3]);
    if ((argc == 4 || argc == 5) && strcmp(argv[1], "random") == 0)
        return cmd_random(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
    fprintf(stderr, "usage: wx-ct2-tool int8 SRC_DIR DST_DIR\n"
                    "       wx-ct2-tool random DST_DIR large-v3|medium|tiny [SEED]\n");
    return 2;
}
