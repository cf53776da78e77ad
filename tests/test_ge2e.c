/* test_ge2e.c — the GE2E speaker encoder (src/models/ge2e.c) against Resemblyzer 0.1.4 itself
 * (tests/fixtures/ge2e_ref.fix, made by tools/gen_ge2e_fixtures.py from VoiceEncoder("cpu")
 * on the raw 16 kHz samples, no preprocess_wav): the Slaney filterbank, the mel front end
 * (first 64 and last 16 frames), compute_partial_slices, one partial through forward, and
 * embed_utterance on jfk.wav, sample.wav and 0.5 s of jfk (shorter than one partial: padded).
 * Also: a truncated checkpoint and a missing file are clear errors, empty audio embeds.
 * Model: <WX_MODEL_DIR>/../ge2e/pretrained.pt (builder/fetch_models.sh); recordings from
 * WX_DATA_DIR; skipped with a message when the model is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "io/audio.h"
#include "models/ge2e.h"
#include "vad_test.h"
#include "wx_test.h"

static const float *fx_f32(const wx_fixture *fx, const char *clip, const char *what, int64_t *n)
{
    char name[128];
    snprintf(name, sizeof name, "%s%s%s", clip, *clip ? "." : "", what);
    const wx_fixture_array *a = wx_fixture_get(fx, name);
    CHECK_MSG(a != NULL, "fixture array %s", name);
    if (n) *n = a ? a->n : 0;
    return a ? a->data : NULL;
}

/* Embedding bound (the issue's): cosine ≥ 0.9999 and max |diff| ≤ 1e-4. */
static void check_embedding(const char *label, const float *got, const float *ref)
{
    double dot = 0, ng = 0, nr = 0, maxd = 0;
    for (int i = 0; i < WX_GE2E_DIM; i++) {
        dot += (double)got[i] * ref[i];
        ng += (double)got[i] * got[i];
        nr += (double)ref[i] * ref[i];
        double d = fabs((double)got[i] - ref[i]);
        maxd = d > maxd ? d : maxd;
    }
    double cosine = dot / sqrt(ng * nr);
    printf("  %-22s cosine %.9f  max |diff| %.3g\n", label, cosine, maxd);
    CHECK_MSG(cosine >= 0.9999 && maxd <= 1e-4, "%s: cosine %.9f, max diff %.3g", label, cosine,
              maxd);
}

/* Mel bound: every element within 1e-4 of its own value (pure relative, also in bands
 * 60 dB below the frame's loudest; measured 3.5e-7: both sides are a float64 FFT rounded to
 * complex64, then float32 |·|² and a non-negative float32 filter sum). */
static void check_mel(const char *label, const float *got, const float *ref, int64_t frames)
{
    double max_rel = 0;
    int bad = 0;
    for (int64_t i = 0; i < frames * WX_GE2E_N_MELS; i++) {
        double d = fabs((double)got[i] - ref[i]);
        if (ref[i] != 0) max_rel = fmax(max_rel, d / fabs(ref[i]));
        if (d > 1e-4 * fabs(ref[i]) + 1e-30) bad++;
    }
    printf("  %-22s max rel diff %.3g over %lld frames\n", label, max_rel, (long long)frames);
    CHECK_MSG(bad == 0, "%s: %d mel values off by more than 1e-4 relative", label, bad);
}

static void test_basis(const wx_ge2e *m, const wx_fixture *fx)
{
    int64_t n = 0;
    const float *ref = fx_f32(fx, "", "mel_basis", &n);
    CHECK(n == WX_GE2E_N_MELS * WX_GE2E_N_BINS);
    if (!ref || n != WX_GE2E_N_MELS * WX_GE2E_N_BINS) return;
    const float *got = wx_ge2e_mel_basis(m);
    double maxd = 0;
    int differ = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - ref[i]);
        differ += got[i] != ref[i];
        maxd = fmax(maxd, ref[i] ? d / fabs(ref[i]) : d);
    }
    printf("  mel basis              %d of %lld values differ, max rel %.3g\n", differ,
           (long long)n, maxd);
    CHECK(maxd <= 2.4e-7); /* float32 weights: at most 2 ulp (libm log/exp vs numpy's) */
}

