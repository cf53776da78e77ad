/* cuda_emu.h — the CUDA emulator's public header: what kernels/common.cuh includes under
 * WX_CUDA_EMU so that the kernel sources compile with the host C++ compiler and run on
 * the CPU.
 *
 * Execution: WX_LAUNCH runs the grid block after block on the calling thread; inside a
 * block every CUDA thread is a cooperative fiber, so __syncthreads is a real barrier and
 * warp operations exchange values between the 32 lanes of a warp. Deterministic.
 *
 * Checks (reported with kernel name, block and thread index, then abort(); see
 * wxemu::set_on_error for the test mode that records instead):
 *   - WX_SHARED / WX_DYNAMIC_SHARED are bounds-checked views: name[i] outside the array
 *     fails. Keep the check on derived pointers with `auto p = name + off;` (a view);
 *     converting to a raw `T *` (passing to a helper taking `float *`) drops it.
 *     Shared memory starts each block filled with 0xff bytes (NaN floats and halves).
 *   - launches: empty grid or block, more than 1024 threads, more than the kernel's
 *     WX_KERNEL_BOUNDS, dynamic shared memory above 48 KiB (or above the limit raised by
 *     cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, n), n ≤ 227 KiB),
 *     static shared memory above 48 KiB or static + dynamic above the budget.
 *   - __syncthreads that some threads of the block never reach, or reached at different
 *     places; warp operations whose mask leaves out the caller, names lanes that exited
 *     or do not exist, or that never meet (different operation, mask or call site).
 *   - a __shfl*_sync reading a lane that is not in the mask.
 * Plain `__shared__` does not compile here on purpose: use WX_SHARED / WX_DYNAMIC_SHARED.
 * To view dynamic shared memory as another type, declare a second WX_DYNAMIC_SHARED.
 * Global memory from cudaMalloc is host memory filled with 0xff bytes; under ASan its
 * out-of-bounds accesses are caught like any heap overflow.
 */
#ifndef WX_CUDA_EMU_H
#define WX_CUDA_EMU_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>

#include "emu_fp16.h"
#include "emu_runtime.h"
#include "emu_types.h"

/* ---- qualifiers ------------------------------------------------------------------- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ wx_emu_use_WX_SHARED_or_WX_DYNAMIC_SHARED_instead_of___shared__

static constexpr int warpSize = 32;

/* `#pragma unroll` is nvcc's; the host compiler may ignore it without a word. */
#pragma GCC diagnostic ignored "-Wunknown-pragmas"

/* ---- test controls ---------------------------------------------------------------- */

namespace wxemu {

enum class on_error {
    abort_process, /* default: print the report and abort() */
    record         /* keep the report, fail the launch or call with its error code */
};
void set_on_error(on_error mode);
/* The last report ("" when none) and a reset of it and of the sticky launch error. */
const char *last_report();
void clear_reports();

/* Fault injection, for tests of the host's error paths. The next launch of the kernel named
 * `kernel` (as written in WX_LAUNCH, e.g. "gelu_kernel") does not run. With at_launch it
 * fails with `code` at once (cudaGetLastError reports it, as cudaErrorNoKernelImageForDevice
 * would); otherwise it faults the way a GPU does: the launch succeeds and `code` becomes the
 * sticky error at the next synchronising call (stream, event or device synchronise,
 * cudaMemcpy). One injection at a time; kernel NULL cancels it. */
void inject_error(const char *kernel, cudaError_t code, bool at_launch);

/* Deferred mode, for tests of the host's synchronisation: work issued to streams (launches,
 * cuBLAS calls, asynchronous copies and memsets, event records) waits in issue order until
 * a synchronising call (stream, event or device synchronise, a blocking copy, a copy into
 * pageable host memory, cudaFree) runs it, as a GPU runs behind the host. Copies from
 * pageable host memory take their bytes at the call, as CUDA stages them. Off by default
 * (work runs as it is issued); switching it off runs what waits. */
void set_deferred(bool on);
/* A device of `bytes`: cudaMalloc fails beyond that many live bytes, cudaMemGetInfo reports
 * bytes as total and bytes − live as free. 0 (default): host memory. */
void set_memory_limit(size_t bytes);

} /* namespace wxemu */

/* ---- per-thread built-ins --------------------------------------------------------- */

