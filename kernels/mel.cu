/* mel.cu — log-mel spectrogram of one 30 s chunk: reflect-padded frames gathered from the
 * samples; STFT as one fp32 cuBLAS GEMM against the windowed DFT matrix, frames (3000, 400)
 * · (400, 402); power |X|² written transposed (201, 3000); mel GEMM filters (n_mels, 201) ·
 * power; log10 with the 1e-10 clamp; a one-block max; floor at max − 8 and (x + 4) / 4.
 * Launch: element kernels are grid-stride loops of 256-thread blocks; the max is one
 * 1024-thread block with 32 floats of shared memory.
 * Bound, large-v3 (128 mels) on an H100: the STFT GEMM is 3000 × 402 × 400 × 2 = 0.96 GFLOP
 * over ~10 MB (≈ 100 flop/byte) and the mel GEMM 0.15 GFLOP: both small and compute-bound
 * in fp32 (≈ 20 µs at ~50 TFLOP/s); the element kernels move ~20 MB in all (≈ 6 µs).
 * A 200-point FFT would need 20× fewer flops, but at this size the GEMM is already far
 * below the encoder's cost and it reuses cuBLAS instead of another kernel. */
#include <math.h>

#include "gemm.cuh"
#include "mel.cuh"
#include "reduce.cuh"

#define MEL_THREADS 256
#define MEL_MAX_THREADS 1024
#define MEL_MAX_BLOCKS 65535
#define MEL_PAD (WXK_MEL_NFFT / 2)

static dim3 mel_grid(int64_t n)
{
    int64_t b = (n + MEL_THREADS - 1) / MEL_THREADS;
    return dim3((unsigned)(b < MEL_MAX_BLOCKS ? b : MEL_MAX_BLOCKS));
}

/* frames (3000, 400): sample t·160 − 200 + i of the zero-padded chunk, reflected at its ends. */
__global__ void __launch_bounds__(MEL_THREADS)
mel_frames_kernel(float *frames, const float *samples, int64_t n)
{
    int64_t total = (int64_t)WXK_MEL_FRAMES * WXK_MEL_NFFT;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t j = (e / WXK_MEL_NFFT) * WXK_MEL_HOP - MEL_PAD + e % WXK_MEL_NFFT;
        if (j < 0) j = -j;
        if (j >= WXK_MEL_SAMPLES) j = 2 * (WXK_MEL_SAMPLES - 1) - j;
        frames[e] = j < n ? samples[j] : 0.0f;
    }
}
WX_KERNEL_BOUNDS(mel_frames_kernel, MEL_THREADS)

/* power (201, 3000) = re² + im² of spec (3000, 402). */
__global__ void __launch_bounds__(MEL_THREADS) mel_power_kernel(float *power, const float *spec)
{
    int64_t total = (int64_t)WXK_MEL_BINS * WXK_MEL_FRAMES;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < total;
         e += (int64_t)gridDim.x * blockDim.x) {
        int64_t k = e / WXK_MEL_FRAMES, t = e % WXK_MEL_FRAMES;
        float re = spec[t * 2 * WXK_MEL_BINS + k], im = spec[t * 2 * WXK_MEL_BINS + WXK_MEL_BINS + k];
        power[e] = re * re + im * im;
    }
}
WX_KERNEL_BOUNDS(mel_power_kernel, MEL_THREADS)

__global__ void __launch_bounds__(MEL_THREADS) mel_log_kernel(float *x, int64_t n)
{
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * blockDim.x)
        x[e] = log10f(fmaxf(x[e], 1e-10f));
}
WX_KERNEL_BOUNDS(mel_log_kernel, MEL_THREADS)

/* result[0] = max of x (n); one block. */
__global__ void __launch_bounds__(MEL_MAX_THREADS) mel_max_kernel(float *result, const float *x,
                                                                 int64_t n)
{
    WX_SHARED(float, red, WX_WARP);
    float m = -INFINITY;
    for (int64_t e = threadIdx.x; e < n; e += blockDim.x) m = fmaxf(m, x[e]);
    m = wxk_block_reduce(m, 1, red);
    if (threadIdx.x == 0) result[0] = m;
}
WX_KERNEL_BOUNDS(mel_max_kernel, MEL_MAX_THREADS)

