/* hub.c — the Hugging Face hub client (see hub.h): configuration from the environment, the
 * cache layout of huggingface_hub 0.36 (file_download.py: _hf_hub_download_to_cache_dir,
 * get_hf_file_metadata, _create_symlink, _cache_commit_hash_for_specific_revision), HEAD for
 * the metadata, GET into {blob}.incomplete under the blob's flock, checks, rename.
 * Differences from huggingface_hub, on purpose: a file already in the revision's snapshot is
 * used without asking the hub whether the branch moved (a worker's pipelines are pinned by
 * their first download); the sha256 of LFS blobs is verified (huggingface_hub checks the size
 * only); an interrupted download restarts instead of resuming; Xet is not used (the resolve
 * URL serves the bytes over plain HTTP as well). */
#include "hub.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sha256.h"

#define DEFAULT_TIMEOUT_S 10
#define MAX_REDIRECTS 10
#define MAX_REPO_ID 96          /* huggingface_hub's validate_repo_id */
#define MAX_NAME 1024           /* revision or filename */
#define PATH_CAP 4096
#define URL_CAP 8192

/* ---- small string and path helpers --------------------------------------------------- */

static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* Copies src without surrounding whitespace; false when it does not fit. */
static bool copy_trimmed(char *dst, size_t cap, const char *src, size_t len)
{
    while (len && isspace((unsigned char)*src)) { src++; len--; }
    while (len && isspace((unsigned char)src[len - 1])) len--;
    if (len >= cap) return false;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return true;
}

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len) return false;
    for (size_t i = 0; i < len; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) return false;
    return true;
}

static bool is_commit_hash(const char *s) { return is_hex(s, 40); }
static bool is_sha256(const char *s) { return is_hex(s, 64); }

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* huggingface_hub's _is_true: 1, ON, YES, TRUE in any case. */
static bool is_true(const char *v)
{
    static const char *const yes[] = {"1", "ON", "YES", "TRUE"};
    if (!v) return false;
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (strcasecmp(v, yes[i]) == 0) return true;
    return false;
}

static bool mkdir_p(const char *dir)
{
    char buf[PATH_CAP];
    if (!copy_str(buf, sizeof buf, dir)) return false;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return false;
        *p = '/';
    }
    return mkdir(buf, 0777) == 0 || errno == EEXIST;
}

static bool mkdir_parent(const char *path)
{
    char buf[PATH_CAP];
    if (!copy_str(buf, sizeof buf, path)) return false;
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return true;
    *slash = '\0';
    return mkdir_p(buf);
}

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A unique sibling name for write-then-rename, unique across threads and processes. */
static void temp_sibling(char *out, size_t cap, const char *path)
{
    static atomic_uint counter;
    snprintf(out, cap, "%s.tmp.%ld.%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
}

/* ---- configuration -------------------------------------------------------------------- */

/* Expands a leading "~/" as os.path.expanduser does. */
static bool expand_home(char *dst, size_t cap, const char *path, const char *home)
{
    if (strncmp(path, "~/", 2) == 0 && home)
        return (size_t)snprintf(dst, cap, "%s/%s", home, path + 2) < cap;
    return copy_str(dst, cap, path);
}

static const char *user_home(void)
{
    const char *home = env_nonempty("HOME");
    if (home) return home;
    struct passwd *pw = getpwuid(getuid());
    return pw ? pw->pw_dir : NULL;
}

static wx_status config_paths(wx_hub_config *cfg, char *hf_home, size_t cap, wx_err *err)
{
    const char *home = user_home();
    const char *v = env_nonempty("HF_HOME");
    bool ok;
    if (v) ok = expand_home(hf_home, cap, v, home);
    else if ((v = env_nonempty("XDG_CACHE_HOME")))
        ok = (size_t)snprintf(hf_home, cap, "%s/huggingface", v) < cap;
    else if (home) ok = (size_t)snprintf(hf_home, cap, "%s/.cache/huggingface", home) < cap;
    else return wx_fail(err, WX_ERR_INVALID_INPUT, "hub: no home directory: set HF_HOME or HF_HUB_CACHE");
    if (!ok) return wx_fail(err, WX_ERR_INVALID_INPUT, "hub: HF_HOME is too long");
    if ((v = env_nonempty("HF_HUB_CACHE")) || (v = env_nonempty("HUGGINGFACE_HUB_CACHE")))
        ok = expand_home(cfg->cache_dir, sizeof cfg->cache_dir, v, home);
    else
        ok = (size_t)snprintf(cfg->cache_dir, sizeof cfg->cache_dir, "%s/hub", hf_home) < sizeof cfg->cache_dir;
    if (!ok) return wx_fail(err, WX_ERR_INVALID_INPUT, "hub: HF_HUB_CACHE is too long");
    return WX_OK;
}

/* The token file huggingface_hub's `hf auth login` writes; absent is not an error. */
static wx_status token_from_file(wx_hub_config *cfg, const char *hf_home, wx_err *err)
{
    char path[PATH_CAP];
    const char *v = env_nonempty("HF_TOKEN_PATH");
    if ((size_t)snprintf(path, sizeof path, "%s", v ? v : "") >= sizeof path ||
        (!v && (size_t)snprintf(path, sizeof path, "%s/token", hf_home) >= sizeof path))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "hub: HF_TOKEN_PATH is too long");
    FILE *f = fopen(path, "rb");
    if (!f) return WX_OK;
    char buf[sizeof cfg->token + 64];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n == sizeof buf || !copy_trimmed(cfg->token, sizeof cfg->token, buf, n))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "hub: the token file %s is too long to be a token", path);
    return WX_OK;
}

