/* wav2vec2.c — wav2vec 2.0 CTC forward pass over the backend interface, checked against
 * transformers 4.57 (models/wav2vec2/modeling_wav2vec2.py: Wav2Vec2ForCTC) and torchaudio 2.8
 * (models/wav2vec2/components.py + model.py, pipelines/_wav2vec2/impl.py + utils.py).
 *
 *   feature extractor  conv_i (no padding, bias per conv_bias) → norm → GELU, where norm is
 *                      GroupNorm(C, C) after conv 0 only ("group": the instance_norm op) or
 *                      LayerNorm over channels after every conv ("layer"); eps 1e-5 (torch's
 *                      default: neither library passes layer_norm_eps there)
 *   projection         LayerNorm(C_last, eps) → Linear(C_last → D)
 *   position           x += GELU(Conv1d(D, D, K, pad K/2, groups G)(x)[:T]) (the last frame
 *                      dropped for even K), weight norm (dim 2) folded at load
 *   encoder (base)     x = LN(x); per layer x = LN(x + attn(x)); x = final_LN(x + FFN(x))
 *   encoder (large)    per layer x += attn(LN(x)); x += FFN(final_LN(x)); then x = LN(x)
 *   head               Linear(D → V): lm_head (HF) / aux (torchaudio)
 *
 * Key names: HF "wav2vec2.feature_extractor.", "wav2vec2.feature_projection.",
 * "wav2vec2.encoder.{pos_conv_embed,layer_norm,layers}.", "lm_head"; torchaudio
 * "feature_extractor.", "encoder.feature_projection.", "encoder.transformer.{pos_conv_embed,
 * layer_norm,layers}.", "aux" — the same modules under other prefixes.
 *
 * Waveform normalisation: only where the upstream model object applies it. WhisperX calls the
 * HF model on the raw waveform (no processor), and torchaudio's bundle.get_model(), which
 * wraps the model in utils._extend_model(normalize_waveform=True) — layer_norm over the whole
 * waveform, no affine, eps 1e-5 — only for bundles with _normalize_waveform (none of the table
 * below). */
#include "wav2vec2.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/safetensors.h"
#include "../io/torch_ckpt.h"

#define MAX_NAME 256
#define TORCH_EPS 1e-5f   /* nn.LayerNorm / nn.GroupNorm default */

/* ---- torchaudio bundles ------------------------------------------------------------- */

/* Labels copied from torchaudio 2.8.0 pipelines/_wav2vec2/utils.py (_get_en_labels,
 * _get_fr_labels, _get_de_labels, _get_es_labels, _get_it_labels), with the blank "-" that
 * Wav2Vec2ASRBundle.get_labels() prepends; heads, layer_norm_first, _normalize_waveform and
 * _remove_aux_axis from impl.py's bundle definitions. */
static const char *const LABELS_EN[] = { /* 29 */
    "-", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D", "L", "U", "M", "W", "C", "F",
    "G", "Y", "P", "B", "V", "K", "'", "X", "J", "Q", "Z"};
static const char *const LABELS_FR[] = { /* 43 */
    "-", "|", "e", "s", "n", "i", "t", "r", "a", "o", "u", "l", "d", "c", "p", "m", "é", "v",
    "q", "f", "g", "b", "h", "x", "à", "j", "è", "y", "ê", "z", "ô", "k", "ç", "œ", "û", "ù",
    "î", "â", "w", "ï", "ë", "ü", "æ"};
static const char *const LABELS_DE[] = { /* 32 */
    "-", "|", "e", "n", "i", "r", "s", "t", "a", "d", "h", "u", "l", "g", "c", "m", "o", "b",
    "w", "f", "k", "z", "p", "v", "ü", "ä", "ö", "j", "ß", "y", "x", "q"};
static const char *const LABELS_ES[] = { /* 35 */
    "-", "|", "e", "a", "o", "s", "n", "r", "i", "l", "d", "c", "t", "u", "p", "m", "b", "q",
    "y", "g", "v", "h", "ó", "f", "í", "á", "j", "z", "ñ", "é", "x", "ú", "k", "w", "ü"};
static const char *const LABELS_IT[] = { /* 37 */
    "-", "|", "e", "i", "a", "o", "n", "t", "r", "l", "s", "c", "d", "u", "p", "m", "g", "v",
    "h", "z", "f", "b", "q", "à", "è", "ù", "é", "ò", "ì", "k", "y", "x", "w", "j", "ó", "í",
    "ï"};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const wx_w2v_bundle BUNDLES[] = {
    {"WAV2VEC2_ASR_BASE_960H", 12, false, false, N_OF(LABELS_EN), LABELS_EN, 3, {1, 2, 3}},
    {"VOXPOPULI_ASR_BASE_10K_FR", 12, false, false, N_OF(LABELS_FR), LABELS_FR, 3, {1, 2, 3}},
    {"VOXPOPULI_ASR_BASE_10K_DE", 12, false, false, N_OF(LABELS_DE), LABELS_DE, 4,
     {1, 2, 3, 35}},
    {"VOXPOPULI_ASR_BASE_10K_ES", 12, false, false, N_OF(LABELS_ES), LABELS_ES, 4,
     {1, 2, 3, 35}},
    {"VOXPOPULI_ASR_BASE_10K_IT", 12, false, false, N_OF(LABELS_IT), LABELS_IT, 3, {1, 2, 3}},
};

const wx_w2v_bundle *wx_w2v_find_bundle(const char *name)
{
    if (!name) return NULL;
    for (int i = 0; i < N_OF(BUNDLES); i++)
        if (strcmp(BUNDLES[i].name, name) == 0) return &BUNDLES[i];
    return NULL;
}

/* ---- model ------------------------------------------------------------------------- */

typedef struct enc_layer {
    wx_tensor *qkv_w, *qkv_b;        /* (3D, D), (3D): q, k, v projections stacked */
    wx_tensor *out_w, *out_b;        /* (D, D), (D) */
    wx_tensor *ln_g, *ln_b;          /* layer_norm (D) */
    wx_tensor *ff1_w, *ff1_b;        /* (F, D), (F) */
    wx_tensor *ff2_w, *ff2_b;        /* (D, F), (D) */
    wx_tensor *fln_g, *fln_b;        /* final_layer_norm (D) */
} enc_layer;

