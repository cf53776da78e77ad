/* job.c — one job: schema → audio source (and the speaker samples) → pipeline → rendered
 * output. Every resource a job takes is released on every path; errors become
 * {"error": ...} bodies, never a crash. */
#include "job.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "schema.h"
#include "source.h"

/* Share of overall progress spent before the pipeline starts (fetch and decode). */
#define PIPELINE_START 0.15

static bool is_cancelled(const wx_job_hooks *hooks)
{
    return hooks->cancel && *hooks->cancel;
}

static void report_progress(const wx_job_hooks *hooks, const char *stage, double progress)
{
    if (hooks->progress)
        hooks->progress(hooks->progress_user, stage, progress);
}

static void on_pipeline_progress(void *user, const char *stage, double progress)
{
    report_progress(user, stage, PIPELINE_START + (1.0 - PIPELINE_START) * progress);
}

/* The speaker samples that could be fetched and decoded, in request order. */
typedef struct speaker_samples {
    wx_audio audio[WX_JOB_MAX_SPEAKER_SAMPLES];
    wx_speaker_sample samples[WX_JOB_MAX_SPEAKER_SAMPLES];
    int n;
} speaker_samples;

static void speaker_samples_free(speaker_samples *s)
{
    for (int i = 0; i < s->n; i++)
        wx_audio_free(&s->audio[i]);
    s->n = 0;
}

/* A sample that cannot be used costs its name, not the job: one warning says why. */
static void warn_bad_sample(wx_job_input *in, size_t index, const char *name, const char *why)
{
    char msg[768];
    int len = (int)strlen(why);
    while (len > 0 && why[len - 1] == '.')
        len--;
    snprintf(msg, sizeof msg, "speaker_samples[%zu] (\"%s\"): %.*s; that name is not used.",
             index, name, len, why);
    json_array_append_new(in->warnings, json_string(msg));
}

/* Fetches and decodes each speaker sample under the main audio's policy (the decoder refuses
 * audio without samples, as for audio_file). */
static void load_speaker_samples(wx_job_input *in, const wx_job_hooks *hooks,
                                 speaker_samples *out)
{
    wx_source_policy policy;
    wx_source_policy_from_env(&policy, hooks->local_audio_dir);
    policy.cancel = hooks->cancel;
    size_t i;
    json_t *entry;
    json_array_foreach(json_object_get(in->values, "speaker_samples"), i, entry) {
        const char *name = json_string_value(json_object_get(entry, "name"));
        wx_audio *audio = &out->audio[out->n];
        wx_source_info info;
        wx_err err = {{0}};
        if (wx_source_load_audio(json_string_value(json_object_get(entry, "audio_file")),
                                 &policy, audio, &info, &err) != WX_OK) {
            wx_audio_free(audio);
            if (is_cancelled(hooks))
                return;
            warn_bad_sample(in, i, name, err.msg);
            continue;
        }
        out->samples[out->n++] = (wx_speaker_sample){name, audio->samples, audio->n_samples};
    }
}

static json_t *error_body(json_t *error)
{
    return json_pack("{s:o}", "error", error ? error : json_string("out of memory"));
}

static json_t *debug_info(wx_engine *engine, const wx_transcript *tr, const wx_audio *audio,
                          const wx_source_info *source)
{
    const wx_stage_times *t = &tr->times;
    json_t *info = json_pack("{s:s, s:s, s:s, s:{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}, "
                     "s:{s:s, s:I, s:s, s:i, s:i, s:f, s:f}, s:i, s:b, s:f}",
        "device", wx_engine_device(engine), "model", wx_engine_model_name(engine),
        "compute_type", wx_engine_compute_type(engine),
        "stage_seconds", "fetch", source->seconds, "decode_audio", t->decode_audio,
        "vad", t->vad, "mel", t->mel, "encode", t->encode, "decode", t->decode,
        "align", t->align, "diarize", t->diarize, "transcribe_total", t->total,
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
        json_object_set_new(info, "diarization_model", tr->diarization_model[0]
                            ? json_string(tr->diarization_model) : json_null());
        json_object_set_new(info, "diarization_note", tr->diarization_note[0]
                            ? json_string(tr->diarization_note) : json_null());
    }
    return info;
}

