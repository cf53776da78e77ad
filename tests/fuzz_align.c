/* fuzz_align.c — fuzz target for the text side of WhisperX's alignment: Punkt's sentence spans
 * of the input (in order, inside the text, on character boundaries, or a clean refusal of
 * invalid UTF-8), then the whole alignment of the input as a segment over seeded emissions
 * (English labels, a wildcard for the rest): every word and char inside the segment. Built
 * with tests/fuzz_driver.c (smoke run over tests/fixtures/align_seed.txt) or with clang
 * -fsanitize=fuzzer. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/align.h"
#include "pipeline/sentences.h"

const char *wx_fuzz_seed_file(void) { return "tests/fixtures/align_seed.txt"; }

static const char *const LABELS[] = {"-", "|", "E", "T", "A", "O", "N", "I", "H", "S", "R", "D",
                                     "L", "U", "M", "W", "C", "F", "G", "Y", "P", "B", "V", "K",
                                     "'", "X", "J", "Q", "Z"};
#define V 29

static void check_spans(const char *text, size_t len)
{
    wx_span *spans = NULL;
    int n = 0;
    wx_err err;
    if (wx_sentence_spans(text, &spans, &n, &err) != WX_OK) return;
    for (int i = 0, last = 0; i < n; i++) {
        if (spans[i].start < last || spans[i].end < spans[i].start || (size_t)spans[i].end > len) abort();
        if (((unsigned char)text[spans[i].start] & 0xC0) == 0x80) abort();
        last = spans[i].end;
    }
    free(spans);
}

static void check_alignment(const char *text, size_t len)
{
    wx_ctc_dict dict;
    wx_err err;
    if (wx_ctc_dict_build(LABELS, NULL, V, V, &dict, &err) != WX_OK) abort();
    int64_t frames = 1 + (int64_t)(len % 97) * 3;
    float *lp = malloc((size_t)frames * V * sizeof *lp);
    uint32_t x = 2463534242u ^ (uint32_t)len;
    for (int64_t i = 0; i < frames * V; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        lp[i] = -(float)(x % 1000) / 100.0f;
    }
    wx_segment seg = {.start = 1.0, .end = 1.0 + (double)frames * 0.02, .text = (char *)text};
    wx_align_params p = {len % 5 == 0 ? "zh" : "en", (wx_interpolate)(len % 3), len % 2 == 0};
    wx_segment *out = NULL;
    int n = 0;
    bool failed = false;
    if (wx_align_segment(&seg, lp, frames, &dict, &p, &out, &n, &failed, &err) == WX_OK) {
        for (int i = 0; i < n; i++) {
            for (int w = 0; w < out[i].n_words; w++)
                if (out[i].words[w].timed && (out[i].words[w].start < seg.start - 1e-6 ||
                                              out[i].words[w].end > seg.end + 1e-6))
                    abort();
            if (isnan(out[i].start) || isnan(out[i].end)) abort();
        }
        wx_segments_clear(out, n);
        free(out);
    }
    free(lp);
    wx_ctc_dict_free(&dict);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    size_t len = strlen(text);
    check_spans(text, len);
    check_alignment(text, len);
    free(text);
    return 0;
}
