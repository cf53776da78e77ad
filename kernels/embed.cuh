/* embed.cuh — token + position embedding: launcher and op entry (see embed.cu). */
#ifndef WX_KERNELS_EMBED_CUH
#define WX_KERNELS_EMBED_CUH

#include "wxk.cuh"

/* out (rows = B·T, d) = table[ids[r]] + pos[pos_offset (+ *pos_dyn) + r mod T]; ids and
 * pos_dyn (NULL: none) on the device. */
void wxk_embed(float *out, const int32_t *ids, const float *table, const float *pos,
               int64_t rows, int64_t t, int64_t d, int64_t pos_offset, const int64_t *pos_dyn,
               cudaStream_t stream);
/* The same with an fp16 table (vocab, d). */
void wxk_embed_f16(float *out, const int32_t *ids, const __half *table, const float *pos,
                   int64_t rows, int64_t t, int64_t d, int64_t pos_offset,
                   const int64_t *pos_dyn, cudaStream_t stream);
/* table F32 or F16, pos F32; ids: host (B·T); copied to scratch (while a step is recorded,
 * the step's device ids are read instead: wxk_ctx.step_ids). */
void wxk_op_embed(const wxk_ctx *c, wx_tensor *out, const int32_t *ids, const wx_tensor *table,
                  const wx_tensor *pos, int64_t pos_offset);

#endif