struct wx_w2v {
    wx_backend *be;
    wx_w2v_config cfg;
    wx_tensor *conv_w[WX_W2V_MAX_CONV], *conv_b[WX_W2V_MAX_CONV];
    wx_tensor *cnorm_g[WX_W2V_MAX_CONV], *cnorm_b[WX_W2V_MAX_CONV];
    wx_tensor *fp_ln_g, *fp_ln_b, *fp_w, *fp_b;
    wx_tensor *pos_w, *pos_b;        /* (D, D/G, K) folded, (D) */
    wx_tensor *enc_ln_g, *enc_ln_b;
    enc_layer *layers;
    wx_tensor *head_w, *head_b;      /* (V, D), (V) */
    char **labels;                   /* V strings */
    size_t weight_bytes;
};

/* Runs a loader step; on failure jumps to the function's cleanup label with status s. */
#define TRY(expr) do { s = (expr); if (s != WX_OK) goto done; } while (0)

/* ---- weight sources: safetensors or a torch checkpoint -------------------------------- */

typedef struct wsrc {
    const char *path;
    wx_safetensors *st;
    wx_torch_ckpt *ck;
} wsrc;

/* ndim and shape of tensor name, or -1 when absent. */
static int src_shape(const wsrc *w, const char *name, int64_t *shape)
{
    if (w->st) {
        const wx_st_tensor *t = wx_safetensors_find(w->st, name);
        if (!t) return -1;
        for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
        return t->ndim;
    }
    const wx_torch_tensor *t = wx_torch_find(w->ck, name);
    if (!t) return -1;
    for (int i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    return t->ndim;
}

static bool src_has(const wsrc *w, const char *name)
{
    int64_t shape[WX_ST_MAX_DIMS > WX_TORCH_MAX_DIMS ? WX_ST_MAX_DIMS : WX_TORCH_MAX_DIMS];
    return src_shape(w, name, shape) >= 0;
}

/* Reads tensor name of exactly shape (ndim, shape) as float32; errors name the file. */
static wx_status src_read(const wsrc *w, const char *name, int ndim, const int64_t *shape,
                          float *dst, wx_err *err)
{
    wx_err e = {{0}};
    wx_status s = w->st ? wx_safetensors_read_f32(w->st, name, ndim, shape, dst, &e)
                        : wx_torch_read_f32(w->ck, name, ndim, shape, dst, &e);
    if (s != WX_OK) return wx_fail(err, s, "%s: %s", w->path, e.msg);
    return WX_OK;
}

static float *host_alloc(int64_t n)
{
    return malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
}

/* Uploads host data as a tensor of dtype (matrices: weight_dtype; the rest F32). */
static wx_status upload(wx_w2v *m, const float *host, enum wx_dtype dtype, int ndim,
                        const int64_t *shape, wx_tensor **out, const char *name, wx_err *err)
{
    wx_backend *be = m->be;
    *out = be->ops->alloc(be, dtype, ndim, shape);
    if (!*out) return wx_fail(err, WX_ERR_NOMEM, "backend out of memory for %s", name);
    be->ops->upload_f32(be, *out, host, wx_tensor_nelem(*out));
    m->weight_bytes += wx_tensor_nbytes(*out);
    return WX_OK;
}

/* Loads tensor name of shape (d0[, d1[, d2]]) (zeros drop trailing dimensions); matrix: in
 * the backend's weight dtype. */
static wx_status load(wx_w2v *m, const wsrc *w, const char *name, bool matrix, int64_t d0,
                      int64_t d1, int64_t d2, wx_tensor **out, wx_err *err)
{
    int64_t shape[3] = {d0, d1, d2};
    int ndim = d2 ? 3 : d1 ? 2 : 1;
    float *host = host_alloc(d0 * (d1 ? d1 : 1) * (d2 ? d2 : 1));
    if (!host) return wx_fail(err, WX_ERR_NOMEM, "out of memory reading %s", name);
    wx_status s = src_read(w, name, ndim, shape, host, err);
    if (s == WX_OK)
        s = upload(m, host, matrix ? m->be->ops->weight_dtype : WX_F32, ndim, shape, out, name,
                   err);
    free(host);
    return s;
}

typedef struct prefixes {
    const char *fe, *fp, *pos, *enc_ln, *layers, *head;
} prefixes;

static const prefixes HF_NAMES = {"wav2vec2.feature_extractor.conv_layers.",
                                  "wav2vec2.feature_projection.", "wav2vec2.encoder.pos_conv_embed.",
                                  "wav2vec2.encoder.layer_norm.", "wav2vec2.encoder.layers.",
                                  "lm_head."};
static const prefixes TA_NAMES = {"feature_extractor.conv_layers.", "encoder.feature_projection.",
                                  "encoder.transformer.pos_conv_embed.",
                                  "encoder.transformer.layer_norm.", "encoder.transformer.layers.",
                                  "aux."};

/* w[:, :, k] = g[k] · v[:, :, k] / ||v[:, :, k]||₂ (torch's weight_norm with dim = 2: the
 * norm runs over output and input channels), under either naming. */
static wx_status load_pos_conv(wx_w2v *m, const wsrc *w, const prefixes *p, wx_err *err)
{
    const wx_w2v_config *c = &m->cfg;
    int64_t d = c->hidden, dg = d / c->pos_groups, k = c->pos_kernel;
    char gname[MAX_NAME], vname[MAX_NAME], name[MAX_NAME];
    float *g = NULL, *v = NULL;
    wx_status s = WX_OK;
    snprintf(name, sizeof name, "%sconv.bias", p->pos);
    TRY(load(m, w, name, false, d, 0, 0, &m->pos_b, err));
    snprintf(name, sizeof name, "%sconv.weight", p->pos);
    if (src_has(w, name)) { /* weight norm already removed (torchaudio's __prepare_scriptable__) */
        s = load(m, w, name, true, d, dg, k, &m->pos_w, err);
        goto done;
    }
    snprintf(gname, sizeof gname, "%sconv.weight_g", p->pos);
    snprintf(vname, sizeof vname, "%sconv.weight_v", p->pos);
    if (!src_has(w, gname)) {
        snprintf(gname, sizeof gname, "%sconv.parametrizations.weight.original0", p->pos);
        snprintf(vname, sizeof vname, "%sconv.parametrizations.weight.original1", p->pos);
    }
    int64_t gshape[3] = {1, 1, k}, vshape[3] = {d, dg, k};
    g = host_alloc(k);
    v = host_alloc(d * dg * k);
    if (!g || !v) { s = wx_fail(err, WX_ERR_NOMEM, "out of memory reading %s", vname); goto done; }
    TRY(src_read(w, gname, 3, gshape, g, err));
    TRY(src_read(w, vname, 3, vshape, v, err));
    for (int64_t kk = 0; kk < k; kk++) {
        double sq = 0.0;
        for (int64_t r = 0; r < d * dg; r++) sq += (double)v[r * k + kk] * v[r * k + kk];
        /* torch: v * (g / ||v||) in float32 */
        float scale = g[kk] / (float)sqrt(sq);
        for (int64_t r = 0; r < d * dg; r++) v[r * k + kk] *= scale;
    }
    TRY(upload(m, v, m->be->ops->weight_dtype, 3, vshape, &m->pos_w, vname, err));
done:
    free(g);
    free(v);
    return s;
}

/* q, k, v weights (and biases) stacked into one (3D, D) matrix for a fused projection. */
static wx_status load_qkv(wx_w2v *m, const wsrc *w, const char *pre, enc_layer *l, wx_err *err)
{
    int64_t d = m->cfg.hidden;
    float *wt = host_alloc(3 * d * d), *bt = host_alloc(3 * d);
    wx_status s = WX_OK;
    char name[MAX_NAME];
    static const char *const proj[3] = {"q_proj", "k_proj", "v_proj"};
    if (!wt || !bt) { s = wx_fail(err, WX_ERR_NOMEM, "out of memory reading %s", pre); goto done; }
    for (int i = 0; i < 3; i++) {
        int64_t ws[2] = {d, d}, bs[1] = {d};
        snprintf(name, sizeof name, "%sattention.%s.weight", pre, proj[i]);
        TRY(src_read(w, name, 2, ws, wt + i * d * d, err));
        snprintf(name, sizeof name, "%sattention.%s.bias", pre, proj[i]);
        TRY(src_read(w, name, 1, bs, bt + i * d, err));
    }
    int64_t wshape[2] = {3 * d, d}, bshape[1] = {3 * d};
    TRY(upload(m, wt, m->be->ops->weight_dtype, 2, wshape, &l->qkv_w, pre, err));
    TRY(upload(m, bt, WX_F32, 1, bshape, &l->qkv_b, pre, err));
done:
    free(wt);
    free(bt);
    return s;
}

/* The aux / lm_head layer, dropping remove_rows when the file still has them. */
static wx_status load_head(wx_w2v *m, const wsrc *w, const prefixes *p, const int *remove,
                           int n_remove, wx_err *err)
{
    const wx_w2v_config *c = &m->cfg;
    int64_t d = c->hidden, v = c->vocab, rows = v + n_remove;
    char wname[MAX_NAME], bname[MAX_NAME];
    snprintf(wname, sizeof wname, "%sweight", p->head);
    snprintf(bname, sizeof bname, "%sbias", p->head);
    int64_t ws[2] = {rows, d}, bs[1] = {rows};
    float *wt = host_alloc(rows * d), *bt = host_alloc(rows);
    wx_status s = WX_OK;
    if (!wt || !bt) { s = wx_fail(err, WX_ERR_NOMEM, "out of memory reading %s", wname); goto done; }
    TRY(src_read(w, wname, 2, ws, wt, err));
    TRY(src_read(w, bname, 1, bs, bt, err));
    int64_t o = 0;
    for (int64_t r = 0; r < rows; r++) {
        bool drop = false;
        for (int i = 0; i < n_remove; i++) drop |= remove[i] == r;
        if (drop) continue;
        memmove(wt + o * d, wt + r * d, (size_t)d * sizeof *wt);
        bt[o++] = bt[r];
    }
    int64_t wshape[2] = {v, d}, bshape[1] = {v};
    TRY(upload(m, wt, m->be->ops->weight_dtype, 2, wshape, &m->head_w, wname, err));
    TRY(upload(m, bt, WX_F32, 1, bshape, &m->head_b, bname, err));
done:
    free(wt);
    free(bt);
    return s;
}

static wx_status load_weights(wx_w2v *m, const wsrc *w, const prefixes *p, const int *remove,
                              int n_remove, wx_err *err)
{
    const wx_w2v_config *c = &m->cfg;
    wx_status s = WX_OK;
    char name[MAX_NAME];
    int64_t d = c->hidden, f = c->ffn;
    for (int i = 0; i < c->n_conv; i++) {
        int64_t cin = i ? c->conv_dim[i - 1] : 1, cout = c->conv_dim[i];
        snprintf(name, sizeof name, "%s%d.conv.weight", p->fe, i);
        TRY(load(m, w, name, true, cout, cin, c->conv_kernel[i], &m->conv_w[i], err));
        if (c->conv_bias) {
            snprintf(name, sizeof name, "%s%d.conv.bias", p->fe, i);
            TRY(load(m, w, name, false, cout, 0, 0, &m->conv_b[i], err));
        }
        if (c->layer_norm_extractor || i == 0) {
            snprintf(name, sizeof name, "%s%d.layer_norm.weight", p->fe, i);
            TRY(load(m, w, name, false, cout, 0, 0, &m->cnorm_g[i], err));
            snprintf(name, sizeof name, "%s%d.layer_norm.bias", p->fe, i);
            TRY(load(m, w, name, false, cout, 0, 0, &m->cnorm_b[i], err));
        }
    }
    int64_t clast = c->conv_dim[c->n_conv - 1];
    snprintf(name, sizeof name, "%slayer_norm.weight", p->fp);
    TRY(load(m, w, name, false, clast, 0, 0, &m->fp_ln_g, err));
    snprintf(name, sizeof name, "%slayer_norm.bias", p->fp);
    TRY(load(m, w, name, false, clast, 0, 0, &m->fp_ln_b, err));
    snprintf(name, sizeof name, "%sprojection.weight", p->fp);
    TRY(load(m, w, name, true, d, clast, 0, &m->fp_w, err));
    snprintf(name, sizeof name, "%sprojection.bias", p->fp);
    TRY(load(m, w, name, false, d, 0, 0, &m->fp_b, err));
    TRY(load_pos_conv(m, w, p, err));
    snprintf(name, sizeof name, "%sweight", p->enc_ln);
    TRY(load(m, w, name, false, d, 0, 0, &m->enc_ln_g, err));
    snprintf(name, sizeof name, "%sbias", p->enc_ln);
    TRY(load(m, w, name, false, d, 0, 0, &m->enc_ln_b, err));
    m->layers = calloc((size_t)c->n_layers, sizeof *m->layers);
    if (!m->layers) return wx_fail(err, WX_ERR_NOMEM, "out of memory loading wav2vec2");
    for (int li = 0; li < c->n_layers; li++) {
        enc_layer *l = &m->layers[li];
        char pre[MAX_NAME / 2];
        snprintf(pre, sizeof pre, "%s%d.", p->layers, li);
#define LOAD(field, suffix, matrix, a, b)                                                    \
        do {                                                                                 \
            snprintf(name, sizeof name, "%s%s", pre, suffix);                                \
            TRY(load(m, w, name, matrix, a, b, 0, &l->field, err));                          \
        } while (0)
        TRY(load_qkv(m, w, pre, l, err));
        LOAD(out_w, "attention.out_proj.weight", true, d, d);
        LOAD(out_b, "attention.out_proj.bias", false, d, 0);
        LOAD(ln_g, "layer_norm.weight", false, d, 0);
        LOAD(ln_b, "layer_norm.bias", false, d, 0);
        LOAD(ff1_w, "feed_forward.intermediate_dense.weight", true, f, d);
        LOAD(ff1_b, "feed_forward.intermediate_dense.bias", false, f, 0);
        LOAD(ff2_w, "feed_forward.output_dense.weight", true, d, f);
        LOAD(ff2_b, "feed_forward.output_dense.bias", false, d, 0);
        LOAD(fln_g, "final_layer_norm.weight", false, d, 0);
        LOAD(fln_b, "final_layer_norm.bias", false, d, 0);
#undef LOAD
    }
    TRY(load_head(m, w, p, remove, n_remove, err));
done:
    return s;
}

/* Sizes the loader relies on, whichever source they came from. */
static wx_status check_config(const wx_w2v_config *c, const char *path, wx_err *err)
{
    if (c->n_conv < 1 || c->n_conv > WX_W2V_MAX_CONV)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: %d feature-extractor conv layers (1 to %d "
                       "supported)", path, c->n_conv, WX_W2V_MAX_CONV);
    for (int i = 0; i < c->n_conv; i++)
        if (c->conv_dim[i] < 1 || c->conv_dim[i] > 65536 || c->conv_kernel[i] < 1 ||
            c->conv_kernel[i] > 4096 || c->conv_stride[i] < 1 || c->conv_stride[i] > 4096)
            return wx_fail(err, WX_ERR_FORMAT, "%s: conv layer %d has an invalid size (dim %d, "
                           "kernel %d, stride %d)", path, i, c->conv_dim[i], c->conv_kernel[i],
                           c->conv_stride[i]);
    if (c->hidden < 1 || c->hidden > 65536 || c->n_heads < 1 || c->hidden % c->n_heads != 0 ||
        c->n_layers < 1 || c->n_layers > 1024 || c->ffn < 1 || c->ffn > 1 << 20 ||
        c->pos_groups < 1 || c->hidden % c->pos_groups != 0 || c->pos_kernel < 1 ||
        c->pos_kernel > 4096 || c->vocab < 1 || c->vocab > 1 << 20)
        return wx_fail(err, WX_ERR_FORMAT, "%s: inconsistent sizes (hidden %d, heads %d, layers "
                       "%d, intermediate %d, pos conv %d/%d groups, vocab %d): hidden must be "
                       "a multiple of the heads and of the pos-conv groups", path, c->hidden,
                       c->n_heads, c->n_layers, c->ffn, c->pos_kernel, c->pos_groups, c->vocab);
    if (!(c->eps > 0.0f && c->eps < 1.0f))
        return wx_fail(err, WX_ERR_FORMAT, "%s: layer_norm_eps %g out of (0, 1)", path,
                       (double)c->eps);
    return WX_OK;
}

static wx_status check_backend(const wx_backend *be, const wx_w2v_config *c, wx_err *err)
{
    if (!c->layer_norm_extractor && !be->ops->instance_norm)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "the %s backend lacks instance_norm, which the "
                       "wav2vec2 base family's GroupNorm needs", be->ops->name);
    return WX_OK;
}

