/* test_cuda_robust.cpp — the CUDA backend where real hardware would fail (docs/cuda.md,
 * "Failure handling"): NaN logits in top-k never give an invalid id, invalid token ids are
 * refused before the embedding lookup in every build, fp16 converters saturate at ±65504,
 * out of device memory is a recorded error with the figures (never an exit). Emulated only
 * (fault injection, a device-memory limit): the start-up probe's failure path falls back to
 * the CPU with the reason, WX_CUDA_SYNC=1 names the op whose kernel faulted, and a job whose
 * decoder state does not fit the device fails with the figures. A decoding step recorded
 * as a CUDA graph replays exactly what the ops give when issued directly, and a recording
 * that cannot be made falls back to them. Built against the emulator and against the real
 * device (skipped without one). */
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "cuda/cuda_test_util.h"
#ifdef WX_CUDA_EMU
#include <cuda_runtime.h> /* the emulator: wxemu::inject_error, set_memory_limit */
#endif

extern "C" {
#include "models/whisper.h"
#include "pipeline/pipeline.h"
}

#define EW_ABS 1e-5
#define EW_REL 1e-5

/* NaN injection: rows with a few NaNs, with more NaNs than V − k, and all NaN. Policy:
 * ids exact against the CPU (which ranks NaN as −inf too) and always in [0, V); values and
 * the rewritten rows element-wise (−inf where the logit was NaN). */
static void test_topk_nan(bool log_softmax)
{
    const int64_t rows = 4, vocab = 1000;
    const int k = 10;
    std::vector<float> h = randv(rows * vocab, 8.0f);
    for (int64_t j = 0; j < vocab; j += 7) h[(size_t)j] = NAN;             /* row 0: some */
    for (int64_t j = 0; j < vocab - 3; j++) h[(size_t)(vocab + j)] = NAN;  /* row 1: 3 left */
    for (int64_t j = 0; j < vocab; j++) h[(size_t)(2 * vocab + j)] = NAN;  /* row 2: all */
    h[(size_t)(3 * vocab + 5)] = INFINITY; /* row 3: +inf, the largest float: probability 1 */
    tpair x = tp_make(h, {rows, vocab});
    int32_t sup[2] = {1, 2};
    std::vector<int32_t> ic((size_t)(rows * k)), ig(ic.size());
    std::vector<float> vc(ic.size()), vg(ic.size());
    wx_op(cpu_be, suppress_logsoftmax_topk, x.c, sup, 2, log_softmax, k, ic.data(), vc.data());
    wx_op(cuda_be, suppress_logsoftmax_topk, x.g, sup, 2, log_softmax, k, ig.data(), vg.data());
    bool in_range = true;
    for (size_t i = 0; i < ig.size(); i++) in_range &= ig[i] >= 0 && ig[i] < vocab;
    CHECK_MSG(in_range, "top-k over NaN rows returned an id outside [0, %lld)", (long long)vocab);
    CHECK_MSG(ic == ig, "top-k ids over NaN rows (log_softmax %d): exact", (int)log_softmax);
    if (log_softmax) {
        CHECK(all_close(vg, vc, EW_ABS, EW_REL, "top-k values over NaN rows"));
        CHECK(all_close(fetch(cuda_be, x.g), fetch(cpu_be, x.c), EW_ABS, EW_REL, "NaN rows"));
    }
    CHECK(ig[(size_t)(2 * k)] == 0 && vg[(size_t)(2 * k)] == -INFINITY); /* all NaN: −inf, id 0 */
    tp_free(x);
    wx_err err;
    CHECK(wx_backend_take_error(cuda_be, &err) == WX_OK);
}

/* An id outside the table (top-k's old NO_ID 2³¹−1, or −1) in a Release build: the op does
 * nothing, the backend records why, and the next take clears it. Both backends. */
