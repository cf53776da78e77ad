/* test_cuda_vad.cpp — the CUDA backend's pyannote / GE2E ops (abs, leaky_relu, sigmoid,
 * max_pool1d, lstm, and linear / conv1d with fp32 weights; src/backend/cuda/ops_vad.cu)
 * against the CPU backend (cpu/ops_vad.c) on random data: edge cases (one element, T = 1,
 * B = 1, H = 1 and 1024, partial blocks, reverse, strided out, NaN in max_pool) and the
 * shapes of both networks: segmentation-3.0 through PyanNet (10 s windows: SincNet 80 ×
 * 15975 → pool 5325, 60 × 5321 → 1773, 60 × 1769 → 589 frames; 4 bidirectional LSTM layers
 * of H = 128 over T = 589, written into one (B, T, 256) tensor through out_stride) and the
 * GE2E speaker encoder (3 LSTM layers of H = 256 over 160-frame partials, the first fed by
 * 40 mel bins, B = 64 partials). Then the networks themselves as the models call the ops
 * (models/vad, models/segmentation-3.0, models/ge2e on ../shared/data/sample.wav; skipped
 * when absent). Built twice, like test_cuda_ops: against the emulator (CI) and the real
 * device (skipped without one).
 * Tolerances follow DESIGN.md, with the reason next to each check. */
#include <algorithm>

#include "cuda/cuda_test_util.h"

extern "C" {
#include "io/audio.h"
#include "models/ge2e.h"
#include "models/pyannet.h"
}
#include <unistd.h>

/* fp32 element-wise policy: same formula, a different exp/tanh (CUDA's expf/tanhf against
 * the CPU's Cephes exp and tanh = 2σ(2x) − 1, both ~1e-7 absolute on values in (−1, 1) or of
 * sigmoid's range) → |Δ| ≤ 1e-5 + 1e-5·|ref|. */
#define EW_ABS 1e-5
#define EW_REL 1e-5
/* kernels/conv1d.cu (fp16 tensor cores), reached by fp32 weights only for stride > 32: the
 * policy's matmul bound on normalised MSE, as in test_cuda_ops. */
#define MATMUL_NMSE 5e-4
/* fp32 GEMM-like sums (linear, conv1d with fp32 weights): the same products summed in another
 * order (cuBLAS / the kernel against OpenBLAS), relative error ≲ K · 2^-24 of Σ|a·b| per
 * element at worst, ~√K · 2^-24 typically: normalised MSE ≤ 1e-10. */
#define F32_NMSE 1e-10

static bool same_bits(const std::vector<float> &a, const std::vector<float> &b)
{
    return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

/* abs and leaky_relu are exact (a sign test and one multiply: bit-identical, signed zeros
 * included); sigmoid is the element-wise policy. Values up to ±scale reach sigmoid's
 * saturation (exp overflow for x < −88) and the special values cover ±0 and ±inf. */
static void test_unary(int64_t n, float scale, float slope)
{
    std::vector<float> h = randv(n, scale);
    const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, -100.0f, 100.0f, 1e-30f, -1e-30f};
    for (size_t i = 0; i < sizeof special / sizeof special[0] && (int64_t)i < n; i++)
        h[(size_t)i * 7 % (size_t)n] = special[i];
    tpair x = tp_make(h, {n});
    wx_op(cpu_be, abs, x.c);
    wx_op(cuda_be, abs, x.g);
    CHECK_MSG(same_bits(fetch(cuda_be, x.g), fetch(cpu_be, x.c)), "abs n=%lld: exact",
              (long long)n);
    cpu_be->ops->upload(cpu_be, x.c, h.data(), wx_tensor_nbytes(x.c));
    cuda_be->ops->upload(cuda_be, x.g, h.data(), wx_tensor_nbytes(x.g));
    wx_op(cpu_be, leaky_relu, x.c, slope);
    wx_op(cuda_be, leaky_relu, x.g, slope);
    CHECK_MSG(same_bits(fetch(cuda_be, x.g), fetch(cpu_be, x.c)), "leaky_relu n=%lld slope %g: "
              "exact", (long long)n, (double)slope);
    cpu_be->ops->upload(cpu_be, x.c, h.data(), wx_tensor_nbytes(x.c));
    cuda_be->ops->upload(cuda_be, x.g, h.data(), wx_tensor_nbytes(x.g));
    wx_op(cpu_be, sigmoid, x.c);
    wx_op(cuda_be, sigmoid, x.g);
    CHECK_MSG(all_close(fetch(cuda_be, x.g), fetch(cpu_be, x.c), EW_ABS, EW_REL, "sigmoid"),
              "sigmoid n=%lld scale %g", (long long)n, (double)scale);
    tp_free(x);
}

