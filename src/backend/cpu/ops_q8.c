/* ops_q8.c — int8 weights on the CPU (contracts in ops_q8.h, layout in backend.h). A linear
 * quantizes each row of its input to u8, then computes 6 rows × 32 columns at a time with
 * AVX-512 VNNI (vpdpbusd: 64 u8·s8 products a cycle) over weights packed so that one 64-byte
 * load holds 4 consecutive k of 16 rows and no horizontal sum is needed; machines without
 * VNNI run the same integers with AVX2 (vpmaddwd), or through a portable loop. */
#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "ops_q8.h"
#include "ops_vad.h"
#include "vec.h"

#define Q8_PANEL 16 /* rows of w per packed panel */
#define Q8_MR 6     /* rows of a per tile */
#define Q8_NR 32    /* columns of out per tile: two panels */
#define Q8_GROUP 64 /* columns per parallel work item */
#define Q8_MB 48    /* rows of a per block: 8 tiles */
#define Q8_KB 256   /* k per pass over a block's tiles: the panels' 8 KB and the block's 12 KB
                     * of it stay in L1 while the 8 tiles use them */
/* The tiles' row loops unrolled, so that their accumulators live in registers. */
#define UNROLL_ROWS _Pragma("GCC unroll 6")

static int64_t packed_offset(int64_t n, int64_t k, int64_t kp)
{
    return (n / Q8_PANEL) * Q8_PANEL * kp + (k / 4) * 64 + (n % Q8_PANEL) * 4 + k % 4;
}

static float abs_max(const float *x, int64_t n)
{
    float m = 0.0f;
    int64_t i = 0;
#if defined(__AVX2__)
    __m256 vm = _mm256_setzero_ps(), sign = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + i)));
    float lanes[8];
    _mm256_storeu_ps(lanes, vm);
    for (int j = 0; j < 8; j++) m = fmaxf(m, lanes[j]);
#endif
    for (; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

void wx_cpu_q8_upload(wx_tensor *t, const float *host)
{
    assert(t->dtype == WX_Q8 && t->ndim == 2 && "q8 upload: a (N, K) WX_Q8 tensor");
    int64_t n = t->shape[0], k = t->shape[1], np = wx_q8_padded_rows(n), kp = wx_q8_padded_k(k);
    int8_t *q = t->data;
    float *scale = wx_q8_scales(t);
    int32_t *sum = wx_q8_sums(t);
    memset(q, 0, (size_t)(np * kp));
    for (int64_t j = 0; j < np; j++) {
        scale[j] = 1.0f;
        sum[j] = 0;
    }
    for (int64_t j = 0; j < n; j++) {
        const float *row = host + j * k;
        float amax = abs_max(row, k);
        float s = amax != 0.0f ? 127.0f / amax : 1.0f;
        int32_t total = 0;
        for (int64_t i = 0; i < k; i++) {
            int8_t v = (int8_t)nearbyintf(row[i] * s);
            q[packed_offset(j, i, kp)] = v;
            total += v;
        }
        scale[j] = s;
        sum[j] = total;
    }
}

void wx_cpu_q8_embed_row(float *dst, const wx_tensor *table, int64_t id, const float *pos)
{
    int64_t d = table->shape[1], kp = wx_q8_padded_k(d);
    const int8_t *q = table->data;
    float r = 1.0f / wx_q8_scales(table)[id];
    for (int64_t i = 0; i < d; i++) dst[i] = (float)q[packed_offset(id, i, kp)] * r + pos[i];
}

/* ---- activations ---------------------------------------------------------------------- */

typedef struct quantize_ctx {
    const float *a; /* (M, K) */
    uint8_t *qa;    /* (M, Kp) */
    float *inv_scale; /* (M): 1 / a_scale */
    int64_t k, kp;
} quantize_ctx;

static void quantize_rows(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const quantize_ctx *c = p;
    for (int64_t r = begin; r < end; r++) {
        const float *x = c->a + r * c->k;
        uint8_t *q = c->qa + r * c->kp;
        float amax = abs_max(x, c->k);
        float s = amax != 0.0f ? 127.0f / amax : 1.0f;
        int64_t i = 0;
#if defined(__AVX2__)
        __m256 vs = _mm256_set1_ps(s), shift = _mm256_set1_ps(128.0f);
        for (; i + 8 <= c->k; i += 8) {
            __m256 v = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), shift);
            __m256i n = _mm256_cvtps_epi32(v); /* round to nearest even, as nearbyintf */
            __m128i w = _mm_packus_epi32(_mm256_castsi256_si128(n), _mm256_extracti128_si256(n, 1));
            _mm_storel_epi64((__m128i *)(q + i), _mm_packus_epi16(w, w));
        }
#endif
        for (; i < c->k; i++) {
            float v = x[i] * s;
            q[i] = (uint8_t)nearbyintf(v + 128.0f);
        }
        for (i = c->k; i < c->kp; i++) q[i] = 0;
        c->inv_scale[r] = 1.0f / s;
    }
}

