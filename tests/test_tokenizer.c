/* test_tokenizer.c — checks src/io/tokenizer.c against HF `tokenizers` (fixture from
 * tools/gen_tokenizer_fixture.py): exact ids for every case, HF's decodes including split
 * multi-byte characters, round trips, special ids, the vocabulary.txt / vocabulary.json
 * fallbacks, array-form merges, bad input, and the speed of a 100 kB encode. */
#include <jansson.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "io/tokenizer.h"
#include "wx_test.h"

#define BIG_TEXT_BYTES 100000

static char fixture_name[160];

static const wx_fixture_array *get(const wx_fixture *fx, const char *fmt, int i)
{
    snprintf(fixture_name, sizeof fixture_name, fmt, i);
    return wx_fixture_get(fx, fixture_name);
}

static int fixture_count(const wx_fixture *fx, const char *name)
{
    const wx_fixture_array *a = wx_fixture_get(fx, name);
    return a ? ((int32_t *)a->data)[0] : 0;
}

static int ids_equal(const int32_t *got, int n_got, const int32_t *want, int n_want)
{
    if (n_got != n_want) return 0;
    return n_want == 0 || memcmp(got, want, (size_t)n_want * sizeof *want) == 0;
}

static void check_decode(const wx_tokenizer *tok, const int32_t *ids, int n, int skip,
                         const char *want, const char *what)
{
    char *got = wx_tokenizer_decode(tok, ids, n, skip);
    CHECK_MSG(got && strcmp(got, want) == 0, "%s (skip %d): got \"%s\", want \"%s\"", what,
              skip, got ? got : "(null)", want);
    free(got);
}

static void check_encode_cases(const wx_tokenizer *tok, const wx_fixture *fx)
{
    int n_cases = fixture_count(fx, "n_cases");
    CHECK(n_cases >= 40);
    for (int i = 0; i < n_cases; i++) {
        const wx_fixture_array *text = get(fx, "case%d.text", i), *want = get(fx, "case%d.ids", i);
        if (!text || !want) continue;
        int32_t *ids = NULL;
        int n = 0;
        wx_err err = {{0}};
        wx_status st = wx_tokenizer_encode(tok, text->data, &ids, &n, &err);
        CHECK_MSG(st == WX_OK, "case %d: %s", i, err.msg);
        CHECK_MSG(ids_equal(ids, n, want->data, (int)want->n), "case %d \"%s\": %d ids, HF %d",
                  i, (char *)text->data, n, (int)want->n);
        check_decode(tok, ids, n, 0, text->data, "round trip");
        free(ids);
    }
}

static void check_decode_cases(const wx_tokenizer *tok, const wx_fixture *fx)
{
    int n_decodes = fixture_count(fx, "n_decodes");
    CHECK(n_decodes > 20);
    for (int i = 0; i < n_decodes; i++) {
        const wx_fixture_array *ids = get(fx, "decode%d.ids", i);
        const wx_fixture_array *text = get(fx, "decode%d.text", i);
        const wx_fixture_array *text_skip = get(fx, "decode%d.text_skip", i);
        if (!ids || !text || !text_skip) continue;
        check_decode(tok, ids->data, (int)ids->n, 0, text->data, "HF decode");
        check_decode(tok, ids->data, (int)ids->n, 1, text_skip->data, "HF decode");
    }
}

/* Numbers read from tiny.en's tokenizer.json; timestamps follow <|notimestamps|>. */
static void check_specials(const wx_tokenizer *tok)
{
    CHECK(wx_tokenizer_vocab_size(tok) == 51864);
    CHECK(wx_tokenizer_token_id(tok, "<|endoftext|>") == 50256);
    CHECK(wx_tokenizer_token_id(tok, "<|startoftranscript|>") == 50257);
    CHECK(wx_tokenizer_token_id(tok, "<|en|>") == 50258);
    CHECK(wx_tokenizer_token_id(tok, "<|transcribe|>") == 50358);
    CHECK(wx_tokenizer_token_id(tok, "<|notimestamps|>") == 50362);
    CHECK(wx_tokenizer_token_id(tok, "<|0.00|>") == 50363);
    CHECK(wx_tokenizer_token_id(tok, "<|30.00|>") == 51863);
    CHECK(wx_tokenizer_token_id(tok, "Ġand") == 290);
    CHECK(wx_tokenizer_token_id(tok, "no such token") == -1);
    CHECK(strcmp(wx_tokenizer_token_str(tok, 290), "Ġand") == 0);
    CHECK(strcmp(wx_tokenizer_token_str(tok, 50257), "<|startoftranscript|>") == 0);
    CHECK(strcmp(wx_tokenizer_token_str(tok, 50364), "<|0.02|>") == 0);
    CHECK(wx_tokenizer_token_str(tok, -1) == NULL);
    CHECK(wx_tokenizer_token_str(tok, 51864) == NULL);
    const int32_t ids[] = {31373, 50257, 50363, 51863, 995, -5, 99999};
    check_decode(tok, ids, 7, 0, "hello<|startoftranscript|><|0.00|><|30.00|> world", "specials");
    check_decode(tok, ids, 7, 1, "hello world", "specials");
}