/* Exact: a max of the same floats in the same order. With nan_first, a NaN heads some windows
 * (it propagates, as on the CPU) and sits inside others (skipped), compared bit for bit. */
static void test_max_pool(int64_t nb, int64_t c, int64_t t, int k, int stride, bool nan_first)
{
    int64_t tout = (t - k) / stride + 1;
    std::vector<float> h = randv(nb * c * t, 5.0f);
    if (nan_first)
        for (int64_t i = 0; i < (int64_t)h.size(); i += 5) h[(size_t)i] = i % 3 ? NAN : -INFINITY;
    tpair x = tp_make(h, {nb, c, t}), o = tp_make({}, {nb, c, tout});
    wx_op(cpu_be, max_pool1d, o.c, x.c, k, stride);
    wx_op(cuda_be, max_pool1d, o.g, x.g, k, stride);
    CHECK_MSG(same_bits(fetch(cuda_be, o.g), fetch(cpu_be, o.c)),
              "max_pool1d (%lld, %lld, %lld) k%d s%d%s: exact", (long long)nb, (long long)c,
              (long long)t, k, stride, nan_first ? " with NaN/-inf" : "");
    tp_free(x), tp_free(o);
}

/* sinc_windows: exact (the same fmaf, fabsf and comparisons). y (1, C, T) with T exactly
 * (B-1)·hop + Tout·k + tail, scale/shift per window of either sign, tap sums of both signs. */
static void test_sinc_windows(int64_t nb, int64_t c, int64_t tout, int64_t hop, int k,
                              int64_t tail)
{
    int64_t t = (nb - 1) * hop + tout * k + tail;
    tpair y = tp_make(randv(c * t, 2.0f), {1, c, t}), o = tp_make({}, {nb, c, tout});
    tpair scale = tp_make(randv(nb, 30.0f), {nb}), shift = tp_make(randv(nb, 0.5f), {nb});
    tpair sums = tp_make(randv(c, 0.01f), {c});
    wx_op(cpu_be, sinc_windows, o.c, y.c, hop, k, scale.c, shift.c, sums.c);
    wx_op(cuda_be, sinc_windows, o.g, y.g, hop, k, scale.g, shift.g, sums.g);
    CHECK_MSG(same_bits(fetch(cuda_be, o.g), fetch(cpu_be, o.c)),
              "sinc_windows (%lld, %lld, %lld) hop %lld k%d: exact", (long long)nb, (long long)c,
              (long long)tout, (long long)hop, k);
    tp_free(y), tp_free(o), tp_free(scale), tp_free(shift), tp_free(sums);
}

/* One LSTM layer as the models run it. gx = x·w_ihᵀ + b_ih is computed once on the CPU and
 * uploaded to both, so the recurrence is compared alone; out is (B, T, width) with width ≥ H
 * prefilled with a sentinel, and directions go to columns [d·H, d·H + H) through out_stride =
 * width (bidirectional: both; otherwise only `dirs`' one), so the untouched columns must
 * keep the sentinel on both backends. Weights as PyTorch initialises them, U(±1/√H). */
