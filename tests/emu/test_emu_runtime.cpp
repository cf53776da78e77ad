/* test_emu_runtime.cpp — the CUDA runtime stand-ins: allocation and copies in every
 * direction, copies and memsets reaching outside an allocation or into host memory,
 * frees of foreign pointers, pinned memory, streams, events, the emulated device's
 * properties and versions, error strings, stream capture and graphs (recorded work runs at
 * each graph launch, reading the argument values of the capture and the memory of the
 * launch; calls a GPU refuses while capturing invalidate the capture), and the default mode
 * that aborts with the report on stderr (checked in a child process), and the deferred mode
 * (work waits for a synchronising call; pageable bytes are taken at the call). Exact. */
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

/* x[i] += step[0] * add for i < n. */
__global__ void add_scaled(int *x, const int *step, int add, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] += step[0] * add;
}

static void test_graphs(void)
{
    cudaStream_t st;
    CHECK(cudaStreamCreate(&st) == cudaSuccess);
    int *d, *step, host[8] = {0}, back[8], one = 1, three = 3;
    CHECK(cudaMalloc((void **)&d, sizeof host) == cudaSuccess);
    CHECK(cudaMalloc((void **)&step, sizeof(int)) == cudaSuccess);
    CHECK(cudaMemcpy(d, host, sizeof host, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(step, &one, sizeof one, cudaMemcpyHostToDevice) == cudaSuccess);

    cudaStreamCaptureStatus status;
    CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    CHECK(cudaStreamIsCapturing(st, &status) == cudaSuccess && status == cudaStreamCaptureStatusActive);
    int add = 10;
    CHECK(WX_LAUNCH(add_scaled, dim3(1), dim3(8), 0, st, d, step, add, 8) == cudaSuccess);
    add = 99; /* the capture holds the value passed, not the variable */
    CHECK(cudaMemsetAsync(d + 7, 0, sizeof(int), st) == cudaSuccess);
    cudaGraph_t graph;
    CHECK(cudaStreamEndCapture(st, &graph) == cudaSuccess && graph);
    CHECK(cudaMemcpy(back, d, sizeof back, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(back[0] == 0); /* captured work has not run */
    cudaGraphExec_t exec;
    CHECK(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
    CHECK(cudaGraphDestroy(graph) == cudaSuccess);
    CHECK(cudaGraphLaunch(exec, st) == cudaSuccess);
    CHECK(cudaMemcpy(step, &three, sizeof three, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaGraphLaunch(exec, st) == cudaSuccess); /* reads the step of this launch */
    CHECK(cudaStreamSynchronize(st) == cudaSuccess);
    CHECK(cudaMemcpy(back, d, sizeof back, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(back[0] == 40 && back[6] == 40 && back[7] == 0);
    CHECK(cudaGraphExecDestroy(exec) == cudaSuccess);

    /* refused while capturing: a pageable copy, a synchronise, an allocation */
    const char *refused[3] = {"pageable", "cudaStreamSynchronize", "cudaMalloc"};
    for (int c = 0; c < 3; c++) {
        CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal) == cudaSuccess);
        void *p = nullptr;
        cudaError_t e = c == 0   ? cudaMemcpyAsync(d, host, sizeof host, cudaMemcpyHostToDevice, st)
                        : c == 1 ? cudaStreamSynchronize(st)
                                 : cudaMalloc(&p, 16);
        CHECK_MSG(e == cudaErrorStreamCaptureUnsupported && strstr(wxemu::last_report(), refused[c]),
                  "%s during capture: %d (%s)", refused[c], (int)e, wxemu::last_report());
        CHECK(cudaStreamIsCapturing(st, &status) == cudaSuccess &&
              status == cudaStreamCaptureStatusInvalidated);
        CHECK(cudaStreamEndCapture(st, &graph) == cudaErrorStreamCaptureInvalidated && !graph);
    }
    CHECK(cudaStreamIsCapturing(st, &status) == cudaSuccess && status == cudaStreamCaptureStatusNone);
    CHECK(cudaStreamBeginCapture(nullptr, cudaStreamCaptureModeGlobal) ==
          cudaErrorInvalidResourceHandle);
    cudaGetLastError();
    CHECK(cudaFree(d) == cudaSuccess && cudaFree(step) == cudaSuccess);
    CHECK(cudaStreamDestroy(st) == cudaSuccess);
}

static void test_deferred(void)
{
    cudaStream_t st;
    CHECK(cudaStreamCreate(&st) == cudaSuccess);
    int *d, *step, host[8] = {0}, back[8] = {0}, two = 2;
    CHECK(cudaMalloc((void **)&d, sizeof host) == cudaSuccess);
    CHECK(cudaMalloc((void **)&step, sizeof(int)) == cudaSuccess);
    wxemu::set_deferred(true);
    CHECK(cudaMemcpyAsync(d, host, sizeof host, cudaMemcpyHostToDevice, st) == cudaSuccess);
    CHECK(cudaMemcpyAsync(step, &two, sizeof two, cudaMemcpyHostToDevice, st) == cudaSuccess);
    two = 5; /* pageable bytes were taken at the call */
    CHECK(WX_LAUNCH(add_scaled, dim3(1), dim3(8), 0, st, d, step, 3, 8) == cudaSuccess);
    CHECK(d[0] == (int)0xffffffff); /* nothing has run: the fresh allocation's poison */
    CHECK(cudaMemcpyAsync(back, d, sizeof back, cudaMemcpyDeviceToHost, st) == cudaSuccess);
    CHECK(back[0] == 6 && back[7] == 6); /* a copy into pageable memory waits for the work */
    CHECK(WX_LAUNCH(add_scaled, dim3(1), dim3(8), 0, st, d, step, 1, 8) == cudaSuccess);
    CHECK(d[0] == 6);
    CHECK(cudaStreamSynchronize(st) == cudaSuccess && d[0] == 8);
    wxemu::set_deferred(false);
    CHECK(cudaFree(d) == cudaSuccess && cudaFree(step) == cudaSuccess);
    CHECK(cudaStreamDestroy(st) == cudaSuccess);
}

int main(void)
{
    test_memory();
    test_streams_events();
    test_graphs();
    test_deferred();
    test_device();
    test_abort_mode();
    return wx_test_finish("test_emu_runtime");
}