/* ---- integer tiles: c (Q8_MR, Q8_NR) [+]= rows[0, kn) of qa · the columns of panels p0, p1
 * over the same kn (the rows and panels already offset to the pass's first k) ----------- */

typedef void (*tile_fn)(const uint8_t *const rows[Q8_MR], int64_t kn, const int8_t *p0,
                        const int8_t *p1, int32_t c[Q8_MR][Q8_NR], bool accumulate);

static void tile_portable(const uint8_t *const rows[Q8_MR], int64_t kp, const int8_t *p0,
                          const int8_t *p1, int32_t c[Q8_MR][Q8_NR], bool accumulate)
{
    for (int r = 0; r < Q8_MR; r++) {
        int32_t acc[Q8_NR] = {0};
        if (accumulate) memcpy(acc, c[r], sizeof acc);
        for (int64_t k4 = 0; k4 < kp; k4 += 4) {
            const uint8_t *x = rows[r] + k4;
            const int8_t *w0 = p0 + k4 * Q8_PANEL, *w1 = p1 + k4 * Q8_PANEL;
            for (int j = 0; j < Q8_PANEL; j++)
                for (int i = 0; i < 4; i++) {
                    acc[j] += (int32_t)x[i] * w0[4 * j + i];
                    acc[Q8_PANEL + j] += (int32_t)x[i] * w1[4 * j + i];
                }
        }
        memcpy(c[r], acc, sizeof acc);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bw,avx512vnni")))
static void tile_vnni(const uint8_t *const rows[Q8_MR], int64_t kp, const int8_t *p0,
                      const int8_t *p1, int32_t c[Q8_MR][Q8_NR], bool accumulate)
{
    __m512i acc[Q8_MR][2];
    UNROLL_ROWS
    for (int r = 0; r < Q8_MR; r++) {
        acc[r][0] = accumulate ? _mm512_loadu_si512(c[r]) : _mm512_setzero_si512();
        acc[r][1] = accumulate ? _mm512_loadu_si512(c[r] + Q8_PANEL) : _mm512_setzero_si512();
    }
    for (int64_t k4 = 0; k4 < kp; k4 += 4) {
        __m512i w0 = _mm512_loadu_si512(p0 + k4 * Q8_PANEL);
        __m512i w1 = _mm512_loadu_si512(p1 + k4 * Q8_PANEL);
        UNROLL_ROWS
    for (int r = 0; r < Q8_MR; r++) {
            int32_t four;
            memcpy(&four, rows[r] + k4, 4);
            __m512i x = _mm512_set1_epi32(four);
            acc[r][0] = _mm512_dpbusd_epi32(acc[r][0], x, w0);
            acc[r][1] = _mm512_dpbusd_epi32(acc[r][1], x, w1);
        }
    }
    UNROLL_ROWS
    for (int r = 0; r < Q8_MR; r++) {
        _mm512_storeu_si512(c[r], acc[r][0]);
        _mm512_storeu_si512(c[r] + Q8_PANEL, acc[r][1]);
    }
}
#endif

/* AVX2 without VNNI: each column's 4 bytes sign-extended to 4 int16, pairs of products
 * summed into int32 by vpmaddwd (exact: no int16 saturation, unlike vpmaddubsw) and each
 * column's two pair sums added at the end; 8 columns (two vectors) × 6 rows at a time, so
 * that the 12 accumulators stay in registers. */
__attribute__((target("avx2")))
static void tile_avx2(const uint8_t *const rows[Q8_MR], int64_t kp, const int8_t *p0,
                      const int8_t *p1, int32_t c[Q8_MR][Q8_NR], bool accumulate)
{
    for (int oct = 0; oct < Q8_NR / 8; oct++) {
        const int8_t *p = (oct < 2 ? p0 : p1) + (oct % 2) * 32;
        __m256i acc[Q8_MR][2];
        UNROLL_ROWS
        for (int r = 0; r < Q8_MR; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
        for (int64_t k4 = 0; k4 < kp; k4 += 4) {
            const int8_t *wk = p + k4 * Q8_PANEL;
            __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)wk));
            __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wk + 16)));
            UNROLL_ROWS
            for (int r = 0; r < Q8_MR; r++) {
                int32_t four;
                memcpy(&four, rows[r] + k4, 4);
                __m256i x = _mm256_cvtepu8_epi16(_mm_set1_epi32(four));
                acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(x, w0));
                acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(x, w1));
            }
        }
        for (int r = 0; r < Q8_MR; r++) {
            /* lanes (2j, 2j+1) of acc[r][h] are column 4h + j's two pair sums */
            __m256i sums = _mm256_hadd_epi32(acc[r][0], acc[r][1]);
            int32_t lanes[8];
            _mm256_storeu_si256((__m256i *)lanes, sums);
            int32_t *dst = c[r] + oct * 8, in_order[8] = {lanes[0], lanes[1], lanes[4], lanes[5],
                                                          lanes[2], lanes[3], lanes[6], lanes[7]};
            for (int j = 0; j < 8; j++) dst[j] = (accumulate ? dst[j] : 0) + in_order[j];
        }
    }
}

