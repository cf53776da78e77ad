/* backend_cuda.h — the CUDA backend: wx_backend_ops on one GPU (kernels/ + cuBLAS), the
 * device log-mel front end included (ops->log_mel). Declared with C linkage; built only when
 * nvcc is found (WX_HAVE_CUDA), and under emulation for the tests. */
#ifndef WX_BACKEND_CUDA_H
#define WX_BACKEND_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "../backend.h"

/* A backend on CUDA device `device`, or NULL with the reason in err (no device, driver too
 * old for this runtime, compute capability below 8.0, no kernel image for the device (a
 * probe kernel is launched), out of memory). Never aborts when there is no GPU.
 * WX_CUDA_SYNC=1 makes every op synchronise and check, naming the op that faulted. */
wx_backend *wx_backend_cuda_create(int device, wx_err *err);

/* "NVIDIA A100-SXM4-80GB, compute capability 8.0, 81051 MiB, CUDA driver 12.4, runtime
 * 12.4, built for 80-real …": what the worker logs at start-up. */
const char *wx_backend_cuda_describe(wx_backend *be);

/* "CUDA driver 12.4, runtime 12.4" ("none" for a missing driver), without creating a
 * backend: for the log line of a CPU fallback. */
void wx_cuda_versions(char *buf, size_t size);

/* Decoding steps recorded as CUDA graphs, replays of them, and recordings that failed (those
 * steps ran directly), since the backend was created. */
typedef struct wx_cuda_graph_stats {
    long recorded, replayed, failed;
} wx_cuda_graph_stats;
void wx_backend_cuda_graph_stats(wx_backend *be, wx_cuda_graph_stats *out);

#ifdef __cplusplus
}
#endif

#endif
