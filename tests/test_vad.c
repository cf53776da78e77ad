/* test_vad.c — WhisperX VAD parity (src/pipeline/vad.c) against tests/fixtures/vad_parity.fix
 * (tools/gen_vad_fixtures.py: real whisperx 3.8.6 + pyannote.audio 4.0.7 on CPU) for the
 * recordings of ../shared/data. For every recording: Binarize regions and merged chunks
 * computed from the reference score curve (bit-exact). With the model (models/vad, from
 * builder/fetch_models.sh): the frame grid, our score curve from our decoder (max abs diff
 * ≤ 1e-3; the decoder gives ffmpeg's samples bit for bit, tests/test_audio_ffmpeg.c) and the
 * regions/chunks from it (identical after WhisperX's 3-decimal rounding). The model runs on the four short recordings by
 * default (a few seconds) and on all ten with WX_VAD_ALL=1. Also Binarize and merge_chunks
 * on synthetic curves: hysteresis, the max_duration min-cut, no speech. And the model's hop
 * forward (one SincNet convolution over overlapping windows) against its per-window forward. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "fixture.h"
#include "io/audio.h"
#include "models/pyannet.h"
#include "pipeline/vad.h"
#include "vad_test.h"
#include "wx_test.h"

#define MAX_REGIONS 256

/* wx_pyannet_forward_hop on 12 windows of jfk.wav 0.5 s apart against wx_pyannet_forward on
 * the same windows copied apart. The span's convolution of unnormalised samples followed by
 * each window's norm as an affine differs from convolving normalised samples by rounding
 * only (~1e-7 relative), which the four LSTM layers amplify: measured 3.5e-4 on one window's
 * sigmoid scores, bound 1e-3 as the parity test's (windows read 10 samples off: 0.41). Neither path is nearer pyannote: after aggregation jfk.wav is 5.8e-5 from it with
 * the hop forward, 8.3e-5 with per-window forwards. A hop that is not a multiple of the
 * SincNet stride takes the copying path: bit-identical. */
static void test_hop_forward(const char *model_dir, const char *data_dir, wx_backend *be)
{
    wx_err err = {{0}};
    wx_pyannet *m = NULL;
    wx_audio audio = {0};
    char path[4096];
    snprintf(path, sizeof path, "%s/jfk.wav", data_dir);
    CHECK_MSG(wx_pyannet_load(model_dir, be, &m, &err) == WX_OK, "%s", err.msg);
    CHECK_MSG(wx_audio_load_file(path, 0, &audio, &err) == WX_OK, "%s", err.msg);
    const int n = 80000, hops[2] = {8000, 8005}, batch = 12;
    int frames = m ? wx_pyannet_num_frames(m, n) : 0;
    size_t count = (size_t)batch * frames * 3;
    float *windows = malloc((size_t)batch * n * sizeof *windows);
    float *ref = malloc(count * sizeof *ref), *got = malloc(count * sizeof *got);
    for (int h = 0; m && audio.n_samples >= (size_t)(batch - 1) * hops[1] + n && h < 2; h++) {
        for (int b = 0; b < batch; b++)
            memcpy(windows + (size_t)b * n, audio.samples + (size_t)b * hops[h], n * sizeof *windows);
        CHECK_MSG(wx_pyannet_forward(m, windows, batch, n, ref, NULL, &err) == WX_OK, "%s", err.msg);
        CHECK_MSG(wx_pyannet_forward_hop(m, audio.samples, audio.n_samples, batch, n, hops[h],
                                         got, &err) == WX_OK,
                  "%s", err.msg);
        double worst = 0;
        for (size_t i = 0; i < count; i++) worst = fmax(worst, fabs((double)got[i] - ref[i]));
        if (h == 0) CHECK_MSG(worst <= 1e-3, "hop forward: max |Δscore| %.2e", worst);
        else CHECK_MSG(worst == 0, "hop %d (copied windows): max |Δscore| %.2e", hops[h], worst);
        printf("  hop forward, %d windows %d samples apart: max |Δscore| %.2e\n", batch, hops[h],
               worst);
    }
    free(windows), free(ref), free(got);
    wx_audio_free(&audio);
    wx_pyannet_free(m);
}

