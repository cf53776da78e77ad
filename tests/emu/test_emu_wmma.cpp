/* test_emu_wmma.cpp — the emulated nvcuda::wmma (kernels/emu/include/mma.h) against CPU
 * products: 16×16×16 mma_sync for every A/B layout pair, row- and column-major accumulator
 * loads and stores, leading dimensions above 16, accumulation over several k steps,
 * fill_fragment, element-wise x[] access, two warps of a (32, 2) block, tiles in shared
 * memory, and a half accumulator. Then the faults, in recording mode: a tile reaching past
 * a shared array, a misaligned pointer or ldm, and a lane that skips a collective call.
 * Products of halves are exact in float and each output is one float sum in k order, so
 * float results match a double reference to 1e-6 relative. */
#include <math.h>
#include <string.h>

#include <mma.h>

#include "common.cuh"
#include "wx_test.h"

using namespace nvcuda;

#define REL_TOL 1e-6

typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc_f32;

/* One 16×16 output per warp (threadIdx.y): D = A (16 × 16·ksteps) · B + C, or + fill when
 * c is null; every accumulator element times `scale` before the store. Warp w's operands
 * start at w·stride elements. */
struct mma_args {
    float *d;
    const __half *a, *b;
    const float *c;
    int lda, ldb, ldc, ksteps, stride;
    bool store_col;
    float fill, scale;
};

template <class LA, class LB> __global__ void mma_tile(mma_args p)
{
    int w = threadIdx.y, col_a = std::is_same<LA, wmma::col_major>::value;
    int col_b = std::is_same<LB, wmma::col_major>::value;
    const __half *a = p.a + w * p.stride, *b = p.b + w * p.stride;
    acc_f32 acc;
    if (p.c)
        wmma::load_matrix_sync(acc, p.c + w * p.stride, p.ldc, wmma::mem_row_major);
    else
        wmma::fill_fragment(acc, p.fill);
    for (int s = 0; s < p.ksteps; s++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, LA> fa;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, LB> fb;
        wmma::load_matrix_sync(fa, a + (col_a ? s * 16 * p.lda : s * 16), p.lda);
        wmma::load_matrix_sync(fb, b + (col_b ? s * 16 : s * 16 * p.ldb), p.ldb);
        wmma::mma_sync(acc, fa, fb, acc);
    }
    for (int i = 0; i < acc.num_elements; i++) acc.x[i] *= p.scale;
    wmma::store_matrix_sync(p.d + w * p.stride, acc, p.ldc,
                            p.store_col ? wmma::mem_col_major : wmma::mem_row_major);
}

static float hval(int i, int seed)
{
    return (float)__float2half((float)((i * 37 + seed * 11) % 29 - 14) / 8.0f);
}

static void run_case(bool col_a, bool col_b, int ld, int ksteps, bool load_c, bool store_col,
                     int warps)
{
    int stride = 16 * ksteps * ld, n = stride * warps;
    __half *ha = (__half *)malloc(sizeof(__half) * n), *hb = (__half *)malloc(sizeof(__half) * n);
    float *hc = (float *)malloc(sizeof(float) * n), *hd = (float *)malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) {
        ha[i] = __float2half(hval(i, 1));
        hb[i] = __float2half(hval(i, 2));
        hc[i] = (float)(i % 7) - 3.0f;
    }
    __half *da, *db;
    float *dc, *dd;
    cudaMalloc((void **)&da, sizeof(__half) * n);
    cudaMalloc((void **)&db, sizeof(__half) * n);
    cudaMalloc((void **)&dc, sizeof(float) * n);
    cudaMalloc((void **)&dd, sizeof(float) * n);
    cudaMemcpy(da, ha, sizeof(__half) * n, cudaMemcpyHostToDevice);
    cudaMemcpy(db, hb, sizeof(__half) * n, cudaMemcpyHostToDevice);
    cudaMemcpy(dc, hc, sizeof(float) * n, cudaMemcpyHostToDevice);
    cudaMemset(dd, 0, sizeof(float) * n);
    mma_args p = {dd, da, db, load_c ? dc : nullptr, ld, ld, ld, ksteps, stride, store_col,
                  0.75f, 2.0f};
    dim3 block(32, warps);
    cudaError_t e;
    if (col_a)
        e = col_b ? WX_LAUNCH((mma_tile<wmma::col_major, wmma::col_major>), 1, block, 0, 0, p)
                  : WX_LAUNCH((mma_tile<wmma::col_major, wmma::row_major>), 1, block, 0, 0, p);
    else
        e = col_b ? WX_LAUNCH((mma_tile<wmma::row_major, wmma::col_major>), 1, block, 0, 0, p)
                  : WX_LAUNCH((mma_tile<wmma::row_major, wmma::row_major>), 1, block, 0, 0, p);
    CHECK(e == cudaSuccess);
    cudaMemcpy(hd, dd, sizeof(float) * n, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int w = 0; w < warps; w++)
        for (int r = 0; r < 16; r++)
            for (int c = 0; c < 16; c++) {
                int o = w * stride;
                double s = load_c ? hc[o + r * ld + c] : 0.75;
                for (int k = 0; k < 16 * ksteps; k++)
                    s += (double)(float)ha[o + (col_a ? k * ld + r : r * ld + k)] *
                         (float)hb[o + (col_b ? c * ld + k : k * ld + c)];
                s *= 2.0;
                float got = hd[o + (store_col ? c * ld + r : r * ld + c)];
                if (fabs(got - s) > REL_TOL * (1.0 + fabs(s)) && bad++ == 0)
                    fprintf(stderr, "  warp %d (%d, %d): got %g want %g\n", w, r, c, got, s);
            }
    CHECK_MSG(bad == 0, "A %s, B %s, ld %d, %d k steps, C %s, store %s, %d warps: %d wrong",
              col_a ? "col" : "row", col_b ? "col" : "row", ld, ksteps,
              load_c ? "loaded" : "filled", store_col ? "col" : "row", warps, bad);
    cudaFree(da), cudaFree(db), cudaFree(dc), cudaFree(dd);
    free(ha), free(hb), free(hc), free(hd);
}

