/* test_pyannote_pipeline.c — pyannote's two pipelines on our engine against pyannote.audio
 * 4.0.7's own SpeakerDiarization built from the same local models
 * (tests/fixtures/pyannote_pipeline.fix, tools/gen_pyannote_pipeline_fixtures.py): the
 * configs tests/data/pipelines/{community-1,speaker-diarization-3.1}.yaml read by our
 * config.yaml reader, segmentation-3.0's real weights (models/segmentation-3.0), the random
 * WeSpeaker ResNet34 of tests/fixtures/wespeaker_random.bin and, for community-1's VBx, the
 * random PLDA tests/fixtures/vbx_*.npz; on sample.wav, dev00.wav, tst00.wav and sample.wav
 * followed by 12 s of zeros (windows where nobody speaks skip the ResNet). The turns
 * must be the same tracks with the same labels, their ends equal after rounding to the
 * segmentation frame (16.875 ms). Also: a powerset model is required, a missing PLDA is an
 * error naming it. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"
#include "io/audio.h"
#include "io/pipeline_config.h"
#include "pipeline/diarize.h"
#include "pipeline/diarizers.h"
#include "wx_test.h"

#define FRAME_STEP 0.016875   /* segmentation-3.0's frame step, seconds */
#define SILENCE (12 * 16000)  /* zeros after sample.wav in the "+silence" case */

typedef struct track { double start, end; char label[32]; } track;

static int by_start_label(const void *a, const void *b)
{
    const track *x = a, *y = b;
    long fx = lround(x->start / FRAME_STEP), fy = lround(y->start / FRAME_STEP);
    if (fx != fy) return fx < fy ? -1 : 1;
    return strcmp(x->label, y->label);
}

/* The fixture's "start end label" lines. */
static int parse_turns(const wx_fixture_array *a, track *out, int cap)
{
    char *text = strdup(a->data);
    int n = 0;
    for (char *line = strtok(text, "\n"); line && n < cap; line = strtok(NULL, "\n"))
        if (sscanf(line, "%lf %lf %31s", &out[n].start, &out[n].end, out[n].label) == 3) n++;
    free(text);
    return n;
}

static void compare(const char *key, const wx_diarization *r, const wx_fixture_array *ref)
{
    track want[512], got[512];
    int n_want = parse_turns(ref, want, 512), n_got = r->n_turns < 512 ? r->n_turns : 512;
    for (int i = 0; i < n_got; i++) {
        got[i].start = r->turns[i].start;
        got[i].end = r->turns[i].end;
        snprintf(got[i].label, sizeof got[i].label, "SPEAKER_%02d", r->turns[i].speaker);
    }
    qsort(want, (size_t)n_want, sizeof *want, by_start_label);
    qsort(got, (size_t)n_got, sizeof *got, by_start_label);
    printf("  %-28s %d turns (pyannote %d), %d speakers\n", key, n_got, n_want, r->n_speakers);
    CHECK_MSG(n_got == n_want, "%s: %d turns, pyannote %d", key, n_got, n_want);
    for (int i = 0; i < n_got && i < n_want; i++) {
        /* boundaries are frame centres (or the audio's end) on both sides: equal frames */
        bool same = lround(got[i].start / FRAME_STEP) == lround(want[i].start / FRAME_STEP) &&
                    lround(got[i].end / FRAME_STEP) == lround(want[i].end / FRAME_STEP) &&
                    !strcmp(got[i].label, want[i].label);
        CHECK_MSG(same, "%s turn %d: %.4f %.4f %s, pyannote %.4f %.4f %s", key, i,
                  got[i].start, got[i].end, got[i].label, want[i].start, want[i].end,
                  want[i].label);
    }
}

/* A directory holding the PLDA under the names a pipeline's plda/ folder uses. */
static void make_plda_dir(const char *fixtures, char *dir, size_t size)
{
    char cwd[PATH_MAX], src[PATH_MAX + 64], dst[PATH_MAX + 64];
    snprintf(dir, size, "/tmp/wx_test_plda_%d", (int)getpid());
    if (mkdir(dir, 0700) != 0) { CHECK(!"mkdir"); return; }
    const char *prefix = fixtures[0] == '/' ? "" : getcwd(cwd, sizeof cwd);
    const char *names[2][2] = {{"vbx_xvec_transform.npz", "xvec_transform.npz"},
                               {"vbx_plda.npz", "plda.npz"}};
    for (int i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s%s%s/%s", prefix, *prefix ? "/" : "", fixtures, names[i][0]);
        snprintf(dst, sizeof dst, "%s/%s", dir, names[i][1]);
        CHECK(symlink(src, dst) == 0);
    }
}

static void remove_plda_dir(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/xvec_transform.npz", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/plda.npz", dir);
    unlink(path);
    rmdir(dir);
}

