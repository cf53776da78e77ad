/* test_wav2vec2.c — the wav2vec2 CTC model (src/models/wav2vec2.c) against transformers'
 * Wav2Vec2ForCTC and torchaudio's wav2vec2_model on small random-weight models of both
 * families (tests/fixtures/wav2vec2_*, made by tools/gen_wav2vec2_fixtures.py): HF base
 * (group norm, post-norm encoder, float16 safetensors, weight_g/weight_v), HF large (layer
 * norm, stable layer norm, conv bias, pytorch_model.bin, parametrization names), torchaudio
 * base (.pth, aux rows removed at load, normalised waveform, weight_g/weight_v) and
 * torchaudio large (.pth, layer_norm_first, weight norm already folded into conv.weight). Logits for 8000, 4801 and 400 samples; then load errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "models/wav2vec2.h"
#include "vad_test.h"
#include "wx_test.h"

static const char *const TEST_LABELS[10] = {"-", "|", "a", "b", "c", "d", "e", "f", "g", "h"};
/* tools/gen_wav2vec2_fixtures.py: ta_base has 4 heads, 3 aux rows (1, 2, 3) to remove and a
 * normalised waveform; ta_large 2 heads, layer_norm_first, nothing to remove. */
static const wx_w2v_bundle TA_BASE = {"test_base", 4, false, true, 10, TEST_LABELS, 3, {1, 2, 3}};
static const wx_w2v_bundle TA_LARGE = {"test_large", 2, true, false, 10, TEST_LABELS, 3,
                                       {1, 2, 3}};
static const char *const HF_VOCAB[12] = {"<pad>", "<s>", "</s>", "<unk>", "|", "a",
                                         "b", "c", "d", "e", "é", "'"};

static void compare(wx_w2v *m, const wx_fixture *fx, const char *name)
{
    const wx_fixture_array *wave = wx_fixture_get(fx, "wave");
    static const int lengths[3] = {8000, 4801, 400};
    if (!wave) { CHECK(!"wave"); return; }
    for (int li = 0; li < 3; li++) {
        char key[64];
        snprintf(key, sizeof key, "%s/%d", name, lengths[li]);
        const wx_fixture_array *ref = wx_fixture_get(fx, key);
        if (!ref) { CHECK(!"reference"); continue; }
        float *got = NULL;
        int64_t t = 0;
        wx_err err = {{0}};
        CHECK_MSG(wx_w2v_logits(m, wave->data, lengths[li], &got, &t, &err) == WX_OK, "%s: %s",
                  key, err.msg);
        if (!got) continue;
        int64_t v = wx_w2v_vocab_size(m);
        CHECK_MSG(t == ref->dims[0] && v == ref->dims[1], "%s: (%lld, %lld) vs (%lld, %lld)", key,
                  (long long)t, (long long)v, (long long)ref->dims[0], (long long)ref->dims[1]);
        CHECK(t == wx_w2v_num_frames(m, lengths[li]));
        if (t != ref->dims[0] || v != ref->dims[1]) { free(got); continue; }
        const float *r = ref->data;
        double max_err = 0.0;
        int argmax_ok = 0, argmax_checked = 0;
        for (int64_t f = 0; f < t; f++) {
            int ga = 0, ra = 0;
            for (int64_t j = 0; j < v; j++) {
                double e = fabs((double)got[f * v + j] - r[f * v + j]);
                max_err = e > max_err ? e : max_err;
                if (got[f * v + j] > got[f * v + ga]) ga = (int)j;
                if (r[f * v + j] > r[f * v + ra]) ra = (int)j;
            }
            /* argmax agreement where the reference's best beats its runner-up by more than
             * twice the error bound (2e-4) (otherwise either answer is within tolerance) */
            float second = -INFINITY;
            for (int64_t j = 0; j < v; j++)
                if (j != ra && r[f * v + j] > second) second = r[f * v + j];
            if (r[f * v + ra] - second > 2e-4f) {
                argmax_checked++;
                argmax_ok += ga == ra;
            }
        }
        printf("  %-14s T=%-3lld max abs err %.3g, argmax %d/%d\n", key, (long long)t, max_err,
               argmax_ok, argmax_checked);
        /* float32 throughout on both sides, logits O(1): the differences are summation
         * order (sgemm blocking, the 128-tap grouped positional conv, GroupNorm over the
         * first conv's frames), measured ≤ 1.5e-6; 1e-4 leaves a 60x margin and still
         * catches a positional-conv frame shift (measured 3e-3 to 5e-2) or one norm's eps
         * of 1e-3 instead of 1e-5 (1.5e-4) */
        CHECK_MSG(max_err <= 1e-4, "%s: max abs err %.3g > 1e-4", key, max_err);
        CHECK_MSG(argmax_ok == argmax_checked, "%s: argmax differs in %d frames", key,
                  argmax_checked - argmax_ok);
        free(got);
    }
}