static wx_status config_token(wx_hub_config *cfg, const char *token, const char *hf_home, wx_err *err)
{
    static const char *const names[] = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_ACCESS_TOKEN"};
    const char *v = token && *token ? token : NULL;
    const char *from = "the request's huggingface_access_token";
    for (size_t i = 0; !v && i < sizeof names / sizeof names[0]; i++)
        if ((v = env_nonempty(names[i]))) from = names[i];
    if (!v) return token_from_file(cfg, hf_home, err);
    if (!copy_trimmed(cfg->token, sizeof cfg->token, v, strlen(v)))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "hub: %s is too long to be a token", from);
    return WX_OK;
}

wx_status wx_hub_config_from_env(wx_hub_config *cfg, const char *token, wx_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    const char *endpoint = env_nonempty("HF_ENDPOINT");
    if (!endpoint) endpoint = WX_HUB_DEFAULT_ENDPOINT;
    if (!copy_str(cfg->endpoint, sizeof cfg->endpoint, endpoint))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "hub: HF_ENDPOINT is too long");
    size_t n = strlen(cfg->endpoint);
    while (n && cfg->endpoint[n - 1] == '/') cfg->endpoint[--n] = '\0';
    if (strncmp(cfg->endpoint, "https://", 8) != 0 && strncmp(cfg->endpoint, "http://", 7) != 0)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "hub: HF_ENDPOINT \"%s\" is not an http(s) URL", cfg->endpoint);
    char hf_home[PATH_CAP];
    wx_status st = config_paths(cfg, hf_home, sizeof hf_home, err);
    if (st == WX_OK) st = config_token(cfg, token, hf_home, err);
    if (st != WX_OK) return st;
    const char *offline = env_nonempty("HF_HUB_OFFLINE");
    cfg->offline = is_true(offline ? offline : getenv("TRANSFORMERS_OFFLINE"));
    cfg->etag_timeout_s = wx_env_long("HF_HUB_ETAG_TIMEOUT", DEFAULT_TIMEOUT_S);
    cfg->download_timeout_s = wx_env_long("HF_HUB_DOWNLOAD_TIMEOUT", DEFAULT_TIMEOUT_S);
    return WX_OK;
}

const char *wx_hub_error_name(wx_hub_error kind)
{
    switch (kind) {
    case WX_HUB_OK: return "ok";
    case WX_HUB_ERR_ARGUMENT: return "invalid argument";
    case WX_HUB_ERR_UNAUTHORIZED: return "unauthorized";
    case WX_HUB_ERR_GATED: return "gated";
    case WX_HUB_ERR_NOT_FOUND: return "not found";
    case WX_HUB_ERR_HTTP: return "http error";
    case WX_HUB_ERR_NETWORK: return "network error";
    case WX_HUB_ERR_PROTOCOL: return "protocol error";
    case WX_HUB_ERR_TRUNCATED: return "truncated";
    case WX_HUB_ERR_CHECKSUM: return "checksum mismatch";
    case WX_HUB_ERR_OFFLINE: return "offline";
    case WX_HUB_ERR_CACHE: return "cache error";
    }
    return "unknown";
}

/* ---- one fetch: its arguments, paths and error reporting ------------------------------ */

typedef struct fetch {
    const wx_hub_config *cfg;
    const char *repo_id, *revision, *filename;
    char storage[PATH_CAP];   /* {cache}/models--{org}--{name} */
    wx_hub_error *kind;
    wx_err *err;
} fetch;

/* Metadata of the file from the HEAD answer. */
typedef struct meta {
    char commit[41];
    char etag[129];
    long long size;
    char url[URL_CAP];        /* where the bytes are: the resolve URL or a redirect's target */
} meta;