/* quick: run through the model by default (the others with WX_VAD_ALL=1). */
static const struct recording {
    const char *file;
    bool quick;
} RECORDINGS[] = {
    {"jfk.wav", true},      {"sample.wav", false},       {"dev00.wav", false},
    {"tst00.wav", false},   {"empty.wav", true},         {"stereo_diarization.wav", true},
    {"multilingual.mp3", false}, {"hotwords.mp3", true}, {"jfk.flac", false},
    {"jfk.mp3", false},
};

/* Parses "start end\n" lines (full-precision repr) into regions; returns the count. */
static int parse_regions(const char *text, wx_vad_region *out)
{
    int n = 0;
    const char *p = text;
    while (*p && n < MAX_REGIONS) {
        char *end;
        out[n].start = strtod(p, &end);
        out[n].end = strtod(end, &end);
        if (end == p) break;
        n++;
        p = end + strspn(end, "\n ");
    }
    return n;
}

/* Parses "start end n_regions\n" lines of rounded chunks; returns the count. */
static int parse_chunks(const char *text, wx_vad_chunk *out)
{
    int n = 0;
    const char *p = text;
    while (*p && n < MAX_REGIONS) {
        char *end;
        out[n].start = strtod(p, &end);
        out[n].end = strtod(end, &end);
        out[n].n_regions = (int)strtol(end, &end, 10);
        if (end == p) break;
        n++;
        p = end + strspn(end, "\n ");
    }
    return n;
}

static const wx_fixture_array *get(const wx_fixture *fx, const char *file, const char *what)
{
    char name[128];
    snprintf(name, sizeof name, "%s/%s", file, what);
    return wx_fixture_get(fx, name);
}

/* Binarize + merge over scores, compared with the fixture's regions and chunks. exact: the
 * regions must match bit for bit (reference curve); otherwise after round(·, 3). */
static void check_segmentation(const char *file, const float *scores, int n_frames,
                               const wx_vad_frames *frames, const wx_fixture *fx, bool exact)
{
    wx_vad_params p;
    wx_vad_params_default(&p);
    wx_vad_region *regions = NULL, want[MAX_REGIONS];
    wx_vad_chunk *chunks = NULL, want_chunks[MAX_REGIONS];
    int nr = 0, nc = 0;
    wx_err err = {{0}};
    CHECK(wx_vad_binarize(scores, n_frames, frames, &p, &regions, &nr, &err) == WX_OK);
    CHECK(wx_vad_merge_chunks(regions, nr, p.chunk_size, &chunks, &nc, &err) == WX_OK);
    int wr = parse_regions(get(fx, file, "regions")->data, want);
    int wc = parse_chunks(get(fx, file, "chunks")->data, want_chunks);
    const char *kind = exact ? "reference curve" : "our curve";
    CHECK_MSG(nr == wr, "%s (%s): %d regions, reference %d", file, kind, nr, wr);
    for (int i = 0; i < nr && i < wr; i++) {
        bool same = exact ? regions[i].start == want[i].start && regions[i].end == want[i].end
                          : wx_vad_round3(regions[i].start) == wx_vad_round3(want[i].start) &&
                            wx_vad_round3(regions[i].end) == wx_vad_round3(want[i].end);
        CHECK_MSG(same, "%s (%s): region %d [%.17g, %.17g], reference [%.17g, %.17g]", file,
                  kind, i, regions[i].start, regions[i].end, want[i].start, want[i].end);
    }
    CHECK_MSG(nc == wc, "%s (%s): %d chunks, reference %d", file, kind, nc, wc);
    for (int i = 0; i < nc && i < wc; i++) /* exact after WhisperX's round(·, 3) */
        CHECK_MSG(wx_vad_round3(chunks[i].start) == want_chunks[i].start &&
                  wx_vad_round3(chunks[i].end) == want_chunks[i].end &&
                  chunks[i].n_regions == want_chunks[i].n_regions,
                  "%s (%s): chunk %d [%.3f, %.3f] x%d, reference [%.3f, %.3f] x%d", file, kind,
                  i, chunks[i].start, chunks[i].end, chunks[i].n_regions, want_chunks[i].start,
                  want_chunks[i].end, want_chunks[i].n_regions);
    free(regions);
    free(chunks);
}