static void test_models(wx_backend *be, const char *dir, const wx_fixture *fx)
{
    char path[4096];
    wx_err err = {{0}};
    wx_w2v *m = NULL;

    snprintf(path, sizeof path, "%s/wav2vec2_hf_base", dir);
    CHECK_MSG(wx_w2v_load(path, NULL, be, &m, &err) == WX_OK, "%s", err.msg);
    if (m) {
        const wx_w2v_config *c = wx_w2v_config_of(m);
        CHECK(c->hidden == 32 && c->n_layers == 2 && c->n_heads == 4 && !c->layer_norm_extractor &&
              !c->stable_layer_norm && !c->conv_bias && !c->normalize_waveform);
        CHECK(wx_w2v_vocab_size(m) == 12);
        for (int i = 0; i < 12; i++) CHECK(strcmp(wx_w2v_label(m, i), HF_VOCAB[i]) == 0);
        CHECK(wx_w2v_label(m, 12) == NULL && wx_w2v_label(m, -1) == NULL);
        CHECK(wx_w2v_weight_bytes(m) > 30000 * sizeof(float));
        compare(m, fx, "hf_base");
        float *l = NULL;
        int64_t t = 1;
        CHECK(wx_w2v_logits(m, ((const wx_fixture_array *)wx_fixture_get(fx, "wave"))->data, 399,
                            &l, &t, &err) == WX_ERR_INVALID_INPUT && !l && t == 0);
        wx_w2v_free(m);
        m = NULL;
    }

    snprintf(path, sizeof path, "%s/wav2vec2_hf_large", dir);
    CHECK_MSG(wx_w2v_load(path, NULL, be, &m, &err) == WX_OK, "%s", err.msg);
    if (m) {
        const wx_w2v_config *c = wx_w2v_config_of(m);
        CHECK(c->hidden == 16 && c->layer_norm_extractor && c->stable_layer_norm && c->conv_bias);
        compare(m, fx, "hf_large");
        wx_w2v_free(m);
        m = NULL;
    }

    snprintf(path, sizeof path, "%s/wav2vec2_ta_base.pth", dir);
    CHECK_MSG(wx_w2v_load_pth(path, &TA_BASE, be, &m, &err) == WX_OK, "%s", err.msg);
    if (m) {
        const wx_w2v_config *c = wx_w2v_config_of(m);
        CHECK(c->hidden == 32 && c->n_layers == 1 && c->ffn == 64 && c->pos_groups == 16 &&
              c->pos_kernel == 128 && !c->layer_norm_extractor && c->normalize_waveform);
        CHECK(wx_w2v_vocab_size(m) == 10 && strcmp(wx_w2v_label(m, 0), "-") == 0);
        compare(m, fx, "ta_base");
        wx_w2v_free(m);
        m = NULL;
    }

    snprintf(path, sizeof path, "%s/wav2vec2_ta_large.pth", dir);
    CHECK_MSG(wx_w2v_load_pth(path, &TA_LARGE, be, &m, &err) == WX_OK, "%s", err.msg);
    if (m) {
        const wx_w2v_config *c = wx_w2v_config_of(m);
        CHECK(c->hidden == 16 && c->layer_norm_extractor && c->stable_layer_norm && c->conv_bias);
        compare(m, fx, "ta_large");
        wx_w2v_free(m);
        m = NULL;
    }
}

