/* gpu_bench.c — wx-gpu-bench: throughput rows of the GPU check on any Whisper directory (a
 * random-weight large-v3 made by wx-ct2-tool on the device): encoder ms per 30 s chunk,
 * decoder ms per step and chunk-tokens/s at batch × beam, the batch the memory budget allows
 * on this card (the pipeline's rule, wx_batch_for_budget), and the real-time factor of a
 * 392 s job estimated from them (14 chunks, 80 steps each), and how many decoding steps ran
 * as replayed CUDA graphs (WX_CUDA_GRAPHS=0: none, every op launched). Prints one JSON
 * object.
 *   wx-gpu-bench MODEL_DIR [BATCH BEAM STEPS REPEATS]   (defaults 16 5 40 3)
 * Device time: every timed region ends with a synchronise. Built for the real device
 * (wxcore) and for the emulator (wx-gpu-bench-emu, the check's dry run, small shapes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/backend_cuda.h"
#include "models/whisper.h"
#include "pipeline/pipeline.h"

#define JOB_SECONDS 392.0
#define JOB_CHUNKS 14
#define JOB_STEPS 80
#define TOPK 10
#define PROMPT 4
#define HEADROOM_MB 512.0

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

/* Encoder (log-mel on the device included) for one 30 s chunk into `slot`, ms. */
static double time_encode(wx_backend *be, wx_whisper_state *s, const float *audio, int slot)
{
    const wx_whisper_hparams *hp = wx_whisper_state_hparams(s);
    static float filters[128 * 201];
    double t0 = wx_now();
    if (be->ops->log_mel)
        wx_op(be, log_mel, wx_whisper_mel_input(s), audio, 480000, filters, hp->n_mels);
    wx_whisper_encode(s, NULL, slot);
    be->ops->synchronize(be);
    return (wx_now() - t0) * 1e3;
}

/* `steps` decoding steps of batch × beam rows (one token each, top-k, a beam reorder), ms
 * per step. */
static double time_steps(wx_whisper_state *s, int batch, int beam, int steps)
{
    int rows = batch * beam, vocab = wx_whisper_state_hparams(s)->n_vocab;
    int32_t *tok = calloc((size_t)rows * PROMPT, sizeof *tok), *ids = malloc((size_t)rows * TOPK * 4);
    int32_t *src = malloc((size_t)rows * sizeof *src);
    float *vals = malloc((size_t)rows * TOPK * sizeof *vals);
    for (int r = 0; r < rows * PROMPT; r++) tok[r] = (r * 7919) % vocab;
    wx_whisper_decode(s, tok, batch, beam, PROMPT, 0);
    wx_whisper_logprobs_topk(s, rows, NULL, 0, TOPK, ids, vals);
    double t0 = wx_now();
    for (int step = 0; step < steps; step++) {
        for (int r = 0; r < rows; r++) {
            tok[r] = ids[r * TOPK];
            src[r] = r / beam * beam + (r % beam + step) % beam; /* every beam moves */
        }
        wx_whisper_reorder_rows(s, src, rows, PROMPT + step);
        wx_whisper_decode(s, tok, batch, beam, 1, PROMPT + step);
        wx_whisper_logprobs_topk(s, rows, NULL, 0, TOPK, ids, vals);
    }
    double ms = (wx_now() - t0) * 1e3 / steps;
    free(tok), free(ids), free(src), free(vals);
    return ms;
}

/* The batch the decoder-state budget allows on this device at this beam (up to 64). */
static int budget_batch(wx_backend *be, const wx_whisper_hparams *hp, int beam, double *free_mib)
{
    size_t f = 0, t = 0;
    if (!be->ops->memory) return -1;
    be->ops->memory(be, &f, &t);
    *free_mib = f / 1048576.0;
    return wx_batch_for_budget(hp, 2, 2, true, (double)f - HEADROOM_MB * 1048576.0, 64, beam);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 6) {
        fprintf(stderr, "usage: wx-gpu-bench MODEL_DIR [BATCH BEAM STEPS REPEATS]\n");
        return 2;
    }
    int batch = argc == 6 ? atoi(argv[2]) : 16, beam = argc == 6 ? atoi(argv[3]) : 5;
    int steps = argc == 6 ? atoi(argv[4]) : 40, reps = argc == 6 ? atoi(argv[5]) : 3;
    if (reps > 16) reps = 16;
    wx_err err;
    wx_backend *be = wx_backend_cuda_create(0, &err);
    if (!be) { fprintf(stderr, "wx-gpu-bench: %s\n", err.msg); return 77; }
    double t0 = wx_now();
    wx_whisper *m = NULL;
    wx_whisper_state *s = NULL;
    if (wx_whisper_load(argv[1], be, &m, &err) != WX_OK) { fprintf(stderr, "wx-gpu-bench: %s\n", err.msg); return 1; }
    double load_s = wx_now() - t0, free_mib = 0;
    const wx_whisper_hparams *hp = wx_whisper_get_hparams(m);
    int allowed = budget_batch(be, hp, beam, &free_mib);
    if (wx_whisper_state_create(m, batch, batch * beam, hp->n_text_ctx / 2 + 4, &s, &err) != WX_OK) {
        fprintf(stderr, "wx-gpu-bench: %s\n", err.msg);
        return 1;
    }
    float *audio = malloc(480000 * sizeof *audio);
    for (int i = 0; i < 480000; i++) audio[i] = 0.1f * (float)((i * 2654435761u) % 2001 - 1000) / 1000.0f;
    double enc[16], dec[16];
    for (int k = 0; k < batch; k++) time_encode(be, s, audio, k); /* warm-up; fills every slot */
    for (int r = 0; r < reps; r++) enc[r] = time_encode(be, s, audio, r % batch);
    for (int r = 0; r < reps; r++) dec[r] = time_steps(s, batch, beam, steps);
    double enc_ms = median(enc, reps), step_ms = median(dec, reps);
    double job_s = (JOB_CHUNKS * enc_ms + JOB_STEPS * step_ms) / 1e3;
    wx_status st = wx_whisper_take_error(s, &err);
    wx_cuda_graph_stats gs;
    wx_backend_cuda_graph_stats(be, &gs);
    printf("{\"device\": \"%s\", \"model_dir\": \"%s\", \"d_model\": %d, \"layers\": %d, "
           "\"load_s\": %.2f, \"encoder_ms_per_chunk\": %.3f, \"batch\": %d, \"beam\": %d, "
           "\"decoder_ms_per_step\": %.3f, \"chunk_tokens_per_s\": %.1f, "
           "\"free_mib_after_weights\": %.0f, \"budget_batch_at_beam\": %d, "
           "\"job_392s_estimate_s\": %.3f, \"job_392s_rtf\": %.5f, \"graph_steps_recorded\": %ld, "
           "\"graph_steps_replayed\": %ld, \"graph_steps_failed\": %ld, \"backend_error\": \"%s\"}\n",
           wx_backend_cuda_describe(be), argv[1], hp->d_model, hp->n_text_layer, load_s, enc_ms,
           batch, beam, step_ms, batch * 1e3 / step_ms, free_mib, allowed, job_s,
           job_s / JOB_SECONDS, gs.recorded, gs.replayed, gs.failed, st == WX_OK ? "" : err.msg);
    free(audio);
    wx_whisper_state_free(s);
    wx_whisper_free(m);
    be->ops->destroy(be);
    return st == WX_OK ? 0 : 1;
}
