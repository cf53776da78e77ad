/* wespeaker.c — pyannote's WeSpeakerResNet34 over the backend interface (contract in
 * wespeaker.h). The fbank runs on the host (io/fbank.c); each convolution, with its batch
 * norm folded in, is one conv2d op (residual and ReLU fused), the pooling one stats_pool and
 * the embedding one linear. Activations live in four buffers sized for the largest layer and
 * viewed with each layer's shape. */
#include "wespeaker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../io/fbank.h"
#include "../io/torch_ckpt.h"

#define ARCH_MODULE "pyannote.audio.models.embedding.wespeaker"
#define ARCH_CLASS "WeSpeakerResNet34"
#define N_LAYERS 4
#define MAX_BLOCKS 16          /* 3 + 4 + 6 + 3 */
#define BN_EPS 1e-5            /* nn.BatchNorm2d's default, which ResNet34 keeps */
#define MAX_BATCH 4            /* chunks per ResNet pass: bounds the activations (4 buffers
                                * of 4 x 32 x 80 x 998 floats, 164 MB, for 10 s chunks) */
#define N_BUFFERS 4

static const int BLOCKS[N_LAYERS] = {3, 4, 6, 3};

typedef struct conv_bn {
    wx_tensor *w;              /* (Cout, Cin, K, K), batch norm folded in */
    wx_tensor *b;              /* (Cout) */
    int stride, pad;
} conv_bn;

typedef struct basic_block {
    conv_bn conv1, conv2;      /* 3×3: stride s then 1 */
    conv_bn shortcut;          /* 1×1 stride s; w NULL for the identity */
} basic_block;

struct wx_wespeaker {
    wx_backend *be;
    wx_fbank *fbank;
    int sample_rate, n_mels, width, dim;   /* width: m_channels */
    conv_bn conv1;                         /* 1 → m, 3×3 */
    basic_block blocks[MAX_BLOCKS];
    wx_tensor *seg_w, *seg_b;              /* (dim, 2·8m·H4), (dim) */
};

/* ---- checkpoint ------------------------------------------------------------------------ */

#define TRY(expr) do { s = (expr); if (s != WX_OK) goto done; } while (0)

/* Architecture recorded by pyannote's on_save_checkpoint. */
static wx_status check_architecture(const wx_torch_ckpt *ck, wx_err *err)
{
    const char *module = wx_torch_value_str(
        wx_torch_get(ck, "pyannote.audio.architecture.module"), NULL);
    const char *cls = wx_torch_value_str(
        wx_torch_get(ck, "pyannote.audio.architecture.class"), NULL);
    if (!module || !cls)
        return wx_fail(err, WX_ERR_FORMAT, "not a pyannote.audio model checkpoint (no "
                       "pyannote.audio.architecture)");
    if (strcmp(module, ARCH_MODULE) != 0 || strcmp(cls, ARCH_CLASS) != 0)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "a %s.%s checkpoint, not the %s.%s speaker "
                       "embedding", module, cls, ARCH_MODULE, ARCH_CLASS);
    return WX_OK;
}

/* hyper_parameters.<name> as a number, `fallback` when absent; false when of another kind. */
static bool hparam_number(const wx_torch_ckpt *ck, const char *name, double fallback,
                          double *out)
{
    char path[96];
    snprintf(path, sizeof path, "hyper_parameters.%s", name);
    const wx_torch_value *v = wx_torch_get(ck, path);
    *out = fallback;
    return !v || wx_torch_value_double(v, out);
}

static bool hparam_bool_is(const wx_torch_ckpt *ck, const char *name, bool expected)
{
    char path[96];
    snprintf(path, sizeof path, "hyper_parameters.%s", name);
    const wx_torch_value *v = wx_torch_get(ck, path);
    bool b = expected;
    return !v || (wx_torch_value_bool(v, &b) && b == expected);
}

static bool hparam_absent_or_none(const wx_torch_ckpt *ck, const char *name)
{
    char path[96];
    snprintf(path, sizeof path, "hyper_parameters.%s", name);
    const wx_torch_value *v = wx_torch_get(ck, path);
    return !v || wx_torch_value_kind(v) == WX_TORCH_NONE;
}

/* The fbank configuration from the hyper-parameters; what compute_fbank would do
 * differently from io/fbank.c is refused. */
