/* fuzz_tokenizer.c — fuzz target for the Whisper tokenizer: encodes the input as text (it
 * must either round-trip exactly or be rejected as invalid UTF-8) and decodes the input read
 * as token ids (the result must be valid UTF-8). Built with tests/fuzz_driver.c (smoke run
 * over tests/fixtures/tokenizer_seed.txt) or with clang -fsanitize=fuzzer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/tokenizer.h"

/* Loaded once from WX_MODEL_DIR (default models/tiny.en) and shared by every input. */
static const wx_tokenizer *fuzz_tokenizer(void)
{
    static wx_tokenizer *tok;
    if (!tok) {
        const char *dir = getenv("WX_MODEL_DIR");
        wx_err err;
        if (wx_tokenizer_load(dir && *dir ? dir : "models/tiny.en", &tok, &err) != WX_OK) abort();
    }
    return tok;
}

static int is_utf8(const char *s)
{
    int32_t *ids = NULL;
    int n = 0;
    wx_err err;
    wx_status st = wx_tokenizer_encode(fuzz_tokenizer(), s, &ids, &n, &err);
    free(ids);
    return st == WX_OK;
}

static void fuzz_encode(const char *text)
{
    const wx_tokenizer *tok = fuzz_tokenizer();
    int32_t *ids = NULL;
    int n = 0;
    wx_err err;
    wx_status st = wx_tokenizer_encode(tok, text, &ids, &n, &err);
    if (st == WX_OK) {
        char *back = wx_tokenizer_decode(tok, ids, n, 0);
        if (!back || strcmp(back, text) != 0) abort();
        free(back);
    } else if (st != WX_ERR_INVALID_INPUT || ids || n) {
        abort();
    }
    free(ids);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    int n = (int)(size / sizeof(int32_t));
    int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
    if (!ids) abort();
    memcpy(ids, data, (size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)((uint32_t)ids[i] % 52000u);
    for (int skip = 0; skip < 2; skip++) {
        char *text = wx_tokenizer_decode(fuzz_tokenizer(), ids, n, skip);
        if (!text || !is_utf8(text)) abort();
        free(text);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    fuzz_encode(text);
    fuzz_decode(data, size);
    free(text);
    return 0;
}

const char *wx_fuzz_seed_file(void)
{
    return "tests/fixtures/tokenizer_seed.txt";
}
