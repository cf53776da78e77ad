/* wxk.cuh — what the op entries of every kernel family share on the host side: the
 * backend interface (C linkage), the per-backend launch context (stream, cuBLAS handle,
 * scratch arena) and the check macros that make a failed CUDA or cuBLAS call fatal with
 * the op and the call named (DESIGN.md: the context is unusable after most errors). */
#ifndef WX_KERNELS_WXK_CUH
#define WX_KERNELS_WXK_CUH

#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cublas_v2.h>

#include "common.cuh"

extern "C" {
#include "../src/backend/backend.h"
}

/* Full unrolling of a fixed-length loop, for nvcc and for the host compiler (emulation). */
#ifdef __CUDACC__
#define WXK_UNROLL _Pragma("unroll")
#else
#define WXK_UNROLL _Pragma("GCC unroll 64")
#endif

/* Launch context handed to op entries. scratch(owner, bytes) returns device memory of at
 * least `bytes`, valid until the next scratch call; host_scratch the same in host memory
 * (staging for small host-built arrays). Both grow rarely and never per step. Either
 * returns NULL when memory runs out, with the failure recorded on `backend`
 * (wx_backend_fail): the op then does nothing and the job fails with the figures. */
typedef struct wxk_ctx {
    cudaStream_t stream;
    cublasHandle_t blas;
    void *(*scratch)(void *owner, size_t bytes);
    void *(*host_scratch)(void *owner, size_t bytes);
    void *owner;
    wx_backend *backend;
    /* While a decoding step is recorded as a graph (backend_cuda.cu, step_begin): the device
     * copy of the step's position and token ids, and the position the recording is made at.
     * embed's pos_offset, copy_rows' dst_row0 and causal attention's kv_len are then passed
     * to the kernels relative to step_pos_host, and the kernels add *step_pos, so that one
     * graph serves every position. NULL when nothing is recorded. */
    const int64_t *step_pos;
    const int32_t *step_ids;
    int64_t step_pos_host;
    /* While recording: set when a call is refused inside the capture (cuBLAS may refuse
     * what it cannot capture), so the step runs directly instead of the process exiting. */
    bool *step_broken;
} wxk_ctx;

/* A position argument as the kernels take it: (value, NULL) when no step is recorded, else
 * (value - step_pos_host, step_pos), the kernel adding the device's position. */
static inline int64_t wxk_step_relative(const wxk_ctx *c, int64_t value)
{
    return c->step_pos ? value - c->step_pos_host : value;
}

#define WX_CUDA_CHECK(op, call)                                                           \
    do {                                                                                  \
        cudaError_t e_ = (call);                                                          \
        if (e_ != cudaSuccess) {                                                          \
            fprintf(stderr, "wx cuda backend: %s: %s failed: error %d (%s)\n", (op), #call, \
                    (int)e_, cudaGetErrorString(e_));                                     \
            exit(3);                                                                      \
        }                                                                                 \
    } while (0)

#define WX_CUBLAS_CHECK(op, call)                                                         \
    do {                                                                                  \
        cublasStatus_t s_ = (call);                                                       \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                \
            fprintf(stderr, "wx cuda backend: %s: %s failed: cuBLAS status %d\n", (op),   \
                    #call, (int)s_);                                                      \
            exit(3);                                                                      \
        }                                                                                 \
    } while (0)

/* Checks the launch just queued (bad configuration, missing kernel image). */
#define WX_CUDA_CHECK_LAUNCH(op) WX_CUDA_CHECK(op, cudaGetLastError())

static inline const float *wxk_f32(const wx_tensor *t, const char *op)
{
    if (t->dtype != WX_F32) {
        fprintf(stderr, "wx cuda backend: %s takes float32 tensors\n", op);
        abort();
    }
    return (const float *)t->data;
}

static inline float *wxk_f32_mut(wx_tensor *t, const char *op)
{
    return (float *)wxk_f32(t, op);
}

static inline int64_t wxk_last_dim(const wx_tensor *t) { return t->shape[t->ndim - 1]; }

static inline unsigned wxk_blocks(int64_t n, int per_block)
{
    return (unsigned)((n + per_block - 1) / per_block);
}

#endif