static void test_lstm(int64_t nb, int64_t t, int64_t hid, int64_t width, int dirs,
                      const char *what)
{
    int64_t g4 = 4 * hid, d_in = 24;
    float k = 1.0f / sqrtf((float)hid);
    tpair x = tp_make(randv(nb * t * d_in), {nb, t, d_in});
    tpair gx = tp_make({}, {nb, t, g4});
    std::vector<float> sentinel((size_t)(nb * t * width), 7.0f);
    tpair out = tp_make(sentinel, {nb, t, width});
    int64_t dir_shape[3] = {nb, t, hid};
    for (int d = 0; d < 2; d++) {
        if (!(dirs & (1 << d))) continue;
        tpair w_ih = tp_make(randv(g4 * d_in, k), {g4, d_in}), b_ih = tp_make(randv(g4, k), {g4});
        tpair w_hh = tp_make(randv(g4 * hid, k), {g4, hid}), b_hh = tp_make(randv(g4, k), {g4});
        wx_op(cpu_be, linear, gx.c, x.c, w_ih.c, b_ih.c);
        std::vector<float> gh = fetch(cpu_be, gx.c);
        cuda_be->ops->upload(cuda_be, gx.g, gh.data(), gh.size() * sizeof(float));
        int64_t off = width >= 2 * hid ? d * hid : 0;
        wx_tensor hc = wx_tensor_view(out.c, off, 3, dir_shape);
        wx_tensor hg = wx_tensor_view(out.g, off, 3, dir_shape);
        wx_op(cpu_be, lstm, &hc, width, gx.c, w_hh.c, b_hh.c, d == 1);
        wx_op(cuda_be, lstm, &hg, width, gx.g, w_hh.g, b_hh.g, d == 1);
        tp_free(w_ih), tp_free(b_ih), tp_free(w_hh), tp_free(b_hh);
    }
    std::vector<float> got = fetch(cuda_be, out.g), ref = fetch(cpu_be, out.c);
    double worst = 0;
    for (size_t i = 0; i < ref.size(); i++) worst = std::max(worst, fabs((double)got[i] - ref[i]));
    /* fp32 element-wise policy: h ∈ (−1, 1); both sum h·w_hhᵀ in fp32 (OpenBLAS's order
     * against a sequential one, ~1e-7 relative) and differ in exp/tanh by ~1e-7; the forget
     * gate (< 1) damps what carries over from step to step, so over T = 589 steps the
     * difference stays at the per-step level rather than growing with T. */
    CHECK_MSG(all_close(got, ref, EW_ABS, EW_REL, "lstm"),
              "lstm %s (B %lld, T %lld, H %lld, width %lld, dirs %d): max |Δ| %.3g", what,
              (long long)nb, (long long)t, (long long)hid, (long long)width, dirs, worst);
    printf("lstm %-34s B=%-3lld T=%-4lld H=%-4lld width %-4lld dirs %d: max |d| %.2g\n", what,
           (long long)nb, (long long)t, (long long)hid, (long long)width, dirs, worst);
    tp_free(x), tp_free(gx), tp_free(out);
}

/* linear with fp32 weights, as PyanNet and GE2E upload theirs: full fp32 on CUDA
 * (ops_vad.cu's wxk_op_linear_f32, not TF32). */
static void test_linear_f32(int64_t m, int64_t k, int64_t n, bool bias, const char *what)
{
    float scale = 1.0f / sqrtf((float)k);
    tpair a = tp_make(randv(m * k), {m, k}), w = tp_make(randv(n * k, scale), {n, k});
    tpair b = tp_make(randv(n), {n}), o = tp_make({}, {m, n});
    wx_op(cpu_be, linear, o.c, a.c, w.c, bias ? b.c : NULL);
    wx_op(cuda_be, linear, o.g, a.g, w.g, bias ? b.g : NULL);
    double e = nmse(fetch(cuda_be, o.g), fetch(cpu_be, o.c));
    CHECK_MSG(e <= F32_NMSE, "linear f32 %s (%lld, %lld) x (%lld): nmse %.3g", what,
              (long long)m, (long long)k, (long long)n, e);
    printf("linear f32 %-28s M=%-6lld K=%-4lld N=%-5lld: nmse %.2g\n", what, (long long)m,
           (long long)k, (long long)n, e);
    tp_free(a), tp_free(w), tp_free(b), tp_free(o);
}