__attribute__((format(printf, 4, 5)))
static wx_status fetch_fail(fetch *f, wx_hub_error kind, wx_status st, const char *fmt, ...)
{
    if (f->kind) *f->kind = kind;
    if (f->err) {
        int n = snprintf(f->err->msg, sizeof f->err->msg, "hub: %s (%s, revision %s): ",
                         f->filename, f->repo_id, f->revision);
        if (n < 0 || (size_t)n >= sizeof f->err->msg) return st;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(f->err->msg + n, sizeof f->err->msg - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* huggingface_hub's REPO_ID_REGEX ^(\b[\w\-.]+\b/)?\b[\w\-.]+\b$, no "--" nor "..", ≤ 96. */
static bool valid_repo_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > MAX_REPO_ID || strstr(id, "--") || strstr(id, "..")) return false;
    const char *slash = strchr(id, '/');
    if (slash && strchr(slash + 1, '/')) return false;
    for (const char *p = id; *p; p++) {
        bool word = isalnum((unsigned char)*p) || *p == '_';
        bool edge = p == id || !p[1] || p[1] == '/' || p[-1] == '/';
        if (*p == '/') continue;
        if (!word && (edge || (*p != '-' && *p != '.'))) return false;
    }
    return true;
}

/* A relative path of printable components, none empty, "." or "..": it becomes a path under
 * the cache (refs/{revision}, snapshots/{commit}/{filename}). */
static bool valid_relative_path(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME || s[0] == '/' || s[n - 1] == '/') return false;
    const char *c = s;
    for (const char *p = s;; p++) {
        if (*p == '/' || *p == '\0') {
            size_t len = (size_t)(p - c);
            if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
                return false;
            if (!*p) return true;
            c = p + 1;
        } else if ((unsigned char)*p < 0x21 || (unsigned char)*p == 0x7f || *p == '\\') {
            return false;
        }
    }
}

static wx_status check_arguments(fetch *f)
{
    if (!valid_repo_id(f->repo_id))
        return fetch_fail(f, WX_HUB_ERR_ARGUMENT, WX_ERR_INVALID_INPUT,
                          "\"%s\" is not a repo id (\"org/name\" of letters, digits, '-', '_', '.')", f->repo_id);
    if (!valid_relative_path(f->revision))
        return fetch_fail(f, WX_HUB_ERR_ARGUMENT, WX_ERR_INVALID_INPUT, "the revision is not a branch, tag or commit");
    if (!valid_relative_path(f->filename))
        return fetch_fail(f, WX_HUB_ERR_ARGUMENT, WX_ERR_INVALID_INPUT,
                          "the filename is not a relative path inside the repo");
    char folder[MAX_REPO_ID * 2 + 16] = "models--";
    size_t n = strlen(folder);
    for (const char *p = f->repo_id; *p; p++) {
        if (*p == '/') { memcpy(folder + n, "--", 2); n += 2; }
        else folder[n++] = *p;
    }
    folder[n] = '\0';
    if ((size_t)snprintf(f->storage, sizeof f->storage, "%s/%s", f->cfg->cache_dir, folder) >= sizeof f->storage)
        return fetch_fail(f, WX_HUB_ERR_ARGUMENT, WX_ERR_INVALID_INPUT, "the cache path is too long");
    return WX_OK;
}

static wx_status fetch_path(fetch *f, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static wx_status fetch_path(fetch *f, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap)
        return fetch_fail(f, WX_HUB_ERR_ARGUMENT, WX_ERR_INVALID_INPUT, "a cache path is too long");
    return WX_OK;
}

/* ---- the cache ------------------------------------------------------------------------ */

/* The commit a revision names in the cache: itself when it is a commit hash, else the
 * content of refs/{revision}; false when unknown. */
static bool cached_commit(const fetch *f, const char *revision, char commit[41])
{
    if (is_commit_hash(revision)) { memcpy(commit, revision, 41); return true; }
    char path[PATH_CAP], buf[64];
    if ((size_t)snprintf(path, sizeof path, "%s/refs/%s", f->storage, revision) >= sizeof path) return false;
    FILE *in = fopen(path, "rb");
    if (!in) return false;
    size_t n = fread(buf, 1, sizeof buf, in);
    fclose(in);
    return n < sizeof buf && copy_trimmed(commit, 41, buf, n) && is_commit_hash(commit);
}

