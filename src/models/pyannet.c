/* pyannet.c — PyanNet forward pass over the backend interface. The sinc filterbank is
 * computed once at load from the learned cut-offs, exactly as asteroid's ParamSincFB
 * (pyannote's SincNet front end) does in float32, and uploaded as an ordinary conv weight
 * (or read as stored, for the ONNX-exported segmentation-3.0 whose graph holds it).
 * Weight names are pyannote's state_dict keys, read from a converted model.safetensors or from
 * pyannote's own pytorch_model.bin (its config then built from the checkpoint's
 * hyper-parameters and task specifications, as pyannote.audio builds the module). */
#include "pyannet.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../io/safetensors.h"
#include "../io/torch_ckpt.h"

#define MAX_CLASSES WX_PYANNET_MAX_CLASSES
#define CHECKPOINT "pytorch_model.bin"   /* pyannote's own file, read when no config.json */

typedef struct lstm_dir {
    wx_tensor *w_ih, *b_ih;     /* (4H, D_in), (4H) */
    wx_tensor *w_hh, *b_hh;     /* (4H, H), (4H) */
} lstm_dir;

struct wx_pyannet {
    wx_backend *be;
    wx_pyannet_config cfg;
    float *low_hz, *band_hz;    /* (n_filters / 2) learned, host */
    float *sinc_n, *sinc_window;/* (sinc_taps / 2) buffers n_ and window_, host */
    float *filters;             /* (n_filters, sinc_taps) when precomputed_filters, host */
    wx_tensor *wav_norm_w, *wav_norm_b;     /* (1) */
    float wav_gamma, wav_beta;              /* their values, host: hop forwards' norms */
    wx_tensor *tap_sum;                     /* (n_filters) sum of each sinc filter's taps */
    wx_tensor *conv_w[3], *conv_b[3];       /* (C_i, C_{i-1}, K_i), (C_i); conv_b[0] NULL */
    wx_tensor *norm_w[3], *norm_b[3];       /* (C_i) */
    lstm_dir lstm[WX_PYANNET_MAX_LSTM][2];  /* [layer][forward, reverse] */
    wx_tensor *lin_w[WX_PYANNET_MAX_LINEAR], *lin_b[WX_PYANNET_MAX_LINEAR];
    wx_tensor *cls_w, *cls_b;               /* (classes, hidden), (classes) */
};

/* ---- config ----------------------------------------------------------------------- */

static wx_status json_int_at(json_t *obj, const char *key, int lo, int hi, int *out,
                             const char *path, wx_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" must be an integer in [%d, %d]", path,
                       key, lo, hi);
    *out = (int)json_integer_value(v);
    return WX_OK;
}

static wx_status json_num_at(json_t *obj, const char *key, float *out, const char *path,
                             wx_err *err)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_number(v))
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" must be a number", path, key);
    *out = (float)json_number_value(v);
    return WX_OK;
}

static wx_status json_ints_at(json_t *obj, const char *key, int n, int lo, int hi, int *out,
                              const char *path, wx_err *err)
{
    json_t *arr = json_object_get(obj, key);
    if (!json_is_array(arr) || (int)json_array_size(arr) != n)
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" must be an array of %d integers", path,
                       key, n);
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, (size_t)i);
        if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
            return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\"[%d] must be in [%d, %d]", path, key,
                           i, lo, hi);
        out[i] = (int)json_integer_value(v);
    }
    return WX_OK;
}

/* Runs a loader step; on failure jumps to the function's cleanup label with status s. */
#define TRY(expr) do { s = (expr); if (s != WX_OK) goto done; } while (0)

/* "powerset": {"num_speakers": S, "max_set_size": M, "mapping": [[0/1 × S] × classes]}; required
 * with a log_softmax activation, refused with a sigmoid one. */
static wx_status parse_powerset(json_t *root, wx_pyannet_config *c, const char *path,
                                wx_err *err)
{
    wx_status s = WX_OK;
    json_t *ps = json_object_get(root, "powerset");
    if (!c->log_softmax) {
        if (ps && !json_is_null(ps))
            return wx_fail(err, WX_ERR_FORMAT, "%s: a powerset head needs the log_softmax "
                           "activation", path);
        return WX_OK;
    }
    if (!json_is_object(ps))
        return wx_fail(err, WX_ERR_FORMAT, "%s: a log_softmax head needs a \"powerset\" object",
                       path);
    TRY(json_int_at(ps, "num_speakers", 1, WX_PYANNET_MAX_SPEAKERS, &c->powerset_speakers, path,
                    err));
    TRY(json_int_at(ps, "max_set_size", 1, c->powerset_speakers, &c->powerset_max_set, path,
                    err));
    json_t *map = json_object_get(ps, "mapping");
    if (!json_is_array(map) || (int)json_array_size(map) != c->num_classes)
        return wx_fail(err, WX_ERR_FORMAT, "%s: powerset \"mapping\" must have num_classes "
                       "(%d) rows", path, c->num_classes);
    for (int k = 0; k < c->num_classes; k++) {
        json_t *row = json_array_get(map, (size_t)k);
        int size = 0;
        if (!json_is_array(row) || (int)json_array_size(row) != c->powerset_speakers)
            return wx_fail(err, WX_ERR_FORMAT, "%s: powerset \"mapping\"[%d] must have "
                           "num_speakers (%d) entries", path, k, c->powerset_speakers);
        for (int j = 0; j < c->powerset_speakers; j++) {
            json_t *v = json_array_get(row, (size_t)j);
            if (!json_is_integer(v) || (json_integer_value(v) != 0 && json_integer_value(v) != 1))
                return wx_fail(err, WX_ERR_FORMAT, "%s: powerset \"mapping\"[%d][%d] must be "
                               "0 or 1", path, k, j);
            c->powerset_mapping[k][j] = (unsigned char)json_integer_value(v);
            size += c->powerset_mapping[k][j];
        }
        if (size > c->powerset_max_set)
            return wx_fail(err, WX_ERR_FORMAT, "%s: powerset class %d has more than "
                           "max_set_size speakers", path, k);
    }
done:
    return s;
}

