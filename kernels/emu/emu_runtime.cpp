/* emu_runtime.cpp — the CUDA runtime stand-ins (memory, copies, streams, events, device
 * queries, error state) and the emulator's report state (see emu_runtime.h, cuda_emu.h);
 * work on a capturing stream or in deferred mode is queued through emu_graph.cpp. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "emu_internal.h"

struct CUstream_st {
    int unused;
};

struct CUevent_st {
    double ms; /* host clock at the last record */
    bool recorded;
};

namespace wxemu {

/* ---- errors and reports ----------------------------------------------------------- */

static std::mutex state_mutex;
static on_error error_mode = on_error::abort_process;
static std::string report_text;
static cudaError_t last_error_code = cudaSuccess;
static cudaError_t sticky_code = cudaSuccess;
static cudaError_t pending_code = cudaSuccess; /* injected asynchronous fault */
static std::string inject_kernel;
static cudaError_t inject_code = cudaSuccess;
static bool inject_at_launch = false;

void set_on_error(on_error mode)
{
    std::lock_guard<std::mutex> lock(state_mutex);
    error_mode = mode;
}

const char *last_report()
{
    std::lock_guard<std::mutex> lock(state_mutex);
    return report_text.c_str();
}

void clear_reports()
{
    std::lock_guard<std::mutex> lock(state_mutex);
    report_text.clear();
    last_error_code = sticky_code = pending_code = cudaSuccess;
}

void inject_error(const char *kernel, cudaError_t code, bool at_launch)
{
    std::lock_guard<std::mutex> lock(state_mutex);
    inject_kernel = kernel ? kernel : "";
    inject_code = code;
    inject_at_launch = at_launch;
}

bool take_injection(const char *kernel, cudaError_t *code, bool *at_launch)
{
    std::lock_guard<std::mutex> lock(state_mutex);
    if (inject_kernel.empty() || inject_kernel != kernel) return false;
    inject_kernel.clear();
    *code = inject_code;
    *at_launch = inject_at_launch;
    return true;
}

void set_pending_fault(cudaError_t code)
{
    std::lock_guard<std::mutex> lock(state_mutex);
    if (pending_code == cudaSuccess) pending_code = code;
}

void report_failure(cudaError_t code, const char *msg)
{
    std::lock_guard<std::mutex> lock(state_mutex);
    if (error_mode == on_error::abort_process) {
        fprintf(stderr, "wx-emu: %s\n", msg);
        abort();
    }
    report_text = msg;
    last_error_code = code;
    if (code == cudaErrorIllegalAddress || code == cudaErrorLaunchFailure ||
        code == cudaErrorMisalignedAddress)
        sticky_code = code;
}

cudaError_t call_error(cudaError_t code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    std::lock_guard<std::mutex> lock(state_mutex);
    if (error_mode == on_error::abort_process) fprintf(stderr, "wx-emu: %s\n", msg);
    report_text = msg;
    last_error_code = code;
    return code;
}

cudaError_t sticky_error()
{
    std::lock_guard<std::mutex> lock(state_mutex);
    if (pending_code != cudaSuccess && sticky_code == cudaSuccess) sticky_code = pending_code;
    pending_code = cudaSuccess;
    return sticky_code;
}

/* ---- registries ------------------------------------------------------------------- */

static std::mutex registry_mutex;
static std::map<uintptr_t, size_t> device_allocs; /* base → bytes */
static std::map<uintptr_t, size_t> pinned_allocs; /* base → bytes */
static std::set<cudaStream_t> live_streams;
static std::set<cudaEvent_t> live_events;
static size_t memory_limit = 0, live_bytes = 0; /* set_memory_limit */

void set_memory_limit(size_t bytes)
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    memory_limit = bytes;
}

/* Reserves `bytes` of the emulated device's memory; false when over the limit. */
static bool take_device_bytes(size_t bytes)
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    if (memory_limit && bytes > memory_limit - (live_bytes < memory_limit ? live_bytes : memory_limit))
        return false;
    live_bytes += bytes;
    return true;
}

