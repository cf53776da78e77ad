/* ops_align.h — the CPU backend's word-timing ops (attention_probs, alignment_matrix;
 * contracts in backend.h). backend_cpu.c puts them in its table with WX_CPU_ALIGN_OPS. */
#ifndef WX_CPU_OPS_ALIGN_H
#define WX_CPU_OPS_ALIGN_H

#include "../backend.h"

void wx_cpu_attention_probs(wx_backend *be, wx_tensor *out, int head0, const wx_tensor *q,
                            int64_t q_stride, const wx_tensor *k, int64_t kv_stride, int n_head,
                            const int32_t *heads, int n_sel, const int32_t *n_frames);
void wx_cpu_alignment_matrix(wx_backend *be, wx_tensor *out, wx_tensor *probs,
                             const int32_t *n_tokens, const int32_t *n_frames, int width);

#define WX_CPU_ALIGN_OPS \
    .attention_probs = wx_cpu_attention_probs, .alignment_matrix = wx_cpu_alignment_matrix

/* The largest median-filter width the ops accept (openai/whisper uses 7). */
#define WX_MAX_MEDIAN_WIDTH 31

#endif
