/* fuzz_torch_ckpt.c — fuzz target for the PyTorch checkpoint reader (wx_torch_parse): any
 * bytes must either be refused with a message or give tensors whose every element lies in
 * the image and converts without faults, and values that can be walked. Built with
 * tests/fuzz_driver.c (smoke run over tests/fixtures/torch_ckpt_seed.pt, or the legacy
 * torch_ckpt_legacy.pt through tests/fuzz_torch_legacy.c; both made by
 * tools/gen_torch_fixtures.py) or with clang -fsanitize=fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/torch_ckpt.h"

#define FUZZ_MAX_ELEMS (1 << 20) /* mutants may declare large views; read the small ones */
#ifndef FUZZ_SEED
#define FUZZ_SEED "torch_ckpt_seed.pt"   /* tests/fuzz_torch_legacy.c picks the legacy one */
#endif

/* Touches every scalar of a container's direct children. */
static void walk_values(const wx_torch_value *v)
{
    for (int i = 0; i < wx_torch_value_len(v); i++) {
        const wx_torch_value *c = wx_torch_value_item(v, i);
        int64_t n;
        double d;
        size_t len;
        if (!c) abort();
        wx_torch_value_int(c, &n);
        wx_torch_value_double(c, &d);
        const char *s = wx_torch_value_str(c, &len);
        if (s && len && s[len] != '\0') abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wx_torch_ckpt *ck = NULL;
    wx_err err = {{0}};
    if (wx_torch_parse(data, size, "fuzz", &ck, &err) != WX_OK) {
        if (strncmp(err.msg, "fuzz: ", 6) != 0 || ck) abort();
        return 0;
    }
    for (int i = 0; i < wx_torch_count(ck); i++) {
        const wx_torch_tensor *t = wx_torch_at(ck, i);
        int64_t n = wx_torch_tensor_nelem(t);
        if (n < 0 || wx_torch_find(ck, t->name) == NULL) abort();
        if (n > FUZZ_MAX_ELEMS) continue;
        float *dst = malloc((size_t)(n ? n : 1) * 8);
        if (!dst) abort();
        if (wx_torch_tensor_f32(t, dst, &err) != WX_OK && err.msg[0] == '\0') abort();
        wx_torch_tensor_raw(t, dst);
        free(dst);
    }
    walk_values(wx_torch_root(ck));
    const wx_torch_value *hp = wx_torch_get(ck, "hyper_parameters");
    if (hp) walk_values(hp);
    const wx_torch_value *w = wx_torch_get(ck, "state_dict.linear.weight");
    if (w && wx_torch_value_kind(w) == WX_TORCH_TENSOR && !wx_torch_value_tensor(ck, w)) abort();
    wx_torch_free(ck);
    return 0;
}

const char *wx_fuzz_seed_file(void)
{
    static char path[4096];
    const char *dir = getenv("WX_FIXTURE_DIR");
    snprintf(path, sizeof path, "%s/" FUZZ_SEED, dir && *dir ? dir : "tests/fixtures");
    return path;
}