/* The snapshot path of the file when the cache has it for the revision. */
static bool cached_pointer(const fetch *f, char commit[41], char *pointer, size_t cap)
{
    if (!cached_commit(f, f->revision, commit)) return false;
    return (size_t)snprintf(pointer, cap, "%s/snapshots/%s/%s", f->storage, commit, f->filename) < cap &&
           is_regular_file(pointer);
}

/* snapshots/{commit}/{filename} → ../../blobs/{etag} (one more ../ per folder in filename),
 * made as a temporary link renamed over the pointer, so readers never see it half made. */
static wx_status link_pointer(fetch *f, const char *pointer, const char *etag)
{
    char target[PATH_CAP] = "../../", current[PATH_CAP], tmp[PATH_CAP + 64];
    for (const char *p = f->filename; *p; p++)
        if (*p == '/') strcat(target, "../");   /* ≤ MAX_NAME/2 of them: fits */
    strcat(target, "blobs/");
    strcat(target, etag);
    ssize_t n = readlink(pointer, current, sizeof current - 1);
    if (n >= 0) {
        current[n] = '\0';
        if (strcmp(current, target) == 0) return WX_OK;
    }
    temp_sibling(tmp, sizeof tmp, pointer);
    if (!mkdir_parent(pointer) || symlink(target, tmp) != 0)
        return fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot create %s: %s", pointer, strerror(errno));
    if (rename(tmp, pointer) != 0) {
        int e = errno;
        unlink(tmp);
        return fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot create %s: %s", pointer, strerror(e));
    }
    return WX_OK;
}

/* refs/{revision} ← commit when the revision is a branch or tag and the ref differs. */
static wx_status write_ref(fetch *f, const char *commit)
{
    char current[41], path[PATH_CAP], tmp[PATH_CAP + 64];
    if (strcmp(f->revision, commit) == 0) return WX_OK;
    if (cached_commit(f, f->revision, current) && strcmp(current, commit) == 0) return WX_OK;
    wx_status st = fetch_path(f, path, sizeof path, "%s/refs/%s", f->storage, f->revision);
    if (st != WX_OK) return st;
    temp_sibling(tmp, sizeof tmp, path);
    FILE *out = mkdir_parent(path) ? fopen(tmp, "wb") : NULL;
    bool ok = out && fputs(commit, out) >= 0;
    if (out && fclose(out) != 0) ok = false;
    if (ok && rename(tmp, path) == 0) return WX_OK;
    int e = errno;
    unlink(tmp);
    return fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot write %s: %s", path, strerror(e));
}

/* Exclusive flock on {cache}/.locks/{repo folder}/{etag}.lock, huggingface_hub's lock file
 * (filelock takes flock on it too), so that our processes, threads and huggingface_hub never
 * download one blob twice at once. Returns the descriptor, -1 on failure. */
static int lock_blob(fetch *f, const char *etag)
{
    char path[PATH_CAP];
    const char *folder = strrchr(f->storage, '/') + 1;
    if (fetch_path(f, path, sizeof path, "%s/.locks/%s/%s.lock", f->cfg->cache_dir, folder, etag) != WX_OK)
        return -1;
    int fd = mkdir_parent(path) ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666) : -1;
    while (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        close(fd);
        fd = -1;
    }
    if (fd < 0) fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot lock %s: %s", path, strerror(errno));
    return fd;
}

/* ---- HTTP ----------------------------------------------------------------------------- */

/* The headers of one answer that matter (values cut at their field's size). */
typedef struct response {
    long status;
    char location[URL_CAP];
    char repo_commit[64];
    char linked_etag[160], etag[160];
    char linked_size[32], content_length[32];
    char error_code[64];
    bool location_too_long;
} response;

/* Where a GET's body goes: the file and the running sha256, only for a 200 answer. */
typedef struct sink {
    CURL *curl;
    FILE *file;
    wx_sha256 *sha;            /* NULL when the etag is not a sha256 */
    long long bytes;
    bool write_failed;
} sink;

static void header_value(char *dst, size_t cap, const char *v, size_t len, bool *too_long)
{
    if (!copy_trimmed(dst, cap, v, len)) {
        dst[0] = '\0';
        if (too_long) *too_long = true;
    }
}

