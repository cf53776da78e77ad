/* wx_base.c — status messages, clock, half-precision conversion, whole-file reads. */
#include "wx_base.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

wx_status wx_fail(wx_err *err, wx_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return status;
}

const char *wx_status_name(wx_status status)
{
    switch (status) {
    case WX_OK: return "ok";
    case WX_ERR_INVALID_INPUT: return "invalid input";
    case WX_ERR_IO: return "i/o error";
    case WX_ERR_FORMAT: return "format error";
    case WX_ERR_UNSUPPORTED: return "unsupported";
    case WX_ERR_NOMEM: return "out of memory";
    case WX_ERR_BACKEND: return "backend error";
    case WX_ERR_BUSY: return "busy";
    }
    return "unknown";
}

long wx_env_long(const char *name, long fallback)
{
    const char *v = getenv(name);
    char *end = NULL;
    long n = v && *v ? strtol(v, &end, 10) : 0;
    return v && *v && !*end && n > 0 ? n : fallback;
}

double wx_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

float wx_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

uint16_t wx_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
    uint32_t man = x & 0x7fffff;
    if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
    if (exp >= 31) return (uint16_t)(sign | 0x7c00);
    if (exp <= 0) {
        if (exp < -10) return (uint16_t)sign;
        man |= 0x800000;
        uint32_t shift = (uint32_t)(14 - exp);
        uint32_t half = man >> shift;
        uint32_t rem = man & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = sign | ((uint32_t)exp << 10) | (man >> 13);
    uint32_t rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1))) half++;
    return (uint16_t)half;
}

float wx_bf16_to_f32(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

wx_status wx_read_file(const char *path, char **data, size_t *size, wx_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return wx_fail(err, WX_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    wx_status st = WX_OK;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) != 0) { st = wx_fail(err, WX_ERR_IO, "cannot seek %s", path); goto done; }
    long len = ftell(f);
    if (len < 0) { st = wx_fail(err, WX_ERR_IO, "cannot size %s", path); goto done; }
    rewind(f);
    buf = malloc((size_t)len + 1);
    if (!buf) { st = wx_fail(err, WX_ERR_NOMEM, "out of memory reading %s", path); goto done; }
    if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
        st = wx_fail(err, WX_ERR_IO, "short read on %s", path);
        goto done;
    }
    buf[len] = 0;
    *data = buf;
    *size = (size_t)len;
    buf = NULL;
done:
    free(buf);
    fclose(f);
    return st;
}
