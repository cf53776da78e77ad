/* bench_emu.cpp — speed figures of the emulator (a command, not a test): the cost of one
 * fiber switch, measured as __syncthreads round trips, and the time of emulated launches
 * of the sizes the models use (layer norm over 1500 × 384, one warp per row). */
#include <stdio.h>
#include <time.h>

#include "common.cuh"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

__global__ void barrier_loop(int iters)
{
    for (int i = 0; i < iters; i++) __syncthreads();
}

__device__ __forceinline__ float warp_sum(float v)
{
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

/* The kernels engineer's layout: one warp per row, four rows per 128-thread block. */
__global__ void layer_norm_rows(float *out, const float *x, const float *g, const float *b,
                                int rows, int d)
{
    int lane = threadIdx.x % 32, row = blockIdx.x * 4 + threadIdx.x / 32;
    if (row >= rows) return;
    const float *xr = x + (size_t)row * d;
    float s = 0.0f;
    for (int i = lane; i < d; i += 32) s += xr[i];
    float mean = warp_sum(s) / d, v = 0.0f;
    for (int i = lane; i < d; i += 32) v += (xr[i] - mean) * (xr[i] - mean);
    float rstd = rsqrtf(warp_sum(v) / d + 1e-5f);
    for (int i = lane; i < d; i += 32) out[(size_t)row * d + i] = (xr[i] - mean) * rstd * g[i] + b[i];
}

int main(void)
{
    const int threads = 256, iters = 2000;
    double t0 = now_s();
    WX_LAUNCH(barrier_loop, 1, threads, 0, 0, iters);
    double t = now_s() - t0;
    /* each thread switches out and back in per barrier: 2 switches */
    printf("fiber switch: %.1f ns (%d threads x %d barriers in %.3f s)\n",
           t * 1e9 / (2.0 * threads * iters), threads, iters, t);

    const int rows = 1500, d = 384;
    float *x, *out, *g, *b;
    cudaMalloc((void **)&x, sizeof(float) * rows * d);
    cudaMalloc((void **)&out, sizeof(float) * rows * d);
    cudaMalloc((void **)&g, sizeof(float) * d);
    cudaMalloc((void **)&b, sizeof(float) * d);
    cudaMemset(x, 0, sizeof(float) * rows * d);
    cudaMemset(g, 0, sizeof(float) * d);
    cudaMemset(b, 0, sizeof(float) * d);
    t0 = now_s();
    WX_LAUNCH(layer_norm_rows, (rows + 3) / 4, 128, 0, 0, out, x, g, b, rows, d);
    printf("layer norm %d x %d (%d blocks of 128, 10 shuffles per warp): %.3f s\n", rows, d,
           (rows + 3) / 4, now_s() - t0);
    cudaFree(x);
    cudaFree(out);
    cudaFree(g);
    cudaFree(b);
    return 0;
}