static size_t on_header(char *buf, size_t size, size_t count, void *user)
{
    response *r = user;
    size_t len = size * count;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) { memset(r, 0, sizeof *r); return len; }
    const char *colon = memchr(buf, ':', len);
    if (!colon) return len;
    size_t name = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = len - name - 1;
    static const struct { const char *name; size_t off, cap; } fields[] = {
        {"location", offsetof(response, location), sizeof ((response *)0)->location},
        {"x-repo-commit", offsetof(response, repo_commit), sizeof ((response *)0)->repo_commit},
        {"x-linked-etag", offsetof(response, linked_etag), sizeof ((response *)0)->linked_etag},
        {"etag", offsetof(response, etag), sizeof ((response *)0)->etag},
        {"x-linked-size", offsetof(response, linked_size), sizeof ((response *)0)->linked_size},
        {"content-length", offsetof(response, content_length), sizeof ((response *)0)->content_length},
        {"x-error-code", offsetof(response, error_code), sizeof ((response *)0)->error_code},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (strlen(fields[i].name) == name && strncasecmp(buf, fields[i].name, name) == 0)
            header_value((char *)r + fields[i].off, fields[i].cap, v, vlen,
                         i == 0 ? &r->location_too_long : NULL);
    return len;
}

static size_t on_body(char *buf, size_t size, size_t count, void *user)
{
    sink *s = user;
    size_t len = size * count;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (!s->file || status != 200) return len;            /* redirect and error bodies */
    if (fwrite(buf, 1, len, s->file) != len) { s->write_failed = true; return 0; }
    if (s->sha) wx_sha256_update(s->sha, buf, len);
    s->bytes += (long long)len;
    return len;
}

/* "scheme://host:port" of a URL, lowercase, the port made explicit; false when unparsable. */
static bool url_origin(const char *url, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK &&
              (size_t)snprintf(out, cap, "%s://%s:%s", scheme, host, port) < cap;
    for (char *p = out; ok && *p; p++) *p = (char)tolower((unsigned char)*p);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

static bool same_origin(const char *a, const char *b)
{
    char oa[1024], ob[1024];
    return url_origin(a, oa, sizeof oa) && url_origin(b, ob, sizeof ob) && strcmp(oa, ob) == 0;
}

/* location resolved against base (a Location header may be relative, RFC 7231). */
static bool resolve_location(const char *base, const char *location, char *out, size_t cap)
{
    CURLU *u = curl_url();
    char *s = NULL;
    bool ok = u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
              curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
              curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK && copy_str(out, cap, s);
    curl_free(s);
    curl_url_cleanup(u);
    return ok;
}

/* urllib.parse.quote: all but letters, digits and "_.-~" (and '/' when keep_slash) as %XX. */
static bool url_quote(char *out, size_t cap, const char *s, bool keep_slash)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (n + 4 > cap) return false;
        if (isalnum(*p) || strchr("_.-~", *p) || (keep_slash && *p == '/')) out[n++] = (char)*p;
        else n += (size_t)snprintf(out + n, 4, "%%%02X", *p);
    }
    out[n] = '\0';
    return true;
}

static wx_status resolve_url(fetch *f, char *url, size_t cap)
{
    char rev[MAX_NAME * 3 + 1], file[MAX_NAME * 3 + 1];
    url_quote(rev, sizeof rev, f->revision, false);
    url_quote(file, sizeof file, f->filename, true);
    return fetch_path(f, url, cap, "%s/%s/resolve/%s/%s", f->cfg->endpoint, f->repo_id, rev, file);
}

/* The hub's answer to a failed request, as an error that says what to do. The server's own
 * message is not quoted: it could echo the request's headers. */
static wx_status status_error(fetch *f, const response *r)
{
    const char *endpoint = f->cfg->endpoint;
    switch (r->status) {
    case 401:
        if (!f->cfg->token[0])
            return fetch_fail(f, WX_HUB_ERR_UNAUTHORIZED, WX_ERR_INVALID_INPUT,
                              "HTTP 401: no Hugging Face token was given and the repo is gated or private "
                              "(or does not exist): accept its conditions at %s/%s, then pass a token as the "
                              "request's huggingface_access_token or set HF_TOKEN", endpoint, f->repo_id);
        return fetch_fail(f, WX_HUB_ERR_UNAUTHORIZED, WX_ERR_INVALID_INPUT,
                          "HTTP 401: the Hugging Face token was refused (invalid or expired, or the repo is "
                          "private or does not exist): check the token at %s/settings/tokens", endpoint);
    case 403:
        return fetch_fail(f, WX_HUB_ERR_GATED, WX_ERR_INVALID_INPUT,
                          "HTTP 403: access to the gated repo is restricted: accept its conditions at %s/%s "
                          "while logged in as the token's account (a fine-grained token also needs read "
                          "access to public gated repos)", endpoint, f->repo_id);
    case 404:
        if (strcmp(r->error_code, "EntryNotFound") == 0)
            return fetch_fail(f, WX_HUB_ERR_NOT_FOUND, WX_ERR_INVALID_INPUT,
                              "HTTP 404: the repo has no file %s at this revision", f->filename);
        if (strcmp(r->error_code, "RevisionNotFound") == 0)
            return fetch_fail(f, WX_HUB_ERR_NOT_FOUND, WX_ERR_INVALID_INPUT,
                              "HTTP 404: the repo has no revision %s", f->revision);
        return fetch_fail(f, WX_HUB_ERR_NOT_FOUND, WX_ERR_INVALID_INPUT,
                          "HTTP 404: repo or file not found on %s: check the repo id and the filename", endpoint);
    default:
        return fetch_fail(f, WX_HUB_ERR_HTTP, WX_ERR_IO, "HTTP %ld from %s%s", r->status, endpoint,
                          r->status >= 500 || r->status == 429 ? ": the hub is unavailable, try again later" : "");
    }
}