static void check_recording(wx_vad *vad, const char *data_dir, const struct recording *rec,
                            const wx_fixture *fx)
{
    const char *file = rec->file;
    const wx_fixture_array *ref = get(fx, file, "scores"), *grid = get(fx, file, "frames");
    const wx_fixture_array *ns = get(fx, file, "n_samples");
    if (!ref || !grid || !ns) { CHECK(!"fixture entries"); return; }
    wx_vad_frames want_frames;
    CHECK(sscanf(grid->data, "%lf %lf %lf", &want_frames.start, &want_frames.duration,
                 &want_frames.step) == 3);
    check_segmentation(file, ref->data, (int)ref->n, &want_frames, fx, true);
    if (!vad) return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, file);
    wx_audio audio;
    wx_err err = {{0}};
    if (wx_audio_load_file(path, 0, &audio, &err) != WX_OK) {
        CHECK_MSG(0, "%s", err.msg);
        return;
    }
    float *scores = NULL;
    int n_frames = 0;
    wx_vad_frames frames;
    CHECK_MSG(wx_vad_scores(vad, audio.samples, audio.n_samples, &scores, &n_frames, &frames,
                            &err) == WX_OK, "%s", err.msg);
    /* the grid is computed from the same integers: exact */
    CHECK(frames.start == want_frames.start && frames.duration == want_frames.duration &&
          frames.step == want_frames.step);
    CHECK_MSG(n_frames == ref->n, "%s: %d frames, reference %lld (decoded %zu samples, "
              "ffmpeg %d)", file, n_frames, (long long)ref->n, audio.n_samples,
              ((int32_t *)ns->data)[0]);
    double diff = 0.0;
    for (int i = 0; i < n_frames && i < ref->n; i++) {
        double d = fabs((double)scores[i] - ((float *)ref->data)[i]);
        diff = d > diff ? d : diff;
    }
    printf("  %-24s %6zu samples (ffmpeg %6d)  %5d frames  max |Δscore| %.2e\n", file,
           audio.n_samples, ((int32_t *)ns->data)[0], n_frames, diff);
    CHECK_MSG(audio.n_samples == (size_t)((int32_t *)ns->data)[0], "%s: %zu samples, ffmpeg %d",
              file, audio.n_samples, ((int32_t *)ns->data)[0]);
    CHECK_MSG(diff <= 1e-3, "%s: score curve differs by %.3g", file, diff); /* issue 5 */
    if (n_frames == ref->n) check_segmentation(file, scores, n_frames, &frames, fx, false);
    free(scores);
    wx_audio_free(&audio);
}

