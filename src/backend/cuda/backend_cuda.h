/* backend_cuda.h — the CUDA backend: wx_backend_ops on one GPU (kernels/ + cuBLAS), and the
 * device log-mel front end. Declared with C linkage; built only when nvcc is found
 * (WX_HAVE_CUDA), and under emulation for the tests. */
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

/* out (…, n_mels, 3000) on this backend = Whisper's log-mel of samples[0, n) (host, n ≤
 * 480000) zero-padded to 30 s, as wx_mel_compute; filters: host (n_mels, 201), e.g.
 * wx_mel_filters(). */
void wx_backend_cuda_log_mel(wx_backend *be, const float *samples, size_t n,
                             const float *filters, int n_mels, wx_tensor *out);

#ifdef __cplusplus
}
#endif

#endif
