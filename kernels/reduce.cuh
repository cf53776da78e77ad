/* reduce.cuh — warp and block reductions shared by the row kernels (layer norm, softmax,
 * top-k): warp shuffles, then one value per warp through a 32-entry shared array that the
 * calling kernel declares with WX_SHARED and passes in (any indexable type). */
#ifndef WX_KERNELS_REDUCE_CUH
#define WX_KERNELS_REDUCE_CUH

#include "common.cuh"

#define WXK_FULL_MASK 0xffffffffu

__device__ __forceinline__ float wxk_warp_sum(float v)
{
    for (int off = WX_WARP / 2; off > 0; off >>= 1) v += __shfl_xor_sync(WXK_FULL_MASK, v, off);
    return v;
}

__device__ __forceinline__ float wxk_warp_max(float v)
{
    for (int off = WX_WARP / 2; off > 0; off >>= 1)
        v = fmaxf(v, __shfl_xor_sync(WXK_FULL_MASK, v, off));
    return v;
}

/* Block-wide sum (is_max = 0) or max (is_max = 1) of v, returned to every thread.
 * red: ≥ 32 floats of shared memory; blockDim.x a multiple of 32. */
template <typename Smem>
__device__ float wxk_block_reduce(float v, int is_max, Smem &red)
{
    int lane = threadIdx.x % WX_WARP, warp = threadIdx.x / WX_WARP;
    int n_warps = blockDim.x / WX_WARP;
    v = is_max ? wxk_warp_max(v) : wxk_warp_sum(v);
    __syncthreads(); /* red may still be read from a previous reduction */
    if (lane == 0) red[warp] = v;
    __syncthreads();
    v = lane < n_warps ? red[lane] : (is_max ? -INFINITY : 0.0f);
    return is_max ? wxk_warp_max(v) : wxk_warp_sum(v);
}

#endif
