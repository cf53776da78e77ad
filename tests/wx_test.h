/* wx_test.h — minimal assertion helpers for the ctest executables: each CHECK prints the
 * failing expression with file:line, counts failures, and the test exits non-zero. */
#ifndef WX_TEST_H
#define WX_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int wx_test_failures;
static int wx_test_checks;

#define CHECK(cond) do { wx_test_checks++; if (!(cond)) { wx_test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { wx_test_checks++; if (!(cond)) { wx_test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double a_ = (a), b_ = (b); wx_test_checks++; \
    if (!(fabs(a_ - b_) <= (tol))) { wx_test_failures++; fprintf(stderr, \
    "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, tol %.3g\n", __FILE__, __LINE__, \
    #a, a_, #b, b_, (double)(tol)); } } while (0)

/* Environment path or a default; tests find models, recordings and fixtures through it. */
static inline const char *wx_test_env(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static inline int wx_test_finish(const char *name)
{
    printf("%s: %d checks, %d failed\n", name, wx_test_checks, wx_test_failures);
    return wx_test_failures ? 1 : 0;
}

#endif