static void test_clip(wx_ge2e *m, const wx_fixture *fx, const char *clip, const float *samples,
                      int64_t n)
{
    wx_err err = {{0}};
    int64_t len = 0;
    char name[64];
    snprintf(name, sizeof name, "%s.n_samples", clip);
    const wx_fixture_array *ns = wx_fixture_get(fx, name);
    snprintf(name, sizeof name, "%s.sum", clip);
    const wx_fixture_array *sum = wx_fixture_get(fx, name);
    snprintf(name, sizeof name, "%s.mel_frames", clip);
    const wx_fixture_array *mf = wx_fixture_get(fx, name);
    snprintf(name, sizeof name, "%s.slices", clip);
    const wx_fixture_array *sl = wx_fixture_get(fx, name);
    if (!ns || !sum || !mf || !sl) { CHECK(!"fixture arrays"); return; }
    /* identical input samples on both sides */
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += samples[i];
    CHECK_MSG(n == ((int32_t *)ns->data)[0], "%s: %lld samples, fixture %d", clip, (long long)n,
              ((int32_t *)ns->data)[0]);
    CHECK_NEAR(s, strtod(sum->data, NULL), 1e-9 * (1 + n));
    /* mel of the raw samples */
    int64_t frames = wx_ge2e_mel_frames(n);
    CHECK(frames == ((int32_t *)mf->data)[0]);
    float *mel = malloc((size_t)frames * WX_GE2E_N_MELS * sizeof *mel);
    wx_ge2e_mel(m, samples, n, mel);
    const float *head = fx_f32(fx, clip, "mel_head", &len);
    char label[64];
    snprintf(label, sizeof label, "%s mel head", clip);
    if (head) check_mel(label, mel, head, len / WX_GE2E_N_MELS);
    const float *tail = fx_f32(fx, clip, "mel_tail", &len);
    snprintf(label, sizeof label, "%s mel tail", clip);
    if (tail && frames >= len / WX_GE2E_N_MELS)
        check_mel(label, mel + (frames - len / WX_GE2E_N_MELS) * WX_GE2E_N_MELS, tail,
                  len / WX_GE2E_N_MELS);
    /* partial slices */
    int64_t starts[256];
    int count = wx_ge2e_partial_slices(n, WX_GE2E_RATE, WX_GE2E_MIN_COVERAGE, starts, 256);
    CHECK_MSG(count == sl->dims[0], "%s: %d partials, Resemblyzer %lld", clip, count,
              (long long)sl->dims[0]);
    for (int i = 0; i < count && i < sl->dims[0]; i++) {
        CHECK(starts[i] == ((int32_t *)sl->data)[2 * i]);
        CHECK(starts[i] + WX_GE2E_PARTIAL_FRAMES == ((int32_t *)sl->data)[2 * i + 1]);
    }
    /* one partial straight through forward (jfk frames [100, 260)) */
    if (strcmp(clip, "jfk") == 0) {
        float e[WX_GE2E_DIM];
        const float *ref = fx_f32(fx, "frames", "jfk_100_260", NULL);
        CHECK_MSG(wx_ge2e_embed_frames(m, mel + 100 * WX_GE2E_N_MELS, 1, 160, e, &err) == WX_OK,
                  "%s", err.msg);
        if (ref) check_embedding("jfk frames [100, 260)", e, ref);
        /* every partial of embed_utterance in one batch (jfk needs no padding: its last
         * partial was dropped for coverage, so the mel of the raw samples is the one used) */
        const float *parts = fx_f32(fx, clip, "partials", &len);
        if (parts && len == (int64_t)count * WX_GE2E_DIM) {
            float *batch = malloc((size_t)count * 160 * WX_GE2E_N_MELS * sizeof *batch);
            float *pe = malloc((size_t)count * WX_GE2E_DIM * sizeof *pe);
            for (int i = 0; i < count; i++)
                memcpy(batch + (size_t)i * 160 * WX_GE2E_N_MELS, mel + starts[i] * WX_GE2E_N_MELS,
                       160 * WX_GE2E_N_MELS * sizeof *batch);
            CHECK_MSG(wx_ge2e_embed_frames(m, batch, count, 160, pe, &err) == WX_OK, "%s",
                      err.msg);
            for (int i = 0; i < count; i++) {
                snprintf(label, sizeof label, "jfk partial %d", i);
                if (i == 0 || i == count - 1) /* print two, check all */
                    check_embedding(label, pe + i * WX_GE2E_DIM, parts + i * WX_GE2E_DIM);
                else {
                    double maxd = 0;
                    for (int j = 0; j < WX_GE2E_DIM; j++)
                        maxd = fmax(maxd, fabs(pe[i * WX_GE2E_DIM + j] - parts[i * WX_GE2E_DIM + j]));
                    CHECK_MSG(maxd <= 1e-4, "%s: max diff %.3g", label, maxd);
                }
            }
            free(batch);
            free(pe);
        }
    }
    free(mel);
    /* the utterance embedding */
    float emb[WX_GE2E_DIM];
    CHECK_MSG(wx_ge2e_embed_utterance(m, samples, n, emb, &err) == WX_OK, "%s", err.msg);
    const float *ref = fx_f32(fx, clip, "embed", &len);
    snprintf(label, sizeof label, "%s embed_utterance", clip);
    if (ref && len == WX_GE2E_DIM) check_embedding(label, emb, ref);
}