static void test_products(void)
{
    run_case(false, true, 16, 1, true, false, 1); /* the classic 16×16×16 */
    for (int ca = 0; ca <= 1; ca++)
        for (int cb = 0; cb <= 1; cb++) {
            run_case(ca, cb, 40, 3, true, cb, 1);  /* ld > 16, 3 steps of k */
            run_case(ca, cb, 24, 2, false, ca, 2); /* fill_fragment, two warps */
        }
}

/* A, B and C staged in shared memory (dynamic, viewed as half and as float) with an ldm of
 * 24 halves / 20 floats; out (16 × 16) row-major. */
__global__ void shared_tiles(float *out, const __half *a, const __half *b)
{
    WX_DYNAMIC_SHARED(__half, sh);
    WX_DYNAMIC_SHARED(float, sf);
    const int lda = 24, b_off = 16 * lda, ldc = 20;
    for (int i = threadIdx.x; i < 256; i += 32) {
        sh[i / 16 * lda + i % 16] = a[i];
        sh[b_off + i / 16 * lda + i % 16] = b[i];
    }
    __syncwarp();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb;
    acc_f32 acc;
    wmma::load_matrix_sync(fa, sh, lda);
    wmma::load_matrix_sync(fb, sh + b_off, lda);
    wmma::fill_fragment(acc, 0.0f);
    wmma::mma_sync(acc, fa, fb, acc);
    auto tile = sf + b_off; /* after both half tiles: 2·b_off halves = b_off floats */
    wmma::store_matrix_sync(tile, acc, ldc, wmma::mem_row_major);
    __syncwarp();
    for (int i = threadIdx.x; i < 256; i += 32) out[i] = tile[i / 16 * ldc + i % 16];
}

/* D in half: A · B rounded once per output. */
__global__ void half_acc(__half *out, const __half *a, const __half *b)
{
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, __half> acc;
    wmma::fill_fragment(acc, __float2half(0.0f));
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::mma_sync(acc, fa, fb, acc);
    wmma::store_matrix_sync(out, acc, 16, wmma::mem_row_major);
}

static void reference_16(double *ref, const __half *a, const __half *b)
{
    for (int r = 0; r < 16; r++)
        for (int c = 0; c < 16; c++) {
            double s = 0.0;
            for (int k = 0; k < 16; k++) s += (double)(float)a[r * 16 + k] * (float)b[k * 16 + c];
            ref[r * 16 + c] = s;
        }
}

static void test_shared_and_half(void)
{
    __half ha[256], hb[256], hh[256], *da, *db, *dh;
    float got[256], *dout;
    double ref[256];
    for (int i = 0; i < 256; i++) {
        ha[i] = __float2half(hval(i, 3));
        hb[i] = __float2half(hval(i, 4));
    }
    reference_16(ref, ha, hb);
    cudaMalloc((void **)&da, sizeof ha);
    cudaMalloc((void **)&db, sizeof hb);
    cudaMalloc((void **)&dh, sizeof hh);
    cudaMalloc((void **)&dout, sizeof got);
    cudaMemcpy(da, ha, sizeof ha, cudaMemcpyHostToDevice);
    cudaMemcpy(db, hb, sizeof hb, cudaMemcpyHostToDevice);
    size_t smem = 2 * 16 * 24 * sizeof(__half) + 16 * 20 * sizeof(float);
    CHECK(WX_LAUNCH(shared_tiles, 1, 32, smem, 0, dout, da, db) == cudaSuccess);
    cudaMemcpy(got, dout, sizeof got, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int i = 0; i < 256; i++) bad += fabs(got[i] - ref[i]) > REL_TOL * (1.0 + fabs(ref[i]));
    CHECK_MSG(bad == 0, "tiles in shared memory: %d wrong", bad);
    CHECK(WX_LAUNCH(half_acc, 1, 32, 0, 0, dh, da, db) == cudaSuccess);
    cudaMemcpy(hh, dh, sizeof hh, cudaMemcpyDeviceToHost);
    bad = 0;
    for (int i = 0; i < 256; i++) bad += (float)hh[i] != (float)__float2half((float)ref[i]);
    CHECK_MSG(bad == 0, "half accumulator: %d outputs differ from the rounded product", bad);
    cudaFree(da), cudaFree(db), cudaFree(dh), cudaFree(dout);
}