/* ---- Hugging Face directory ------------------------------------------------------------ */

static wx_status json_int(json_t *root, const char *key, int lo, int hi, int *out,
                          const char *path, wx_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" must be an integer in [%d, %d]", path,
                       key, lo, hi);
    *out = (int)json_integer_value(v);
    return WX_OK;
}

static wx_status json_ints(json_t *root, const char *key, int n, int *out, const char *path,
                           wx_err *err)
{
    json_t *arr = json_object_get(root, key);
    if (!json_is_array(arr) || (int)json_array_size(arr) != n)
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" must be an array of %d integers "
                       "(num_feat_extract_layers)", path, key, n);
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65536)
            return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\"[%d] must be an integer in [1, 65536]",
                           path, key, i);
        out[i] = (int)json_integer_value(v);
    }
    return WX_OK;
}

/* An optional boolean (absent: def). */
static wx_status json_flag(json_t *root, const char *key, bool def, bool *out, const char *path,
                           wx_err *err)
{
    json_t *v = json_object_get(root, key);
    if (!v) { *out = def; return WX_OK; }
    if (!json_is_boolean(v))
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" must be true or false", path, key);
    *out = json_is_true(v);
    return WX_OK;
}

static wx_status json_str_is(json_t *root, const char *key, const char *def, const char *want,
                             const char *path, wx_err *err)
{
    json_t *v = json_object_get(root, key);
    const char *got = v ? json_string_value(v) : def;
    if (!got || strcmp(got, want) != 0)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: \"%s\" is %s%s%s; only \"%s\" is supported",
                       path, key, got ? "\"" : "", got ? got : "not a string", got ? "\"" : "",
                       want);
    return WX_OK;
}