/* compute_partial_slices over boundary and random lengths: counts and starts exact. */
static void test_slices_table(const wx_fixture *fx)
{
    const wx_fixture_array *t = wx_fixture_get(fx, "slices_table");
    if (!t || t->rank != 2 || t->dims[1] != 3) { CHECK(!"slices_table"); return; }
    const int32_t *r = t->data;
    int wrong = 0;
    for (int64_t i = 0; i < t->dims[0]; i++, r += 3) {
        int64_t starts[1024];
        int count = wx_ge2e_partial_slices(r[0], WX_GE2E_RATE, WX_GE2E_MIN_COVERAGE, starts, 1024);
        bool ok = count == r[1] && count <= 1024 && starts[count - 1] == r[2];
        for (int j = 0; ok && j < count; j++) ok = starts[j] == (int64_t)j * 77;
        CHECK_MSG(ok, "n = %d: %d partials, Resemblyzer %d (last start %d)", r[0], count, r[1],
                  r[2]);
        wrong += !ok;
    }
    printf("  partial slices         %lld lengths, %d differ\n", (long long)t->dims[0], wrong);
}

static void test_errors(wx_backend *be, const char *model_path, const char *fixture_dir)
{
    wx_ge2e *m = NULL;
    wx_err err = {{0}};
    /* a valid checkpoint of another model: the missing tensor is named */
    char other[4200];
    snprintf(other, sizeof other, "%s/torch_ckpt_legacy.pt", fixture_dir);
    CHECK(wx_ge2e_load(other, be, &m, &err) != WX_OK && m == NULL);
    printf("  foreign checkpoint: %s\n", err.msg);
    CHECK(strstr(err.msg, "model_state.lstm.weight_ih_l0") != NULL);
    /* a backend without the lstm op is refused up front */
    wx_backend_ops no_lstm = *be->ops;
    no_lstm.lstm = NULL;
    const wx_backend_ops *saved = be->ops;
    be->ops = &no_lstm;
    CHECK(wx_ge2e_load(model_path, be, &m, &err) == WX_ERR_UNSUPPORTED && m == NULL);
    be->ops = saved;
    CHECK(wx_ge2e_load("/nonexistent/pretrained.pt", be, &m, &err) != WX_OK && m == NULL);
    CHECK(strstr(err.msg, "/nonexistent/pretrained.pt") != NULL);
    /* a truncated checkpoint: the first half of the file */
    FILE *f = fopen(model_path, "rb");
    if (!f) { CHECK(!"model"); return; }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size);
    CHECK(fread(buf, 1, (size_t)size, f) == (size_t)size);
    fclose(f);
    char tmp[] = "/tmp/wx_ge2e_truncXXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, buf, (size_t)size / 2) == size / 2);
        close(fd);
        memset(&err, 0, sizeof err);
        CHECK(wx_ge2e_load(tmp, be, &m, &err) != WX_OK && m == NULL);
        printf("  truncated checkpoint: %s\n", err.msg);
        CHECK(strstr(err.msg, tmp) != NULL);
        unlink(tmp);
    }
    free(buf);
}