/* Decoding must not depend on where the vocabulary came from. */
static void check_same_decoding(const wx_tokenizer *ref, const wx_tokenizer *tok,
                                const wx_fixture *fx, const char *what)
{
    CHECK_MSG(wx_tokenizer_vocab_size(tok) == wx_tokenizer_vocab_size(ref), "%s", what);
    int mismatched = 0;
    for (int32_t id = 0; id < wx_tokenizer_vocab_size(ref); id++) {
        const char *a = wx_tokenizer_token_str(ref, id), *b = wx_tokenizer_token_str(tok, id);
        mismatched += !a || !b || strcmp(a, b) != 0;
    }
    CHECK_MSG(mismatched == 0, "%s: %d token strings differ", what, mismatched);
    CHECK(wx_tokenizer_token_id(tok, "<|notimestamps|>") == 50362);
    int n_cases = fixture_count(fx, "n_cases");
    for (int i = 0; i < n_cases; i++) {
        const wx_fixture_array *text = get(fx, "case%d.text", i), *ids = get(fx, "case%d.ids", i);
        if (text && ids) check_decode(tok, ids->data, (int)ids->n, 0, text->data, what);
    }
    int n_decodes = fixture_count(fx, "n_decodes");
    for (int i = 0; i < n_decodes; i++) {
        const wx_fixture_array *ids = get(fx, "decode%d.ids", i);
        const wx_fixture_array *text_skip = get(fx, "decode%d.text_skip", i);
        if (ids && text_skip) check_decode(tok, ids->data, (int)ids->n, 1, text_skip->data, what);
    }
    int32_t *out = NULL;
    int n = 0;
    wx_err err = {{0}};
    CHECK(wx_tokenizer_encode(tok, "hello", &out, &n, &err) == WX_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "merges") != NULL, "%s: message \"%s\"", what, err.msg);
    CHECK(out == NULL && n == 0);
}

