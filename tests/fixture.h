/* fixture.h — reader for the reference fixtures that tools/fixture.py writes: a file of
 * named arrays. Layout (little-endian): magic "WXFIX" + format version byte '1', then
 * u32 count, then per array: u16 name length, name, u8 dtype (0 f32, 1 i32, 2 utf-8 text, 3 f64),
 * u8 rank, u32 dims[rank], data. */
#ifndef WX_FIXTURE_H
#define WX_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct wx_fixture_array {
    char name[128];
    int dtype;           /* 0 f32, 1 i32, 2 text, 3 f64 */
    int rank;
    int64_t dims[8];
    int64_t n;           /* element count (bytes for text) */
    void *data;          /* float*, int32_t*, NUL-terminated char* or double* */
} wx_fixture_array;

typedef struct wx_fixture {
    wx_fixture_array *arrays;
    int count;
} wx_fixture;

static inline void wx_fixture_free(wx_fixture *fx)
{
    for (int i = 0; i < fx->count; i++) free(fx->arrays[i].data);
    free(fx->arrays);
    fx->arrays = NULL;
    fx->count = 0;
}

/* Returns 0 on success; on failure prints why and returns -1. */
static inline int wx_fixture_load(const char *path, wx_fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "fixture %s: cannot open\n", path); return -1; }
    char magic[6];
    uint32_t count;
    if (fread(magic, 1, 6, f) != 6 || memcmp(magic, "WXFIX1", 6) != 0 ||
        fread(&count, 4, 1, f) != 1 || count > 100000) {
        fprintf(stderr, "fixture %s: bad magic or version\n", path);
        fclose(f);
        return -1;
    }
    fx->arrays = (wx_fixture_array *)calloc(count ? count : 1, sizeof *fx->arrays);
    for (uint32_t i = 0; i < count; i++) {
        wx_fixture_array *a = &fx->arrays[i];
        uint16_t len;
        uint8_t dt, rank;
        if (fread(&len, 2, 1, f) != 1 || len >= sizeof a->name || fread(a->name, 1, len, f) != len ||
            fread(&dt, 1, 1, f) != 1 || fread(&rank, 1, 1, f) != 1 || rank > 8) goto bad;
        a->dtype = dt;
        a->rank = rank;
        a->n = 1;
        for (int d = 0; d < rank; d++) {
            uint32_t dim;
            if (fread(&dim, 4, 1, f) != 1) goto bad;
            a->dims[d] = dim;
            a->n *= dim;
        }
        if (dt > 3) goto bad;
        size_t esize = dt == 2 ? 1 : dt == 3 ? 8 : 4;
        a->data = calloc((size_t)a->n * esize + 1, 1);
        if (fread(a->data, esize, (size_t)a->n, f) != (size_t)a->n) goto bad;
        fx->count++;
    }
    fclose(f);
    return 0;
bad:
    fprintf(stderr, "fixture %s: truncated or corrupt\n", path);
    fclose(f);
    wx_fixture_free(fx);
    return -1;
}

static inline const wx_fixture_array *wx_fixture_get(const wx_fixture *fx, const char *name)
{
    for (int i = 0; i < fx->count; i++)
        if (strcmp(fx->arrays[i].name, name) == 0) return &fx->arrays[i];
    fprintf(stderr, "fixture: no array named %s\n", name);
    return NULL;
}

#endif