static void test_embed_bad_id(void)
{
    const int64_t vocab = 50, d = 16;
    std::vector<float> th = randv(vocab * d);
    tpair table = tp_weight(th, {vocab, d});
    tpair pos = tp_make(randv(4 * d), {4, d}), o = tp_make(std::vector<float>(2 * d, 7.0f), {2, 1, d});
    const int32_t bad[2][2] = {{3, 0x7fffffff}, {-1, 4}};
    for (int c = 0; c < 2; c++) {
        wx_backend *bes[2] = {cpu_be, cuda_be};
        wx_tensor *outs[2] = {o.c, o.g};
        for (int b = 0; b < 2; b++) {
            wx_err err;
            wx_op(bes[b], embed, outs[b], bad[c], table.c->backend == bes[b] ? table.c : table.g,
                  bes[b] == cpu_be ? pos.c : pos.g, 0);
            wx_status st = wx_backend_take_error(bes[b], &err);
            CHECK_MSG(st != WX_OK && strstr(err.msg, "outside the vocabulary"),
                      "%s embed with id %d: status %d, '%s'", bes[b]->ops->name,
                      bad[c][1 - c], (int)st, st ? err.msg : "");
            CHECK(wx_backend_take_error(bes[b], &err) == WX_OK);
            std::vector<float> after = fetch(bes[b], outs[b]);
            CHECK_MSG(after[0] == 7.0f, "%s embed wrote despite an invalid id", bes[b]->ops->name);
        }
    }
    tp_free(table), tp_free(pos), tp_free(o);
}

/* fp16 conversion saturates: weights (upload_f32), K/V appends (copy_rows) and the fp16
 * activations of a linear stay finite. Exact: ±65504 for every |x| > 65504, ±inf included;
 * values in range keep their IEEE rounding; NaN stays NaN. */
static void test_fp16_saturation(void)
{
    std::vector<float> h = {70000.0f, -1e6f, 65519.0f, 65520.0f, INFINITY, -INFINITY, 1.0f,
                            -65504.0f, 0.5f, NAN};
    const std::vector<float> want = {65504, -65504, 65504, 65504, 65504, -65504, 1, -65504, 0.5f};
    int64_t n = (int64_t)h.size();
    wx_tensor *w = cuda_be->ops->alloc(cuda_be, WX_F16, 1, &n);
    cuda_be->ops->upload_f32(cuda_be, w, h.data(), n);
    std::vector<float> got = fetch(cuda_be, w);
    CHECK(std::isnan(got.back()));
    got.pop_back();
    CHECK_MSG(got == want, "upload_f32 into fp16 saturates at ±65504");
    cuda_be->ops->free(cuda_be, w);

    const int64_t d = 8;
    tpair cache = tp_kv(std::vector<float>(2 * d, 0.0f), {1, 2, d});
    std::vector<float> src(d, 1e9f);
    src[1] = -1e9f;
    tpair s = tp_make(src, {1, 1, d});
    wx_op(cuda_be, copy_rows, cache.g, 1, s.g, d, 1);
    std::vector<float> kv = fetch(cuda_be, cache.g);
    CHECK_MSG(kv[d] == 65504.0f && kv[d + 1] == -65504.0f, "copy_rows into fp16 saturates: %g %g",
              kv[d], kv[d + 1]);
    tp_free(cache), tp_free(s);

    /* a (1, 4) of 1e6 through fp16 weights of 1: each product ≤ 65504·1, the sum finite */
    tpair a = tp_make(std::vector<float>(4, 1e6f), {1, 4});
    tpair lw = tp_weight(std::vector<float>(8, 1.0f), {2, 4}), lo = tp_make({}, {1, 2});
    wx_op(cuda_be, linear, lo.g, a.g, lw.g, NULL);
    std::vector<float> out = fetch(cuda_be, lo.g);
    CHECK_MSG(std::isfinite(out[0]) && out[0] == 4 * 65504.0f, "linear over saturated fp16 "
              "inputs: %g", out[0]);
    tp_free(a), tp_free(lw), tp_free(lo);
}

/* The tensors of a toy decoding step on one backend (see test_step_recording). */
struct toy_step {
    wx_backend *be;
    wx_tensor *table, *pos, *x, *o, *big_a, *big_w, *big_o;
    wx_tensor *k[2], *v[2]; /* two caches: the recorded steps' and the direct reference's */
};

static wx_tensor *toy_tensor(wx_backend *be, enum wx_dtype dt, std::vector<int64_t> shape,
                             const std::vector<float> &host)
{
    wx_tensor *t = be->ops->alloc(be, dt, (int)shape.size(), shape.data());
    if (t && !host.empty()) be->ops->upload_f32(be, t, host.data(), (int64_t)host.size());
    return t;
}