static char *path_in(const char *dir, const char *name)
{
    static char path[4][512];
    static int next;
    char *p = path[next++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", dir, name);
    return p;
}

static wx_tokenizer *load_or_report(const char *dir, const char *what)
{
    wx_tokenizer *tok = NULL;
    wx_err err = {{0}};
    wx_status st = wx_tokenizer_load(dir, &tok, &err);
    CHECK_MSG(st == WX_OK, "%s: %s", what, err.msg);
    return tok;
}

static void check_vocabulary_txt(const wx_tokenizer *ref, const wx_fixture *fx,
                                 const char *model_dir, const char *tmp)
{
    char target[600];
    CHECK(realpath(path_in(model_dir, "vocabulary.txt"), target) != NULL);
    CHECK(symlink(target, path_in(tmp, "vocabulary.txt")) == 0);
    wx_tokenizer *tok = load_or_report(tmp, "vocabulary.txt fallback");
    if (tok) check_same_decoding(ref, tok, fx, "vocabulary.txt");
    wx_tokenizer_free(tok);
    unlink(path_in(tmp, "vocabulary.txt"));
}

static void check_vocabulary_json(const wx_tokenizer *ref, const wx_fixture *fx, const char *tmp)
{
    json_t *list = json_array();
    for (int32_t id = 0; id < wx_tokenizer_vocab_size(ref); id++)
        json_array_append_new(list, json_string(wx_tokenizer_token_str(ref, id)));
    CHECK(json_dump_file(list, path_in(tmp, "vocabulary.json"), 0) == 0);
    json_decref(list);
    wx_tokenizer *tok = load_or_report(tmp, "vocabulary.json fallback");
    if (tok) check_same_decoding(ref, tok, fx, "vocabulary.json");
    wx_tokenizer_free(tok);
    unlink(path_in(tmp, "vocabulary.json"));
}

/* Newer `tokenizers` versions write merges as ["left", "right"]; the ids must not change. */
static void check_array_merges(const wx_fixture *fx, const char *model_dir, const char *tmp)
{
    json_error_t jerr;
    json_t *root = json_load_file(path_in(model_dir, "tokenizer.json"), 0, &jerr);
    CHECK(root != NULL);
    if (!root) return;
    json_t *merges = json_object_get(json_object_get(root, "model"), "merges");
    for (size_t i = 0; i < json_array_size(merges); i++) {
        const char *m = json_string_value(json_array_get(merges, i));
        const char *space = strchr(m, ' ');
        json_t *pair = json_pack("[s#s]", m, (int)(space - m), space + 1);
        json_array_set_new(merges, i, pair);
    }
    CHECK(json_dump_file(root, path_in(tmp, "tokenizer.json"), 0) == 0);
    json_decref(root);
    wx_tokenizer *tok = load_or_report(tmp, "array merges");
    if (tok) check_encode_cases(tok, fx);
    wx_tokenizer_free(tok);
    unlink(path_in(tmp, "tokenizer.json"));
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void check_load_errors(const char *tmp)
{
    wx_tokenizer *tok = NULL;
    wx_err err = {{0}};
    CHECK(wx_tokenizer_load(tmp, &tok, &err) == WX_ERR_IO && tok == NULL);
    CHECK_MSG(strstr(err.msg, tmp) != NULL, "message \"%s\"", err.msg);
    const char *bad[] = {
        "{\"model\": ",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": []}}",
        "{\"model\": {\"vocab\": {\"a\": -3}, \"merges\": []}}",
        "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}, \"added_tokens\": []}",
        "{\"model\": {\"vocab\": [\"a\"], \"merges\": []}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_text(path_in(tmp, "tokenizer.json"), bad[i]);
        wx_status st = wx_tokenizer_load(tmp, &tok, &err);
        CHECK_MSG(st == WX_ERR_FORMAT && tok == NULL, "bad tokenizer.json %zu: %s", i,
                  wx_status_name(st));
        CHECK_MSG(strstr(err.msg, "tokenizer.json") != NULL, "message \"%s\"", err.msg);
    }
    unlink(path_in(tmp, "tokenizer.json"));
    write_text(path_in(tmp, "vocabulary.json"), "{\"not\": \"a list\"}");
    CHECK(wx_tokenizer_load(tmp, &tok, &err) == WX_ERR_FORMAT && tok == NULL);
    unlink(path_in(tmp, "vocabulary.json"));
}

static void check_bad_text(const wx_tokenizer *tok)
{
    const char *bad[] = {"abc\xff", "\xe6\x97", "x\xed\xa0\x80y", "\xc0\xaf", "\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t *ids = NULL;
        int n = -1;
        wx_err err = {{0}};
        CHECK(wx_tokenizer_encode(tok, bad[i], &ids, &n, &err) == WX_ERR_INVALID_INPUT);
        CHECK(ids == NULL && n == 0 && strstr(err.msg, "UTF-8") != NULL);
    }
}

/* Process CPU time, so that a loaded CI machine does not fail the speed bound. */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 100 kB of mixed-script fixture text, then the worst cases: one 100 kB word, 100 kB of
 * spaces. Each must encode well under a second of CPU (the 1 s bound leaves room for an
 * unoptimised ASan build; an optimised build takes under 0.1 s). */
static void check_speed(const wx_tokenizer *tok, const wx_fixture *fx)
{
    char *texts[3];
    for (int k = 0; k < 3; k++) texts[k] = malloc(BIG_TEXT_BYTES + 1);
    size_t len = 0;
    for (int i = 0; len < BIG_TEXT_BYTES - 400; i = (i + 1) % fixture_count(fx, "n_cases")) {
        const wx_fixture_array *t = get(fx, "case%d.text", i);
        if (!t) break;
        memcpy(texts[0] + len, t->data, (size_t)t->n);
        len += (size_t)t->n;
    }
    texts[0][len] = 0;
    memset(texts[1], 'a', BIG_TEXT_BYTES);
    memset(texts[2], ' ', BIG_TEXT_BYTES);
    texts[1][BIG_TEXT_BYTES] = texts[2][BIG_TEXT_BYTES] = 0;
    for (int k = 0; k < 3; k++) {
        int32_t *ids = NULL;
        int n = 0;
        wx_err err = {{0}};
        double t0 = cpu_seconds();
        wx_status st = wx_tokenizer_encode(tok, texts[k], &ids, &n, &err);
        double dt = cpu_seconds() - t0;
        printf("encode of %zu bytes (text %d): %d ids in %.1f ms of CPU\n", strlen(texts[k]), k, n,
               dt * 1e3);
        CHECK_MSG(st == WX_OK, "%s", err.msg);
        CHECK(dt < 1.0);
        check_decode(tok, ids, n, 0, texts[k], "100 kB round trip");
        free(ids);
        free(texts[k]);
    }
}

int main(void)
{
    const char *model_dir = wx_test_env("WX_MODEL_DIR", "models/tiny.en");
    const char *fixture_dir = wx_test_env("WX_FIXTURE_DIR", "tests/fixtures");
    wx_fixture fx;
    CHECK(wx_fixture_load(path_in(fixture_dir, "tokenizer_cases.fix"), &fx) == 0);
    wx_tokenizer *tok = load_or_report(model_dir, "tokenizer.json");
    char tmp[] = "/tmp/wx_tokenizer_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    if (tok && fx.count > 0) {
        double t0 = wx_now();
        check_encode_cases(tok, &fx);
        check_decode_cases(tok, &fx);
        check_specials(tok);
        check_bad_text(tok);
        check_speed(tok, &fx);
        check_vocabulary_txt(tok, &fx, model_dir, tmp);
        check_vocabulary_json(tok, &fx, tmp);
        check_array_merges(&fx, model_dir, tmp);
        check_load_errors(tmp);
        printf("all checks in %.2f s\n", wx_now() - t0);
    }
    rmdir(tmp);
    wx_tokenizer_free(tok);
    wx_fixture_free(&fx);
    return wx_test_finish("test_tokenizer");
}