bool is_device_range(const void *p, size_t bytes)
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    uintptr_t a = (uintptr_t)p;
    auto it = device_allocs.upper_bound(a);
    if (it == device_allocs.begin()) return false;
    --it;
    return a >= it->first && bytes <= it->second && a - it->first <= it->second - bytes;
}

bool is_pinned(const void *p)
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    uintptr_t a = (uintptr_t)p;
    auto it = pinned_allocs.upper_bound(a);
    if (it == pinned_allocs.begin()) return false;
    --it;
    return a - it->first < it->second;
}

bool is_live_stream(cudaStream_t stream)
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    return !stream || live_streams.count(stream);
}

static bool is_live_event(cudaEvent_t event)
{
    std::lock_guard<std::mutex> lock(registry_mutex);
    return event && live_events.count(event);
}

static double now_ms()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static cudaError_t check_copy(const char *call, void *dst, const void *src, size_t bytes,
                              cudaMemcpyKind kind)
{
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if ((unsigned)kind > cudaMemcpyDefault)
        return call_error(cudaErrorInvalidMemcpyDirection, "%s: invalid kind %d", call, (int)kind);
    if (!bytes) return cudaSuccess;
    if (!dst || !src) return call_error(cudaErrorInvalidValue, "%s: null pointer", call);
    if (dst_dev && !is_device_range(dst, bytes))
        return call_error(cudaErrorInvalidValue,
                          "%s: destination [%p, +%zu) is not inside one cudaMalloc allocation",
                          call, dst, bytes);
    if (src_dev && !is_device_range(src, bytes))
        return call_error(cudaErrorInvalidValue,
                          "%s: source [%p, +%zu) is not inside one cudaMalloc allocation", call,
                          src, bytes);
    return cudaSuccess;
}

} /* namespace wxemu */

using namespace wxemu;

/* ---- memory ----------------------------------------------------------------------- */

extern "C" cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    if (!ptr) return call_error(cudaErrorInvalidValue, "cudaMalloc: null result pointer");
    *ptr = nullptr;
    if (cudaError_t c = capture_refuses("cudaMalloc")) return c;
    if (!bytes) return cudaSuccess;
    void *p = nullptr;
    if (!take_device_bytes(bytes))
        return call_error(cudaErrorMemoryAllocation, "cudaMalloc: %zu bytes: over the emulated "
                          "device's memory limit", bytes);
    if (posix_memalign(&p, 256, bytes) != 0) {
        std::lock_guard<std::mutex> lock(registry_mutex);
        live_bytes -= bytes;
        return call_error(cudaErrorMemoryAllocation, "cudaMalloc: %zu bytes: out of memory", bytes);
    }
    memset(p, 0xff, bytes); /* device memory starts as garbage: make reads of it visible */
    std::lock_guard<std::mutex> lock(registry_mutex);
    device_allocs[(uintptr_t)p] = bytes;
    *ptr = p;
    return cudaSuccess;
}

extern "C" cudaError_t cudaFree(void *ptr)
{
    if (!ptr) return cudaSuccess;
    if (cudaError_t c = capture_refuses("cudaFree")) return c;
    run_deferred(); /* cudaFree synchronises */
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        auto it = device_allocs.find((uintptr_t)ptr);
        if (it == device_allocs.end()) {
            ptr = nullptr;
        } else {
            live_bytes -= it->second;
            device_allocs.erase(it);
        }
    }
    if (!ptr) return call_error(cudaErrorInvalidValue, "cudaFree: not a cudaMalloc pointer");
    free(ptr);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMallocHost(void **ptr, size_t bytes)
{
    if (!ptr) return call_error(cudaErrorInvalidValue, "cudaMallocHost: null result pointer");
    *ptr = nullptr;
    if (!bytes) return cudaSuccess;
    void *p = nullptr;
    if (posix_memalign(&p, 256, bytes) != 0)
        return call_error(cudaErrorMemoryAllocation, "cudaMallocHost: %zu bytes: out of memory",
                          bytes);
    std::lock_guard<std::mutex> lock(registry_mutex);
    pinned_allocs[(uintptr_t)p] = bytes;
    *ptr = p;
    return cudaSuccess;
}

