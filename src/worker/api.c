/* api.c — the local HTTP API (--rp_serve_api) on libmicrohttpd: POST /run and /runsync,
 * GET|POST /status/{id}, POST /cancel/{id}, the same under /v2/{endpoint_id}/, GET /health and
 * GET /metrics. The jobs live here; the executor thread runs them one at a time in the
 * supervised worker process (supervisor.h), so a crash there fails only the job in flight.
 * While the model loads the server already answers: /health says "loading" (503), jobs
 * queue, /runsync waits at most its wait time. Safe to expose: an optional bearer key
 * (WX_API_KEY), bounded bodies, queue and kept results, local paths only under
 * --rp_local_audio_dir. */
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "../job/job.h"
#include "log.h"
#include "metrics.h"
#include "supervisor.h"
#include "store.h"
#include "worker.h"

#define DEFAULT_MAX_BODY_BYTES (64L << 20)
#define DEFAULT_SYNC_WAIT_MS 90000
#define MAX_SYNC_WAIT_MS 300000
#define MAX_CONNECTIONS 128        /* with the body limit, bounds request memory */
#define RETRY_AFTER_S "5"

typedef struct api {
    const wx_worker_config *config;
    wx_job_store store;
    wx_metrics *metrics;
    wx_supervisor *sup;        /* the executor thread's alone */
    const char *key;           /* WX_API_KEY; NULL: no authentication */
    size_t max_body;           /* WX_MAX_REQUEST_BYTES */
    pthread_mutex_t lock;      /* guards the fields below */
    wx_model_info model;
    int gave_up;               /* the worker process crash-looped: exit 1 */
} api;

typedef struct request_body {
    char *data;
    size_t size;
    int too_big;
} request_body;

/* ---- executor ---- */

static void publish_model(api *a, const wx_model_info *info)
{
    pthread_mutex_lock(&a->lock);
    a->model = *info;
    pthread_mutex_unlock(&a->lock);
}

/* Waits for the worker process to be ready (after start or a crash) and publishes its state. */
static void refresh_model(api *a)
{
    wx_model_info info;
    wx_supervisor_wait_ready(a->sup, &info);
    publish_model(a, &info);
}

static json_t *run_stored_job(api *a, wx_stored_job *job, wx_job_report *report)
{
    wx_supervised_job run = {.id = job->id, .input = job->input,
                             .local_audio_dir = a->config->local_audio_dir,
                             .cancel = &job->cancel};
    wx_log(WX_LOG_INFO, job->id, "Started.");
    json_t *result = wx_supervisor_run(a->sup, &run, report);
    wx_model_info now;
    wx_supervisor_info(a->sup, &now);   /* "loading" again after a crash */
    publish_model(a, &now);
    return result;
}

static void *executor(void *arg)
{
    api *a = arg;
    wx_err err = {{0}};
    wx_stored_job *job;
    if (wx_supervisor_start(a->config, true, &a->sup, &err) != WX_OK) {
        wx_model_info failed = {.state = WX_MODEL_FAILED};
        snprintf(failed.error, sizeof failed.error, "%s", err.msg);
        publish_model(a, &failed);
        wx_log(WX_LOG_ERROR, NULL, "%s", err.msg);
        return NULL;
    }
    refresh_model(a);
    while (!wx_supervisor_gave_up(a->sup) && (job = wx_job_store_next(&a->store))) {
        wx_job_report report;
        json_t *result = run_stored_job(a, job, &report);
        const char *outcome = report.cancelled ? "cancelled" : report.ok ? "completed" : "failed";
        wx_metrics_record(a->metrics, outcome, &report);
        wx_log(WX_LOG_INFO, job->id, "Finished (%s).", outcome);
        wx_job_store_finish(&a->store, job, result, report.cancelled);
        refresh_model(a);
    }
    if (wx_supervisor_gave_up(a->sup)) {
        pthread_mutex_lock(&a->lock);
        a->gave_up = 1;
        pthread_mutex_unlock(&a->lock);
        kill(getpid(), SIGTERM);     /* wakes the main thread's sigwait */
    }
    wx_supervisor_stop(a->sup);      /* before this thread ends: PR_SET_PDEATHSIG follows it */
    a->sup = NULL;
    return NULL;
}