static wx_status parse_hf_config(json_t *root, wx_w2v_config *c, const char *path, wx_err *err)
{
    wx_status s = WX_OK;
    const char *mt = json_string_value(json_object_get(root, "model_type"));
    if (mt && strcmp(mt, "wav2vec2") != 0)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: model_type \"%s\" is not wav2vec2", path, mt);
    TRY(json_int(root, "hidden_size", 1, 65536, &c->hidden, path, err));
    TRY(json_int(root, "num_attention_heads", 1, 4096, &c->n_heads, path, err));
    TRY(json_int(root, "intermediate_size", 1, 1 << 20, &c->ffn, path, err));
    TRY(json_int(root, "num_hidden_layers", 1, 1024, &c->n_layers, path, err));
    TRY(json_int(root, "vocab_size", 1, 1 << 20, &c->vocab, path, err));
    TRY(json_int(root, "num_conv_pos_embeddings", 1, 4096, &c->pos_kernel, path, err));
    TRY(json_int(root, "num_conv_pos_embedding_groups", 1, 65536, &c->pos_groups, path, err));
    json_t *nl = json_object_get(root, "num_feat_extract_layers");
    json_t *dims = json_object_get(root, "conv_dim");
    c->n_conv = nl ? (int)json_integer_value(nl) : (int)json_array_size(dims);
    if (c->n_conv < 1 || c->n_conv > WX_W2V_MAX_CONV)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: %d feature-extractor conv layers (1 to %d "
                       "supported)", path, c->n_conv, WX_W2V_MAX_CONV);
    TRY(json_ints(root, "conv_dim", c->n_conv, c->conv_dim, path, err));
    TRY(json_ints(root, "conv_kernel", c->n_conv, c->conv_kernel, path, err));
    TRY(json_ints(root, "conv_stride", c->n_conv, c->conv_stride, path, err));
    const char *norm = json_string_value(json_object_get(root, "feat_extract_norm"));
    if (!norm || (strcmp(norm, "group") != 0 && strcmp(norm, "layer") != 0))
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: feat_extract_norm %s%s%s is not \"group\" "
                       "or \"layer\"", path, norm ? "\"" : "", norm ? norm : "missing",
                       norm ? "\"" : "");
    c->layer_norm_extractor = strcmp(norm, "layer") == 0;
    TRY(json_flag(root, "do_stable_layer_norm", false, &c->stable_layer_norm, path, err));
    TRY(json_flag(root, "conv_bias", false, &c->conv_bias, path, err));
    TRY(json_str_is(root, "hidden_act", "gelu", "gelu", path, err));
    TRY(json_str_is(root, "feat_extract_activation", "gelu", "gelu", path, err));
    bool adapter = false;
    TRY(json_flag(root, "add_adapter", false, &adapter, path, err));
    if (adapter)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: add_adapter models are not supported", path);
    json_t *attn_adapter = json_object_get(root, "adapter_attn_dim");
    if (attn_adapter && !json_is_null(attn_adapter)) /* MMS: an adapter inside every layer */
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: adapter_attn_dim (MMS attention adapters) "
                       "is not supported", path);
    json_t *eps = json_object_get(root, "layer_norm_eps");
    if (eps && !json_is_number(eps))
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"layer_norm_eps\" must be a number", path);
    c->eps = eps ? (float)json_number_value(eps) : 1e-5f;
    c->normalize_waveform = false; /* WhisperX runs the HF model on the raw waveform */
    TRY(check_config(c, path, err));
