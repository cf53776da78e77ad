/* rp_http.h — the worker's HTTP client for RunPod's job API: URL placeholders and query
 * parameters, and requests that carry the raw API key, a User-Agent and X-Request-ID, with
 * time-outs and an abort flag polled during long polls. */
#ifndef WX_WORKER_RP_HTTP_H
#define WX_WORKER_RP_HTTP_H

#include <stddef.h>

#include "../base/wx_base.h"

#define WX_USER_AGENT "whisperx-worker/" WX_VERSION " (runpod-python compatible)"

typedef struct wx_http_request {
    const char *method;          /* "GET" or "POST" */
    const char *url;
    const char *body;            /* POST body, UTF-8 JSON; NULL for GET */
    size_t body_size;
    const char *request_id;      /* X-Request-ID header when non-NULL */
    long timeout_s;
    volatile const int *abort;   /* non-zero aborts the transfer */
} wx_http_request;

typedef struct wx_http_response {
    long status;                 /* 0 when no response came */
    char *body;                  /* NUL-terminated, malloc'd */
    size_t size;
} wx_http_response;

/* WX_OK when a response arrived (any status); WX_ERR_IO for network failures. */
wx_status wx_http_send(const wx_http_request *req, wx_http_response *resp, wx_err *err);
void wx_http_response_free(wx_http_response *resp);

/* Every occurrence of from replaced by to (malloc'd). */
char *wx_http_replace(const char *text, const char *from, const char *to);

/* url + '?' or '&' + name=value, value URL-escaped (malloc'd). */
char *wx_http_add_query(const char *url, const char *name, const char *value);

#endif