/* One request without following redirects; the token only to the endpoint's origin. */
static wx_status http_once(fetch *f, CURL *curl, const char *url, sink *body, response *r)
{
    const wx_hub_config *cfg = f->cfg;
    char errbuf[CURL_ERROR_SIZE] = "", auth[sizeof cfg->token + 32];
    struct curl_slist *headers = curl_slist_append(NULL, "Accept-Encoding: identity");
    bool send_token = cfg->token[0] && same_origin(url, cfg->endpoint);
    if (send_token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", cfg->token);
        struct curl_slist *h = headers ? curl_slist_append(headers, auth) : NULL;
        if (h) headers = h;
        else { curl_slist_free_all(headers); headers = NULL; }
        memset(auth, 0, sizeof auth);
    }
    if (!headers) return fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_NOMEM, "out of memory");
    memset(r, 0, sizeof *r);
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "whisperx-worker/" WX_VERSION "; hf_hub-compatible");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    if (!body->file) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, cfg->etag_timeout_s);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, cfg->etag_timeout_s);
    } else {
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, cfg->download_timeout_s);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, cfg->download_timeout_s);
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(headers);   /* the token's copy inside the list goes with it */
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
    if (rc == CURLE_WRITE_ERROR && body->write_failed)
        return fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot write into the cache %s", cfg->cache_dir);
    if (rc == CURLE_PARTIAL_FILE)
        return fetch_fail(f, WX_HUB_ERR_TRUNCATED, WX_ERR_IO,
                          "the download ended early (%lld bytes received): connection lost, try again",
                          body->bytes);
    if (rc != CURLE_OK)
        return fetch_fail(f, WX_HUB_ERR_NETWORK, WX_ERR_IO, "cannot reach %s: %s", cfg->endpoint,
                          errbuf[0] ? errbuf : curl_easy_strerror(rc));
    if (r->location_too_long)
        return fetch_fail(f, WX_HUB_ERR_PROTOCOL, WX_ERR_FORMAT, "a redirect's Location is too long");
    return WX_OK;
}

/* W/"x" or "x" → x (huggingface_hub's _normalize_etag), then only [0-9A-Za-z]: it names a
 * file in the cache. */
static bool normalize_etag(const char *raw, char *out, size_t cap)
{
    if (strncmp(raw, "W/", 2) == 0) raw += 2;
    size_t n = strlen(raw);
    if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"') { raw++; n -= 2; }
    if (n == 0 || n >= cap) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)raw[i])) return false;
    memcpy(out, raw, n);
    out[n] = '\0';
    return true;
}

static bool parse_size(const char *s, long long *out)
{
    char *end;
    if (!isdigit((unsigned char)s[0])) return false;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

static wx_status read_metadata(fetch *f, const response *r, meta *m)
{
    if (!copy_str(m->commit, sizeof m->commit, r->repo_commit) || !is_commit_hash(m->commit))
        return fetch_fail(f, WX_HUB_ERR_PROTOCOL, WX_ERR_FORMAT,
                          "the answer of %s has no X-Repo-Commit: it is not a Hugging Face hub (check "
                          "HF_ENDPOINT, a proxy or a firewall)", f->cfg->endpoint);
    if (!normalize_etag(r->linked_etag[0] ? r->linked_etag : r->etag, m->etag, sizeof m->etag))
        return fetch_fail(f, WX_HUB_ERR_PROTOCOL, WX_ERR_FORMAT, "the answer has no usable ETag");
    if (!parse_size(r->linked_size[0] ? r->linked_size : r->content_length, &m->size))
        return fetch_fail(f, WX_HUB_ERR_PROTOCOL, WX_ERR_FORMAT, "the answer has no file size");
    return WX_OK;
}

/* HEAD on the resolve URL; redirects on the hub's own origin (a renamed repo) are followed,
 * one elsewhere (the CDN of an LFS file) is where the GET goes. */
static wx_status fetch_metadata(fetch *f, CURL *curl, meta *m)
{
    char url[URL_CAP];
    response *r = malloc(sizeof *r);
    sink none = {.curl = curl};
    wx_status st = r ? resolve_url(f, url, sizeof url)
                     : fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_NOMEM, "out of memory");
    for (int hop = 0; st == WX_OK; hop++) {
        if (hop > MAX_REDIRECTS) {
            st = fetch_fail(f, WX_HUB_ERR_PROTOCOL, WX_ERR_FORMAT, "more than %d redirects", MAX_REDIRECTS);
            break;
        }
        if ((st = http_once(f, curl, url, &none, r)) != WX_OK) break;
        if (r->status >= 300 && r->status < 400 && r->location[0]) {
            if (!resolve_location(url, r->location, m->url, sizeof m->url)) {
                st = fetch_fail(f, WX_HUB_ERR_PROTOCOL, WX_ERR_FORMAT, "a redirect to an unusable Location");
                break;
            }
            if (!same_origin(m->url, url)) { st = read_metadata(f, r, m); break; }
            memcpy(url, m->url, sizeof url);
            continue;
        }
        if (r->status < 200 || r->status >= 300) { st = status_error(f, r); break; }
        memcpy(m->url, url, sizeof m->url);
        st = read_metadata(f, r, m);
        break;
    }
    free(r);
    return st;
}

