/* common.cuh — what every kernel source includes: the CUDA runtime (real, or the host
 * emulation in emu/ when WX_CUDA_EMU is defined) and the three macros through which kernels
 * touch the launch machinery, so that one source compiles under nvcc and under the host
 * compiler:
 *
 *   WX_LAUNCH(kernel, grid, block, smem_bytes, stream, args...)
 *       nvcc: kernel<<<grid, block, smem_bytes, stream>>>(args...)
 *       emu:  runs every block, threads as cooperative fibers, with checks.
 *   WX_KERNEL_BOUNDS(kernel, max_threads)
 *       after a kernel's definition: its block-size limit (the kernel itself carries
 *       __launch_bounds__(max_threads)); the emulator refuses larger launches.
 *   WX_SHARED(type, name, count) / WX_DYNAMIC_SHARED(type, name)
 *       static / dynamic shared memory inside a kernel; indexed as name[i]. Under the
 *       emulator both are per-block, bounds-checked, and counted against the budget.
 */
#ifndef WX_KERNELS_COMMON_CUH
#define WX_KERNELS_COMMON_CUH

#ifdef WX_CUDA_EMU
#include "emu/cuda_emu.h"
#else
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#define WX_LAUNCH(kernel, grid, block, smem, stream, ...) \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
#define WX_KERNEL_BOUNDS(kernel, max_threads)
#define WX_SHARED(type, name, count) __shared__ type name[count]
#define WX_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#define WX_WARP 32

#endif
