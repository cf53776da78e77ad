/* ops_q8.h — the CPU backend's int8 weights (WX_Q8, layout in backend.h): quantizing a
 * float32 matrix at upload, linear with int8 weights and per-row int8 activations, and the
 * embedding lookup from an int8 table, all computed as CTranslate2's int8 compute type does
 * on an x86 CPU (oneDNN/MKL u8s8s32 GEMMs), so that the integers are the same. */
#ifndef WX_CPU_OPS_Q8_H
#define WX_CPU_OPS_Q8_H

#include "../backend.h"

/* t (N, K) WX_Q8 from host (N·K floats, row-major): per row scale = 127 / max |x| (1 for a
 * zero row), q = nearbyint(x · scale). */
void wx_cpu_q8_upload(wx_tensor *t, const float *host);

/* out (M, N) = a (M, K) · wᵀ [+ bias (N)] with w (N, K) WX_Q8, CTranslate2's arithmetic:
 * each row of a quantized to u8 with a_scale = 127 / max |a_i| (1 for a zero row),
 *   qa = nearbyint(a · a_scale + 128)  (float32 product, then float32 sum),
 * c = Σ qa·q − 128·Σ q exact in int32, and out = (float(c) · (1 / a_scale)) / scale[n] + bias[n]. */
void wx_cpu_q8_linear(wx_backend *be, float *out, const float *a, int64_t m, const wx_tensor *w,
                      const float *bias);

/* dst (D) = table row id · (1 / scale[id]) + pos (D): the int8 embedding lookup. */
void wx_cpu_q8_embed_row(float *dst, const wx_tensor *table, int64_t id, const float *pos);

/* Which kernel the int8 dot products run on here (the integers are the same on each):
 * AVX-512 VNNI, else AVX2, else a portable loop; WX_CPU_Q8_KERNEL=avx2 or =portable in the
 * environment caps the choice (tests). */
bool wx_cpu_q8_uses_vnni(void);
bool wx_cpu_q8_uses_avx2(void);

#endif
