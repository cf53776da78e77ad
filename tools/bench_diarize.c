/* bench_diarize.c — wx-diarize: our diarization engine (src/pipeline/diarize.c) on one
 * recording. RTTM turns on stdout, the timing on stderr:
 *   SPEAKER <uri> 1 <start> <dur> <NA> <NA> SPEAKER_%02d <NA> <NA>
 *   seconds=<wall of wx_diarize> audio=<s> rtf=<seconds / audio> cpu=<s>
 * (cpu: process CPU seconds, all threads, per run: the mean over the --repeat runs; steadier
 * than the wall on a shared host)
 * Usage: wx-diarize [options] AUDIO
 *   --seg DIR (models/segmentation-3.0)  --emb FILE (models/ge2e/pretrained.pt)
 *   --pyannote DIR: a pyannote pipeline directory instead (config.yaml naming its models as
 *   "$model/…" subfolders, community-1's layout): pyannote's design exactly; the flags of
 *   the open set's params below are then unused
 *   --uri NAME (the file's base name without extension)  --threads N (2)
 *   --repeat N (1: runs wx_diarize N times, prints the median wall, RTTM of the last run)
 *   --num N --min N --max N (speakers; not given: free)
 *   one flag per wx_diarize_params field, defaults from wx_diarize_params_default:
 *   --step F --onset F --min-off F --no-links --link-iou F --link-min F --threshold F
 *   --min-cluster-size N --min-train F --sample-threshold F
 * The audio goes through wx_audio_load_file (any container; several channels are mixed
 * down to their mean as the worker's decoder does). Model load and decoding are not timed.
 * Two more lines on stderr, before the timing: "params step=… onset=… …" (the values in
 * effect, flag names without "--"; links=0|1) and "chunks=… chains=… train=… clusters=…
 * speakers=… seg=… emb=… clu=…", the engine's own counts and step times of the last run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "backend/backend.h"
#include "io/audio.h"
#include "io/pipeline_config.h"
#include "pipeline/diarize.h"
#include "pipeline/diarizers.h"

typedef struct options {
    const char *seg, *emb, *pyannote, *audio, *uri;
    int threads, repeat, num, min, max;
    wx_diarize_params p;
} options;

static void usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--seg DIR] [--emb FILE] [--pyannote DIR] [--uri NAME] [--threads N]\n"
            "          [--repeat N]\n"
            "          [--num N] [--min N] [--max N] [--step F] [--onset F] [--min-off F]\n"
            "          [--no-links] [--link-iou F] [--link-min F] [--threshold F]\n"
            "          [--min-cluster-size N] [--min-train F] [--sample-threshold F] AUDIO\n",
            argv0);
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.seg = "models/segmentation-3.0", .emb = "models/ge2e/pretrained.pt",
                   .threads = 2, .repeat = 1};
    wx_diarize_params_default(&o->p);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--no-links")) { o->p.link_overlap = false; continue; }
        if (a[0] != '-' || a[1] != '-') {
            if (o->audio) return -1;
            o->audio = a;
            continue;
        }
        if (!v) return -1;
        i++;
        if (!strcmp(a, "--seg")) o->seg = v;
        else if (!strcmp(a, "--emb")) o->emb = v;
        else if (!strcmp(a, "--pyannote")) o->pyannote = v;
        else if (!strcmp(a, "--uri")) o->uri = v;
        else if (!strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--repeat")) o->repeat = atoi(v);
        else if (!strcmp(a, "--num")) o->num = atoi(v);
        else if (!strcmp(a, "--min")) o->min = atoi(v);
        else if (!strcmp(a, "--max")) o->max = atoi(v);
        else if (!strcmp(a, "--step")) o->p.step = atof(v);
        else if (!strcmp(a, "--onset")) o->p.onset = atof(v);
        else if (!strcmp(a, "--min-off")) o->p.min_duration_off = atof(v);
        else if (!strcmp(a, "--link-iou")) o->p.link_iou = atof(v);
        else if (!strcmp(a, "--link-min")) o->p.link_min_seconds = atof(v);
        else if (!strcmp(a, "--threshold")) o->p.ahc_threshold = atof(v);
        else if (!strcmp(a, "--min-cluster-size")) o->p.min_cluster_size = atoi(v);
        else if (!strcmp(a, "--min-train")) o->p.min_train_seconds = atof(v);
        else if (!strcmp(a, "--sample-threshold")) o->p.sample_threshold = atof(v);
        else return -1;
    }
    return o->audio && o->repeat > 0 && o->threads > 0 ? 0 : -1;
}

/* The pipeline of directory dir: its config.yaml, its models in its own subfolders. */
static wx_status load_pyannote(const char *dir, wx_backend *be, wx_diarizer **d, wx_err *err)
{
    char path[4200], seg[4200], emb[4200], plda[4200];
    wx_pipeline_config cfg;
    wx_pyannote_pipeline p;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    wx_status st = wx_pipeline_config_load(path, &cfg, err);
    if (st != WX_OK) return st;
    if (!cfg.segmentation.in_pipeline || !cfg.embedding.in_pipeline ||
        (cfg.plda.present && !cfg.plda.in_pipeline))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "%s: wx-diarize reads models from the "
                       "pipeline's own subfolders ($model/...) only", path);
    snprintf(seg, sizeof seg, "%s/%s", dir, cfg.segmentation.path);
    snprintf(emb, sizeof emb, "%s/%s/pytorch_model.bin", dir, cfg.embedding.path);
    snprintf(plda, sizeof plda, "%s/%s", dir, cfg.plda.path);
    st = wx_pyannote_pipeline_from_config(&cfg, seg, emb, cfg.plda.present ? plda : NULL, &p, err);
    return st == WX_OK ? wx_diarizer_load_pyannote(&p, be, d, err) : st;
}

