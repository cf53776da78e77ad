/* test_backend_q8.c — the CPU backend's int8 weights (WX_Q8) against a scalar reference of
 * CTranslate2's int8 arithmetic written here (per-row weight scale 127 / max |w|, per-row u8
 * activations nearbyint(a · scale + 128), exact integer sums with the −128·Σq compensation,
 * out = (float(c) · (1 / a_scale)) / w_scale + bias): linear and embed over odd shapes (row,
 * column and k tails, zero rows) and the tiny model's shapes. The integers are exact, so the
 * outputs must be bit-identical (tolerance 0). ctest runs it three times: on the best kernel
 * this CPU has (AVX-512 VNNI here), and with WX_CPU_Q8_KERNEL=avx2 and =portable. Prints int8 and
 * float32 timings for the tiny shapes (figures only). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "backend/cpu/ops_q8.h"
#include "wx_test.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static float rng_uniform(float lo, float hi)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (float)((uint32_t)(rng_state >> 16) >> 8) / 16777216.0f;
}

static float *random_array(int64_t n, float lo, float hi)
{
    float *a = malloc((size_t)n * sizeof *a);
    for (int64_t i = 0; i < n; i++) a[i] = rng_uniform(lo, hi);
    return a;
}

static float row_scale(const float *x, int64_t k)
{
    float amax = 0.0f;
    for (int64_t i = 0; i < k; i++) amax = fmaxf(amax, fabsf(x[i]));
    return amax != 0.0f ? 127.0f / amax : 1.0f;
}

/* CTranslate2's Dense layer with an int8 weight on an x86 CPU, one output element. */
static float reference_linear(const float *a, const float *w, int64_t k, float bias,
                              bool with_bias)
{
    float sa = row_scale(a, k), sw = row_scale(w, k);
    int64_t c = 0;
    for (int64_t i = 0; i < k; i++) {
        int32_t qa = (int32_t)nearbyintf(a[i] * sa + 128.0f) - 128;
        int32_t qw = (int32_t)nearbyintf(w[i] * sw);
        c += (int64_t)qa * qw;
    }
    float v = (float)(int32_t)c * (1.0f / sa) / sw;
    return with_bias ? v + bias : v;
}

static wx_tensor *q8_from(wx_backend *be, const float *w, int64_t n, int64_t k)
{
    wx_tensor *t = be->ops->alloc(be, WX_Q8, 2, (int64_t[]){n, k});
    be->ops->upload_f32(be, t, w, n * k);
    return t;
}

static wx_tensor *f32_from(wx_backend *be, const float *x, int ndim, const int64_t *shape)
{
    wx_tensor *t = be->ops->alloc(be, WX_F32, ndim, shape);
    if (x) be->ops->upload(be, t, x, wx_tensor_nbytes(t));
    return t;
}

/* out (M, N) = a · wᵀ [+ bias] through the backend, every element (or n_samples of them)
 * compared with the reference; a zero row of a and of w are included when m, n > 2. */
static void run_linear_case(wx_backend *be, int64_t m, int64_t k, int64_t n, bool with_bias,
                            int n_samples, const char *timing_label)
{
    float *a = random_array(m * k, -3, 3), *w = random_array(n * k, -0.5f, 0.5f);
    float *bias = random_array(n, -1, 1);
    if (m > 2) memset(a + k, 0, (size_t)k * sizeof *a);
    if (n > 2) memset(w + 2 * k, 0, (size_t)k * sizeof *w);
    wx_tensor *ta = f32_from(be, a, 2, (int64_t[]){m, k}), *tw = q8_from(be, w, n, k);
    wx_tensor *tb = with_bias ? f32_from(be, bias, 1, (int64_t[]){n}) : NULL;
    wx_tensor *to = f32_from(be, NULL, 2, (int64_t[]){m, n});
    wx_op(be, linear, to, ta, tw, tb);
    if (timing_label) {
        wx_tensor *tf = f32_from(be, w, 2, (int64_t[]){n, k});
        double t0 = wx_now();
        wx_op(be, linear, to, ta, tw, tb);
        double t1 = wx_now();
        wx_op(be, linear, to, ta, tf, tb);
        double t2 = wx_now();
        printf("  %-44s int8 %8.2f ms  float32 %8.2f ms\n", timing_label, (t1 - t0) * 1e3,
               (t2 - t1) * 1e3);
        be->ops->free(be, tf);
        wx_op(be, linear, to, ta, tw, tb);
    }
    float *out = malloc(wx_tensor_nbytes(to));
    be->ops->download(be, to, out, wx_tensor_nbytes(to));
    int bad = 0;
    int64_t total = n_samples > 0 ? n_samples : m * n;
    for (int64_t s = 0; s < total; s++) {
        int64_t idx = n_samples > 0 ? (int64_t)((s * 2654435761u) % (uint64_t)(m * n)) : s;
        int64_t i = idx / n, j = idx % n;
        float ref = reference_linear(a + i * k, w + j * k, k, bias[j], with_bias);
        if (memcmp(&ref, &out[idx], sizeof ref) != 0 && bad++ == 0)
            fprintf(stderr, "q8 linear %lldx%lld -> %lld: element (%lld, %lld) got %.9g want "
                    "%.9g\n", (long long)m, (long long)k, (long long)n, (long long)i,
                    (long long)j, out[idx], ref);
    }
    CHECK_MSG(bad == 0, "q8 linear M%lld K%lld N%lld: %d elements differ from CTranslate2's "
              "arithmetic", (long long)m, (long long)k, (long long)n, bad);
    be->ops->free(be, ta);
    be->ops->free(be, tw);
    be->ops->free(be, tb);
    be->ops->free(be, to);
    free(a);
    free(w);
    free(bias);
    free(out);
}