static wx_status parse_config(json_t *root, wx_pyannet_config *c, const char *path, wx_err *err)
{
    wx_status s = WX_OK;
    json_t *sinc = json_object_get(root, "sincnet"), *lstm = json_object_get(root, "lstm");
    json_t *lin = json_object_get(root, "linear"), *rf = json_object_get(root, "receptive_field");
    const char *arch = json_string_value(json_object_get(root, "architecture"));
    const char *act = json_string_value(json_object_get(root, "activation"));
    if (!arch || strcmp(arch, "PyanNet") != 0 || !act ||
        (strcmp(act, "sigmoid") != 0 && strcmp(act, "log_softmax") != 0) ||
        !json_is_object(sinc) || !json_is_object(lstm) || !json_is_object(lin) ||
        !json_is_object(rf))
        return wx_fail(err, WX_ERR_FORMAT, "%s: not a PyanNet config with a sigmoid or "
                       "log_softmax activation (expected architecture, activation, sincnet, "
                       "lstm, linear, receptive_field)", path);
    c->log_softmax = strcmp(act, "log_softmax") == 0;
    c->precomputed_filters = json_is_true(json_object_get(sinc, "precomputed_filters"));
    json_t *bidir = json_object_get(lstm, "bidirectional");
    if (!json_is_true(bidir))
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: only bidirectional LSTMs are supported",
                       path);
    TRY(json_int_at(root, "sample_rate", 1000, 192000, &c->sample_rate, path, err));
    TRY(json_int_at(root, "window_samples", 1, 1 << 24, &c->window_samples, path, err));
    TRY(json_int_at(root, "num_classes", 1, MAX_CLASSES, &c->num_classes, path, err));
    TRY(json_int_at(sinc, "n_filters", 2, 1024, &c->n_filters, path, err));
    TRY(json_int_at(sinc, "kernel_size", 3, 4095, &c->sinc_taps, path, err));
    TRY(json_int_at(sinc, "stride", 1, 1024, &c->sinc_stride, path, err));
    TRY(json_int_at(sinc, "pool", 1, 64, &c->pool, path, err));
    TRY(json_ints_at(sinc, "conv_channels", 3, 1, 4096, c->conv_channels, path, err));
    TRY(json_ints_at(sinc, "conv_kernels", 3, 1, 4095, c->conv_kernels, path, err));
    TRY(json_num_at(sinc, "min_low_hz", &c->min_low_hz, path, err));
    TRY(json_num_at(sinc, "min_band_hz", &c->min_band_hz, path, err));
    TRY(json_num_at(sinc, "leaky_relu_slope", &c->slope, path, err));
    TRY(json_num_at(sinc, "instance_norm_eps", &c->norm_eps, path, err));
    TRY(json_int_at(lstm, "hidden_size", 1, 4096, &c->lstm_hidden, path, err));
    TRY(json_int_at(lstm, "num_layers", 1, WX_PYANNET_MAX_LSTM, &c->lstm_layers, path, err));
    TRY(json_int_at(lin, "hidden_size", 1, 4096, &c->linear_hidden, path, err));
    TRY(json_int_at(lin, "num_layers", 0, WX_PYANNET_MAX_LINEAR, &c->linear_layers, path, err));
    TRY(json_int_at(rf, "size_samples", 1, 1 << 20, &c->rf_size, path, err));
    TRY(json_int_at(rf, "step_samples", 1, 1 << 20, &c->rf_step, path, err));
    if (c->sinc_taps % 2 == 0 || c->n_filters % 2 != 0 || c->conv_channels[0] != c->n_filters ||
        c->conv_kernels[0] != c->sinc_taps) {
        s = wx_fail(err, WX_ERR_FORMAT, "%s: inconsistent SincNet sizes (odd kernel_size, even "
                     "n_filters = conv_channels[0], conv_kernels[0] = kernel_size)", path);
        goto done;
    }
    TRY(parse_powerset(root, c, path, err));
done:
    return s;
}

static wx_status read_config(const char *dir, wx_pyannet_config *c, wx_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return wx_fail(err, WX_ERR_IO, "%s: cannot read the VAD model config: %s (run "
                       "builder/fetch_models.sh)", path, jerr.text);
    wx_status st = parse_config(root, c, path, err);
    json_decref(root);
    return st;
}

/* ---- config of pyannote's own checkpoint (pytorch_model.bin) -------------------------- */

/* The value under `key` of a DICT (keys may hold dots, as "pyannote.audio"); NULL if absent. */
static const wx_torch_value *dict_at(const wx_torch_value *d, const char *key)
{
    if (wx_torch_value_kind(d) != WX_TORCH_DICT) return NULL;
    for (int i = 0; i < wx_torch_value_len(d); i++) {
        const char *k = wx_torch_value_str(wx_torch_value_key(d, i), NULL);
        if (k && strcmp(k, key) == 0) return wx_torch_value_item(d, i);
    }
    return NULL;
}

/* An int hyper-parameter at a dotted path below v, within [lo, hi]. */
static wx_status ckpt_int(const wx_torch_value *v, const char *key, int lo, int hi, int *out,
                          const char *path, wx_err *err)
{
    int64_t x;
    if (!wx_torch_value_int(wx_torch_value_get(v, key), &x) || x < lo || x > hi)
        return wx_fail(err, WX_ERR_FORMAT, "%s: hyper-parameter %s missing or outside [%d, %d]",
                       path, key, lo, hi);
    *out = (int)x;
    return WX_OK;
}

/* The first dimension d of state_dict tensor `name` (of rank ndim); 0 when absent. */
static int64_t ckpt_dim(const wx_torch_ckpt *ck, const char *name, int ndim, int d)
{
    char key[160];
    snprintf(key, sizeof key, "state_dict.%s", name);
    const wx_torch_tensor *t = wx_torch_find(ck, key);
    return t && t->ndim == ndim ? t->shape[d] : 0;
}

/* pyannote's Powerset(num_classes=S, max_set_size=M).mapping: sets of size 0, 1, …, M, each
 * size in itertools.combinations order. */
