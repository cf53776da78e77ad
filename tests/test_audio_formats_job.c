/* test_audio_formats_job.c — the formats users upload, end to end through the README's
 * worker: jfk as M4A, MP4 with a video track, WebM/Opus, MOV, Ogg/Opus and ADTS AAC (made by
 * the ffmpeg program from jfk.flac) run as local jobs of the whisperx-worker binary, by path
 * and (M4A, WebM) as bare base64 in ./test_input.json, i.e. through the in-memory decoder;
 * each must transcribe to jfk's known text. A PNG must come back as a job error naming the
 * cause. Skipped (77) without an ffmpeg program; scripts/install_deps.sh installs it. */
#include "wx_test.h"

#include "base/wx_base.h"

#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#define SKIP 77

static const char *JFK_TEXT = " And so my fellow Americans ask not what your country can do "
                              "for you, ask what you can do for your country.";

static char tmp_dir[64];
static char model_dir[4096]; /* absolute: the base64 jobs run in tmp_dir */

static const struct format {
    const char *name, *args;
    int as_base64;
} FORMATS[] = {
    {"jfk.m4a", "-c:a aac -b:a 64k", 1},
    {"jfk.mp4", "-f lavfi -i testsrc=size=64x48:rate=10 -shortest -map 1:v -map 0:a "
                "-c:v mpeg4 -c:a aac", 0},
    {"jfk.webm", "-c:a libopus -b:a 32k", 1},
    {"jfk.mov", "-f lavfi -i testsrc=size=64x48:rate=10 -shortest -map 1:v -map 0:a "
                "-c:v mpeg4 -c:a aac", 0},
    {"jfk.opus", "-c:a libopus -b:a 24k", 0},
    {"jfk.aac", "-c:a aac -b:a 64k -f adts", 0},
};

/* Runs the worker in dir with optional --test_input, local files read from tmp_dir;
 * returns its stdout (malloc'd). */
static char *run_worker(const char *dir, const char *test_input)
{
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' --model_dir '%s' --rp_local_audio_dir '%s' "
             "--threads 2 %s%s%s 2>/dev/null",
             dir, wx_test_env("WX_WORKER_BIN", "build/whisperx-worker"), model_dir, tmp_dir,
             test_input ? "--test_input '" : "",
             test_input ? test_input : "", test_input ? "'" : "");
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    size_t got;
    while (out && (got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 2) {
            char *bigger = realloc(out, cap * 2);
            if (!bigger) break;
            out = bigger;
            cap *= 2;
        }
    }
    pclose(p);
    if (out) out[len] = '\0';
    return out;
}

/* The result line's first segment text, or the error, as a malloc'd string. */
static char *result_text(const char *stdout_text, int *is_error)
{
    json_error_t jerr;
    json_t *root = stdout_text ? json_loads(stdout_text, JSON_DISABLE_EOF_CHECK, &jerr) : NULL;
    char *text = NULL;
    *is_error = 0;
    json_t *error = json_object_get(root, "error");
    json_t *seg = json_array_get(json_object_get(json_object_get(root, "output"), "segments"), 0);
    if (error) {
        *is_error = 1;
        text = json_dumps(error, JSON_ENCODE_ANY);
    } else if (json_is_string(json_object_get(seg, "text"))) {
        text = strdup(json_string_value(json_object_get(seg, "text")));
    }
    json_decref(root);
    return text;
}

static void check_job(const char *label, const char *dir, const char *test_input,
                      const char *want_text, const char *want_error)
{
    char *out = run_worker(dir, test_input);
    int is_error = 0;
    char *text = result_text(out, &is_error);
    printf("%-22s -> %s%s\n", label, is_error ? "error " : "", text ? text : "(no result)");
    if (want_text)
        CHECK_MSG(!is_error && text && strcmp(text, want_text) == 0, "%s: got '%s'", label,
                  text ? text : "(none)");
    else
        CHECK_MSG(is_error && text && strstr(text, want_error), "%s: got '%s', want an error "
                  "with '%s'", label, text ? text : "(none)", want_error);
    free(text);
    free(out);
}

static int make_format(const struct format *f)
{
    char cmd[2048];
    const char *src = wx_test_env("WX_DATA_DIR", "../shared/data");
    const char *rest = strstr(f->args, " -shortest");
    if (rest)
        snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -y -i '%s/jfk.flac' %.*s%s '%s/%s'",
                 src, (int)(rest - f->args), f->args, rest, tmp_dir, f->name);
    else
        snprintf(cmd, sizeof cmd, "ffmpeg -nostdin -v error -y -i '%s/jfk.flac' %s '%s/%s'", src,
                 f->args, tmp_dir, f->name);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "could not make %s", f->name);
    return rc == 0;
}

/* ./test_input.json with the file as bare base64 (too long for a command-line argument). */
static int write_base64_job(const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && { printf '{\"input\": {\"audio_file\": \"'; "
             "base64 -w0 '%s'; printf '\"}}'; } > test_input.json", tmp_dir, name);
    return system(cmd) == 0;
}

int main(void)
{
    if (system("ffmpeg -version >/dev/null 2>&1") != 0) {
        printf("test_audio_formats_job: skipped: no ffmpeg program on PATH to make the formats "
               "(scripts/install_deps.sh installs it)\n");
        return SKIP;
    }
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/wx_test_formats.XXXXXX");
    if (!mkdtemp(tmp_dir)) return 1;
    char cwd[1024], job[1024], path[256], worker[4096];
    if (!getcwd(cwd, sizeof cwd)) return 1;
    if (!realpath(wx_test_env("WX_MODEL_DIR", "models/tiny.en"), model_dir) ||
        !realpath(wx_test_env("WX_WORKER_BIN", "build/whisperx-worker"), worker)) {
        fprintf(stderr, "test_audio_formats_job: no model directory or worker binary\n");
        return 1;
    }
    setenv("WX_WORKER_BIN", worker, 1);
    double t = wx_now();
    for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++) {
        if (!make_format(&FORMATS[i])) continue;
        snprintf(job, sizeof job, "{\"input\": {\"audio_file\": \"%s/%s\"}}", tmp_dir,
                 FORMATS[i].name);
        check_job(FORMATS[i].name, cwd, job, JFK_TEXT, NULL);
        if (FORMATS[i].as_base64) {
            char label[64];
            snprintf(label, sizeof label, "%s (base64)", FORMATS[i].name);
            CHECK(write_base64_job(FORMATS[i].name));
            check_job(label, tmp_dir, NULL, JFK_TEXT, NULL);
        }
    }
    snprintf(path, sizeof path, "%s/image.png", tmp_dir);
    snprintf(job, sizeof job, "ffmpeg -nostdin -v error -y -f lavfi -i color=size=8x8 "
             "-frames:v 1 '%s'", path);
    CHECK(system(job) == 0);
    snprintf(job, sizeof job, "{\"input\": {\"audio_file\": \"%s\"}}", path);
    check_job("image.png", cwd, job, NULL, "no audio stream");
    snprintf(job, sizeof job, "rm -rf '%s'", tmp_dir);
    CHECK(system(job) == 0);
    printf("test_audio_formats_job: %.2f s\n", wx_now() - t);
    return wx_test_finish("test_audio_formats_job");
}
