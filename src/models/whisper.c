/* whisper.c — Whisper encoder and decoder forward passes over the backend interface, with
 * weights read from a CTranslate2 model directory (WhisperSpec) and converted once at load:
 * weight matrices to the backend's weight dtype (fp16 on CUDA), the rest to float32. Layer
 * layout follows CTranslate2's spec: fused QKV self-attention, separate query and fused
 * key/value cross-attention, pre-norm blocks, exact GELU, tied output projection
 * (decoder/projection aliases decoder/embeddings). */
#include "whisper.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LN_EPS 1e-5f
#define MAX_NEW_TOKENS 224
#define ALIGN_LOGIT_ROWS 128   /* word-timing logits per projection (a GEMM, not a GEMV) */

typedef struct wx_attn_weights {
    wx_tensor *ln_g, *ln_b;     /* (D) */
    wx_tensor *qkv_w, *qkv_b;   /* self: (3D, D), (3D); cross: query (D, D), (D) */
    wx_tensor *kv_w, *kv_b;     /* cross only: (2D, D), (2D) */
    wx_tensor *out_w, *out_b;   /* (D, D), (D) */
} wx_attn_weights;

typedef struct wx_ffn_weights {
    wx_tensor *ln_g, *ln_b;     /* (D) */
    wx_tensor *w1, *b1;         /* (4D, D), (4D) */
    wx_tensor *w2, *b2;         /* (D, 4D), (D) */
} wx_ffn_weights;

typedef struct wx_whisper_layer {
    wx_attn_weights self;
    wx_attn_weights cross;      /* decoder layers only */
    wx_ffn_weights ffn;
} wx_whisper_layer;

struct wx_whisper {
    wx_backend *be;
    wx_whisper_hparams hp;
    wx_ct2_model *ct2;            /* the file, only while loading */
    wx_ct2_config config;         /* owned copy of config.json's arrays */
    enum wx_dtype matrix_dtype;   /* of linear weights and tok_emb: weight dtype or WX_Q8 */
    wx_tensor *conv1_w, *conv1_b; /* (D, n_mels, 3) weight dtype, (D) */
    wx_tensor *conv2_w, *conv2_b; /* (D, D, 3) weight dtype, (D) */
    wx_tensor *enc_pos;           /* (n_audio_ctx, D) */
    wx_tensor *enc_ln_g, *enc_ln_b;
    wx_whisper_layer *enc;        /* n_audio_layer */
    wx_tensor *tok_emb;           /* (n_vocab, D) matrix dtype, also the output projection */
    wx_tensor *dec_pos;           /* (n_text_ctx, D) */
    wx_tensor *dec_ln_g, *dec_ln_b;
    wx_whisper_layer *dec;        /* n_text_layer */
    wx_tensor **all;              /* every weight tensor, for freeing */
    int n_all, cap_all;
};

struct wx_whisper_state {
    wx_whisper *model;
    uint32_t serial;              /* unique per state in the process: its step keys */
    int max_slots, max_rows, max_tokens, t_cap;
    int64_t scratch_rows;
    /* encoder, one chunk at a time */
    wx_tensor *mel;               /* (1, n_mels, 3000) */
    wx_tensor *conv1_out;         /* (1, D, 3000) */
    wx_tensor *conv2_out;         /* (1, D, 1500) */
    wx_tensor *enc_x;             /* (1, 1500, D) */
    wx_tensor *enc_h;             /* (1, 1500, D) */
    wx_tensor *enc_qkv;           /* (1, 1500, 3D) */
    wx_tensor *enc_ffn;           /* (1, 1500, 4D) */
    /* decoder */
    wx_tensor **cross_kv;         /* per layer (max_slots, 1500, 2D) */
    wx_tensor **self_k, **self_v; /* per layer (max_rows, t_cap, D) */
    wx_tensor *x, *h, *attn;      /* (scratch_rows, D) */
    wx_tensor *qkv;               /* (scratch_rows, 3D) */
    wx_tensor *ffn;               /* (scratch_rows, 4D) */
    wx_tensor *last;              /* (max_rows, D) */
    wx_tensor *logits;            /* (max_rows, n_vocab) */
    int n_logit_rows;
    int32_t *row_map;             /* (max_rows) host scratch for reorders */
    /* word timing, grown by wx_whisper_align to the largest batch seen */
    wx_tensor *align_probs;       /* (align_floats): (B, n_alignment_heads, T, F) views */
    wx_tensor *align_matrix;      /* (align_floats / n_alignment_heads): (B, T, F) views */
    int64_t align_floats;
    wx_tensor *align_logits;      /* (ALIGN_LOGIT_ROWS, n_vocab) */
    int32_t *slot_map;            /* (max_slots) */
};

/* ---- loading ---------------------------------------------------------------------- */

static wx_status track(wx_whisper *m, wx_tensor *t, wx_err *err)
{
    if (m->n_all == m->cap_all) {
        int cap = m->cap_all ? m->cap_all * 2 : 256;
        wx_tensor **all = realloc(m->all, (size_t)cap * sizeof *all);
        if (!all) return wx_fail(err, WX_ERR_NOMEM, "out of memory loading weights");
        m->all = all;
        m->cap_all = cap;
    }
    m->all[m->n_all++] = t;
    return WX_OK;
}

/* Loads variable `name` as a backend tensor of `dtype` with its own shape. Missing variables
 * are an error unless optional, in which case *out stays NULL. */
static wx_status load_typed(wx_whisper *m, const char *name, bool optional, enum wx_dtype dtype,
                            wx_tensor **out, wx_err *err)
{
    *out = NULL;
    const wx_ct2_var *v = wx_ct2_model_find(m->ct2, name);
    if (!v) {
        if (optional) return WX_OK;
        return wx_fail(err, WX_ERR_FORMAT, "model.bin has no variable '%s': not a Whisper "
                       "CTranslate2 model, or an unsupported conversion", name);
    }
    if (v->rank < 1 || v->rank > WX_MAX_DIMS)
        return wx_fail(err, WX_ERR_FORMAT, "variable '%s' has unsupported rank %d", name, v->rank);
    int64_t n = wx_ct2_var_nelem(v);
    float *host = malloc((size_t)n * sizeof *host);
    if (!host) return wx_fail(err, WX_ERR_NOMEM, "out of memory reading '%s'", name);
    wx_status st = wx_ct2_model_read_f32(m->ct2, name, host, n, err);
    if (st != WX_OK) goto done;
    wx_tensor *t = m->be->ops->alloc(m->be, dtype, v->rank, v->dims);
    if (!t) { st = wx_fail(err, WX_ERR_NOMEM, "backend out of memory for '%s'", name); goto done; }
    m->be->ops->upload_f32(m->be, t, host, n);
    st = track(m, t, err);
    if (st != WX_OK) { m->be->ops->free(m->be, t); goto done; }
    *out = t;
done:
    free(host);
    return st;
}

/* Biases, layer-norm parameters and position tables: float32. */
static wx_status load_var(wx_whisper *m, const char *name, bool optional, wx_tensor **out,
                          wx_err *err)
{
    return load_typed(m, name, optional, WX_F32, out, err);
}

/* Linear weights and the token embedding: the model's matrix dtype. */
static wx_status load_matrix(wx_whisper *m, const char *name, wx_tensor **out, wx_err *err)
{
    return load_typed(m, name, false, m->matrix_dtype, out, err);
}

/* Convolution weights: the backend's weight dtype (CTranslate2 keeps them in float for its
 * int8 compute type on the CPU, oneDNN having no int8 Conv1D there). */