/* The step at position p with token id: the position's embedding appended to the K/V cache
 * c, causal attention of it over the cache's p + 1 rows, and a (1024, 1024) linear whose
 * fp16 activations need 2 MiB of op scratch. */
static void toy_ops(const toy_step *t, int c, const int32_t *id, int64_t p)
{
    wx_backend *be = t->be;
    const int64_t d = t->x->shape[2];
    wx_op(be, embed, t->x, id, t->table, t->pos, p);
    wx_op(be, copy_rows, t->k[c], p, t->x, d, 1);
    wx_op(be, copy_rows, t->v[c], p, t->x, d, 1);
    wx_op(be, attention, t->o, t->x, d, t->k[c], t->v[c], d, 1, p + 1, true);
    wx_op(be, linear, t->big_o, t->big_a, t->big_w, NULL);
}

/* Decoding steps recorded as graphs (backend.h step_begin) on a fresh backend, positions 0
 * to 5 under one key: the first recording breaks (the linear needs more op scratch than the
 * uploads left, and scratch cannot grow inside a capture), so that step runs directly; the
 * next is recorded, the other four are replays. Policy: every output bit-identical to the
 * same ops issued directly on a second cache; a replay whose id is outside the recorded
 * table is refused (WX_STEP_DIRECT), so the direct embed reports it. */
static void test_step_recording(void)
{
    wx_err err;
    wx_backend *be = wx_backend_cuda_create(0, &err);
    CHECK_MSG(be, "%s", err.msg);
    if (!be) return;
    const int64_t V = 32, D = 64, T = 8, M = 1024, K = 1024;
    toy_step t = {};
    t.be = be;
    t.table = toy_tensor(be, be->ops->weight_dtype, {V, D}, randv(V * D));
    t.pos = toy_tensor(be, WX_F32, {T, D}, randv(T * D));
    t.x = toy_tensor(be, WX_F32, {1, 1, D}, {});
    t.o = toy_tensor(be, WX_F32, {1, 1, D}, {});
    t.big_a = toy_tensor(be, WX_F32, {M, K}, randv(M * K));
    t.big_w = toy_tensor(be, be->ops->weight_dtype, {D, K}, randv(D * K));
    t.big_o = toy_tensor(be, WX_F32, {M, D}, {});
    for (int c = 0; c < 2; c++) {
        t.k[c] = toy_tensor(be, be->ops->kv_dtype, {1, T, D}, std::vector<float>(T * D, 0.0f));
        t.v[c] = toy_tensor(be, be->ops->kv_dtype, {1, T, D}, std::vector<float>(T * D, 0.0f));
    }
    const uint64_t key = 42;
    bool same = true;
    for (int64_t p = 0; p < 6; p++) {
        int32_t id = (int32_t)((3 * p + 1) % V);
        enum wx_step_mode mode = be->ops->step_begin(be, key, &id, 1, p);
        CHECK_MSG(mode == (p < 2 ? WX_STEP_RECORD : WX_STEP_REPLAYED), "step %lld: mode %d",
                  (long long)p, (int)mode);
        if (mode != WX_STEP_REPLAYED) {
            toy_ops(&t, 0, &id, p);
            bool recorded = mode == WX_STEP_RECORD && be->ops->step_end(be);
            CHECK_MSG(recorded == (p == 1), "step %lld: recorded %d", (long long)p, (int)recorded);
            if (!recorded) toy_ops(&t, 0, &id, p);
        }
        std::vector<float> got_o = fetch(be, t.o), got_big = fetch(be, t.big_o);
        toy_ops(&t, 1, &id, p);
        same &= got_o == fetch(be, t.o) && got_big == fetch(be, t.big_o);
    }
    CHECK_MSG(same, "replayed steps differ from the same ops issued directly");
    CHECK(fetch(be, t.k[0]) == fetch(be, t.k[1]) && fetch(be, t.v[0]) == fetch(be, t.v[1]));
    wx_cuda_graph_stats gs;
    wx_backend_cuda_graph_stats(be, &gs);
    CHECK_MSG(gs.recorded == 1 && gs.replayed == 4 && gs.failed == 1,
              "graphs: %ld recorded, %ld replayed, %ld failed", gs.recorded, gs.replayed,
              gs.failed);
    int32_t bad = (int32_t)V + 5;
    CHECK(be->ops->step_begin(be, key, &bad, 1, 6) == WX_STEP_DIRECT);
    CHECK(wx_backend_take_error(be, &err) == WX_OK);
    wx_tensor *all[] = {t.table, t.pos, t.x, t.o, t.big_a, t.big_w, t.big_o,
                        t.k[0], t.k[1], t.v[0], t.v[1]};
    for (wx_tensor *x : all) be->ops->free(be, x);
    be->ops->destroy(be);
}

