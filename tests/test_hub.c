/* test_hub.c — the hub client (src/io/hub.c) against tests/fake_hub.py on loopback: first
 * download and the cache layout (the same tree huggingface_hub writes: fixture from
 * tools/gen_hub_fixtures.py), a cached second run with no request, 401, 403, 404s, a truncated
 * body, a wrong sha256, offline mode (hit and miss), two concurrent fetches (one download), an
 * unreachable hub, the token never sent to the CDN nor written in any message, the
 * configuration read from the environment. Exits 77 (skipped) when python3 is missing. */
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include "fixture.h"
#include "io/hub.h"
#include "io/sha256.h"
#include "wx_test.h"

#define GOOD_TOKEN "hf_good_TOKEN_abc123"        /* may read the gated repo */
#define NOACCESS_TOKEN "hf_noaccess_TOKEN_def456" /* known to the hub, conditions not accepted */
#define BAD_TOKEN "hf_unknown_TOKEN_ghi789"       /* unknown to the hub */
#define GATED "pyannote/speaker-diarization-community-1"

static char tmp_root[256];
static char endpoint[64];
static pid_t hub_pid;

/* Every message a failure produced, checked at the end for the tokens. */
static char messages[64][512];
static int n_messages;

static void keep_message(const wx_err *err)
{
    if (n_messages < 64) memcpy(messages[n_messages++], err->msg, sizeof err->msg);
}

/* ---- files and the fake hub ----------------------------------------------------------- */

static void write_bytes(const char *path, const void *data, size_t n)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') { *p = '\0'; mkdir(dir, 0777); *p = '/'; }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) { perror(path); exit(1); }
    fclose(f);
}

static void write_text(const char *path, const char *text) { write_bytes(path, text, strlen(text)); }

static void serve_file(const char *repo, const char *path, const void *data, size_t n)
{
    char full[1024];
    snprintf(full, sizeof full, "%s/served/%s/%s", tmp_root, repo, path);
    write_bytes(full, data, n);
}

/* Must match repo_files() in tools/gen_hub_fixtures.py. */
static unsigned char weights[10000];
static void layout_repo_files(void)
{
    for (int i = 0; i < 10000; i++) weights[i] = (unsigned char)((i * 7 + 3) & 0xff);
    serve_file("public/model", "config.yaml", "pipeline: public\n", 17);
    serve_file("public/model", "weights.bin", weights, sizeof weights);
    serve_file("public/model", "sub/readme.txt", "nested file\n", 12);
}

static void make_repos(void)
{
    layout_repo_files();
    serve_file(GATED, "config.yaml", "gated config\n", 13);
    serve_file(GATED, "plda/plda.npz", weights, 5000);
    serve_file(GATED, "embedding/pytorch_model.bin", weights + 5000, 5000);
    serve_file("broken/trunc", "file.bin", weights, 8000);
    serve_file("broken/trunc", "small.txt", "a regular file cut in two\n", 26);
    serve_file("broken/badsha", "file.bin", weights, 6000);
    serve_file("slow/model", "file.bin", weights, 9000);
    char config[sizeof tmp_root + 16];
    snprintf(config, sizeof config, "%s/hub.json", tmp_root);
    write_text(config,
        "{\"valid_tokens\": [\"" GOOD_TOKEN "\", \"" NOACCESS_TOKEN "\"],\n"
        " \"repos\": {\n"
        "  \"public/model\": {\"access\": \"public\", \"lfs\": [\"weights.bin\"]},\n"
        "  \"" GATED "\": {\"access\": \"gated\", \"tokens\": [\"" GOOD_TOKEN "\"],\n"
        "      \"lfs\": [\"plda/plda.npz\", \"embedding/pytorch_model.bin\"]},\n"
        "  \"broken/trunc\": {\"access\": \"public\", \"mode\": \"truncate\", \"lfs\": [\"file.bin\"]},\n"
        "  \"broken/badsha\": {\"access\": \"public\", \"mode\": \"bad_sha256\", \"lfs\": [\"file.bin\"]},\n"
        "  \"slow/model\": {\"access\": \"public\", \"delay\": 0.5, \"lfs\": [\"file.bin\"]}}}\n");
}