static wx_status load_conv(wx_whisper *m, const char *name, wx_tensor **out, wx_err *err)
{
    return load_typed(m, name, false, m->be->ops->weight_dtype, out, err);
}

/* Checks that a loaded tensor has the expected 1- or 2-D shape (d1 = 0 for 1-D). */
static wx_status expect_shape(const wx_tensor *t, const char *name, int64_t d0, int64_t d1,
                              wx_err *err)
{
    bool ok = d1 ? (t->ndim == 2 && t->shape[0] == d0 && t->shape[1] == d1)
                 : (t->ndim == 1 && t->shape[0] == d0);
    if (!ok)
        return wx_fail(err, WX_ERR_FORMAT, "variable '%s' has an unexpected shape", name);
    return WX_OK;
}

static wx_status load_linear(wx_whisper *m, const char *prefix, int64_t n_out, int64_t n_in,
                             wx_tensor **w, wx_tensor **b, wx_err *err)
{
    char name[256];
    snprintf(name, sizeof name, "%s/weight", prefix);
    wx_status st = load_matrix(m, name, w, err);
    if (st == WX_OK) st = expect_shape(*w, name, n_out, n_in, err);
    if (st != WX_OK) return st;
    snprintf(name, sizeof name, "%s/bias", prefix);
    st = load_var(m, name, true, b, err);
    if (st == WX_OK && *b) st = expect_shape(*b, name, n_out, 0, err);
    return st;
}

static wx_status load_norm(wx_whisper *m, const char *prefix, wx_tensor **g, wx_tensor **b,
                           wx_err *err)
{
    char name[256];
    int64_t d = m->hp.d_model;
    snprintf(name, sizeof name, "%s/gamma", prefix);
    wx_status st = load_var(m, name, false, g, err);
    if (st == WX_OK) st = expect_shape(*g, name, d, 0, err);
    if (st != WX_OK) return st;
    snprintf(name, sizeof name, "%s/beta", prefix);
    st = load_var(m, name, false, b, err);
    if (st == WX_OK) st = expect_shape(*b, name, d, 0, err);
    return st;
}

static wx_status load_layer(wx_whisper *m, const char *stack, int i, bool decoder,
                            wx_whisper_layer *l, wx_err *err)
{
    int64_t d = m->hp.d_model;
    char p[160], q[200];
    snprintf(p, sizeof p, "%s/layer_%d", stack, i);
    wx_status st;
#define TRY(call) do { st = (call); if (st != WX_OK) return st; } while (0)
    snprintf(q, sizeof q, "%s/self_attention/layer_norm", p);
    TRY(load_norm(m, q, &l->self.ln_g, &l->self.ln_b, err));
    snprintf(q, sizeof q, "%s/self_attention/linear_0", p);
    TRY(load_linear(m, q, 3 * d, d, &l->self.qkv_w, &l->self.qkv_b, err));
    snprintf(q, sizeof q, "%s/self_attention/linear_1", p);
    TRY(load_linear(m, q, d, d, &l->self.out_w, &l->self.out_b, err));
    if (decoder) {
        snprintf(q, sizeof q, "%s/attention/layer_norm", p);
        TRY(load_norm(m, q, &l->cross.ln_g, &l->cross.ln_b, err));
        snprintf(q, sizeof q, "%s/attention/linear_0", p);
        TRY(load_linear(m, q, d, d, &l->cross.qkv_w, &l->cross.qkv_b, err));
        snprintf(q, sizeof q, "%s/attention/linear_1", p);
        TRY(load_linear(m, q, 2 * d, d, &l->cross.kv_w, &l->cross.kv_b, err));
        snprintf(q, sizeof q, "%s/attention/linear_2", p);
        TRY(load_linear(m, q, d, d, &l->cross.out_w, &l->cross.out_b, err));
    }
    snprintf(q, sizeof q, "%s/ffn/layer_norm", p);
    TRY(load_norm(m, q, &l->ffn.ln_g, &l->ffn.ln_b, err));
    snprintf(q, sizeof q, "%s/ffn/linear_0", p);
    TRY(load_linear(m, q, 4 * d, d, &l->ffn.w1, &l->ffn.b1, err));
    snprintf(q, sizeof q, "%s/ffn/linear_1", p);
    TRY(load_linear(m, q, d, 4 * d, &l->ffn.w2, &l->ffn.b2, err));
#undef TRY
    return WX_OK;
}

static int count_layers(const wx_ct2_model *ct2, const char *stack)
{
    char name[160];
    int n = 0;
    for (;;) {
        snprintf(name, sizeof name, "%s/layer_%d/ffn/linear_0/weight", stack, n);
        if (!wx_ct2_model_find(ct2, name)) return n;
        n++;
    }
}

/* Hyper-parameters from the variable shapes (CTranslate2 stores no separate config). */
static wx_status read_hparams(wx_whisper *m, wx_err *err)
{
    const wx_ct2_var *conv1 = wx_ct2_model_find(m->ct2, "encoder/conv1/weight");
    const wx_ct2_var *epos = wx_ct2_model_find(m->ct2, "encoder/position_encodings/encodings");
    const wx_ct2_var *dpos = wx_ct2_model_find(m->ct2, "decoder/position_encodings/encodings");
    const wx_ct2_var *emb = wx_ct2_model_find(m->ct2, "decoder/embeddings/weight");
    if (strcmp(wx_ct2_model_spec(m->ct2), "WhisperSpec") != 0)
        return wx_fail(err, WX_ERR_FORMAT, "model.bin holds a '%s', not a Whisper model",
                       wx_ct2_model_spec(m->ct2));
    if (!conv1 || conv1->rank != 3 || !epos || epos->rank != 2 || !dpos || dpos->rank != 2 ||
        !emb || emb->rank != 2)
        return wx_fail(err, WX_ERR_FORMAT, "model.bin lacks the Whisper encoder/decoder "
                       "variables (conv1, position encodings, embeddings)");
    wx_whisper_hparams *hp = &m->hp;
    hp->d_model = (int)conv1->dims[0];
    hp->n_mels = (int)conv1->dims[1];
    hp->n_audio_ctx = (int)epos->dims[0];
    hp->n_text_ctx = (int)dpos->dims[0];
    hp->n_vocab = (int)emb->dims[0];
    hp->n_head = (int)wx_ct2_model_scalar_int(m->ct2, "encoder/num_heads", hp->d_model / 64);
    hp->n_audio_layer = count_layers(m->ct2, "encoder");
    hp->n_text_layer = count_layers(m->ct2, "decoder");
    if (conv1->dims[2] != 3 || epos->dims[1] != hp->d_model || dpos->dims[1] != hp->d_model ||
        emb->dims[1] != hp->d_model || hp->n_head <= 0 || hp->d_model % hp->n_head != 0 ||
        hp->n_audio_layer == 0 || hp->n_text_layer == 0 || hp->n_audio_ctx * 2 != 3000)
        return wx_fail(err, WX_ERR_FORMAT, "model.bin has inconsistent Whisper dimensions");
    return WX_OK;
}

