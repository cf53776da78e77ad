/* emu_internal.h — what the emulator's sources share (internal): the error and report
 * state behind cudaGetLastError and wxemu::last_report, and the registries of device
 * allocations and streams that copies, launches and cuBLAS calls are checked against. */
#ifndef WX_EMU_INTERNAL_H
#define WX_EMU_INTERNAL_H

#include <functional>

#include "cuda_emu.h"

namespace wxemu {

/* A fault CUDA would not survive or a broken launch rule: abort mode prints "wx-emu: msg"
 * and aborts; record mode keeps msg as the last report. Sets the last error to code,
 * sticky (returned by every later sync) for in-kernel faults. */
void report_failure(cudaError_t code, const char *msg);
/* An error a CUDA call returns as a code: explained on stderr (kept silently in record
 * mode), stored as the last error, returned. */
cudaError_t call_error(cudaError_t code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The sticky error, or cudaSuccess; a synchronising call: an injected asynchronous fault
 * becomes sticky here. */
cudaError_t sticky_error();
/* Whether the launch of `kernel` was injected with an error (inject_error), consumed. */
bool take_injection(const char *kernel, cudaError_t *code, bool *at_launch);
/* An injected asynchronous fault, reported at the next synchronising call. */
void set_pending_fault(cudaError_t code);

/* Whether [p, p + bytes) lies inside one live cudaMalloc allocation. */
bool is_device_range(const void *p, size_t bytes);
/* Whether stream is the default stream or a live cudaStreamCreate stream. */
bool is_live_stream(cudaStream_t stream);

/* ---- stream capture (emu_graph.cpp) ---- */

/* Queues work on stream (stream_queues): appended to its capture, to run at every
 * cudaGraphLaunch of the graph with the launch's stream (its error is the graph launch's);
 * or, deferred, run at the next synchronising call (its error becomes sticky). */
void queue_work(cudaStream_t stream, std::function<cudaError_t(cudaStream_t)> work);
/* Whether stream captures a graph. */
bool stream_capturing(cudaStream_t stream);
/* Runs the deferred work (set_deferred): every synchronising call does, first. */
void run_deferred();
/* A call on a capturing stream failed: the capture is invalidated, as on a GPU. */
void capture_invalidate(cudaStream_t stream);
/* For a call CUDA refuses while the calling thread captures (synchronising, allocating,
 * copying pageable host memory): cudaSuccess when this thread captures nothing; else the
 * capture is invalidated and the call's cudaErrorStreamCaptureUnsupported is returned. */
cudaError_t capture_refuses(const char *call);
/* Whether p is cudaMallocHost memory. */
bool is_pinned(const void *p);

} /* namespace wxemu */

#endif