/* The budget rule (wx_batch_for_budget, what wx-memory-plan prints): large-v3 at 16 chunks
 * x 5 beams needs the review's 9634 MiB of state and more with op scratch; a 2 GiB budget
 * (the old fixed default) allows at most 3 chunks, 20 GiB at least 16. */
static void test_budget_rule(void)
{
    wx_whisper_hparams v3 = {128, 1500, 448, 1280, 20, 32, 32, 51866};
    double state = (double)wx_whisper_state_bytes_for(&v3, 2, 16, 80, 228) / 1048576.0;
    double need = wx_state_need_bytes(&v3, 2, 2, true, 16, 5) / 1048576.0;
    CHECK_MSG(state >= 9633 && state < 9700 && need > state, "large-v3 16 x 5: state %.0f MiB, "
              "with scratch %.0f MiB", state, need);
    int small = wx_batch_for_budget(&v3, 2, 2, true, 2048.0 * 1048576.0, 16, 5);
    int big = wx_batch_for_budget(&v3, 2, 2, true, 20480.0 * 1048576.0, 64, 5);
    CHECK_MSG(small >= 1 && small <= 3 && big >= 16, "2 GiB: batch %d; 20 GiB: batch %d", small, big);
    printf("large-v3 16 x 5: state %.0f MiB, + scratch %.0f MiB; batch %d at 2 GiB, %d at 20 GiB\n",
           state, need, small, big);
}

#ifdef WX_CUDA_EMU
/* Start-up probe: a build without an image for this device (injected
 * cudaErrorNoKernelImageForDevice at the probe launch) gives no backend and the reason, and
 * device "auto" runs on the CPU saying why. */
static void test_probe_failure(const char *model_dir)
{
    wx_err err;
    wxemu::inject_error("probe_kernel", cudaErrorNoKernelImageForDevice, true);
    wx_backend *be = wx_backend_cuda_create(0, &err);
    CHECK(be == NULL);
    CHECK_MSG(be == NULL && strstr(err.msg, "cannot run this build's kernels") &&
              strstr(err.msg, "no kernel image"), "probe failure reason: '%s'", err.msg);
    if (be) be->ops->destroy(be);
    wxemu::inject_error("probe_kernel", cudaErrorNoKernelImageForDevice, true);
    wx_engine_config cfg = {model_dir, NULL, "auto", 1, NULL, NULL, NULL, NULL, NULL, NULL};
    wx_engine *e = NULL;
    CHECK_MSG(wx_engine_load(&cfg, &e, &err) == WX_OK, "%s", err.msg);
    if (e) {
        CHECK(strcmp(wx_engine_device(e), "cpu") == 0);
        CHECK_MSG(strstr(wx_engine_device_note(e), "no kernel image") &&
                  strstr(wx_engine_device_note(e), "CUDA driver"),
                  "fallback note: '%s'", wx_engine_device_note(e));
        printf("auto with a failing probe: %s\n", wx_engine_device_note(e));
        wx_engine_free(e);
    }
    wxemu::inject_error(NULL, cudaSuccess, false);
    wxemu::clear_reports();
}

/* Runs gelu (whose kernel faults asynchronously, as on a GPU), layer_norm, then a download
 * in a child process; returns its exit status and stderr. */