done:
    return s;
}

/* vocab.json {token: id} → labels[id]; a column no token names gets "". */
static wx_status read_vocab(wx_w2v *m, const char *dir, wx_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return wx_fail(err, WX_ERR_IO, "%s: cannot read the wav2vec2 vocabulary: %s", path,
                       jerr.text);
    wx_status s = WX_OK;
    int v = m->cfg.vocab;
    m->labels = calloc((size_t)v, sizeof *m->labels);
    if (!m->labels) { s = wx_fail(err, WX_ERR_NOMEM, "out of memory for %s", path); goto done; }
    if (!json_is_object(root)) {
        s = wx_fail(err, WX_ERR_FORMAT, "%s: not a {token: id} object", path);
        goto done;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0) {
            s = wx_fail(err, WX_ERR_FORMAT, "%s: the id of \"%s\" must be a non-negative "
                        "integer (a flat {token: id} vocabulary)", path, key);
            goto done;
        }
        /* ids ≥ vocab_size (tokens added to the tokenizer beyond the CTC head) are never
         * emitted: skipped, as they name no output column */
        if (json_integer_value(val) >= v) continue;
        char **slot = &m->labels[json_integer_value(val)];
        if (*slot) continue; /* two tokens for one id: keep the first */
        if (!(*slot = strdup(key))) { s = wx_fail(err, WX_ERR_NOMEM, "out of memory"); goto done; }
    }
    for (int i = 0; i < v; i++)
        if (!m->labels[i] && !(m->labels[i] = strdup(""))) {
            s = wx_fail(err, WX_ERR_NOMEM, "out of memory");
            goto done;
        }
done:
    json_decref(root);
    return s;
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static wx_status load_hf(wx_w2v *m, const char *dir, wx_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return wx_fail(err, WX_ERR_IO, "%s: cannot read the wav2vec2 config: %s", path,
                       jerr.text);
    wx_status s = parse_hf_config(root, &m->cfg, path, err);
    json_decref(root);
    if (s != WX_OK) return s;
    TRY(check_backend(m->be, &m->cfg, err));
    TRY(read_vocab(m, dir, err));
    wsrc w = {path, NULL, NULL};
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (file_exists(path)) {
        TRY(wx_safetensors_load(path, &w.st, err));
    } else {
        snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
        if (!file_exists(path)) {
            s = wx_fail(err, WX_ERR_IO, "%s: no model.safetensors or pytorch_model.bin", dir);
            goto done;
        }
        TRY(wx_torch_load(path, &w.ck, err));
    }
    s = load_weights(m, &w, &HF_NAMES, NULL, 0, err);
    wx_safetensors_free(w.st);
    wx_torch_free(w.ck);
done:
    return s;
}

/* ---- torchaudio state dict -------------------------------------------------------------- */