extern "C" cudaError_t cudaFreeHost(void *ptr)
{
    if (!ptr) return cudaSuccess;
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        if (!pinned_allocs.erase((uintptr_t)ptr)) ptr = nullptr;
    }
    if (!ptr) return call_error(cudaErrorInvalidValue, "cudaFreeHost: not a cudaMallocHost pointer");
    free(ptr);
    return cudaSuccess;
}

static size_t host_memory_bytes()
{
    return (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
}

extern "C" cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    if (!free_bytes || !total_bytes) return call_error(cudaErrorInvalidValue, "cudaMemGetInfo: null");
    std::lock_guard<std::mutex> lock(registry_mutex);
    if (memory_limit) {
        *total_bytes = memory_limit;
        *free_bytes = live_bytes < memory_limit ? memory_limit - live_bytes : 0;
        return cudaSuccess;
    }
    *total_bytes = host_memory_bytes();
    *free_bytes = (size_t)sysconf(_SC_AVPHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    if (cudaError_t c = capture_refuses("cudaMemcpy")) return c;
    run_deferred();
    cudaError_t err = check_copy("cudaMemcpy", dst, src, bytes, kind);
    if (err == cudaSuccess && bytes) memmove(dst, src, bytes);
    if (err == cudaSuccess) err = sticky_error(); /* a blocking copy synchronises */
    return err;
}

extern "C" cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes,
                                       cudaMemcpyKind kind, cudaStream_t stream)
{
    if (!is_live_stream(stream))
        return call_error(cudaErrorInvalidResourceHandle, "cudaMemcpyAsync: stream is not live");
    cudaError_t err = check_copy("cudaMemcpyAsync", dst, src, bytes, kind);
    if (err != cudaSuccess || !bytes) return err;
    if (!stream_queues(stream)) {
        memmove(dst, src, bytes);
        return err;
    }
    bool host_dst = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyHostToHost;
    bool host_src = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyHostToHost;
    bool pageable_dst = host_dst && !is_pinned(dst), pageable_src = host_src && !is_pinned(src);
    if (stream_capturing(stream)) {
        if (pageable_dst || pageable_src)
            return capture_refuses("cudaMemcpyAsync of pageable host memory");
    } else if (pageable_dst) { /* deferred: a copy into pageable memory returns when done */
        run_deferred();
        memmove(dst, src, bytes);
        return err;
    } else if (pageable_src) { /* deferred: pageable bytes are staged at the call */
        auto staged = std::make_shared<std::vector<char>>((const char *)src,
                                                          (const char *)src + bytes);
        queue_work(stream, [=](cudaStream_t) {
            memmove(dst, staged->data(), bytes);
            return cudaSuccess;
        });
        return err;
    }
    queue_work(stream, [=](cudaStream_t) {
        memmove(dst, src, bytes);
        return cudaSuccess;
    });
    return err;
}

extern "C" cudaError_t cudaMemset(void *ptr, int value, size_t bytes)
{
    if (cudaError_t c = capture_refuses("cudaMemset")) return c;
    run_deferred();
    if (bytes && !is_device_range(ptr, bytes))
        return call_error(cudaErrorInvalidValue,
                          "cudaMemset: [%p, +%zu) is not inside one cudaMalloc allocation", ptr,
                          bytes);
    if (bytes) memset(ptr, value, bytes);
    return cudaSuccess;
}

extern "C" cudaError_t cudaMemsetAsync(void *ptr, int value, size_t bytes, cudaStream_t stream)
{
    if (!is_live_stream(stream))
        return call_error(cudaErrorInvalidResourceHandle, "cudaMemsetAsync: stream is not live");
    if (bytes && stream_queues(stream)) {
        if (!is_device_range(ptr, bytes))
            return call_error(cudaErrorInvalidValue, "cudaMemsetAsync: [%p, +%zu) is not inside "
                              "one cudaMalloc allocation", ptr, bytes);
        queue_work(stream, [=](cudaStream_t) {
            memset(ptr, value, bytes);
            return cudaSuccess;
        });
        return cudaSuccess;
    }
    return cudaMemset(ptr, value, bytes);
}

/* ---- streams and events ----------------------------------------------------------- */