/* ---- faults ------------------------------------------------------------------------- */

static bool report_has(const char *a, const char *b = nullptr, const char *c = nullptr)
{
    const char *r = wxemu::last_report();
    bool ok = strstr(r, a) && (!b || strstr(r, b)) && (!c || strstr(r, c));
    if (!ok) fprintf(stderr, "  report was: %s\n", r);
    return ok;
}

/* A 16×16 tile at sm + off with ldm 16 in a 256-half array: off > 0 runs past the end. */
__global__ void shared_tile_oob(float *out, int off)
{
    WX_DYNAMIC_SHARED(__half, sm);
    for (int i = threadIdx.x; i < 256; i += 32) sm[i] = __float2half(1.0f);
    __syncwarp();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::load_matrix_sync(fa, sm + off, 16);
    out[threadIdx.x] = (float)fa.x[0];
}

__global__ void misaligned(float *out, const __half *a, int off, int ldm)
{
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::col_major> fa;
    wmma::load_matrix_sync(fa, a + off, ldm);
    out[threadIdx.x] = (float)fa.x[0];
}

/* Lane 5 leaves before the warp's mma_sync. */
__global__ void lane_exits(float *out, const __half *a)
{
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
    acc_f32 acc;
    wmma::fill_fragment(acc, 0.0f);
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, a, 16);
    if (threadIdx.x == 5) return;
    wmma::mma_sync(acc, fa, fb, acc);
    wmma::store_matrix_sync(out, acc, 16, wmma::mem_row_major);
}

static void check_recovers(float *dout)
{
    CHECK(cudaDeviceSynchronize() != cudaSuccess);
    wxemu::clear_reports();
    CHECK(WX_LAUNCH(shared_tile_oob, 1, 32, 256 * sizeof(__half), 0, dout, 0) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaSuccess && wxemu::last_report()[0] == '\0');
}

static void test_faults(void)
{
    wxemu::set_on_error(wxemu::on_error::record);
    float *dout;
    __half *da;
    cudaMalloc((void **)&dout, sizeof(float) * 256);
    cudaMalloc((void **)&da, sizeof(__half) * 1024);
    CHECK(WX_LAUNCH(shared_tile_oob, 1, 32, 256 * sizeof(__half), 0, dout, 8) ==
          cudaErrorIllegalAddress);
    /* Lane 31 completes the __syncwarp before it and so reaches the load first. */
    CHECK(report_has("kernel shared_tile_oob", "thread (31,0,0)",
                     "shared memory sm: index 263 is outside [0, 256)"));
    check_recovers(dout);
    CHECK(WX_LAUNCH(misaligned, 1, 32, 0, 0, dout, da, 4, 16) == cudaErrorMisalignedAddress);
    CHECK(report_has("kernel misaligned", "wmma::load_matrix_sync", "256-bit aligned"));
    check_recovers(dout);
    CHECK(WX_LAUNCH(misaligned, 1, 32, 0, 0, dout, da, 0, 20) == cudaErrorMisalignedAddress);
    CHECK(report_has("kernel misaligned", "ldm 20 a multiple of 8"));
    check_recovers(dout);
    CHECK(WX_LAUNCH(lane_exits, 1, 32, 0, 0, dout, da) == cudaErrorLaunchFailure);
    CHECK(report_has("kernel lane_exits", "wmma::mma_sync",
                     "lane 5 named in mask 0xffffffff has exited"));
    check_recovers(dout);
    CHECK(WX_LAUNCH(misaligned, 1, 48, 0, 0, dout, da, 0, 16) == cudaErrorLaunchFailure);
    CHECK(report_has("kernel misaligned", "thread (32,0,0)", "this warp does not have"));
    check_recovers(dout);
    cudaFree(dout), cudaFree(da);
}

int main(void)
{
    test_products();
    test_shared_and_half();
    test_faults();
    return wx_test_finish("test_emu_wmma");
}
