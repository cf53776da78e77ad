/* vec.h — GCC vector helpers shared by the CPU backend's ops (8 float lanes with AVX, 4
 * without): loads and stores with tails, fused multiply-add, min/max/select, horizontal sums
 * (one vector's, or VL vectors' at once), and the
 * vectorised exp (Cephes), erf (Eigen/XLA) and GELU the element-wise ops use. */
#ifndef WX_CPU_VEC_H
#define WX_CPU_VEC_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#ifdef __AVX__
#define VEC_BYTES 32
#else
#define VEC_BYTES 16
#endif
#define VL ((int64_t)(VEC_BYTES / sizeof(float)))

typedef float vf __attribute__((vector_size(VEC_BYTES)));
typedef int32_t vi __attribute__((vector_size(VEC_BYTES)));

static inline vf vf_load(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void vf_store(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline vf vf_set1(float x) { vf v = {0}; return v + x; }
/* a·b + c, fused where the target has FMA (ISO C mode keeps GCC from contracting a*b + c) */
static inline vf vf_fma(vf a, vf b, vf c)
{
#if defined(__FMA__) && VEC_BYTES == 32
    return (vf)__builtin_ia32_vfmaddps256(a, b, c);
#else
    return a * b + c;
#endif
}
static inline vf vf_select(vi mask, vf a, vf b)
{
    return (vf)((mask & (vi)a) | (~mask & (vi)b));
}
static inline vf vf_min(vf a, vf b) { return vf_select(a < b, a, b); }
static inline vf vf_max(vf a, vf b) { return vf_select(a > b, a, b); }
static inline float vf_hsum(vf v)
{
    float s = 0.0f;
    for (int i = 0; i < VL; i++) s += v[i];
    return s;
}
static inline float vf_hmax(vf v)
{
    float m = v[0];
    for (int i = 1; i < VL; i++) m = v[i] > m ? v[i] : m;
    return m;
}

/* The horizontal sums of a[0..VL), as one vector (lane i: the sum of a[i]'s lanes). */
static inline vf vf_hsum_lanes(const vf *a)
{
#if defined(__AVX__) && VEC_BYTES == 32
    __m256 t0 = _mm256_hadd_ps((__m256)a[0], (__m256)a[1]);
    __m256 t1 = _mm256_hadd_ps((__m256)a[2], (__m256)a[3]);
    __m256 t2 = _mm256_hadd_ps((__m256)a[4], (__m256)a[5]);
    __m256 t3 = _mm256_hadd_ps((__m256)a[6], (__m256)a[7]);
    __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return (vf)_mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20),
                             _mm256_permute2f128_ps(u0, u1, 0x31));
#else
    vf r;
    for (int i = 0; i < VL; i++) r[i] = vf_hsum(a[i]);
    return r;
#endif
}

/* Loads the n < VL tail elements of p, the other lanes set to `fill`. */
static inline vf vf_load_tail(const float *p, int64_t n, float fill)
{
    vf v = vf_set1(fill);
    for (int64_t i = 0; i < n; i++) v[i] = p[i];
    return v;
}
static inline void vf_store_tail(float *p, vf v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) p[i] = v[i];
}

/* exp(x), Cephes' single-precision polynomial (≤ 2 ulp); exactly 0 below -87.3 (so -inf
 * gives 0), +inf-free above by clamping at 88.3. */
static inline vf vf_exp(vf x)
{
    const vf magic = vf_set1(12582912.0f); /* 1.5·2^23: adding it rounds to an integer */
    vi underflow = x < vf_set1(-87.3f);
    x = vf_min(x, vf_set1(88.3f));
    x = vf_max(x, vf_set1(-87.3f));
    vf n = (x * vf_set1(1.44269504088896341f) + magic) - magic;
    vf r = x - n * vf_set1(0.693359375f) - n * vf_set1(-2.12194440e-4f);
    vf p = vf_set1(1.9875691500e-4f);
    p = p * r + vf_set1(1.3981999507e-3f);
    p = p * r + vf_set1(8.3334519073e-3f);
    p = p * r + vf_set1(4.1665795894e-2f);
    p = p * r + vf_set1(1.6666665459e-1f);
    p = p * r + vf_set1(5.0000001201e-1f);
    vf y = p * r * r + r + vf_set1(1.0f);
    vi e = (__builtin_convertvector(n, vi) + 127) << 23;
    return vf_select(underflow, vf_set1(0.0f), y * (vf)e);
}

/* erf(x), the rational approximation used by Eigen and XLA (a few ulp; ±1 beyond ±4). */
static inline vf vf_erf(vf x)
{
    x = vf_max(vf_min(x, vf_set1(4.0f)), vf_set1(-4.0f));
    vf x2 = x * x;
    vf p = x2 * vf_set1(-2.72614225801306e-10f) + vf_set1(2.77068142495902e-08f);
    p = x2 * p + vf_set1(-2.10102402082508e-06f);
    p = x2 * p + vf_set1(-5.69250639462346e-05f);
    p = x2 * p + vf_set1(-7.34990630326855e-04f);
    p = x2 * p + vf_set1(-2.95459980854025e-03f);
    p = x2 * p + vf_set1(-1.60960333262415e-02f);
    p = x * p;
    vf q = x2 * vf_set1(-1.45660718464996e-05f) + vf_set1(-2.13374055278905e-04f);
    q = x2 * q + vf_set1(-1.68282697438203e-03f);
    q = x2 * q + vf_set1(-7.37332916720468e-03f);
    q = x2 * q + vf_set1(-1.42647390514189e-02f);
    return p / q;
}

static inline vf vf_gelu(vf x)
{
    return vf_set1(0.5f) * x * (vf_set1(1.0f) + vf_erf(x * vf_set1(0.70710678118654752f)));
}

#endif
