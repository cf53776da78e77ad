/* test_engine_models.c — switching between the Whisper models of a manifest (the images'
 * /models/manifest.json): a models directory made here with tiny.en under two names ("tiny"
 * the directory the engine starts from, "tiny-copy" a second directory linking the same files)
 * and the VAD. The engine takes the manifest's name; `model` switches to a model on first use
 * (loaded), back to one kept loaded (swapped), each giving jfk.wav's transcript; with
 * WX_MODEL_CACHE_MB=1 the idle model is unloaded; an unknown name is an error listing the
 * baked names and leaves the current model serving; without a manifest nothing switches. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/audio.h"
#include "pipeline/pipeline.h"
#include "wx_test.h"

static char root[64];

static const char *MODEL_FILES[] = {"config.json", "model.bin", "tokenizer.json",
                                    "vocabulary.txt"};

/* Directory root/name holding links to the model's files (a directory of its own, so that
 * its parent is root, as /models/<name> in the images). */
static void link_model(const char *real, const char *name)
{
    char dir[128], src[PATH_MAX + 32], dst[192];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    CHECK(mkdir(dir, 0700) == 0);
    for (size_t i = 0; i < sizeof MODEL_FILES / sizeof MODEL_FILES[0]; i++) {
        snprintf(src, sizeof src, "%s/%s", real, MODEL_FILES[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, MODEL_FILES[i]);
        if (access(src, F_OK) == 0) CHECK(symlink(src, dst) == 0);
    }
}

/* root/{tiny, tiny-copy} → the model's files, root/vad → the VAD, root/manifest.json. */
static void make_models(const char *model_dir)
{
    char real[PATH_MAX], path[PATH_MAX + 64], vad[PATH_MAX + 16];
    snprintf(root, sizeof root, "/tmp/wx_test_models_%d", (int)getpid());
    CHECK(mkdir(root, 0700) == 0 && realpath(model_dir, real));
    link_model(real, "tiny");
    link_model(real, "tiny-copy");   /* another directory, the same files */
    snprintf(vad, sizeof vad, "%s/../vad", real);
    snprintf(path, sizeof path, "%s/vad", root);
    CHECK(symlink(vad, path) == 0);
    snprintf(path, sizeof path, "%s/manifest.json", root);
    FILE *f = fopen(path, "w");
    if (!f) { CHECK(!"manifest"); return; }
    fputs("{\"version\": 1, \"models\": [{\"name\": \"tiny\", \"kind\": \"whisper\", \"path\": "
          "\"tiny\"}, {\"name\": \"tiny-copy\", \"kind\": \"whisper\", \"path\": \"tiny-copy\"}, "
          "{\"name\": \"vad\", \"kind\": \"vad\", \"path\": \"vad\"}], \"left_out\": []}\n", f);
    fclose(f);
}

static void remove_models(void)
{
    const char *dirs[] = {"tiny", "tiny-copy"};
    char path[192];
    for (size_t d = 0; d < 2; d++) {
        for (size_t i = 0; i < sizeof MODEL_FILES / sizeof MODEL_FILES[0]; i++) {
            snprintf(path, sizeof path, "%s/%s/%s", root, dirs[d], MODEL_FILES[i]);
            unlink(path);
        }
        snprintf(path, sizeof path, "%s/%s", root, dirs[d]);
        rmdir(path);
    }
    snprintf(path, sizeof path, "%s/vad", root);
    unlink(path);
    snprintf(path, sizeof path, "%s/manifest.json", root);
    unlink(path);
    rmdir(root);
}

static char *transcript(wx_engine *e, const wx_audio *a)
{
    wx_transcribe_options o;
    wx_transcribe_options_default(&o);
    wx_transcript tr;
    wx_err err = {{0}};
    char *text = NULL;
    if (wx_transcribe(e, a->samples, a->n_samples, &o, NULL, NULL, &tr, &err) == WX_OK &&
        tr.n_segments > 0)
        text = strdup(tr.segments[0].text);
    CHECK_MSG(text != NULL, "transcribe: %s", err.msg);
    wx_transcript_free(&tr);
    return text;
}

static bool loaded(const wx_engine *e, const char *name)
{
    for (int i = 0; i < wx_engine_model_count(e); i++) {
        bool in = false;
        if (!strcmp(wx_engine_model_at(e, i, &in), name)) return in;
    }
    return false;
}

int main(void)
{
    const char *model_dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    char jfk[4096], start[128];
    snprintf(jfk, sizeof jfk, "%s/jfk.wav", wx_test_env("WX_DATA_DIR", "../shared/data"));
    wx_audio audio = {0};
    wx_err err = {{0}};
    CHECK_MSG(wx_audio_load_file(jfk, 0, &audio, &err) == WX_OK, "%s", err.msg);
    make_models(model_dir);
    snprintf(start, sizeof start, "%s/tiny", root);
    wx_engine_config c = {.model_dir = start, .device = "cpu", .n_threads = 2};
    wx_engine *e = NULL;
    CHECK_MSG(wx_engine_load(&c, &e, &err) == WX_OK, "%s", err.msg);
    if (e && audio.samples) {
        CHECK(wx_engine_model_count(e) == 2 && !strcmp(wx_engine_model_name(e), "tiny"));
        char *a = transcript(e, &audio);
        CHECK(wx_engine_use_model(e, "tiny-copy", &err) == WX_OK);   /* loaded on first use */
        CHECK(!strcmp(wx_engine_model_name(e), "tiny-copy") && loaded(e, "tiny"));
        char *b = transcript(e, &audio);
        CHECK(a && b && !strcmp(a, b));
        CHECK(wx_engine_use_model(e, "tiny", &err) == WX_OK);        /* kept: swapped back */
        CHECK(!strcmp(wx_engine_model_name(e), "tiny") && loaded(e, "tiny-copy"));
        char *c2 = transcript(e, &audio);
        CHECK(a && c2 && !strcmp(a, c2));
        CHECK(wx_engine_use_model(e, "large-v3", &err) == WX_ERR_INVALID_INPUT);
        CHECK(strstr(err.msg, "large-v3") && strstr(err.msg, "tiny, tiny-copy"));
        CHECK(!strcmp(wx_engine_model_name(e), "tiny"));              /* still serving */
        free(a); free(b); free(c2);
    }
    wx_engine_free(e);
    e = NULL;
    /* a budget of 1 MiB: switching unloads the model left idle */
    setenv("WX_MODEL_CACHE_MB", "1", 1);
    CHECK_MSG(wx_engine_load(&c, &e, &err) == WX_OK, "%s", err.msg);
    if (e) {
        CHECK(wx_engine_use_model(e, "tiny-copy", &err) == WX_OK);
        CHECK(loaded(e, "tiny-copy") && !loaded(e, "tiny"));
    }
    wx_engine_free(e);
    e = NULL;
    unsetenv("WX_MODEL_CACHE_MB");
    /* no manifest: the model's own directory, nothing to switch to */
    wx_engine_config plain = {.model_dir = model_dir, .device = "cpu", .n_threads = 2};
    CHECK_MSG(wx_engine_load(&plain, &e, &err) == WX_OK, "%s", err.msg);
    if (e) CHECK(wx_engine_model_count(e) == 0 && wx_engine_use_model(e, "tiny-copy", &err) == WX_OK);
    wx_engine_free(e);
    remove_models();
    wx_audio_free(&audio);
    return wx_test_finish("test_engine_models");
}