namespace wxemu {

struct lane_info {
    uint3 thread_idx;
};
extern __thread const lane_info *tls_lane;
extern __thread uint3 tls_block_idx, tls_block_dim, tls_grid_dim;

/* By value: read-only like CUDA's, and no reference to a TLS slot for UBSan to doubt. */
inline uint3 block_idx() { return tls_block_idx; }
inline uint3 block_dim() { return tls_block_dim; }
inline uint3 grid_dim() { return tls_grid_dim; }

} /* namespace wxemu */

#define threadIdx (::wxemu::tls_lane->thread_idx)
#define blockIdx (::wxemu::block_idx())
#define blockDim (::wxemu::block_dim())
#define gridDim (::wxemu::grid_dim())

/* ---- block and warp synchronisation ----------------------------------------------- */

namespace wxemu {

/* collective: a warp-wide call every lane must reach at the same site (wmma, mma.h). */
enum class warp_kind { shfl, shfl_up, shfl_down, shfl_xor, vote, sync, collective };

void syncthreads(const char *file, int line);
/* Posts this lane's value, waits for every lane of mask, returns the op's result. */
uint64_t warp_exchange(warp_kind kind, const char *fn, unsigned mask, uint64_t value,
                       int arg, int width, const char *file, int line);
unsigned active_mask();

template <class T> uint64_t to_bits(T v)
{
    static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                  "warp shuffles move values of at most 8 bytes");
    uint64_t b = 0;
    memcpy(&b, &v, sizeof(T));
    return b;
}

template <class T> T from_bits(uint64_t b)
{
    T v;
    memcpy(&v, &b, sizeof(T));
    return v;
}

} /* namespace wxemu */

inline void __syncthreads(const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    wxemu::syncthreads(file, line);
}

inline void __syncwarp(unsigned mask = 0xffffffffu, const char *file = __builtin_FILE(),
                       int line = __builtin_LINE())
{
    wxemu::warp_exchange(wxemu::warp_kind::sync, "__syncwarp", mask, 0, 0, 32, file, line);
}

template <class T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize,
              const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    return wxemu::from_bits<T>(wxemu::warp_exchange(wxemu::warp_kind::shfl, "__shfl_sync", mask,
                                                    wxemu::to_bits(var), src_lane, width,
                                                    file, line));
}

template <class T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                 const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    return wxemu::from_bits<T>(wxemu::warp_exchange(wxemu::warp_kind::shfl_up,
                                                    "__shfl_up_sync", mask, wxemu::to_bits(var),
                                                    (int)delta, width, file, line));
}

template <class T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                   const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    return wxemu::from_bits<T>(wxemu::warp_exchange(wxemu::warp_kind::shfl_down,
                                                    "__shfl_down_sync", mask,
                                                    wxemu::to_bits(var), (int)delta, width,
                                                    file, line));
}

template <class T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                  const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    return wxemu::from_bits<T>(wxemu::warp_exchange(wxemu::warp_kind::shfl_xor,
                                                    "__shfl_xor_sync", mask,
                                                    wxemu::to_bits(var), lane_mask, width,
                                                    file, line));
}

inline unsigned __ballot_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                              int line = __builtin_LINE())
{
    return (unsigned)wxemu::warp_exchange(wxemu::warp_kind::vote, "__ballot_sync", mask,
                                          pred != 0, 0, 32, file, line);
}

inline int __any_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                      int line = __builtin_LINE())
{
    return wxemu::warp_exchange(wxemu::warp_kind::vote, "__any_sync", mask, pred != 0, 0, 32,
                                file, line) != 0;
}

inline int __all_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                      int line = __builtin_LINE())
{
    return wxemu::warp_exchange(wxemu::warp_kind::vote, "__all_sync", mask, pred != 0, 0, 32,
                                file, line) == mask;
}

inline unsigned __activemask() { return wxemu::active_mask(); }

/* Blocks run one at a time on one host thread and fibers switch only at barriers and
 * warp operations, so a plain read-modify-write is atomic here. */
inline void __threadfence() {}
inline void __threadfence_block() {}

#define WX_EMU_ATOMIC(name, T, expr)          \
    inline T name(T *address, T val)          \
    {                                         \
        T old = *address;                     \
        *address = (expr);                    \
        return old;                           \
    }
