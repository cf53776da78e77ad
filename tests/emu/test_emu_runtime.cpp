/* test_emu_runtime.cpp — the CUDA runtime stand-ins: allocation and copies in every
 * direction, copies and memsets reaching outside an allocation or into host memory,
 * frees of foreign pointers, pinned memory, streams, events, the emulated device's
 * properties and versions, error strings, and the default mode that aborts with the
 * report on stderr (checked in a child process). Exact. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.cuh"
#include "wx_test.h"

static void test_memory(void)
{
    char host[64], back[64];
    for (int i = 0; i < 64; i++) host[i] = (char)i;
    char *d, *d2, *pinned;
    CHECK(cudaMalloc((void **)&d, 64) == cudaSuccess);
    CHECK(cudaMalloc((void **)&d2, 64) == cudaSuccess);
    CHECK(((uintptr_t)d & 255) == 0);
    CHECK((unsigned char)d[0] == 0xff); /* fresh device memory is poisoned */
    CHECK(cudaMemcpy(d, host, 64, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(d2, d, 64, cudaMemcpyDeviceToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(back, d2, 64, cudaMemcpyDefault) == cudaSuccess);
    CHECK(memcmp(host, back, 64) == 0);
    CHECK(cudaMallocHost((void **)&pinned, 64) == cudaSuccess);
    CHECK(cudaMemcpyAsync(pinned, d, 64, cudaMemcpyDeviceToHost, 0) == cudaSuccess);
    CHECK(memcmp(host, pinned, 64) == 0);
    CHECK(cudaMemset(d + 8, 7, 8) == cudaSuccess);
    CHECK(cudaMemcpy(back, d, 64, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(back[7] == 7 && back[8] == 7 && back[15] == 7 && back[16] == 16);

    wxemu::set_on_error(wxemu::on_error::record);
    CHECK(cudaMemcpy(d + 32, host, 64, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
    CHECK(strstr(wxemu::last_report(), "cudaMemcpy: destination") != nullptr);
    CHECK(cudaGetLastError() == cudaErrorInvalidValue);
    CHECK(cudaGetLastError() == cudaSuccess);
    CHECK(cudaMemcpy(back, host, 64, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue);
    CHECK(cudaMemcpy(d, host, 8, (cudaMemcpyKind)9) == cudaErrorInvalidMemcpyDirection);
    CHECK(cudaMemsetAsync(d, 0, 65, 0) == cudaErrorInvalidValue);
    CHECK(cudaFree(host) == cudaErrorInvalidValue);
    CHECK(cudaFreeHost(d) == cudaErrorInvalidValue);
    wxemu::clear_reports();
    wxemu::set_on_error(wxemu::on_error::abort_process);

    CHECK(cudaFree(nullptr) == cudaSuccess);
    CHECK(cudaFreeHost(pinned) == cudaSuccess);
    CHECK(cudaFree(d) == cudaSuccess);
    CHECK(cudaFree(d2) == cudaSuccess);
    size_t free_b = 0, total_b = 0;
    CHECK(cudaMemGetInfo(&free_b, &total_b) == cudaSuccess && total_b > 0 && free_b <= total_b);
}

static void test_streams_events(void)
{
    cudaStream_t s;
    cudaEvent_t a, b;
    float ms = -1.0f;
    CHECK(cudaStreamCreate(&s) == cudaSuccess);
    CHECK(cudaEventCreate(&a) == cudaSuccess && cudaEventCreate(&b) == cudaSuccess);
    CHECK(cudaEventRecord(a, s) == cudaSuccess);
    CHECK(cudaEventRecord(b, s) == cudaSuccess);
    CHECK(cudaEventSynchronize(b) == cudaSuccess);
    CHECK(cudaEventElapsedTime(&ms, a, b) == cudaSuccess && ms >= 0.0f);
    CHECK(cudaStreamSynchronize(s) == cudaSuccess);
    CHECK(cudaEventDestroy(a) == cudaSuccess && cudaEventDestroy(b) == cudaSuccess);
    CHECK(cudaStreamDestroy(s) == cudaSuccess);
    wxemu::set_on_error(wxemu::on_error::record);
    CHECK(cudaStreamSynchronize(s) == cudaErrorInvalidResourceHandle);
    CHECK(cudaStreamDestroy(s) == cudaErrorInvalidResourceHandle);
    wxemu::clear_reports();
    wxemu::set_on_error(wxemu::on_error::abort_process);
    CHECK(cudaDeviceSynchronize() == cudaSuccess);
}

static void test_device(void)
{
    int n = 0, v = 0;
    cudaDeviceProp p;
    CHECK(cudaGetDeviceCount(&n) == cudaSuccess && n == 1);
    CHECK(cudaSetDevice(0) == cudaSuccess);
    CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
    CHECK(strcmp(p.name, "wx-emu") == 0 && p.major == 9 && p.minor == 0);
    CHECK(p.multiProcessorCount == 132 && p.warpSize == 32 && p.maxThreadsPerBlock == 1024);
    CHECK(p.sharedMemPerBlock == 48 * 1024 && p.sharedMemPerBlockOptin == 227 * 1024);
    CHECK(p.totalGlobalMem > 0);
    CHECK(cudaDriverGetVersion(&v) == cudaSuccess && v == 13000);
    CHECK(cudaRuntimeGetVersion(&v) == cudaSuccess && v == 13000);
    CHECK(strcmp(cudaGetErrorString(cudaErrorInvalidValue), "invalid argument") == 0);
    CHECK(strcmp(cudaGetErrorName(cudaErrorLaunchFailure), "cudaErrorLaunchFailure") == 0);
    wxemu::set_on_error(wxemu::on_error::record);
    CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);
    wxemu::clear_reports();
    wxemu::set_on_error(wxemu::on_error::abort_process);
}

__global__ void oob_write(float *out)
{
    WX_SHARED(float, s, 4);
    s[threadIdx.x] = 1.0f;
    out[0] = s[0];
}

/* The default mode: the report goes to stderr and the process aborts. */
static void test_abort_mode(void)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        float *d;
        cudaMalloc((void **)&d, 4);
        WX_LAUNCH(oob_write, 1, 8, 0, 0, d);
        _exit(0);
    }
    close(fds[1]);
    char buf[1024] = {0};
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0) got += (size_t)r;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK_MSG(strstr(buf, "wx-emu: kernel oob_write, block (0,0,0), thread (4,0,0): shared memory s: index 4") != nullptr,
              "stderr was: %s", buf);
}

int main(void)
{
    test_memory();
    test_streams_events();
    test_device();
    test_abort_mode();
    return wx_test_finish("test_emu_runtime");
}
