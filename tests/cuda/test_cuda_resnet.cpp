/* test_cuda_resnet.cpp — the CUDA backend's WeSpeaker ResNet34 ops: conv2d (cuDNN,
 * src/backend/cuda/ops_conv2d.cu) and stats_pool (kernels/resnet.cu), each against a naive
 * double-precision loop written here (the reference is backend.h's formula, not another
 * backend): odd sizes, K = 3 pad 1 and K = 1 pad 0, stride 1 and 2, with and without residual
 * and ReLU, B > 1, the ResNet34's own shapes; repeated calls of one shape (the cached plan)
 * bit-identical; statistics pooling with weights that sum to zero and a single weighted frame
 * (pyannote's epsilons: mean 0, std 0), and against pyannote's StatsPool itself (a fixture);
 * the whole WeSpeaker model on this backend against the CPU backend. Emulated only: conv2d's workspace out of device memory
 * is a recorded job error and the op works once memory is back; cuDNN failing to start leaves
 * the backend without the ResNet ops, saying why. Built twice, like
 * test_cuda_vad: against the emulator (CI, cuDNN's stand-in kernels/emu/emu_cudnn.cpp) and
 * the real device with the real cuDNN (skipped without one). */
#include <algorithm>
#include <string>

#include "cuda/cuda_test_util.h"
#include "fixture.h"
extern "C" {
#include "models/wespeaker.h"
}
#ifdef WX_CUDA_EMU
#include <cuda_runtime.h> /* the emulator: wxemu::set_memory_limit */
#include <cudnn.h>        /* and wxemu::inject_cudnn_create_error */
#endif

#define U32 (1.0 / 16777216.0) /* 2^-24: float32's unit roundoff */

static double worst_conv_ratio, worst_pool_ratio, worst_conv_err, worst_mean_err, worst_std_err;

