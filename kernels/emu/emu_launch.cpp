/* emu_launch.cpp — kernel launches under the emulator: launch checks, the block scheduler
 * that runs CUDA threads as fibers, __syncthreads, warp operations, shared memory, and the
 * reports that name kernel, block and thread when a rule is broken. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "emu_fiber.h"
#include "emu_internal.h"

namespace wxemu {

__thread const lane_info *tls_lane;
__thread uint3 tls_block_idx, tls_block_dim, tls_grid_dim;

static const size_t default_shared_bytes = 48 * 1024;
static const size_t optin_shared_bytes = 227 * 1024;
static const unsigned max_block_threads = 1024;
/* The dynamic array starts where a GPU puts it when the kernel has no static shared
 * memory: at the block's shared window, aligned far beyond the 16 bytes CUDA promises
 * (wmma tiles need 32). */
static const size_t dynamic_align = 128;

enum class fiber_state { ready, barrier, warp_wait, done };

struct fiber {
    lane_info lane{};
    unsigned linear{}; /* x + y·bx + z·bx·by; lane = linear % 32 */
    fiber_state state{};
    bool started{};
    bool abandoned{}; /* left mid-run by a failed launch: its stack needs scrubbing */
    fiber_context ctx{};
    fiber_stack stack;
    const char *bar_file{}; /* where it waits at __syncthreads */
    int bar_line{};
    warp_kind wkind{}; /* the warp operation it waits in */
    const char *wfn{};
    unsigned wmask{};
    uint64_t wvalue{};
    unsigned wsrc{};
    const char *wfile{};
    int wline{};
    uint64_t wresult{};

    fiber() : stack(fiber_stack_alloc()) {}
    ~fiber() { fiber_stack_free(stack); }
    fiber(const fiber &) = delete;
    fiber &operator=(const fiber &) = delete;
};

struct shared_block {
    const void *site;
    void *mem;
    size_t bytes;
};

struct kernel_info {
    int max_threads = 0;      /* WX_KERNEL_BOUNDS, 0 when none */
    int max_dynamic = -1;     /* cudaFuncAttributeMaxDynamicSharedMemorySize, -1 unset */
    const char *name = nullptr;
};

struct launch_state {
    const char *name;
    dim3 grid, block;
    unsigned nthreads;
    size_t dynamic_bytes;
    size_t budget; /* static + dynamic shared bytes allowed */
    void *dynamic_mem;
    std::vector<shared_block> statics;
    size_t static_bytes;
    void (*call)(const void *);
    const void *args;
    unsigned n_done, n_barrier, n_warp_wait;
    unsigned warp_waiting[32], warp_done[32]; /* per warp: lanes in a warp op, lanes exited */
    bool failed;
    cudaError_t error; /* of the failure */
    fiber_context sched;
};

static std::mutex launch_mutex; /* one launch at a time, process-wide */
static std::vector<std::unique_ptr<fiber>> fiber_pool; /* grows, reused by every launch */
static launch_state *cur_launch;
static fiber *cur_fiber;

static std::mutex kernels_mutex;

static std::map<const void *, kernel_info> &kernel_table()
{
    static std::map<const void *, kernel_info> table;
    return table;
}

static kernel_info lookup_kernel(const void *kernel)
{
    std::lock_guard<std::mutex> lock(kernels_mutex);
    auto it = kernel_table().find(kernel);
    return it == kernel_table().end() ? kernel_info() : it->second;
}

int register_kernel_bounds(const void *kernel, int max_threads, const char *name)
{
    std::lock_guard<std::mutex> lock(kernels_mutex);
    kernel_info &k = kernel_table()[kernel];
    k.max_threads = max_threads;
    k.name = name;
    return max_threads;
}

} /* namespace wxemu */

extern "C" cudaError_t cudaFuncSetAttribute(const void *kernel, cudaFuncAttribute attr,
                                            int value)
{
    using namespace wxemu;
    if (!kernel) return call_error(cudaErrorInvalidDeviceFunction, "cudaFuncSetAttribute: null kernel");
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize)
        return call_error(cudaErrorInvalidValue, "cudaFuncSetAttribute: attribute %d is not emulated",
                          (int)attr);
    if (value < 0 || (size_t)value > optin_shared_bytes)
        return call_error(cudaErrorInvalidValue,
                          "cudaFuncSetAttribute: %d bytes of dynamic shared memory is over the "
                          "227 KiB opt-in limit", value);
    std::lock_guard<std::mutex> lock(kernels_mutex);
    kernel_table()[kernel].max_dynamic = value;
    return cudaSuccess;
}