static atomic_int vnni_state = -1; /* -1: not probed yet */

/* 0 portable, 1 AVX2, 2 AVX-512 VNNI; WX_CPU_Q8_KERNEL=portable|avx2 caps it. */
static int q8_kernel(void)
{
    int s = atomic_load(&vnni_state);
    if (s < 0) {
        const char *cap = getenv("WX_CPU_Q8_KERNEL");
        s = 0;
#if defined(__x86_64__)
        if (__builtin_cpu_supports("avx2")) s = 1;
        if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw")) s = 2;
#endif
        if (cap && strcmp(cap, "avx2") == 0 && s > 1) s = 1;
        if (cap && strcmp(cap, "portable") == 0) s = 0;
        atomic_store(&vnni_state, s);
    }
    return s;
}

bool wx_cpu_q8_uses_vnni(void) { return q8_kernel() == 2; }
bool wx_cpu_q8_uses_avx2(void) { return q8_kernel() == 1; }

/* ---- the linear ------------------------------------------------------------------------ */

typedef struct q8_linear_ctx {
    const uint8_t *qa;
    const float *inv_scale;
    const wx_tensor *w;
    const float *bias;
    float *out;
    int64_t m, n, kp;
    tile_fn tile;
} q8_linear_ctx;

/* out rows [i0, i0 + mr), columns [j0, j0 + 32) ∩ [0, N) from the integer tile c, VL
 * columns at a time (the same float32 operations in the same order as the scalar tail). */