static bool same_bits(const std::vector<float> &a, const std::vector<float> &b)
{
    return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

static wx_tensor *upload(const std::vector<float> &host, std::vector<int64_t> shape)
{
    wx_tensor *t = cuda_be->ops->alloc(cuda_be, WX_F32, (int)shape.size(), shape.data());
    if (!host.empty()) cuda_be->ops->upload(cuda_be, t, host.data(), wx_tensor_nbytes(t));
    return t;
}

struct conv_case {
    int b, cin, h, w, cout, k, stride, pad;
    bool residual, relu;
    const char *what;
};

/* ref = act(Σ x·w + bias + residual) in double; mag = Σ |x·w| + |bias| + |residual|, the
 * scale of the float32 rounding error of that sum. */
static void conv_reference(const conv_case &cc, const std::vector<float> &x,
                           const std::vector<float> &w, const std::vector<float> &bias,
                           const std::vector<float> &res, int ho, int wo, std::vector<double> &ref,
                           std::vector<double> &mag)
{
    for (int n = 0; n < cc.b; n++)
        for (int co = 0; co < cc.cout; co++)
            for (int oh = 0; oh < ho; oh++)
                for (int ow = 0; ow < wo; ow++) {
                    size_t o = (((size_t)n * cc.cout + co) * ho + oh) * wo + ow;
                    double s = bias[co], m = fabs(bias[co]);
                    for (int ci = 0; ci < cc.cin; ci++)
                        for (int r = 0; r < cc.k; r++) {
                            int ih = oh * cc.stride - cc.pad + r;
                            if (ih < 0 || ih >= cc.h) continue;
                            for (int q = 0; q < cc.k; q++) {
                                int iw = ow * cc.stride - cc.pad + q;
                                if (iw < 0 || iw >= cc.w) continue;
                                double p = (double)x[(((size_t)n * cc.cin + ci) * cc.h + ih) * cc.w + iw] *
                                           w[(((size_t)co * cc.cin + ci) * cc.k + r) * cc.k + q];
                                s += p;
                                m += fabs(p);
                            }
                        }
                    if (cc.residual) {
                        s += res[o];
                        m += fabs(res[o]);
                    }
                    ref[o] = cc.relu && s < 0 ? 0.0 : s;
                    mag[o] = m;
                }
}

/* Tolerance: a float32 sum of N = Cin·K² + 2 terms in any order (cuDNN's algorithm picks
 * its own) is within γ_N ≈ N·2^-24 of Σ|terms| of the exact value (Higham, recursive or
 * blocked summation; products rounded once more, FMA or not): |got − ref| ≤ (N + 2)·2^-24·mag
 * + 1e-30, mag = Σ|terms|. TF32 (10-bit mantissas, 2^-11 per product) would exceed it by ~100×, so this also
 * proves that cuDNN runs in float32. ReLU'd outputs obey the same bound (max(·, 0) is
 * 1-Lipschitz). The output is prefilled with NaN, so an element left unwritten, or a residual
 * of the alpha2 = 0 path that is read, fails. */
static void test_conv2d(const conv_case &cc)
{
    int ho = (cc.h + 2 * cc.pad - cc.k) / cc.stride + 1, wo = (cc.w + 2 * cc.pad - cc.k) / cc.stride + 1;
    int64_t nx = (int64_t)cc.b * cc.cin * cc.h * cc.w, no = (int64_t)cc.b * cc.cout * ho * wo;
    float ws = 1.0f / sqrtf((float)(cc.cin * cc.k * cc.k));
    std::vector<float> hx = randv(nx), hw = randv((int64_t)cc.cout * cc.cin * cc.k * cc.k, ws);
    std::vector<float> hb = randv(cc.cout, 0.5f), hr = cc.residual ? randv(no) : std::vector<float>();
    wx_tensor *x = upload(hx, {cc.b, cc.cin, cc.h, cc.w});
    wx_tensor *w = upload(hw, {cc.cout, cc.cin, cc.k, cc.k});
    wx_tensor *bias = upload(hb, {cc.cout});
    wx_tensor *res = cc.residual ? upload(hr, {cc.b, cc.cout, ho, wo}) : NULL;
    wx_tensor *out = upload(std::vector<float>((size_t)no, NAN), {cc.b, cc.cout, ho, wo});
    wx_op(cuda_be, conv2d, out, x, w, bias, res, cc.stride, cc.pad, cc.relu);
    std::vector<float> got = fetch(cuda_be, out);
    std::vector<double> ref((size_t)no), mag((size_t)no);
    conv_reference(cc, hx, hw, hb, hr, ho, wo, ref, mag);
    double n_terms = cc.cin * cc.k * cc.k + 2, worst = 0, worst_err = 0; /* N */
    size_t bad = 0, first_bad = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        double err = fabs((double)got[i] - ref[i]), tol = (n_terms + 2) * U32 * mag[i] + 1e-30;
        if (!(err <= tol) && bad++ == 0) first_bad = i;
        worst = std::max(worst, err / tol);
        worst_err = std::max(worst_err, err);
    }
    CHECK_MSG(bad == 0, "conv2d %s: %zu of %zu off, e.g. [%zu] %.9g vs %.9g", cc.what, bad,
              ref.size(), first_bad, got[first_bad], ref[first_bad]);
    worst_conv_ratio = std::max(worst_conv_ratio, worst);
    worst_conv_err = std::max(worst_conv_err, worst_err);
    /* the same shape again (its cached plan, its algorithm): bit-identical */
    cuda_be->ops->upload(cuda_be, out, std::vector<float>((size_t)no, NAN).data(),
                         wx_tensor_nbytes(out));
    wx_op(cuda_be, conv2d, out, x, w, bias, res, cc.stride, cc.pad, cc.relu);
    CHECK_MSG(same_bits(fetch(cuda_be, out), got), "conv2d %s: a second call is bit-identical",
              cc.what);
    wx_err err;
    CHECK_MSG(wx_backend_take_error(cuda_be, &err) == WX_OK, "conv2d %s: no recorded error", cc.what);
    printf("conv2d %-44s max |err| %.3g (%.3f of its bound)\n", cc.what, worst_err, worst);
    cuda_be->ops->free(cuda_be, x), cuda_be->ops->free(cuda_be, w);
    cuda_be->ops->free(cuda_be, bias), cuda_be->ops->free(cuda_be, res);
    cuda_be->ops->free(cuda_be, out);
}