WX_EMU_ATOMIC(atomicAdd, int, old + val)
WX_EMU_ATOMIC(atomicAdd, unsigned int, old + val)
WX_EMU_ATOMIC(atomicAdd, unsigned long long, old + val)
WX_EMU_ATOMIC(atomicAdd, float, old + val)
WX_EMU_ATOMIC(atomicAdd, double, old + val)
WX_EMU_ATOMIC(atomicSub, int, old - val)
WX_EMU_ATOMIC(atomicSub, unsigned int, old - val)
WX_EMU_ATOMIC(atomicMax, int, old > val ? old : val)
WX_EMU_ATOMIC(atomicMax, unsigned int, old > val ? old : val)
WX_EMU_ATOMIC(atomicMax, long long, old > val ? old : val)
WX_EMU_ATOMIC(atomicMax, unsigned long long, old > val ? old : val)
WX_EMU_ATOMIC(atomicMin, int, old < val ? old : val)
WX_EMU_ATOMIC(atomicMin, unsigned int, old < val ? old : val)
WX_EMU_ATOMIC(atomicMin, long long, old < val ? old : val)
WX_EMU_ATOMIC(atomicMin, unsigned long long, old < val ? old : val)
WX_EMU_ATOMIC(atomicExch, int, val)
WX_EMU_ATOMIC(atomicExch, unsigned int, val)
WX_EMU_ATOMIC(atomicExch, unsigned long long, val)
WX_EMU_ATOMIC(atomicExch, float, val)
WX_EMU_ATOMIC(atomicAnd, int, old & val)
WX_EMU_ATOMIC(atomicAnd, unsigned int, old & val)
WX_EMU_ATOMIC(atomicOr, int, old | val)
WX_EMU_ATOMIC(atomicOr, unsigned int, old | val)
WX_EMU_ATOMIC(atomicXor, int, old ^ val)
WX_EMU_ATOMIC(atomicXor, unsigned int, old ^ val)
#undef WX_EMU_ATOMIC

#define WX_EMU_ATOMIC_CAS(T)                               \
    inline T atomicCAS(T *address, T compare, T val)       \
    {                                                      \
        T old = *address;                                  \
        if (old == compare) *address = val;                \
        return old;                                        \
    }
WX_EMU_ATOMIC_CAS(int)
WX_EMU_ATOMIC_CAS(unsigned int)
WX_EMU_ATOMIC_CAS(unsigned long long)
WX_EMU_ATOMIC_CAS(unsigned short)
#undef WX_EMU_ATOMIC_CAS

/* ---- math and bit intrinsics ------------------------------------------------------- */