static void powerset_mapping(wx_pyannet_config *c)
{
    int k = 0, S = c->powerset_speakers;
    memset(c->powerset_mapping, 0, sizeof c->powerset_mapping);
    for (int size = 0; size <= c->powerset_max_set; size++) {
        int idx[WX_PYANNET_MAX_SPEAKERS];
        for (int i = 0; i < size; i++) idx[i] = i;
        for (;;) {
            for (int i = 0; i < size; i++) c->powerset_mapping[k][idx[i]] = 1;
            k++;
            int i = size - 1;
            while (i >= 0 && idx[i] == S - size + i) i--;
            if (i < 0) break;
            idx[i]++;
            for (int j = i + 1; j < size; j++) idx[j] = idx[j - 1] + 1;
        }
    }
}

static int64_t binomial(int n, int k)
{
    int64_t r = 1;
    for (int i = 1; i <= k; i++) r = r * (n - k + i) / i;
    return r;
}

/* The receptive field of one output frame, in samples, of the three conv + max-pool blocks. */
static void receptive_field(wx_pyannet_config *c)
{
    int size = 1, step = 1;
    for (int i = 2; i >= 0; i--) {
        int stride = i == 0 ? c->sinc_stride : 1;
        size = (size - 1) * c->pool + c->pool;
        size = (size - 1) * stride + c->conv_kernels[i];
    }
    for (int i = 0; i < 3; i++) step *= (i == 0 ? c->sinc_stride : 1) * c->pool;
    c->rf_size = size;
    c->rf_step = step;
}

/* The task of the checkpoint (pyannote.audio's Specifications): window, classes, powerset. */
static wx_status ckpt_specifications(const wx_torch_value *spec, wx_pyannet_config *c,
                                     const char *path, wx_err *err)
{
    double duration;
    int64_t problem, max_set;
    const wx_torch_value *classes = wx_torch_value_get(spec, "classes");
    const wx_torch_value *max_v = wx_torch_value_get(spec, "powerset_max_classes");
    if (!wx_torch_value_double(wx_torch_value_get(spec, "duration"), &duration) ||
        !(duration > 0.0 && duration <= 600.0) ||
        !wx_torch_value_int(wx_torch_value_item(wx_torch_value_args(wx_torch_value_get(spec,
                            "problem")), 0), &problem) ||
        wx_torch_value_kind(classes) != WX_TORCH_LIST)
        return wx_fail(err, WX_ERR_FORMAT, "%s: pyannote.audio specifications without a "
                       "duration, problem and classes (one task expected)", path);
    c->window_samples = (int)lround(duration * c->sample_rate);
    int n_classes = wx_torch_value_len(classes);
    bool powerset = wx_torch_value_int(max_v, &max_set);
    if (!powerset) {   /* multi-label (2) or binary (0): sigmoid per class */
        if (problem != 0 && problem != 2)
            return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: problem type %lld is neither multi-"
                           "label nor powerset", path, (long long)problem);
        c->log_softmax = false;
        c->powerset_speakers = 0;
        return WX_OK;
    }
    if (n_classes < 1 || n_classes > WX_PYANNET_MAX_SPEAKERS || max_set < 1 ||
        max_set > n_classes)
        return wx_fail(err, WX_ERR_FORMAT, "%s: powerset of %d speakers and sets of %lld",
                       path, n_classes, (long long)max_set);
    c->log_softmax = true;
    c->powerset_speakers = n_classes;
    c->powerset_max_set = (int)max_set;
    int64_t n_sets = 0;
    for (int k = 0; k <= max_set; k++) n_sets += binomial(n_classes, k);
    if (n_sets != c->num_classes)
        return wx_fail(err, WX_ERR_FORMAT, "%s: the classifier has %d outputs, the powerset of "
                       "%d speakers in sets of %lld has %lld", path, c->num_classes, n_classes,
                       (long long)max_set, (long long)n_sets);
    powerset_mapping(c);
    return WX_OK;
}

/* The config pyannote.audio 4.0's PyanNet builds from the checkpoint's hyper-parameters and
 * specifications; the SincNet constants (50 Hz cut-offs, pool 3, slope 0.01, eps 1e-5) are
 * its code's, the layer sizes read off the state_dict. */
static wx_status ckpt_config(const wx_torch_ckpt *ck, wx_pyannet_config *c, const char *path,
                             wx_err *err)
{
    wx_status s = WX_OK;
    const wx_torch_value *pa = dict_at(wx_torch_root(ck), "pyannote.audio");
    const wx_torch_value *hp = dict_at(wx_torch_root(ck), "hyper_parameters");
    const char *cls = wx_torch_value_str(wx_torch_value_get(pa, "architecture.class"), NULL);
    if (!cls || strcmp(cls, "PyanNet") != 0 || !hp)
        return wx_fail(err, WX_ERR_FORMAT, "%s: not a pyannote.audio PyanNet checkpoint "
                       "(architecture %s)", path, cls ? cls : "missing");
    bool bidir = false;
    if (!wx_torch_value_bool(wx_torch_value_get(hp, "lstm.bidirectional"), &bidir) || !bidir)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: only bidirectional LSTMs are supported",
                       path);
    memset(c, 0, sizeof *c);
    TRY(ckpt_int(hp, "sample_rate", 1000, 192000, &c->sample_rate, path, err));
    TRY(ckpt_int(hp, "sincnet.stride", 1, 1024, &c->sinc_stride, path, err));
    TRY(ckpt_int(hp, "lstm.hidden_size", 1, 4096, &c->lstm_hidden, path, err));
    TRY(ckpt_int(hp, "lstm.num_layers", 1, WX_PYANNET_MAX_LSTM, &c->lstm_layers, path, err));
    TRY(ckpt_int(hp, "linear.hidden_size", 1, 4096, &c->linear_hidden, path, err));
    TRY(ckpt_int(hp, "linear.num_layers", 0, WX_PYANNET_MAX_LINEAR, &c->linear_layers, path,
                 err));
    c->n_filters = (int)ckpt_dim(ck, "sincnet.conv1d.0.filterbank.low_hz_", 2, 0) * 2;
    c->sinc_taps = (int)ckpt_dim(ck, "sincnet.conv1d.0.filterbank.n_", 2, 1) * 2 + 1;
    c->num_classes = (int)ckpt_dim(ck, "classifier.weight", 2, 0);
    c->conv_channels[0] = c->n_filters;
    c->conv_kernels[0] = c->sinc_taps;
    for (int i = 1; i < 3; i++) {
        const char *name = i == 1 ? "sincnet.conv1d.1.weight" : "sincnet.conv1d.2.weight";
        c->conv_channels[i] = (int)ckpt_dim(ck, name, 3, 0);
        c->conv_kernels[i] = (int)ckpt_dim(ck, name, 3, 2);
    }
    if (c->n_filters < 2 || c->sinc_taps < 3 || c->num_classes < 1 ||
        c->num_classes > MAX_CLASSES || !c->conv_channels[1] || !c->conv_channels[2] ||
        !c->conv_kernels[1] || !c->conv_kernels[2]) {
        s = wx_fail(err, WX_ERR_FORMAT, "%s: state_dict lacks PyanNet's SincNet or classifier "
                    "tensors", path);
        goto done;
    }
    c->min_low_hz = c->min_band_hz = 50.0f;
    c->pool = 3;
    c->slope = 0.01f;
    c->norm_eps = 1e-5f;
    receptive_field(c);
    TRY(ckpt_specifications(wx_torch_value_get(pa, "specifications"), c, path, err));