namespace wxemu {

/* ---- reports ---------------------------------------------------------------------- */

static void vformat(char *buf, size_t size, const char *fmt, va_list ap)
{
    vsnprintf(buf, size, fmt, ap);
}

static void report_at(const fiber *f, cudaError_t code, const char *fmt, va_list ap)
{
    char what[768], msg[1024];
    vformat(what, sizeof what, fmt, ap);
    const uint3 b = tls_block_idx, t = f->lane.thread_idx;
    snprintf(msg, sizeof msg, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u): %s",
             cur_launch->name, b.x, b.y, b.z, t.x, t.y, t.z, what);
    report_failure(code, msg);
    cur_launch->failed = true;
    cur_launch->error = code;
}

/* A failure found by the scheduler, attributed to thread f. */
static void fail_at(const fiber *f, cudaError_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail_at(const fiber *f, cudaError_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_at(f, code, fmt, ap);
    va_end(ap);
}

/* A failure found by the running thread: it never resumes. */
[[noreturn]] static void fail_here(cudaError_t code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
[[noreturn]] static void fail_here(cudaError_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_at(cur_fiber, code, fmt, ap);
    va_end(ap);
    cur_fiber->abandoned = true;
    fiber_leave(&cur_fiber->ctx, &cur_launch->sched, true);
    abort(); /* not reached: the scheduler drops a failed launch */
}

static cudaError_t fail_launch(cudaError_t code, const char *name, dim3 grid, dim3 block,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static cudaError_t fail_launch(cudaError_t code, const char *name, dim3 grid, dim3 block,
                               const char *fmt, ...)
{
    char what[768], msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vformat(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof msg, "launch of kernel %s, grid (%u,%u,%u), block (%u,%u,%u): %s", name,
             grid.x, grid.y, grid.z, block.x, block.y, block.z, what);
    report_failure(code, msg);
    return code;
}

/* ---- the scheduler ---------------------------------------------------------------- */

static void yield_to_scheduler()
{
    fiber_leave(&cur_fiber->ctx, &cur_launch->sched, false);
}

static void fiber_main(void *arg)
{
    fiber_started();
    fiber *f = (fiber *)arg;
    cur_launch->call(cur_launch->args);
    f->state = fiber_state::done;
    cur_launch->n_done++;
    cur_launch->warp_done[f->linear / 32]++;
    fiber_leave(&f->ctx, &cur_launch->sched, true);
    abort(); /* a finished fiber is never resumed */
}

static void resume(fiber *f)
{
    if (!f->started) {
        if (f->abandoned) fiber_stack_scrub(f->stack);
        f->abandoned = false;
        fiber_prepare(&f->ctx, f->stack, fiber_main, f);
        f->started = true;
    }
    cur_fiber = f;
    tls_lane = &f->lane;
    fiber_enter(&cur_launch->sched, &f->ctx, f->stack);
}

static const char *describe_wait(const fiber *o, char *buf, size_t size)
{
    if (o->state == fiber_state::done)
        snprintf(buf, size, "has exited");
    else if (o->state == fiber_state::barrier)
        snprintf(buf, size, "waits at __syncthreads (%s:%d)", o->bar_file, o->bar_line);
    else if (o->state == fiber_state::warp_wait)
        snprintf(buf, size, "waits in %s (%s:%d) with mask 0x%08x", o->wfn, o->wfile, o->wline,
                 o->wmask);
    else
        snprintf(buf, size, "is running");
    return buf;
}

static bool same_warp_op(const fiber *a, const fiber *b)
{
    if (a->wkind != b->wkind || a->wmask != b->wmask) return false;
    if (a->wfn != b->wfn && strcmp(a->wfn, b->wfn) != 0) return false;
    if (a->wkind == warp_kind::sync) return true; /* __syncwarp may pair across call sites */
    return a->wline == b->wline && (a->wfile == b->wfile || strcmp(a->wfile, b->wfile) == 0);
}

/* Nothing is runnable: release a barrier every thread reached, or report why not. */
static bool resolve_stall()
{
    launch_state *L = cur_launch;
    char buf[256];
    if (L->n_warp_wait) {
        for (unsigned i = 0; i < L->nthreads; i++) {
            fiber *w = fiber_pool[i].get();
            if (w->state != fiber_state::warp_wait) continue;
            unsigned base = w->linear & ~31u;
            for (unsigned l = 0; l < 32; l++) {
                const fiber *o = fiber_pool[base + l].get();
                if (!(w->wmask >> l & 1) || (o->state == fiber_state::warp_wait && same_warp_op(o, w)))
                    continue;
                fail_at(w, cudaErrorLaunchFailure,
                        "%s (%s:%d) with mask 0x%08x never completes: lane %u %s (deadlock)",
                        w->wfn, w->wfile, w->wline, w->wmask, l, describe_wait(o, buf, sizeof buf));
                return false;
            }
        }
    }
    const fiber *first = nullptr, *exited = nullptr;
    for (unsigned i = 0; i < L->nthreads; i++) {
        const fiber *f = fiber_pool[i].get();
        if (f->state == fiber_state::done && !exited) exited = f;
        if (f->state != fiber_state::barrier) continue;
        if (!first) {
            first = f;
        } else if (f->bar_line != first->bar_line ||
                   (f->bar_file != first->bar_file && strcmp(f->bar_file, first->bar_file) != 0)) {
            const uint3 t = first->lane.thread_idx;
            fail_at(f, cudaErrorLaunchFailure,
                    "waits at __syncthreads (%s:%d) while thread (%u,%u,%u) waits at another "
                    "__syncthreads (%s:%d): divergent barrier",
                    f->bar_file, f->bar_line, t.x, t.y, t.z, first->bar_file, first->bar_line);
            return false;
        }
    }
    if (exited) {
        const uint3 t = exited->lane.thread_idx;
        fail_at(first, cudaErrorLaunchFailure,
                "__syncthreads (%s:%d) is reached by %u of %u threads; thread (%u,%u,%u) exited "
                "without reaching it (divergent barrier)",
                first->bar_file, first->bar_line, L->n_barrier, L->nthreads, t.x, t.y, t.z);
        return false;
    }
    for (unsigned i = 0; i < L->nthreads; i++) fiber_pool[i]->state = fiber_state::ready;
    L->n_barrier = 0;
    return true;
}

/* Shared memory for one launch; out of memory is fatal, as for the fiber stacks. */
static void *shared_alloc(size_t bytes, size_t align)
{
    void *mem = nullptr;
    if (posix_memalign(&mem, align, bytes) != 0) {
        fputs("wx-emu: out of memory for shared memory\n", stderr);
        abort();
    }
    return mem;
}

static void poison_shared(launch_state *L)
{
    for (const shared_block &s : L->statics) memset(s.mem, 0xff, s.bytes);
    if (L->dynamic_mem) memset(L->dynamic_mem, 0xff, L->dynamic_bytes);
}

/* Threads run in ascending order in even blocks and descending order in odd ones, so
 * that a result read before the __syncthreads that should guard it differs between
 * blocks (it reads poisoned shared memory in one of the two orders). */
static bool run_block(launch_state *L, uint3 block_idx, bool descending)
{
    tls_block_idx = block_idx;
    poison_shared(L);
    for (unsigned i = 0; i < L->nthreads; i++) {
        fiber_pool[i]->state = fiber_state::ready;
        fiber_pool[i]->started = false;
    }
    L->n_done = L->n_barrier = L->n_warp_wait = 0;
    memset(L->warp_waiting, 0, sizeof L->warp_waiting);
    memset(L->warp_done, 0, sizeof L->warp_done);
    for (;;) {
        bool ran = false;
        for (unsigned n = 0; n < L->nthreads; n++) {
            unsigned i = descending ? L->nthreads - 1 - n : n;
            if (fiber_pool[i]->state != fiber_state::ready) continue;
            resume(fiber_pool[i].get());
            ran = true;
            if (L->failed) return false;
        }
        if (L->n_done == L->nthreads) return true;
        if (!ran && !resolve_stall()) return false;
    }
}

static void prepare_fibers(dim3 block, unsigned n)
{
    while (fiber_pool.size() < n) fiber_pool.push_back(std::make_unique<fiber>());
    for (unsigned i = 0; i < n; i++) {
        fiber *f = fiber_pool[i].get();
        f->linear = i;
        f->lane.thread_idx = uint3{i % block.x, i / block.x % block.y, i / (block.x * block.y)};
    }
}

/* The failed launch left fibers mid-run: mark their stacks for scrubbing. */
static void abandon_fibers(unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        fiber *f = fiber_pool[i].get();
        if (f->started && f->state != fiber_state::done) f->abandoned = true;
    }
}

static cudaError_t check_launch(const char *name, const kernel_info &k, dim3 grid, dim3 block,
                                size_t smem, cudaStream_t stream)
{
    unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
    if (!grid.x || !grid.y || !grid.z)
        return fail_launch(cudaErrorInvalidConfiguration, name, grid, block, "empty grid");
    if (!threads)
        return fail_launch(cudaErrorInvalidConfiguration, name, grid, block, "empty block");
    if (grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535)
        return fail_launch(cudaErrorInvalidConfiguration, name, grid, block,
                           "grid over the limits (2^31-1, 65535, 65535)");
    if (block.z > 64 || threads > max_block_threads)
        return fail_launch(cudaErrorInvalidConfiguration, name, grid, block,
                           "block of %llu threads over CUDA's limits (1024 threads, z ≤ 64)",
                           threads);
    if (k.max_threads && threads > (unsigned long long)k.max_threads)
        return fail_launch(cudaErrorLaunchOutOfResources, name, grid, block,
                           "block of %llu threads exceeds the kernel's WX_KERNEL_BOUNDS of %d",
                           threads, k.max_threads);
    size_t dynamic_limit = k.max_dynamic >= 0 ? (size_t)k.max_dynamic : default_shared_bytes;
    if (smem > dynamic_limit)
        return fail_launch(cudaErrorInvalidValue, name, grid, block,
                           "%zu bytes of dynamic shared memory exceed the kernel's limit of %zu "
                           "(raise it with cudaFuncSetAttribute(kernel, "
                           "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), at most 227 KiB)",
                           smem, dynamic_limit);
    if (!is_live_stream(stream))
        return fail_launch(cudaErrorInvalidResourceHandle, name, grid, block,
                           "stream %p is not a live stream", (void *)stream);
    return cudaSuccess;
}

cudaError_t launch(const char *name, const void *kernel, dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, void (*call)(const void *), const void *args)
{
    std::lock_guard<std::mutex> lock(launch_mutex);
    kernel_info k = lookup_kernel(kernel);
    cudaError_t err = check_launch(name, k, grid, block, smem, stream);
    if (err != cudaSuccess) return err;
    bool at_launch = false;
    if (take_injection(name, &err, &at_launch)) {
        if (at_launch) return call_error(err, "%s: injected launch error", name);
        set_pending_fault(err); /* the kernel "faults": reported at the next synchronise */
        return cudaSuccess;
    }

    launch_state L{};
    L.name = name;
    L.grid = grid;
    L.block = block;
    L.nthreads = block.x * block.y * block.z;
    L.dynamic_bytes = smem;
    L.budget = k.max_dynamic >= 0 ? optin_shared_bytes : default_shared_bytes;
    L.dynamic_mem = smem ? shared_alloc(smem, dynamic_align) : nullptr;
    L.call = call;
    L.args = args;
    cur_launch = &L;
    prepare_fibers(block, L.nthreads);
    tls_block_dim = uint3{block.x, block.y, block.z};
    tls_grid_dim = uint3{grid.x, grid.y, grid.z};

    for (unsigned z = 0; z < grid.z && !L.failed; z++)
        for (unsigned y = 0; y < grid.y && !L.failed; y++)
            for (unsigned x = 0; x < grid.x && !L.failed; x++)
                run_block(&L, uint3{x, y, z}, (x + y + z) & 1);

    if (L.failed) abandon_fibers(L.nthreads);
    for (const shared_block &s : L.statics) free(s.mem);
    free(L.dynamic_mem);
    cur_launch = nullptr;
    cur_fiber = nullptr;
    tls_lane = nullptr;
    return L.failed ? L.error : cudaSuccess;
}

cudaError_t launch_queued(const char *name, const void *kernel, dim3 grid, dim3 block,
                          size_t smem, cudaStream_t stream, void (*call)(const void *),
                          std::shared_ptr<const void> args)
{
    cudaError_t err;
    {
        std::lock_guard<std::mutex> lock(launch_mutex);
        err = check_launch(name, lookup_kernel(kernel), grid, block, smem, stream);
    }
    if (err != cudaSuccess) {
        capture_invalidate(stream);
        return err;
    }
    queue_work(stream, [=](cudaStream_t s) {
        return launch(name, kernel, grid, block, smem, s, call, args.get());
    });
    return cudaSuccess;
}

/* ---- barriers and warp operations ------------------------------------------------- */

void syncthreads(const char *file, int line)
{
    cur_fiber->bar_file = file;
    cur_fiber->bar_line = line;
    cur_fiber->state = fiber_state::barrier;
    cur_launch->n_barrier++;
    yield_to_scheduler();
}

static unsigned lanes_in_warp(const fiber *f)
{
    unsigned base = f->linear & ~31u, n = cur_launch->nthreads - base;
    return n < 32 ? n : 32;
}

unsigned active_mask()
{
    unsigned base = cur_fiber->linear & ~31u, n = lanes_in_warp(cur_fiber), mask = 0;
    for (unsigned l = 0; l < n; l++)
        if (fiber_pool[base + l]->state != fiber_state::done) mask |= 1u << l;
    return mask;
}

/* The lane whose value a shuffle of this kind returns to `lane`, as CUDA defines it. */
static unsigned shuffle_source(warp_kind kind, unsigned lane, int arg, int width)
{
    unsigned seg = lane & ~(unsigned)(width - 1), end = seg + (unsigned)width;
    long long src;
    switch (kind) {
    case warp_kind::shfl: return seg + ((unsigned)arg & (unsigned)(width - 1));
    case warp_kind::shfl_up: src = (long long)lane - (unsigned)arg; return src < seg ? lane : (unsigned)src;
    case warp_kind::shfl_down: src = (long long)lane + (unsigned)arg; return src >= end ? lane : (unsigned)src;
    case warp_kind::shfl_xor: src = lane ^ (unsigned)arg; return src >= end ? lane : (unsigned)src;
    default: return lane;
    }
}

static void check_warp_call(const char *fn, unsigned mask, unsigned lane, int width,
                            const char *file, int line)
{
    unsigned n = lanes_in_warp(cur_fiber);
    if (!(mask >> lane & 1))
        fail_here(cudaErrorLaunchFailure, "%s (%s:%d): mask 0x%08x leaves out the calling lane %u",
                  fn, file, line, mask, lane);
    if (n < 32 && (mask >> n))
        fail_here(cudaErrorLaunchFailure,
                  "%s (%s:%d): mask 0x%08x names lanes this warp does not have (it has %u "
                  "threads: the block's %u threads are not a multiple of 32)",
                  fn, file, line, mask, n, cur_launch->nthreads);
    if (width < 1 || width > 32 || (width & (width - 1)))
        fail_here(cudaErrorLaunchFailure, "%s (%s:%d): width %d is not a power of two in 1..32",
                  fn, file, line, width);
}

/* All lanes of the mask wait in the same operation: true. A lane exited: a failure.
 * While no lane of the warp has exited, too few waiting lanes answer at once (most calls). */
static bool warp_op_complete(const fiber *me)
{
    unsigned base = me->linear & ~31u, w = base / 32;
    if (!cur_launch->warp_done[w] &&
        cur_launch->warp_waiting[w] < (unsigned)__builtin_popcount(me->wmask))
        return false;
    for (unsigned l = 0; l < 32; l++) {
        if (!(me->wmask >> l & 1)) continue;
        const fiber *o = fiber_pool[base + l].get();
        if (o == me) continue;
        if (o->state == fiber_state::done)
            fail_here(cudaErrorLaunchFailure,
                      "%s (%s:%d): lane %u named in mask 0x%08x has exited (divergent warp)",
                      me->wfn, me->wfile, me->wline, l, me->wmask);
        if (o->state != fiber_state::warp_wait || !same_warp_op(o, me)) return false;
    }
    return true;
}

static void finish_warp_op(const fiber *me)
{
    unsigned base = me->linear & ~31u, mask = me->wmask;
    uint64_t ballot = 0;
    for (unsigned l = 0; l < 32; l++)
        if ((mask >> l & 1) && fiber_pool[base + l]->wvalue) ballot |= 1ull << l;
    for (unsigned l = 0; l < 32; l++) {
        if (!(mask >> l & 1)) continue;
        fiber *o = fiber_pool[base + l].get();
        if (me->wkind == warp_kind::vote)
            o->wresult = ballot;
        else if (me->wkind == warp_kind::sync || me->wkind == warp_kind::collective)
            o->wresult = 0;
        else
            o->wresult = fiber_pool[base + o->wsrc]->wvalue;
        o->state = fiber_state::ready;
    }
    cur_launch->n_warp_wait -= (unsigned)__builtin_popcount(mask);
    cur_launch->warp_waiting[base / 32] -= (unsigned)__builtin_popcount(mask);
}

uint64_t warp_exchange(warp_kind kind, const char *fn, unsigned mask, uint64_t value, int arg,
                       int width, const char *file, int line)
{
    fiber *me = cur_fiber;
    unsigned lane = me->linear & 31u;
    check_warp_call(fn, mask, lane, width, file, line);
    unsigned src = shuffle_source(kind, lane, arg, width);
    if (!(mask >> src & 1))
        fail_here(cudaErrorLaunchFailure, "%s (%s:%d): lane %u reads lane %u, which is not in mask 0x%08x",
                  fn, file, line, lane, src, mask);
    me->wkind = kind;
    me->wfn = fn;
    me->wmask = mask;
    me->wvalue = value;
    me->wsrc = src;
    me->wfile = file;
    me->wline = line;
    me->state = fiber_state::warp_wait;
    cur_launch->n_warp_wait++;
    cur_launch->warp_waiting[me->linear / 32]++;
    if (warp_op_complete(me))
        finish_warp_op(me);
    else
        yield_to_scheduler();
    return me->wresult;
}

/* ---- shared memory ---------------------------------------------------------------- */

void shared_out_of_bounds(const char *name, long long index, long long count)
{
    fail_here(cudaErrorIllegalAddress, "shared memory %s: index %lld is outside [0, %lld)", name,
              index, count);
}

void kernel_fault(cudaError_t code, const char *what)
{
    fail_here(code, "%s", what);
}

void *static_shared(const void *site, size_t bytes, size_t align, const char *name)
{
    launch_state *L = cur_launch;
    for (const shared_block &s : L->statics)
        if (s.site == site) return s.mem;
    size_t total = L->static_bytes + bytes;
    if (total > default_shared_bytes)
        fail_here(cudaErrorInvalidValue,
                  "shared array %s brings static shared memory to %zu bytes, over the 48 KiB "
                  "static limit", name, total);
    if (total + L->dynamic_bytes > L->budget)
        fail_here(cudaErrorInvalidValue,
                  "shared array %s: static (%zu) + dynamic (%zu) shared memory exceeds the "
                  "kernel's budget of %zu bytes (raise it with cudaFuncSetAttribute(kernel, "
                  "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), at most 227 KiB)",
                  name, total, L->dynamic_bytes, L->budget);
    void *mem = shared_alloc(bytes, align > 16 ? align : 16);
    memset(mem, 0xff, bytes);
    L->statics.push_back(shared_block{site, mem, bytes});
    L->static_bytes = total;
    return mem;
}

void *dynamic_shared(size_t *bytes, size_t align, const char *name)
{
    if (align > 16)
        fail_here(cudaErrorInvalidValue,
                  "dynamic shared array %s needs %zu-byte alignment; CUDA guarantees 16", name,
                  align);
    *bytes = cur_launch->dynamic_bytes;
    return cur_launch->dynamic_mem;
}

} /* namespace wxemu */