/* Loads the pipeline of config `yaml` with the fixture models. */
static wx_diarizer *load_pipeline(const char *yaml, const char *seg, const char *emb,
                                  const char *plda, wx_backend *be)
{
    wx_pipeline_config cfg;
    wx_pyannote_pipeline p;
    wx_diarizer *d = NULL;
    wx_err err = {{0}};
    CHECK_MSG(wx_pipeline_config_load(yaml, &cfg, &err) == WX_OK, "%s", err.msg);
    CHECK_MSG(wx_pyannote_pipeline_from_config(&cfg, seg, emb, cfg.plda.present ? plda : NULL,
                                               &p, &err) == WX_OK, "%s", err.msg);
    CHECK_MSG(wx_diarizer_load_pyannote(&p, be, &d, &err) == WX_OK, "%s", err.msg);
    if (d) CHECK(wx_diarizer_is_pyannote(d) && wx_diarizer_embedding_dim(d) == 256);
    return d;
}

static void run_pipeline(const char *name, wx_diarizer *d, const wx_fixture *fx, const char *data)
{
    static const char *recordings[] = {"sample.wav", "dev00.wav", "tst00.wav",
                                       "sample.wav+silence"};
    wx_diarize_params unused;
    wx_diarize_params_default(&unused);
    for (int i = 0; i < 4; i++) {
        char path[4200], key[128];
        snprintf(path, sizeof path, "%s/%.*s", data, (int)strcspn(recordings[i], "+"), recordings[i]);
        snprintf(key, sizeof key, "%s/%s/turns", name, recordings[i]);
        const wx_fixture_array *ref = wx_fixture_get(fx, key);
        wx_audio audio = {0};
        wx_diarization r = {0};
        wx_err err = {{0}};
        CHECK_MSG(ref != NULL, "fixture %s", key);
        CHECK_MSG(wx_audio_load_file(path, 0, &audio, &err) == WX_OK, "%s: %s", path, err.msg);
        if (audio.samples && strstr(recordings[i], "+silence")) {   /* SILENCE zeros after it */
            float *longer = calloc(audio.n_samples + SILENCE, sizeof *longer);
            memcpy(longer, audio.samples, audio.n_samples * sizeof *longer);
            free(audio.samples);
            audio.samples = longer;
            audio.n_samples += SILENCE;
        }
        if (ref && audio.samples) {
            CHECK_MSG(wx_diarize(d, audio.samples, audio.n_samples, &unused, 0, 0, 0, NULL, &r,
                                 &err) == WX_OK, "%s", err.msg);
            key[strlen(key) - strlen("/turns")] = '\0';
            compare(key, &r, ref);
        }
        wx_diarization_free(&r);
        wx_audio_free(&audio);
    }
}

/* Load errors: a multi-label segmentation model, a PLDA directory without its files. */
static void test_errors(const char *seg_vad, const char *seg, const char *emb, wx_backend *be)
{
    wx_pyannote_pipeline p = {.segmentation = seg_vad, .embedding = emb, .step = 0.1,
                              .threshold = 0.7, .min_cluster_size = 12};
    wx_diarizer *d = NULL;
    wx_err err = {{0}};
    CHECK(wx_diarizer_load_pyannote(&p, be, &d, &err) == WX_ERR_FORMAT && !d);
    CHECK(strstr(err.msg, "powerset") != NULL);
    p.segmentation = seg;
    p.plda = "/nonexistent-plda";
    CHECK(wx_diarizer_load_pyannote(&p, be, &d, &err) != WX_OK && !d);
    CHECK_MSG(strstr(err.msg, "/nonexistent-plda/xvec_transform.npz") != NULL, "%s", err.msg);
}

int main(void)
{
    const char *fixtures = wx_test_env("WX_FIXTURE_DIR", "tests/fixtures");
    const char *data = wx_test_env("WX_DATA_DIR", "../shared/data");
    char models[1024], seg[1100], vad[1100], emb[1100], fix[1100], plda[256];
    snprintf(models, sizeof models, "%s/..", wx_test_env("WX_MODEL_DIR", "models/tiny.en"));
    snprintf(seg, sizeof seg, "%s/segmentation-3.0", models);
    snprintf(vad, sizeof vad, "%s/vad", models);
    snprintf(emb, sizeof emb, "%s/wespeaker_random.bin", fixtures);
    snprintf(fix, sizeof fix, "%s/pyannote_pipeline.fix", fixtures);
    wx_fixture fx;
    wx_err err = {{0}};
    wx_backend *be = wx_backend_cpu_create(2, &err);
    if (!be || wx_fixture_load(fix, &fx) != 0) {
        fprintf(stderr, "no backend or no fixture %s\n", fix);
        return 1;
    }
    make_plda_dir(fixtures, plda, sizeof plda);
    const char *names[2] = {"community-1", "3.1"};
    const char *configs[2] = {"tests/data/pipelines/community-1.yaml",
                              "tests/data/pipelines/speaker-diarization-3.1.yaml"};
    for (int i = 0; i < 2; i++) {
        wx_diarizer *d = load_pipeline(configs[i], seg, emb, plda, be);
        if (d) run_pipeline(names[i], d, &fx, data);
        wx_diarizer_free(d);
    }
    test_errors(vad, seg, emb, be);
    remove_plda_dir(plda);
    wx_fixture_free(&fx);
    be->ops->destroy(be);
    return wx_test_finish("test_pyannote_pipeline");
}
