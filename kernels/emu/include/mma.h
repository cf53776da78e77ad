/* mma.h (emulated) — stands in for the toolkit's <mma.h> in WX_CUDA_EMU builds: the
 * nvcuda::wmma m16n16k16 API with half A/B fragments (row- or column-major) and float or
 * half accumulators: fragment, fill_fragment, load_matrix_sync, mma_sync,
 * store_matrix_sync, num_elements and x[].
 *
 * Fragment layouts are opaque on a GPU, so a correct program never depends on which lane
 * holds which element. Here an accumulator holds its lane's 8 of 256 elements
 * (num_elements 8, as on the hardware: rows g and g + 8, columns 2t, 2t + 1, 2t + 8,
 * 2t + 9 for lane 4g + t), and an A or B fragment exactly what those need: A the lane's 2
 * rows (num_elements 32), B its 4 columns (64), as raw halves. mma_sync computes only the
 * lane's own 8 outputs (8 × 16 float FMAs from exact half products, in k order), so the
 * emulated arithmetic equals the real one; store_matrix_sync writes only the lane's
 * elements.
 *
 * Checks (reported like every in-kernel fault, with kernel, block and thread): the load,
 * mma and store calls are warp-collective — all 32 lanes must reach the same call
 * (an exited lane, a short last warp or different call sites fail); each waits for the
 * whole warp first, as CUDA documents, then acts. Pointers must be 256-bit aligned and
 * ldm a multiple of 16 bytes (cudaErrorMisalignedAddress); a shared-memory view
 * (WX_SHARED / WX_DYNAMIC_SHARED, or `view + off`) must hold the whole tile, first to
 * last element (cudaErrorIllegalAddress, naming the array and the index). */
#ifndef WX_EMU_SHIM_MMA_H
#define WX_EMU_SHIM_MMA_H

#include <stdio.h>
#include <string.h>

#include <vector>
#ifdef __F16C__
#include <immintrin.h>
#endif

#include "../cuda_emu.h"

namespace wxemu {

/* All 32 lanes of the caller's warp meet here (same call site) before it goes on. */
inline void warp_collective(const char *fn, const char *file, int line)
{
    warp_exchange(warp_kind::collective, fn, 0xffffffffu, 0, 0, 32, file, line);
}

inline unsigned wmma_lane()
{
    uint3 t = threadIdx, d = blockDim;
    return (t.x + d.x * (t.y + d.y * t.z)) & 31u;
}

/* 16 halves → floats, exact: the host's F16C instructions when the build enables them
 * (Release: -march=x86-64-v3), else a 64 K-entry table instead of the branchy conversion. */
inline void widen16(const __half *src, float *dst)
{
#ifdef __F16C__
    __m128i lo, hi;
    memcpy(&lo, src, sizeof lo);
    memcpy(&hi, src + 8, sizeof hi);
    _mm256_storeu_ps(dst, _mm256_cvtph_ps(lo));
    _mm256_storeu_ps(dst + 8, _mm256_cvtph_ps(hi));
#else
    static const std::vector<float> table = [] {
        std::vector<float> t(65536);
        for (unsigned i = 0; i < 65536; i++) t[i] = half_bits_to_float((uint16_t)i);
        return t;
    }();
    for (int k = 0; k < 16; k++) dst[k] = table[src[k].__x];
#endif
}

template <class T> void wmma_check_ptr(const char *fn, const T *p, unsigned ldm)
{
    char what[160];
    if ((uintptr_t)p % 32 == 0 && ldm % (16 / sizeof(T)) == 0) return;
    snprintf(what, sizeof what, "%s: pointer %p must be 256-bit aligned and ldm %u a multiple "
             "of %zu elements", fn, (const void *)p, ldm, 16 / sizeof(T));
    kernel_fault(cudaErrorMisalignedAddress, what);
}

/* A 16×16 tile at view p with leading dimension ldm spans [off, off + 15·ldm + 15]. */
template <class T> T *wmma_tile(const shared_span<T> &p, unsigned ldm)
{
    long long first = p.offset, last = p.offset + 15LL * ldm + 15;
    if (first < 0 || first >= p.count) shared_out_of_bounds(p.name, first, p.count);
    if (last >= p.count) shared_out_of_bounds(p.name, last, p.count);
    return p.base + p.offset;
}

/* The lane's accumulator element i: row and column in the 16×16 tile. */
inline int acc_row(unsigned lane, int i) { return (int)(lane >> 2) + 8 * ((i >> 1) & 1); }
inline int acc_col(unsigned lane, int i) { return 2 * (int)(lane & 3) + (i & 1) + 8 * (i >> 2); }
/* Where accumulator element i of lane sits in a tile stored with leading dimension ldm. */
inline size_t acc_offset(unsigned lane, int i, unsigned ldm, bool row_major)
{
    size_t r = (size_t)acc_row(lane, i), c = (size_t)acc_col(lane, i);
    return row_major ? r * ldm + c : c * ldm + r;
}

} /* namespace wxemu */