done:
    return s;
}

/* ---- weights ------------------------------------------------------------------------ */

/* Where the weights come from: a converted model.safetensors, or pyannote's own checkpoint
 * (its tensors under "state_dict."). Names are pyannote's state_dict keys either way. */
typedef struct weights {
    const wx_safetensors *st;
    const wx_torch_ckpt *ck;
} weights;

/* Reads tensor `name`, which must have exactly the expected shape, as float32 into dst. */
static wx_status read_f32(const weights *w, const char *name, int ndim, const int64_t *shape,
                          float *dst, wx_err *err)
{
    if (w->st) return wx_safetensors_read_f32(w->st, name, ndim, shape, dst, err);
    char key[160];
    snprintf(key, sizeof key, "state_dict.%s", name);
    return wx_torch_read_f32(w->ck, key, ndim, shape, dst, err);
}

/* Reads tensor `name` of the expected shape to a malloc'd host array. */
static wx_status read_host(const weights *w, const char *name, int ndim,
                           const int64_t *shape, float **out, wx_err *err)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    *out = malloc((size_t)(n ? n : 1) * sizeof **out);
    if (!*out) return wx_fail(err, WX_ERR_NOMEM, "out of memory reading %s", name);
    return read_f32(w, name, ndim, shape, *out, err);
}

static wx_status upload_host(wx_backend *be, const float *host, int ndim, const int64_t *shape,
                             wx_tensor **out, const char *name, wx_err *err)
{
    *out = be->ops->alloc(be, WX_F32, ndim, shape);
    if (!*out) return wx_fail(err, WX_ERR_NOMEM, "backend out of memory for %s", name);
    be->ops->upload(be, *out, host, wx_tensor_nbytes(*out));
    return WX_OK;
}

/* Loads tensor `name` of shape (d0[, d1[, d2]]) (trailing zeros drop dimensions). */
static wx_status load_tensor(wx_pyannet *m, const weights *st, const char *name,
                             int64_t d0, int64_t d1, int64_t d2, wx_tensor **out, wx_err *err)
{
    int64_t shape[3] = {d0, d1, d2};
    int ndim = d2 ? 3 : d1 ? 2 : 1;
    float *host = NULL;
    wx_status s = read_host(st, name, ndim, shape, &host, err);
    if (s == WX_OK) s = upload_host(m->be, host, ndim, shape, out, name, err);
    free(host);
    return s;
}

static wx_status load_sincnet(wx_pyannet *m, const weights *st, wx_err *err)
{
    const wx_pyannet_config *c = &m->cfg;
    wx_status s = WX_OK;
    int64_t half_f[2] = {c->n_filters / 2, 1}, half_k[2] = {1, c->sinc_taps / 2};
    int64_t one = 1;
    TRY(read_f32(st, "sincnet.wav_norm1d.weight", 1, &one, &m->wav_gamma, err));
    TRY(read_f32(st, "sincnet.wav_norm1d.bias", 1, &one, &m->wav_beta, err));
    TRY(upload_host(m->be, &m->wav_gamma, 1, &one, &m->wav_norm_w, "sincnet.wav_norm1d.weight",
                    err));
    TRY(upload_host(m->be, &m->wav_beta, 1, &one, &m->wav_norm_b, "sincnet.wav_norm1d.bias", err));
    int64_t fshape[3] = {c->n_filters, 1, c->sinc_taps};
    if (c->precomputed_filters) {
        TRY(read_host(st, "sincnet.conv1d.0.weight", 3, fshape, &m->filters, err));
    } else {
        TRY(read_host(st, "sincnet.conv1d.0.filterbank.low_hz_", 2, half_f, &m->low_hz, err));
        TRY(read_host(st, "sincnet.conv1d.0.filterbank.band_hz_", 2, half_f, &m->band_hz, err));
        TRY(read_host(st, "sincnet.conv1d.0.filterbank.n_", 2, half_k, &m->sinc_n, err));
        TRY(read_host(st, "sincnet.conv1d.0.filterbank.window_", 1, half_k + 1,
                      &m->sinc_window, err));
    }
    float *filters = malloc((size_t)(c->n_filters * c->sinc_taps) * sizeof *filters);
    if (!filters) return wx_fail(err, WX_ERR_NOMEM, "out of memory for the sinc filters");
    wx_pyannet_sinc_filters(m, filters);
    s = upload_host(m->be, filters, 3, fshape, &m->conv_w[0], "sinc filters", err);
    float *sums = s == WX_OK ? malloc((size_t)c->n_filters * sizeof *sums) : NULL;
    if (sums) {
        for (int f = 0; f < c->n_filters; f++) {
            float acc = 0.0f;
            for (int j = 0; j < c->sinc_taps; j++) acc += filters[(size_t)f * c->sinc_taps + j];
            sums[f] = acc;
        }
        int64_t fn = c->n_filters;
        s = upload_host(m->be, sums, 1, &fn, &m->tap_sum, "sinc tap sums", err);
    } else if (s == WX_OK) {
        s = wx_fail(err, WX_ERR_NOMEM, "out of memory for the sinc filters");
    }
    free(sums);
    free(filters);
    if (s != WX_OK) goto done;
    char name[128];
    for (int i = 0; i < 3; i++) {
        int ch = c->conv_channels[i];
        if (i > 0) {
            snprintf(name, sizeof name, "sincnet.conv1d.%d.weight", i);
            TRY(load_tensor(m, st, name, ch, c->conv_channels[i - 1], c->conv_kernels[i],
                            &m->conv_w[i], err));
            snprintf(name, sizeof name, "sincnet.conv1d.%d.bias", i);
            TRY(load_tensor(m, st, name, ch, 0, 0, &m->conv_b[i], err));
        }
        snprintf(name, sizeof name, "sincnet.norm1d.%d.weight", i);
        TRY(load_tensor(m, st, name, ch, 0, 0, &m->norm_w[i], err));
        snprintf(name, sizeof name, "sincnet.norm1d.%d.bias", i);
        TRY(load_tensor(m, st, name, ch, 0, 0, &m->norm_b[i], err));
    }
done:
    return s;
}

