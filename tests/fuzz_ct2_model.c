/* fuzz_ct2_model.c — fuzz target for the CTranslate2 model.bin parser: parses the input,
 * and when it is accepted reads every variable back through the query functions. Built with
 * tests/fuzz_driver.c (deterministic smoke run) or with clang -fsanitize=fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/ct2_model.h"

#define FUZZ_LABEL "fuzz/model.bin"
#define FUZZ_MAX_READ (1 << 16)   /* elements read back per variable */

/* Reads each accepted variable as float and looks it up by name; errors are fine, crashes
 * and inconsistencies are not. */
static void exercise(const wx_ct2_model *m)
{
    static const size_t dtype_size[] = {4, 1, 2, 4, 2, 2};   /* by enum wx_ct2_dtype */
    static float buf[FUZZ_MAX_READ];
    for (int i = 0; i < wx_ct2_model_var_count(m); i++) {
        const wx_ct2_var *v = wx_ct2_model_var_at(m, i);
        if (wx_ct2_model_find(m, v->name) != v) abort();
        int64_t n = wx_ct2_var_nelem(v);
        if (n < 0 || (uint64_t)n * dtype_size[v->dtype] != v->nbytes) abort();
        wx_err err;
        if (n <= FUZZ_MAX_READ) wx_ct2_model_read_f32(m, v->name, buf, n, &err);
        wx_ct2_model_scalar_int(m, v->name, 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wx_ct2_model *m = NULL;
    wx_err err;
    err.msg[0] = 0;
    if (wx_ct2_model_parse(data, size, FUZZ_LABEL, &m, &err) == WX_OK)
        exercise(m);
    else if (strncmp(err.msg, FUZZ_LABEL ":", strlen(FUZZ_LABEL) + 1) != 0)
        abort();   /* every rejection names the file */
    wx_ct2_model_free(m);
    return 0;
}

const char *wx_fuzz_seed_file(void)
{
    static char path[4096];
    const char *dir = getenv("WX_FIXTURE_DIR");
    snprintf(path, sizeof path, "%s/ct2_tiny_model.bin", dir && *dir ? dir : "tests/fixtures");
    return path;
}