namespace nvcuda {
namespace wmma {

struct row_major {};
struct col_major {};
struct matrix_a {};
struct matrix_b {};
struct accumulator {};

enum layout_t { mem_row_major, mem_col_major };

template <class T, int N> struct frag_base {
    enum { num_elements = N, num_storage_elements = N };
    typedef T element_type;
    typedef T storage_element_type;
    T x[N];
};

/* Only m16n16k16 with half inputs exists here; other shapes and types do not compile. */
template <class Use, int m, int n, int k, class T, class Layout = void> class fragment;

/* A: the lane's rows g and g + 8 (x[i·16 + k], i = 0, 1); B: its columns 2t, 2t + 1,
 * 2t + 8, 2t + 9 (x[j·16 + k], j = 0..3): what its accumulator elements need. */
template <class L> class fragment<matrix_a, 16, 16, 16, __half, L> : public frag_base<__half, 32> {
    static_assert(std::is_same<L, row_major>::value || std::is_same<L, col_major>::value,
                  "wmma: matrix_a needs row_major or col_major");
};
template <class L> class fragment<matrix_b, 16, 16, 16, __half, L> : public frag_base<__half, 64> {
    static_assert(std::is_same<L, row_major>::value || std::is_same<L, col_major>::value,
                  "wmma: matrix_b needs row_major or col_major");
};
template <> class fragment<accumulator, 16, 16, 16, float> : public frag_base<float, 8> {};
template <> class fragment<accumulator, 16, 16, 16, __half> : public frag_base<__half, 8> {};

template <class T, int N>
inline void fill_fragment(frag_base<T, N> &f, const typename std::common_type<T>::type &v)
{
    for (int i = 0; i < N; i++) f.x[i] = v;
}

/* ---- A and B: the lane's rows of A, columns of B ------------------------------------- */

/* Where the lane's run q (a row of A, a column of B) starts in memory, and the step
 * between its 16 k elements, for layout L and leading dimension ldm. */
template <class Use, class L> void ab_run(unsigned lane, int q, unsigned ldm, size_t *start,
                                          size_t *step)
{
    bool a = std::is_same<Use, matrix_a>::value, col = std::is_same<L, col_major>::value;
    size_t rc = a ? wxemu::acc_row(lane, 2 * q) : wxemu::acc_col(lane, (q & 1) + 4 * (q >> 1));
    bool run_contiguous = a != col; /* A row-major, B column-major */
    *start = run_contiguous ? rc * ldm : rc;
    *step = run_contiguous ? 1 : ldm;
}

template <class Use, class L>
void load_matrix_sync(fragment<Use, 16, 16, 16, __half, L> &f, const __half *p, unsigned ldm,
                      const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    static_assert(!std::is_same<Use, accumulator>::value,
                  "wmma: accumulator loads take a layout_t");
    wxemu::wmma_check_ptr("wmma::load_matrix_sync", p, ldm);
    wxemu::warp_collective("wmma::load_matrix_sync", file, line);
    unsigned lane = wxemu::wmma_lane();
    for (int q = 0; q < f.num_elements / 16; q++) {
        size_t start, step;
        ab_run<Use, L>(lane, q, ldm, &start, &step);
        for (int k = 0; k < 16; k++) f.x[q * 16 + k] = p[start + k * step];
    }
}

template <class Use, class L>
void load_matrix_sync(fragment<Use, 16, 16, 16, __half, L> &f,
                      const wxemu::shared_span<__half> &p, unsigned ldm,
                      const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    load_matrix_sync(f, wxemu::wmma_tile(p, ldm), ldm, file, line);
}

/* ---- accumulators: the lane's 8 elements ---------------------------------------------- */

template <class T>
void load_matrix_sync(fragment<accumulator, 16, 16, 16, T> &f, const T *p, unsigned ldm,
                      layout_t layout, const char *file = __builtin_FILE(),
                      int line = __builtin_LINE())
{
    wxemu::wmma_check_ptr("wmma::load_matrix_sync", p, ldm);
    wxemu::warp_collective("wmma::load_matrix_sync", file, line);
    unsigned lane = wxemu::wmma_lane();
    for (int i = 0; i < 8; i++)
        f.x[i] = p[wxemu::acc_offset(lane, i, ldm, layout == mem_row_major)];
}

template <class T>
void load_matrix_sync(fragment<accumulator, 16, 16, 16, T> &f, const wxemu::shared_span<T> &p,
                      unsigned ldm, layout_t layout, const char *file = __builtin_FILE(),
                      int line = __builtin_LINE())
{
    load_matrix_sync(f, (const T *)wxemu::wmma_tile(p, ldm), ldm, layout, file, line);
}

template <class T>
void store_matrix_sync(T *p, const fragment<accumulator, 16, 16, 16, T> &f, unsigned ldm,
                       layout_t layout, const char *file = __builtin_FILE(),
                       int line = __builtin_LINE())
{
    wxemu::wmma_check_ptr("wmma::store_matrix_sync", p, ldm);
    wxemu::warp_collective("wmma::store_matrix_sync", file, line);
    unsigned lane = wxemu::wmma_lane();
    for (int i = 0; i < 8; i++)
        p[wxemu::acc_offset(lane, i, ldm, layout == mem_row_major)] = f.x[i];
}

template <class T>
void store_matrix_sync(const wxemu::shared_span<T> &p,
                       const fragment<accumulator, 16, 16, 16, T> &f, unsigned ldm,
                       layout_t layout, const char *file = __builtin_FILE(),
                       int line = __builtin_LINE())
{
    store_matrix_sync(wxemu::wmma_tile(p, ldm), f, ldm, layout, file, line);
}

/* d = a · b + c for the lane's 8 elements from its 2 rows of a and 4 columns of b, widened
 * once; the 8 sums advance together (independent chains, unrolled so that they stay in
 * registers), each in k order. d may be c. */
template <class TD, class TC, class LA, class LB>
void mma_sync(fragment<accumulator, 16, 16, 16, TD> &d,
              const fragment<matrix_a, 16, 16, 16, __half, LA> &a,
              const fragment<matrix_b, 16, 16, 16, __half, LB> &b,
              const fragment<accumulator, 16, 16, 16, TC> &c, const char *file = __builtin_FILE(),
              int line = __builtin_LINE())
{
    wxemu::warp_collective("wmma::mma_sync", file, line);
    float ar[2][16], bc[4][16], s[8];
    for (int i = 0; i < 2; i++) wxemu::widen16(a.x + 16 * i, ar[i]);
    for (int j = 0; j < 4; j++) wxemu::widen16(b.x + 16 * j, bc[j]);
    for (int i = 0; i < 8; i++) s[i] = (float)c.x[i];
#pragma GCC unroll 16
    for (int k = 0; k < 16; k++)
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) s[i] += ar[(i >> 1) & 1][k] * bc[(i & 1) + 2 * (i >> 2)][k];
    for (int i = 0; i < 8; i++) d.x[i] = s[i];
}

} /* namespace wmma */
} /* namespace nvcuda */

#endif