static wx_status load_lstm(wx_pyannet *m, const weights *st, wx_err *err)
{
    const wx_pyannet_config *c = &m->cfg;
    int64_t g4 = 4 * c->lstm_hidden;
    char name[128];
    wx_status s = WX_OK;
    for (int l = 0; l < c->lstm_layers; l++) {
        int64_t d_in = l == 0 ? c->conv_channels[2] : 2 * c->lstm_hidden;
        for (int d = 0; d < 2; d++) {
            const char *sfx = d ? "_reverse" : "";
            lstm_dir *ld = &m->lstm[l][d];
            snprintf(name, sizeof name, "lstm.weight_ih_l%d%s", l, sfx);
            TRY(load_tensor(m, st, name, g4, d_in, 0, &ld->w_ih, err));
            snprintf(name, sizeof name, "lstm.weight_hh_l%d%s", l, sfx);
            TRY(load_tensor(m, st, name, g4, c->lstm_hidden, 0, &ld->w_hh, err));
            snprintf(name, sizeof name, "lstm.bias_ih_l%d%s", l, sfx);
            TRY(load_tensor(m, st, name, g4, 0, 0, &ld->b_ih, err));
            snprintf(name, sizeof name, "lstm.bias_hh_l%d%s", l, sfx);
            TRY(load_tensor(m, st, name, g4, 0, 0, &ld->b_hh, err));
        }
    }
done:
    return s;
}

static wx_status load_head(wx_pyannet *m, const weights *st, wx_err *err)
{
    const wx_pyannet_config *c = &m->cfg;
    char name[128];
    wx_status s = WX_OK;
    int64_t d_in = 2 * c->lstm_hidden;
    for (int i = 0; i < c->linear_layers; i++) {
        snprintf(name, sizeof name, "linear.%d.weight", i);
        TRY(load_tensor(m, st, name, c->linear_hidden, d_in, 0, &m->lin_w[i], err));
        snprintf(name, sizeof name, "linear.%d.bias", i);
        TRY(load_tensor(m, st, name, c->linear_hidden, 0, 0, &m->lin_b[i], err));
        d_in = c->linear_hidden;
    }
    TRY(load_tensor(m, st, "classifier.weight", c->num_classes, d_in, 0, &m->cls_w, err));
    TRY(load_tensor(m, st, "classifier.bias", c->num_classes, 0, 0, &m->cls_b, err));
done:
    return s;
}

wx_status wx_pyannet_load(const char *dir, wx_backend *be, wx_pyannet **out, wx_err *err)
{
    *out = NULL;
    const wx_backend_ops *ops = be->ops;
    if (!ops->abs || !ops->max_pool1d || !ops->instance_norm || !ops->leaky_relu ||
        !ops->sigmoid || !ops->lstm)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "the %s backend lacks the VAD ops; run the "
                       "VAD on the CPU backend", ops->name);
    wx_pyannet *m = calloc(1, sizeof *m);
    if (!m) return wx_fail(err, WX_ERR_NOMEM, "out of memory loading the VAD model");
    m->be = be;
    wx_safetensors *st = NULL;
    wx_torch_ckpt *ck = NULL;
    char path[4096];
    struct stat sb;
    bool file = stat(dir, &sb) == 0 && S_ISREG(sb.st_mode);
    snprintf(path, sizeof path, "%s/config.json", dir);
    bool converted = !file && access(path, F_OK) == 0;
    if (file) snprintf(path, sizeof path, "%s", dir);
    else snprintf(path, sizeof path, "%s/%s", dir, converted ? "model.safetensors" : CHECKPOINT);
    wx_status s = converted ? read_config(dir, &m->cfg, err) : wx_torch_load(path, &ck, err);
    if (s == WX_OK && ck) s = ckpt_config(ck, &m->cfg, path, err);
    if (s != WX_OK) goto done;
    if (m->cfg.log_softmax && !ops->suppress_logsoftmax_topk) {
        s = wx_fail(err, WX_ERR_UNSUPPORTED, "the %s backend lacks log_softmax for the "
                    "powerset head", ops->name);
        goto done;
    }
    if (converted) TRY(wx_safetensors_load(path, &st, err));
    weights w = {st, ck};
    TRY(load_sincnet(m, &w, err));
    TRY(load_lstm(m, &w, err));
    TRY(load_head(m, &w, err));
done:
    wx_safetensors_free(st);
    wx_torch_free(ck);
    if (s != WX_OK) {
        wx_pyannet_free(m);
        return s;
    }
    *out = m;
    return WX_OK;
}