int main(void)
{
    wx_err err = {{0}};
    const char *model_dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    const char *data_dir = wx_test_env("WX_DATA_DIR", "../shared/data");
    const char *fixture_dir = wx_test_env("WX_FIXTURE_DIR", "tests/fixtures");
    char model_path[4096], path[4200];
    snprintf(model_path, sizeof model_path, "%s/../ge2e/pretrained.pt", model_dir);
    if (access(model_path, R_OK) != 0) {
        printf("test_ge2e: skipping, %s is absent (run builder/fetch_models.sh)\n", model_path);
        return 0;
    }
    wx_backend *be = wx_test_cpu_backend_with_vad(2, &err);
    if (!be) { fprintf(stderr, "%s\n", err.msg); return 1; }
    wx_fixture fx;
    snprintf(path, sizeof path, "%s/ge2e_ref.fix", fixture_dir);
    if (wx_fixture_load(path, &fx) != 0) return 1;
    const wx_fixture_array *ver = wx_fixture_get(&fx, "versions");
    printf("reference: %s\n", ver ? (char *)ver->data : "?");
    wx_ge2e *m = NULL;
    CHECK_MSG(wx_ge2e_load(model_path, be, &m, &err) == WX_OK, "%s", err.msg);
    if (m) {
        test_basis(m, &fx);
        test_slices_table(&fx);
        wx_audio jfk = {0}, sample = {0};
        snprintf(path, sizeof path, "%s/jfk.wav", data_dir);
        CHECK_MSG(wx_audio_load_file(path, 0, &jfk, &err) == WX_OK, "%s", err.msg);
        snprintf(path, sizeof path, "%s/sample.wav", data_dir);
        CHECK_MSG(wx_audio_load_file(path, 0, &sample, &err) == WX_OK, "%s", err.msg);
        if (jfk.samples) {
            test_clip(m, &fx, "jfk", jfk.samples, (int64_t)jfk.n_samples);
            test_clip(m, &fx, "short", jfk.samples, 8000);
        }
        if (sample.samples) test_clip(m, &fx, "sample", sample.samples, (int64_t)sample.n_samples);
        /* empty audio: one all-padding partial, still a unit embedding */
        float e[WX_GE2E_DIM];
        CHECK_MSG(wx_ge2e_embed_utterance(m, NULL, 0, e, &err) == WX_OK, "%s", err.msg);
        double nn = 0;
        for (int i = 0; i < WX_GE2E_DIM; i++) nn += (double)e[i] * e[i];
        CHECK_NEAR(nn, 1.0, 1e-5);
        CHECK(wx_ge2e_partial_slices(16000, 0.5, 0.75, NULL, 0) == -1); /* rate too low */
        wx_audio_free(&jfk);
        wx_audio_free(&sample);
    }
    wx_ge2e_free(m);
    test_errors(be, model_path, fixture_dir);
    wx_fixture_free(&fx);
    be->ops->destroy(be);
    return wx_test_finish("test_ge2e");
}