/* Synthetic curves on a 0.1 s grid: hysteresis, the min-cut of long regions, no speech. */
static void test_binarize_synthetic(void)
{
    wx_vad_frames grid = {0.0, 0.1, 0.1}; /* frame i's middle: 0.1 i + 0.05 */
    wx_vad_params p;
    wx_vad_params_default(&p);
    CHECK(p.onset == 0.5 && p.offset == 0.363 && p.chunk_size == 30.0);
    float s[400];
    for (int i = 0; i < 400; i++) s[i] = 0.1f;
    for (int i = 10; i < 20; i++) s[i] = 0.9f;
    s[20] = 0.4f;                          /* between offset and onset: stays active */
    for (int i = 50; i < 390; i++) s[i] = 0.8f;
    s[300] = 0.6f;                         /* the lowest score in the second half */
    s[60] = 0.55f;                         /* lower, but in the first half */
    p.chunk_size = 30.0;
    wx_vad_region *r = NULL;
    wx_vad_chunk *c = NULL;
    int nr = 0, nc = 0;
    wx_err err = {{0}};
    CHECK(wx_vad_binarize(s, 400, &grid, &p, &r, &nr, &err) == WX_OK);
    CHECK(nr == 3);
    if (nr == 3) {
        CHECK_NEAR(r[0].start, 1.05, 1e-9);
        CHECK_NEAR(r[0].end, 2.15, 1e-9);   /* first frame below offset */
        CHECK_NEAR(r[1].start, 5.05, 1e-9);
        CHECK_NEAR(r[1].end, 30.05, 1e-9);  /* cut at frame 300 */
        CHECK_NEAR(r[2].start, 30.05, 1e-9);
        CHECK_NEAR(r[2].end, 39.05, 1e-9);
    }
    CHECK(wx_vad_merge_chunks(r, nr, 30.0, &c, &nc, &err) == WX_OK);
    CHECK(nc == 2 && c[0].n_regions == 2 && c[1].first_region == 2);
    if (nc == 2) CHECK_NEAR(c[0].end, 30.05, 1e-9);
    free(r);
    free(c);
    for (int i = 0; i < 400; i++) s[i] = 0.2f;
    CHECK(wx_vad_binarize(s, 400, &grid, &p, &r, &nr, &err) == WX_OK && nr == 0);
    CHECK(wx_vad_merge_chunks(r, nr, 30.0, &c, &nc, &err) == WX_OK && nc == 0 && c == NULL);
    free(r);
    p.pad_onset = 0.1;
    CHECK(wx_vad_binarize(s, 400, &grid, &p, &r, &nr, &err) == WX_ERR_UNSUPPORTED);
    CHECK(wx_vad_round3(0.0305) == 0.03);    /* values from Python's round(x, 3) */
    CHECK(wx_vad_round3(2.675) == 2.675 && wx_vad_round3(1.0004999) == 1.0);
}

int main(void)
{
    const char *fixture_dir = wx_test_env("WX_FIXTURE_DIR", "tests/fixtures");
    const char *data_dir = wx_test_env("WX_DATA_DIR", "../shared/data");
    char path[4096];
    test_binarize_synthetic();
    snprintf(path, sizeof path, "%s/vad_parity.fix", fixture_dir);
    wx_fixture fx;
    if (wx_fixture_load(path, &fx) != 0) {
        CHECK(!"vad_parity.fix");
        return wx_test_finish("test_vad");
    }
    wx_err err = {{0}};
    /* one thread: steady timing on a busy CI host */
    wx_backend *be = wx_test_cpu_backend_with_vad(1, &err);
    wx_vad *vad = NULL;
    snprintf(path, sizeof path, "%s/../vad", wx_test_env("WX_MODEL_DIR", "models/tiny.en"));
    if (!be || wx_vad_load(path, be, &vad, &err) != WX_OK)
        printf("skipping the model part: %s\n", err.msg);
    if (vad) test_hop_forward(path, data_dir, be);
    bool all = getenv("WX_VAD_ALL") && strcmp(getenv("WX_VAD_ALL"), "1") == 0;
    for (size_t i = 0; i < sizeof RECORDINGS / sizeof RECORDINGS[0]; i++)
        check_recording(all || RECORDINGS[i].quick ? vad : NULL, data_dir, &RECORDINGS[i], &fx);
    wx_vad_free(vad);
    if (be) be->ops->destroy(be);
    wx_fixture_free(&fx);
    return wx_test_finish("test_vad");
}