static wx_status load_weights(wx_whisper *m, wx_err *err)
{
    wx_whisper_hparams *hp = &m->hp;
    int64_t d = hp->d_model;
    wx_status st;
#define TRY(call) do { st = (call); if (st != WX_OK) return st; } while (0)
    TRY(load_conv(m, "encoder/conv1/weight", &m->conv1_w, err));
    TRY(load_var(m, "encoder/conv1/bias", false, &m->conv1_b, err));
    TRY(load_conv(m, "encoder/conv2/weight", &m->conv2_w, err));
    TRY(load_var(m, "encoder/conv2/bias", false, &m->conv2_b, err));
    TRY(expect_shape(m->conv1_b, "encoder/conv1/bias", d, 0, err));
    TRY(expect_shape(m->conv2_b, "encoder/conv2/bias", d, 0, err));
    if (m->conv2_w->ndim != 3 || m->conv2_w->shape[0] != d || m->conv2_w->shape[1] != d ||
        m->conv2_w->shape[2] != 3)
        return wx_fail(err, WX_ERR_FORMAT, "encoder/conv2/weight has an unexpected shape");
    TRY(load_var(m, "encoder/position_encodings/encodings", false, &m->enc_pos, err));
    TRY(load_norm(m, "encoder/layer_norm", &m->enc_ln_g, &m->enc_ln_b, err));
    TRY(load_matrix(m, "decoder/embeddings/weight", &m->tok_emb, err));
    TRY(load_var(m, "decoder/position_encodings/encodings", false, &m->dec_pos, err));
    TRY(load_norm(m, "decoder/layer_norm", &m->dec_ln_g, &m->dec_ln_b, err));
    m->enc = calloc((size_t)hp->n_audio_layer, sizeof *m->enc);
    m->dec = calloc((size_t)hp->n_text_layer, sizeof *m->dec);
    if (!m->enc || !m->dec) return wx_fail(err, WX_ERR_NOMEM, "out of memory loading layers");
    for (int i = 0; i < hp->n_audio_layer; i++) TRY(load_layer(m, "encoder", i, false, &m->enc[i], err));
    for (int i = 0; i < hp->n_text_layer; i++) TRY(load_layer(m, "decoder", i, true, &m->dec[i], err));
#undef TRY
    return WX_OK;
}

/* Copies n int32 values (n may be 0) into a new allocation; false when out of memory. */
static bool copy_ids(int32_t **dst, const int32_t *src, int n)
{
    *dst = malloc((size_t)(n > 0 ? n : 1) * sizeof *src);
    if (*dst && n > 0) memcpy(*dst, src, (size_t)n * sizeof *src);
    return *dst != NULL;
}

/* Keeps config.json's arrays so the file image (a host copy of every weight) can go. */
static int compare_heads(const void *a, const void *b)
{
    const int32_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* alignment_heads sorted by (layer, head), as openai/whisper's mask orders them, so that the
 * heads of each layer are consecutive; every pair inside the decoder, none twice. */
static wx_status check_alignment_heads(wx_whisper *m, wx_err *err)
{
    wx_ct2_config *c = &m->config;
    qsort(c->alignment_heads, (size_t)c->n_alignment_heads, sizeof *c->alignment_heads,
          compare_heads);
    for (int i = 0; i < c->n_alignment_heads; i++) {
        int32_t layer = c->alignment_heads[i][0], head = c->alignment_heads[i][1];
        if (layer < 0 || layer >= m->hp.n_text_layer || head < 0 || head >= m->hp.n_head)
            return wx_fail(err, WX_ERR_FORMAT, "config.json: alignment head [%d, %d] is outside "
                           "the decoder (%d layers, %d heads)", layer, head, m->hp.n_text_layer,
                           m->hp.n_head);
        if (i > 0 && compare_heads(c->alignment_heads[i - 1], c->alignment_heads[i]) == 0)
            return wx_fail(err, WX_ERR_FORMAT, "config.json: alignment head [%d, %d] is listed "
                           "twice", layer, head);
    }
    return WX_OK;
}

static wx_status copy_config(wx_whisper *m, wx_err *err)
{
    const wx_ct2_config *c = wx_ct2_model_config(m->ct2);
    wx_ct2_config *d = &m->config;
    d->n_suppress_ids = c->n_suppress_ids;
    d->n_suppress_ids_begin = c->n_suppress_ids_begin;
    d->n_lang_ids = c->n_lang_ids;
    d->n_alignment_heads = c->n_alignment_heads;
    d->alignment_heads = malloc((size_t)(c->n_alignment_heads + 1) * sizeof *d->alignment_heads);
    if (!copy_ids(&d->suppress_ids, c->suppress_ids, c->n_suppress_ids) ||
        !copy_ids(&d->suppress_ids_begin, c->suppress_ids_begin, c->n_suppress_ids_begin) ||
        !copy_ids(&d->lang_ids, c->lang_ids, c->n_lang_ids) || !d->alignment_heads)
        return wx_fail(err, WX_ERR_NOMEM, "out of memory copying config.json");
    if (c->n_alignment_heads > 0)
        memcpy(d->alignment_heads, c->alignment_heads,
               (size_t)c->n_alignment_heads * sizeof *d->alignment_heads);
    return check_alignment_heads(m, err);
}

wx_status wx_whisper_load(const char *model_dir, wx_backend *backend, wx_whisper **out,
                          wx_err *err)
{
    return wx_whisper_load_as(model_dir, backend, backend->ops->weight_dtype, out, err);
}

wx_status wx_whisper_load_as(const char *model_dir, wx_backend *backend,
                             enum wx_dtype matrix_dtype, wx_whisper **out, wx_err *err)
{
    if (matrix_dtype == WX_Q8 && !backend->ops->q8_weights)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "the %s backend has no int8 weights",
                       backend->ops->name);
    wx_whisper *m = calloc(1, sizeof *m);
    if (!m) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    m->be = backend;
    m->matrix_dtype = matrix_dtype;
    wx_status st = wx_ct2_model_load(model_dir, &m->ct2, err);
    if (st == WX_OK) st = read_hparams(m, err);
    if (st == WX_OK) st = load_weights(m, err);
    if (st == WX_OK) st = copy_config(m, err);
    wx_ct2_model_free(m->ct2);
    m->ct2 = NULL;
    if (st != WX_OK) {
        wx_whisper_free(m);
        return st;
    }
    *out = m;
    return WX_OK;
}

void wx_whisper_free(wx_whisper *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_all; i++) m->be->ops->free(m->be, m->all[i]);
    free(m->all);
    free(m->enc);
    free(m->dec);
    free(m->config.suppress_ids);
    free(m->config.suppress_ids_begin);
    free(m->config.lang_ids);
    free(m->config.alignment_heads);
    wx_ct2_model_free(m->ct2);
    free(m);
}

const wx_whisper_hparams *wx_whisper_get_hparams(const wx_whisper *m) { return &m->hp; }
const wx_ct2_config *wx_whisper_get_config(const wx_whisper *m) { return &m->config; }
enum wx_dtype wx_whisper_matrix_dtype(const wx_whisper *m) { return m->matrix_dtype; }

/* ---- per-job state ---------------------------------------------------------------- */

static wx_tensor *alloc3_typed(wx_backend *be, enum wx_dtype dtype, int64_t a, int64_t b,
                               int64_t c)
{
    int64_t shape[3] = {a, b, c};
    return be->ops->alloc(be, dtype, 3, shape);
}

static wx_tensor *alloc3(wx_backend *be, int64_t a, int64_t b, int64_t c)
{
    return alloc3_typed(be, WX_F32, a, b, c);
}

/* One (a, b, c) attention K/V tensor per layer, in the backend's kv_dtype. */
static wx_tensor **alloc_kv_per_layer(wx_backend *be, int n, int64_t a, int64_t b, int64_t c)
{
    wx_tensor **ts = calloc((size_t)n, sizeof *ts);
    if (!ts) return NULL;
    for (int i = 0; i < n; i++) {
        ts[i] = alloc3_typed(be, be->ops->kv_dtype, a, b, c);
        if (!ts[i]) {
            for (int j = 0; j < i; j++) be->ops->free(be, ts[j]);
            free(ts);
            return NULL;
        }
    }
    return ts;
}