/* The built-in bundle table matches torchaudio's get_labels() sizes / aux_num_out. */
static void test_bundles(void)
{
    static const struct { const char *name; int n; int rm; const char *l1; } want[] = {
        {"WAV2VEC2_ASR_BASE_960H", 29, 3, "|"}, {"VOXPOPULI_ASR_BASE_10K_FR", 43, 3, "|"},
        {"VOXPOPULI_ASR_BASE_10K_DE", 32, 4, "|"}, {"VOXPOPULI_ASR_BASE_10K_ES", 35, 4, "|"},
        {"VOXPOPULI_ASR_BASE_10K_IT", 37, 3, "|"}};
    for (int i = 0; i < 5; i++) {
        const wx_w2v_bundle *b = wx_w2v_find_bundle(want[i].name);
        CHECK_MSG(b && b->n_labels == want[i].n && b->n_remove == want[i].rm && b->n_heads == 12 &&
                  strcmp(b->labels[0], "-") == 0 && strcmp(b->labels[1], want[i].l1) == 0,
                  "%s", want[i].name);
    }
    CHECK(wx_w2v_find_bundle("WAV2VEC2_ASR_LARGE_LV60K_960H") == NULL);
    const wx_w2v_bundle *en = wx_w2v_find_bundle("WAV2VEC2_ASR_BASE_960H");
    CHECK(en && strcmp(en->labels[2], "E") == 0 && strcmp(en->labels[28], "Z") == 0);
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* Copies file src to dst, keeping the first `keep` bytes (all when keep is SIZE_MAX). */
static int copy_file(const char *src, const char *dst, size_t keep)
{
    char *data = NULL;
    size_t n = 0;
    wx_err err = {{0}};
    if (wx_read_file(src, &data, &n, &err) != WX_OK) return -1;
    int rc = write_file(dst, data, keep < n ? keep : n);
    free(data);
    return rc;
}

/* tmp/config.json = src's config with the first `from` replaced by `to`. */
static int edit_config(const char *src_dir, const char *tmp, const char *from, const char *to)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", src_dir);
    char *data = NULL;
    size_t n = 0;
    wx_err err = {{0}};
    if (wx_read_file(path, &data, &n, &err) != WX_OK) return -1;
    char *hit = strstr(data, from);
    if (!hit) { free(data); return -1; }
    size_t pre = (size_t)(hit - data), out_n = n - strlen(from) + strlen(to);
    char *out = malloc(out_n + 1);
    memcpy(out, data, pre);
    memcpy(out + pre, to, strlen(to));
    memcpy(out + pre + strlen(to), hit + strlen(from), n - pre - strlen(from));
    snprintf(path, sizeof path, "%s/config.json", tmp);
    int rc = write_file(path, out, out_n);
    free(out);
    free(data);
    return rc;
}