/* Sizes from tensor shapes and key presence (what the bundle's _params say). */
static wx_status pth_config(const wsrc *w, const wx_w2v_bundle *b, wx_w2v_config *c,
                            int *n_remove, wx_err *err)
{
    const char *path = w->path;
    int64_t sh[WX_TORCH_MAX_DIMS];
    char name[MAX_NAME];
    const prefixes *p = &TA_NAMES;
    memset(c, 0, sizeof *c);
    /* fairseq's extractor strides for its kernels: (10, 5), (3, 2) x 4, (2, 2) x 2 — every
     * torchaudio wav2vec2 bundle; the state dict holds kernels but not strides. */
    static const int std_kernel[7] = {10, 3, 3, 3, 3, 2, 2}, std_stride[7] = {5, 2, 2, 2, 2, 2, 2};
    for (c->n_conv = 0; c->n_conv <= WX_W2V_MAX_CONV; c->n_conv++) {
        snprintf(name, sizeof name, "%s%d.conv.weight", p->fe, c->n_conv);
        int nd = src_shape(w, name, sh);
        if (nd < 0) break;
        if (c->n_conv >= 7 || nd != 3 || sh[2] != std_kernel[c->n_conv] || sh[0] < 1 ||
            sh[0] > 65536)
            return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: %s is not the standard wav2vec2 "
                           "extractor conv (kernels 10,3,3,3,3,2,2)", path, name);
        c->conv_dim[c->n_conv] = (int)sh[0];
        c->conv_kernel[c->n_conv] = (int)sh[2];
        c->conv_stride[c->n_conv] = std_stride[c->n_conv];
    }
    if (c->n_conv != 7)
        return wx_fail(err, WX_ERR_FORMAT, "%s: not a torchaudio wav2vec2 state dict (%d of the 7 "
                       "feature_extractor.conv_layers.*.conv.weight found)", path, c->n_conv);
    snprintf(name, sizeof name, "%s0.conv.bias", p->fe);
    c->conv_bias = src_has(w, name);
    snprintf(name, sizeof name, "%s1.layer_norm.weight", p->fe);
    c->layer_norm_extractor = src_has(w, name);
    snprintf(name, sizeof name, "%sprojection.weight", p->fp);
    if (src_shape(w, name, sh) != 2)
        return wx_fail(err, WX_ERR_FORMAT, "%s: %s missing or not a matrix", path, name);
    c->hidden = (int)sh[0];
    static const char *const pos_names[3] = {"conv.weight_v",
                                             "conv.parametrizations.weight.original1",
                                             "conv.weight"};
    int pn = 0;
    for (; pn < 3; pn++) {
        snprintf(name, sizeof name, "%s%s", p->pos, pos_names[pn]);
        if (src_shape(w, name, sh) == 3) break;
    }
    if (pn == 3)
        return wx_fail(err, WX_ERR_FORMAT, "%s: no positional conv weight (%sconv.weight_v)",
                       path, p->pos);
    if (sh[1] < 1 || sh[1] > c->hidden)
        return wx_fail(err, WX_ERR_FORMAT, "%s: %s has %lld input channels per group", path,
                       name, (long long)sh[1]);
    c->pos_groups = c->hidden / (int)sh[1];
    c->pos_kernel = (int)sh[2];
    for (c->n_layers = 0; c->n_layers < 1024; c->n_layers++) {
        snprintf(name, sizeof name, "%s%d.attention.q_proj.weight", p->layers, c->n_layers);
        if (!src_has(w, name)) break;
    }
    snprintf(name, sizeof name, "%s0.feed_forward.intermediate_dense.weight", p->layers);
    if (src_shape(w, name, sh) != 2)
        return wx_fail(err, WX_ERR_FORMAT, "%s: %s missing or not a matrix", path, name);
    c->ffn = (int)sh[0];
    snprintf(name, sizeof name, "%sweight", p->head);
    if (src_shape(w, name, sh) != 2)
        return wx_fail(err, WX_ERR_FORMAT, "%s: %s (the CTC head) missing or not a matrix", path,
                       name);
    c->vocab = b->n_labels;
    if (sh[0] == b->n_labels + b->n_remove) {
        *n_remove = b->n_remove;    /* as downloaded: torchaudio drops these rows at load */
    } else if (sh[0] == b->n_labels) {
        *n_remove = 0;              /* already removed */
    } else {
        return wx_fail(err, WX_ERR_FORMAT, "%s: %s has %lld rows; bundle %s has %d labels (+%d "
                       "removed rows)", path, name, (long long)sh[0], b->name, b->n_labels,
                       b->n_remove);
    }
    c->n_heads = b->n_heads;
    c->stable_layer_norm = b->layer_norm_first;
    c->normalize_waveform = b->normalize_waveform;
    c->eps = TORCH_EPS;
    return check_config(c, path, err);
}

wx_status wx_w2v_load_pth(const char *path, const wx_w2v_bundle *b, wx_backend *be,
                          wx_w2v **out, wx_err *err)
{
    *out = NULL;
    if (!b || b->n_labels < 1 || !b->labels || b->n_remove < 0 || b->n_remove > WX_W2V_MAX_REMOVE)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "%s: no valid torchaudio bundle description",
                       path);
    wx_w2v *m = calloc(1, sizeof *m);
    if (!m) return wx_fail(err, WX_ERR_NOMEM, "out of memory loading %s", path);
    m->be = be;
    wsrc w = {path, NULL, NULL};
    int n_remove = 0;
    wx_status s = WX_OK;
    TRY(wx_torch_load(path, &w.ck, err));
    TRY(pth_config(&w, b, &m->cfg, &n_remove, err));
    TRY(check_backend(be, &m->cfg, err));
    m->labels = calloc((size_t)b->n_labels, sizeof *m->labels);
    if (!m->labels) { s = wx_fail(err, WX_ERR_NOMEM, "out of memory"); goto done; }
    for (int i = 0; i < b->n_labels; i++)
        if (!(m->labels[i] = strdup(b->labels[i] ? b->labels[i] : ""))) {
            s = wx_fail(err, WX_ERR_NOMEM, "out of memory");
            goto done;
        }
    TRY(load_weights(m, &w, &TA_NAMES, b->remove_rows, n_remove, err));
done:
    wx_torch_free(w.ck);
    if (s != WX_OK) {
        wx_w2v_free(m);
        return s;
    }
    *out = m;
    return WX_OK;
}

wx_status wx_w2v_load(const char *path, const char *bundle, wx_backend *be, wx_w2v **out,
                      wx_err *err)
{
    *out = NULL;
    if (bundle) {
        const wx_w2v_bundle *b = wx_w2v_find_bundle(bundle);
        if (!b)
            return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: unknown torchaudio bundle \"%s\" "
                           "(known: WAV2VEC2_ASR_BASE_960H, VOXPOPULI_ASR_BASE_10K_FR/DE/ES/IT)",
                           path, bundle);
        return wx_w2v_load_pth(path, b, be, out, err);
    }
    if (file_exists(path))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "%s is a file: a torchaudio checkpoint needs "
                       "its bundle name, a Hugging Face model is a directory", path);
    wx_w2v *m = calloc(1, sizeof *m);
    if (!m) return wx_fail(err, WX_ERR_NOMEM, "out of memory loading %s", path);
    m->be = be;
    wx_status s = load_hf(m, path, err);
    if (s != WX_OK) {
        wx_w2v_free(m);
        return s;
    }
    *out = m;
    return WX_OK;
}