static void free_per_layer(wx_backend *be, wx_tensor **ts, int n)
{
    if (!ts) return;
    for (int i = 0; i < n; i++) be->ops->free(be, ts[i]);
    free(ts);
}

static int decoder_capacity(const wx_whisper_hparams *hp, int max_prompt)
{
    return max_prompt + MAX_NEW_TOKENS < hp->n_text_ctx ? max_prompt + MAX_NEW_TOKENS : hp->n_text_ctx;
}

#define STATE_TENSORS_FIXED 14   /* the state's tensors besides the per-layer K/V */
#define TENSOR_ALIGN 256          /* the largest backend alignment (CUDA's arena) */
#define SMALL_SCRATCH ((size_t)17 << 20) /* weight upload staging 16 MiB, log-mel 14 MB */

/* Rows of decoder scratch: every slot's prompt at once, every decoding row, and one whole
 * forced sequence (wx_whisper_align). */
static size_t state_scratch_rows(const wx_whisper_hparams *hp, int max_slots, int max_rows,
                                 int max_prompt)
{
    size_t prompt_rows = (size_t)max_slots * (size_t)max_prompt;
    size_t rows = prompt_rows > (size_t)max_rows ? prompt_rows : (size_t)max_rows;
    size_t cap = (size_t)decoder_capacity(hp, max_prompt);
    return rows > cap ? rows : cap;
}

size_t wx_whisper_state_bytes_for(const wx_whisper_hparams *hp, size_t kv_size, int max_slots,
                                  int max_rows, int max_prompt)
{
    size_t d = (size_t)hp->d_model, n_ctx = (size_t)hp->n_audio_ctx, layers = (size_t)hp->n_text_layer;
    size_t scratch = state_scratch_rows(hp, max_slots, max_rows, max_prompt);
    size_t floats = (size_t)hp->n_mels * 2 * n_ctx + d * 2 * n_ctx   /* mel, conv1 */
                    + n_ctx * d * (1 + 1 + 1 + 3 + 4)                /* conv2, x, h, qkv, ffn */
                    + scratch * d * 10 + (size_t)max_rows * (d + (size_t)hp->n_vocab);
    size_t kv = layers * (size_t)max_slots * n_ctx * 2 * d            /* cross K/V */
                + layers * 2 * (size_t)max_rows * (size_t)decoder_capacity(hp, max_prompt) * d;
    size_t align = (STATE_TENSORS_FIXED + 3 * layers) * TENSOR_ALIGN; /* each tensor rounded */
    return floats * sizeof(float) + kv * kv_size + align;
}

size_t wx_whisper_state_bytes(const wx_whisper *m, int max_slots, int max_rows, int max_prompt)
{
    return wx_whisper_state_bytes_for(&m->hp, wx_dtype_size(m->be->ops->kv_dtype), max_slots,
                                      max_rows, max_prompt);
}

size_t wx_whisper_scratch_bytes_for(const wx_whisper_hparams *hp, size_t weight_size,
                                    size_t kv_size, int max_slots, int max_rows, int max_prompt)
{
    size_t d = (size_t)hp->d_model, n_ctx = (size_t)hp->n_audio_ctx;
    size_t rows = state_scratch_rows(hp, max_slots, max_rows, max_prompt);
    size_t t_cap = (size_t)decoder_capacity(hp, max_prompt), need = SMALL_SCRATCH;
    /* linear: the activation rows rounded to fp16 (widest: the FFN's 4D inputs) */
    size_t a16 = weight_size == 2 ? (rows > n_ctx ? rows : n_ctx) * 4 * d * 2 : 0;
    /* reorder: every moved entry gathered (all rows of a self-attention cache, or all slots of
     * the cross K/V), plus the (dst, src) pairs */
    size_t self_kv = (size_t)max_rows * t_cap * d * kv_size + 8 * (size_t)max_rows + TENSOR_ALIGN;
    size_t cross = (size_t)max_slots * n_ctx * 2 * d * kv_size + 8 * (size_t)max_slots + TENSOR_ALIGN;
    if (a16 > need) need = a16;
    if (self_kv > need) need = self_kv;
    if (cross > need) need = cross;
    return need;
}

size_t wx_whisper_weight_bytes_for(const wx_whisper_hparams *hp, size_t weight_size)
{
    size_t d = (size_t)hp->d_model, enc = (size_t)hp->n_audio_layer, dec = (size_t)hp->n_text_layer;
    size_t matrices = enc * 12 * d * d + dec * 16 * d * d             /* attention + FFN */
                      + d * (size_t)hp->n_mels * 3 + d * d * 3         /* conv1, conv2 */
                      + (size_t)hp->n_vocab * d;                       /* tied embedding */
    size_t vectors = enc * 13 * d + dec * 19 * d + 4 * d + 2 * d       /* biases, norms, conv b */
                     + (size_t)hp->n_audio_ctx * d + (size_t)hp->n_text_ctx * d; /* positions */
    size_t tensors = enc * 16 + dec * 26 + 12;
    return matrices * weight_size + vectors * sizeof(float) + tensors * TENSOR_ALIGN;
}

/* The whole state in one block of the backend's own (begin_pool), and op scratch grown to
 * what its ops will ask for, when the backend accounts device memory. */
static wx_status state_pool_begin(wx_whisper *m, int max_slots, int max_rows, int max_prompt,
                                  wx_err *err)
{
    wx_backend *be = m->be;
    if (!be->ops->begin_pool) return WX_OK;
    size_t ws = wx_dtype_size(be->ops->weight_dtype), kv = wx_dtype_size(be->ops->kv_dtype);
    wx_status st = be->ops->reserve_scratch(
        be, wx_whisper_scratch_bytes_for(&m->hp, ws, kv, max_slots, max_rows, max_prompt), err);
    if (st != WX_OK) return st;
    return be->ops->begin_pool(be, wx_whisper_state_bytes(m, max_slots, max_rows, max_prompt), err);
}

