/* bench_decode.c — times our audio decoding (src/io/audio.c: FFmpeg demux + decode +
 * downmix/resample to 16 kHz) on one file and prints one JSON line, the counterpart of
 * tools/bench_decode_anchor.py (whisperx.load_audio's ffmpeg subprocess on the same file):
 *   {"engine":"whisperx-worker","stage":"decode","audio":...,"audio_s":...,"wall_s":...}
 * Usage: bench_decode --audio FILE [--runs 3]; wall_s is the median of the runs, from the
 * bytes in memory (as a job has them after the fetch) to the samples. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/audio.h"

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int runs = 3;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--audio") == 0) path = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--runs") == 0) runs = atoi(argv[++i]);
        else path = NULL, i = argc;
    }
    if (!path || runs < 1 || runs > 99) {
        fprintf(stderr, "usage: %s --audio FILE [--runs N]\n", argv[0]);
        return 2;
    }
    wx_err err = {{0}};
    char *bytes = NULL;
    size_t size = 0;
    if (wx_read_file(path, &bytes, &size, &err) != WX_OK) {
        fprintf(stderr, "bench_decode: %s\n", err.msg);
        return 1;
    }
    double walls[99], audio_s = 0.0;
    for (int r = 0; r < runs; r++) {
        wx_audio a;
        double t0 = wx_now();
        if (wx_audio_load_memory(bytes, size, 0, &a, &err) != WX_OK) {
            fprintf(stderr, "bench_decode: %s\n", err.msg);
            free(bytes);
            return 1;
        }
        walls[r] = wx_now() - t0;
        audio_s = (double)a.n_samples / WX_SAMPLE_RATE;
        wx_audio_free(&a);
    }
    qsort(walls, (size_t)runs, sizeof *walls, by_value);
    printf("{\"engine\":\"whisperx-worker\",\"stage\":\"decode\",\"audio\":\"%s\",\"audio_s\":%.3f,"
           "\"wall_s\":%.4f,\"runs\":%d}\n", path, audio_s, walls[runs / 2], runs);
    free(bytes);
    return 0;
}