/* Starts tests/fake_hub.py: 1 when it listens, 0 when python3 cannot be run, -1 when the
 * script failed. */
static int start_hub(void)
{
    int fds[2];
    if (pipe(fds) != 0) return 0;
    char served[300], config[300];
    snprintf(served, sizeof served, "%s/served", tmp_root);
    snprintf(config, sizeof config, "%s/hub.json", tmp_root);
    hub_pid = fork();
    if (hub_pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("python3", "python3", "tests/fake_hub.py", served, config, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[32] = "";
    FILE *in = fdopen(fds[0], "r");
    int port = in && fgets(line, sizeof line, in) ? atoi(line) : 0;
    if (in) fclose(in);
    if (port <= 0) {
        int status = 0;
        waitpid(hub_pid, &status, 0);
        hub_pid = 0;
        return WIFEXITED(status) && WEXITSTATUS(status) == 127 ? 0 : -1;
    }
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    return 1;
}

static void stop_hub(void)
{
    if (hub_pid > 0) {
        kill(hub_pid, SIGTERM);
        waitpid(hub_pid, NULL, 0);
    }
}

typedef struct stats { int head, get, cdn, cdn_auth; } stats;

static size_t append(char *buf, size_t size, size_t n, void *user)
{
    char *out = user;
    size_t have = strlen(out), len = size * n;
    if (have + len < 256) { memcpy(out + have, buf, len); out[have + len] = '\0'; }
    return len;
}

static stats hub_request(const char *what)
{
    char url[128], text[256] = "";
    stats s = {-1, -1, -1, -1};
    snprintf(url, sizeof url, "%s/%s", endpoint, what);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, text);
    if (curl_easy_perform(c) == CURLE_OK)
        sscanf(text, "head=%d get=%d cdn=%d cdn_auth=%d", &s.head, &s.get, &s.cdn, &s.cdn_auth);
    curl_easy_cleanup(c);
    return s;
}

static stats hub_stats(void) { return hub_request("_stats"); }
static void hub_reset(void) { hub_request("_reset"); }

static int requests(stats s) { return s.head + s.get + s.cdn; }

/* ---- helpers -------------------------------------------------------------------------- */

static void clear_hub_env(void)
{
    static const char *const names[] = {
        "HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME",
        "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_ACCESS_TOKEN", "HF_TOKEN_PATH",
        "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) unsetenv(names[i]);
}

static wx_hub_config config_with(const char *token)
{
    wx_hub_config cfg;
    wx_err err = {{0}};
    char home[300];
    snprintf(home, sizeof home, "%s/home", tmp_root);
    clear_hub_env();
    setenv("HF_ENDPOINT", endpoint, 1);
    setenv("HF_HOME", home, 1);
    wx_status st = wx_hub_config_from_env(&cfg, token, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    return cfg;
}

static int file_equals(const char *path, const void *data, size_t n)
{
    char *got = NULL;
    size_t size = 0;
    wx_err err;
    if (wx_read_file(path, &got, &size, &err) != WX_OK) return 0;
    int same = size == n && memcmp(got, data, n) == 0;
    free(got);
    return same;
}

/* Fetch expected to fail with kind; the message is kept for the token check. */
static void expect_failure(const wx_hub_config *cfg, const char *repo, const char *rev, const char *file,
                           wx_hub_error want, const char *must_contain)
{
    char *path = (char *)1;
    wx_hub_error kind = WX_HUB_OK;
    wx_err err = {{0}};
    wx_status st = wx_hub_file(cfg, repo, rev, file, &path, &kind, &err);
    CHECK_MSG(st != WX_OK && kind == want && path == NULL, "%s %s: kind %s, want %s (%s)", repo, file,
              wx_hub_error_name(kind), wx_hub_error_name(want), err.msg);
    if (must_contain) CHECK_MSG(strstr(err.msg, must_contain) != NULL, "\"%s\" not in \"%s\"", must_contain, err.msg);
    keep_message(&err);
}

/* Nothing but the lock may remain of a failed download: no blob, no .incomplete, no pointer. */
static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

/* ---- the layout, compared with huggingface_hub's ------------------------------------------ */

static void list_tree(const char *root, const char *rel, char *out, size_t cap)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s%s%s", root, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char sub[1024], full[2048], line[4096];
        snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, sub);
        struct stat st;
        lstat(full, &st);
        line[0] = '\0';
        if (S_ISLNK(st.st_mode)) {
            char target[1024];
            ssize_t n = readlink(full, target, sizeof target - 1);
            target[n > 0 ? n : 0] = '\0';
            snprintf(line, sizeof line, "%s -> %s\n", sub, target);
        } else if (S_ISDIR(st.st_mode)) {
            list_tree(root, sub, out, cap);
        } else if (strncmp(sub, "refs/", 5) == 0) {
            char *text = NULL;
            size_t n;
            wx_err err;
            if (wx_read_file(full, &text, &n, &err) == WX_OK) snprintf(line, sizeof line, "%s %s\n", sub, text);
            free(text);
        } else {
            snprintf(line, sizeof line, "%s %lld\n", sub, (long long)st.st_size);
        }
        if (strlen(out) + strlen(line) < cap) strcat(out, line);
    }
    closedir(d);
}

