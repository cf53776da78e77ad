/* bench_vad.c — times our WhisperX VAD (src/pipeline/vad.c: model scores, Binarize,
 * merge_chunks) on one recording and prints one JSON line, the counterpart of
 * tools/bench_vad_anchor.py (WhisperX's own VAD on the same file):
 *   {"engine":"whisperx-worker","stage":"vad","audio":...,"audio_s":...,"wall_s":...,...}
 * Usage: bench_vad [--model models/vad] [--audio .cache/bench/long.wav] [--threads N]
 * wall_s covers the VAD only (audio decoded and model loaded beforehand, timed apart);
 * cpu_s is the process CPU time over the same span (all threads), steadier on a shared host. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../tests/vad_test.h"
#include "io/audio.h"
#include "pipeline/vad.h"

typedef struct options {
    const char *model, *audio;
    int threads;
} options;

/* User + system CPU seconds of the process so far, all threads. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static int parse_args(int argc, char **argv, options *o)
{
    o->model = "models/vad";
    o->audio = ".cache/bench/long.wav";
    o->threads = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--model") == 0) o->model = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--audio") == 0) o->audio = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0) o->threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--model DIR] [--audio FILE] [--threads N]\n", argv[0]);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    if (parse_args(argc, argv, &o) != 0) return 2;
    wx_err err = {{0}};
    wx_audio audio = {0};
    wx_backend *be = NULL;
    wx_vad *vad = NULL;
    wx_vad_region *regions = NULL;
    wx_vad_chunk *chunks = NULL;
    int nr = 0, nc = 0, rc = 1;
    if (wx_audio_load_file(o.audio, 0, &audio, &err) != WX_OK) goto fail;
    double t0 = wx_now();
    be = wx_test_cpu_backend_with_vad(o.threads, &err);
    if (!be || wx_vad_load(o.model, be, &vad, &err) != WX_OK) goto fail;
    double t1 = wx_now(), c1 = cpu_seconds();
    if (wx_vad_run(vad, audio.samples, audio.n_samples, NULL, &regions, &nr, &chunks, &nc,
                   &err) != WX_OK)
        goto fail;
    double t2 = wx_now(), c2 = cpu_seconds();
    printf("{\"engine\": \"whisperx-worker\", \"stage\": \"vad\", \"audio\": \"%s\", "
           "\"audio_s\": %.3f, \"wall_s\": %.4f, \"cpu_s\": %.3f, \"load_s\": %.4f, "
           "\"threads\": %d, \"regions\": %d, \"chunks\": %d}\n", o.audio,
           audio.n_samples / 16000.0, t2 - t1, c2 - c1, t1 - t0, be->n_threads, nr, nc);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "bench_vad: %s\n", err.msg);
done:
    free(regions);
    free(chunks);
    wx_vad_free(vad);
    if (be) be->ops->destroy(be);
    wx_audio_free(&audio);
    return rc;
}