/* GE2E's first layer exactly as ge2e.c calls it: linear of the 40 mel bins on each backend
 * (fp32 weights, uploaded as the model does), then the recurrence into (B, T, H): all fp32,
 * so the element-wise policy as for the recurrence alone (gx differs by ~1e-7 relative). */
static void test_lstm_chain(int64_t nb, int64_t t, int64_t d_in, int64_t hid)
{
    int64_t g4 = 4 * hid;
    float k = 1.0f / sqrtf((float)hid);
    tpair x = tp_make(randv(nb * t * d_in), {nb, t, d_in});
    tpair w_ih = tp_make(randv(g4 * d_in, k), {g4, d_in}), b_ih = tp_make(randv(g4, k), {g4});
    tpair w_hh = tp_make(randv(g4 * hid, k), {g4, hid}), b_hh = tp_make(randv(g4, k), {g4});
    tpair gx = tp_make({}, {nb, t, g4}), out = tp_make({}, {nb, t, hid});
    wx_op(cpu_be, linear, gx.c, x.c, w_ih.c, b_ih.c);
    wx_op(cuda_be, linear, gx.g, x.g, w_ih.g, b_ih.g);
    wx_op(cpu_be, lstm, out.c, hid, gx.c, w_hh.c, b_hh.c, false);
    wx_op(cuda_be, lstm, out.g, hid, gx.g, w_hh.g, b_hh.g, false);
    std::vector<float> got = fetch(cuda_be, out.g), ref = fetch(cpu_be, out.c);
    double e = nmse(got, ref);
    CHECK_MSG(all_close(got, ref, EW_ABS, EW_REL, "linear + lstm"),
              "linear + lstm (B %lld, T %lld, %lld → H %lld): nmse %.3g", (long long)nb,
              (long long)t, (long long)d_in, (long long)hid, e);
    printf("linear + lstm B=%lld T=%lld %lld -> H=%lld (GE2E layer 1): nmse %.2g\n",
           (long long)nb, (long long)t, (long long)d_in, (long long)hid, e);
    tp_free(x), tp_free(w_ih), tp_free(b_ih), tp_free(w_hh), tp_free(b_hh), tp_free(gx),
        tp_free(out);
}

/* conv1d with fp32 weights (as PyanNet uploads its SincNet filters and conv weights): the
 * CUDA backend's direct fp32 kernel (ops_vad.cu), F32_NMSE (far below the fp16 bound of 5e-4
 * that kernels/conv1d.cu meets); random data with the given weight scale. */
static void test_conv1d_f32(int64_t nb, int64_t cin, int64_t tin, int64_t cout, int64_t ks,
                            int stride, int pad, bool bias, float w_scale, const char *what)
{
    int64_t tout = (tin + 2 * pad - ks) / stride + 1;
    tpair x = tp_make(randv(nb * cin * tin), {nb, cin, tin});
    tpair w = tp_make(randv(cout * cin * ks, w_scale), {cout, cin, ks});
    tpair b = tp_make(randv(cout), {cout}), o = tp_make({}, {nb, cout, tout});
    wx_op(cpu_be, conv1d, o.c, x.c, w.c, bias ? b.c : NULL, stride, pad);
    wx_op(cuda_be, conv1d, o.g, x.g, w.g, bias ? b.g : NULL, stride, pad);
    double e = nmse(fetch(cuda_be, o.g), fetch(cpu_be, o.c));
    bool f32_path = stride <= 32;
    double tol = f32_path ? F32_NMSE : MATMUL_NMSE; /* stride > 32: kernels/conv1d.cu, fp16 */
    CHECK_MSG(e <= tol, "conv1d f32 %s (%lld, %lld, %lld) -> %lld k%lld s%d p%d: nmse %.3g", what,
              (long long)nb, (long long)cin, (long long)tin, (long long)cout, (long long)ks,
              stride, pad, e);
    printf("conv1d f32 %-26s (%lld, %lld, %lld) -> (%lld, %lld) k%lld s%d p%d: nmse %.2g\n",
           what, (long long)nb, (long long)cin, (long long)tin, (long long)cout,
           (long long)tout, (long long)ks, stride, pad, e);
    tp_free(x), tp_free(w), tp_free(b), tp_free(o);
}