static void dequantize_tile(const q8_linear_ctx *l, int32_t c[Q8_MR][Q8_NR], int64_t i0,
                            int mr, int64_t j0)
{
    const float *scale = wx_q8_scales(l->w) + j0, *bias = l->bias ? l->bias + j0 : NULL;
    const int32_t *sum = wx_q8_sums(l->w) + j0;
    int64_t nc = l->n - j0 < Q8_NR ? l->n - j0 : Q8_NR;
    for (int r = 0; r < mr; r++) {
        float inv_a = l->inv_scale[i0 + r];
        float *o = l->out + (i0 + r) * l->n + j0;
        int64_t j = 0;
        for (; j + VL <= nc; j += VL) {
            vi ci, si;
            memcpy(&ci, c[r] + j, sizeof ci);
            memcpy(&si, sum + j, sizeof si);
            vf v = __builtin_convertvector(ci - 128 * si, vf) * inv_a / vf_load(scale + j);
            vf_store(o + j, bias ? v + vf_load(bias + j) : v);
        }
        for (; j < nc; j++) {
            float v = (float)(c[r][j] - 128 * sum[j]) * inv_a / scale[j];
            o[j] = bias ? v + bias[j] : v;
        }
    }
}

static void q8_linear_groups(void *p, int64_t begin, int64_t end, int tid)
{
    (void)tid;
    const q8_linear_ctx *l = p;
    const int8_t *w = l->w->data;
    int64_t n_panels = wx_q8_padded_rows(l->n) / Q8_PANEL, panel_bytes = Q8_PANEL * l->kp;
    int32_t c[Q8_MB / Q8_MR][Q8_MR][Q8_NR];
    for (int64_t i0 = 0; i0 < l->m; i0 += Q8_MB) {
        int64_t i1 = i0 + Q8_MB < l->m ? i0 + Q8_MB : l->m;
        for (int64_t j0 = begin * Q8_GROUP; j0 < end * Q8_GROUP && j0 < l->n; j0 += Q8_NR) {
            int64_t panel = j0 / Q8_PANEL;
            const int8_t *p0 = w + panel * panel_bytes;
            const int8_t *p1 = panel + 1 < n_panels ? p0 + panel_bytes : p0;
            for (int64_t k0 = 0; k0 < l->kp; k0 += Q8_KB) {
                int64_t kn = l->kp - k0 < Q8_KB ? l->kp - k0 : Q8_KB;
                for (int64_t i = i0; i < i1; i += Q8_MR) {
                    int mr = i1 - i < Q8_MR ? (int)(i1 - i) : Q8_MR;
                    const uint8_t *rows[Q8_MR];
                    for (int r = 0; r < Q8_MR; r++)
                        rows[r] = l->qa + (i + (r < mr ? r : 0)) * l->kp + k0;
                    l->tile(rows, kn, p0 + k0 * Q8_PANEL, p1 + k0 * Q8_PANEL,
                            c[(i - i0) / Q8_MR], k0 > 0);
                }
            }
            for (int64_t i = i0; i < i1; i += Q8_MR)
                dequantize_tile(l, c[(i - i0) / Q8_MR], i, i1 - i < Q8_MR ? (int)(i1 - i) : Q8_MR,
                                j0);
        }
    }
}

void wx_cpu_q8_linear(wx_backend *be, float *out, const float *a, int64_t m, const wx_tensor *w,
                      const float *bias)
{
    int64_t n = w->shape[0], k = w->shape[1], kp = wx_q8_padded_k(k);
    uint8_t *qa = wx_cpu_scratch(be, (size_t)(m * kp) + (size_t)m * sizeof(float) + 64);
    float *inv_scale = (float *)(qa + (m * kp + 63) / 64 * 64);
    quantize_ctx qc = {a, qa, inv_scale, k, kp};
    wx_cpu_run_parallel(be, m, 4 * k, quantize_rows, &qc);
    q8_linear_ctx l = {qa, inv_scale, w, bias, out, m, n, kp, tile_portable};
#if defined(__x86_64__)
    if (wx_cpu_q8_uses_vnni()) l.tile = tile_vnni;
    else if (wx_cpu_q8_uses_avx2()) l.tile = tile_avx2;
#endif
    wx_cpu_run_parallel(be, (n + Q8_GROUP - 1) / Q8_GROUP, m * kp * Q8_GROUP / 4,
                        q8_linear_groups, &l);
}