/* GET of the body into the open file, redirects followed (the token only to the hub). */
static wx_status get_body(fetch *f, CURL *curl, const meta *m, sink *body)
{
    char url[URL_CAP];
    response *r = malloc(sizeof *r);
    if (!r) return fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_NOMEM, "out of memory");
    memcpy(url, m->url, sizeof url);
    wx_status st = WX_OK;
    for (int hop = 0; st == WX_OK; hop++) {
        if (hop > MAX_REDIRECTS) {
            st = fetch_fail(f, WX_HUB_ERR_PROTOCOL, WX_ERR_FORMAT, "more than %d redirects", MAX_REDIRECTS);
            break;
        }
        if ((st = http_once(f, curl, url, body, r)) != WX_OK) break;
        if (r->status >= 300 && r->status < 400 && r->location[0]) {
            char next[URL_CAP];
            if (!resolve_location(url, r->location, next, sizeof next)) {
                st = fetch_fail(f, WX_HUB_ERR_PROTOCOL, WX_ERR_FORMAT, "a redirect to an unusable Location");
                break;
            }
            memcpy(url, next, sizeof url);
            continue;
        }
        if (r->status != 200) st = status_error(f, r);
        break;
    }
    free(r);
    return st;
}

static wx_status check_body(fetch *f, const meta *m, sink *body)
{
    if (body->bytes < m->size)
        return fetch_fail(f, WX_HUB_ERR_TRUNCATED, WX_ERR_IO,
                          "the download is truncated: %lld of %lld bytes; try again", body->bytes, m->size);
    if (body->bytes > m->size)
        return fetch_fail(f, WX_HUB_ERR_PROTOCOL, WX_ERR_FORMAT,
                          "the body has %lld bytes where the hub announced %lld", body->bytes, m->size);
    if (body->sha) {
        char hex[65];
        wx_sha256_hex(body->sha, hex);
        if (strcmp(hex, m->etag) != 0)
            return fetch_fail(f, WX_HUB_ERR_CHECKSUM, WX_ERR_IO,
                              "checksum mismatch: the body's sha256 is %s, the hub's is %s (corrupted in "
                              "transit or by a proxy); try again", hex, m->etag);
    }
    return WX_OK;
}

/* Downloads the blob into {blob}.incomplete, checks it and renames it into place. Called
 * with the blob's lock held. */
static wx_status download_blob(fetch *f, CURL *curl, const meta *m, const char *blob)
{
    char incomplete[PATH_CAP + 16];
    snprintf(incomplete, sizeof incomplete, "%s.incomplete", blob);
    sink body = {.curl = curl, .file = fopen(incomplete, "wb")};
    if (!body.file)
        return fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot write %s: %s", incomplete, strerror(errno));
    wx_status st = WX_OK;
    if (is_sha256(m->etag) && !(body.sha = wx_sha256_new())) {
        st = fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_NOMEM, "out of memory");
        goto cleanup;
    }
    if ((st = get_body(f, curl, m, &body)) != WX_OK) goto cleanup;
    if (fflush(body.file) != 0 || fsync(fileno(body.file)) != 0) {
        st = fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot write %s: %s", incomplete, strerror(errno));
        goto cleanup;
    }
    if ((st = check_body(f, m, &body)) != WX_OK) goto cleanup;
    if (rename(incomplete, blob) != 0)
        st = fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot create %s: %s", blob, strerror(errno));