/* ---- the networks, as the models call the ops ------------------------------------------ */

/* PyanNet (models/vad: the multi-label sigmoid head WhisperX's VAD uses; segmentation-3.0:
 * the powerset log-softmax head) on both backends over `batch` windows of n samples of a real
 * recording, every stage's output printed. All of it runs in fp32 on CUDA (with the fp16
 * conv1d it was nmse 1.8e-2 for models/vad, from block 0 on). Normalised MSE ≤ 1e-6 on the
 * probabilities (exp of log-probabilities for the powerset head): fp32 differences of ~1e-7
 * that the 4 LSTM layers amplify, measured ≤ 3e-8 (models/vad; 1e-12 for segmentation-3.0)
 * across the release and sanitizer builds; plus the decision a pipeline takes from them:
 * ≥ 99.5 % of the frames keep their argmax class (powerset) or their side of 0.5 (sigmoid). */
static void test_pyannet(const char *dir, const float *audio, int batch, bool quick)
{
    wx_err err;
    wx_pyannet *mc = NULL, *mg = NULL;
    if (wx_pyannet_load(dir, cpu_be, &mc, &err) != WX_OK ||
        wx_pyannet_load(dir, cuda_be, &mg, &err) != WX_OK) {
        CHECK_MSG(false, "pyannet %s: %s", dir, err.msg);
        wx_pyannet_free(mc);
        return;
    }
    const wx_pyannet_config *cfg = wx_pyannet_config_of(mc);
    int n = quick ? 48000 : cfg->window_samples; /* the model's window (3 s quick) */
    int frames = wx_pyannet_num_frames(mc, n), k = cfg->num_classes;
    size_t count = (size_t)batch * (size_t)frames * (size_t)k;
    std::vector<float> sc(count), sg(count);
    /* every stage's output on both backends, to name the stage where they part */
    size_t tap_n[6];
    tap_n[0] = (size_t)batch * (size_t)n;
    int64_t t = n;
    for (int i = 0; i < 3; i++) {
        t = (t - cfg->conv_kernels[i]) / (i == 0 ? cfg->sinc_stride : 1) + 1;
        t = (t - cfg->pool) / cfg->pool + 1;
        tap_n[1 + i] = (size_t)batch * (size_t)cfg->conv_channels[i] * (size_t)t;
    }
    tap_n[4] = (size_t)batch * (size_t)frames * 2 * (size_t)cfg->lstm_hidden;
    tap_n[5] = (size_t)batch * (size_t)frames * (size_t)cfg->linear_hidden;
    std::vector<float> tc[6], tg[6];
    for (int i = 0; i < 6; i++) tc[i].resize(tap_n[i]), tg[i].resize(tap_n[i]);
    wx_pyannet_taps pc = {tc[0].data(), {tc[1].data(), tc[2].data(), tc[3].data()},
                          tc[4].data(), tc[5].data()};
    wx_pyannet_taps pg = {tg[0].data(), {tg[1].data(), tg[2].data(), tg[3].data()},
                          tg[4].data(), tg[5].data()};
    CHECK_MSG(wx_pyannet_forward(mc, audio, batch, n, sc.data(), &pc, &err) == WX_OK, "%s",
              err.msg);
    CHECK_MSG(wx_pyannet_forward(mg, audio, batch, n, sg.data(), &pg, &err) == WX_OK, "%s",
              err.msg);
    static const char *tap_name[6] = {"wave norm", "block 0", "block 1", "block 2", "lstm",
                                      "linear"};
    printf("pyannet %s stages, nmse:", dir);
    for (int i = 0; i < 6; i++) printf(" %s %.2g", tap_name[i], nmse(tg[i], tc[i]));
    printf("\n");
    if (cfg->log_softmax)
        for (size_t i = 0; i < count; i++) sc[i] = expf(sc[i]), sg[i] = expf(sg[i]);
    double e = nmse(sg, sc), worst = 0;
    for (size_t i = 0; i < count; i++) worst = std::max(worst, fabs((double)sg[i] - sc[i]));
    int64_t same = 0, n_dec = 0;
    for (int64_t f = 0; f < (int64_t)batch * frames; f++) {
        const float *a = &sc[(size_t)f * k], *b = &sg[(size_t)f * k];
        if (cfg->log_softmax) {
            n_dec++;
            same += std::max_element(a, a + k) - a == std::max_element(b, b + k) - b;
        } else {
            for (int c = 0; c < k; c++, n_dec++) same += (a[c] > 0.5f) == (b[c] > 0.5f);
        }
    }
    double agree = (double)same / (double)n_dec;
    CHECK_MSG(e <= 1e-6 && agree >= 0.995, "pyannet %s (%d × %d samples): nmse %.3g, "
              "decisions %.4f", dir, batch, n, e, agree);
    printf("pyannet %s B=%d n=%d -> %d frames x %d: nmse %.2g, max |d| %.2g, decisions "
           "%.4f\n", dir, batch, n, frames, k, e, worst, agree);
    /* the hop forward (one SincNet convolution over overlapping windows): same bound */
    int hb = batch + 1;
    int64_t hop = (int64_t)n / 10 / cfg->sinc_stride * cfg->sinc_stride;
    size_t hcount = (size_t)hb * (size_t)frames * (size_t)k;
    std::vector<float> hc(hcount), hg(hcount);
    CHECK_MSG(wx_pyannet_forward_hop(mc, audio, (size_t)(hb - 1) * hop + n, hb, n, hop,
                                     hc.data(), &err) == WX_OK, "%s",
              err.msg);
    CHECK_MSG(wx_pyannet_forward_hop(mg, audio, (size_t)(hb - 1) * hop + n, hb, n, hop,
                                     hg.data(), &err) == WX_OK, "%s",
              err.msg);
    if (cfg->log_softmax)
        for (size_t i = 0; i < hcount; i++) hc[i] = expf(hc[i]), hg[i] = expf(hg[i]);
    double he = nmse(hg, hc);
    CHECK_MSG(he <= 1e-6, "pyannet %s hop forward (%d windows %lld apart): nmse %.3g", dir, hb,
              (long long)hop, he);
    printf("pyannet %s hop forward, %d windows %lld samples apart: nmse %.2g\n", dir, hb,
           (long long)hop, he);
    wx_pyannet_free(mc);
    wx_pyannet_free(mg);
}

