/* test_emu_warp.cpp — warp operations under the emulator against scalar references:
 * __shfl_sync / _up / _down / _xor over int, float, half and double with widths 32, 16
 * and 8, __ballot_sync / __any_sync / __all_sync, sub-warp masks, __syncwarp, warp
 * reductions, and blocks whose size is not a multiple of 32 (a short last warp). Exact. */
#include "common.cuh"
#include "wx_test.h"

#define BLOCK 96
#define NOUT 11 /* results per thread */

/* out[t*NOUT + j]: the j-th warp operation's result for thread t. */
__global__ void warp_ops(int *out, const int *in, int width)
{
    int t = threadIdx.x, v = in[blockIdx.x * blockDim.x + t];
    int *o = out + ((size_t)blockIdx.x * blockDim.x + t) * NOUT;
    unsigned full = 0xffffffffu;
    o[0] = __shfl_sync(full, v, (t * 7 + 3) % 32, width);
    o[1] = __shfl_up_sync(full, v, 3, width);
    o[2] = __shfl_down_sync(full, v, 5, width);
    o[3] = __shfl_xor_sync(full, v, 6, width);
    o[4] = (int)__ballot_sync(full, v & 1);
    o[5] = __any_sync(full, v % 97 == 0);
    o[6] = __all_sync(full, v > -1000000);
    o[7] = (int)__shfl_xor_sync(full, (float)v * 0.5f, 1, width);
    o[8] = (int)(float)__shfl_down_sync(full, __float2half((float)(v % 1000)), 1, width);
    o[9] = (int)__shfl_sync(full, (double)v, 31 - t % 32);
    __syncwarp();
    int lane = t % 32, sub = 0;
    if (lane < 16) sub = __shfl_xor_sync(0x0000ffffu, v, 1); /* the low half only */
    else sub = __shfl_xor_sync(0xffff0000u, v, 2);           /* the high half only */
    o[10] = sub;
}

static int ref_shfl(const int *w, int lane, int src, int width)
{
    return w[(lane / width) * width + (src % width)];
}

static void reference(const int *in, int *ref, int n, int width)
{
    for (int t = 0; t < n; t++) {
        const int *w = in + t / 32 * 32;
        int lane = t % 32, seg = lane / width * width, *r = ref + (size_t)t * NOUT;
        unsigned ballot = 0;
        int any = 0, all = 1;
        for (int l = 0; l < 32; l++) {
            ballot |= (unsigned)(w[l] & 1) << l;
            any |= w[l] % 97 == 0;
            all &= w[l] > -1000000;
        }
        r[0] = ref_shfl(w, lane, (t * 7 + 3) % 32, width);
        r[1] = lane - 3 >= seg ? w[lane - 3] : w[lane];
        r[2] = lane + 5 < seg + width ? w[lane + 5] : w[lane];
        r[3] = (lane ^ 6) < seg + width ? w[lane ^ 6] : w[lane];
        r[4] = (int)ballot;
        r[5] = any;
        r[6] = all;
        r[7] = (int)((float)((lane ^ 1) < seg + width ? w[lane ^ 1] : w[lane]) * 0.5f);
        r[8] = lane + 1 < seg + width ? w[lane + 1] % 1000 : w[lane] % 1000;
        r[9] = w[31 - lane];
        r[10] = lane < 16 ? w[lane ^ 1] : w[16 + ((lane - 16) ^ 2)];
    }
}

/* Sum of the warp by shuffles, written by lane 0 of each warp. */
__global__ void warp_reduce(float *out, const float *x)
{
    float v = x[threadIdx.x];
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    if (threadIdx.x % 32 == 0) out[threadIdx.x / 32] = v;
}

/* A block of 40 threads: the second warp has 8 lanes and names only those. */
__global__ void short_warp(int *out)
{
    unsigned mask = threadIdx.x < 32 ? 0xffffffffu : 0xffu;
    int from_lane0 = __shfl_sync(mask, (int)threadIdx.x * 10, 0);
    out[threadIdx.x] = from_lane0 + __popc(__ballot_sync(mask, 1));
}

static void test_ops(int width)
{
    const int blocks = 2, n = blocks * BLOCK;
    int in[n], *ref = (int *)malloc(sizeof(int) * n * NOUT), *got = (int *)malloc(sizeof(int) * n * NOUT);
    unsigned s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        in[i] = (int)(s >> 8) % 5000 - 2500;
    }
    int *din, *dout;
    cudaMalloc((void **)&din, sizeof in);
    cudaMalloc((void **)&dout, sizeof(int) * n * NOUT);
    cudaMemcpy(din, in, sizeof in, cudaMemcpyHostToDevice);
    CHECK(WX_LAUNCH(warp_ops, blocks, BLOCK, 0, 0, dout, din, width) == cudaSuccess);
    cudaMemcpy(got, dout, sizeof(int) * n * NOUT, cudaMemcpyDeviceToHost);
    for (int b = 0; b < blocks; b++) reference(in + b * BLOCK, ref + b * BLOCK * NOUT, BLOCK, width);
    for (int j = 0; j < NOUT; j++) {
        int bad = 0, first = -1;
        for (int t = 0; t < n; t++)
            if (got[t * NOUT + j] != ref[t * NOUT + j] && bad++ == 0) first = t;
        CHECK_MSG(bad == 0, "width %d op %d: %d wrong, first thread %d: got %d want %d", width, j,
                  bad, first, first < 0 ? 0 : got[first * NOUT + j], first < 0 ? 0 : ref[first * NOUT + j]);
    }
    cudaFree(din);
    cudaFree(dout);
    free(ref);
    free(got);
}

static void test_reduce(void)
{
    float x[128], out[4], *dx, *dout;
    for (int i = 0; i < 128; i++) x[i] = (float)(i % 13) - 6.0f;
    cudaMalloc((void **)&dx, sizeof x);
    cudaMalloc((void **)&dout, sizeof out);
    cudaMemcpy(dx, x, sizeof x, cudaMemcpyHostToDevice);
    CHECK(WX_LAUNCH(warp_reduce, 1, 128, 0, 0, dout, dx) == cudaSuccess);
    cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost);
    for (int w = 0; w < 4; w++) {
        float ref = 0.0f;
        for (int i = 0; i < 32; i++) ref += x[w * 32 + i];
        CHECK(out[w] == ref); /* small integers: exact */
    }
    cudaFree(dx);
    cudaFree(dout);
}

static void test_short_warp(void)
{
    int out[40], *dout;
    cudaMalloc((void **)&dout, sizeof out);
    CHECK(WX_LAUNCH(short_warp, 1, 40, 0, 0, dout) == cudaSuccess);
    cudaMemcpy(out, dout, sizeof out, cudaMemcpyDeviceToHost);
    CHECK(out[0] == 0 + 32 && out[31] == 0 + 32);
    CHECK(out[32] == 320 + 8 && out[39] == 320 + 8);
    cudaFree(dout);
}

int main(void)
{
    test_ops(32);
    test_ops(16);
    test_ops(8);
    test_reduce();
    test_short_warp();
    return wx_test_finish("test_emu_warp");
}
