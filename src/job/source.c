/* source.c — audio_file to samples: http(s) download into memory with libcurl (5 redirects,
 * time-outs, size cap, every connection's address checked so redirects and DNS answers
 * cannot reach loopback or private networks), data: URIs, bare base64, and local paths that
 * resolve (symlinks and .. followed) under the operator's local audio directory. */
#include "source.h"

#include <arpa/inet.h>
#include <limits.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_MAX_BYTES ((size_t)1 << 30)

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes"));
}

void wx_source_policy_from_env(wx_source_policy *policy, const char *local_dir)
{
    memset(policy, 0, sizeof *policy);
    policy->local_dir = local_dir;
    policy->allow_private_hosts = env_true("RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS");
    const char *cap = getenv("RUNPOD_MAX_DOWNLOAD_BYTES");
    char *end = NULL;
    unsigned long long n = cap && *cap ? strtoull(cap, &end, 10) : 0;
    policy->max_bytes = cap && *cap && !*end && n > 0 ? (size_t)n : DEFAULT_MAX_BYTES;
    policy->connect_timeout_s = wx_env_long("WX_DOWNLOAD_CONNECT_TIMEOUT", 10);
    policy->total_timeout_s = wx_env_long("WX_DOWNLOAD_TIMEOUT", 600);
    const char *connect_to = getenv("WX_DOWNLOAD_CONNECT_TO");
    policy->connect_to = connect_to && *connect_to ? connect_to : NULL;
}

/* ---- base64 ---- */

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

wx_status wx_source_decode_base64(const char *text, size_t len, size_t max_bytes,
                                  unsigned char **data, size_t *size, wx_err *err)
{
    *data = NULL;
    *size = 0;
    if (len / 4 * 3 > max_bytes + 3)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file: the base64 audio exceeds the "
                       "limit of %zu bytes.", max_bytes);
    unsigned char *out = malloc(len / 4 * 3 + 3);
    if (!out)
        return wx_fail(err, WX_ERR_NOMEM, "out of memory decoding base64 audio");
    size_t n = 0, digits = 0, padding = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (is_space(c))
            continue;
        if (c == '=') {
            padding++;
            continue;
        }
        int v = base64_value(c);
        if (v < 0 || padding)
            goto invalid;
        acc = acc << 6 | (uint32_t)v;
        if (++digits % 4 == 0) {
            out[n++] = (unsigned char)(acc >> 16);
            out[n++] = (unsigned char)(acc >> 8);
            out[n++] = (unsigned char)acc;
        }
    }
    size_t tail = digits % 4;
    if (tail == 1 || padding > 2 || (padding && (tail + padding) % 4))
        goto invalid;
    if (tail == 2)
        out[n++] = (unsigned char)(acc >> 4);
    if (tail == 3) {
        out[n++] = (unsigned char)(acc >> 10);
        out[n++] = (unsigned char)(acc >> 2);
    }
    if (n == 0) {
        free(out);
        return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file: the base64 audio is empty.");
    }
    if (n > max_bytes) {
        free(out);
        return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file: the base64 audio exceeds the "
                       "limit of %zu bytes.", max_bytes);
    }
    *data = out;
    *size = n;
    return WX_OK;
invalid:
    free(out);
    return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file is not valid base64 (nor an http(s) "
                   "URL or a data: URI).");
}

/* ---- addresses ---- */

static bool ipv4_is_public(uint32_t a)
{
    static const struct { uint32_t net, mask; } blocked[] = {
        {0x00000000, 0xff000000}, {0x0a000000, 0xff000000}, {0x64400000, 0xffc00000},
        {0x7f000000, 0xff000000}, {0xa9fe0000, 0xffff0000}, {0xac100000, 0xfff00000},
        {0xc0000000, 0xffffff00}, {0xc0000200, 0xffffff00}, {0xc0a80000, 0xffff0000},
        {0xc6120000, 0xfffe0000}, {0xc6336400, 0xffffff00}, {0xcb007100, 0xffffff00},
        {0xe0000000, 0xe0000000},
    };
    for (size_t i = 0; i < sizeof blocked / sizeof *blocked; i++)
        if ((a & blocked[i].mask) == blocked[i].net)
            return false;
    return true;
}

static bool ipv6_is_public(const unsigned char *b)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!memcmp(b, mapped, 12))
        return ipv4_is_public((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 |
                              (uint32_t)b[14] << 8 | b[15]);
    if ((b[0] & 0xe0) != 0x20)           /* only 2000::/3 is global unicast */
        return false;
    return !(b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8);
}