wx_status wx_whisper_state_create(wx_whisper *m, int max_slots, int max_rows, int max_prompt,
                                  wx_whisper_state **out, wx_err *err)
{
    const wx_whisper_hparams *hp = &m->hp;
    if (max_slots < 1 || max_rows < max_slots || max_prompt < 1 || max_prompt >= hp->n_text_ctx)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "invalid decoder state size");
    wx_whisper_state *s = calloc(1, sizeof *s);
    if (!s) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    wx_backend *be = m->be;
    wx_status st = state_pool_begin(m, max_slots, max_rows, max_prompt, err);
    if (st != WX_OK) {
        free(s);
        return st;
    }
    int64_t d = hp->d_model, n_ctx = hp->n_audio_ctx, frames = 2 * n_ctx;
    static _Atomic uint32_t next_serial = 1;
    s->model = m;
    s->serial = next_serial++;
    s->max_slots = max_slots;
    s->max_rows = max_rows;
    s->max_tokens = max_prompt;
    s->t_cap = decoder_capacity(hp, max_prompt);
    s->scratch_rows = (int64_t)state_scratch_rows(hp, max_slots, max_rows, max_prompt);
    s->mel = alloc3(be, 1, hp->n_mels, frames);
    s->conv1_out = alloc3(be, 1, d, frames);
    s->conv2_out = alloc3(be, 1, d, n_ctx);
    s->enc_x = alloc3(be, 1, n_ctx, d);
    s->enc_h = alloc3(be, 1, n_ctx, d);
    s->enc_qkv = alloc3(be, 1, n_ctx, 3 * d);
    s->enc_ffn = alloc3(be, 1, n_ctx, 4 * d);
    s->cross_kv = alloc_kv_per_layer(be, hp->n_text_layer, max_slots, n_ctx, 2 * d);
    s->self_k = alloc_kv_per_layer(be, hp->n_text_layer, max_rows, s->t_cap, d);
    s->self_v = alloc_kv_per_layer(be, hp->n_text_layer, max_rows, s->t_cap, d);
    s->x = alloc3(be, 1, s->scratch_rows, d);
    s->h = alloc3(be, 1, s->scratch_rows, d);
    s->attn = alloc3(be, 1, s->scratch_rows, d);
    s->qkv = alloc3(be, 1, s->scratch_rows, 3 * d);
    s->ffn = alloc3(be, 1, s->scratch_rows, 4 * d);
    s->last = alloc3(be, 1, max_rows, d);
    s->logits = alloc3(be, 1, max_rows, hp->n_vocab);
    if (be->ops->end_pool) be->ops->end_pool(be);
    s->row_map = malloc((size_t)max_rows * sizeof *s->row_map);
    s->slot_map = malloc((size_t)max_slots * sizeof *s->slot_map);
    if (!s->row_map || !s->slot_map || !s->mel || !s->conv1_out || !s->conv2_out || !s->enc_x || !s->enc_h || !s->enc_qkv ||
        !s->enc_ffn || !s->cross_kv || !s->self_k || !s->self_v || !s->x || !s->h || !s->attn ||
        !s->qkv || !s->ffn || !s->last || !s->logits) {
        wx_whisper_state_free(s);
        return wx_fail(err, WX_ERR_NOMEM, "backend out of memory for %d chunks x %d rows of "
                       "decoder state (%.0f MiB)", max_slots, max_rows,
                       (double)wx_whisper_state_bytes(m, max_slots, max_rows, max_prompt) / 1048576.0);
    }
    *out = s;
    return WX_OK;
}

void wx_whisper_state_free(wx_whisper_state *s)
{
    if (!s) return;
    wx_backend *be = s->model->be;
    int nl = s->model->hp.n_text_layer;
    wx_tensor *ts[] = {s->mel, s->conv1_out, s->conv2_out, s->enc_x, s->enc_h, s->enc_qkv,
                       s->enc_ffn, s->x, s->h, s->attn, s->qkv, s->ffn, s->last, s->logits};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) be->ops->free(be, ts[i]);
    free_per_layer(be, s->cross_kv, nl);
    free_per_layer(be, s->self_k, nl);
    free_per_layer(be, s->self_v, nl);
    be->ops->free(be, s->align_probs);
    be->ops->free(be, s->align_matrix);
    be->ops->free(be, s->align_logits);
    free(s->row_map);
    free(s->slot_map);
    free(s);
}

/* ---- forward passes --------------------------------------------------------------- */

/* A (rows, cols) view at the start of a scratch tensor. */
static wx_tensor rows_view(const wx_tensor *t, int64_t rows, int64_t cols)
{
    int64_t shape[2] = {rows, cols};
    return wx_tensor_view(t, 0, 2, shape);
}

static wx_tensor view3(const wx_tensor *t, int64_t offset, int64_t a, int64_t b, int64_t c)
{
    int64_t shape[3] = {a, b, c};
    return wx_tensor_view(t, offset, 3, shape);
}

/* x += W_out · attention(...) for an already-computed attention output. */
static void residual_linear(wx_backend *be, wx_tensor *x, wx_tensor *tmp, const wx_tensor *in,
                            const wx_tensor *w, const wx_tensor *b)
{
    wx_op(be, linear, tmp, in, w, b);
    wx_op(be, add, x, x, tmp);
}

/* x (rows, D) += ffn(layer_norm(x)). h (rows, D) and f (rows, 4D) are scratch. */
static void ffn_block(wx_backend *be, const wx_ffn_weights *w, wx_tensor *x, wx_tensor *h,
                      wx_tensor *f)
{
    wx_op(be, layer_norm, h, x, w->ln_g, w->ln_b, LN_EPS);
    wx_op(be, linear, f, h, w->w1, w->b1);
    wx_op(be, gelu, f);
    residual_linear(be, x, h, f, w->w2, w->b2);
}

static void encoder_layer(wx_whisper_state *s, const wx_whisper_layer *l)
{
    wx_backend *be = s->model->be;
    int64_t n = s->model->hp.n_audio_ctx, d = s->model->hp.d_model;
    wx_tensor x = rows_view(s->enc_x, n, d), h = rows_view(s->enc_h, n, d);
    wx_tensor qkv = rows_view(s->enc_qkv, n, 3 * d), f = rows_view(s->enc_ffn, n, 4 * d);
    wx_op(be, layer_norm, &h, &x, l->self.ln_g, l->self.ln_b, LN_EPS);
    wx_op(be, linear, &qkv, &h, l->self.qkv_w, l->self.qkv_b);
    wx_tensor q = view3(s->enc_qkv, 0, 1, n, d), k = view3(s->enc_qkv, d, 1, n, d);
    wx_tensor v = view3(s->enc_qkv, 2 * d, 1, n, d), o = view3(s->enc_h, 0, 1, n, d);
    wx_op(be, attention, &o, &q, 3 * d, &k, &v, 3 * d, s->model->hp.n_head, n, false);
    wx_tensor o2 = rows_view(s->enc_h, n, d), tmp = rows_view(s->enc_ffn, n, d);
    residual_linear(be, &x, &tmp, &o2, l->self.out_w, l->self.out_b);
    ffn_block(be, &l->ffn, &x, &h, &f);
}

/* The slot's cross-attention K/V of decoder layer li from the encoder output enc (n, d):
 * projected straight into the cache when it is float32, else through enc_qkv (free once
 * the encoder is done) and copy_rows, which converts to the backend's kv_dtype. */
static void cross_kv_project(wx_whisper_state *s, int li, const wx_tensor *enc, int slot)
{
    wx_whisper *m = s->model;
    wx_backend *be = m->be;
    int64_t n = m->hp.n_audio_ctx, d = m->hp.d_model;
    const wx_attn_weights *w = &m->dec[li].cross;
    wx_tensor kv = view3(s->cross_kv[li], (int64_t)slot * n * 2 * d, 1, n, 2 * d);
    if (kv.dtype == WX_F32) {
        wx_tensor kv2 = rows_view(&kv, n, 2 * d);
        wx_op(be, linear, &kv2, enc, w->kv_w, w->kv_b);
        return;
    }
    wx_tensor tmp = rows_view(s->enc_qkv, n, 2 * d), tmp3 = view3(s->enc_qkv, 0, 1, n, 2 * d);
    wx_op(be, linear, &tmp, enc, w->kv_w, w->kv_b);
    wx_op(be, copy_rows, &kv, 0, &tmp3, 2 * d, n);
}