/* pyannote.audio 4.0.7's _pool for one (b, s, c) in double: v1 = Σw + 1e-8, mean = Σwx / v1,
 * var = Σw(x − mean)² / (v1 − v2/v1 + 1e-8). den and v1, v2 are returned for the bound. */
static void pool_reference(const float *x, const float *w, int64_t t, double *mean, double *stdv,
                           double *m1, double *v1_out, double *v2_out, double *den_out)
{
    double v1 = 0, v2 = 0, sx = 0, sa = 0;
    for (int64_t i = 0; i < t; i++) {
        v1 += w[i];
        v2 += (double)w[i] * w[i];
        sx += (double)w[i] * x[i];
        sa += fabs((double)w[i] * x[i]);
    }
    v1 += 1e-8;
    *mean = sx / v1;
    double sd = 0;
    for (int64_t i = 0; i < t; i++) sd += w[i] * (x[i] - *mean) * (x[i] - *mean);
    double den = v1 - v2 / v1 + 1e-8;
    *stdv = sqrt(sd / den);
    *m1 = sa / v1;
    *v1_out = v1, *v2_out = v2, *den_out = den;
}

/* weights in [lo, 1]; speaker `zero_speaker` (if ≥ 0) all zero in every batch item. */
static std::vector<float> pool_weights(int64_t nb, int64_t ns, int64_t t, float lo, int zero_speaker)
{
    std::vector<float> w((size_t)(nb * ns * t));
    for (size_t i = 0; i < w.size(); i++) {
        bool zero = (int64_t)(i / (size_t)t) % ns == zero_speaker;
        w[i] = zero ? 0.0f : lo + (1.0f - lo) * 0.5f * (frand() + 1.0f);
    }
    return w;
}

/* Tolerances, from float32 sums of T terms (lanes in frame order, then a 5-level butterfly:
 * error ≤ (T + 5)·2^-24 of the sum of |terms|), times 4 for the few roundings around them:
 *   mean: 4·(T + 8)·2^-24 · Σ|w·x| / v1
 *   std: the variance's numerator (positive terms) and denominator (v1 and v2/v1, each to
 *        (T + 8)·2^-24, cancelling to den) give var a relative error
 *        (T + 8)·2^-24·(1 + (v1 + v2/v1)/den); std half of it; ×4 as above; + 1e-7 absolute
 *        for the mean's error entering x − mean (second order at the exact mean).
 * A speaker whose weights sum to zero must give exactly 0 and 0, as pyannote's epsilons
 * make it (0 / 1e-8 and sqrt(0 / 2e-8)). */
static void test_stats_pool(int64_t nb, int64_t ns, int64_t ch, int64_t t, float lo,
                            int zero_speaker, const char *what)
{
    std::vector<float> hx = randv(nb * ch * t, 3.0f), hw = pool_weights(nb, ns, t, lo, zero_speaker);
    for (size_t i = 0; i < hx.size(); i++) hx[i] += 1.5f; /* a mean away from 0 */
    wx_tensor *x = upload(hx, {nb, ch, t}), *w = upload(hw, {nb, ns, t});
    wx_tensor *out = upload(std::vector<float>((size_t)(nb * ns * 2 * ch), NAN), {nb, ns, 2 * ch});
    wx_op(cuda_be, stats_pool, out, x, w);
    std::vector<float> got = fetch(cuda_be, out);
    size_t bad = 0, zero_bad = 0;
    double worst = 0, worst_mean = 0, worst_std = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t s = 0; s < ns; s++)
            for (int64_t c = 0; c < ch; c++) {
                double mean, stdv, m1, v1, v2, den;
                pool_reference(&hx[(size_t)((b * ch + c) * t)], &hw[(size_t)((b * ns + s) * t)], t,
                               &mean, &stdv, &m1, &v1, &v2, &den);
                float gm = got[(size_t)((b * ns + s) * 2 * ch + c)];
                float gs = got[(size_t)((b * ns + s) * 2 * ch + ch + c)];
                if (s == zero_speaker) {
                    zero_bad += !(gm == 0.0f && gs == 0.0f);
                    continue;
                }
                double tm = 4 * (t + 8) * U32 * m1 + 1e-30;
                double ts = 4 * 0.5 * (t + 8) * U32 * (1 + (v1 + v2 / v1) / den) * stdv + 1e-7;
                double em = fabs(gm - mean), es = fabs(gs - stdv);
                bad += !(em <= tm) + !(es <= ts);
                worst = std::max(worst, std::max(em / tm, es / ts));
                worst_mean = std::max(worst_mean, em);
                worst_std = std::max(worst_std, es);
            }
    CHECK_MSG(bad == 0, "stats_pool %s: %zu values off their bound", what, bad);
    CHECK_MSG(zero_bad == 0, "stats_pool %s: %zu channels of the zero-weight speaker not (0, 0)",
              what, zero_bad);
    std::vector<float> again = got;
    wx_op(cuda_be, stats_pool, out, x, w);
    CHECK_MSG(same_bits(fetch(cuda_be, out), again), "stats_pool %s: deterministic", what);
    printf("stats_pool %-40s max |err| mean %.3g std %.3g (%.3f of the bound)\n", what, worst_mean,
           worst_std, worst);
    worst_pool_ratio = std::max(worst_pool_ratio, worst);
    worst_mean_err = std::max(worst_mean_err, worst_mean);
    worst_std_err = std::max(worst_std_err, worst_std);
    cuda_be->ops->free(cuda_be, x), cuda_be->ops->free(cuda_be, w), cuda_be->ops->free(cuda_be, out);
}

