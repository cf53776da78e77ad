/* test_emu_checks.cpp — the emulator's failure detections, in its recording mode: shared
 * memory out of bounds (static and dynamic, through a derived view), launches with empty
 * or oversize blocks, over WX_KERNEL_BOUNDS, over the shared-memory budget (with and
 * without the opt-in), a __syncthreads that some threads skip or reach at different
 * places, and warp operations with lanes that exited, a mask without the caller, or a
 * lane stuck at a barrier. Each report must name the kernel and the thread; the emulator
 * must keep working after each failure. A missing __syncthreads must show as NaN. */
#include <string.h>

#include "common.cuh"
#include "wx_test.h"

static bool report_has(const char *a, const char *b = nullptr, const char *c = nullptr)
{
    const char *r = wxemu::last_report();
    bool ok = strstr(r, a) && (!b || strstr(r, b)) && (!c || strstr(r, c));
    if (!ok) fprintf(stderr, "  report was: %s\n", r);
    return ok;
}

__global__ void shared_oob(float *out)
{
    WX_SHARED(float, tile, 32);
    tile[threadIdx.x + 1] = 1.0f; /* thread 31 writes tile[32] */
    __syncthreads();
    out[threadIdx.x] = tile[threadIdx.x];
}

__global__ void dynamic_oob(float *out, int n)
{
    WX_DYNAMIC_SHARED(float, buf);
    auto second_half = buf + n / 2;
    second_half[threadIdx.x] = 2.0f; /* n/2 + threadIdx.x reaches n */
    out[threadIdx.x] = buf[threadIdx.x];
}

__global__ void __launch_bounds__(128) bounded(float *out) { out[threadIdx.x] = 0.0f; }
WX_KERNEL_BOUNDS(bounded, 128)

__global__ void big_static(float *out)
{
    WX_SHARED(float, big, 10240); /* 40 KiB */
    big[threadIdx.x] = 1.0f;
    out[threadIdx.x] = big[threadIdx.x];
}

__global__ void too_big_static(float *out)
{
    WX_SHARED(float, a, 8192);
    WX_SHARED(float, b, 6144); /* 32 + 24 KiB > 48 KiB */
    a[0] = b[0] = 1.0f;
    out[threadIdx.x] = a[0] + b[0];
}

__global__ void sync_after_return(float *out)
{
    if (threadIdx.x >= 48) return;
    out[threadIdx.x] = 1.0f;
    __syncthreads();
}

__global__ void sync_two_places(float *out)
{
    if (threadIdx.x % 2) {
        __syncthreads();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 0.0f;
}

__global__ void shfl_exited_lane(float *out)
{
    if (threadIdx.x == 5) return;
    out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.0f, 0);
}

__global__ void shfl_mask_without_me(float *out)
{
    out[threadIdx.x] = __shfl_sync(0x0000ffffu, 1.0f, 0); /* lanes 16..31 are not in it */
}

__global__ void shfl_vs_barrier(float *out)
{
    float v = 1.0f;
    if (threadIdx.x < 16) v = __shfl_xor_sync(0xffffffffu, v, 1);
    else __syncthreads();
    out[threadIdx.x] = v;
}

/* Thread 0 publishes a value that the others read without a __syncthreads. */
__global__ void missing_sync(float *out)
{
    WX_SHARED(float, total, 1);
    if (threadIdx.x == 0) total[0] = 42.0f;
    out[blockIdx.x * blockDim.x + threadIdx.x] = total[0];
}

__global__ void fine(float *out) { out[threadIdx.x] = (float)threadIdx.x; }

static float *dout;

/* After any failure: a normal launch succeeds and the error state clears. */
static void check_recovers(void)
{
    CHECK(cudaDeviceSynchronize() != cudaSuccess || cudaPeekAtLastError() != cudaSuccess);
    wxemu::clear_reports();
    CHECK(WX_LAUNCH(fine, 2, 256, 0, 0, dout) == cudaSuccess);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(wxemu::last_report()[0] == '\0');
}