void wx_whisper_encode(wx_whisper_state *s, const float *mel, int slot)
{
    wx_whisper *m = s->model;
    wx_backend *be = m->be;
    const wx_whisper_hparams *hp = &m->hp;
    int64_t n = hp->n_audio_ctx, d = hp->d_model;
    assert(slot >= 0 && slot < s->max_slots);
    if (mel) be->ops->upload(be, s->mel, mel, wx_tensor_nbytes(s->mel));
    wx_op(be, conv1d, s->conv1_out, s->mel, m->conv1_w, m->conv1_b, 1, 1);
    wx_op(be, gelu, s->conv1_out);
    wx_op(be, conv1d, s->conv2_out, s->conv1_out, m->conv2_w, m->conv2_b, 2, 1);
    wx_op(be, gelu, s->conv2_out);
    wx_op(be, transpose, s->enc_x, s->conv2_out);
    wx_op(be, add, s->enc_x, s->enc_x, m->enc_pos);
    for (int i = 0; i < hp->n_audio_layer; i++) encoder_layer(s, &m->enc[i]);
    wx_op(be, layer_norm, s->enc_x, s->enc_x, m->enc_ln_g, m->enc_ln_b, LN_EPS);
    wx_tensor enc = rows_view(s->enc_x, n, d);
    for (int i = 0; i < hp->n_text_layer; i++) cross_kv_project(s, i, &enc, slot);
}

wx_tensor *wx_whisper_mel_input(wx_whisper_state *s) { return s->mel; }

void wx_whisper_encoder_output(wx_whisper_state *s, float *dst)
{
    wx_backend *be = s->model->be;
    be->ops->download(be, s->enc_x, dst, wx_tensor_nbytes(s->enc_x));
}

/* Self-attention block of decoder layer li over rows × n_tokens new positions. */
static void decoder_self_attention(wx_whisper_state *s, int li, int64_t rows, int64_t n_tok,
                                   int64_t past)
{
    wx_whisper *m = s->model;
    wx_backend *be = m->be;
    const wx_attn_weights *w = &m->dec[li].self;
    int64_t d = m->hp.d_model, n = rows * n_tok;
    wx_tensor x = rows_view(s->x, n, d), h = rows_view(s->h, n, d);
    wx_tensor qkv = rows_view(s->qkv, n, 3 * d);
    wx_op(be, layer_norm, &h, &x, w->ln_g, w->ln_b, LN_EPS);
    wx_op(be, linear, &qkv, &h, w->qkv_w, w->qkv_b);
    wx_tensor k_new = view3(s->qkv, d, rows, n_tok, d), v_new = view3(s->qkv, 2 * d, rows, n_tok, d);
    wx_tensor kc = view3(s->self_k[li], 0, rows, s->t_cap, d);
    wx_tensor vc = view3(s->self_v[li], 0, rows, s->t_cap, d);
    wx_op(be, copy_rows, &kc, past, &k_new, 3 * d, n_tok);
    wx_op(be, copy_rows, &vc, past, &v_new, 3 * d, n_tok);
    wx_tensor q = view3(s->qkv, 0, rows, n_tok, d), o = view3(s->attn, 0, rows, n_tok, d);
    wx_op(be, attention, &o, &q, 3 * d, &kc, &vc, d, m->hp.n_head, past + n_tok, true);
    wx_tensor o2 = rows_view(s->attn, n, d);
    residual_linear(be, &x, &h, &o2, w->out_w, w->out_b);
}

/* Word timing's capture of one forced sequence's cross-attention: the probabilities of the
 * alignment heads over the first n_frames encoder positions. */
typedef struct align_capture {
    wx_tensor probs;           /* (B, n_alignment_heads, n_tok, F) view */
    const int32_t *n_frames;   /* (B) host, each ≤ F */
} align_capture;

/* Writes the probabilities of layer li's alignment heads into cap (see align_capture). */
static void capture_alignment(wx_whisper_state *s, int li, const wx_tensor *q,
                              const wx_tensor *k, const align_capture *cap)
{
    wx_whisper *m = s->model;
    const wx_ct2_config *cfg = &m->config;
    int32_t heads[m->hp.n_head];
    int n = 0, head0 = 0;
    for (int i = 0; i < cfg->n_alignment_heads; i++) {
        if (cfg->alignment_heads[i][0] < li) head0++;
        else if (cfg->alignment_heads[i][0] == li) heads[n++] = cfg->alignment_heads[i][1];
    }
    if (n == 0) return;
    int64_t d = m->hp.d_model;
    wx_op(m->be, attention_probs, (wx_tensor *)&cap->probs, head0, q, d, k, 2 * d, m->hp.n_head,
          heads, n, cap->n_frames);
}

/* Cross-attention block: the rows of each slot attend to that slot's encoder output (slots
 * from slot0 on). cap: NULL, or the word-timing capture of this pass. */
static void decoder_cross_attention(wx_whisper_state *s, int li, int64_t slot0, int64_t n_slots,
                                    int64_t rows_per_slot, int64_t n_tok, const align_capture *cap)
{
    wx_whisper *m = s->model;
    wx_backend *be = m->be;
    const wx_attn_weights *w = &m->dec[li].cross;
    int64_t d = m->hp.d_model, n_ctx = m->hp.n_audio_ctx;
    int64_t n = n_slots * rows_per_slot * n_tok;
    wx_tensor x = rows_view(s->x, n, d), h = rows_view(s->h, n, d), qf = rows_view(s->attn, n, d);
    wx_op(be, layer_norm, &h, &x, w->ln_g, w->ln_b, LN_EPS);
    wx_op(be, linear, &qf, &h, w->qkv_w, w->qkv_b);
    wx_tensor q = view3(s->attn, 0, n_slots, rows_per_slot * n_tok, d);
    int64_t base = slot0 * n_ctx * 2 * d;
    wx_tensor k = view3(s->cross_kv[li], base, n_slots, n_ctx, d);
    wx_tensor v = view3(s->cross_kv[li], base + d, n_slots, n_ctx, d);
    wx_tensor o = view3(s->h, 0, n_slots, rows_per_slot * n_tok, d);
    wx_op(be, attention, &o, &q, d, &k, &v, 2 * d, m->hp.n_head, n_ctx, false);
    if (cap) capture_alignment(s, li, &q, &k, cap);
    wx_tensor o2 = rows_view(s->h, n, d), tmp = rows_view(s->attn, n, d);
    residual_linear(be, &x, &tmp, &o2, w->out_w, w->out_b);
}

/* logits (rows, V) = final_norm(x[:, pos]) · embeddingᵀ for the decoder output x of the last
 * decode (rows × n_tokens). The position is gathered as a (rows, 1, D) view with row stride
 * n_tokens·D. */
static void project_position(wx_whisper_state *s, int64_t rows, int n_tokens, int pos)
{
    wx_whisper *m = s->model;
    wx_backend *be = m->be;
    int64_t d = m->hp.d_model;
    wx_tensor last2 = rows_view(s->last, rows, d);
    if (n_tokens == 1) { /* x is already (rows, D): normalised straight into last */
        wx_tensor x = rows_view(s->x, rows, d);
        wx_op(be, layer_norm, &last2, &x, m->dec_ln_g, m->dec_ln_b, LN_EPS);
    } else {
        wx_tensor src = view3(s->x, (int64_t)pos * d, rows, 1, d);
        wx_tensor last = view3(s->last, 0, rows, 1, d);
        wx_op(be, copy_rows, &last, 0, &src, (int64_t)n_tokens * d, 1);
        wx_op(be, layer_norm, &last2, &last2, m->dec_ln_g, m->dec_ln_b, LN_EPS);
    }
    wx_tensor logits = rows_view(s->logits, rows, m->hp.n_vocab);
    wx_op(be, linear, &logits, &last2, m->tok_emb, NULL);
    s->n_logit_rows = (int)rows;
}

/* The decoder layers over rows × n_tokens new tokens at [past, past + n_tokens); leaves the
 * last layer's output (before the final norm) in x. */