/* ---- responses ---- */

/* Sends text (copied) with its content type and, when header is non-NULL, one more header. */
static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text,
                                 const char *content_type, const char *header,
                                 const char *value)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", content_type);
    if (header)
        MHD_add_response_header(r, header, value);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends body (stolen) as JSON, with an optional header; a NULL body is an out-of-memory 500. */
static enum MHD_Result send_json_with(struct MHD_Connection *c, unsigned status, json_t *body,
                                      const char *header, const char *value)
{
    char *text = body ? json_dumps(body, WX_JSON_FLAGS) : NULL;
    json_decref(body);
    enum MHD_Result ret = text ? send_text(c, status, text, "application/json", header, value)
                               : send_text(c, 500, "{\"error\":\"out of memory\"}",
                                           "application/json", NULL, NULL);
    free(text);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *body)
{
    return send_json_with(c, status, body, NULL, NULL);
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
    return send_json(c, status, json_pack("{s:s}", "error", msg));
}

/* 429 with Retry-After, as a rate-limited RunPod endpoint answers. */
static enum MHD_Result send_busy(struct MHD_Connection *c, const char *msg)
{
    return send_json_with(c, MHD_HTTP_TOO_MANY_REQUESTS, json_pack("{s:s}", "error", msg),
                          "Retry-After", RETRY_AFTER_S);
}

static enum MHD_Result send_unauthorized(struct MHD_Connection *c)
{
    return send_json_with(c, MHD_HTTP_UNAUTHORIZED, json_pack("{s:s}", "error",
                          "Unauthorized: send Authorization: Bearer <WX_API_KEY>."),
                          "WWW-Authenticate", "Bearer");
}

/* ---- authentication ---- */

/* Compares in time that depends only on the lengths, not on where the bytes differ. */
static int same_secret(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(a[i] ^ b[i % (m ? m : 1)]);
    return diff == 0;
}

static int authorized(const api *a, struct MHD_Connection *c)
{
    if (!a->key)
        return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    return h && !strncasecmp(h, "Bearer ", 7) && same_secret(h + 7, a->key);
}

/* ---- routes ---- */

static json_t *parse_job_body(const request_body *body, char *why, size_t size)
{
    json_error_t jerr;
    json_t *job = body->size ? json_loadb(body->data, body->size, 0, &jerr) : NULL;
    if (!job)
        snprintf(why, size, "The request body is not valid JSON%s%s.", body->size ? ": " : "",
                 body->size ? jerr.text : "");
    else if (!json_is_object(job) || !json_object_get(job, "input"))
        snprintf(why, size, "Job has no input parameter. Unable to run.");
    else
        return job;
    json_decref(job);
    return NULL;
}

static long sync_wait_ms(struct MHD_Connection *c)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait");
    long ms = v ? strtol(v, NULL, 10) : DEFAULT_SYNC_WAIT_MS;
    return ms < 0 ? 0 : ms > MAX_SYNC_WAIT_MS ? MAX_SYNC_WAIT_MS : ms;
}

static enum MHD_Result route_submit(api *a, struct MHD_Connection *c, const request_body *body,
                                    int sync)
{
    char why[256], id[48];
    wx_err err;
    json_t *job = parse_job_body(body, why, sizeof why);
    if (!job)
        return send_error(c, MHD_HTTP_BAD_REQUEST, why);
    wx_status st = wx_job_store_submit(&a->store, json_object_get(job, "input"),
                                       sync ? "sync-" : "", id, &err);
    json_decref(job);
    if (st == WX_ERR_BUSY)
        return send_busy(c, err.msg);
    if (st != WX_OK)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg);
    if (!sync)
        return send_json(c, MHD_HTTP_OK, json_pack("{s:s, s:s}", "id", id, "status", "IN_QUEUE"));
    return send_json(c, MHD_HTTP_OK, wx_job_store_status(&a->store, id, sync_wait_ms(c) / 1000.0));
}

