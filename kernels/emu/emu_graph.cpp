/* emu_graph.cpp — queued stream work on the emulator: stream capture and CUDA graphs (see
 * emu_runtime.h), and the deferred mode (cuda_emu.h, set_deferred). A capture belongs to
 * one stream and the thread that began it; work issued to the stream meanwhile (launches,
 * cuBLAS calls, device or pinned copies, memsets) is appended to it as closures, and calls
 * a GPU refuses during capture invalidate it, so code that records a graph here records one
 * a GPU would accept. An instantiated graph runs its closures in order: at once, or when
 * deferred at the next synchronising call, like any other work. */
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "emu_internal.h"

using work_list = std::vector<std::function<cudaError_t(cudaStream_t)>>;

struct CUgraph_st {
    work_list work;
};

struct CUgraphExec_st {
    std::shared_ptr<const work_list> work;
};

namespace wxemu {

struct capture {
    std::thread::id thread;
    bool invalidated;
    work_list work;
};

static std::mutex capture_mutex; /* captures, deferred and the deferred queue */
static std::map<cudaStream_t, capture> captures;
static bool deferred;
static std::vector<std::pair<cudaStream_t, std::function<cudaError_t(cudaStream_t)>>> waiting;

bool stream_capturing(cudaStream_t stream)
{
    std::lock_guard<std::mutex> lock(capture_mutex);
    return captures.count(stream) != 0;
}

bool stream_queues(cudaStream_t stream)
{
    std::lock_guard<std::mutex> lock(capture_mutex);
    return deferred || captures.count(stream) != 0;
}

void queue_work(cudaStream_t stream, std::function<cudaError_t(cudaStream_t)> work)
{
    std::lock_guard<std::mutex> lock(capture_mutex);
    auto it = captures.find(stream);
    if (it == captures.end()) waiting.emplace_back(stream, std::move(work));
    else if (!it->second.invalidated) it->second.work.push_back(std::move(work));
}

void run_deferred()
{
    for (;;) {
        decltype(waiting) now;
        {
            std::lock_guard<std::mutex> lock(capture_mutex);
            now.swap(waiting);
        }
        if (now.empty()) return;
        for (auto &w : now) {
            cudaError_t e = w.second(w.first);
            if (e != cudaSuccess) set_pending_fault(e);
        }
    }
}

void set_deferred(bool on)
{
    {
        std::lock_guard<std::mutex> lock(capture_mutex);
        deferred = on;
    }
    if (!on) run_deferred();
}

void capture_invalidate(cudaStream_t stream)
{
    std::lock_guard<std::mutex> lock(capture_mutex);
    auto it = captures.find(stream);
    if (it != captures.end()) it->second.invalidated = true;
}

cudaError_t capture_refuses(const char *call)
{
    bool refused = false;
    {
        std::lock_guard<std::mutex> lock(capture_mutex);
        for (auto &c : captures)
            if (c.second.thread == std::this_thread::get_id()) {
                c.second.invalidated = true;
                refused = true;
            }
    }
    if (!refused) return cudaSuccess;
    return call_error(cudaErrorStreamCaptureUnsupported,
                      "%s: operation not permitted when stream is capturing", call);
}

} /* namespace wxemu */

using namespace wxemu;

extern "C" cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode)
{
    if (!stream || !is_live_stream(stream))
        return call_error(cudaErrorInvalidResourceHandle, "cudaStreamBeginCapture: the legacy "
                          "default stream or a stream that is not live cannot capture");
    if ((unsigned)mode > cudaStreamCaptureModeRelaxed)
        return call_error(cudaErrorInvalidValue, "cudaStreamBeginCapture: mode %d", (int)mode);
    std::lock_guard<std::mutex> lock(capture_mutex);
    if (captures.count(stream))
        return call_error(cudaErrorIllegalState, "cudaStreamBeginCapture: already capturing");
    captures[stream] = capture{std::this_thread::get_id(), false, {}};
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t *graph)
{
    if (!graph) return call_error(cudaErrorInvalidValue, "cudaStreamEndCapture: null graph");
    *graph = nullptr;
    capture c;
    {
        std::lock_guard<std::mutex> lock(capture_mutex);
        auto it = captures.find(stream);
        if (it == captures.end())
            return call_error(cudaErrorIllegalState, "cudaStreamEndCapture: not capturing");
        if (it->second.thread != std::this_thread::get_id())
            return call_error(cudaErrorStreamCaptureWrongThread,
                              "cudaStreamEndCapture: capture began on another thread");
        c = std::move(it->second);
        captures.erase(it);
    }
    if (c.invalidated)
        return call_error(cudaErrorStreamCaptureInvalidated,
                          "cudaStreamEndCapture: the capture was invalidated");
    *graph = new CUgraph_st{std::move(c.work)};
    return cudaSuccess;
}

extern "C" cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus *status)
{
    if (!status) return call_error(cudaErrorInvalidValue, "cudaStreamIsCapturing: null status");
    std::lock_guard<std::mutex> lock(capture_mutex);
    auto it = captures.find(stream);
    *status = it == captures.end()      ? cudaStreamCaptureStatusNone
              : it->second.invalidated ? cudaStreamCaptureStatusInvalidated
                                       : cudaStreamCaptureStatusActive;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphInstantiate(cudaGraphExec_t *exec, cudaGraph_t graph,
                                            unsigned long long flags)
{
    if (!exec || !graph) return call_error(cudaErrorInvalidValue, "cudaGraphInstantiate: null");
    if (flags) return call_error(cudaErrorInvalidValue, "cudaGraphInstantiate: flags unsupported");
    *exec = new CUgraphExec_st{std::make_shared<const work_list>(graph->work)};
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream)
{
    if (!exec) return call_error(cudaErrorInvalidValue, "cudaGraphLaunch: null graph");
    if (!is_live_stream(stream))
        return call_error(cudaErrorInvalidResourceHandle, "cudaGraphLaunch: stream is not live");
    if (stream_capturing(stream))
        return call_error(cudaErrorNotSupported, "cudaGraphLaunch: the emulator does not nest "
                          "graphs in a capture");
    std::shared_ptr<const work_list> work = exec->work;
    auto run = [work](cudaStream_t s) {
        cudaError_t first = cudaSuccess;
        for (const auto &w : *work) {
            cudaError_t e = w(s);
            if (first == cudaSuccess) first = e;
        }
        return first;
    };
    if (!stream_queues(stream)) return run(stream);
    queue_work(stream, run);
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphDestroy(cudaGraph_t graph)
{
    delete graph;
    return cudaSuccess;
}

extern "C" cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec)
{
    delete exec;
    return cudaSuccess;
}