static void decoder_layers(wx_whisper_state *s, const int32_t *tokens, int slot0, int n_slots,
                           int rows_per_slot, int n_tokens, int past, const align_capture *cap)
{
    wx_whisper *m = s->model;
    wx_backend *be = m->be;
    int64_t d = m->hp.d_model, rows = (int64_t)n_slots * rows_per_slot;
    assert(slot0 + n_slots <= s->max_slots && rows <= s->max_rows);
    assert(rows * n_tokens <= s->scratch_rows && past + n_tokens <= s->t_cap);
    wx_tensor x = view3(s->x, 0, rows, n_tokens, d);
    wx_op(be, embed, &x, tokens, m->tok_emb, m->dec_pos, past);
    for (int i = 0; i < m->hp.n_text_layer; i++) {
        decoder_self_attention(s, i, rows, n_tokens, past);
        decoder_cross_attention(s, i, slot0, n_slots, rows_per_slot, n_tokens, cap);
        wx_tensor x2 = rows_view(s->x, rows * n_tokens, d), h = rows_view(s->h, rows * n_tokens, d);
        wx_tensor f = rows_view(s->ffn, rows * n_tokens, 4 * d);
        ffn_block(be, &m->dec[i].ffn, &x2, &h, &f);
    }
}

/* One decoding token per row through the backend's step recorder (CUDA graphs: the ~30
 * launches per layer become one graph launch): the same ops as a direct step, recorded once
 * per (state, slots, rows per slot) and replayed at every position. Returns false when the
 * backend records nothing or the recording failed: the caller issues the step directly. */
static bool decode_recorded_step(wx_whisper_state *s, const int32_t *tokens, int n_slots,
                                 int rows_per_slot, int past)
{
    wx_backend *be = s->model->be;
    int64_t rows = (int64_t)n_slots * rows_per_slot;
    assert(n_slots < 65536 && rows_per_slot < 65536);
    uint64_t key = (uint64_t)s->serial << 32 | (uint64_t)n_slots << 16 | (uint64_t)rows_per_slot;
    enum wx_step_mode mode = be->ops->step_begin(be, key, tokens, rows, past);
    if (mode == WX_STEP_DIRECT) return false;
    if (mode == WX_STEP_RECORD) {
        decoder_layers(s, tokens, 0, n_slots, rows_per_slot, 1, past, NULL);
        project_position(s, rows, 1, 0);
        if (!be->ops->step_end(be)) return false;
    }
    s->n_logit_rows = (int)rows;
    return true;
}

void wx_whisper_decode(wx_whisper_state *s, const int32_t *tokens, int n_slots,
                       int rows_per_slot, int n_tokens, int past)
{
    int64_t rows = (int64_t)n_slots * rows_per_slot;
    assert(n_slots <= s->max_slots && rows <= s->max_rows);
    assert(rows * n_tokens <= s->scratch_rows && past + n_tokens <= s->t_cap);
    if (n_tokens == 1 && s->model->be->ops->step_begin &&
        decode_recorded_step(s, tokens, n_slots, rows_per_slot, past))
        return;
    decoder_layers(s, tokens, 0, n_slots, rows_per_slot, n_tokens, past, NULL);
    project_position(s, rows, n_tokens, n_tokens - 1);
}

/* ---- word timing ------------------------------------------------------------------ */

/* The word-timing buffers hold `floats` probabilities (B · heads · T · F) at least. */
static wx_status ensure_align_buffers(wx_whisper_state *s, int64_t floats, wx_err *err)
{
    if (s->align_floats >= floats) return WX_OK;
    wx_whisper *m = s->model;
    wx_backend *be = m->be;
    int64_t nh = m->config.n_alignment_heads;
    be->ops->free(be, s->align_probs);
    be->ops->free(be, s->align_matrix);
    s->align_probs = be->ops->alloc(be, WX_F32, 1, (int64_t[]){floats});
    s->align_matrix = be->ops->alloc(be, WX_F32, 1, (int64_t[]){floats / nh});
    s->align_floats = s->align_probs && s->align_matrix ? floats : 0;
    if (s->align_floats) return WX_OK;
    be->ops->free(be, s->align_probs);
    be->ops->free(be, s->align_matrix);
    s->align_probs = s->align_matrix = NULL;
    return wx_fail(err, WX_ERR_NOMEM, "backend out of memory for the word-timing buffers "
                   "(%lld floats)", (long long)floats);
}

/* items[b].probs[i] = softmax over ids [0, vocab_limit) of the logits at position
 * prob_first + i of entry b of the last pass (n entries of T tokens), at id
 * tokens[prob_first + i + 1]; blocks of ALIGN_LOGIT_ROWS rows through a logits buffer of
 * their own (the decoder's holds max_rows rows, and a projection of a few rows at a time
 * streams the whole embedding matrix each time). */
static wx_status next_token_probs(wx_whisper_state *s, wx_align_item *items, int n, int T,
                                  int prob_first, int32_t vocab_limit, wx_err *err)
{
    wx_whisper *m = s->model;
    wx_backend *be = m->be;
    int64_t d = m->hp.d_model, v = m->hp.n_vocab, total = (int64_t)n * T;
    int n_sup = (int)(v - vocab_limit);
    if (!s->align_logits &&
        !(s->align_logits = be->ops->alloc(be, WX_F32, 2, (int64_t[]){ALIGN_LOGIT_ROWS, v})))
        return wx_fail(err, WX_ERR_NOMEM, "backend out of memory for the word-timing logits "
                       "(%d x %lld)", ALIGN_LOGIT_ROWS, (long long)v);
    int32_t *sup = malloc((size_t)(n_sup > 0 ? n_sup : 1) * sizeof *sup);
    if (!sup) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_sup; i++) sup[i] = vocab_limit + i;
    int64_t block = ALIGN_LOGIT_ROWS < s->scratch_rows ? ALIGN_LOGIT_ROWS : s->scratch_rows;
    for (int64_t r0 = 0; r0 < total; r0 += block) {
        int64_t rows = total - r0 < block ? total - r0 : block;
        wx_tensor src = wx_tensor_view(s->x, r0 * d, 2, (int64_t[]){rows, d});
        wx_tensor last = rows_view(s->h, rows, d);   /* h is free after the decoder pass */
        wx_op(be, layer_norm, &last, &src, m->dec_ln_g, m->dec_ln_b, LN_EPS);
        wx_tensor logits = rows_view(s->align_logits, rows, v);
        wx_op(be, linear, &logits, &last, m->tok_emb, NULL);
        wx_op(be, suppress_logsoftmax_topk, &logits, sup, n_sup, true, 0, NULL, NULL);
        for (int64_t r = r0; r < r0 + rows; r++) {
            wx_align_item *it = &items[r / T];
            int i = (int)(r % T) - prob_first;
            if (i < 0 || i >= it->n_probs) continue;
            int32_t id = it->tokens[prob_first + i + 1];
            assert(id >= 0 && id < vocab_limit && "next_token_probs: a text token");
            wx_tensor one = wx_tensor_view(s->align_logits, (r - r0) * v + id, 1, (int64_t[]){1});
            float lp;
            be->ops->download(be, &one, &lp, sizeof lp);
            it->probs[i] = expf(lp);
        }
    }
    s->n_logit_rows = 0;
    free(sup);
    return WX_OK;
}

int wx_whisper_align_batch_limit(const wx_whisper_state *s, int n_tokens)
{
    int64_t by_rows = n_tokens > 0 ? s->scratch_rows / n_tokens : 0;
    int64_t limit = by_rows < s->max_rows ? by_rows : s->max_rows;
    return (int)(limit < s->max_slots ? limit : s->max_slots);
}

