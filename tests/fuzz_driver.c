/* fuzz_driver.c — a main() for any tests/fuzz_*.c target, so that fuzz targets run as quick
 * deterministic ctest smoke tests with gcc and no libFuzzer. It feeds the target the seed file
 * named by wx_fuzz_seed_file() (or each file of it, in name order, when it names a folder: a
 * corpus shares the mutant budget), then a fixed-seed campaign of mutants of it: truncations, bit
 * flips, random bytes, 2- and 4-byte fields overwritten with boundary values, chunks
 * duplicated or deleted. Each input sits in an exact-size heap block so that AddressSanitizer
 * catches any over-read. Usage: <fuzz>_smoke [number of mutants] (default 4000). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *wx_fuzz_seed_file(void);

#define DEFAULT_MUTANTS 4000
#define MAX_STACKED 4          /* mutations applied to one mutant */
#define MIN_MUTANTS_PER_SEED 250

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64*: deterministic across platforms, so a failure reproduces by its index. */
static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

static size_t rng_below(size_t n) { return n ? (size_t)(rng_next() % n) : 0; }

typedef struct buffer {
    uint8_t *p;
    size_t n, cap;
} buffer;

static int read_seed(const char *path, buffer *seed)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        uint8_t *p = realloc(seed->p, seed->n + got);
        if (!p) { fclose(f); return -1; }
        seed->p = p;
        memcpy(seed->p + seed->n, chunk, got);
        seed->n += got;
    }
    int failed = ferror(f);
    fclose(f);
    return failed ? -1 : 0;
}

/* Runs the target on an exact-size copy of the input. */
static void run_one(const uint8_t *data, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) abort();
    if (n) memcpy(copy, data, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Values that hit size and count checks: zero, all ones, sign bits, the input size. */
static uint64_t boundary_value(size_t size)
{
    const uint64_t values[] = {0, 1, 0xffffffffu, 0x7fffffffu, 0x80000000u, 0x00ffffffu,
                               0x10000u, 0xffffu, 0x7fffu, 0x8000u};
    size_t pick = rng_below(sizeof values / sizeof *values + 3);
    if (pick < sizeof values / sizeof *values) return values[pick];
    if (pick == sizeof values / sizeof *values) return size;
    if (pick == sizeof values / sizeof *values + 1) return size + 1 + rng_below(16);
    return rng_next();
}

/* Applies one random mutation; `b` has capacity for growth by at most its current length. */
static void mutate(buffer *b)
{
    size_t n = b->n;
    switch (rng_below(7)) {
    case 0:                                              /* truncate */
        b->n = rng_below(n + 1);
        break;
    case 1:                                              /* flip a bit */
        if (n) b->p[rng_below(n)] ^= (uint8_t)(1u << rng_below(8));
        break;
    case 2:                                              /* random byte */
        if (n) b->p[rng_below(n)] = (uint8_t)rng_next();
        break;
    case 3:                                              /* 4-byte field */
        if (n >= 4) put_le(b->p + rng_below(n - 3), boundary_value(n), 4);
        break;
    case 4:                                              /* 2-byte field */
        if (n >= 2) put_le(b->p + rng_below(n - 1), boundary_value(n), 2);
        break;
    case 5: {                                            /* duplicate a chunk */
        if (!n || b->n * 2 > b->cap) break;
        size_t from = rng_below(n), len = 1 + rng_below(n - from);
        size_t tail = rng_below(n + 1), at = n - tail;     /* insert before the last `tail` */
        memmove(b->p + at + len, b->p + at, tail);
        memmove(b->p + at, b->p + (from < at ? from : from + len), len);
        b->n = n + len;
        break;
    }
    default: {                                           /* delete a chunk */
        if (!n) break;
        size_t at = rng_below(n), len = 1 + rng_below(n - at);
        memmove(b->p + at, b->p + at + len, n - at - len);
        b->n = n - len;
        break;
    }
    }
}

/* The seed itself, then `mutants` mutants of it; returns the inputs run, or -1. */
static long run_campaign(const char *path, long mutants)
{
    buffer seed = {0};
    if (read_seed(path, &seed) != 0) {
        fprintf(stderr, "fuzz driver: cannot read seed file %s\n", path);
        free(seed.p);
        return -1;
    }
    /* Stacked growth at most doubles the size per duplication. */
    buffer work = {.cap = (seed.n + 1) << MAX_STACKED};
    work.p = malloc(work.cap);
    if (!work.p) abort();
    run_one(seed.p, seed.n);
    long runs = 1;
    for (long i = 0; i < mutants; i++, runs++) {
        memcpy(work.p, seed.p, seed.n);
        work.n = seed.n;
        int stacked = 1 + (int)rng_below(MAX_STACKED);
        for (int k = 0; k < stacked; k++) mutate(&work);
        run_one(work.p, work.n);
    }
    free(work.p);
    free(seed.p);
    return runs;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every regular file of dir, sharing the budget; returns the inputs run, or -1. */
static long run_corpus(const char *dir, long mutants)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, by_name);
    if (n < 0) {
        fprintf(stderr, "fuzz driver: cannot list seed folder %s\n", dir);
        return -1;
    }
    char (*paths)[4096] = calloc((size_t)n + 1, sizeof *paths);
    int files = 0;
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (paths) snprintf(paths[files], sizeof paths[files], "%s/%s", dir, names[i]->d_name);
        if (paths && names[i]->d_name[0] != '.' && stat(paths[files], &sb) == 0 && S_ISREG(sb.st_mode))
            files++;
        free(names[i]);
    }
    free(names);
    long runs = files && paths ? 0 : -1, per_seed = files ? mutants / files : 0;
    if (per_seed < MIN_MUTANTS_PER_SEED) per_seed = MIN_MUTANTS_PER_SEED;
    for (int i = 0; i < files && runs >= 0; i++) {
        long r = run_campaign(paths[i], per_seed);
        runs = r < 0 ? -1 : runs + r;
    }
    if (!files) fprintf(stderr, "fuzz driver: no seed file in %s\n", dir);
    free(paths);
    return runs;
}

int main(int argc, char **argv)
{
    const char *path = wx_fuzz_seed_file();
    long mutants = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_MUTANTS;
    struct stat sb;
    int is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    long runs = is_dir ? run_corpus(path, mutants) : run_campaign(path, mutants);
    if (runs < 0) return 1;
    printf("fuzz driver: %s: %ld inputs run, no crash\n", path, runs);
    return 0;
}