static int faulting_child(bool sync_mode, std::string *text)
{
    int fd[2];
    fflush(stdout);
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fd[1], 2);
        close(fd[0]);
        if (sync_mode) setenv("WX_CUDA_SYNC", "1", 1);
        else unsetenv("WX_CUDA_SYNC");
        wx_err err;
        wx_backend *be = wx_backend_cuda_create(0, &err);
        if (!be) _exit(90);
        int64_t n = 64;
        wx_tensor *x = be->ops->alloc(be, WX_F32, 1, &n), *g = be->ops->alloc(be, WX_F32, 1, &n);
        std::vector<float> h(64, 1.0f);
        be->ops->upload(be, x, h.data(), 256);
        be->ops->upload(be, g, h.data(), 256);
        wxemu::inject_error("gelu_kernel", cudaErrorIllegalAddress, false);
        wx_op(be, gelu, x);
        wx_op(be, layer_norm, x, x, g, g, 1e-5f);
        be->ops->download(be, x, h.data(), 256);
        _exit(0);
    }
    close(fd[1]);
    char buf[4096];
    ssize_t r;
    while ((r = read(fd[0], buf, sizeof buf)) > 0) text->append(buf, (size_t)r);
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* WX_CUDA_SYNC=1 names the faulting op; without it the fault surfaces at the download. */
static void test_sync_mode(void)
{
    std::string plain, synced;
    int rc_plain = faulting_child(false, &plain), rc_sync = faulting_child(true, &synced);
    CHECK_MSG(rc_plain == 3 && plain.find("download") != std::string::npos &&
              plain.find("gelu") == std::string::npos, "without sync mode (rc %d): %s", rc_plain,
              plain.c_str());
    CHECK_MSG(rc_sync == 3 && synced.find("op gelu failed") != std::string::npos,
              "WX_CUDA_SYNC=1 (rc %d): %s", rc_sync, synced.c_str());
    printf("fault without WX_CUDA_SYNC: %swith WX_CUDA_SYNC=1: %s", plain.c_str(), synced.c_str());
}

/* Bytes the emulated device holds now. */
static size_t device_live(void)
{
    const size_t big = (size_t)1 << 40;
    size_t f = 0, t = 0;
    wxemu::set_memory_limit(big);
    cudaMemGetInfo(&f, &t);
    return big - f;
}

/* Op scratch that cannot grow: the op does nothing and the failure, with the figures, is
 * recorded; after the limit is lifted the same op works. */
static void test_scratch_oom(void)
{
    const int64_t m = 2048, k = 1024, n = 8;
    tpair a = tp_make(randv(m * k), {m, k});
    tpair w = tp_weight(randv(n * k, 0.1f), {n, k}), o = tp_make({}, {m, n});
    wxemu::set_memory_limit(device_live() + ((size_t)1 << 20));
    wx_op(cuda_be, linear, o.g, a.g, w.g, NULL); /* needs 4 MiB of fp16 activations */
    wx_err err;
    wx_status st = wx_backend_take_error(cuda_be, &err);
    CHECK_MSG(st == WX_ERR_NOMEM && strstr(err.msg, "op scratch") && strstr(err.msg, "MiB free"),
              "scratch out of memory: %d '%s'", (int)st, st ? err.msg : "");
    printf("scratch out of memory: %s\n", err.msg);
    wxemu::set_memory_limit(0);
    wx_op(cpu_be, linear, o.c, a.c, w.c, NULL);
    wx_op(cuda_be, linear, o.g, a.g, w.g, NULL);
    CHECK(wx_backend_take_error(cuda_be, &err) == WX_OK);
    CHECK(nmse(fetch(cuda_be, o.g), fetch(cpu_be, o.c)) <= 5e-4);
    tp_free(a), tp_free(w), tp_free(o);
}

/* The decoder state lives in a block of its own: creating it takes one state block (no
 * weight chunk grows), freeing it gives every byte back to the device, and a larger state
 * after a smaller one needs nothing but its own size (review item 12). */
static void test_state_pool(const char *model_dir)
{
    wx_err err;
    wx_whisper *m = NULL;
    CHECK_MSG(wx_whisper_load(model_dir, cuda_be, &m, &err) == WX_OK, "%s", err.msg);
    if (!m) return;
    size_t before = device_live();
    wx_whisper_state *s = NULL;
    CHECK(wx_whisper_state_create(m, 2, 10, 228, &s, &err) == WX_OK);
    size_t with_state = device_live(), state = wx_whisper_state_bytes(m, 2, 10, 228);
    /* the block is the state's exact size, rounded to 256 B; scratch may have grown too */
    CHECK_MSG(with_state - before >= state && with_state - before <= state +
              wx_whisper_scratch_bytes_for(wx_whisper_get_hparams(m), 2, 2, 2, 10, 228) + 256,
              "state of %zu bytes took %zu", state, with_state - before);
    wx_whisper_state_free(s);
    size_t after = device_live();
    CHECK_MSG(after <= before + wx_whisper_scratch_bytes_for(wx_whisper_get_hparams(m), 2, 2, 2, 10,
                                                             228),
              "freeing the state left %zu bytes (before %zu)", after, before);
    wx_whisper_free(m);
    wxemu::set_memory_limit(0);
}