/* The forced sequences of the n items, padded with their last token to T. */
static int32_t *padded_tokens(const wx_align_item *items, int n, int T)
{
    int32_t *ids = malloc((size_t)n * (size_t)T * sizeof *ids);
    for (int b = 0; ids && b < n; b++)
        for (int t = 0; t < T; t++)
            ids[(size_t)b * T + t] = items[b].tokens[t < items[b].n_tokens ? t : items[b].n_tokens - 1];
    return ids;
}

wx_status wx_whisper_align(wx_whisper_state *s, int slot0, wx_align_item *items, int n,
                           int median_width, int prob_first, int32_t vocab_limit, wx_err *err)
{
    wx_whisper *m = s->model;
    wx_backend *be = m->be;
    if (m->config.n_alignment_heads == 0)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "the model's config.json lists no "
                       "alignment_heads, so Whisper cannot time words");
    if (!be->ops->attention_probs || !be->ops->alignment_matrix)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "the %s backend has no word-timing ops",
                       be->ops->name);
    int T = 0, F = 0;
    for (int b = 0; b < n; b++) {
        const wx_align_item *it = &items[b];
        if (it->n_tokens < 2 || it->n_tokens > s->t_cap || it->n_frames < 1 ||
            it->n_frames > m->hp.n_audio_ctx || prob_first < 0 ||
            prob_first + it->n_probs > it->n_tokens - 1)
            return wx_fail(err, WX_ERR_INVALID_INPUT, "word timing: %d tokens over %d frames "
                           "does not fit the decoder (at most %d tokens, %d frames)",
                           it->n_tokens, it->n_frames, s->t_cap, m->hp.n_audio_ctx);
        T = it->n_tokens > T ? it->n_tokens : T;
        F = it->n_frames > F ? it->n_frames : F;
    }
    if (n < 1 || slot0 < 0 || slot0 + n > s->max_slots || n > wx_whisper_align_batch_limit(s, T))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "word timing: %d sequences of %d tokens from "
                       "slot %d exceed the decoder state", n, T, slot0);
    int64_t nh = m->config.n_alignment_heads;
    wx_status st = ensure_align_buffers(s, (int64_t)n * nh * T * F, err);
    int32_t *ids = st == WX_OK ? padded_tokens(items, n, T) : NULL;
    int32_t *n_tok = malloc((size_t)n * sizeof *n_tok), *n_fr = malloc((size_t)n * sizeof *n_fr);
    float *mat = malloc((size_t)n * (size_t)T * (size_t)F * sizeof *mat);
    if (st == WX_OK && (!ids || !n_tok || !n_fr || !mat))
        st = wx_fail(err, WX_ERR_NOMEM, "out of memory");
    if (st == WX_OK) {
        for (int b = 0; b < n; b++) { n_tok[b] = items[b].n_tokens; n_fr[b] = items[b].n_frames; }
        align_capture cap = {.n_frames = n_fr};
        cap.probs = wx_tensor_view(s->align_probs, 0, 4, (int64_t[]){n, nh, T, F});
        decoder_layers(s, ids, slot0, n, 1, T, 0, &cap);
        wx_tensor out = wx_tensor_view(s->align_matrix, 0, 3, (int64_t[]){n, T, F});
        wx_op(be, alignment_matrix, &out, &cap.probs, n_tok, n_fr, median_width);
        be->ops->download(be, &out, mat, (size_t)n * (size_t)T * (size_t)F * sizeof *mat);
        for (int b = 0; b < n; b++)   /* (T, F) rows of entry b to its (n_tokens, n_frames) */
            for (int t = 0; t < items[b].n_tokens; t++)
                memcpy(items[b].matrix + (size_t)t * items[b].n_frames,
                       mat + ((size_t)b * T + t) * F, (size_t)items[b].n_frames * sizeof *mat);
        st = next_token_probs(s, items, n, T, prob_first, vocab_limit, err);
    }
    free(ids);
    free(n_tok);
    free(n_fr);
    free(mat);
    if (st != WX_OK) return st;
    return wx_whisper_take_error(s, err);
}

void wx_whisper_logprobs_topk(wx_whisper_state *s, int n_rows, const int32_t *suppress,
                              int n_suppress, int k, int32_t *top_ids, float *top_vals)
{
    wx_backend *be = s->model->be;
    assert(n_rows <= s->n_logit_rows);
    wx_tensor logits = rows_view(s->logits, n_rows, s->model->hp.n_vocab);
    wx_op(be, suppress_logsoftmax_topk, &logits, suppress, n_suppress, true, k, top_ids, top_vals);
}

void wx_whisper_token_prob_at(wx_whisper_state *s, int n_rows, int n_tokens, int pos,
                              int32_t token, float *probs)
{
    int64_t v = s->model->hp.n_vocab;
    assert(pos >= 0 && pos < n_tokens && token >= 0 && token < v);
    project_position(s, n_rows, n_tokens, pos);
    float *row = malloc((size_t)v * sizeof *row);
    for (int r = 0; row && r < n_rows; r++) {
        wx_whisper_logits(s, r, row);
        float max = row[0];
        for (int64_t i = 1; i < v; i++) max = row[i] > max ? row[i] : max;
        double sum = 0;
        for (int64_t i = 0; i < v; i++) sum += exp((double)(row[i] - max));
        probs[r] = (float)(exp((double)(row[token] - max)) / sum);
    }
    if (!row)
        for (int r = 0; r < n_rows; r++) probs[r] = NAN;
    free(row);
}

void wx_whisper_logits(wx_whisper_state *s, int row, float *dst)
{
    wx_backend *be = s->model->be;
    int64_t v = s->model->hp.n_vocab;
    assert(row < s->n_logit_rows);
    wx_tensor one = wx_tensor_view(s->logits, (int64_t)row * v, 1, &v);
    be->ops->download(be, &one, dst, (size_t)v * sizeof(float));
}

/* Extends a partial index map to the full first dimension with identity entries. */
static void fill_map(int32_t *map, const int32_t *src, int n, int total)
{
    memcpy(map, src, (size_t)n * sizeof *map);
    for (int i = n; i < total; i++) map[i] = i;
}

void wx_whisper_reorder_rows(wx_whisper_state *s, const int32_t *src_row, int n_rows, int len)
{
    wx_backend *be = s->model->be;
    assert(n_rows <= s->max_rows && len <= s->t_cap);
    fill_map(s->row_map, src_row, n_rows, s->max_rows);
    for (int i = 0; i < s->model->hp.n_text_layer; i++) {
        wx_op(be, reorder, s->self_k[i], s->row_map, len);
        wx_op(be, reorder, s->self_v[i], s->row_map, len);
    }
}

void wx_whisper_reorder_slots(wx_whisper_state *s, const int32_t *src_slot, int n_slots)
{
    wx_backend *be = s->model->be;
    assert(n_slots <= s->max_slots);
    fill_map(s->slot_map, src_slot, n_slots, s->max_slots);
    for (int i = 0; i < s->model->hp.n_text_layer; i++)
        wx_op(be, reorder, s->cross_kv[i], s->slot_map, s->model->hp.n_audio_ctx);
}

wx_status wx_whisper_take_error(wx_whisper_state *s, wx_err *err)
{
    return wx_backend_take_error(s->model->be, err);
}

const wx_whisper_hparams *wx_whisper_state_hparams(const wx_whisper_state *s)
{
    return &s->model->hp;
}