/* pyannote.audio 4.0.7's StatsPool itself (tests/fixtures/stats_pool.fix, made by
 * tools/gen_stats_pool_fixtures.py): PyTorch's float32 sums and ours are each within the bound
 * above of the exact value, so they agree within twice it; the silent speaker exactly (0, 0).
 * The fixture holds soft weights, a silent speaker, one weighted frame, weights of ~1e-7 (the
 * epsilons move the mean by ~1 %) and T = 31, 32, 33. */
static void test_stats_pool_upstream(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/stats_pool.fix",
             wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(path, &fx) == 0, "cannot read %s", path);
    if (fx.count == 0) return;
    const wx_fixture_array *cases = wx_fixture_get(&fx, "cases");
    CHECK(cases && cases->dtype == 2);
    std::string names = cases ? (const char *)cases->data : "";
    size_t from = 0;
    while (from < names.size()) {
        size_t end = names.find('\n', from);
        std::string name = names.substr(from, end == std::string::npos ? std::string::npos : end - from);
        from = end == std::string::npos ? names.size() : end + 1;
        const wx_fixture_array *ax = wx_fixture_get(&fx, (name + ".x").c_str());
        const wx_fixture_array *aw = wx_fixture_get(&fx, (name + ".w").c_str());
        const wx_fixture_array *ao = wx_fixture_get(&fx, (name + ".out").c_str());
        CHECK_MSG(ax && aw && ao && ax->rank == 3 && aw->rank == 3, "fixture case %s", name.c_str());
        if (!ax || !aw || !ao) continue;
        int64_t nb = ax->dims[0], ch = ax->dims[1], t = ax->dims[2], ns = aw->dims[1];
        const float *hx = (const float *)ax->data, *hw = (const float *)aw->data;
        const float *want = (const float *)ao->data;
        wx_tensor *x = upload(std::vector<float>(hx, hx + ax->n), {nb, ch, t});
        wx_tensor *w = upload(std::vector<float>(hw, hw + aw->n), {nb, ns, t});
        wx_tensor *out = upload({}, {nb, ns, 2 * ch});
        wx_op(cuda_be, stats_pool, out, x, w);
        std::vector<float> got = fetch(cuda_be, out);
        size_t bad = 0;
        double worst = 0, worst_abs = 0;
        for (int64_t b = 0; b < nb; b++)
            for (int64_t s = 0; s < ns; s++) {
                const float *wr = hw + (b * ns + s) * t;
                bool silent = std::all_of(wr, wr + t, [](float v) { return v == 0.0f; });
                for (int64_t c = 0; c < ch; c++) {
                    double mean, stdv, m1, v1, v2, den;
                    pool_reference(hx + (b * ch + c) * t, wr, t, &mean, &stdv, &m1, &v1, &v2, &den);
                    size_t im = (size_t)((b * ns + s) * 2 * ch + c), is = im + (size_t)ch;
                    if (silent) {
                        bad += !(got[im] == 0.0f && got[is] == 0.0f && want[im] == 0.0f &&
                                 want[is] == 0.0f);
                        continue;
                    }
                    double tm = 2 * (4 * (t + 8) * U32 * m1 + 1e-30);
                    double ts = 2 * (4 * 0.5 * (t + 8) * U32 * (1 + (v1 + v2 / v1) / den) * stdv + 1e-7);
                    double em = fabs((double)got[im] - want[im]), es = fabs((double)got[is] - want[is]);
                    bad += !(em <= tm) + !(es <= ts);
                    worst = std::max(worst, std::max(em / tm, es / ts));
                    worst_abs = std::max(worst_abs, std::max(em, es));
                }
            }
        CHECK_MSG(bad == 0, "stats_pool vs pyannote %s: %zu values off", name.c_str(), bad);
        printf("stats_pool vs pyannote %-24s max |err| %.3g (%.3f of the bound)\n", name.c_str(),
               worst_abs, worst);
        cuda_be->ops->free(cuda_be, x), cuda_be->ops->free(cuda_be, w);
        cuda_be->ops->free(cuda_be, out);
    }
    wx_fixture_free(&fx);
}

