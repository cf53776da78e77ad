/* fuzz_wav2vec2_config.c — fuzz target for the Hugging Face side of the wav2vec2 loader: the
 * input becomes config.json beside tests/fixtures/wav2vec2_hf_base's vocab.json and weights in
 * a scratch directory, and wx_w2v_load must either load a model whose sizes match the weights
 * (then run it once) or refuse with a message, never crash. Built with tests/fuzz_driver.c
 * (smoke run over the fixture's own config.json) or with clang -fsanitize=fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "models/wav2vec2.h"

const char *wx_fuzz_seed_file(void) { return "tests/fixtures/wav2vec2_hf_base/config.json"; }

static char scratch[256];
static wx_backend *backend;

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    if (!in || !out) abort();
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
}

static void remove_scratch(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", scratch);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", scratch);
}

static void setup(void)
{
    snprintf(scratch, sizeof scratch, "/tmp/wx_fuzz_w2v_%d", (int)getpid());
    char cmd[300], path[512];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", scratch);
    if (system(cmd) != 0) abort();
    atexit(remove_scratch);
    const char *fixtures = getenv("WX_FIXTURE_DIR");
    if (!fixtures || !*fixtures) fixtures = "tests/fixtures";
    const char *names[] = {"vocab.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char from[512];
        snprintf(from, sizeof from, "%s/wav2vec2_hf_base/%s", fixtures, names[i]);
        snprintf(path, sizeof path, "%s/%s", scratch, names[i]);
        copy_file(from, path);
    }
    wx_err err;
    backend = wx_backend_cpu_create(1, &err);
    if (!backend) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!backend) setup();
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", scratch);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    wx_w2v *m = NULL;
    wx_err err;
    if (wx_w2v_load(scratch, NULL, backend, &m, &err) == WX_OK) {
        float samples[800] = {0};
        float *logits = NULL;
        int64_t frames = 0;
        if (wx_w2v_logits(m, samples, 800, &logits, &frames, &err) == WX_OK &&
            (frames <= 0 || !logits))
            abort();
        free(logits);
        wx_w2v_free(m);
    } else if (!err.msg[0]) {
        abort();   /* a refusal always says why */
    }
    return 0;
}
