/* bench_engine.c — wx-bench: times this engine on one recording the way
 * tools/bench_faster_whisper.py times the anchor, and prints one JSON line with the same
 * fields (wall time, real-time factor, per-stage seconds, peak RSS, text). tools/bench.sh
 * runs both and prints them side by side.
 *   wx-bench --model DIR --audio FILE [--threads N] [--beam N] [--batch N] [--vad 0|1]
 *            [--device cpu|cuda|auto] [--words 0|1] [--compute_type default|int8|...]
 * --vad 0 (the default) cuts 30 s windows like the faster-whisper anchor; --vad 1 runs the
 * WhisperX flow (pyannote VAD, merged chunks) like the WhisperX anchor. --device cuda runs
 * Whisper on the GPU (fp16 weights and K/V: compute_type "float16"); default cpu. --words 1
 * times words from Whisper's cross-attention (stages.align is its cost). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "io/audio.h"
#include "pipeline/pipeline.h"

typedef struct bench_args {
    const char *model, *audio, *device, *compute_type;
    int threads, beam, batch, vad, words;
} bench_args;

static int parse_args(int argc, char **argv, bench_args *a)
{
    *a = (bench_args){.model = "models/tiny.en", .device = "cpu", .beam = 5, .batch = 8};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--model") == 0) a->model = argv[i + 1];
        else if (strcmp(argv[i], "--audio") == 0) a->audio = argv[i + 1];
        else if (strcmp(argv[i], "--threads") == 0) a->threads = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--beam") == 0) a->beam = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--batch") == 0) a->batch = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--vad") == 0) a->vad = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--device") == 0) a->device = argv[i + 1];
        else if (strcmp(argv[i], "--words") == 0) a->words = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--compute_type") == 0) a->compute_type = argv[i + 1];
        else return -1;
    }
    return a->audio ? 0 : -1;
}

/* Segment texts stripped and joined with one space, as the anchor joins its chunk texts. */
static char *joined_text(const wx_transcript *tr)
{
    size_t n = 1;
    for (int i = 0; i < tr->n_segments; i++) n += strlen(tr->segments[i].text) + 1;
    char *s = calloc(n, 1);
    for (int i = 0; s && i < tr->n_segments; i++) {
        const char *t = tr->segments[i].text;
        while (*t == ' ') t++;
        size_t len = strlen(t);
        while (len && t[len - 1] == ' ') len--;
        if (*s) strcat(s, " ");
        strncat(s, t, len);
    }
    return s;
}

static void print_result(const bench_args *a, const wx_engine *engine, const wx_audio *audio,
                         const wx_transcript *tr, double load_s, double decode_audio_s,
                         double wall_s)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double audio_s = (double)audio->n_samples / WX_SAMPLE_RATE;
    char *text = joined_text(tr);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:{s:f, s:f, s:f, s:f, s:f, s:f}, "
                          "s:f, s:f, s:s, s:i, s:i, s:i, s:b, s:i}",
        "engine", "whisperx-worker", "device", wx_engine_device(engine), "compute_type",
        wx_engine_compute_type(engine), "audio", a->audio,
        "audio_s", audio_s, "wall_s", wall_s, "rtf", wall_s / audio_s,
        "stages", "decode_audio", decode_audio_s, "vad", tr->times.vad, "mel", tr->times.mel,
        "encode", tr->times.encode, "decode", tr->times.decode, "align", tr->times.align,
        "load_s", load_s, "peak_rss_mb", (double)ru.ru_maxrss / 1024.0,
        "text", text ? text : "", "threads", a->threads, "beam", a->beam, "batch", a->batch,
        "vad", tr->vad_used, "segments", tr->n_segments);
    char *line = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    puts(line);
    free(line);
    json_decref(j);
    free(text);
}

int main(int argc, char **argv)
{
    bench_args a;
    if (parse_args(argc, argv, &a) != 0) {
        fprintf(stderr, "usage: wx-bench --model DIR --audio FILE [--threads N] [--beam N] "
                        "[--batch N] [--vad 0|1] [--device cpu|cuda|auto] [--words 0|1] "
                        "[--compute_type default|int8|...]\n");
        return 2;
    }
    wx_err err;
    wx_engine *engine = NULL;
    wx_audio audio = {0};
    wx_transcript tr = {0};
    int rc = 1;
    double t0 = wx_now();
    wx_engine_config cfg = {.model_dir = a.model, .device = a.device, .n_threads = a.threads,
                            .compute_type = a.compute_type};
    if (wx_engine_load(&cfg, &engine, &err) != WX_OK) goto fail;
    double t1 = wx_now();
    if (wx_audio_load_file(a.audio, 0, &audio, &err) != WX_OK) goto fail;
    double t2 = wx_now();
    wx_transcribe_options o;
    wx_transcribe_options_default(&o);
    o.beam_size = a.beam;
    o.batch_size = a.batch;
    o.vad = a.vad != 0;
    o.words = a.words ? WX_WORDS_WHISPER : WX_WORDS_NONE;
    if (wx_transcribe(engine, audio.samples, audio.n_samples, &o, NULL, NULL, &tr, &err) != WX_OK)
        goto fail;
    print_result(&a, engine, &audio, &tr, t1 - t0, t2 - t1, wx_now() - t1);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "wx-bench: %s\n", err.msg);
done:
    wx_transcript_free(&tr);
    wx_audio_free(&audio);
    wx_engine_free(engine);
    return rc;
}