extern "C" cudaError_t cudaStreamCreate(cudaStream_t *stream)
{
    if (!stream) return call_error(cudaErrorInvalidValue, "cudaStreamCreate: null result pointer");
    *stream = new CUstream_st();
    std::lock_guard<std::mutex> lock(registry_mutex);
    live_streams.insert(*stream);
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        if (!stream || !live_streams.erase(stream)) stream = nullptr;
    }
    if (!stream)
        return call_error(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream");
    delete stream;
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
    if (!is_live_stream(stream))
        return call_error(cudaErrorInvalidResourceHandle,
                          "cudaStreamSynchronize: not a live stream");
    if (cudaError_t c = capture_refuses("cudaStreamSynchronize")) return c;
    run_deferred();
    return sticky_error();
}

extern "C" cudaError_t cudaDeviceSynchronize(void)
{
    if (cudaError_t c = capture_refuses("cudaDeviceSynchronize")) return c;
    run_deferred();
    return sticky_error();
}

extern "C" cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    if (!event) return call_error(cudaErrorInvalidValue, "cudaEventCreate: null result pointer");
    *event = new CUevent_st();
    std::lock_guard<std::mutex> lock(registry_mutex);
    live_events.insert(*event);
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        if (!event || !live_events.erase(event)) event = nullptr;
    }
    if (!event)
        return call_error(cudaErrorInvalidResourceHandle, "cudaEventDestroy: not a live event");
    delete event;
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
    if (!is_live_event(event) || !is_live_stream(stream))
        return call_error(cudaErrorInvalidResourceHandle,
                          "cudaEventRecord: not a live event or stream");
    if (stream_queues(stream) && !stream_capturing(stream)) { /* deferred: when it runs */
        queue_work(stream, [event](cudaStream_t) {
            event->ms = now_ms();
            event->recorded = true;
            return cudaSuccess;
        });
        return cudaSuccess;
    }
    event->ms = now_ms();
    event->recorded = true;
    return cudaSuccess;
}

extern "C" cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
    if (!is_live_event(event))
        return call_error(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: not a live event");
    if (cudaError_t c = capture_refuses("cudaEventSynchronize")) return c;
    run_deferred();
    return sticky_error();
}

extern "C" cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    if (!ms) return call_error(cudaErrorInvalidValue, "cudaEventElapsedTime: null result pointer");
    if (!is_live_event(start) || !is_live_event(end) || !start->recorded || !end->recorded)
        return call_error(cudaErrorInvalidResourceHandle,
                          "cudaEventElapsedTime: events must be live and recorded");
    *ms = (float)(end->ms - start->ms);
    return cudaSuccess;
}

/* ---- device ----------------------------------------------------------------------- */

extern "C" cudaError_t cudaGetDeviceCount(int *count)
{
    if (!count) return call_error(cudaErrorInvalidValue, "cudaGetDeviceCount: null result pointer");
    *count = 1;
    return cudaSuccess;
}

extern "C" cudaError_t cudaSetDevice(int device)
{
    if (device != 0)
        return call_error(cudaErrorInvalidDevice, "cudaSetDevice: device %d (the emulator has 0 only)",
                          device);
    return cudaSuccess;
}

extern "C" cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device)
{
    if (!prop) return call_error(cudaErrorInvalidValue, "cudaGetDeviceProperties: null result pointer");
    if (device != 0)
        return call_error(cudaErrorInvalidDevice, "cudaGetDeviceProperties: device %d", device);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "wx-emu");
    prop->totalGlobalMem = host_memory_bytes();
    prop->sharedMemPerBlock = 48 * 1024;
    prop->regsPerBlock = 65536;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 0x7fffffff;
    prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
    prop->totalConstMem = 64 * 1024;
    prop->major = 9;
    prop->minor = 0;
    prop->multiProcessorCount = 132;
    prop->l2CacheSize = 50 * 1024 * 1024;
    prop->maxThreadsPerMultiProcessor = 2048;
    prop->sharedMemPerMultiprocessor = 228 * 1024;
    prop->sharedMemPerBlockOptin = 227 * 1024;
    prop->memoryBusWidth = 5120;
    prop->concurrentKernels = 1;
    prop->unifiedAddressing = 1;
    return cudaSuccess;
}

