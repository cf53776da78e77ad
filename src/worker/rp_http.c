/* rp_http.c — libcurl requests for the queue protocol. One easy handle per request keeps
 * threads independent (the heartbeat runs beside the job loop). */
#include "rp_http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    wx_http_response *resp = user;
    size_t n = size * nmemb;
    char *grown = realloc(resp->body, resp->size + n + 1);
    if (!grown)
        return 0;
    memcpy(grown + resp->size, ptr, n);
    resp->size += n;
    grown[resp->size] = '\0';
    resp->body = grown;
    return n;
}

static int on_progress(void *user, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    volatile const int *abort_flag = user;
    (void)a; (void)b; (void)c; (void)d;
    return abort_flag && *abort_flag;
}

static struct curl_slist *build_headers(const wx_http_request *req)
{
    char line[512];
    const char *key = getenv("RUNPOD_AI_API_KEY");
    struct curl_slist *headers = NULL;
    snprintf(line, sizeof line, "Authorization: %s", key ? key : "");
    headers = curl_slist_append(headers, line);
    if (req->request_id) {
        snprintf(line, sizeof line, "X-Request-ID: %s", req->request_id);
        headers = curl_slist_append(headers, line);
    }
    if (req->body) {
        headers = curl_slist_append(headers, "Content-Type: application/x-www-form-urlencoded");
        headers = curl_slist_append(headers, "charset: utf-8");
    }
    return headers;
}

wx_status wx_http_send(const wx_http_request *req, wx_http_response *resp, wx_err *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    memset(resp, 0, sizeof *resp);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = build_headers(req);
    if (!curl || !headers) {
        curl_easy_cleanup(curl);
        curl_slist_free_all(headers);
        return wx_fail(err, WX_ERR_NOMEM, "could not prepare an HTTP request");
    }
    curl_easy_setopt(curl, CURLOPT_URL, req->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, WX_USER_AGENT);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, req->timeout_s);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)req->abort);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    if (req->body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_size);
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
        resp->status = 0;
        return wx_fail(err, WX_ERR_IO, "%s %s failed: %s", req->method, req->url,
                       *errbuf ? errbuf : curl_easy_strerror(rc));
    }
    return WX_OK;
}

void wx_http_response_free(wx_http_response *resp)
{
    free(resp->body);
    memset(resp, 0, sizeof *resp);
}

char *wx_http_replace(const char *text, const char *from, const char *to)
{
    size_t n_from = strlen(from), n_to = strlen(to), count = 0;
    for (const char *p = strstr(text, from); p; p = strstr(p + n_from, from))
        count++;
    char *out = malloc(strlen(text) + count * n_to + 1);
    if (!out)
        return NULL;
    char *w = out;
    for (const char *p = text, *hit; ; p = hit + n_from) {
        hit = strstr(p, from);
        size_t keep = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(w, p, keep);
        w += keep;
        if (!hit)
            break;
        memcpy(w, to, n_to);
        w += n_to;
    }
    *w = '\0';
    return out;
}

char *wx_http_add_query(const char *url, const char *name, const char *value)
{
    char *escaped = curl_easy_escape(NULL, value, 0);
    if (!escaped)
        return NULL;
    size_t size = strlen(url) + strlen(name) + strlen(escaped) + 3;
    char *out = malloc(size);
    if (out)
        snprintf(out, size, "%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', name, escaped);
    curl_free(escaped);
    return out;
}