void wx_pyannet_free(wx_pyannet *m)
{
    if (!m) return;
    wx_backend *be = m->be;
    wx_tensor *singles[] = {m->wav_norm_w, m->wav_norm_b, m->tap_sum, m->cls_w, m->cls_b};
    for (size_t i = 0; i < sizeof singles / sizeof singles[0]; i++) be->ops->free(be, singles[i]);
    for (int i = 0; i < 3; i++) {
        be->ops->free(be, m->conv_w[i]);
        be->ops->free(be, m->conv_b[i]);
        be->ops->free(be, m->norm_w[i]);
        be->ops->free(be, m->norm_b[i]);
    }
    for (int l = 0; l < WX_PYANNET_MAX_LSTM; l++)
        for (int d = 0; d < 2; d++) {
            be->ops->free(be, m->lstm[l][d].w_ih);
            be->ops->free(be, m->lstm[l][d].b_ih);
            be->ops->free(be, m->lstm[l][d].w_hh);
            be->ops->free(be, m->lstm[l][d].b_hh);
        }
    for (int i = 0; i < WX_PYANNET_MAX_LINEAR; i++) {
        be->ops->free(be, m->lin_w[i]);
        be->ops->free(be, m->lin_b[i]);
    }
    free(m->low_hz);
    free(m->band_hz);
    free(m->sinc_n);
    free(m->sinc_window);
    free(m->filters);
    free(m);
}

const wx_pyannet_config *wx_pyannet_config_of(const wx_pyannet *m) { return &m->cfg; }

/* ---- sinc filterbank ---------------------------------------------------------------- */

/* asteroid's ParamSincFB.filters(): low = min_low + |low_|, high = clamp(low + min_band +
 * |band_|, min_low, sr/2); for the cos half the left wing is (sin(high·n) - sin(low·n)) /
 * (n/2) · window, centre 2·band, right wing mirrored; the sin half uses cos(low·n) -
 * cos(high·n), centre 0 and a negated mirror; every filter is divided by 2·band. Rows
 * [0, F/2) are the cos filters, [F/2, F) the sin ones. Float32 throughout, as in torch. */
void wx_pyannet_sinc_filters(const wx_pyannet *m, float *filters)
{
    const wx_pyannet_config *c = &m->cfg;
    int half_f = c->n_filters / 2, half_k = c->sinc_taps / 2, taps = c->sinc_taps;
    if (c->precomputed_filters) {
        memcpy(filters, m->filters, (size_t)c->n_filters * (size_t)taps * sizeof *filters);
        return;
    }
    float nyquist = (float)c->sample_rate / 2.0f;
    for (int f = 0; f < half_f; f++) {
        float low = c->min_low_hz + fabsf(m->low_hz[f]);
        float high = low + c->min_band_hz + fabsf(m->band_hz[f]);
        high = fminf(fmaxf(high, c->min_low_hz), nyquist);
        float band = high - low;
        float *cos_f = filters + (size_t)f * taps, *sin_f = filters + (size_t)(f + half_f) * taps;
        for (int j = 0; j < half_k; j++) {
            float n = m->sinc_n[j], ft_low = low * n, ft_high = high * n;
            float left_c = ((sinf(ft_high) - sinf(ft_low)) / (n / 2.0f)) * m->sinc_window[j];
            float left_s = ((cosf(ft_low) - cosf(ft_high)) / (n / 2.0f)) * m->sinc_window[j];
            cos_f[j] = left_c / (2.0f * band);
            cos_f[taps - 1 - j] = left_c / (2.0f * band);
            sin_f[j] = left_s / (2.0f * band);
            sin_f[taps - 1 - j] = -left_s / (2.0f * band);
        }
        cos_f[half_k] = 1.0f; /* centre 2·band divided by 2·band */
        sin_f[half_k] = 0.0f;
    }
}

/* ---- forward ------------------------------------------------------------------------ */

int wx_pyannet_num_frames(const wx_pyannet *m, int n_samples)
{
    const wx_pyannet_config *c = &m->cfg;
    int t = n_samples;
    for (int i = 0; i < 3; i++) {
        int stride = i == 0 ? c->sinc_stride : 1;
        if (t < c->conv_kernels[i]) return 0;
        t = (t - c->conv_kernels[i]) / stride + 1;
        if (t < c->pool) return 0;
        t = (t - c->pool) / c->pool + 1;
    }
    return t;
}

/* Tensors of one forward pass, freed together. A hop forward (span > 0) holds the span
 * (1, 1, span) in x and its first convolution (1, C_0, Tspan) in conv[0], and the windows'
 * waveform norms in scale and shift (B). */
typedef struct activations {
    wx_tensor *x;                 /* (B, 1, n) */
    wx_tensor *conv[3], *pool[3]; /* (B, C_i, Tconv_i), (B, C_i, T_i) */
    wx_tensor *scale, *shift;     /* (B), hop forwards only */
    wx_tensor *seq[2];            /* (B, F, max(C_2, 2H)) ping-pong LSTM inputs/outputs */
    wx_tensor *gx;                /* (B, F, 4H) */
    wx_tensor *lin[2];            /* (B, F, linear_hidden) */
    wx_tensor *out;               /* (B, F, classes) */
} activations;

static void free_activations(wx_backend *be, activations *a)
{
    wx_tensor *all[] = {a->x, a->conv[0], a->conv[1], a->conv[2], a->pool[0], a->pool[1],
                        a->pool[2], a->scale, a->shift, a->seq[0], a->seq[1], a->gx,
                        a->lin[0], a->lin[1], a->out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) be->ops->free(be, all[i]);
}

static wx_tensor *alloc3(wx_backend *be, int64_t d0, int64_t d1, int64_t d2)
{
    int64_t shape[3] = {d0, d1, d2};
    return be->ops->alloc(be, WX_F32, 3, shape);
}