/* One weighted frame with exact values (w = 0.5, x = 3: w·x, (w·x)/w, w², w²/w all exact):
 * pyannote in float32 gives mean 3 and std sqrt(0 / (0.5 − 0.5 + 1e-8)) = 0; here too, exactly.
 * T = 1 and T = 40 (the other frames weighted 0). */
static void test_stats_pool_one_frame(int64_t t)
{
    std::vector<float> hx((size_t)t, -7.0f), hw((size_t)t, 0.0f);
    hx[(size_t)t / 2] = 3.0f;
    hw[(size_t)t / 2] = 0.5f;
    wx_tensor *x = upload(hx, {1, 1, t}), *w = upload(hw, {1, 1, t});
    wx_tensor *out = upload({NAN, NAN}, {1, 1, 2});
    wx_op(cuda_be, stats_pool, out, x, w);
    std::vector<float> got = fetch(cuda_be, out);
    CHECK_MSG(got[0] == 3.0f && got[1] == 0.0f, "stats_pool one frame of %lld: (%.9g, %.9g), "
              "want (3, 0)", (long long)t, got[0], got[1]);
    cuda_be->ops->free(cuda_be, x), cuda_be->ops->free(cuda_be, w), cuda_be->ops->free(cuda_be, out);
}

#ifdef WX_CUDA_EMU
/* cuDNN failing to start (a missing sublibrary): the backend still starts, without the ResNet
 * ops (the embedding then runs on the CPU), and its description names the reason. */
static void test_without_cudnn(void)
{
    wxemu::inject_cudnn_create_error(CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED);
    wx_err err;
    wx_backend *be = wx_backend_cuda_create(0, &err);
    CHECK_MSG(be != NULL, "a backend without cuDNN starts: %s", be ? "" : err.msg);
    if (!be) return;
    CHECK(be->ops->conv2d == NULL && be->ops->stats_pool == NULL);
    CHECK(be->ops->linear != NULL && be->ops->lstm != NULL);
    const char *desc = wx_backend_cuda_describe(be);
    CHECK_MSG(strstr(desc, "no cuDNN") && strstr(desc, "CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED"),
              "description: %s", desc);
    printf("without cuDNN: %s\n", desc);
    be->ops->destroy(be);
}

/* The emulated cuDNN ranks GEMM first (workspace Cin·K²·Hout·Wout floats, 2.6 MiB here, more
 * than op scratch holds before the other convolutions, so this runs first): with the device
 * full, scratch cannot grow to it, the failure is recorded with the figures and the op does
 * nothing; with memory back, the same call works. */