/* Each line of the diarization's warnings becomes one entry of the job's. */
static void add_diarization_warnings(const wx_job_input *in, const wx_transcript *tr)
{
    const char *line = tr->diarization_warning;
    while (*line) {
        size_t len = strcspn(line, "\n");
        if (len)
            json_array_append_new(in->warnings, json_stringn(line, len));
        line += len + (line[len] == '\n');
    }
}

/* WhisperX's result["speaker_embeddings"] and the turns: "diarization" whenever the
 * diarization ran, an empty list when it found no speech. */
static void add_diarization(json_t *out, const wx_transcribe_options *opts,
                            const wx_transcript *tr)
{
    if (tr->n_turns > 0 || (opts->diarize && tr->diarization_model[0]))
        json_object_set_new(out, "diarization", wx_render_turns(tr));
    if (opts->return_speaker_embeddings && tr->speaker_embeddings)
        json_object_set_new(out, "speaker_embeddings", wx_render_speaker_embeddings(tr));
}

static json_t *build_output(wx_engine *engine, const wx_job_input *in,
                            const wx_transcribe_options *opts, const wx_transcript *tr,
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
    add_diarization(out, opts, tr);
    if (tr->words_warning[0])
        json_array_append_new(in->warnings, json_string(tr->words_warning));
    add_diarization_warnings(in, tr);
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

/* The pipeline options of a job, with the speaker samples that could be used; false when the
 * job was cancelled while they were fetched. */
static bool job_options(wx_job_input *in, const wx_job_hooks *hooks, speaker_samples *samples,
                        wx_transcribe_options *opts)
{
    wx_job_input_to_options(in, opts);
    opts->cancel = hooks->cancel;
    if (opts->diarize)
        load_speaker_samples(in, hooks, samples);
    opts->speaker_samples = samples->n ? samples->samples : NULL;
    opts->n_speaker_samples = samples->n;
    return !is_cancelled(hooks);
}

json_t *wx_job_run(wx_engine *engine, const json_t *input, const wx_job_hooks *hooks,
                   wx_job_report *report)
{
    wx_job_prepared job;
    speaker_samples samples = {.n = 0};
    wx_transcribe_options opts;
    wx_transcript tr = {0};
    wx_err err = {{0}};
    memset(report, 0, sizeof *report);
    json_t *body = wx_job_prepare(input, hooks, &job);
    if (body) {
        report->cancelled = is_cancelled(hooks);
        goto cleanup;
    }
    if (wx_engine_use_model(engine, wx_job_input_string(&job.in, "model"), &err) != WX_OK) {
        body = error_body(json_string(err.msg));
        goto cleanup;
    }
    wx_job_input_check_model(&job.in, wx_engine_model_name(engine));   /* no manifest: warned */
    wx_job_input_check_compute_type(&job.in, wx_engine_compute_type(engine));
    wx_job_input_check_vad(&job.in, wx_engine_has_vad(engine));
    if (!job_options(&job.in, hooks, &samples, &opts)) {
        report->cancelled = true;
        body = error_body(json_string("Job cancelled."));
        goto cleanup;
    }
    report_progress(hooks, "decode_audio", PIPELINE_START);
    if (wx_transcribe(engine, job.audio.samples, job.audio.n_samples, &opts,
                      on_pipeline_progress, (void *)hooks, &tr, &err) != WX_OK) {
        report->cancelled = is_cancelled(hooks);
        body = error_body(json_string(report->cancelled ? "Job cancelled." : err.msg));
        goto cleanup;
    }
    tr.times.decode_audio = fmax(0.0, job.seconds - job.source.seconds);
    json_t *output = build_output(engine, &job.in, &opts, &tr, &job.audio, &job.source);
    body = output ? json_pack("{s:o}", "output", output) : NULL;
    report->ok = body != NULL;
    report->audio_seconds = (double)job.audio.n_samples / WX_SAMPLE_RATE;
    report->fetch_seconds = job.source.seconds;
    report->times = tr.times;
cleanup:
    speaker_samples_free(&samples);
    wx_transcript_free(&tr);
    wx_job_prepared_free(&job);
    return body;
}
