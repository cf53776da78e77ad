/* fuzz_npz.c — fuzz target for the .npz / .npy reader (wx_npz_parse): any bytes must either
 * be refused with a message naming the input or give arrays whose every element lies in the
 * image and converts to float64. Built with tests/fuzz_driver.c (smoke run over
 * tests/fixtures/npz_plain.npz, stored members so that mutants reach the .npy headers; made
 * by tools/gen_npz_fixtures.py) or with clang -fsanitize=fuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/npz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    wx_npz *z = NULL;
    wx_err err = {{0}};
    if (wx_npz_parse(data, size, "fuzz", &z, &err) != WX_OK) {
        if (strncmp(err.msg, "fuzz: ", 6) != 0 || z) abort();
        return 0;
    }
    for (int i = 0; i < wx_npz_count(z); i++) {
        const wx_npy_array *a = wx_npz_at(z, i);
        if (!a || wx_npz_find(z, a->name) == NULL || a->nelem < 0) abort();
        double *v = NULL;
        int ndim;
        int64_t shape[WX_NPY_MAX_DIMS];
        if (wx_npz_get_f64(z, a->name, &v, &ndim, shape, &err) != WX_OK) {
            if (err.msg[0] == '\0') abort();
            continue;
        }
        volatile double sum = 0.0;
        for (int64_t k = 0; k < a->nelem; k++) sum += v[k];
        free(v);
    }
    wx_npz_free(z);
    return 0;
}

const char *wx_fuzz_seed_file(void)
{
    static char path[4096];
    const char *dir = getenv("WX_FIXTURE_DIR");
    snprintf(path, sizeof path, "%s/npz_plain.npz", dir && *dir ? dir : "tests/fixtures");
    return path;
}