static int compare_lines(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The listing sorted as Python's sorted() sorts the fixture's lines (bytewise). */
static void sorted_listing(const char *root, char *out, size_t cap)
{
    char *raw = calloc(1, cap);
    char *lines[64];
    int n = 0;
    list_tree(root, "", raw, cap);
    for (char *p = strtok(raw, "\n"); p && n < 64; p = strtok(NULL, "\n")) lines[n++] = p;
    qsort(lines, (size_t)n, sizeof lines[0], compare_lines);
    out[0] = '\0';
    for (int i = 0; i < n; i++)
        if (strlen(out) + strlen(lines[i]) + 2 < cap) { strcat(out, lines[i]); strcat(out, "\n"); }
    free(raw);
}

static void test_first_download_and_layout(void)
{
    wx_hub_config cfg = config_with(NULL);
    wx_err err = {{0}};
    wx_hub_error kind;
    const char *files[] = {"config.yaml", "weights.bin", "sub/readme.txt"};
    char *snapshot = NULL;
    hub_reset();
    wx_status st = wx_hub_files(&cfg, "public/model", NULL, files, 3, &snapshot, &kind, &err);
    CHECK_MSG(st == WX_OK && kind == WX_HUB_OK, "%s", err.msg);
    stats s = hub_stats();
    /* 3 HEADs; the regular files by GET on the hub, the LFS one from the CDN. */
    CHECK_MSG(s.head == 3 && s.get == 2 && s.cdn == 1, "head %d get %d cdn %d", s.head, s.get, s.cdn);
    if (st != WX_OK) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/weights.bin", snapshot);
    CHECK(file_equals(path, weights, sizeof weights));
    snprintf(path, sizeof path, "%s/sub/readme.txt", snapshot);
    CHECK(file_equals(path, "nested file\n", 12));
    free(snapshot);

    char storage[sizeof cfg.cache_dir + 32], ours[4096];
    snprintf(storage, sizeof storage, "%s/models--public--model", cfg.cache_dir);
    sorted_listing(storage, ours, sizeof ours);
    char fx_path[1024];
    snprintf(fx_path, sizeof fx_path, "%s/hub_layout.fix", wx_test_env("WX_FIXTURE_DIR", "tests/fixtures"));
    wx_fixture fx;
    CHECK_MSG(wx_fixture_load(fx_path, &fx) == 0, "cannot read %s", fx_path);
    const wx_fixture_array *want = wx_fixture_get(&fx, "layout");
    CHECK(want && want->dtype == 2);
    if (want) CHECK_MSG(strcmp(ours, want->data) == 0, "our cache:\n%s\nhuggingface_hub's:\n%s", ours,
                        (const char *)want->data);
    wx_fixture_free(&fx);
}

static void test_cached_second_run(void)
{
    wx_hub_config cfg = config_with(NULL);
    wx_err err = {{0}};
    char *path = NULL;
    hub_reset();
    wx_status st = wx_hub_file(&cfg, "public/model", "main", "weights.bin", &path, NULL, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    CHECK(path && file_equals(path, weights, sizeof weights));
    free(path);
    stats s = hub_stats();
    CHECK_MSG(requests(s) == 0, "%d requests for a cached file", requests(s));
}

/* A cache as huggingface_hub leaves it (refs/main without a newline, a relative symlink into
 * blobs/) is used as it is, by branch or by commit, without a request. */
static void test_their_cache(void)
{
    wx_hub_config cfg = config_with(NULL);
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    char path[sizeof cfg.cache_dir + 256], link_dir[sizeof cfg.cache_dir + 128];
    snprintf(path, sizeof path, "%s/models--theirs--model/refs/main", cfg.cache_dir);
    write_text(path, commit);
    snprintf(path, sizeof path, "%s/models--theirs--model/blobs/abc123", cfg.cache_dir);
    write_text(path, "their bytes");
    snprintf(link_dir, sizeof link_dir, "%s/models--theirs--model/snapshots/%s/sub", cfg.cache_dir, commit);
    snprintf(path, sizeof path, "%s/x", link_dir);
    write_text(path, "placeholder");
    unlink(path);
    CHECK(symlink("../../../blobs/abc123", path) == 0);
    hub_reset();
    const char *revisions[] = {NULL, commit};
    for (int i = 0; i < 2; i++) {
        char *got = NULL;
        wx_err err = {{0}};
        wx_status st = wx_hub_file(&cfg, "theirs/model", revisions[i], "sub/x", &got, NULL, &err);
        CHECK_MSG(st == WX_OK && got && file_equals(got, "their bytes", 11), "%s", err.msg);
        free(got);
    }
    CHECK(requests(hub_stats()) == 0);
}

static void test_offline(void)
{
    wx_hub_config cfg = config_with(NULL);
    setenv("HF_HUB_OFFLINE", "1", 1);
    wx_err err = {{0}};
    CHECK(wx_hub_config_from_env(&cfg, NULL, &err) == WX_OK && cfg.offline);
    char *path = NULL;
    hub_reset();
    wx_status st = wx_hub_file(&cfg, "public/model", NULL, "config.yaml", &path, NULL, &err);
    CHECK_MSG(st == WX_OK && path, "offline hit: %s", err.msg);
    free(path);
    expect_failure(&cfg, "public/model", NULL, "never-downloaded.bin", WX_HUB_ERR_OFFLINE, "HF_HUB_OFFLINE");
    CHECK(requests(hub_stats()) == 0);
    unsetenv("HF_HUB_OFFLINE");
}

static void test_status_errors(void)
{
    wx_hub_config none = config_with(NULL);
    expect_failure(&none, GATED, NULL, "config.yaml", WX_HUB_ERR_UNAUTHORIZED, "/" GATED);
    wx_hub_config noaccess = config_with(NOACCESS_TOKEN);
    char page[128];
    snprintf(page, sizeof page, "%s/%s", endpoint, GATED);
    expect_failure(&noaccess, GATED, NULL, "config.yaml", WX_HUB_ERR_GATED, page);
    wx_hub_config bad = config_with(BAD_TOKEN);
    expect_failure(&bad, GATED, NULL, "config.yaml", WX_HUB_ERR_UNAUTHORIZED, "token was refused");
    wx_hub_config good = config_with(GOOD_TOKEN);
    expect_failure(&good, GATED, NULL, "missing.bin", WX_HUB_ERR_NOT_FOUND, "no file missing.bin");
    expect_failure(&good, "nobody/nothing", NULL, "config.yaml", WX_HUB_ERR_NOT_FOUND, "not found");
    expect_failure(&good, GATED, "v9.9", "config.yaml", WX_HUB_ERR_NOT_FOUND, "no revision v9.9");
    expect_failure(&good, "../etc", NULL, "config.yaml", WX_HUB_ERR_ARGUMENT, "repo id");
    expect_failure(&good, GATED, NULL, "../../../etc/passwd", WX_HUB_ERR_ARGUMENT, "filename");
    expect_failure(&good, GATED, "../x", "config.yaml", WX_HUB_ERR_ARGUMENT, "revision");
}

static void test_gated_pipeline(void)
{
    wx_hub_config cfg = config_with(GOOD_TOKEN);
    wx_err err = {{0}};
    wx_hub_error kind;
    const char *files[] = {"config.yaml", "plda/plda.npz", "embedding/pytorch_model.bin"};
    char *snapshot = NULL;
    hub_reset();
    wx_status st = wx_hub_files(&cfg, GATED, NULL, files, 3, &snapshot, &kind, &err);
    CHECK_MSG(st == WX_OK, "%s", err.msg);
    stats s = hub_stats();
    CHECK_MSG(s.cdn == 2 && s.cdn_auth == 0, "cdn %d, with the token %d", s.cdn, s.cdn_auth);
    if (snapshot) {
        char path[1024];
        snprintf(path, sizeof path, "%s/embedding/pytorch_model.bin", snapshot);
        CHECK(file_equals(path, weights + 5000, 5000));
        CHECK(strstr(snapshot, GOOD_TOKEN) == NULL);
    }
    free(snapshot);
}

static void check_no_leftovers(const char *folder)
{
    char blobs[512], snaps[512];
    snprintf(blobs, sizeof blobs, "%s/home/hub/%s/blobs", tmp_root, folder);
    snprintf(snaps, sizeof snaps, "%s/home/hub/%s/snapshots", tmp_root, folder);
    CHECK_MSG(count_files(blobs) == 0, "%s: %d files left in blobs", folder, count_files(blobs));
    CHECK_MSG(count_files(snaps) == 0, "%s: %d snapshots left", folder, count_files(snaps));
}

static void test_broken_bodies(void)
{
    wx_hub_config cfg = config_with(GOOD_TOKEN);
    expect_failure(&cfg, "broken/trunc", NULL, "file.bin", WX_HUB_ERR_TRUNCATED, "try again");
    expect_failure(&cfg, "broken/trunc", NULL, "small.txt", WX_HUB_ERR_TRUNCATED, "try again");
    check_no_leftovers("models--broken--trunc");
    expect_failure(&cfg, "broken/badsha", NULL, "file.bin", WX_HUB_ERR_CHECKSUM, "sha256");
    check_no_leftovers("models--broken--badsha");
}

typedef struct job { const wx_hub_config *cfg; char *path; wx_status st; } job;

static void *fetch_slow(void *arg)
{
    job *j = arg;
    wx_err err = {{0}};
    j->st = wx_hub_file(j->cfg, "slow/model", NULL, "file.bin", &j->path, NULL, &err);
    return NULL;
}

static void test_concurrent_fetches(void)
{
    wx_hub_config cfg = config_with(NULL);
    job jobs[2] = {{&cfg, NULL, WX_OK}, {&cfg, NULL, WX_OK}};
    pthread_t t[2];
    hub_reset();
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, fetch_slow, &jobs[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    CHECK(jobs[0].st == WX_OK && jobs[1].st == WX_OK);
    CHECK(jobs[0].path && jobs[1].path && strcmp(jobs[0].path, jobs[1].path) == 0);
    CHECK(jobs[0].path && file_equals(jobs[0].path, weights, 9000));
    stats s = hub_stats();
    CHECK_MSG(s.cdn == 1, "%d downloads of one blob", s.cdn);
    free(jobs[0].path);
    free(jobs[1].path);
}

static void test_unreachable(void)
{
    /* A port nobody listens on: bound, then closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    wx_hub_config cfg = config_with(GOOD_TOKEN);
    snprintf(cfg.endpoint, sizeof cfg.endpoint, "http://127.0.0.1:%d", ntohs(a.sin_port));
    expect_failure(&cfg, "public/model", NULL, "other.bin", WX_HUB_ERR_NETWORK, "cannot reach");
}

static void test_config_from_env(void)
{
    wx_hub_config cfg;
    wx_err err = {{0}};
    clear_hub_env();
    setenv("HOME", tmp_root, 1);
    CHECK(wx_hub_config_from_env(&cfg, NULL, &err) == WX_OK);
    char want[512];
    snprintf(want, sizeof want, "%s/.cache/huggingface/hub", tmp_root);
    CHECK_MSG(strcmp(cfg.cache_dir, want) == 0, "%s", cfg.cache_dir);
    CHECK(strcmp(cfg.endpoint, WX_HUB_DEFAULT_ENDPOINT) == 0 && cfg.token[0] == '\0' && !cfg.offline);
    CHECK(cfg.etag_timeout_s == 10 && cfg.download_timeout_s == 10);
    setenv("HF_ENDPOINT", "http://example.test/", 1);
    setenv("HF_HUB_CACHE", "/tmp/elsewhere", 1);
    setenv("HUGGINGFACE_ACCESS_TOKEN", "tok_access", 1);
    setenv("HF_HUB_OFFLINE", "yes", 1);
    CHECK(wx_hub_config_from_env(&cfg, "", &err) == WX_OK);
    CHECK(strcmp(cfg.endpoint, "http://example.test") == 0 && strcmp(cfg.cache_dir, "/tmp/elsewhere") == 0);
    CHECK(strcmp(cfg.token, "tok_access") == 0 && cfg.offline);
    setenv("HF_TOKEN", " tok_hf\n", 1);
    CHECK(wx_hub_config_from_env(&cfg, NULL, &err) == WX_OK && strcmp(cfg.token, "tok_hf") == 0);
    CHECK(wx_hub_config_from_env(&cfg, "tok_request", &err) == WX_OK && strcmp(cfg.token, "tok_request") == 0);
    clear_hub_env();
    char home[300], token_file[320];
    snprintf(home, sizeof home, "%s/tokenhome", tmp_root);
    snprintf(token_file, sizeof token_file, "%s/token", home);
    write_text(token_file, "tok_file\n");
    setenv("HF_HOME", home, 1);
    CHECK(wx_hub_config_from_env(&cfg, NULL, &err) == WX_OK && strcmp(cfg.token, "tok_file") == 0);
    setenv("HF_ENDPOINT", "ftp://example.test", 1);
    CHECK(wx_hub_config_from_env(&cfg, NULL, &err) == WX_ERR_INVALID_INPUT);
    clear_hub_env();
}

/* FIPS 180-2 / NIST vectors. */
static void test_sha256_vectors(void)
{
    char hex[65];
    wx_err err;
    CHECK(wx_sha256_buffer("", 0, hex, &err) == WX_OK &&
          strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    CHECK(wx_sha256_buffer("abc", 3, hex, &err) == WX_OK &&
          strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    CHECK(wx_sha256_buffer(two, strlen(two), hex, &err) == WX_OK &&
          strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    wx_sha256 *ctx = wx_sha256_new();   /* one million 'a' in pieces */
    char block[1000];
    memset(block, 'a', sizeof block);
    for (int i = 0; i < 1000; i++) wx_sha256_update(ctx, block, sizeof block);
    wx_sha256_hex(ctx, hex);
    wx_sha256_free(ctx);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
}

static void check_tokens_absent(void)
{
    const char *tokens[] = {GOOD_TOKEN, NOACCESS_TOKEN, BAD_TOKEN};
    CHECK(n_messages >= 12);
    for (int i = 0; i < n_messages; i++)
        for (int t = 0; t < 3; t++)
            CHECK_MSG(strstr(messages[i], tokens[t]) == NULL, "token in \"%s\"", messages[i]);
}

static void remove_tree(const char *path)
{
    char cmd[400];
    if (strncmp(path, "/tmp/wx_hub_", 12) != 0) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", path);
}

int main(void)
{
    test_sha256_vectors();
    snprintf(tmp_root, sizeof tmp_root, "/tmp/wx_hub_XXXXXX");
    if (!mkdtemp(tmp_root)) { perror("mkdtemp"); return 1; }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    make_repos();
    int started = start_hub();
    if (started <= 0) {
        fprintf(stderr, "test_hub: %s\n", started == 0 ? "no python3: skipped" : "tests/fake_hub.py failed");
        remove_tree(tmp_root);
        return started == 0 ? 77 : 1;
    }
    test_first_download_and_layout();
    test_cached_second_run();
    test_their_cache();
    test_offline();
    test_status_errors();
    test_gated_pipeline();
    test_broken_bodies();
    test_concurrent_fetches();
    test_unreachable();
    check_tokens_absent();
    stop_hub();
    test_config_from_env();
    curl_global_cleanup();
    remove_tree(tmp_root);
    return wx_test_finish("test_hub");
}