static wx_status read_hparams(const wx_torch_ckpt *ck, wx_fbank_config *cfg, wx_err *err)
{
    double rate, channels, mels, length, shift, dither;
    if (!hparam_number(ck, "sample_rate", 16000, &rate) ||
        !hparam_number(ck, "num_channels", 1, &channels) ||
        !hparam_number(ck, "num_mel_bins", 80, &mels) ||
        !hparam_number(ck, "frame_length", 25, &length) ||
        !hparam_number(ck, "frame_shift", 10, &shift) ||
        !hparam_number(ck, "dither", 0, &dither))
        return wx_fail(err, WX_ERR_FORMAT, "a hyper-parameter (sample_rate, num_channels, "
                       "num_mel_bins, frame_length, frame_shift, dither) is not a number");
    const wx_torch_value *window = wx_torch_get(ck, "hyper_parameters.window_type");
    const char *window_type = window ? wx_torch_value_str(window, NULL) : "hamming";
    if (channels != 1 || dither != 0 || !window_type || strcmp(window_type, "hamming") != 0 ||
        !hparam_bool_is(ck, "use_energy", false) || !hparam_bool_is(ck, "snip_edges", true) ||
        !hparam_bool_is(ck, "round_to_power_of_two", true) ||
        !hparam_absent_or_none(ck, "fbank_centering_span"))
        return wx_fail(err, WX_ERR_UNSUPPORTED, "hyper-parameters this front end does not "
                       "compute (WeSpeaker's are): it needs "
                       "num_channels 1, dither 0, window_type hamming, use_energy false, "
                       "snip_edges true, round_to_power_of_two true, fbank_centering_span None");
    if (rate != floor(rate) || rate < 1 || rate > 1e6 || mels != floor(mels) || mels > 1024)
        return wx_fail(err, WX_ERR_FORMAT, "hyper-parameters sample_rate %g / num_mel_bins %g "
                       "out of range", rate, mels);
    cfg->sample_rate = (int)rate;
    cfg->num_mel_bins = (int)mels;
    cfg->frame_length_ms = length;
    cfg->frame_shift_ms = shift;
    return WX_OK;
}

static wx_tensor *upload(wx_backend *be, int ndim, const int64_t *shape, const float *host)
{
    wx_tensor *t = be->ops->alloc(be, WX_F32, ndim, shape);
    if (t) be->ops->upload(be, t, host, wx_tensor_nbytes(t));
    return t;
}

/* state_dict.resnet.<conv> (Cout, Cin, K, K) and the batch norm <bn> after it, folded:
 * w' = w · γ / sqrt(var + eps), b' = β − mean · γ / sqrt(var + eps) (float64, rounded). */
static wx_status load_conv_bn(wx_wespeaker *m, const wx_torch_ckpt *ck, const char *conv,
                              const char *bn, int64_t cout, int64_t cin, int k, int stride,
                              conv_bn *out, wx_err *err)
{
    char name[160];
    int64_t wshape[4] = {cout, cin, k, k}, n_w = cout * cin * k * k;
    float *w = malloc((size_t)(n_w + 4 * cout) * sizeof *w), *stats = w + n_w;
    if (!w) return wx_fail(err, WX_ERR_NOMEM, "out of memory reading %s", conv);
    static const char *const BN_PARTS[4] = {"weight", "bias", "running_mean", "running_var"};
    wx_status s;
    snprintf(name, sizeof name, "state_dict.resnet.%s.weight", conv);
    TRY(wx_torch_read_f32(ck, name, 4, wshape, w, err));
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "state_dict.resnet.%s.%s", bn, BN_PARTS[i]);
        TRY(wx_torch_read_f32(ck, name, 1, &cout, stats + i * cout, err));
    }
    const float *gamma = stats, *beta = stats + cout, *mean = stats + 2 * cout;
    const float *var = stats + 3 * cout;
    float *bias = stats;   /* overwrites γ once its channel is folded */
    int64_t per_out = cin * k * k;
    for (int64_t co = 0; co < cout; co++) {
        double scale = (double)gamma[co] / sqrt((double)var[co] + BN_EPS);
        for (int64_t i = 0; i < per_out; i++)
            w[co * per_out + i] = (float)((double)w[co * per_out + i] * scale);
        bias[co] = (float)((double)beta[co] - (double)mean[co] * scale);
    }
    out->w = upload(m->be, 4, wshape, w);
    out->b = upload(m->be, 1, &cout, bias);
    out->stride = stride;
    out->pad = k / 2;
    if (!out->w || !out->b)
        s = wx_fail(err, WX_ERR_NOMEM, "backend out of memory for %s", conv);
