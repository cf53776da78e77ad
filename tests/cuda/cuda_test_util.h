/* cuda_test_util.h — shared by the CUDA suites: the backend pair (CPU reference and CUDA,
 * real or emulated), tensor helpers (weights in each backend's weight dtype, host fp16
 * rounding), a deterministic RNG and the DESIGN.md comparisons.
 * Without a usable device the real-GPU build skips (exit 77); the emulated build fails. */
#ifndef WX_CUDA_TEST_UTIL_H
#define WX_CUDA_TEST_UTIL_H

#include <stdint.h>

#include <cmath>
#include <cstring>
#include <vector>

extern "C" {
#include "backend/backend.h"
#include "backend/cuda/backend_cuda.h"
}
#include "wx_test.h"

#define WX_TEST_SKIP 77

static wx_backend *cpu_be, *cuda_be;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* Creates both backends; returns 0, or the exit code when CUDA is unavailable. */
static inline int backends_open(const char *suite)
{
    wx_err err;
    cpu_be = wx_backend_cpu_create(1, &err);
    if (!cpu_be) {
        fprintf(stderr, "%s: CPU backend: %s\n", suite, err.msg);
        return 1;
    }
    cuda_be = wx_backend_cuda_create(0, &err);
    if (!cuda_be) {
#ifdef WX_CUDA_EMU
        fprintf(stderr, "%s: emulated CUDA backend failed to start: %s\n", suite, err.msg);
        return 1;
#else
        bool named = strncmp(err.msg, "no CUDA device", 14) == 0;
        printf("%s: skipped: %s%s\n", suite, named ? "" : "no CUDA device: ", err.msg);
        return WX_TEST_SKIP;
#endif
    }
    return 0;
}

static inline void backends_close(void)
{
    if (cuda_be) cuda_be->ops->destroy(cuda_be);
    if (cpu_be) cpu_be->ops->destroy(cpu_be);
}

static inline float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (2.0 / 16777216.0) - 1.0);
}

static inline int irand(int n) { return (int)((frand() + 1.0f) * 0.5f * (float)n) % n; }

static inline std::vector<float> randv(int64_t n, float scale = 1.0f)
{
    std::vector<float> v((size_t)n);
    for (auto &x : v) x = frand() * scale;
    return v;
}

/* The same host data in a tensor on each backend. */
struct tpair {
    wx_tensor *c, *g;
};

static inline tpair tp_make(const std::vector<float> &host, std::vector<int64_t> shape)
{
    tpair p;
    p.c = cpu_be->ops->alloc(cpu_be, WX_F32, (int)shape.size(), shape.data());
    p.g = cuda_be->ops->alloc(cuda_be, WX_F32, (int)shape.size(), shape.data());
    size_t bytes = wx_tensor_nbytes(p.c);
    if (!host.empty()) {
        cpu_be->ops->upload(cpu_be, p.c, host.data(), bytes);
        cuda_be->ops->upload(cuda_be, p.g, host.data(), bytes);
    }
    return p;
}

/* A weight matrix as the models load it: each backend's weight_dtype (CPU F32, CUDA F16)
 * filled through upload_f32. */
static inline tpair tp_weight(const std::vector<float> &host, std::vector<int64_t> shape)
{
    tpair p;
    p.c = cpu_be->ops->alloc(cpu_be, cpu_be->ops->weight_dtype, (int)shape.size(), shape.data());
    p.g = cuda_be->ops->alloc(cuda_be, cuda_be->ops->weight_dtype, (int)shape.size(),
                              shape.data());
    cpu_be->ops->upload_f32(cpu_be, p.c, host.data(), (int64_t)host.size());
    cuda_be->ops->upload_f32(cuda_be, p.g, host.data(), (int64_t)host.size());
    return p;
}

/* x rounded to the nearest IEEE half (ties to even), returned as a float; |x| < 65504. */
static inline float round_f16(float x)
{
    if (fabsf(x) < 0x1p-14f) return nearbyintf(x * 0x1p24f) * 0x1p-24f; /* half subnormals */
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u += 0xfffu + ((u >> 13) & 1u); /* 23 → 10 mantissa bits, round to nearest even */
    u &= ~0x1fffu;
    memcpy(&x, &u, sizeof u);
    return x;
}

/* Attention keys/values as the model keeps them: CUDA in its kv_dtype (fp16) filled through
 * upload_f32, the CPU in fp32 holding the same values rounded to fp16 on the host, so both
 * backends see identical numbers. */
static inline tpair tp_kv(std::vector<float> host, std::vector<int64_t> shape)
{
    for (auto &x : host) x = round_f16(x);
    tpair p;
    p.c = cpu_be->ops->alloc(cpu_be, WX_F32, (int)shape.size(), shape.data());
    p.g = cuda_be->ops->alloc(cuda_be, cuda_be->ops->kv_dtype, (int)shape.size(), shape.data());
    cpu_be->ops->upload(cpu_be, p.c, host.data(), wx_tensor_nbytes(p.c));
    cuda_be->ops->upload_f32(cuda_be, p.g, host.data(), (int64_t)host.size());
    return p;
}

static inline void tp_free(tpair p)
{
    cpu_be->ops->free(cpu_be, p.c);
    cuda_be->ops->free(cuda_be, p.g);
}

/* IEEE half bits to float (normals, subnormals, inf, NaN). */
static inline float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, u;
    if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else if (exp == 0) {
        float f = ldexpf((float)man, -24);
        return sign ? -f : f;
    } else {
        u = sign | ((exp + 112) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* A tensor's elements as floats, F32 or F16. */
static inline std::vector<float> fetch(wx_backend *be, const wx_tensor *t)
{
    std::vector<float> v((size_t)wx_tensor_nelem(t));
    if (t->dtype == WX_F16) {
        std::vector<uint16_t> h(v.size());
        be->ops->download(be, t, h.data(), h.size() * sizeof(uint16_t));
        for (size_t i = 0; i < h.size(); i++) v[i] = half_to_float(h[i]);
        return v;
    }
    be->ops->download(be, t, v.data(), v.size() * sizeof(float));
    return v;
}

/* fp32 element-wise policy: |got − ref| ≤ abs + rel·|ref| everywhere (NaN fails). */
static inline bool all_close(const std::vector<float> &got, const std::vector<float> &ref,
                             double abs_tol, double rel_tol, const char *what)
{
    size_t bad = 0, worst = 0;
    double worst_excess = -1;
    for (size_t i = 0; i < ref.size(); i++) {
        double d = fabs((double)got[i] - ref[i]), lim = abs_tol + rel_tol * fabs(ref[i]);
        bool same_inf = std::isinf(ref[i]) && got[i] == ref[i];
        if (!same_inf && !(d <= lim)) {
            if (d - lim > worst_excess) { worst_excess = d - lim; worst = i; }
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "  %s: %zu of %zu elements off, e.g. [%zu] %.9g vs %.9g\n", what, bad,
                ref.size(), worst, got[worst], ref[worst]);
    return bad == 0;
}

/* Σ(got − ref)² / Σ ref²: the fp16/TF32 policy's measure. */
static inline double nmse(const std::vector<float> &got, const std::vector<float> &ref)
{
    double se = 0, ss = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        double d = (double)got[i] - ref[i];
        se += d * d;
        ss += (double)ref[i] * ref[i];
    }
    return se / (ss > 0 ? ss : 1);
}

#endif
