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
 * old for this runtime, compute capability below 8.0, out of memory). Never aborts when
 * there is no GPU. */
wx_backend *wx_backend_cuda_create(int device, wx_err *err);

#ifdef __cplusplus
}
#endif

#endif