static void test_workspace_oom(void)
{
    const size_t big = (size_t)1 << 40;
    size_t f = 0, t = 0;
    conv_case cc = {2, 64, 40, 30, 64, 3, 1, 1, false, true, "workspace"};
    wx_tensor *x = upload(randv((int64_t)2 * 64 * 40 * 30), {2, 64, 40, 30});
    wx_tensor *w = upload(randv((int64_t)64 * 64 * 9, 0.04f), {64, 64, 3, 3});
    wx_tensor *bias = upload(randv(64), {64}), *out = upload({}, {2, 64, 40, 30});
    wxemu::set_memory_limit(big);
    cudaMemGetInfo(&f, &t);
    wxemu::set_memory_limit(big - f + ((size_t)1 << 20)); /* 1 MiB free; 2.6 MiB needed */
    wx_op(cuda_be, conv2d, out, x, w, bias, NULL, cc.stride, cc.pad, cc.relu);
    wx_err err;
    wx_status st = wx_backend_take_error(cuda_be, &err);
    CHECK_MSG(st == WX_ERR_NOMEM && strstr(err.msg, "op scratch"), "conv2d workspace out of "
              "memory: %d '%s'", (int)st, st ? err.msg : "");
    printf("conv2d workspace out of memory: %s\n", st ? err.msg : "(nothing recorded)");
    wxemu::set_memory_limit(0);
    wx_op(cuda_be, conv2d, out, x, w, bias, NULL, cc.stride, cc.pad, cc.relu);
    CHECK(wx_backend_take_error(cuda_be, &err) == WX_OK);
    std::vector<float> got = fetch(cuda_be, out);
    CHECK(std::all_of(got.begin(), got.end(), [](float v) { return v >= 0.0f; })); /* ReLU, no NaN */
    cuda_be->ops->free(cuda_be, x), cuda_be->ops->free(cuda_be, w);
    cuda_be->ops->free(cuda_be, bias), cuda_be->ops->free(cuda_be, out);
}
#endif

/* The whole WeSpeaker ResNet34 (the random fixture checkpoint, width 8) on both backends:
 * 2 chunks of 1.5 s, 3 speakers (one all zero), 150 weight frames. The CUDA result is within
 * 1e-5 of each embedding's norm of the CPU's (both float32; measured ~1e-7). */
static void test_wespeaker_model(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/wespeaker_random.bin",
             wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_wespeaker *gpu = NULL, *cpu = NULL;
    wx_err err = {{0}};
    CHECK_MSG(wx_wespeaker_load(path, cuda_be, &gpu, &err) == WX_OK, "%s", err.msg);
    CHECK_MSG(wx_wespeaker_load(path, cpu_be, &cpu, &err) == WX_OK, "%s", err.msg);
    if (gpu && cpu) {
        const int B = 2, S = 3, F = 150, n = 24000, D = wx_wespeaker_dim(cpu);
        std::vector<float> chunks((size_t)B * n), weights((size_t)B * S * F);
        std::vector<float> a((size_t)B * S * D), b((size_t)B * S * D);
        for (float &v : chunks) v = 0.1f * frand();
        for (size_t i = 0; i < weights.size(); i++)
            weights[i] = (i / F) % S == 1 ? 0.0f : (frand() > 0.0f ? 1.0f : 0.0f);
        CHECK(wx_wespeaker_embed(gpu, chunks.data(), B, n, weights.data(), S, F, a.data(), &err) == WX_OK);
        CHECK(wx_wespeaker_embed(cpu, chunks.data(), B, n, weights.data(), S, F, b.data(), &err) == WX_OK);
        double worst = 0.0;
        for (int r = 0; r < B * S; r++) {
            double norm = 0.0, diff = 0.0;
            for (int d = 0; d < D; d++) {
                norm += (double)b[(size_t)r * D + d] * b[(size_t)r * D + d];
                diff = std::max(diff, (double)std::fabs(a[(size_t)r * D + d] - b[(size_t)r * D + d]));
            }
            worst = std::max(worst, diff / std::sqrt(norm));
        }
        printf("wespeaker on CUDA vs CPU: max |diff| / norm %.3g\n", worst);
        CHECK_MSG(worst <= 1e-5, "wespeaker: %.3g of the norm", worst);
    }
    wx_wespeaker_free(gpu);
    wx_wespeaker_free(cpu);
}