/* GE2E over `batch` 160-frame partials of a real recording's mel on both backends: all fp32
 * on CUDA: embeddings (ReLU, unit norm) within cosine 1 − 1e-5
 * (the policy's 1e-5 on unit vectors: ‖Δ‖² = 2 − 2 cos ≤ 2e-5), each. */
static void test_ge2e(const char *path, const float *audio, int64_t n_audio, int batch)
{
    wx_err err;
    wx_ge2e *mc = NULL, *mg = NULL;
    if (wx_ge2e_load(path, cpu_be, &mc, &err) != WX_OK ||
        wx_ge2e_load(path, cuda_be, &mg, &err) != WX_OK) {
        CHECK_MSG(false, "ge2e %s: %s", path, err.msg);
        wx_ge2e_free(mc);
        return;
    }
    const int t = WX_GE2E_PARTIAL_FRAMES, step = 77;
    int64_t n_mel = wx_ge2e_mel_frames(n_audio);
    std::vector<float> mel((size_t)(n_mel * WX_GE2E_N_MELS));
    wx_ge2e_mel(mc, audio, n_audio, mel.data());
    std::vector<float> frames((size_t)batch * t * WX_GE2E_N_MELS);
    for (int b = 0; b < batch; b++) {
        int64_t start = std::min<int64_t>((int64_t)b * step, n_mel - t);
        memcpy(&frames[(size_t)b * t * WX_GE2E_N_MELS], &mel[(size_t)start * WX_GE2E_N_MELS],
               (size_t)t * WX_GE2E_N_MELS * sizeof(float));
    }
    std::vector<float> ec((size_t)batch * WX_GE2E_DIM), eg(ec.size());
    CHECK_MSG(wx_ge2e_embed_frames(mc, frames.data(), batch, t, ec.data(), &err) == WX_OK, "%s",
              err.msg);
    CHECK_MSG(wx_ge2e_embed_frames(mg, frames.data(), batch, t, eg.data(), &err) == WX_OK, "%s",
              err.msg);
    double worst = 1;
    for (int b = 0; b < batch; b++) {
        double dot = 0;
        for (int i = 0; i < WX_GE2E_DIM; i++)
            dot += (double)ec[(size_t)b * WX_GE2E_DIM + i] * eg[(size_t)b * WX_GE2E_DIM + i];
        worst = std::min(worst, dot);
    }
    CHECK_MSG(worst >= 1 - 1e-5, "ge2e (%d partials): worst cosine %.9f", batch, worst);
    printf("ge2e B=%d T=%d: worst cosine 1 - %.2g\n", batch, t, 1 - worst);
    wx_ge2e_free(mc);
    wx_ge2e_free(mg);
}

