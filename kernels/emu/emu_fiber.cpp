/* emu_fiber.cpp — the emulator's fiber stacks and context switch (see emu_fiber.h). */
#include "emu_fiber.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define WX_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WX_EMU_ASAN 1
#endif
#endif

#ifdef WX_EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
/* ASan's instrumented frames are several times larger. */
static const size_t fiber_stack_bytes = 256 * 1024;
#else
static const size_t fiber_stack_bytes = 64 * 1024;
#endif

namespace wxemu {

#ifdef WX_EMU_ASAN
static __thread const void *sched_stack_lo;
static __thread size_t sched_stack_size;

static void asan_start(void **fake_stack, const void *lo, size_t size)
{
    __sanitizer_start_switch_fiber(fake_stack, lo, size);
}

static void asan_finish(void *fake_stack, const void **old_lo, size_t *old_size)
{
    __sanitizer_finish_switch_fiber(fake_stack, old_lo, old_size);
}
#endif

fiber_stack fiber_stack_alloc()
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *base = (char *)mmap(nullptr, fiber_stack_bytes + page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        perror("wx-emu: mmap of a fiber stack");
        abort();
    }
    if (mprotect(base, page, PROT_NONE) != 0) { /* guard page: overflow faults */
        perror("wx-emu: mprotect of a fiber guard page");
        abort();
    }
    return fiber_stack{base + page, fiber_stack_bytes};
}

void fiber_stack_free(const fiber_stack &stack)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    munmap(stack.lo - page, stack.size + page);
}

void fiber_stack_scrub(const fiber_stack &stack)
{
#ifdef WX_EMU_ASAN
    __asan_unpoison_memory_region(stack.lo, stack.size);
#else
    (void)stack;
#endif
}

void fiber_started()
{
#ifdef WX_EMU_ASAN
    asan_finish(nullptr, &sched_stack_lo, &sched_stack_size);
#endif
}

#if defined(__x86_64__)

extern "C" void wxemu_switch(void **save_sp, void *to_sp);
extern "C" void wxemu_fiber_trampoline();

/* wxemu_switch(save_sp, to_sp): push the callee-saved registers and the SSE/x87 control
 * words, store rsp, load to_sp, pop the same. A new fiber's stack is laid out so that the
 * pops deliver entry in r13 and arg in r12 and `ret` lands in the trampoline. */
__asm__(".text\n"
        ".globl wxemu_switch\n"
        ".hidden wxemu_switch\n"
        ".type wxemu_switch,@function\n"
        "wxemu_switch:\n"
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  stmxcsr (%rsp)\n"
        "  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n"
        "  fldcw 4(%rsp)\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size wxemu_switch, .-wxemu_switch\n"
        ".globl wxemu_fiber_trampoline\n"
        ".hidden wxemu_fiber_trampoline\n"
        ".type wxemu_fiber_trampoline,@function\n"
        "wxemu_fiber_trampoline:\n"
        "  movq %r12, %rdi\n"
        "  callq *%r13\n"
        "  ud2\n"
        ".size wxemu_fiber_trampoline, .-wxemu_fiber_trampoline\n");

void fiber_prepare(fiber_context *ctx, const fiber_stack &stack, void (*entry)(void *),
                   void *arg)
{
    uintptr_t top = ((uintptr_t)(stack.lo + stack.size)) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top;
    *--sp = (uint64_t)(uintptr_t)&wxemu_fiber_trampoline; /* ret target; rsp ≡ 0 mod 16 after */
    *--sp = 0;                                             /* rbp */
    *--sp = 0;                                             /* rbx */
    *--sp = (uint64_t)(uintptr_t)arg;                      /* r12 */
    *--sp = (uint64_t)(uintptr_t)entry;                    /* r13 */
    *--sp = 0;                                             /* r14 */
    *--sp = 0;                                             /* r15 */
    *--sp = 0x037fULL << 32 | 0x1f80ULL;                   /* fcw : mxcsr defaults */
    ctx->sp = sp;
    ctx->asan_fake_stack = nullptr;
}

static void switch_context(fiber_context *from, fiber_context *to)
{
    wxemu_switch(&from->sp, to->sp);
}

#else

static void ucontext_entry(unsigned entry_hi, unsigned entry_lo, unsigned arg_hi,
                           unsigned arg_lo)
{
    void (*entry)(void *) = (void (*)(void *))(((uintptr_t)entry_hi << 32) | entry_lo);
    entry((void *)(((uintptr_t)arg_hi << 32) | arg_lo));
    abort(); /* entries leave through fiber_leave and never return */
}

void fiber_prepare(fiber_context *ctx, const fiber_stack &stack, void (*entry)(void *),
                   void *arg)
{
    uint64_t e = (uint64_t)(uintptr_t)entry, a = (uint64_t)(uintptr_t)arg;
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = stack.lo;
    ctx->uc.uc_stack.ss_size = stack.size;
    ctx->uc.uc_link = nullptr;
    makecontext(&ctx->uc, (void (*)())ucontext_entry, 4, (unsigned)(e >> 32), (unsigned)e,
                (unsigned)(a >> 32), (unsigned)a);
    ctx->asan_fake_stack = nullptr;
}

static void switch_context(fiber_context *from, fiber_context *to)
{
    swapcontext(&from->uc, &to->uc);
}

#endif

void fiber_enter(fiber_context *sched, fiber_context *fiber, const fiber_stack &stack)
{
#ifdef WX_EMU_ASAN
    asan_start(&sched->asan_fake_stack, stack.lo, stack.size);
#else
    (void)stack;
#endif
    switch_context(sched, fiber);
#ifdef WX_EMU_ASAN
    asan_finish(sched->asan_fake_stack, nullptr, nullptr);
#endif
}

void fiber_leave(fiber_context *fiber, fiber_context *sched, bool final)
{
#ifdef WX_EMU_ASAN
    asan_start(final ? nullptr : &fiber->asan_fake_stack, sched_stack_lo, sched_stack_size);
#else
    (void)final;
#endif
    switch_context(fiber, sched);
#ifdef WX_EMU_ASAN
    asan_finish(fiber->asan_fake_stack, &sched_stack_lo, &sched_stack_size);
#endif
}

} /* namespace wxemu */
