/* emu_fiber.h — cooperative fibers for the emulator (internal): small stacks allocated
 * once with a guard page below each, and a context switch that saves only the registers
 * the calling convention preserves (x86-64 assembly; ucontext elsewhere). Switches are
 * announced to AddressSanitizer when it is on. */
#ifndef WX_EMU_FIBER_H
#define WX_EMU_FIBER_H

#include <stddef.h>

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace wxemu {

struct fiber_stack {
    char *lo;    /* lowest usable address */
    size_t size; /* usable bytes above lo */
};

struct fiber_context {
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t uc;
#endif
    void *asan_fake_stack;
};

/* Maps a stack of the emulator's fiber stack size (more under ASan). */
fiber_stack fiber_stack_alloc();
void fiber_stack_free(const fiber_stack &stack);
/* Prepares ctx to run entry(arg) on stack at the next fiber_enter. */
void fiber_prepare(fiber_context *ctx, const fiber_stack &stack, void (*entry)(void *),
                   void *arg);
/* Scheduler → fiber; returns when the fiber calls fiber_leave. */
void fiber_enter(fiber_context *sched, fiber_context *fiber, const fiber_stack &stack);
/* Fiber → scheduler; `final` when the fiber will not be resumed. */
void fiber_leave(fiber_context *fiber, fiber_context *sched, bool final);
/* First thing a fiber's entry function calls. */
void fiber_started();
/* Forgets sanitizer state left on a stack whose fiber was abandoned mid-run. */
void fiber_stack_scrub(const fiber_stack &stack);

} /* namespace wxemu */

#endif