static void test_models(bool quick)
{
    const char *model_dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    const char *data_dir = wx_test_env("WX_DATA_DIR", "../shared/data");
    char path[4200], seg[4200], vad[4200], ge2e[4200];
    snprintf(seg, sizeof seg, "%s/../segmentation-3.0", model_dir);
    snprintf(vad, sizeof vad, "%s/../vad", model_dir);
    snprintf(ge2e, sizeof ge2e, "%s/../ge2e/pretrained.pt", model_dir);
    snprintf(path, sizeof path, "%s/sample.wav", data_dir);
    wx_audio au;
    memset(&au, 0, sizeof au);
    wx_err err;
    if (wx_audio_load_file(path, 0, &au, &err) != WX_OK || au.n_samples < 320000) {
        printf("test_cuda_vad: networks skipped: %s\n", err.msg);
        wx_audio_free(&au);
        return;
    }
    int batch = quick ? 1 : 2;
    char probe[4300];
    for (const char *dir : {vad, seg}) {
        snprintf(probe, sizeof probe, "%s/model.safetensors", dir);
        if (access(probe, R_OK) == 0) test_pyannet(dir, au.samples, batch, quick);
        else printf("test_cuda_vad: %s absent, skipped\n", probe);
    }
    if (access(ge2e, R_OK) == 0)
        test_ge2e(ge2e, au.samples, (int64_t)au.n_samples, quick ? 3 : 16);
    else
        printf("test_cuda_vad: %s absent, skipped\n", ge2e);
    wx_audio_free(&au);
}