static bool address_is_public(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return ipv4_is_public(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr));
    if (sa->sa_family == AF_INET6)
        return ipv6_is_public(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    return false;
}

/* ---- download ---- */

typedef struct download {
    unsigned char *data;
    size_t size, cap, max_bytes;
    bool too_big, refused_address, cancelled;
    char refused[INET6_ADDRSTRLEN];
    const wx_source_policy *policy;
} download;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *user)
{
    download *d = user;
    size_t n = size * nmemb;
    if (d->size + n > d->max_bytes) {
        d->too_big = true;
        return 0;
    }
    if (d->size + n > d->cap) {
        size_t cap = d->cap ? d->cap : 65536;
        while (cap < d->size + n)
            cap *= 2;
        unsigned char *grown = realloc(d->data, cap);
        if (!grown)
            return 0;
        d->data = grown;
        d->cap = cap;
    }
    memcpy(d->data + d->size, ptr, n);
    d->size += n;
    return n;
}

static curl_socket_t on_open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *addr)
{
    download *d = user;
    (void)purpose;
    if (!d->policy->allow_private_hosts && !address_is_public(&addr->addr)) {
        const void *raw = addr->family == AF_INET6
            ? (const void *)&((struct sockaddr_in6 *)&addr->addr)->sin6_addr
            : (const void *)&((struct sockaddr_in *)&addr->addr)->sin_addr;
        inet_ntop(addr->family, raw, d->refused, sizeof d->refused);
        d->refused_address = true;
        return CURL_SOCKET_BAD;
    }
    return socket(addr->family, addr->socktype, addr->protocol);
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    download *d = user;
    (void)dltotal; (void)dlnow; (void)ultotal; (void)ulnow;
    if (d->policy->cancel && *d->policy->cancel) {
        d->cancelled = true;
        return 1;
    }
    return 0;
}

static void configure_download(CURL *curl, const char *url, download *d, char *errbuf)
{
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, d->policy->connect_timeout_s);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, d->policy->total_timeout_s);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)d->max_bytes);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "whisperx-worker/" WX_VERSION);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, d);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
}

static struct curl_slist *route_connections(CURL *curl, const char *connect_to)
{
    struct curl_slist *list = connect_to ? curl_slist_append(NULL, connect_to) : NULL;
    if (list)
        curl_easy_setopt(curl, CURLOPT_CONNECT_TO, list);
    return list;
}

static wx_status describe_failure(CURL *curl, CURLcode rc, const download *d,
                                  const char *errbuf, wx_err *err)
{
    long http = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
    if (d->refused_address)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file: the URL resolves to a loopback "
                       "or private address (%s), which is refused; set "
                       "RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS=true to allow it.", d->refused);
    if (d->too_big || rc == CURLE_FILESIZE_EXCEEDED)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file: the download exceeds the limit "
                       "of %zu bytes (RUNPOD_MAX_DOWNLOAD_BYTES).", d->max_bytes);
    if (d->cancelled)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "cancelled");
    if (rc == CURLE_HTTP_RETURNED_ERROR)
        return wx_fail(err, WX_ERR_IO, "audio_file: the server answered HTTP %ld.", http);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return wx_fail(err, WX_ERR_IO, "audio_file: the download timed out (%s).", errbuf);
    if (rc == CURLE_TOO_MANY_REDIRECTS)
        return wx_fail(err, WX_ERR_IO, "audio_file: more than 5 redirects.");
    return wx_fail(err, WX_ERR_IO, "audio_file: the download failed: %s.",
                   *errbuf ? errbuf : curl_easy_strerror(rc));
}

static wx_status download_url(const char *url, const wx_source_policy *policy,
                              unsigned char **data, size_t *size, wx_err *err)
{
    download d = {.max_bytes = policy->max_bytes, .policy = policy};
    char errbuf[CURL_ERROR_SIZE] = "";
    wx_status st = WX_OK;
    CURL *curl = curl_easy_init();
    if (!curl)
        return wx_fail(err, WX_ERR_NOMEM, "could not start a download");
    configure_download(curl, url, &d, errbuf);
    struct curl_slist *connect_to = route_connections(curl, policy->connect_to);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        st = describe_failure(curl, rc, &d, errbuf, err);
        goto cleanup;
    }
    if (d.size == 0) {
        st = wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file: the download is empty.");
        goto cleanup;
    }
    *data = d.data;
    *size = d.size;
    d.data = NULL;
cleanup:
    free(d.data);
    curl_easy_cleanup(curl);
    curl_slist_free_all(connect_to);
    return st;
}

/* ---- dispatch ---- */

