/* test_cuda_pipeline.cpp — the whole WhisperX flow of the worker (VAD → device log-mel →
 * encoder → beam search with reorders → segments) with Whisper on the CUDA backend, against
 * the same engine on the CPU, on jfk.wav with the job defaults (beam 5, VAD on). Emulated in
 * CI, real on a GPU (skipped without one): this is what `--device cuda` runs. */
extern "C" {
#include "io/audio.h"
#include "pipeline/pipeline.h"
}
#include "wx_test.h"

#define SKIP 77

static bool transcribe(wx_engine *e, const wx_audio *a, wx_transcript *t)
{
    wx_transcribe_options o;
    wx_transcribe_options_default(&o);
    o.language = "en";
    wx_err err;
    *t = wx_transcript{};
    double t0 = wx_now();
    wx_status st = wx_transcribe(e, a->samples, a->n_samples, &o, NULL, NULL, t, &err);
    CHECK_MSG(st == WX_OK, "%s: %s", wx_engine_device(e), err.msg);
    printf("%s: %d segments in %.2f s (vad %.2f, mel %.2f, encode %.2f, decode %.2f)\n",
           wx_engine_device(e), t->n_segments, wx_now() - t0, t->times.vad, t->times.mel,
           t->times.encode, t->times.decode);
    return st == WX_OK;
}

int main(void)
{
    const char *model_dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    char path[1024];
    snprintf(path, sizeof path, "%s/jfk.wav", wx_test_env("WX_DATA_DIR", "../shared/data"));
    wx_engine_config gpu_cfg = {model_dir, NULL, "cuda", 1, NULL, NULL, NULL}, cpu_cfg = {model_dir, NULL, "cpu", 1, NULL, NULL, NULL};
    wx_engine *gpu = NULL, *cpu = NULL;
    wx_err err;
    if (wx_engine_load(&gpu_cfg, &gpu, &err) != WX_OK) {
        printf("skipped: no CUDA device (%s)\n", err.msg);
        return SKIP;
    }
    wx_audio jfk = {};
    wx_transcript want = {}, got = {};
    CHECK_MSG(wx_engine_load(&cpu_cfg, &cpu, &err) == WX_OK, "%s", err.msg);
    CHECK_MSG(wx_audio_load_file(path, 0, &jfk, &err) == WX_OK, "%s: %s", path, err.msg);
    CHECK(strcmp(wx_engine_device(gpu), "cuda") == 0);
    CHECK_MSG(wx_engine_has_vad(gpu), "no VAD model next to %s", model_dir);
    if (cpu && jfk.samples && transcribe(cpu, &jfk, &want) && transcribe(gpu, &jfk, &got)) {
        CHECK(got.vad_used && want.vad_used);
        CHECK_MSG(got.n_segments == want.n_segments && want.n_segments > 0, "%d segments, CPU %d",
                  got.n_segments, want.n_segments);
        for (int i = 0; i < got.n_segments && i < want.n_segments; i++) {
            const wx_segment *g = &got.segments[i], *w = &want.segments[i];
            printf("[%.3f, %.3f]%s\n", g->start, g->end, g->text);
            /* Boundaries come from the VAD (CPU in both) and timestamps: exact. The text and
             * tokens: exact (the policy for integer outputs). avg_logprob: fp16 weights and
             * K/V against fp32, measured 1e-4; bound 1e-3. */
            CHECK_NEAR(g->start, w->start, 1e-9);
            CHECK_NEAR(g->end, w->end, 1e-9);
            CHECK_MSG(strcmp(g->text, w->text) == 0, "text '%s', CPU '%s'", g->text, w->text);
            CHECK(g->n_tokens == w->n_tokens &&
                  memcmp(g->tokens, w->tokens, (size_t)w->n_tokens * sizeof *w->tokens) == 0);
            CHECK_NEAR(g->avg_logprob, w->avg_logprob, 1e-3);
            CHECK_NEAR(g->no_speech_prob, w->no_speech_prob, 1e-3);
        }
    }
    wx_transcript_free(&got);
    wx_transcript_free(&want);
    wx_audio_free(&jfk);
    wx_engine_free(cpu);
    wx_engine_free(gpu);
    return wx_test_finish("test_cuda_pipeline");
}