static enum MHD_Result route_job(api *a, struct MHD_Connection *c, const char *id, int cancel)
{
    json_t *body = cancel ? wx_job_store_cancel(&a->store, id)
                          : wx_job_store_status(&a->store, id, 0);
    if (!body)
        return send_error(c, MHD_HTTP_NOT_FOUND, "request does not exist");
    return send_json(c, MHD_HTTP_OK, body);
}

static const char *state_name(int state)
{
    return state == WX_MODEL_READY ? "ready" : state == WX_MODEL_LOADING ? "loading" : "failed";
}

static enum MHD_Result route_health(api *a, struct MHD_Connection *c)
{
    wx_job_counts n;
    wx_job_store_counts(&a->store, &n);
    pthread_mutex_lock(&a->lock);
    int state = a->model.state;
    json_t *model = json_pack("{s:s, s:s}", "state", state_name(state), "model_dir",
                              a->config->model_dir);
    if (model && state == WX_MODEL_READY) {
        json_object_set_new(model, "name", json_string(a->model.model));
        json_object_set_new(model, "device", json_string(a->model.device));
        json_object_set_new(model, "device_note", json_string(a->model.note));
        if (a->model.warning[0])
            json_object_set_new(model, "device_warning", json_string(a->model.warning));
    }
    if (model && state == WX_MODEL_FAILED)
        json_object_set_new(model, "error", json_string(a->model.error));
    pthread_mutex_unlock(&a->lock);
    json_t *body = json_pack("{s:{s:i, s:i, s:i, s:i, s:i, s:i}, s:{s:i, s:i}, s:{s:o}}",
        "jobs", "completed", n.completed, "failed", n.failed, "cancelled", n.cancelled,
        "inProgress", n.in_progress, "inQueue", n.in_queue, "retried", 0,
        "workers", "idle", n.in_progress ? 0 : 1, "running", n.in_progress ? 1 : 0,
        "models", "whisper", model);
    return send_json(c, state == WX_MODEL_READY ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body);
}

static enum MHD_Result route_metrics(api *a, struct MHD_Connection *c)
{
    wx_job_counts n;
    wx_job_store_counts(&a->store, &n);
    pthread_mutex_lock(&a->lock);
    int ready = a->model.state == WX_MODEL_READY;
    pthread_mutex_unlock(&a->lock);
    char *text = wx_metrics_render(a->metrics, n.in_queue, n.in_progress, ready);
    enum MHD_Result ret = text ? send_text(c, MHD_HTTP_OK, text, "text/plain; version=0.0.4",
                                           NULL, NULL)
                               : send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    free(text);
    return ret;
}

/* "/v2/{endpoint_id}/run" → "/run"; other paths unchanged. */
static const char *strip_endpoint(const char *url)
{
    if (strncmp(url, "/v2/", 4))
        return url;
    const char *rest = strchr(url + 4, '/');
    return rest ? rest : url;
}