extern "C" cudaError_t cudaDriverGetVersion(int *version)
{
    if (!version) return call_error(cudaErrorInvalidValue, "cudaDriverGetVersion: null result pointer");
    *version = 13000;
    return cudaSuccess;
}

extern "C" cudaError_t cudaRuntimeGetVersion(int *version)
{
    if (!version) return call_error(cudaErrorInvalidValue, "cudaRuntimeGetVersion: null result pointer");
    *version = 13000;
    return cudaSuccess;
}

/* ---- error queries ---------------------------------------------------------------- */

extern "C" cudaError_t cudaGetLastError(void)
{
    std::lock_guard<std::mutex> lock(state_mutex);
    cudaError_t e = sticky_code != cudaSuccess ? sticky_code : last_error_code;
    last_error_code = cudaSuccess;
    return e;
}

extern "C" cudaError_t cudaPeekAtLastError(void)
{
    std::lock_guard<std::mutex> lock(state_mutex);
    return sticky_code != cudaSuccess ? sticky_code : last_error_code;
}

struct error_text {
    cudaError_t code;
    const char *name, *text;
};

static const error_text error_texts[] = {
    {cudaSuccess, "cudaSuccess", "no error"},
    {cudaErrorInvalidValue, "cudaErrorInvalidValue", "invalid argument"},
    {cudaErrorMemoryAllocation, "cudaErrorMemoryAllocation", "out of memory"},
    {cudaErrorInvalidConfiguration, "cudaErrorInvalidConfiguration", "invalid configuration argument"},
    {cudaErrorInvalidDevicePointer, "cudaErrorInvalidDevicePointer", "invalid device pointer"},
    {cudaErrorInvalidMemcpyDirection, "cudaErrorInvalidMemcpyDirection", "invalid copy direction for memcpy"},
    {cudaErrorInvalidDeviceFunction, "cudaErrorInvalidDeviceFunction", "invalid device function"},
    {cudaErrorNoKernelImageForDevice, "cudaErrorNoKernelImageForDevice", "no kernel image is available for execution on the device"},
    {cudaErrorNoDevice, "cudaErrorNoDevice", "no CUDA-capable device is detected"},
    {cudaErrorInvalidDevice, "cudaErrorInvalidDevice", "invalid device ordinal"},
    {cudaErrorInvalidResourceHandle, "cudaErrorInvalidResourceHandle", "invalid resource handle"},
    {cudaErrorNotReady, "cudaErrorNotReady", "device not ready"},
    {cudaErrorIllegalAddress, "cudaErrorIllegalAddress", "an illegal memory access was encountered"},
    {cudaErrorLaunchOutOfResources, "cudaErrorLaunchOutOfResources", "too many resources requested for launch"},
    {cudaErrorMisalignedAddress, "cudaErrorMisalignedAddress", "misaligned address"},
    {cudaErrorLaunchFailure, "cudaErrorLaunchFailure", "unspecified launch failure"},
    {cudaErrorNotSupported, "cudaErrorNotSupported", "operation not supported"},
    {cudaErrorIllegalState, "cudaErrorIllegalState", "the operation cannot be performed in the "
     "present state"},
    {cudaErrorStreamCaptureUnsupported, "cudaErrorStreamCaptureUnsupported",
     "operation not permitted when stream is capturing"},
    {cudaErrorStreamCaptureInvalidated, "cudaErrorStreamCaptureInvalidated",
     "operation failed due to a previous error during capture"},
    {cudaErrorStreamCaptureWrongThread, "cudaErrorStreamCaptureWrongThread",
     "attempt to terminate a thread-local capture sequence from another thread"},
    {cudaErrorUnknown, "cudaErrorUnknown", "unknown error"},
};

static const error_text *find_error(cudaError_t code)
{
    for (const error_text &e : error_texts)
        if (e.code == code) return &e;
    return nullptr;
}

extern "C" const char *cudaGetErrorString(cudaError_t error)
{
    const error_text *e = find_error(error);
    return e ? e->text : "unrecognized error code";
}

extern "C" const char *cudaGetErrorName(cudaError_t error)
{
    const error_text *e = find_error(error);
    return e ? e->name : "unrecognized error code";
}