static wx_status alloc_activations(wx_pyannet *m, int b, int n, int64_t span, int frames,
                                   activations *a, wx_err *err)
{
    const wx_pyannet_config *c = &m->cfg;
    wx_backend *be = m->be;
    memset(a, 0, sizeof *a);
    a->x = span ? alloc3(be, 1, 1, span) : alloc3(be, b, 1, n);
    int t = n;
    bool ok = a->x != NULL;
    for (int i = 0; i < 3 && ok; i++) {
        t = (t - c->conv_kernels[i]) / (i == 0 ? c->sinc_stride : 1) + 1;
        if (i == 0 && span) {
            int64_t shape[1] = {b};
            a->conv[0] = alloc3(be, 1, c->conv_channels[0],
                                (span - c->conv_kernels[0]) / c->sinc_stride + 1);
            a->scale = be->ops->alloc(be, WX_F32, 1, shape);
            a->shift = be->ops->alloc(be, WX_F32, 1, shape);
            ok = a->scale && a->shift;
        } else {
            a->conv[i] = alloc3(be, b, c->conv_channels[i], t);
        }
        t = (t - c->pool) / c->pool + 1;
        a->pool[i] = alloc3(be, b, c->conv_channels[i], t);
        ok = ok && a->conv[i] && a->pool[i];
    }
    int width = 2 * c->lstm_hidden;
    a->seq[0] = alloc3(be, b, frames, c->conv_channels[2] > width ? c->conv_channels[2] : width);
    a->seq[1] = alloc3(be, b, frames, width);
    a->gx = alloc3(be, b, frames, 4 * c->lstm_hidden);
    a->lin[0] = alloc3(be, b, frames, c->linear_hidden);
    a->lin[1] = alloc3(be, b, frames, c->linear_hidden);
    a->out = alloc3(be, b, frames, c->num_classes);
    if (ok && a->seq[0] && a->seq[1] && a->gx && a->lin[0] && a->lin[1] && a->out) return WX_OK;
    free_activations(be, a);
    return wx_fail(err, WX_ERR_NOMEM, "backend out of memory for a VAD batch of %d windows", b);
}

static void download_tap(wx_backend *be, const wx_tensor *t, float *host)
{
    if (host) be->ops->download(be, t, host, wx_tensor_nbytes(t));
}

/* SincNet: waveform norm, then per block conv (|·| after the first), max-pool, instance norm,
 * leaky ReLU. A hop forward (a->scale set, windows hop samples apart) convolves the span
 * once and applies the norms in sinc_windows. Leaves (B, C_2, F) in a->pool[2]. */
static void forward_sincnet(wx_pyannet *m, activations *a, int64_t hop,
                            const wx_pyannet_taps *taps)
{
    const wx_pyannet_config *c = &m->cfg;
    wx_backend *be = m->be;
    if (!a->scale) {
        wx_op(be, instance_norm, a->x, m->wav_norm_w, m->wav_norm_b, c->norm_eps);
        if (taps) download_tap(be, a->x, taps->waveform_norm);
    }
    const wx_tensor *in = a->x;
    for (int i = 0; i < 3; i++) {
        wx_op(be, conv1d, a->conv[i], in, m->conv_w[i], m->conv_b[i],
              i == 0 ? c->sinc_stride : 1, 0);
        if (i == 0 && a->scale) {
            wx_op(be, sinc_windows, a->pool[0], a->conv[0], hop / c->sinc_stride, c->pool,
                  a->scale, a->shift, m->tap_sum);
        } else {
            if (i == 0) wx_op(be, abs, a->conv[i]);
            wx_op(be, max_pool1d, a->pool[i], a->conv[i], c->pool, c->pool);
        }
        wx_op(be, instance_norm, a->pool[i], m->norm_w[i], m->norm_b[i], c->norm_eps);
        wx_op(be, leaky_relu, a->pool[i], c->slope);
        if (taps) download_tap(be, a->pool[i], taps->block[i]);
        in = a->pool[i];
    }
}

/* Bidirectional LSTM stack over (B, F, C_2); returns the (B, F, 2H) output tensor. */
static wx_tensor *forward_lstm(wx_pyannet *m, activations *a, int b, int frames)
{
    const wx_pyannet_config *c = &m->cfg;
    wx_backend *be = m->be;
    int64_t h = c->lstm_hidden, width = 2 * h;
    int64_t in_shape[3] = {b, frames, c->conv_channels[2]};
    int64_t out_shape[3] = {b, frames, width}, dir_shape[3] = {b, frames, h};
    wx_tensor in = wx_tensor_view(a->seq[0], 0, 3, in_shape);
    wx_op(be, transpose, &in, a->pool[2]);
    wx_tensor *bufs[2] = {a->seq[1], a->seq[0]};
    wx_tensor out = in;
    for (int l = 0; l < c->lstm_layers; l++) {
        out = wx_tensor_view(bufs[l % 2], 0, 3, out_shape);
        for (int d = 0; d < 2; d++) {
            const lstm_dir *ld = &m->lstm[l][d];
            wx_tensor half = wx_tensor_view(&out, d * h, 3, dir_shape);
            wx_op(be, linear, a->gx, &in, ld->w_ih, ld->b_ih);
            wx_op(be, lstm, &half, width, a->gx, ld->w_hh, ld->b_hh, d == 1);
        }
        in = out;
    }
    return bufs[(c->lstm_layers - 1) % 2];
}

/* The network after the input is in a.x (and, for a hop forward, the norms in a.scale and
 * a.shift): scores to the host, then a's tensors are freed. */
