/* fuzz_request.c — fuzz target for the path a request takes up to the pipeline's entry: the
 * job bodies (one JSON value per line) through validation, audio_file resolution (URL, data
 * URI, base64, local path) and audio decode, under both source policies: the queue's (no local
 * paths) and the local modes' (paths only under the fixture directory). Every download is
 * routed to 127.0.0.1:1 (WX_DOWNLOAD_CONNECT_TO; private addresses refused), so nothing
 * leaves the machine. Every input must end in decoded audio or an error body of the
 * documented shape, never a crash. Built with tests/fuzz_driver.c (smoke run over
 * tests/fixtures/request_seed.jsonl) or with clang -fsanitize=fuzzer. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job/job.h"

static const char *fixture_dir(void)
{
    const char *dir = getenv("WX_FIXTURE_DIR");
    return dir && *dir ? dir : "tests/fixtures";
}

static void isolate_network(void)
{
    static int done;
    if (done++)
        return;
    static const char *proxies[] = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                                    "ALL_PROXY", "all_proxy"};
    for (size_t i = 0; i < sizeof proxies / sizeof *proxies; i++)
        unsetenv(proxies[i]);
    unsetenv("RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS");
    setenv("WX_DOWNLOAD_CONNECT_TO", "::127.0.0.1:1", 1);
    setenv("WX_DOWNLOAD_CONNECT_TIMEOUT", "1", 1);
    setenv("WX_DOWNLOAD_TIMEOUT", "2", 1);
    setenv("RUNPOD_MAX_DOWNLOAD_BYTES", "4000000", 1);
}

/* {"error": "sentence"} or {"error": ["message", ...]}. */
static void check_error_body(const json_t *body)
{
    const json_t *e = json_object_get(body, "error");
    if (!json_is_object(body) || json_object_size(body) != 1 || !e) abort();
    if (json_is_string(e)) {
        if (!json_string_length(e)) abort();
        return;
    }
    if (!json_is_array(e) || !json_array_size(e)) abort();
    for (size_t i = 0; i < json_array_size(e); i++)
        if (!json_string_length(json_array_get(e, i))) abort();
}

static void check_prepared(const wx_job_prepared *job, const char *local_dir)
{
    const char *kind = job->source.kind;
    if (!kind) abort();
    if (!local_dir && !strcmp(kind, "path")) abort();     /* the queue never reads files */
    for (size_t i = 0; i < job->audio.n_samples; i++)
        if (!isfinite(job->audio.samples[i]) || fabsf(job->audio.samples[i]) > 1.0f) abort();
}

static void run_job(const json_t *body, const char *local_dir)
{
    const json_t *input = json_is_object(body) && json_object_get(body, "input")
                        ? json_object_get(body, "input") : body;
    wx_job_hooks hooks = {.local_audio_dir = local_dir};
    wx_job_prepared job;
    json_t *error = wx_job_prepare(input, &hooks, &job);
    if (error)
        check_error_body(error);
    else
        check_prepared(&job, local_dir);
    json_decref(error);
    wx_job_prepared_free(&job);
}

/* One line per job, so that a mutation spoils one job and the others still run. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    isolate_network();
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        json_t *body = json_loadb(p, len, JSON_DECODE_ANY, NULL);
        if (body) {
            run_job(body, NULL);
            run_job(body, fixture_dir());
            json_decref(body);
        }
        p += len + 1;
    }
    return 0;
}

const char *wx_fuzz_seed_file(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/request_seed.jsonl", fixture_dir());
    return path;
}