done:
    free(w);
    return s;
}

/* H after the three stride-2 layers: each 3×3 pad-1 stride-2 conv gives ceil(H / 2). */
static int64_t final_rows(int64_t h)
{
    for (int l = 1; l < N_LAYERS; l++) h = (h - 1) / 2 + 1;
    return h;
}

static wx_status load_resnet(wx_wespeaker *m, const wx_torch_ckpt *ck, wx_err *err)
{
    const wx_torch_tensor *c1 = wx_torch_find(ck, "state_dict.resnet.conv1.weight");
    const wx_torch_tensor *seg = wx_torch_find(ck, "state_dict.resnet.seg_1.weight");
    if (!c1 || c1->ndim != 4 || c1->shape[0] < 1 || c1->shape[0] > 4096 || !seg ||
        seg->ndim != 2 || seg->shape[0] < 1 || seg->shape[0] > 65536)
        return wx_fail(err, WX_ERR_FORMAT, "no usable resnet.conv1.weight / resnet.seg_1.weight "
                       "in the state_dict");
    m->width = (int)c1->shape[0];
    m->dim = (int)seg->shape[0];
    wx_status s;
    TRY(load_conv_bn(m, ck, "conv1", "bn1", m->width, 1, 3, 1, &m->conv1, err));
    int64_t in_planes = m->width;
    int bi = 0;
    char conv[64], bn[64];
    for (int l = 0; l < N_LAYERS; l++) {
        int64_t planes = (int64_t)m->width << l;
        for (int j = 0; j < BLOCKS[l]; j++, bi++) {
            int stride = l > 0 && j == 0 ? 2 : 1;
            basic_block *b = &m->blocks[bi];
            snprintf(conv, sizeof conv, "layer%d.%d.conv1", l + 1, j);
            snprintf(bn, sizeof bn, "layer%d.%d.bn1", l + 1, j);
            TRY(load_conv_bn(m, ck, conv, bn, planes, in_planes, 3, stride, &b->conv1, err));
            snprintf(conv, sizeof conv, "layer%d.%d.conv2", l + 1, j);
            snprintf(bn, sizeof bn, "layer%d.%d.bn2", l + 1, j);
            TRY(load_conv_bn(m, ck, conv, bn, planes, planes, 3, 1, &b->conv2, err));
            if (stride != 1 || in_planes != planes) {
                snprintf(conv, sizeof conv, "layer%d.%d.shortcut.0", l + 1, j);
                snprintf(bn, sizeof bn, "layer%d.%d.shortcut.1", l + 1, j);
                TRY(load_conv_bn(m, ck, conv, bn, planes, in_planes, 1, stride, &b->shortcut,
                                 err));
            }
            in_planes = planes;
        }
    }
    int64_t seg_shape[2] = {m->dim, 2 * in_planes * final_rows(m->n_mels)};
    float *host = malloc((size_t)(seg_shape[0] * seg_shape[1] + m->dim) * sizeof *host);
    if (!host) return wx_fail(err, WX_ERR_NOMEM, "out of memory reading seg_1");
    int64_t dim = m->dim;
    s = wx_torch_read_f32(ck, "state_dict.resnet.seg_1.weight", 2, seg_shape, host, err);
    if (s == WX_OK)
        s = wx_torch_read_f32(ck, "state_dict.resnet.seg_1.bias", 1, &dim,
                              host + seg_shape[0] * seg_shape[1], err);
    if (s == WX_OK) {
        m->seg_w = upload(m->be, 2, seg_shape, host);
        m->seg_b = upload(m->be, 1, &dim, host + seg_shape[0] * seg_shape[1]);
        if (!m->seg_w || !m->seg_b) s = wx_fail(err, WX_ERR_NOMEM, "backend out of memory");
    }
    free(host);
done:
    return s;
}