int main(void)
{
    int rc = backends_open("test_cuda_vad");
    if (rc) return rc;
    /* WX_TEST_QUICK=1 (compute-sanitizer passes, sanitizer trees): the largest shapes are
     * skipped; every kernel and code path still runs. */
    bool quick = getenv("WX_TEST_QUICK") && strcmp(getenv("WX_TEST_QUICK"), "0") != 0;
    double t0 = wx_now();
    test_unary(1, 1.0f, 0.01f);
    test_unary(1001, 120.0f, 0.01f);
    test_unary(3 * 60 * 589, 4.0f, 0.2f);           /* PyanNet block 2 after the pool */
    test_unary(2 * 80 * 15975, 3.0f, 0.01f);        /* |sinc conv| of 2 windows of 10 s */
    test_max_pool(1, 1, 1, 1, 1, false);             /* Tout = 1, k = stride = 1 */
    test_max_pool(1, 1, 3, 3, 3, false);             /* T = k */
    test_max_pool(2, 3, 20, 3, 2, false);            /* overlapping windows, a tail left */
    test_max_pool(2, 5, 50, 4, 3, true);             /* NaN and -inf */
    test_max_pool(2, 80, 15975, 3, 3, false);        /* SincNet block 0, 10 s */
    test_max_pool(3, 60, 5321, 3, 3, false);         /* block 1 */
    test_max_pool(8, 60, 1769, 3, 3, false);         /* block 2 → 589 frames */
    /* B, C, Tout, hop (frames), k, tail */
    test_sinc_windows(1, 1, 1, 0, 1, 0);
    test_sinc_windows(3, 5, 17, 7, 3, 2);
    test_sinc_windows(4, 80, 2658, 800, 3, 1);        /* VAD: 5 s windows 0.5 s apart */
    if (!quick) test_sinc_windows(32, 80, 2658, 800, 3, 1);
    /* B, T, H, width (out_stride), directions (1 forward, 2 reverse, 3 both) */
    test_lstm(1, 1, 1, 1, 1, "T = 1, B = 1, H = 1");
    test_lstm(1, 1, 128, 128, 2, "T = 1 reverse");
    test_lstm(3, 7, 5, 5, 2, "partial block, reverse");
    test_lstm(5, 33, 40, 80, 3, "two blocks, bidirectional");
    test_lstm(4, 9, 33, 70, 1, "strided out, gap kept");
    test_lstm(2, 3, 1024, 1024, 3 & 1, "H = 1024 (a full block)");
    test_lstm(8, 589, 128, 256, 3, "PyanNet layer, 8 windows");
    if (!quick) test_lstm(32, 589, 128, 256, 3, "PyanNet layer, 32 windows");
    test_lstm(9, 160, 256, 256, 1, "GE2E layer, 9 partials");
    if (!quick) test_lstm(64, 160, 256, 256, 1, "GE2E layer, 64 partials");
    test_lstm_chain(quick ? 5 : 64, 160, 40, 256);
    test_linear_f32(1, 1, 1, true, "1 x 1");
    test_linear_f32(7, 33, 65, false, "odd sizes, no bias");
    test_linear_f32(8 * 589, 60, 512, true, "PyanNet layer 0 gx, 8 windows");
    test_linear_f32(8 * 589, 256, 512, true, "PyanNet layers 1-3 gx");
    test_linear_f32(8 * 589, 256, 128, true, "PyanNet head linear 0");
    test_linear_f32(64 * 160, 40, 1024, true, "GE2E layer 1 gx, 64 partials");
    test_linear_f32(64, 256, 256, true, "GE2E projection");
    /* nb, cin, tin, cout, k, stride, pad, bias, weight scale */
    test_conv1d_f32(1, 1, 1, 1, 1, 1, 0, true, 1.0f, "1 x 1");
    test_conv1d_f32(2, 3, 40, 17, 5, 2, 3, true, 0.3f, "pad, stride 2, partial tiles");
    test_conv1d_f32(1, 2, 600, 5, 300, 1, 0, false, 0.05f, "K in 3 chunks, no bias");
    test_conv1d_f32(1, 2, 2000, 3, 7, 32, 1, true, 0.3f, "stride 32 (the largest)");
    test_conv1d_f32(1, 2, 2000, 3, 7, 33, 1, true, 0.3f, "stride 33 -> fp16 kernel");
    test_conv1d_f32(2, 1, 160000, 80, 251, 10, 0, false, 0.05f, "SincNet conv 0, 10 s");
    test_conv1d_f32(2, 80, 5325, 60, 5, 1, 0, true, 0.1f, "SincNet conv 1");
    test_conv1d_f32(4, 60, 1773, 60, 5, 1, 0, true, 0.1f, "SincNet conv 2");
    test_models(quick);
    printf("test_cuda_vad: %.1f s\n", wx_now() - t0);
    backends_close();
    return wx_test_finish("test_cuda_vad");
}