int main(void)
{
    int rc = backends_open("test_cuda_resnet");
    if (rc) return rc;
    CHECK_MSG(cuda_be->ops->conv2d && cuda_be->ops->stats_pool, "the ResNet ops are present "
              "(%s)", wx_backend_cuda_describe(cuda_be));
    if (!cuda_be->ops->conv2d || !cuda_be->ops->stats_pool) {
        backends_close();
        return wx_test_finish("test_cuda_resnet");
    }
    /* WX_TEST_QUICK=1 (compute-sanitizer passes): the largest shapes are skipped. */
    bool quick = getenv("WX_TEST_QUICK") && strcmp(getenv("WX_TEST_QUICK"), "0") != 0;
    /* B, Cin, H, W, Cout, K, stride, pad, residual, relu */
    const conv_case cases[] = {
        {1, 1, 1, 1, 1, 1, 1, 0, false, false, "1x1x1x1, K1, identity"},
        {1, 1, 1, 1, 1, 3, 1, 1, true, true, "1x1, K3 pad 1, residual + relu"},
        {2, 3, 7, 9, 5, 3, 1, 1, false, true, "odd 7x9, K3 s1, relu"},
        {3, 5, 11, 6, 4, 3, 2, 1, true, true, "odd 11x6, K3 s2, residual + relu"},
        {2, 6, 9, 13, 7, 1, 1, 0, false, false, "odd 9x13, K1 s1, identity"},
        {2, 6, 9, 13, 7, 1, 2, 0, false, false, "odd 9x13, K1 s2 (shortcut)"},
        {2, 4, 5, 5, 3, 1, 2, 0, true, false, "K1 s2, residual, no relu"},
        {2, 4, 8, 7, 4, 3, 1, 1, true, false, "K3 s1, residual, no relu"},
        {2, 4, 8, 7, 6, 3, 2, 1, false, false, "K3 s2, identity"},
        /* the ResNet34 on 80 fbank bins: conv1, a layer1 block, layer2's first convolution
         * and shortcut, a layer4 convolution (T = 50 frames: 0.5 s) */
        {2, 1, 80, 50, 32, 3, 1, 1, false, true, "ResNet conv1 (2, 1, 80, 50)"},
        {2, 32, 80, 50, 32, 3, 1, 1, true, true, "ResNet layer1 (2, 32, 80, 50)"},
        {2, 32, 80, 50, 64, 3, 2, 1, false, true, "ResNet layer2 entry, s2"},
        {2, 32, 80, 50, 64, 1, 2, 0, false, false, "ResNet layer2 shortcut, K1 s2"},
        {3, 256, 10, 7, 256, 3, 1, 1, true, true, "ResNet layer4 (3, 256, 10, 7)"},
    };
#ifdef WX_CUDA_EMU
    test_workspace_oom();
    test_without_cudnn();
#endif
    for (const conv_case &cc : cases) test_conv2d(cc);
    if (!quick) test_conv2d({4, 128, 20, 25, 256, 3, 2, 1, false, true, "ResNet layer4 entry, B4"});
    /* B, S, C, T, lowest weight, the zero-weight speaker */
    test_stats_pool(1, 1, 1, 7, 0.05f, -1, "1 x 1 x 1, T 7");
    test_stats_pool(2, 3, 5, 31, 0.05f, 1, "T 31 (< a warp), speaker 1 zero");
    test_stats_pool(3, 3, 37, 33, 0.05f, 2, "T 33 (a warp and one)");
    test_stats_pool(2, 2, 4, 1000, 0.0f, -1, "T 1000");
    test_stats_pool(1, 2, 3, 50, 1e-6f, -1, "weights down to 1e-6");
    test_stats_pool(2, 3, 2560, 125, 0.0f, 0, "ResNet34 (2, 3, 2560, 125), speaker 0 zero");
    test_stats_pool_upstream();
    test_stats_pool_one_frame(1);
    test_stats_pool_one_frame(40);
    test_wespeaker_model();
    printf("conv2d: max |err| %.3g, %.3f of the bound; stats_pool: max |err| mean %.3g std %.3g, "
           "%.3f of the bound\n", worst_conv_err, worst_conv_ratio, worst_mean_err, worst_std_err,
           worst_pool_ratio);
    backends_close();
    return wx_test_finish("test_cuda_resnet");
}