static void test_errors(wx_backend *be, const char *dir)
{
    wx_w2v *m = NULL;
    wx_err err = {{0}};
    char src[4096], path[4200], tmpl[] = "/tmp/wx_w2v_XXXXXX";
    char *tmp = mkdtemp(tmpl);
    CHECK(tmp != NULL);
    if (!tmp) return;
    snprintf(src, sizeof src, "%s/wav2vec2_hf_base", dir);

    /* missing config */
    CHECK(wx_w2v_load("/nonexistent/w2v", NULL, be, &m, &err) == WX_ERR_IO && !m);
    CHECK_MSG(strstr(err.msg, "/nonexistent/w2v/config.json") != NULL, "%s", err.msg);

    /* config and vocab, but no weights */
    char from[4200], to[4200], from_vocab[4200], to_vocab[4200];
    snprintf(from_vocab, sizeof from_vocab, "%s/vocab.json", src);
    snprintf(to_vocab, sizeof to_vocab, "%s/vocab.json", tmp);
    CHECK(copy_file(from_vocab, to_vocab, SIZE_MAX) == 0);
    CHECK(edit_config(src, tmp, "\"group\"", "\"group\"") == 0);
    CHECK(wx_w2v_load(tmp, NULL, be, &m, &err) == WX_ERR_IO && !m);
    CHECK_MSG(strstr(err.msg, "model.safetensors") != NULL, "%s", err.msg);

    /* truncated safetensors: half the file, then only the header's first bytes */
    snprintf(from, sizeof from, "%s/model.safetensors", src);
    snprintf(to, sizeof to, "%s/model.safetensors", tmp);
    static const size_t cuts[3] = {40000, 1000, 5};
    for (int i = 0; i < 3; i++) {
        CHECK(copy_file(from, to, cuts[i]) == 0);
        wx_status s = wx_w2v_load(tmp, NULL, be, &m, &err);
        CHECK_MSG(s != WX_OK && !m && strstr(err.msg, to) != NULL, "cut %zu: %s", cuts[i],
                  err.msg);
        printf("  truncated at %zu: %s\n", cuts[i], err.msg);
    }
    CHECK(copy_file(from, to, SIZE_MAX) == 0);
    CHECK_MSG(wx_w2v_load(tmp, NULL, be, &m, &err) == WX_OK, "%s", err.msg); /* the copy loads */
    wx_w2v_free(m);
    m = NULL;

    /* vocab.json: a token beyond vocab_size (never emitted) is skipped; a nested one refused */
    static const char extra[] = "{\"<pad>\": 0, \"a\": 5, \"<added>\": 12}";
    CHECK(write_file(to_vocab, extra, sizeof extra - 1) == 0);
    CHECK_MSG(wx_w2v_load(tmp, NULL, be, &m, &err) == WX_OK, "%s", err.msg);
    if (m) {
        CHECK(strcmp(wx_w2v_label(m, 5), "a") == 0 && strcmp(wx_w2v_label(m, 4), "") == 0);
        wx_w2v_free(m);
        m = NULL;
    }
    static const char nested[] = "{\"en\": {\"a\": 1}}";
    CHECK(write_file(to_vocab, nested, sizeof nested - 1) == 0);
    CHECK(wx_w2v_load(tmp, NULL, be, &m, &err) == WX_ERR_FORMAT && !m);
    CHECK_MSG(strstr(err.msg, "vocab.json") != NULL, "%s", err.msg);
    CHECK(copy_file(from_vocab, to_vocab, SIZE_MAX) == 0);

    /* unknown feat_extract_norm, hidden_act, inconsistent sizes */
    CHECK(edit_config(src, tmp, "\"group\"", "\"batch\"") == 0);
    CHECK(wx_w2v_load(tmp, NULL, be, &m, &err) == WX_ERR_UNSUPPORTED && !m);
    CHECK_MSG(strstr(err.msg, "feat_extract_norm") && strstr(err.msg, "config.json"), "%s",
              err.msg);
    CHECK(edit_config(src, tmp, "\"hidden_act\": \"gelu\"", "\"hidden_act\": \"relu\"") == 0);
    CHECK(wx_w2v_load(tmp, NULL, be, &m, &err) == WX_ERR_UNSUPPORTED && !m);
    CHECK_MSG(strstr(err.msg, "hidden_act") != NULL, "%s", err.msg);
    CHECK(edit_config(src, tmp, "\"adapter_attn_dim\": null", "\"adapter_attn_dim\": 16") == 0);
    CHECK(wx_w2v_load(tmp, NULL, be, &m, &err) == WX_ERR_UNSUPPORTED && !m);
    CHECK_MSG(strstr(err.msg, "adapter_attn_dim") != NULL, "%s", err.msg);
    CHECK(edit_config(src, tmp, "\"num_attention_heads\": 4", "\"num_attention_heads\": 5") == 0);
    CHECK(wx_w2v_load(tmp, NULL, be, &m, &err) == WX_ERR_FORMAT && !m);
    CHECK(edit_config(src, tmp, "\"hidden_size\": 32", "\"hidden_size\": 48") == 0);
    CHECK(wx_w2v_load(tmp, NULL, be, &m, &err) != WX_OK && !m); /* shapes disagree */
    CHECK_MSG(strstr(err.msg, "model.safetensors") != NULL, "%s", err.msg);
    printf("  wrong hidden_size: %s\n", err.msg);
    CHECK(edit_config(src, tmp, "\"group\"", "\"group\"") == 0);
    unlink(to);

    /* .pth: truncated, wrong bundle, unknown bundle, not a state dict */
    snprintf(from, sizeof from, "%s/wav2vec2_ta_base.pth", dir);
    snprintf(path, sizeof path, "%s/cut.pth", tmp);
    CHECK(copy_file(from, path, 30000) == 0);
    CHECK(wx_w2v_load_pth(path, &TA_BASE, be, &m, &err) != WX_OK && !m);
    CHECK_MSG(strstr(err.msg, path) != NULL, "%s", err.msg);
    printf("  truncated .pth: %s\n", err.msg);
    unlink(path);
    CHECK(wx_w2v_load(from, "WAV2VEC2_ASR_BASE_960H", be, &m, &err) == WX_ERR_FORMAT && !m);
    CHECK_MSG(strstr(err.msg, "aux.weight") != NULL, "%s", err.msg);
    CHECK(wx_w2v_load(from, "NO_SUCH_BUNDLE", be, &m, &err) == WX_ERR_UNSUPPORTED && !m);
    CHECK(wx_w2v_load(from, NULL, be, &m, &err) == WX_ERR_INVALID_INPUT && !m); /* no bundle */
    CHECK_MSG(strstr(err.msg, "bundle") != NULL, "%s", err.msg);
    snprintf(from, sizeof from, "%s/torch_ckpt_seed.pt", dir);
    CHECK(wx_w2v_load(from, "WAV2VEC2_ASR_BASE_960H", be, &m, &err) != WX_OK && !m);
    printf("  foreign .pth: %s\n", err.msg);

    snprintf(path, sizeof path, "%s/config.json", tmp);
    unlink(path);
    snprintf(path, sizeof path, "%s/vocab.json", tmp);
    unlink(path);
    rmdir(tmp);
}

int main(void)
{
    wx_err err = {{0}};
    wx_backend *be = wx_test_cpu_backend_with_vad(2, &err);
    if (!be) { fprintf(stderr, "%s\n", err.msg); return 1; }
    const char *dir = wx_test_env("WX_FIXTURE_DIR", "tests/fixtures");
    char path[4096];
    snprintf(path, sizeof path, "%s/wav2vec2.fix", dir);
    wx_fixture fx;
    if (wx_fixture_load(path, &fx) != 0) { CHECK(!"fixture"); return wx_test_finish("test_wav2vec2"); }
    test_bundles();
    test_models(be, dir, &fx);
    test_errors(be, dir);
    wx_fixture_free(&fx);
    be->ops->destroy(be);
    return wx_test_finish("test_wav2vec2");
}