wx_status wx_wespeaker_load(const char *ckpt_path, wx_backend *be, wx_wespeaker **out,
                            wx_err *err)
{
    *out = NULL;
    if (!be->ops->conv2d || !be->ops->stats_pool)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "the %s backend lacks the conv2d and stats_pool "
                       "ops; run the speaker embedding on the CPU backend", be->ops->name);
    wx_wespeaker *m = calloc(1, sizeof *m);
    if (!m) return wx_fail(err, WX_ERR_NOMEM, "out of memory loading the speaker embedding");
    m->be = be;
    wx_torch_ckpt *ck = NULL;
    wx_fbank_config cfg;
    wx_status s;
    TRY(wx_torch_load(ckpt_path, &ck, err));
    TRY(check_architecture(ck, err));
    TRY(read_hparams(ck, &cfg, err));
    TRY(wx_fbank_create(&cfg, &m->fbank, err));
    m->sample_rate = cfg.sample_rate;
    m->n_mels = cfg.num_mel_bins;
    TRY(load_resnet(m, ck, err));
done:
    wx_torch_free(ck);
    if (s != WX_OK) {
        if (err && strstr(err->msg, ckpt_path) == NULL) {
            wx_err inner = *err;
            wx_fail(err, s, "%s: %s", ckpt_path, inner.msg);
        }
        wx_wespeaker_free(m);
        return s;
    }
    *out = m;
    return WX_OK;
}

static void free_conv(wx_backend *be, conv_bn *c)
{
    be->ops->free(be, c->w);
    be->ops->free(be, c->b);
}

void wx_wespeaker_free(wx_wespeaker *m)
{
    if (!m) return;
    free_conv(m->be, &m->conv1);
    for (int i = 0; i < MAX_BLOCKS; i++) {
        free_conv(m->be, &m->blocks[i].conv1);
        free_conv(m->be, &m->blocks[i].conv2);
        free_conv(m->be, &m->blocks[i].shortcut);
    }
    m->be->ops->free(m->be, m->seg_w);
    m->be->ops->free(m->be, m->seg_b);
    wx_fbank_free(m->fbank);
    free(m);
}

int wx_wespeaker_dim(const wx_wespeaker *m) { return m->dim; }
int wx_wespeaker_sample_rate(const wx_wespeaker *m) { return m->sample_rate; }

static int64_t conv_out(int64_t n, const conv_bn *c)
{
    int64_t k = c->pad * 2 + 1;
    return (n + 2 * c->pad - k) / c->stride + 1;
}

int64_t wx_wespeaker_frames(const wx_wespeaker *m, int64_t n_samples)
{
    int64_t t = wx_fbank_frames(m->fbank, n_samples);
    if (t < 1) return 0;
    for (int i = 0; i < MAX_BLOCKS; i++) t = conv_out(t, &m->blocks[i].conv1);
    return t;
}

/* ---- forward ----------------------------------------------------------------------------- */

/* Per-call activations: N_BUFFERS of the largest layer's (nb, C, H, W). */
typedef struct pass {
    wx_tensor *buf[N_BUFFERS];
    wx_tensor *weights, *stats, *emb;   /* (nb, S, T4), (nb, S, 2·C·H4), (nb, S, dim) */
    float *feat;                        /* (T, n_mels): one chunk's fbank */
    float *host_w;                      /* (nb, 1, n_mels, T) features, then (nb, S, T4) weights */
} pass;

typedef struct act {
    wx_tensor *buf;
    int64_t c, h, w;
} act;

static wx_tensor view4(const act *a, int64_t nb)
{
    int64_t shape[4] = {nb, a->c, a->h, a->w};
    return wx_tensor_view(a->buf, 0, 4, shape);
}

/* dst = conv_bn(src) (+ residual), ReLU when relu; dst takes buffer `to`. */
static act run_conv(wx_backend *be, const conv_bn *c, const act *src, const act *residual,
                    wx_tensor *to, int64_t nb, bool relu)
{
    act dst = {to, c->w->shape[0], conv_out(src->h, c), conv_out(src->w, c)};
    wx_tensor x = view4(src, nb), o = view4(&dst, nb), r;
    if (residual) r = view4(residual, nb);
    wx_op(be, conv2d, &o, &x, c->w, c->b, residual ? &r : NULL, c->stride, c->pad, relu);
    return dst;
}

