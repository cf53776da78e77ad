/* ops_vad.h — the CPU backend's VAD ops (abs, sinc_windows, max_pool1d, instance_norm,
 * leaky_relu, sigmoid, lstm; contracts in backend.h). backend_cpu.c puts them in its const table with
 * WX_CPU_VAD_OPS; wx_cpu_register_vad_ops fills a writable copy of a table. */
#ifndef WX_CPU_OPS_VAD_H
#define WX_CPU_OPS_VAD_H

#include "../backend.h"
#include "threadpool.h"

/* backend_cpu.c: fn over [0, n) on be's pool when n items of work_per_item operations are
 * worth it, else on the caller. */
void wx_cpu_run_parallel(wx_backend *be, int64_t n, int64_t work_per_item, wx_parallel_fn fn,
                         void *ctx);
/* backend_cpu.c: its op scratch, at least `bytes`, 64-byte aligned, valid until the next call
 * (no op of this backend holds it across another op). */
void *wx_cpu_scratch(wx_backend *be, size_t bytes);
/* backend_cpu.c: an array of `floats` floats derived from weight w by make (which fills dst
 * from w), made on the first call for w's memory, shape and make, then returned as it is
 * until w's memory is freed or uploaded to (so w must change only through upload); NULL when
 * out of memory. */
typedef void (*wx_cpu_derive_fn)(const wx_tensor *w, float *dst);
const float *wx_cpu_derived(wx_backend *be, const wx_tensor *w, int64_t floats,
                            wx_cpu_derive_fn make);
#define WX_CPU_ELEM_BLOCK 4096 /* element-wise ops are split in blocks of this many elements */

void wx_cpu_abs(wx_backend *be, wx_tensor *x);
void wx_cpu_sinc_windows(wx_backend *be, wx_tensor *out, const wx_tensor *y, int64_t hop, int k,
                         const wx_tensor *scale, const wx_tensor *shift, const wx_tensor *tap_sum);
void wx_cpu_max_pool1d(wx_backend *be, wx_tensor *out, const wx_tensor *x, int k, int stride);
void wx_cpu_instance_norm(wx_backend *be, wx_tensor *x, const wx_tensor *gamma,
                          const wx_tensor *beta, float eps);
void wx_cpu_leaky_relu(wx_backend *be, wx_tensor *x, float slope);
void wx_cpu_sigmoid(wx_backend *be, wx_tensor *x);
void wx_cpu_lstm(wx_backend *be, wx_tensor *out, int64_t out_stride, const wx_tensor *gx,
                 const wx_tensor *w_hh, const wx_tensor *b_hh, bool reverse);

/* Designated initialisers for a wx_backend_ops table. */
#define WX_CPU_VAD_OPS                                                                   \
    .abs = wx_cpu_abs, .sinc_windows = wx_cpu_sinc_windows,                              \
    .max_pool1d = wx_cpu_max_pool1d,                                                     \
    .instance_norm = wx_cpu_instance_norm, .leaky_relu = wx_cpu_leaky_relu,              \
    .sigmoid = wx_cpu_sigmoid, .lstm = wx_cpu_lstm

void wx_cpu_register_vad_ops(wx_backend_ops *ops);

#endif