void wx_w2v_free(wx_w2v *m)
{
    if (!m) return;
    wx_backend *be = m->be;
    for (int i = 0; i < WX_W2V_MAX_CONV; i++) {
        be->ops->free(be, m->conv_w[i]);
        be->ops->free(be, m->conv_b[i]);
        be->ops->free(be, m->cnorm_g[i]);
        be->ops->free(be, m->cnorm_b[i]);
    }
    wx_tensor *singles[] = {m->fp_ln_g, m->fp_ln_b, m->fp_w, m->fp_b, m->pos_w, m->pos_b,
                            m->enc_ln_g, m->enc_ln_b, m->head_w, m->head_b};
    for (int i = 0; i < N_OF(singles); i++) be->ops->free(be, singles[i]);
    if (m->layers)
        for (int li = 0; li < m->cfg.n_layers; li++) {
            enc_layer *l = &m->layers[li];
            wx_tensor *ts[] = {l->qkv_w, l->qkv_b, l->out_w, l->out_b, l->ln_g, l->ln_b,
                               l->ff1_w, l->ff1_b, l->ff2_w, l->ff2_b, l->fln_g, l->fln_b};
            for (int i = 0; i < N_OF(ts); i++) be->ops->free(be, ts[i]);
        }
    free(m->layers);
    if (m->labels)
        for (int i = 0; i < m->cfg.vocab; i++) free(m->labels[i]);
    free(m->labels);
    free(m);
}

const wx_w2v_config *wx_w2v_config_of(const wx_w2v *m) { return &m->cfg; }
int wx_w2v_vocab_size(const wx_w2v *m) { return m->cfg.vocab; }
size_t wx_w2v_weight_bytes(const wx_w2v *m) { return m->weight_bytes; }

const char *wx_w2v_label(const wx_w2v *m, int id)
{
    return id >= 0 && id < m->cfg.vocab ? m->labels[id] : NULL;
}

int64_t wx_w2v_num_frames(const wx_w2v *m, int64_t n)
{
    const wx_w2v_config *c = &m->cfg;
    for (int i = 0; i < c->n_conv; i++) {
        if (n < c->conv_kernel[i]) return 0;
        n = (n - c->conv_kernel[i]) / c->conv_stride[i] + 1;
    }
    return n;
}

/* ---- forward ------------------------------------------------------------------------------ */

static wx_tensor *alloc3(wx_backend *be, int64_t a, int64_t b, int64_t c)
{
    int64_t shape[3] = {a, b, c};
    return be->ops->alloc(be, WX_F32, 3, shape);
}

/* The feature extractor: waveform (1, 1, n) → (1, C_last, T). Returns NULL when out of memory
 * (x is consumed either way). */
static wx_tensor *extract(wx_w2v *m, wx_tensor *x)
{
    const wx_w2v_config *c = &m->cfg;
    wx_backend *be = m->be;
    for (int i = 0; i < c->n_conv; i++) {
        int64_t tin = x->shape[2], tout = (tin - c->conv_kernel[i]) / c->conv_stride[i] + 1;
        int64_t ch = c->conv_dim[i];
        wx_tensor *y = alloc3(be, 1, ch, tout);
        if (!y) { be->ops->free(be, x); return NULL; }
        wx_op(be, conv1d, y, x, m->conv_w[i], m->conv_b[i], c->conv_stride[i], 0);
        be->ops->free(be, x);
        x = y;
        if (c->layer_norm_extractor) {
            wx_tensor *t = alloc3(be, 1, tout, ch);
            if (!t) { be->ops->free(be, x); return NULL; }
            wx_op(be, transpose, t, x);
            wx_op(be, layer_norm, t, t, m->cnorm_g[i], m->cnorm_b[i], TORCH_EPS);
            wx_op(be, transpose, x, t);
            be->ops->free(be, t);
        } else if (i == 0) {
            /* GroupNorm(C, C): per channel over time, biased variance */
            wx_op(be, instance_norm, x, m->cnorm_g[0], m->cnorm_b[0], TORCH_EPS);
        }
        wx_op(be, gelu, x);
    }
    return x;
}

typedef struct enc_bufs {
    wx_tensor *x, *h, *qkv, *attn, *ffn;
} enc_bufs;

static void free_bufs(wx_backend *be, enc_bufs *b)
{
    be->ops->free(be, b->x);
    be->ops->free(be, b->h);
    be->ops->free(be, b->qkv);
    be->ops->free(be, b->attn);
    be->ops->free(be, b->ffn);
}

/* x (1, T, D) += GELU(grouped pos conv of x)[:T]; uses h as (1, D, T) scratch. */
static wx_status pos_conv(wx_w2v *m, enc_bufs *b, int64_t t, wx_err *err)
{
    const wx_w2v_config *c = &m->cfg;
    wx_backend *be = m->be;
    int64_t d = c->hidden, g = c->pos_groups, dg = d / g, k = c->pos_kernel, pad = k / 2;
    int64_t tp = t + 2 * pad - k + 1;   /* T + 1 for even K, T for odd */
    wx_tensor *xt = alloc3(be, 1, d, t), *y = alloc3(be, 1, d, tp), *yt = alloc3(be, 1, tp, d);
    if (!xt || !y || !yt) {
        be->ops->free(be, xt); be->ops->free(be, y); be->ops->free(be, yt);
        return wx_fail(err, WX_ERR_NOMEM, "wav2vec2: backend out of memory for %lld frames",
                       (long long)t);
    }
    wx_op(be, transpose, xt, b->x);
    int64_t xs[3] = {1, dg, t}, ws[3] = {dg, dg, k}, bs[1] = {dg}, ys[3] = {1, dg, tp};
    for (int64_t gi = 0; gi < g; gi++) {
        wx_tensor xv = wx_tensor_view(xt, gi * dg * t, 3, xs);
        wx_tensor wv = wx_tensor_view(m->pos_w, gi * dg * dg * k, 3, ws);
        wx_tensor bv = wx_tensor_view(m->pos_b, gi * dg, 1, bs);
        wx_tensor yv = wx_tensor_view(y, gi * dg * tp, 3, ys);
        wx_op(be, conv1d, &yv, &xv, &wv, &bv, 1, (int)pad);
    }
    wx_op(be, transpose, yt, y);
    int64_t rs[3] = {1, t, d};
    wx_tensor rows = wx_tensor_view(yt, 0, 3, rs); /* the first T frames */
    wx_op(be, gelu, &rows);
    wx_op(be, add, b->x, b->x, &rows);
    be->ops->free(be, xt);
    be->ops->free(be, y);
    be->ops->free(be, yt);
    return WX_OK;
}

