/* mel.cuh — Whisper's log-mel front end on the device: launchers and op entry (see mel.cu).
 * Same recipe as src/io/mel.h. */
#ifndef WX_KERNELS_MEL_CUH
#define WX_KERNELS_MEL_CUH

#include "wxk.cuh"

#define WXK_MEL_NFFT 400
#define WXK_MEL_BINS 201
#define WXK_MEL_HOP 160
#define WXK_MEL_FRAMES 3000
#define WXK_MEL_SAMPLES 480000

/* The windowed real DFT as a matrix (400, 2·201), host: columns [0, 201) cos, [201, 402)
 * −sin, each row scaled by the periodic Hann window. Upload once and pass to the op. */
void wxk_mel_dft_matrix(float *dst);

/* out (n_mels, 3000), device = log-mel of samples[0, n) (host, n ≤ 480000) zero-padded to
 * 30 s; dft: device matrix from wxk_mel_dft_matrix; filters: host (n_mels, 201). */
void wxk_op_log_mel(const wxk_ctx *c, float *out, const float *samples, size_t n,
                    const float *dft, const float *filters, int n_mels);

#endif
