/* test_cuda_model.cpp — Whisper tiny.en end to end through the CUDA backend (emulated in
 * CI, real on a GPU), with its fp16 weights, against the CPU backend's fp32 on jfk.wav: the
 * device log-mel, the encoder output, and the greedy transcription token for token with its
 * score (the decoder runs over fp16 KV caches and cross K/V on CUDA).
 * Greedy, not beam 5, keeps the emulated run short (beam 5 is 5 decoder rows per step);
 * beam search's reorder and top-k ops are covered op by op in test_cuda_ops.
 * The decoding steps run as recorded CUDA graphs (one recording, replays at every later
 * position); a second CUDA backend with WX_CUDA_GRAPHS=0 runs the same steps op by op and
 * must give bit-identical tokens and score. */
#include "cuda/cuda_test_util.h"

extern "C" {
#include "io/audio.h"
#include "io/mel.h"
#include "models/whisper.h"
#include "pipeline/beam_search.h"
}

#define SOT 50257          /* <|startoftranscript|> of the English-only vocabulary */
#define NO_TIMESTAMPS 50362
#define EOT 50256

typedef struct run {
    wx_whisper *model;
    wx_whisper_state *state;
    std::vector<float> enc;
    wx_beam_result result;
} run;

/* Encodes mel on be and decodes greedily; fills r. */
static bool transcribe(wx_backend *be, const char *model_dir, const float *mel, run *r)
{
    wx_err err;
    r->model = NULL;
    r->state = NULL;
    r->result = wx_beam_result{};
    CHECK_MSG(wx_whisper_load(model_dir, be, &r->model, &err) == WX_OK, "%s", err.msg);
    if (!r->model) return false;
    CHECK_MSG(wx_whisper_state_create(r->model, 1, 1, 8, &r->state, &err) == WX_OK, "%s", err.msg);
    if (!r->state) return false;
    const wx_whisper_hparams *hp = wx_whisper_get_hparams(r->model);
    const wx_ct2_config *cfg = wx_whisper_get_config(r->model);
    double t0 = wx_now();
    wx_whisper_encode(r->state, mel, 0);
    r->enc.resize((size_t)hp->n_audio_ctx * hp->d_model);
    wx_whisper_encoder_output(r->state, r->enc.data());
    double t1 = wx_now();
    const int32_t prompt[2] = {SOT, NO_TIMESTAMPS};
    wx_beam_params p = {};
    p.beam_size = 1;
    p.patience = 1.0f;
    p.length_penalty = 1.0f;
    p.suppress = cfg->suppress_ids;
    p.n_suppress = cfg->n_suppress_ids;
    p.suppress_begin = cfg->suppress_ids_begin;
    p.n_suppress_begin = cfg->n_suppress_ids_begin;
    p.eot = EOT;
    wx_status st = wx_beam_search(r->state, 1, prompt, 2, &p, NULL, &r->result, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    printf("%s: encode %.2f s, greedy decode %.2f s, %d tokens\n", be->ops->name, t1 - t0,
           wx_now() - t1, r->result.n_tokens);
    return st == WX_OK;
}

static void run_free(run *r)
{
    wx_beam_result_free(&r->result);
    wx_whisper_state_free(r->state);
    wx_whisper_free(r->model);
}

int main(void)
{
    int rc = backends_open("test_cuda_model");
    if (rc) return rc;
    const char *model_dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    char path[1024];
    snprintf(path, sizeof path, "%s/jfk.wav", wx_test_env("WX_DATA_DIR", "../shared/data"));
    wx_err err;
    wx_audio jfk = {};
    wx_mel *mel = NULL;
    run ref = {}, got = {}, direct = {};
    wx_backend *direct_be = NULL;
    CHECK_MSG(wx_audio_load_file(path, 0, &jfk, &err) == WX_OK, "%s: %s", path, err.msg);
    CHECK(wx_mel_create(80, &mel, &err) == WX_OK);
    if (!jfk.samples || !mel) goto done;
    {
        std::vector<float> m(80 * WX_CHUNK_FRAMES);
        wx_mel_compute(mel, jfk.samples, jfk.n_samples, m.data());
        /* The device front end on real audio: the fp32 policy's normalised MSE ≤ 1e-5. */
        int64_t shape[3] = {1, 80, WX_CHUNK_FRAMES};
        wx_tensor *dm = cuda_be->ops->alloc(cuda_be, WX_F32, 3, shape);
        wx_op(cuda_be, log_mel, dm, jfk.samples, jfk.n_samples, wx_mel_filters(mel), 80);
        double e_mel = nmse(fetch(cuda_be, dm), m);
        cuda_be->ops->free(cuda_be, dm);
        CHECK_MSG(e_mel <= 1e-5, "log-mel of jfk.wav: nmse %.3g", e_mel);
        bool ok = transcribe(cpu_be, model_dir, m.data(), &ref);
        ok = transcribe(cuda_be, model_dir, m.data(), &got) && ok;
        setenv("WX_CUDA_GRAPHS", "0", 1);
        direct_be = wx_backend_cuda_create(0, &err);
        unsetenv("WX_CUDA_GRAPHS");
        CHECK_MSG(direct_be, "%s", err.msg);
        ok = direct_be && transcribe(direct_be, model_dir, m.data(), &direct) && ok;
        if (!ok) goto done;
        /* Greedy on one chunk: one step shape (1 slot × 1 row), recorded at its first step
         * and replayed at all the others; none recorded with the graphs off. */
        wx_cuda_graph_stats gs, ds;
        wx_backend_cuda_graph_stats(cuda_be, &gs);
        wx_backend_cuda_graph_stats(direct_be, &ds);
        printf("CUDA graphs: %ld recorded, %ld replayed, %ld failed; off: %ld recorded\n",
               gs.recorded, gs.replayed, gs.failed, ds.recorded);
        CHECK(gs.recorded == 1 && gs.failed == 0);
        CHECK_MSG(gs.replayed >= got.result.n_tokens - 2, "%ld replays for %d tokens",
                  gs.replayed, got.result.n_tokens);
        CHECK(ds.recorded == 0 && ds.replayed == 0);
        CHECK(got.result.n_tokens == direct.result.n_tokens &&
              memcmp(got.result.tokens, direct.result.tokens,
                     (size_t)got.result.n_tokens * sizeof(int32_t)) == 0);
        CHECK_MSG(got.result.score == direct.result.score, "score with graphs %.9g, without %.9g",
                  got.result.score, direct.result.score);
        /* 4 encoder layers of fp16 GEMMs with fp32 accumulation (the emulator rounds the
         * operands to fp16 as the hardware does): the policy's matmul bound, 5e-4. */
        CHECK(cuda_be->ops->weight_dtype == WX_F16);
        double e_enc = nmse(got.enc, ref.enc);
        CHECK_MSG(e_enc <= 5e-4, "encoder output: nmse %.3g", e_enc);
        printf("log-mel nmse %.2g, encoder output nmse %.2g\n", e_mel, e_enc);
        /* Token ids: exact, fp16 weights included (measured: all 24 identical). */
        CHECK_MSG(got.result.n_tokens == ref.result.n_tokens, "%d tokens, CPU %d",
                  got.result.n_tokens, ref.result.n_tokens);
        CHECK(got.result.n_tokens == ref.result.n_tokens &&
              memcmp(got.result.tokens, ref.result.tokens,
                     (size_t)ref.result.n_tokens * sizeof(int32_t)) == 0);
        CHECK(ref.result.n_tokens > 10);
        /* The length-normalised log-probability of the same tokens: fp16 weights, K and V
         * against fp32 move it slightly (measured 4.6e-5); bound 1e-3. */
        CHECK(cuda_be->ops->kv_dtype == WX_F16);
        double e_score = fabs((double)got.result.score - ref.result.score);
        CHECK_MSG(e_score <= 1e-3, "score %.6f, CPU %.6f", got.result.score, ref.result.score);
        printf("score %.6f, CPU %.6f (|diff| %.2g)\n", got.result.score, ref.result.score, e_score);
    }
done:
    run_free(&direct);
    if (direct_be) direct_be->ops->destroy(direct_be);
    run_free(&got);
    run_free(&ref);
    wx_mel_free(mel);
    wx_audio_free(&jfk);
    backends_close();
    return wx_test_finish("test_cuda_model");
}