static bool has_prefix(const char *s, const char *prefix)
{
    return !strncasecmp(s, prefix, strlen(prefix));
}

static wx_status decode_data_uri(const char *uri, size_t max_bytes, unsigned char **data,
                                 size_t *size, wx_err *err)
{
    const char *comma = strchr(uri, ',');
    if (!comma)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file: the data: URI has no comma.");
    if (comma - uri < 7 || strncasecmp(comma - 7, ";base64", 7))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file: only base64 data: URIs are "
                       "supported (data:<type>;base64,<data>).");
    return wx_source_decode_base64(comma + 1, strlen(comma + 1), max_bytes, data, size, err);
}

static wx_status fetch_bytes(const char *audio_file, const wx_source_policy *policy,
                             unsigned char **data, size_t *size, wx_source_info *info,
                             wx_err *err)
{
    if (has_prefix(audio_file, "http://") || has_prefix(audio_file, "https://")) {
        info->kind = "url";
        return download_url(audio_file, policy, data, size, err);
    }
    if (has_prefix(audio_file, "data:")) {
        info->kind = "data_uri";
        return decode_data_uri(audio_file, policy->max_bytes, data, size, err);
    }
    const char *scheme_end = strstr(audio_file, "://");
    if (scheme_end && scheme_end - audio_file < 16) {
        info->kind = "url";
        return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file: the URL scheme %.*s is not "
                       "supported; use http or https.", (int)(scheme_end - audio_file), audio_file);
    }
    info->kind = "base64";
    return wx_source_decode_base64(audio_file, strlen(audio_file), policy->max_bytes, data,
                                   size, err);
}

/* True when path (already resolved) is dir itself or lies below it. */
static bool is_below(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return true;
    return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/* Resolves audio_file (relative to local_dir when relative) to a regular file under
 * local_dir, symlinks and .. followed; false when it is no such file. */
static bool resolve_local_file(const char *audio_file, const char *local_dir,
                               char resolved[PATH_MAX])
{
    char dir[PATH_MAX], joined[PATH_MAX];
    struct stat st;
    if (!*audio_file || strlen(audio_file) >= PATH_MAX || !realpath(local_dir, dir))
        return false;
    int n = audio_file[0] == '/' ? snprintf(joined, sizeof joined, "%s", audio_file)
                                 : snprintf(joined, sizeof joined, "%s/%s", dir, audio_file);
    if (n < 0 || (size_t)n >= sizeof joined || !realpath(joined, resolved))
        return false;
    return is_below(resolved, dir) && stat(resolved, &st) == 0 && S_ISREG(st.st_mode);
}

/* A short string starting with / or . is meant as a path: real base64 audio is far longer
 * than 1024 characters (768 bytes), so it is never decoded as base64. */
static bool looks_like_path(const char *audio_file)
{
    return (audio_file[0] == '/' || audio_file[0] == '.') && strlen(audio_file) < 1024;
}

static wx_status refuse_path(const wx_source_policy *policy, wx_err *err)
{
    if (policy->local_dir)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file is not a readable file under the "
                       "local audio directory (%s).", policy->local_dir);
    return wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file looks like a local path, which this "
                   "worker does not read; send an http(s) URL, a data: URI or base64 (a local "
                   "API started with --rp_local_audio_dir DIR reads files under DIR).");
}

wx_status wx_source_load_audio(const char *audio_file, const wx_source_policy *policy,
                               wx_audio *out, wx_source_info *info, wx_err *err)
{
    unsigned char *data = NULL;
    size_t size = 0;
    char path[PATH_MAX];
    double t0 = wx_now();
    memset(info, 0, sizeof *info);
    memset(out, 0, sizeof *out);
    if (policy->local_dir && resolve_local_file(audio_file, policy->local_dir, path)) {
        info->kind = "path";
        return wx_audio_load_file(path, 0, out, err);
    }
    if (looks_like_path(audio_file)) {
        info->kind = "path";
        return refuse_path(policy, err);
    }
    wx_status st = fetch_bytes(audio_file, policy, &data, &size, info, err);
    if (st == WX_ERR_INVALID_INPUT && policy->local_dir && !strcmp(info->kind, "base64") &&
        strlen(audio_file) < PATH_MAX)
        st = wx_fail(err, WX_ERR_INVALID_INPUT, "audio_file is neither a readable file under "
                     "the local audio directory (%s), an http(s) URL, a data: URI nor valid "
                     "base64.", policy->local_dir);
    info->seconds = wx_now() - t0;
    info->bytes = size;
    if (st == WX_OK)
        st = wx_audio_load_memory(data, size, 0, out, err);
    free(data);
    return st;
}