/* User + system CPU seconds of the process so far, all threads. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The file's base name without its extension (RTTM uri). */
static void default_uri(const char *path, char *out, size_t n)
{
    const char *base = strrchr(path, '/');
    snprintf(out, n, "%s", base ? base + 1 : path);
    char *dot = strrchr(out, '.');
    if (dot && dot != out) *dot = '\0';
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o)) {
        usage(argv[0]);
        return 2;
    }
    char uri[256];
    if (o.uri) snprintf(uri, sizeof uri, "%s", o.uri);
    else default_uri(o.audio, uri, sizeof uri);
    wx_err err = {{0}};
    wx_audio audio = {0};
    wx_diarizer *d = NULL;
    wx_diarization r = {0};
    double *walls = calloc((size_t)o.repeat, sizeof *walls);
    int rc = 1;
    wx_backend *be = wx_backend_cpu_create(o.threads, &err);
    if (!be || !walls || wx_audio_load_file(o.audio, 0, &audio, &err) != WX_OK ||
        (o.pyannote ? load_pyannote(o.pyannote, be, &d, &err)
                    : wx_diarizer_load(o.seg, o.emb, be, &d, &err)) != WX_OK)
        goto fail;
    double c0 = cpu_seconds();
    for (int k = 0; k < o.repeat; k++) {
        if (k) wx_diarization_free(&r);
        memset(&r, 0, sizeof r);
        double t0 = wx_now();
        if (wx_diarize(d, audio.samples, audio.n_samples, &o.p, o.num, o.min, o.max, NULL, &r,
                       &err) != WX_OK)
            goto fail;
        walls[k] = wx_now() - t0;
    }
    for (int i = 0; i < r.n_turns; i++) {
        const wx_turn *t = &r.turns[i];
        printf("SPEAKER %s 1 %.3f %.3f <NA> <NA> SPEAKER_%02d <NA> <NA>\n", uri, t->start,
               t->end - t->start, t->speaker);
    }
    double cpu = (cpu_seconds() - c0) / o.repeat;
    qsort(walls, (size_t)o.repeat, sizeof *walls, by_value);
    double wall = o.repeat % 2 ? walls[o.repeat / 2]
                               : 0.5 * (walls[o.repeat / 2 - 1] + walls[o.repeat / 2]);
    double secs = audio.n_samples / (double)WX_SAMPLE_RATE;
    fprintf(stderr, "params step=%g onset=%g min-off=%g links=%d link-iou=%g link-min=%g "
                    "threshold=%g min-cluster-size=%d min-train=%g sample-threshold=%g\n",
            o.p.step, o.p.onset, o.p.min_duration_off, o.p.link_overlap, o.p.link_iou,
            o.p.link_min_seconds, o.p.ahc_threshold, o.p.min_cluster_size,
            o.p.min_train_seconds, o.p.sample_threshold);
    fprintf(stderr, "chunks=%d chains=%d train=%d clusters=%d speakers=%d seg=%.3f emb=%.3f "
                    "clu=%.3f\n", r.n_chunks, r.n_chains, r.n_train, r.n_clusters, r.n_speakers,
            r.seconds_segmentation, r.seconds_embedding, r.seconds_clustering);
    fprintf(stderr, "seconds=%.4f audio=%.3f rtf=%.4f cpu=%.3f\n", wall, secs,
            secs > 0 ? wall / secs : 0, cpu);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "wx-diarize: %s\n", err.msg);
done:
    wx_diarization_free(&r);
    wx_diarizer_free(d);
    if (be) be->ops->destroy(be);
    wx_audio_free(&audio);
    free(walls);
    return rc;
}
