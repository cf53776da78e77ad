/* fuzz_safetensors.c — fuzz target for the safetensors reader (wx_safetensors_parse): any
 * bytes must either be refused with a message or give tensors whose data lies inside the
 * image and reads as float32 without faults. Built with tests/fuzz_driver.c (smoke run over
 * tests/fixtures/safetensors_seed.safetensors, made by tools/gen_safetensors_seed.py) or with
 * clang -fsanitize=fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/safetensors.h"

#define FUZZ_MAX_FLOATS (1 << 20) /* mutants may declare large tensors; read the small ones */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wx_safetensors *st = NULL;
    wx_err err = {{0}};
    if (wx_safetensors_parse(data, size, "fuzz", &st, &err) != WX_OK) {
        if (err.msg[0] == '\0' || st) abort();
        return 0;
    }
    for (int i = 0; i < wx_safetensors_count(st); i++) {
        const wx_st_tensor *t = wx_safetensors_at(st, i);
        int64_t n = wx_st_tensor_nelem(t);
        if (t->nbytes > size || n < 0) abort();
        if (wx_safetensors_find(st, t->name) == NULL) abort();
        if (n > FUZZ_MAX_FLOATS) continue;
        float *dst = malloc((size_t)(n ? n : 1) * sizeof *dst);
        if (!dst) abort();
        wx_status s = wx_safetensors_read_f32(st, t->name, t->ndim, t->shape, dst, &err);
        if (s != WX_OK && err.msg[0] == '\0') abort();
        free(dst);
    }
    wx_safetensors_metadata(st, "format");
    wx_safetensors_free(st);
    return 0;
}

const char *wx_fuzz_seed_file(void)
{
    static char path[4096];
    const char *dir = getenv("WX_FIXTURE_DIR");
    snprintf(path, sizeof path, "%s/safetensors_seed.safetensors",
             dir && *dir ? dir : "tests/fixtures");
    return path;
}