inline float __expf(float x) { return expf(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline int __float2int_rn(float x) { return (int)lrintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline float __int2float_rn(int x) { return (float)x; }
inline int __float_as_int(float x) { return wxemu::from_bits<int>(wxemu::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return wxemu::from_bits<unsigned>(wxemu::to_bits(x)); }
inline float __int_as_float(int x) { return wxemu::from_bits<float>(wxemu::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return wxemu::from_bits<float>(wxemu::to_bits(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x ? __builtin_clz((unsigned)x) : 32; }
inline int __ffs(int x) { return __builtin_ffs(x); }

template <class A, class B,
          class = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> min(A a, B b)
{
    return b < a ? (std::common_type_t<A, B>)b : (std::common_type_t<A, B>)a;
}

template <class A, class B,
          class = std::enable_if_t<std::is_arithmetic<A>::value && std::is_arithmetic<B>::value>>
inline std::common_type_t<A, B> max(A a, B b)
{
    return a < b ? (std::common_type_t<A, B>)b : (std::common_type_t<A, B>)a;
}

template <class T> inline T __ldg(const T *p) { return *p; }

/* ---- shared memory ---------------------------------------------------------------- */

namespace wxemu {

[[noreturn]] void shared_out_of_bounds(const char *name, long long index, long long count);
/* Any other in-kernel fault found by the running thread (e.g. a misaligned wmma pointer). */
[[noreturn]] void kernel_fault(cudaError_t code, const char *what);
void *static_shared(const void *site, size_t bytes, size_t align, const char *name);
void *dynamic_shared(size_t *bytes, size_t align, const char *name);

/* A bounds-checked view of a shared array: what WX_SHARED / WX_DYNAMIC_SHARED declare. */
template <class T> struct shared_span {
    T *base;          /* the whole declared array */
    long long count;  /* its elements */
    long long offset; /* where this view starts */
    const char *name;

    template <class I, class = std::enable_if_t<std::is_integral<I>::value>>
    T &operator[](I i) const
    {
        long long j = offset + (long long)i;
        if (j < 0 || j >= count) shared_out_of_bounds(name, j, count);
        return base[j];
    }
    T &operator*() const { return (*this)[0]; }
    T *operator->() const { return &(*this)[0]; }
    template <class I, class = std::enable_if_t<std::is_integral<I>::value>>
    shared_span operator+(I d) const
    {
        return shared_span{base, count, offset + (long long)d, name};
    }
    template <class I, class = std::enable_if_t<std::is_integral<I>::value>>
    shared_span operator-(I d) const
    {
        return shared_span{base, count, offset - (long long)d, name};
    }
    operator T *() const { return base + offset; }
    template <class U> explicit operator U *() const { return (U *)(base + offset); }
};

template <class T, long long N> shared_span<T> declare_static_shared(const void *site,
                                                                   const char *name)
{
    static_assert(N > 0, "a shared array needs at least one element");
    return shared_span<T>{(T *)static_shared(site, sizeof(T) * N, alignof(T), name), N, 0, name};
}

template <class T> shared_span<T> declare_dynamic_shared(const char *name)
{
    size_t bytes = 0;
    T *base = (T *)dynamic_shared(&bytes, alignof(T), name);
    return shared_span<T>{base, (long long)(bytes / sizeof(T)), 0, name};
}

} /* namespace wxemu */

#define WX_SHARED(type, name, count)                                       \
    static const char wxemu_site_##name = 0;                               \
    ::wxemu::shared_span<type> name =                                      \
        ::wxemu::declare_static_shared<type, (count)>(&wxemu_site_##name, #name)
#define WX_DYNAMIC_SHARED(type, name) \
    ::wxemu::shared_span<type> name = ::wxemu::declare_dynamic_shared<type>(#name)

/* ---- launches --------------------------------------------------------------------- */

namespace wxemu {

/* Runs the grid; call(args) runs the kernel body for the current fiber. */
cudaError_t launch(const char *name, const void *kernel, dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, void (*call)(const void *args), const void *args);
/* Whether work issued to stream is queued instead of run at once: the stream captures a
 * graph, or the emulator defers (set_deferred) (emu_graph.cpp). */
bool stream_queues(cudaStream_t stream);
/* The launch checked now and queued on stream (see stream_queues), holding its arguments. */
cudaError_t launch_queued(const char *name, const void *kernel, dim3 grid, dim3 block,
                          size_t smem, cudaStream_t stream, void (*call)(const void *args),
                          std::shared_ptr<const void> args);
int register_kernel_bounds(const void *kernel, int max_threads, const char *name);

template <class... P, class... A>
cudaError_t launch_kernel(const char *name, void (*kernel)(P...), dim3 grid, dim3 block,
                          size_t smem, cudaStream_t stream, A &&...args)
{
    static_assert(sizeof...(P) == sizeof...(A), "WX_LAUNCH: wrong number of kernel arguments");
    struct bound_call {
        void (*kernel)(P...);
        std::tuple<std::decay_t<P>...> args;
    };
    bound_call bc{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
    auto run = [](const void *p) {
        const bound_call *c = (const bound_call *)p;
        std::apply(c->kernel, c->args);
    };
    if (stream_queues(stream)) {
        auto held = std::make_shared<bound_call>(std::move(bc));
        return launch_queued(name, (const void *)kernel, grid, block, smem, stream, run,
                               std::shared_ptr<const void>(held, held.get()));
    }
    return launch(name, (const void *)kernel, grid, block, smem, stream, run, &bc);
}

} /* namespace wxemu */

/* Returns the launch's cudaError_t, also left for cudaGetLastError. Under nvcc the macro
 * is a statement: portable code checks cudaGetLastError(), tests may use the value. */
#define WX_LAUNCH(kernel, grid, block, smem, stream, ...)                                 \
    ::wxemu::launch_kernel(#kernel, kernel, dim3(grid), dim3(block), (size_t)(smem), (stream), \
                           __VA_ARGS__)

#define WX_EMU_CAT2(a, b) a##b
#define WX_EMU_CAT(a, b) WX_EMU_CAT2(a, b)
#define WX_KERNEL_BOUNDS(kernel, max_threads)                              \
    [[maybe_unused]] static const int WX_EMU_CAT(wxemu_bounds_, __COUNTER__) = \
        ::wxemu::register_kernel_bounds((const void *)&kernel, (max_threads), #kernel);

/* CUDA's C++ form, taking the kernel itself. */
template <class... P>
cudaError_t cudaFuncSetAttribute(void (*kernel)(P...), cudaFuncAttribute attr, int value)
{
    return cudaFuncSetAttribute((const void *)kernel, attr, value);
}

#endif