static void test_linear(wx_backend *be)
{
    run_linear_case(be, 1, 4, 1, true, 0, NULL);
    run_linear_case(be, 7, 33, 65, true, 0, NULL);   /* k not a multiple of 4 */
    run_linear_case(be, 13, 64, 17, false, 0, NULL); /* one partial panel */
    run_linear_case(be, 6, 130, 96, true, 0, NULL);  /* whole tiles */
    run_linear_case(be, 49, 70, 33, true, 0, NULL);  /* row block and tile tails */
    run_linear_case(be, 1500, 384, 1536, true, 3000, "linear 1500x384 -> 1536 (tiny fc1)");
    run_linear_case(be, 1500, 1536, 384, true, 3000, "linear 1500x1536 -> 384 (tiny fc2)");
    run_linear_case(be, 40, 384, 51865, false, 3000, "linear 40x384 -> 51865 (tiny logits)");
    run_linear_case(be, 40, 384, 1152, true, 3000, "linear 40x384 -> 1152 (decoder qkv)");
}

/* embed's int8 table: row · (1 / scale) + position, CTranslate2's Dequantize then add. */
static void test_embed(wx_backend *be)
{
    int64_t v = 11, d = 37;
    float *table = random_array(v * d, -1, 1), *pos = random_array(4 * d, -1, 1);
    memset(table + 5 * d, 0, (size_t)d * sizeof *table);
    int32_t ids[4] = {3, 5, 10, 0};
    wx_tensor *tt = q8_from(be, table, v, d), *tp = f32_from(be, pos, 2, (int64_t[]){4, d});
    wx_tensor *to = f32_from(be, NULL, 3, (int64_t[]){2, 2, d});
    wx_op(be, embed, to, ids, tt, tp, 1);
    float out[4 * 37];
    be->ops->download(be, to, out, sizeof out);
    int bad = 0;
    for (int r = 0; r < 4; r++) {
        const float *row = table + ids[r] * d;
        float s = row_scale(row, d);
        for (int64_t j = 0; j < d; j++) {
            float ref = (float)(int32_t)nearbyintf(row[j] * s) * (1.0f / s) + pos[(1 + r % 2) * d + j];
            if (memcmp(&ref, &out[r * d + j], sizeof ref) != 0) bad++;
        }
    }
    CHECK_MSG(bad == 0, "q8 embed: %d elements differ", bad);
    be->ops->free(be, tt);
    be->ops->free(be, tp);
    be->ops->free(be, to);
    free(table);
    free(pos);
}

int main(void)
{
    wx_err err;
    wx_backend *be = wx_backend_cpu_create(0, &err);
    CHECK(be != NULL && be->ops->q8_weights);
    if (!be) return wx_test_finish("test_backend_q8");
    printf("cpu backend, %d threads, int8 dot products on %s; timings:\n", be->n_threads,
           wx_cpu_q8_uses_vnni() ? "AVX-512 VNNI" : wx_cpu_q8_uses_avx2() ? "AVX2"
                                 : "the portable loop");
    test_linear(be);
    test_embed(be);
    be->ops->destroy(be);
    return wx_test_finish("test_backend_q8");
}
