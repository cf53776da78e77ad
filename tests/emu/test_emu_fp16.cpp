/* test_emu_fp16.cpp — the emulator's half type against the CPU's conversions in wx_base:
 * every one of the 65536 halves widens to the same float, halves round-trip exactly, a
 * sweep of floats (normals, subnormals, ties, overflow, inf, nan) narrows to the same
 * bits, and half arithmetic and half2 helpers round once, in a kernel. Exact. */
#include <string.h>

#include "common.cuh"
#include "wx_test.h"

extern "C" {
#include "base/wx_base.h"
}

static uint32_t float_bits(float f)
{
    uint32_t b;
    memcpy(&b, &f, 4);
    return b;
}

static float bits_float(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static void test_widen_all(void)
{
    int bad_widen = 0, bad_trip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float ours = __half2float(__ushort_as_half((unsigned short)h));
        float ref = wx_f16_to_f32((uint16_t)h);
        bool both_nan = ours != ours && ref != ref;
        if (!both_nan && float_bits(ours) != float_bits(ref)) bad_widen++;
        if (!both_nan && __half_as_ushort(__float2half(ours)) != h) bad_trip++;
    }
    CHECK_MSG(bad_widen == 0, "%d halves widen differently from wx_f16_to_f32", bad_widen);
    CHECK_MSG(bad_trip == 0, "%d halves do not round-trip", bad_trip);
}

static void test_narrow_sweep(void)
{
    int bad = 0, checked = 0;
    /* every 4099th float bit pattern, plus the neighbourhood of each half boundary */
    for (uint64_t b = 0; b <= 0xffffffffull; b += 4099) {
        float f = bits_float((uint32_t)b);
        if (f != f) continue; /* nan payloads: checked below */
        checked++;
        if (__half_as_ushort(__float2half(f)) != wx_f32_to_f16(f)) bad++;
    }
    for (uint32_t h = 0; h < 0x7c00; h++) { /* ties and near-ties between halves */
        float lo = wx_f16_to_f32((uint16_t)h), hi = wx_f16_to_f32((uint16_t)(h + 1));
        float mid = lo + (hi - lo) * 0.5f;
        const float probes[] = {mid, nextafterf(mid, 0.0f), nextafterf(mid, 1e9f), -mid};
        for (float p : probes) {
            checked++;
            if (__half_as_ushort(__float2half(p)) != wx_f32_to_f16(p)) bad++;
        }
    }
    CHECK_MSG(bad == 0, "%d of %d floats narrow differently from wx_f32_to_f16", bad, checked);
    CHECK(__half_as_ushort(__float2half(65519.0f)) == 0x7bff);
    CHECK(__half_as_ushort(__float2half(65520.0f)) == 0x7c00);
    CHECK(__half_as_ushort(__float2half(-INFINITY)) == 0xfc00);
    CHECK(__hisnan(__float2half(NAN)));
    CHECK(__half_as_ushort(__float2half(5.9604645e-08f)) == 0x0001); /* smallest subnormal */
    CHECK(__half_as_ushort(__float2half(2.9802322e-08f)) == 0x0000); /* its half: tie to even */
}

/* r[0..5]: hadd, hmul, hfma, hmax of a and b; half2 lanes; half operators. */
__global__ void half_math(float *r, const __half *a, const __half *b)
{
    int i = threadIdx.x;
    float *o = r + i * 6;
    o[0] = __half2float(__hadd(a[i], b[i]));
    o[1] = __half2float(__hmul(a[i], b[i]));
    o[2] = __half2float(__hfma(a[i], b[i], a[i]));
    o[3] = __half2float(__hmax(a[i], b[i]));
    __half2 p = __hadd2(__halves2half2(a[i], b[i]), __half2half2(b[i]));
    o[4] = __low2float(p);
    o[5] = (float)(a[i] * b[i] - b[i]);
}

static void test_kernel_math(void)
{
    const int n = 64;
    __half ha[n], hb[n];
    float got[n * 6];
    for (int i = 0; i < n; i++) {
        ha[i] = __float2half(0.37f * (float)(i - 30));
        hb[i] = __float2half(1.0f / (float)(i + 1));
    }
    __half *da, *db;
    float *dr;
    cudaMalloc((void **)&da, sizeof ha);
    cudaMalloc((void **)&db, sizeof hb);
    cudaMalloc((void **)&dr, sizeof got);
    cudaMemcpy(da, ha, sizeof ha, cudaMemcpyHostToDevice);
    cudaMemcpy(db, hb, sizeof hb, cudaMemcpyHostToDevice);
    CHECK(WX_LAUNCH(half_math, 1, n, 0, 0, dr, da, db) == cudaSuccess);
    cudaMemcpy(got, dr, sizeof got, cudaMemcpyDeviceToHost);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float a = wx_f16_to_f32(__half_as_ushort(ha[i])), b = wx_f16_to_f32(__half_as_ushort(hb[i]));
        auto r = [](float x) { return wx_f16_to_f32(wx_f32_to_f16(x)); };
        float ref[6] = {r(a + b), r(a * b), r((float)((double)a * b + a)), a > b ? a : b,
                        r(a + b), r(r(a * b) - b)};
        for (int j = 0; j < 6; j++) bad += got[i * 6 + j] != ref[j];
    }
    CHECK_MSG(bad == 0, "%d half results differ from one rounding of the float result", bad);
    cudaFree(da);
    cudaFree(db);
    cudaFree(dr);
}

int main(void)
{
    test_widen_all();
    test_narrow_sweep();
    test_kernel_math();
    return wx_test_finish("test_emu_fp16");
}