static void test_shared_bounds(void)
{
    CHECK(WX_LAUNCH(shared_oob, 3, 32, 0, 0, dout) == cudaErrorIllegalAddress);
    CHECK(report_has("kernel shared_oob", "block (0,0,0), thread (31,0,0)", "tile: index 32"));
    CHECK(cudaGetLastError() == cudaErrorIllegalAddress); /* sticky, as on a GPU */
    CHECK(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
    check_recovers();
    CHECK(WX_LAUNCH(dynamic_oob, 1, 64, 64 * sizeof(float), 0, dout, 64) == cudaErrorIllegalAddress);
    CHECK(report_has("kernel dynamic_oob", "thread (32,0,0)", "buf: index 64 is outside [0, 64)"));
    check_recovers();
}

static void test_launch_limits(void)
{
    CHECK(WX_LAUNCH(fine, 1, 2048, 0, 0, dout) == cudaErrorInvalidConfiguration);
    CHECK(report_has("launch of kernel fine", "2048 threads"));
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
    CHECK(cudaGetLastError() == cudaSuccess); /* configuration errors are not sticky */
    CHECK(WX_LAUNCH(fine, dim3(4, 0, 1), 32, 0, 0, dout) == cudaErrorInvalidConfiguration);
    CHECK(report_has("kernel fine", "empty grid"));
    CHECK(WX_LAUNCH(fine, 1, dim3(0), 0, 0, dout) == cudaErrorInvalidConfiguration);
    CHECK(report_has("kernel fine", "empty block"));
    CHECK(WX_LAUNCH(bounded, 1, 256, 0, 0, dout) == cudaErrorLaunchOutOfResources);
    CHECK(report_has("kernel bounded", "WX_KERNEL_BOUNDS of 128"));
    CHECK(WX_LAUNCH(bounded, 1, 128, 0, 0, dout) == cudaSuccess);
    CHECK(WX_LAUNCH(fine, 1, 32, 64 * 1024, 0, dout) == cudaErrorInvalidValue);
    CHECK(report_has("kernel fine", "65536 bytes of dynamic shared memory"));
    CHECK(cudaFuncSetAttribute(fine, cudaFuncAttributeMaxDynamicSharedMemorySize, 300 * 1024) ==
          cudaErrorInvalidValue);
    CHECK(cudaFuncSetAttribute(fine, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024) ==
          cudaSuccess);
    CHECK(WX_LAUNCH(fine, 1, 32, 64 * 1024, 0, dout) == cudaSuccess);
    CHECK(WX_LAUNCH(big_static, 1, 32, 16 * 1024, 0, dout) == cudaErrorInvalidValue);
    CHECK(report_has("kernel big_static", "thread (0,0,0)", "exceeds the kernel's budget of 49152"));
    CHECK(WX_LAUNCH(too_big_static, 1, 32, 0, 0, dout) == cudaErrorInvalidValue);
    CHECK(report_has("kernel too_big_static", "shared array b", "48 KiB static limit"));
    CHECK(WX_LAUNCH(big_static, 1, 32, 8 * 1024, 0, dout) == cudaSuccess);
    cudaStream_t s;
    cudaStreamCreate(&s);
    cudaStreamDestroy(s);
    CHECK(WX_LAUNCH(fine, 1, 32, 0, s, dout) == cudaErrorInvalidResourceHandle);
    check_recovers();
}

static void test_divergence(void)
{
    CHECK(WX_LAUNCH(sync_after_return, 2, 64, 0, 0, dout) == cudaErrorLaunchFailure);
    CHECK(report_has("kernel sync_after_return", "thread (0,0,0)",
                     "reached by 48 of 64 threads; thread (48,0,0) exited"));
    check_recovers();
    CHECK(WX_LAUNCH(sync_two_places, 1, 64, 0, 0, dout) == cudaErrorLaunchFailure);
    CHECK(report_has("kernel sync_two_places", "thread (1,0,0)", "divergent barrier"));
    check_recovers();
    CHECK(WX_LAUNCH(shfl_exited_lane, 1, 32, 0, 0, dout) == cudaErrorLaunchFailure);
    CHECK(report_has("kernel shfl_exited_lane", "thread (6,0,0)", "lane 5 named in mask 0xffffffff has exited"));
    check_recovers();
    CHECK(WX_LAUNCH(shfl_mask_without_me, 1, 32, 0, 0, dout) == cudaErrorLaunchFailure);
    CHECK(report_has("kernel shfl_mask_without_me", "thread (16,0,0)", "leaves out the calling lane 16"));
    check_recovers();
    CHECK(WX_LAUNCH(shfl_vs_barrier, 1, 32, 0, 0, dout) == cudaErrorLaunchFailure);
    CHECK(report_has("kernel shfl_vs_barrier", "thread (0,0,0)", "lane 16 waits at __syncthreads"));
    check_recovers();
    CHECK(WX_LAUNCH(fine, 1, 40, 0, 0, dout) == cudaSuccess);
}

/* The missing barrier shows: odd blocks run their threads in descending order and
 * read the poisoned (NaN) shared value. */
static void test_missing_sync(void)
{
    float got[4 * 32];
    CHECK(WX_LAUNCH(missing_sync, 4, 32, 0, 0, dout) == cudaSuccess);
    cudaMemcpy(got, dout, sizeof got, cudaMemcpyDeviceToHost);
    CHECK(got[1] == 42.0f);           /* block 0: ascending, thread 0 wrote first */
    CHECK(got[32 + 1] != got[32 + 1]); /* block 1: descending, thread 1 read NaN */
}

int main(void)
{
    wxemu::set_on_error(wxemu::on_error::record);
    CHECK(cudaMalloc((void **)&dout, sizeof(float) * 1024) == cudaSuccess);
    test_shared_bounds();
    test_launch_limits();
    test_divergence();
    test_missing_sync();
    cudaFree(dout);
    return wx_test_finish("test_emu_checks");
}