/* A buffer none of the given activations uses. */
static wx_tensor *free_buffer(pass *p, const act *a, const act *b, const act *c)
{
    for (int i = 0; i < N_BUFFERS; i++) {
        wx_tensor *t = p->buf[i];
        if ((!a || a->buf != t) && (!b || b->buf != t) && (!c || c->buf != t)) return t;
    }
    return NULL;   /* unreachable: four buffers, at most three in use */
}

/* The ResNet on the fbank already in p->buf[0] as (nb, 1, n_mels, T): returns layer4's
 * output. */
static act resnet(wx_wespeaker *m, pass *p, int64_t nb, int64_t frames)
{
    wx_backend *be = m->be;
    act in = {p->buf[0], 1, m->n_mels, frames};
    act x = run_conv(be, &m->conv1, &in, NULL, p->buf[1], nb, true);
    for (int i = 0; i < MAX_BLOCKS; i++) {
        const basic_block *b = &m->blocks[i];
        act t = run_conv(be, &b->conv1, &x, NULL, free_buffer(p, &x, NULL, NULL), nb, true);
        act sc = x;
        if (b->shortcut.w)
            sc = run_conv(be, &b->shortcut, &x, NULL, free_buffer(p, &x, &t, NULL), nb, false);
        x = run_conv(be, &b->conv2, &t, &sc, free_buffer(p, &x, &t, &sc), nb, true);
    }
    return x;
}

/* F.interpolate(weights (rows, F), size=T, mode="nearest") into dst (rows, T): source frame
 * min(floor(t · (float)F / T), F − 1) in float32, as ATen's nearest_idx (whose shortcuts for
 * F == T and T == 2F give the same frames: the products are exact there). */
static void resample_nearest(const float *src, int64_t rows, int64_t f, float *dst, int64_t t)
{
    float scale = (float)f / (float)t;
    for (int64_t i = 0; i < t; i++) {
        int64_t j = (int64_t)floorf((float)i * scale);
        if (j > f - 1) j = f - 1;
        for (int64_t r = 0; r < rows; r++) dst[r * t + i] = src[r * f + j];
    }
}

static void free_pass(wx_backend *be, pass *p)
{
    for (int i = 0; i < N_BUFFERS; i++) be->ops->free(be, p->buf[i]);
    be->ops->free(be, p->weights);
    be->ops->free(be, p->stats);
    be->ops->free(be, p->emb);
    free(p->feat);
    free(p->host_w);
}

/* Elements of the largest activation of a pass of nb chunks of `frames` fbank frames. */
static int64_t largest_activation(const wx_wespeaker *m, int64_t nb, int64_t frames)
{
    int64_t h = m->n_mels, w = frames, best = h * w;
    for (int l = 0; l < N_LAYERS; l++) {
        if (l > 0) {
            h = (h - 1) / 2 + 1;
            w = (w - 1) / 2 + 1;
        }
        int64_t e = ((int64_t)m->width << l) * h * w;
        best = e > best ? e : best;
    }
    return nb * best;
}

static wx_status alloc_pass(wx_wespeaker *m, pass *p, int64_t nb, int64_t frames, int64_t t4,
                            int s, wx_err *err)
{
    wx_backend *be = m->be;
    int64_t elems = largest_activation(m, nb, frames);
    int64_t c4 = (int64_t)m->width << (N_LAYERS - 1);
    int64_t wshape[3] = {nb, s, t4}, sshape[3] = {nb, s, 2 * c4 * final_rows(m->n_mels)};
    int64_t eshape[3] = {nb, s, m->dim};
    for (int i = 0; i < N_BUFFERS; i++) p->buf[i] = be->ops->alloc(be, WX_F32, 1, &elems);
    p->weights = be->ops->alloc(be, WX_F32, 3, wshape);
    p->stats = be->ops->alloc(be, WX_F32, 3, sshape);
    p->emb = be->ops->alloc(be, WX_F32, 3, eshape);
    int64_t host = nb * m->n_mels * frames;
    if (host < nb * s * t4) host = nb * s * t4;
    p->feat = malloc((size_t)(frames * m->n_mels) * sizeof *p->feat);
    p->host_w = malloc((size_t)host * sizeof *p->host_w);
    for (int i = 0; i < N_BUFFERS; i++)
        if (!p->buf[i]) goto nomem;
    if (!p->weights || !p->stats || !p->emb || !p->feat || !p->host_w) goto nomem;
    return WX_OK;
nomem:
    return wx_fail(err, WX_ERR_NOMEM, "speaker embedding: out of memory for %lld chunks of "
                   "%lld frames", (long long)nb, (long long)frames);
}

