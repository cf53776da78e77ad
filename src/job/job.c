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
    json_t *info = json_pack("{s:s, s:s, s:{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}, "
                     "s:{s:s, s:I, s:s, s:i, s:i, s:f, s:f}, s:i, s:b, s:f}",
        "device", wx_engine_device(engine), "model", wx_engine_model_name(engine),
        "stage_seconds", "fetch", source->seconds, "decode_audio", t->decode_audio,
        "vad", t->vad, "mel", t->mel, "encode", t->encode, "decode", t->decode,
        "align", t->align, "transcribe_total", t->total,
        "audio", "source", source->kind, "bytes", (json_int_t)source->bytes,
        "format", audio->format, "source_rate", audio->source_rate,
        "source_channels", audio->source_channels, "source_seconds", audio->source_seconds,
        "seconds_16k", (double)audio->n_samples / WX_SAMPLE_RATE,
        "batch_size_used", tr->batch_size_used, "vad_used", tr->vad_used,
        "language_probability", (double)tr->language_probability);
    if (info) {
        json_object_set_new(info, "word_timestamps_method",
                            tr->words_method[0] ? json_string(tr->words_method) : json_null());
        if (tr->words_note[0])
            json_object_set_new(info, "word_timestamps_choice", json_string(tr->words_note));
        if (tr->align_model[0]) {
            json_object_set_new(info, "align_model", json_string(tr->align_model));
            json_object_set_new(info, "segments_not_aligned", json_integer(tr->align_kept));
        }
    }
    return info;
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
    if (tr->words_method[0])
        json_object_set_new(out, "word_segments", wx_render_word_segments(tr));
    if (tr->words_warning[0])
        json_array_append_new(in->warnings, json_string(tr->words_warning));
    if (json_array_size(in->warnings))
        json_object_set(out, "warnings", in->warnings);
    if (wx_job_input_bool(in, "debug"))
        json_object_set_new(out, "debug_info", debug_info(engine, tr, audio, source));
    const char *format = wx_job_input_string(in, "output_format");
    char *text = format ? wx_render_text(tr, format, wx_job_input_bool(in, "highlight_words"))
                        : NULL;
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

void wx_job_prepared_free(wx_job_prepared *job)
{
    wx_audio_free(&job->audio);
    wx_job_input_free(&job->in);
}

json_t *wx_job_prepare(const json_t *input, const wx_job_hooks *hooks, wx_job_prepared *job)
{
    json_t *errors = NULL;
    wx_source_policy policy;
    wx_err err = {{0}};
    memset(job, 0, sizeof *job);
    if (wx_job_input_parse(input, &job->in, &errors, &err) != WX_OK)
        return error_body(errors ? errors : json_string(err.msg));
    report_progress(hooks, "fetch", 0.0);
    wx_source_policy_from_env(&policy, hooks->local_audio_dir);
    policy.cancel = hooks->cancel;
    double t0 = wx_now();
    if (wx_source_load_audio(wx_job_input_string(&job->in, "audio_file"), &policy, &job->audio,
                             &job->source, &err) != WX_OK)
        return error_body(json_string(is_cancelled(hooks) ? "Job cancelled." : err.msg));
    job->seconds = wx_now() - t0;
    return NULL;
}

json_t *wx_job_run(wx_engine *engine, const json_t *input, const wx_job_hooks *hooks,
                   wx_job_report *report)
{
    wx_job_prepared job;
    wx_transcript tr = {0};
    wx_err err = {{0}};
    memset(report, 0, sizeof *report);
    json_t *body = wx_job_prepare(input, hooks, &job);
    if (body) {
        report->cancelled = is_cancelled(hooks);
        goto cleanup;
    }
    wx_job_input_check_model(&job.in, wx_engine_model_name(engine));
    wx_job_input_check_vad(&job.in, wx_engine_has_vad(engine));
    report_progress(hooks, "decode_audio", PIPELINE_START);
    if (transcribe_audio(engine, &job.in, &job.audio, hooks, &tr, &err) != WX_OK) {
        report->cancelled = is_cancelled(hooks);
        body = error_body(json_string(report->cancelled ? "Job cancelled." : err.msg));
        goto cleanup;
    }
    tr.times.decode_audio = fmax(0.0, job.seconds - job.source.seconds);
    json_t *output = build_output(engine, &job.in, &tr, &job.audio, &job.source);
    body = output ? json_pack("{s:o}", "output", output) : NULL;
    report->ok = body != NULL;
    report->audio_seconds = (double)job.audio.n_samples / WX_SAMPLE_RATE;
    report->fetch_seconds = job.source.seconds;
    report->times = tr.times;
cleanup:
    wx_transcript_free(&tr);
    wx_job_prepared_free(&job);
    return body;
}