static enum MHD_Result route(api *a, struct MHD_Connection *c, const char *url,
                             const char *method, const request_body *body)
{
    const char *path = strip_endpoint(url);
    int post = !strcmp(method, "POST"), get = !strcmp(method, "GET");
    if (!strcmp(path, "/health") && get)
        return route_health(a, c);
    if (!authorized(a, c))
        return send_unauthorized(c);
    if (body->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "The request body exceeds %zu bytes (WX_MAX_REQUEST_BYTES).",
                 a->max_body);
        return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, msg);
    }
    if (!strcmp(path, "/run") && post)
        return route_submit(a, c, body, 0);
    if (!strcmp(path, "/runsync") && post)
        return route_submit(a, c, body, 1);
    if (!strncmp(path, "/status/", 8) && (post || get))
        return route_job(a, c, path + 8, 0);
    if (!strncmp(path, "/cancel/", 8) && post)
        return route_job(a, c, path + 8, 1);
    if (!strcmp(path, "/metrics") && get)
        return route_metrics(a, c);
    return send_error(c, MHD_HTTP_NOT_FOUND, "No such route; see /run, /runsync, /status/{id}, "
                      "/cancel/{id}, /health, /metrics.");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    request_body *body = *con_cls;
    api *a = cls;
    if (!body) {
        *con_cls = calloc(1, sizeof *body);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        char *grown = body->too_big || body->size + n > a->max_body ? NULL
                    : realloc(body->data, body->size + n + 1);
        if (!grown) {
            body->too_big = 1;
            return MHD_YES;
        }
        memcpy(grown + body->size, upload_data, n);
        body->size += n;
        body->data = grown;
        return MHD_YES;
    }
    return route(a, c, url, method, body);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls; (void)c; (void)toe;
    request_body *body = *con_cls;
    if (body)
        free(body->data);
    free(body);
    *con_cls = NULL;
}

/* ---- start-up ---- */

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    return sa->sa_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

static struct MHD_Daemon *start_daemon(api *a, wx_err *err)
{
    char port[16];
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *addr = NULL;
    snprintf(port, sizeof port, "%d", a->config->api_port);
    if (getaddrinfo(a->config->api_host, port, &hints, &addr) != 0 || !addr) {
        wx_fail(err, WX_ERR_INVALID_INPUT, "cannot resolve --rp_api_host %s", a->config->api_host);
        return NULL;
    }
    if (!a->key && !is_loopback(addr->ai_addr))
        wx_log(WX_LOG_WARN, NULL, "the local API listens on %s without authentication: set "
               "WX_API_KEY to require Authorization: Bearer <key>", a->config->api_host);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG | (addr->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)a->config->api_port, NULL, NULL,
        on_request, a, MHD_OPTION_SOCK_ADDR, addr->ai_addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MAX_CONNECTIONS, MHD_OPTION_END);
    freeaddrinfo(addr);
    if (!d)
        wx_fail(err, WX_ERR_IO, "cannot listen on %s:%d (in use or not permitted)",
                a->config->api_host, a->config->api_port);
    return d;
}

static int wait_for_signal(void)
{
    sigset_t set;
    int sig = 0;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigwait(&set, &sig);
    return sig;
}

static void block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int wx_worker_run_api(const wx_worker_config *config)
{
    const char *key = getenv("WX_API_KEY");
    api a = {.config = config, .key = key && *key ? key : NULL,
             .max_body = (size_t)wx_env_long("WX_MAX_REQUEST_BYTES",
                                             DEFAULT_MAX_BODY_BYTES),
             .model = {.state = WX_MODEL_LOADING}};
    wx_err err = {{0}};
    pthread_t thread;
    int rc = 1;
    block_signals();
    wx_job_store_init(&a.store);
    pthread_mutex_init(&a.lock, NULL);
    a.metrics = wx_metrics_new();
    if (!a.metrics || pthread_create(&thread, NULL, executor, &a) != 0)
        goto cleanup;
    struct MHD_Daemon *daemon = start_daemon(&a, &err);
    if (daemon) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
        wx_log(WX_LOG_INFO, NULL, "local API listening on http://%s:%u", config->api_host,
               info ? info->port : (unsigned)config->api_port);
        wx_log(WX_LOG_INFO, NULL, "stopping on signal %d", wait_for_signal());
        pthread_mutex_lock(&a.lock);
        rc = a.gave_up;
        pthread_mutex_unlock(&a.lock);
    } else {
        wx_log(WX_LOG_ERROR, NULL, "%s", err.msg);
    }
    wx_job_store_close(&a.store);
    if (daemon)
        MHD_stop_daemon(daemon);
    pthread_join(thread, NULL);
cleanup:
    wx_metrics_free(a.metrics);
    pthread_mutex_destroy(&a.lock);
    wx_job_store_destroy(&a.store);
    return rc;
}