static wx_status run_forward(wx_pyannet *m, activations *a, int batch, int frames, int64_t hop,
                             float *scores, const wx_pyannet_taps *taps, wx_err *err)
{
    const wx_pyannet_config *c = &m->cfg;
    wx_backend *be = m->be;
    wx_status s = WX_OK;
    forward_sincnet(m, a, hop, taps);
    wx_tensor *seq = forward_lstm(m, a, batch, frames);
    int64_t seq_shape[3] = {batch, frames, 2 * c->lstm_hidden};
    wx_tensor x = wx_tensor_view(seq, 0, 3, seq_shape);
    if (taps) download_tap(be, &x, taps->lstm);
    for (int i = 0; i < c->linear_layers; i++) {
        wx_op(be, linear, a->lin[i % 2], &x, m->lin_w[i], m->lin_b[i]);
        wx_op(be, leaky_relu, a->lin[i % 2], c->slope);
        x = *a->lin[i % 2];
        x.is_view = true;
    }
    if (taps && c->linear_layers) download_tap(be, &x, taps->linear);
    wx_op(be, linear, a->out, &x, m->cls_w, m->cls_b);
    if (c->log_softmax) {
        int64_t rows_shape[2] = {(int64_t)batch * frames, c->num_classes};
        wx_tensor rows = wx_tensor_view(a->out, 0, 2, rows_shape);
        be->ops->suppress_logsoftmax_topk(be, &rows, NULL, 0, true, 0, NULL, NULL);
    } else {
        wx_op(be, sigmoid, a->out);
    }
    be->ops->download(be, a->out, scores, wx_tensor_nbytes(a->out));
    if (be->ops->synchronize(be) != 0 || wx_backend_take_error(be, err) != WX_OK)
        s = wx_fail(err, WX_ERR_BACKEND, "VAD: the %s backend failed", be->ops->name);
    free_activations(be, a);
    return s;
}

wx_status wx_pyannet_forward(wx_pyannet *m, const float *windows, int batch, int n_samples,
                             float *scores, const wx_pyannet_taps *taps, wx_err *err)
{
    int frames = wx_pyannet_num_frames(m, n_samples);
    if (batch < 1 || frames < 1)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "VAD: %d windows of %d samples give no "
                       "output frame", batch, n_samples);
    activations a;
    wx_status s = alloc_activations(m, batch, n_samples, 0, frames, &a, err);
    if (s != WX_OK) return s;
    m->be->ops->upload(m->be, a.x, windows, (size_t)batch * (size_t)n_samples * sizeof *windows);
    return run_forward(m, &a, batch, frames, 0, scores, taps, err);
}

/* scale[b], shift[b]: InstanceNorm1d of window b (biased variance, in double) as an affine. */
static void window_norms(const wx_pyannet *m, const float *samples, int batch, int n,
                         int64_t hop, float *scale, float *shift)
{
    for (int b = 0; b < batch; b++) {
        const float *w = samples + (size_t)b * (size_t)hop;
        double sum = 0.0, sq = 0.0;
        for (int i = 0; i < n; i++) sum += w[i];
        double mean = sum / n;
        for (int i = 0; i < n; i++) sq += (w[i] - mean) * (w[i] - mean);
        float a = (float)(1.0 / sqrt(sq / n + m->cfg.norm_eps)) * m->wav_gamma;
        scale[b] = a;
        shift[b] = m->wav_beta - a * (float)mean;
    }
}

/* The windows copied apart (zeros past n_avail) for wx_pyannet_forward. */
static wx_status forward_copied(wx_pyannet *m, const float *samples, size_t n_avail, int batch,
                                int n, int64_t hop, float *scores, wx_err *err)
{
    float *windows = calloc((size_t)batch * (size_t)n, sizeof *windows);
    if (!windows) return wx_fail(err, WX_ERR_NOMEM, "out of memory for %d VAD windows", batch);
    for (int b = 0; b < batch; b++) {
        size_t start = (size_t)b * (size_t)hop;
        size_t take = start < n_avail ? n_avail - start : 0;
        if (take > (size_t)n) take = (size_t)n;
        if (take) memcpy(windows + (size_t)b * n, samples + start, take * sizeof *windows);
    }
    wx_status s = wx_pyannet_forward(m, windows, batch, n, scores, NULL, err);
    free(windows);
    return s;
}

/* The span's convolution, each window's norm after it (sinc_windows). */
static wx_status forward_span(wx_pyannet *m, const float *span_samples, int batch, int n,
                              int64_t hop, int frames, float *scores, wx_err *err)
{
    int64_t span = (int64_t)(batch - 1) * hop + n;
    activations a;
    wx_status s = alloc_activations(m, batch, n, span, frames, &a, err);
    if (s != WX_OK) return s;
    float *norms = malloc(2 * (size_t)batch * sizeof *norms);
    if (!norms) {
        free_activations(m->be, &a);
        return wx_fail(err, WX_ERR_NOMEM, "out of memory for %d VAD windows", batch);
    }
    window_norms(m, span_samples, batch, n, hop, norms, norms + batch);
    m->be->ops->upload(m->be, a.x, span_samples, (size_t)span * sizeof *span_samples);
    m->be->ops->upload(m->be, a.scale, norms, (size_t)batch * sizeof *norms);
    m->be->ops->upload(m->be, a.shift, norms + batch, (size_t)batch * sizeof *norms);
    s = run_forward(m, &a, batch, frames, hop, scores, NULL, err);
    free(norms);
    return s;
}

wx_status wx_pyannet_forward_hop(wx_pyannet *m, const float *samples, size_t n_avail,
                                 int batch, int n_samples, int64_t hop, float *scores,
                                 wx_err *err)
{
    const wx_pyannet_config *c = &m->cfg;
    int frames = wx_pyannet_num_frames(m, n_samples);
    if (batch < 1 || frames < 1 || hop < 0)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "VAD: %d windows of %d samples give no "
                       "output frame", batch, n_samples);
    if (batch == 1) hop = 0;
    if (hop % c->sinc_stride || !m->be->ops->sinc_windows)
        return forward_copied(m, samples, n_avail, batch, n_samples, hop, scores, err);
    size_t span = (size_t)(batch - 1) * (size_t)hop + (size_t)n_samples;
    if (span <= n_avail) return forward_span(m, samples, batch, n_samples, hop, frames, scores, err);
    float *padded = calloc(span, sizeof *padded);   /* the windows past the end: zeros */
    if (!padded) return wx_fail(err, WX_ERR_NOMEM, "out of memory for %d VAD windows", batch);
    if (n_avail) memcpy(padded, samples, n_avail * sizeof *padded);
    wx_status s = forward_span(m, padded, batch, n_samples, hop, frames, scores, err);
    free(padded);
    return s;
}