cleanup:
    if (fclose(body.file) != 0 && st == WX_OK)
        st = fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot write %s: %s", blob, strerror(errno));
    if (st != WX_OK) unlink(incomplete);
    wx_sha256_free(body.sha);
    return st;
}

/* Blob (downloaded unless another fetch did it while we waited for the lock) and pointer. */
static wx_status store_file(fetch *f, CURL *curl, const meta *m, char *pointer, size_t cap)
{
    char blob[PATH_CAP];
    wx_status st = fetch_path(f, blob, sizeof blob, "%s/blobs/%s", f->storage, m->etag);
    if (st == WX_OK) st = fetch_path(f, pointer, cap, "%s/snapshots/%s/%s", f->storage, m->commit, f->filename);
    if (st != WX_OK) return st;
    if (!mkdir_parent(blob))
        return fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_IO, "cannot create %s: %s", blob, strerror(errno));
    int lock = lock_blob(f, m->etag);
    if (lock < 0) return WX_ERR_IO;
    if (!is_regular_file(blob)) st = download_blob(f, curl, m, blob);
    if (st == WX_OK) st = link_pointer(f, pointer, m->etag);
    close(lock);
    return st;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void init_curl(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* The file's snapshot path and commit, from the cache or the hub. */
static wx_status fetch_file(fetch *f, char commit[41], char **path)
{
    char pointer[PATH_CAP];
    wx_status st = check_arguments(f);
    if (st != WX_OK) return st;
    if (!cached_pointer(f, commit, pointer, sizeof pointer)) {
        if (f->cfg->offline)
            return fetch_fail(f, WX_HUB_ERR_OFFLINE, WX_ERR_IO,
                              "HF_HUB_OFFLINE is set and the file is not in the cache %s", f->cfg->cache_dir);
        pthread_once(&curl_once, init_curl);
        CURL *curl = curl_easy_init();
        meta *m = malloc(sizeof *m);
        if (!curl || !m) st = fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_NOMEM, "out of memory");
        if (st == WX_OK) st = fetch_metadata(f, curl, m);
        if (st == WX_OK) st = store_file(f, curl, m, pointer, sizeof pointer);
        if (st == WX_OK) st = write_ref(f, m->commit);
        if (st == WX_OK) memcpy(commit, m->commit, 41);
        if (curl) curl_easy_cleanup(curl);
        free(m);
        if (st != WX_OK) return st;
    }
    if (!(*path = strdup(pointer))) return fetch_fail(f, WX_HUB_ERR_CACHE, WX_ERR_NOMEM, "out of memory");
    return WX_OK;
}

wx_status wx_hub_file(const wx_hub_config *cfg, const char *repo_id, const char *revision,
                      const char *filename, char **path, wx_hub_error *kind, wx_err *err)
{
    fetch f = {.cfg = cfg, .repo_id = repo_id, .revision = revision ? revision : "main",
               .filename = filename, .kind = kind, .err = err};
    char commit[41];
    *path = NULL;
    if (kind) *kind = WX_HUB_OK;
    return fetch_file(&f, commit, path);
}

wx_status wx_hub_files(const wx_hub_config *cfg, const char *repo_id, const char *revision,
                       const char *const *filenames, size_t n, char **snapshot_dir,
                       wx_hub_error *kind, wx_err *err)
{
    char commit[41] = "", first[41] = "";
    *snapshot_dir = NULL;
    if (kind) *kind = WX_HUB_OK;
    if (n == 0) {
        if (kind) *kind = WX_HUB_ERR_ARGUMENT;
        return wx_fail(err, WX_ERR_INVALID_INPUT, "hub: %s: no files asked for", repo_id);
    }
    fetch f = {.cfg = cfg, .repo_id = repo_id, .revision = revision ? revision : "main",
               .kind = kind, .err = err};
    for (size_t i = 0; i < n; i++) {
        char *path = NULL;
        f.filename = filenames[i];
        if (i > 0) f.revision = first;   /* the rest from the snapshot of the first */
        wx_status st = fetch_file(&f, commit, &path);
        free(path);
        if (st != WX_OK) return st;
        if (i == 0) memcpy(first, commit, sizeof first);
    }
    char dir[PATH_CAP];
    wx_status st = fetch_path(&f, dir, sizeof dir, "%s/snapshots/%s", f.storage, commit);
    if (st == WX_OK && !(*snapshot_dir = strdup(dir)))
        st = fetch_fail(&f, WX_HUB_ERR_CACHE, WX_ERR_NOMEM, "out of memory");
    return st;
}
