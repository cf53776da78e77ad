/* bench_align.c — wx-bench-align: times our wav2vec2 alignment stage (the model over each
 * segment's samples, then WhisperX's align) on the segments tools/bench_align_anchor.py
 * aligned with whisperx, and prints one JSON line like the anchor's (median of --runs).
 *   wx-bench-align --model DIR --audio FILE --segments FILE.json [--threads N] [--runs N]
 *                  [--device cpu|cuda]
 * segments: [{"start", "end", "text"}] (the anchor's transcript, before alignment). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "io/audio.h"
#include "pipeline/align_models.h"

typedef struct args {
    const char *model, *audio, *segments;
    int threads, runs;
} args;

static int parse_args(int argc, char **argv, args *a)
{
    *a = (args){.runs = 3};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) a->model = argv[i + 1];
        else if (!strcmp(argv[i], "--audio")) a->audio = argv[i + 1];
        else if (!strcmp(argv[i], "--segments")) a->segments = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) a->threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) a->runs = atoi(argv[i + 1]);
        else return -1;
    }
    return a->model && a->audio && a->segments && a->runs > 0 ? 0 : -1;
}

/* The transcript to align, fresh for every run (alignment replaces its segments). */
static int read_segments(json_t *list, wx_transcript *tr)
{
    memset(tr, 0, sizeof *tr);
    tr->n_segments = (int)json_array_size(list);
    tr->segments = calloc((size_t)(tr->n_segments ? tr->n_segments : 1), sizeof *tr->segments);
    for (int i = 0; tr->segments && i < tr->n_segments; i++) {
        json_t *s = json_array_get(list, i);
        tr->segments[i].start = json_number_value(json_object_get(s, "start"));
        tr->segments[i].end = json_number_value(json_object_get(s, "end"));
        tr->segments[i].text = strdup(json_string_value(json_object_get(s, "text")) ?: "");
    }
    return tr->segments ? 0 : -1;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    args a;
    if (parse_args(argc, argv, &a)) {
        fprintf(stderr, "usage: wx-bench-align --model DIR --audio FILE --segments FILE.json "
                        "[--threads N] [--runs N]\n");
        return 2;
    }
    wx_err err;
    json_error_t jerr;
    json_t *segs = json_load_file(a.segments, 0, &jerr);
    wx_backend *be = wx_backend_cpu_create(a.threads, &err);
    wx_align_models *reg = NULL;
    wx_align_model *m = NULL;
    wx_audio audio = {0};
    char why[512] = "", model[4096];
    double walls[64];
    int rc = 1, words = 0;
    if (!segs) { fprintf(stderr, "wx-bench-align: %s: %s\n", a.segments, jerr.text); return 1; }
    if (!realpath(a.model, model)) snprintf(model, sizeof model, "%s", a.model);
    double t0 = wx_now();
    if (!be || wx_align_models_create("/", (size_t)1 << 40, be, &reg, &err) ||
        wx_align_models_get(reg, "en", model, &m, why, sizeof why, &err) ||
        wx_audio_load_file(a.audio, 0, &audio, &err))
        goto fail;
    if (!m) { snprintf(err.msg, sizeof err.msg, "%s", why); goto fail; }
    double load_s = wx_now() - t0;
    int runs = a.runs < 64 ? a.runs : 64;
    for (int r = 0; r < runs; r++) {
        wx_transcript tr;
        wx_align_params p = {NULL, WX_INTERPOLATE_NEAREST, false};
        int kept = 0;
        if (read_segments(json_object_get(segs, "segments"), &tr)) goto fail;
        double t = wx_now();
        wx_status st = wx_align_run(m, audio.samples, audio.n_samples, &p, &tr, &kept, &err);
        walls[r] = wx_now() - t;
        words = 0;
        for (int i = 0; i < tr.n_segments; i++) words += tr.segments[i].n_words;
        wx_transcript_free(&tr);
        if (st) goto fail;
    }
    qsort(walls, (size_t)runs, sizeof *walls, by_value);
    double audio_s = (double)audio.n_samples / WX_SAMPLE_RATE;
    printf("{\"engine\": \"whisperx-worker\", \"audio\": \"%s\", \"audio_s\": %.3f, "
           "\"wall_s\": %.4f, \"s_per_audio_min\": %.4f, \"runs\": %d, \"load_s\": %.3f, "
           "\"words\": %d, \"threads\": %d}\n", a.audio, audio_s, walls[runs / 2],
           walls[runs / 2] * 60.0 / audio_s, runs, load_s, words, a.threads);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "wx-bench-align: %s\n", err.msg);
done:
    wx_audio_free(&audio);
    wx_align_models_free(reg);
    if (be) be->ops->destroy(be);
    json_decref(segs);
    return rc;
}