static void encoder_layer(wx_w2v *m, const enc_layer *l, enc_bufs *b, int64_t t)
{
    const wx_w2v_config *c = &m->cfg;
    wx_backend *be = m->be;
    int64_t d = c->hidden;
    int64_t s3[3] = {1, t, d};
    bool pre = c->stable_layer_norm;
    const wx_tensor *in = b->x;
    if (pre) {
        wx_op(be, layer_norm, b->h, b->x, l->ln_g, l->ln_b, c->eps);
        in = b->h;
    }
    wx_op(be, linear, b->qkv, in, l->qkv_w, l->qkv_b);
    wx_tensor q = wx_tensor_view(b->qkv, 0, 3, s3), k = wx_tensor_view(b->qkv, d, 3, s3);
    wx_tensor v = wx_tensor_view(b->qkv, 2 * d, 3, s3);
    wx_op(be, attention, b->attn, &q, 3 * d, &k, &v, 3 * d, c->n_heads, t, false);
    wx_op(be, linear, b->h, b->attn, l->out_w, l->out_b);
    wx_op(be, add, b->x, b->x, b->h);
    if (pre) {
        wx_op(be, layer_norm, b->h, b->x, l->fln_g, l->fln_b, c->eps);
        in = b->h;
    } else {
        wx_op(be, layer_norm, b->x, b->x, l->ln_g, l->ln_b, c->eps);
        in = b->x;
    }
    wx_op(be, linear, b->ffn, in, l->ff1_w, l->ff1_b);
    wx_op(be, gelu, b->ffn);
    wx_op(be, linear, b->attn, b->ffn, l->ff2_w, l->ff2_b);
    wx_op(be, add, b->x, b->x, b->attn);
    if (!pre) wx_op(be, layer_norm, b->x, b->x, l->fln_g, l->fln_b, c->eps);
}

wx_status wx_w2v_logits(wx_w2v *m, const float *samples, int64_t n, float **logits,
                        int64_t *n_frames, wx_err *err)
{
    const wx_w2v_config *c = &m->cfg;
    wx_backend *be = m->be;
    *logits = NULL;
    *n_frames = 0;
    int64_t t = wx_w2v_num_frames(m, n);
    if (!samples || t < 1)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "wav2vec2: %lld samples give no frame (at "
                       "least 400 at 16 kHz are needed)", (long long)n);
    int64_t d = c->hidden, v = c->vocab, clast = c->conv_dim[c->n_conv - 1];
    float *host = NULL;
    const float *in = samples;
    if (c->normalize_waveform) {
        /* torchaudio: nn.functional.layer_norm(waveforms, waveforms.shape) */
        host = host_alloc(n);
        if (!host) return wx_fail(err, WX_ERR_NOMEM, "out of memory for %lld samples",
                                  (long long)n);
        double sum = 0.0, sq = 0.0;
        for (int64_t i = 0; i < n; i++) sum += samples[i];
        double mean = sum / (double)n;
        for (int64_t i = 0; i < n; i++) sq += (samples[i] - mean) * (samples[i] - mean);
        double inv = 1.0 / sqrt(sq / (double)n + 1e-5);
        for (int64_t i = 0; i < n; i++) host[i] = (float)((samples[i] - mean) * inv);
        in = host;
    }
    enc_bufs b = {0};
    wx_status s = WX_OK;
    wx_tensor *wave = alloc3(be, 1, 1, n), *feat = NULL, *ft = NULL;
    if (!wave) goto oom;
    be->ops->upload(be, wave, in, (size_t)n * sizeof *in);
    free(host);
    host = NULL;
    feat = extract(m, wave);              /* consumes wave */
    if (!feat) goto oom;
    ft = alloc3(be, 1, t, clast);
    b.x = alloc3(be, 1, t, d);
    b.h = alloc3(be, 1, t, d);
    b.qkv = alloc3(be, 1, t, 3 * d);
    b.attn = alloc3(be, 1, t, d);
    b.ffn = alloc3(be, 1, t, c->ffn);
    if (!ft || !b.x || !b.h || !b.qkv || !b.attn || !b.ffn) goto oom;
    wx_op(be, transpose, ft, feat);
    be->ops->free(be, feat);
    feat = NULL;
    wx_op(be, layer_norm, ft, ft, m->fp_ln_g, m->fp_ln_b, c->eps);
    wx_op(be, linear, b.x, ft, m->fp_w, m->fp_b);
    be->ops->free(be, ft);
    ft = NULL;
    TRY(pos_conv(m, &b, t, err));
    if (!c->stable_layer_norm) wx_op(be, layer_norm, b.x, b.x, m->enc_ln_g, m->enc_ln_b, c->eps);
    for (int li = 0; li < c->n_layers; li++) encoder_layer(m, &m->layers[li], &b, t);
    if (c->stable_layer_norm) wx_op(be, layer_norm, b.x, b.x, m->enc_ln_g, m->enc_ln_b, c->eps);
    be->ops->free(be, b.qkv);
    b.qkv = alloc3(be, 1, t, v);
    if (!b.qkv) goto oom;
    wx_op(be, linear, b.qkv, b.x, m->head_w, m->head_b);
    float *outp = malloc((size_t)(t * v) * sizeof *outp);
    if (!outp) { s = wx_fail(err, WX_ERR_NOMEM, "out of memory for the logits"); goto done; }
    be->ops->download(be, b.qkv, outp, (size_t)(t * v) * sizeof *outp);
    if (be->ops->synchronize(be) != 0) {
        free(outp);
        s = wx_fail(err, WX_ERR_BACKEND, "wav2vec2: the %s backend failed", be->ops->name);
        goto done;
    }
    s = wx_backend_take_error(be, err);
    if (s != WX_OK) { free(outp); goto done; }
    *logits = outp;
    *n_frames = t;
    goto done;
oom:
    s = wx_fail(err, WX_ERR_NOMEM, "wav2vec2: backend out of memory for %lld samples",
                (long long)n);
done:
    free(host);
    be->ops->free(be, feat);
    be->ops->free(be, ft);
    free_bufs(be, &b);
    return s;
}
