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
/* 128-byte aligned: WMMA tiles need 32-byte pointers, and a static WX_SHARED array in the
 * same kernel would otherwise leave the dynamic array only 16-byte aligned. */
#define WX_DYNAMIC_SHARED(type, name) extern __shared__ __align__(128) type name[]
#endif

#define WX_WARP 32

/* float → half, IEEE round to nearest even, saturating at ±65504 (the largest finite half)
 * instead of overflowing to ±inf, so one large activation cannot become an inf and then a
 * NaN downstream (0·inf in attention or softmax); NaN stays NaN. Every fp16 converter of the
 * kernels (weights and activations for the GEMMs, K/V caches, conv1d staging) uses it. */
#define WXK_HALF_MAX 65504.0f
static __device__ __forceinline__ __half wxk_float2half_sat(float v)
{
    if (fabsf(v) > WXK_HALF_MAX) v = copysignf(WXK_HALF_MAX, v);
    return __float2half_rn(v);
}

#endif