__global__ void __launch_bounds__(MEL_THREADS) mel_finish_kernel(float *x, int64_t n,
                                                                const float *max)
{
    float floor = max[0] - 8.0f;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (int64_t)gridDim.x * blockDim.x)
        x[e] = (fmaxf(x[e], floor) + 4.0f) / 4.0f;
}
WX_KERNEL_BOUNDS(mel_finish_kernel, MEL_THREADS)

void wxk_mel_dft_matrix(float *dst)
{
    for (int i = 0; i < WXK_MEL_NFFT; i++) {
        float w = (float)(0.5 - 0.5 * cos(2.0 * M_PI * i / WXK_MEL_NFFT));
        for (int k = 0; k < WXK_MEL_BINS; k++) {
            double a = 2.0 * M_PI * (double)((i * k) % WXK_MEL_NFFT) / WXK_MEL_NFFT;
            dst[i * 2 * WXK_MEL_BINS + k] = (float)(w * cos(a));
            dst[i * 2 * WXK_MEL_BINS + WXK_MEL_BINS + k] = (float)(-w * sin(a));
        }
    }
}

void wxk_op_log_mel(const wxk_ctx *c, float *out, const float *samples, size_t n,
                    const float *dft, const float *filters, int n_mels)
{
    const char *op = "log_mel";
    assert(n <= WXK_MEL_SAMPLES && "log_mel: at most 30 s of samples");
    assert(n_mels > 0 && "log_mel: n_mels > 0");
    int64_t frames_n = (int64_t)WXK_MEL_FRAMES * WXK_MEL_NFFT;
    int64_t spec_n = (int64_t)WXK_MEL_FRAMES * 2 * WXK_MEL_BINS;
    int64_t power_n = (int64_t)WXK_MEL_BINS * WXK_MEL_FRAMES;
    int64_t filt_n = (int64_t)n_mels * WXK_MEL_BINS, out_n = (int64_t)n_mels * WXK_MEL_FRAMES;
    int64_t total = WXK_MEL_SAMPLES + frames_n + spec_n + power_n + filt_n + 1;
    float *s = (float *)c->scratch(c->owner, (size_t)total * sizeof(float));
    if (!s) return;
    float *dev_samples = s, *frames = s + WXK_MEL_SAMPLES, *spec = frames + frames_n;
    float *power = spec + spec_n, *dev_filters = power + power_n, *max = dev_filters + filt_n;
    if (n > 0)
        WX_CUDA_CHECK(op, cudaMemcpyAsync(dev_samples, samples, n * sizeof(float),
                                          cudaMemcpyHostToDevice, c->stream));
    WX_CUDA_CHECK(op, cudaMemcpyAsync(dev_filters, filters, (size_t)filt_n * sizeof(float),
                                      cudaMemcpyHostToDevice, c->stream));
    WX_LAUNCH(mel_frames_kernel, mel_grid(frames_n), dim3(MEL_THREADS), 0, c->stream, frames,
              dev_samples, (int64_t)n);
    WX_CUDA_CHECK_LAUNCH(op);
    wxk_gemm stft = {WXK_MEL_FRAMES, 2 * WXK_MEL_BINS, WXK_MEL_NFFT, WXK_MEL_NFFT,
                     2 * WXK_MEL_BINS, 2 * WXK_MEL_BINS, false, true, 1.0f, 0.0f, 1, 0, 0, 0};
    wxk_gemm_run(c, &stft, frames, dft, spec, op);
    WX_LAUNCH(mel_power_kernel, mel_grid(power_n), dim3(MEL_THREADS), 0, c->stream, power, spec);
    WX_CUDA_CHECK_LAUNCH(op);
    wxk_gemm mel = {n_mels, WXK_MEL_FRAMES, WXK_MEL_BINS, WXK_MEL_BINS, WXK_MEL_FRAMES,
                    WXK_MEL_FRAMES, false, true, 1.0f, 0.0f, 1, 0, 0, 0};
    wxk_gemm_run(c, &mel, dev_filters, power, out, op);
    WX_LAUNCH(mel_log_kernel, mel_grid(out_n), dim3(MEL_THREADS), 0, c->stream, out, out_n);
    WX_CUDA_CHECK_LAUNCH(op);
    WX_LAUNCH(mel_max_kernel, dim3(1), dim3(MEL_MAX_THREADS), 0, c->stream, max, out, out_n);
    WX_CUDA_CHECK_LAUNCH(op);
    WX_LAUNCH(mel_finish_kernel, mel_grid(out_n), dim3(MEL_THREADS), 0, c->stream, out, out_n,
              max);
    WX_CUDA_CHECK_LAUNCH(op);
}