/* A job whose decoder state cannot fit: the device budget (cudaMemGetInfo after the weights,
 * less the headroom) refuses it with the figures; with an explicit WX_STATE_MB the state's
 * own allocation fails instead; both are job errors, and the engine serves the next job. */
static void test_job_oom(const char *model_dir)
{
    wx_engine_config cfg = {model_dir, NULL, "cuda", 1, NULL, NULL, NULL, NULL, NULL, NULL};
    wx_engine *e = NULL;
    wx_err err;
    CHECK_MSG(wx_engine_load(&cfg, &e, &err) == WX_OK, "%s", err.msg);
    if (!e) return;
    std::vector<float> audio(16000 * 2);
    for (size_t i = 0; i < audio.size(); i++) audio[i] = 0.1f * sinf(0.03f * (float)i);
    wx_transcribe_options o;
    wx_transcribe_options_default(&o);
    o.language = "en";
    o.vad = false;
    setenv("WX_CUDA_HEADROOM_MB", "0", 1);
    wxemu::set_memory_limit(device_live() + ((size_t)30 << 20));
    wx_transcript t;
    wx_status st = wx_transcribe(e, audio.data(), audio.size(), &o, NULL, NULL, &t, &err);
    CHECK_MSG(st == WX_ERR_NOMEM && strstr(err.msg, "out of device memory") &&
              strstr(err.msg, "MiB free on the device"), "budget refusal: %d '%s'", (int)st,
              st ? err.msg : "");
    printf("job refused by the device budget: %s\n", err.msg);
    setenv("WX_STATE_MB", "100000", 1);
    st = wx_transcribe(e, audio.data(), audio.size(), &o, NULL, NULL, &t, &err);
    CHECK_MSG(st == WX_ERR_NOMEM && strstr(err.msg, "CUDA out of memory") &&
              strstr(err.msg, "MiB free of"), "state allocation failure: %d '%s'", (int)st,
              st ? err.msg : "");
    printf("state allocation failure: %s\n", err.msg);
    unsetenv("WX_STATE_MB");
    /* best_of rows count: a budget between what 1 x 5 and 1 x 10 rows need refuses a job
     * whose temperature fallback samples best_of 10 (beam 5 alone would fit). */
    wx_whisper_hparams tiny_en = {80, 1500, 448, 384, 6, 4, 4, 51864};
    double five = wx_state_need_bytes(&tiny_en, 2, 2, true, 1, 5);
    double ten = wx_state_need_bytes(&tiny_en, 2, 2, true, 1, 10);
    CHECK(ten > five);
    wxemu::set_memory_limit(device_live() + (size_t)((five + ten) / 2));
    o.temperature_increment = 0.2f;
    o.best_of = 10;
    st = wx_transcribe(e, audio.data(), audio.size(), &o, NULL, NULL, &t, &err);
    CHECK_MSG(st == WX_ERR_NOMEM && strstr(err.msg, "1 chunk x 10 rows"), "best_of 10: %d '%s'",
              (int)st, st ? err.msg : "");

    unsetenv("WX_CUDA_HEADROOM_MB");
    wxemu::set_memory_limit(0);
    wx_engine_free(e);
}
#endif

int main(void)
{
    int rc = backends_open("test_cuda_robust");
    if (rc) return rc;
    double t0 = wx_now();
    test_topk_nan(true);
    test_topk_nan(false);
    test_embed_bad_id();
    test_fp16_saturation();
    test_budget_rule();
    test_step_recording();
#ifdef WX_CUDA_EMU
    const char *model_dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    test_probe_failure(model_dir);
    test_sync_mode();
    test_scratch_oom();
    test_state_pool(model_dir);
    test_job_oom(model_dir);
#endif
    printf("test_cuda_robust: %.1f s\n", wx_now() - t0);
    backends_close();
    return wx_test_finish("test_cuda_robust");
}
