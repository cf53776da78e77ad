/* test_emu_block.cpp — the emulator runs blocks correctly: a block reduction through
 * static shared memory and __syncthreads, a 3-D grid and block with every index seen once,
 * dynamic shared memory (also above 48 KiB after cudaFuncSetAttribute), atomics, and the
 * runtime calls around a launch. Exact integer results; float sums to 1e-5 relative. */
#include "common.cuh"
#include "wx_test.h"

#define RED_THREADS 256

/* out[blockIdx.x] = sum of x[blockIdx.x*n .. +n) by a shared-memory tree. */
__global__ void __launch_bounds__(RED_THREADS) block_sum(float *out, const float *x, int n)
{
    WX_SHARED(float, partial, RED_THREADS);
    const float *row = x + (size_t)blockIdx.x * n;
    float s = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += row[i];
    partial[threadIdx.x] = s;
    __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if ((int)threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = partial[0];
}
WX_KERNEL_BOUNDS(block_sum, RED_THREADS)

/* Every (block, thread) writes its linear id once; a counter counts the threads. */
__global__ void index_map(int *seen, unsigned *count)
{
    unsigned bid = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    unsigned tid = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    unsigned nthreads = blockDim.x * blockDim.y * blockDim.z;
    atomicAdd(&seen[bid * nthreads + tid], 1);
    atomicAdd(count, 1u);
}

/* Reverses n ints through dynamic shared memory viewed as int and as float. */
__global__ void reverse_dynamic(int *out, const int *in, int n)
{
    WX_DYNAMIC_SHARED(int, buf);
    WX_DYNAMIC_SHARED(float, as_float);
    for (int i = threadIdx.x; i < n; i += blockDim.x) buf[i] = in[i];
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = buf[n - 1 - i];
    auto tail = as_float + (n - 1);
    if (threadIdx.x == 0) out[n] = (int)(tail[0] == tail[0]); /* an int's bits as float */
}

/* atomicMax, atomicCAS (float max by CAS loop) and float atomicAdd over a grid. */
__global__ void atomics(int *imax, float *fmax, float *fsum, const float *x, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    atomicMax(imax, (int)(x[i] * 1000.0f));
    atomicAdd(fsum, x[i]);
    int *addr = (int *)fmax;
    int old = *addr;
    while (__int_as_float(old) < x[i]) {
        int assumed = old;
        old = atomicCAS(addr, assumed, __float_as_int(x[i]));
        if (old == assumed) break;
    }
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

static void test_block_sum(void)
{
    const int rows = 37, n = 1000;
    float *hx = (float *)malloc(sizeof(float) * rows * n), hout[rows];
    unsigned seed = 1;
    for (int i = 0; i < rows * n; i++) hx[i] = frand(&seed);
    float *dx, *dout;
    CHECK(cudaMalloc((void **)&dx, sizeof(float) * rows * n) == cudaSuccess);
    CHECK(cudaMalloc((void **)&dout, sizeof(float) * rows) == cudaSuccess);
    CHECK(cudaMemcpy(dx, hx, sizeof(float) * rows * n, cudaMemcpyHostToDevice) == cudaSuccess);
    cudaStream_t s;
    CHECK(cudaStreamCreate(&s) == cudaSuccess);
    CHECK(WX_LAUNCH(block_sum, rows, RED_THREADS, 0, s, dout, dx, n) == cudaSuccess);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    CHECK(cudaMemcpyAsync(hout, dout, sizeof hout, cudaMemcpyDeviceToHost, s) == cudaSuccess);
    for (int r = 0; r < rows; r++) {
        double ref = 0;
        for (int i = 0; i < n; i++) ref += hx[r * n + i];
        CHECK_NEAR(hout[r], ref, 1e-5 + 1e-5 * fabs(ref) * n); /* fp32 sums of n terms */
    }
    CHECK(cudaStreamDestroy(s) == cudaSuccess);
    cudaFree(dx);
    cudaFree(dout);
    free(hx);
}

static void test_index_map(void)
{
    dim3 grid(3, 2, 2), block(5, 4, 3);
    int total = 3 * 2 * 2 * 5 * 4 * 3;
    int *dseen, *hseen = (int *)malloc(sizeof(int) * total);
    unsigned *dcount, hcount = 0;
    CHECK(cudaMalloc((void **)&dseen, sizeof(int) * total) == cudaSuccess);
    CHECK(cudaMalloc((void **)&dcount, sizeof(unsigned)) == cudaSuccess);
    CHECK(cudaMemset(dseen, 0, sizeof(int) * total) == cudaSuccess);
    CHECK(cudaMemsetAsync(dcount, 0, sizeof(unsigned), 0) == cudaSuccess);
    CHECK(WX_LAUNCH(index_map, grid, block, 0, 0, dseen, dcount) == cudaSuccess);
    CHECK(cudaMemcpy(hseen, dseen, sizeof(int) * total, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(cudaMemcpy(&hcount, dcount, sizeof hcount, cudaMemcpyDeviceToHost) == cudaSuccess);
    int ones = 0;
    for (int i = 0; i < total; i++) ones += hseen[i] == 1;
    CHECK(ones == total);
    CHECK(hcount == (unsigned)total);
    cudaFree(dseen);
    cudaFree(dcount);
    free(hseen);
}

static void test_dynamic_shared(int n)
{
    int *hin = (int *)malloc(sizeof(int) * n), *hout = (int *)malloc(sizeof(int) * (n + 1));
    for (int i = 0; i < n; i++) hin[i] = i * 7 - 3;
    int *din, *dout;
    CHECK(cudaMalloc((void **)&din, sizeof(int) * n) == cudaSuccess);
    CHECK(cudaMalloc((void **)&dout, sizeof(int) * (n + 1)) == cudaSuccess);
    CHECK(cudaMemcpy(din, hin, sizeof(int) * n, cudaMemcpyHostToDevice) == cudaSuccess);
    size_t smem = sizeof(int) * n;
    if (smem > 48 * 1024)
        CHECK(cudaFuncSetAttribute(reverse_dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   (int)smem) == cudaSuccess);
    CHECK(WX_LAUNCH(reverse_dynamic, 1, 96, smem, 0, dout, din, n) == cudaSuccess);
    CHECK(cudaMemcpy(hout, dout, sizeof(int) * (n + 1), cudaMemcpyDeviceToHost) == cudaSuccess);
    int good = 0;
    for (int i = 0; i < n; i++) good += hout[i] == hin[n - 1 - i];
    CHECK_MSG(good == n, "n=%d: %d of %d reversed", n, good, n);
    CHECK(hout[n] == 1);
    cudaFree(din);
    cudaFree(dout);
    free(hin);
    free(hout);
}

static void test_atomics(void)
{
    const int n = 3000;
    float *hx = (float *)malloc(sizeof(float) * n);
    unsigned seed = 7;
    double ref_sum = 0;
    float ref_max = -1e30f;
    for (int i = 0; i < n; i++) {
        hx[i] = frand(&seed) * 10.0f;
        ref_sum += hx[i];
        ref_max = hx[i] > ref_max ? hx[i] : ref_max;
    }
    float *dx, *dvals;
    int *dimax;
    float init[2] = {-1e30f, 0.0f}, got[2];
    int imin = -2147483647, gotmax;
    CHECK(cudaMalloc((void **)&dx, sizeof(float) * n) == cudaSuccess);
    CHECK(cudaMalloc((void **)&dvals, sizeof init) == cudaSuccess);
    CHECK(cudaMalloc((void **)&dimax, sizeof(int)) == cudaSuccess);
    CHECK(cudaMemcpy(dx, hx, sizeof(float) * n, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(dvals, init, sizeof init, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(dimax, &imin, sizeof imin, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(WX_LAUNCH(atomics, (n + 127) / 128, 128, 0, 0, dimax, dvals, dvals + 1, dx, n) ==
          cudaSuccess);
    CHECK(cudaMemcpy(got, dvals, sizeof got, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(cudaMemcpy(&gotmax, dimax, sizeof gotmax, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(got[0] == ref_max);
    CHECK(gotmax == (int)(ref_max * 1000.0f));
    CHECK_NEAR(got[1], ref_sum, 1e-5 * n * 10.0); /* fp32 running sum of n terms ≤ 5 */
    cudaFree(dx);
    cudaFree(dvals);
    cudaFree(dimax);
    free(hx);
}

int main(void)
{
    test_block_sum();
    test_index_map();
    test_dynamic_shared(1000);
    test_dynamic_shared(30000); /* 120 KB: needs the opt-in */
    test_atomics();
    return wx_test_finish("test_emu_block");
}
