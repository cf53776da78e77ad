/* bench_wespeaker.c — wx-bench-wespeaker: times the WeSpeaker ResNet34 embedding
 * (src/models/wespeaker.c: fbank, ResNet34, pooling) of one chunk of a recording on the CPU
 * backend and prints one line:
 *   chunk_s=<s> threads=<n> repeat=<n> wall_min_s=<s> wall_median_s=<s> cpu_mean_s=<s>
 * (cpu: process CPU seconds, all threads, per run; the minimum wall and the CPU time are the
 * steadier figures on a shared host). One speaker weighted 1 on every frame.
 * Usage: wx-bench-wespeaker --ckpt FILE [--audio FILE (../shared/data/sample.wav)]
 *        [--seconds S (10)] [--threads N (2)] [--repeat N (5)]
 * A full-width random checkpoint: tools/gen_wespeaker_fixtures.py --width 32 --out DIR. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "backend/backend.h"
#include "io/audio.h"
#include "models/wespeaker.h"

#define MASK_FRAMES 589 /* pyannote's segmentation frames per 10 s chunk */

typedef struct options {
    const char *ckpt, *audio;
    double seconds;
    int threads, repeat;
} options;

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static double wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_args(int argc, char **argv, options *o)
{
    *o = (options){.audio = "../shared/data/sample.wav", .seconds = 10, .threads = 2, .repeat = 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return -1;
        if (!strcmp(a, "--ckpt")) o->ckpt = v;
        else if (!strcmp(a, "--audio")) o->audio = v;
        else if (!strcmp(a, "--seconds")) o->seconds = atof(v);
        else if (!strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--repeat")) o->repeat = atoi(v);
        else return -1;
        i++;
    }
    return o->ckpt && o->seconds > 0 && o->threads > 0 && o->repeat > 0 ? 0 : -1;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: %s --ckpt FILE [--audio FILE] [--seconds S] [--threads N] "
                        "[--repeat N]\n", argv[0]);
        return 2;
    }
    int rc = 1;
    wx_err err = {{0}};
    wx_audio audio = {0};
    wx_backend *be = NULL;
    wx_wespeaker *m = NULL;
    float *mask = NULL, *emb = NULL;
    double *walls = NULL;
    if (wx_audio_load_file(o.audio, 0, &audio, &err) != WX_OK) goto fail;
    be = wx_backend_cpu_create(o.threads, &err);
    if (!be || wx_wespeaker_load(o.ckpt, be, &m, &err) != WX_OK) goto fail;
    int64_t n = (int64_t)(o.seconds * wx_wespeaker_sample_rate(m));
    if ((size_t)n > audio.n_samples) {
        fprintf(stderr, "%s: shorter than %g s\n", o.audio, o.seconds);
        goto cleanup;
    }
    mask = malloc(MASK_FRAMES * sizeof *mask);
    emb = malloc((size_t)wx_wespeaker_dim(m) * sizeof *emb);
    walls = malloc((size_t)o.repeat * sizeof *walls);
    if (!mask || !emb || !walls) goto cleanup;
    for (int i = 0; i < MASK_FRAMES; i++) mask[i] = 1.0f;
    /* one untimed run: the backend's scratch and the model's pass buffers are made */
    if (wx_wespeaker_embed(m, audio.samples, 1, n, mask, 1, MASK_FRAMES, emb, &err) != WX_OK)
        goto fail;
    double cpu0 = cpu_seconds();
    for (int r = 0; r < o.repeat; r++) {
        double t0 = wall_seconds();
        if (wx_wespeaker_embed(m, audio.samples, 1, n, mask, 1, MASK_FRAMES, emb, &err) != WX_OK)
            goto fail;
        walls[r] = wall_seconds() - t0;
    }
    double cpu = (cpu_seconds() - cpu0) / o.repeat;
    qsort(walls, (size_t)o.repeat, sizeof *walls, compare_doubles);
    printf("chunk_s=%g threads=%d repeat=%d wall_min_s=%.4f wall_median_s=%.4f cpu_mean_s=%.4f\n",
           o.seconds, o.threads, o.repeat, walls[0], walls[o.repeat / 2], cpu);
    rc = 0;
    goto cleanup;
fail:
    fprintf(stderr, "%s\n", err.msg);
cleanup:
    free(walls);
    free(emb);
    free(mask);
    wx_wespeaker_free(m);
    if (be) be->ops->destroy(be);
    wx_audio_free(&audio);
    return rc;
}