/* The fbank of nb chunks, transposed to (nb, 1, n_mels, T), into p->buf[0]. */
static wx_status upload_features(wx_wespeaker *m, pass *p, const float *chunks, int64_t nb,
                                 int64_t n, int64_t frames, wx_err *err)
{
    for (int64_t b = 0; b < nb; b++) {
        wx_status s = wx_fbank_compute(m->fbank, chunks + b * n, n, p->feat, err);
        if (s != WX_OK) return s;
        float *dst = p->host_w + b * m->n_mels * frames;
        for (int64_t t = 0; t < frames; t++)
            for (int64_t k = 0; k < m->n_mels; k++) dst[k * frames + t] = p->feat[t * m->n_mels + k];
    }
    m->be->ops->upload(m->be, p->buf[0], p->host_w,
                       (size_t)(nb * m->n_mels * frames) * sizeof(float));
    return WX_OK;
}

static wx_status embed_batch(wx_wespeaker *m, pass *p, const float *chunks, int64_t nb,
                             int64_t n, int64_t frames, const float *weights, int s, int64_t f,
                             float *out, wx_err *err)
{
    wx_backend *be = m->be;
    wx_status st = upload_features(m, p, chunks, nb, n, frames, err);
    if (st != WX_OK) return st;
    act x = resnet(m, p, nb, frames);
    /* TSTP: (nb, C, H, T4) read as (nb, C·H, T4) */
    int64_t shape[3] = {nb, x.c * x.h, x.w};
    wx_tensor seq = wx_tensor_view(x.buf, 0, 3, shape);
    resample_nearest(weights, nb * s, f, p->host_w, x.w);
    be->ops->upload(be, p->weights, p->host_w, (size_t)(nb * s * x.w) * sizeof(float));
    wx_op(be, stats_pool, p->stats, &seq, p->weights);
    wx_op(be, linear, p->emb, p->stats, m->seg_w, m->seg_b);
    be->ops->download(be, p->emb, out, (size_t)(nb * s * m->dim) * sizeof(float));
    if (be->ops->synchronize(be) != 0 || wx_backend_take_error(be, err) != WX_OK)
        return wx_fail(err, WX_ERR_BACKEND, "speaker embedding: the %s backend failed",
                       be->ops->name);
    return WX_OK;
}

static bool valid_weights(const float *w, int64_t count)
{
    for (int64_t i = 0; i < count; i++)
        if (!(w[i] >= 0.0f) || isinf(w[i])) return false;
    return true;
}

wx_status wx_wespeaker_embed(wx_wespeaker *m, const float *chunks, int B, int64_t n,
                             const float *weights, int S, int F, float *out, wx_err *err)
{
    int64_t frames = wx_fbank_frames(m->fbank, n);
    if (B < 1 || S < 1 || F < 1 || frames < 1 || !chunks || !weights || !out)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "speaker embedding: %d chunks of %lld samples "
                       "(at least %lld needed) with %d speakers x %d weight frames", B,
                       (long long)n, (long long)wx_fbank_window(m->fbank), S, F);
    if (!valid_weights(weights, (int64_t)B * S * F))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "speaker embedding: weights must be finite "
                       "and non-negative");
    int64_t t4 = wx_wespeaker_frames(m, n), nb_max = B < MAX_BATCH ? B : MAX_BATCH;
    pass p = {0};
    wx_status s = alloc_pass(m, &p, nb_max, frames, t4, S, err);
    for (int b0 = 0; s == WX_OK && b0 < B; b0 += MAX_BATCH) {
        int64_t nb = B - b0 < MAX_BATCH ? B - b0 : MAX_BATCH;
        if (nb != nb_max) {   /* the last, smaller batch: its own pass */
            free_pass(m->be, &p);
            memset(&p, 0, sizeof p);
            s = alloc_pass(m, &p, nb, frames, t4, S, err);
            if (s != WX_OK) break;
            nb_max = nb;
        }
        s = embed_batch(m, &p, chunks + (int64_t)b0 * n, nb, n, frames,
                        weights + (int64_t)b0 * S * F, S, F, out + (int64_t)b0 * S * m->dim,
                        err);
    }
    free_pass(m->be, &p);
    return s;
}
