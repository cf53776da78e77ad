/* job.c — one job: schema → audio source → pipeline → rendered output. Every resource a job
 * takes is released on every path; errors become {"error": ...} bodies, never a crash. */
#include "job.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "schema.h"
#include "source.h"

/* Share of overall progress spent before the pipeline starts (fetch and decode). */
#define PIPELINE_START 0.15

static void report_progress(const wx_job_hooks *hooks, const char *stage, double progress)
{
    if (hooks->progress)
        hooks->progress(hooks->progress_user, stage, progress);
}

static void on_pipeline_progress(void *user, const char *stage, double progress)
{
    report_progress(user, stage, PIPELINE_START + (1.0 - PIPELINE_START) * progress);
}

static json_t *error_body(json_t *error)
{
    return json_pack("{s:o}", "error", error ? error : json_string("out of memory"));
}

static json_t *debug_info(wx_engine *engine, const wx_transcript *tr, const wx_audio *audio,
                          const wx_source_info *source)
{
    const wx_stage_times *t = &tr->times;
    return json_pack("{s:s, s:s, s:{s:f, s:f, s:f, s:f, s:f, s:f, s:f}, "
                     "s:{s:s, s:I, s:s, s:i, s:i, s:f, s:f}, s:i, s:b, s:f}",
        "device", wx_engine_device(engine), "model", wx_engine_model_name(engine),
        "stage_seconds", "fetch", source->seconds, "decode_audio", t->decode_audio,
        "vad", t->vad, "mel", t->mel, "encode", t->encode, "decode", t->decode,
        "transcribe_total", t->total,
        "audio", "source", source->kind, "bytes", (json_int_t)source->bytes,
        "format", audio->format, "source_rate", audio->source_rate,
        "source_channels", audio->source_channels, "source_seconds", audio->source_seconds,
        "seconds_16k", (double)audio->n_samples / WX_SAMPLE_RATE,
        "batch_size_used", tr->batch_size_used, "vad_used", tr->vad_used,
        "language_probability", (double)tr->language_probability);
}

static json_t *build_output(wx_engine *engine, const wx_job_input *in, const wx_transcript *tr,
                            const wx_audio *audio, const wx_source_info *source)
{
    json_t *out = json_pack("{s:o, s:s, s:f, s:o}", "segments", wx_render_segments(tr),
                            "detected_language", tr->language,
                            "language_probability", (double)tr->language_probability,
                            "effective_input", wx_job_input_effective(in));
    if (!out)
        return NULL;
    if (json_array_size(in->warnings))
        json_object_set(out, "warnings", in->warnings);
    if (wx_job_input_bool(in, "debug"))
        json_object_set_new(out, "debug_info", debug_info(engine, tr, audio, source));
    const char *format = wx_job_input_string(in, "output_format");
    char *text = format ? wx_render_text(tr, format) : NULL;
    if (text)
        json_object_set_new(out, format, json_string(text));
    free(text);
    return out;
}

static wx_status transcribe_audio(wx_engine *engine, const wx_job_input *in,
                                  const wx_audio *audio, const wx_job_hooks *hooks,
                                  wx_transcript *tr, wx_err *err)
{
    wx_transcribe_options opts;
    wx_job_input_to_options(in, &opts);
    opts.cancel = hooks->cancel;
    return wx_transcribe(engine, audio->samples, audio->n_samples, &opts, on_pipeline_progress,
                         (void *)hooks, tr, err);
}

static bool is_cancelled(const wx_job_hooks *hooks)
{
    return hooks->cancel && *hooks->cancel;
}

json_t *wx_job_run(wx_engine *engine, const json_t *input, const wx_job_hooks *hooks,
                   wx_job_report *report)
{
    wx_job_input in;
    wx_audio audio = {0};
    wx_transcript tr = {0};
    wx_source_info source = {0};
    wx_source_policy policy;
    json_t *errors = NULL, *body = NULL;
    wx_err err = {{0}};
    memset(report, 0, sizeof *report);

    if (wx_job_input_parse(input, &in, &errors, &err) != WX_OK)
        return error_body(errors ? errors : json_string(err.msg));
    wx_job_input_check_model(&in, wx_engine_model_name(engine));
    wx_job_input_check_vad(&in, wx_engine_has_vad(engine));
    report_progress(hooks, "fetch", 0.0);
    wx_source_policy_from_env(&policy, hooks->allow_local_path);
    policy.cancel = hooks->cancel;
    double t0 = wx_now();
    if (wx_source_load_audio(wx_job_input_string(&in, "audio_file"), &policy, &audio, &source,
                             &err) != WX_OK)
        goto fail;
    report_progress(hooks, "decode_audio", PIPELINE_START);
    if (transcribe_audio(engine, &in, &audio, hooks, &tr, &err) != WX_OK)
        goto fail;
    tr.times.decode_audio = fmax(0.0, wx_now() - t0 - source.seconds - tr.times.total);
    json_t *output = build_output(engine, &in, &tr, &audio, &source);
    body = output ? json_pack("{s:o}", "output", output) : NULL;
    report->ok = body != NULL;
    report->audio_seconds = (double)audio.n_samples / WX_SAMPLE_RATE;
    report->fetch_seconds = source.seconds;
    report->times = tr.times;
    goto cleanup;
fail:
    report->cancelled = is_cancelled(hooks);
    body = error_body(json_string(report->cancelled ? "Job cancelled." : err.msg));
cleanup:
    wx_transcript_free(&tr);
    wx_audio_free(&audio);
    wx_job_input_free(&in);
    return body;
}
