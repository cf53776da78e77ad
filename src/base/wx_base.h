/* wx_base.h — the bottom layer every module may include: status codes, error-message
 * buffers and small helpers. Nothing here knows about models, JSON or HTTP. */
#ifndef WX_BASE_H
#define WX_BASE_H

#include <stddef.h>
#include <stdint.h>

/* Result of any operation that can fail on bad input. Programmer errors assert instead. */
typedef enum wx_status {
    WX_OK = 0,
    WX_ERR_INVALID_INPUT,  /* a caller-supplied value is malformed or out of range */
    WX_ERR_IO,             /* a file or stream could not be read or written */
    WX_ERR_FORMAT,         /* a file was read but its content is not what we expect */
    WX_ERR_UNSUPPORTED,    /* well-formed but a feature this build does not handle */
    WX_ERR_NOMEM,          /* an allocation failed */
    WX_ERR_BACKEND,        /* the compute backend failed */
    WX_ERR_BUSY,           /* a bounded queue is full: try again later */
} wx_status;

/* Caller-owned message buffer; functions that fail write a sentence a user can act on. */
typedef struct wx_err {
    char msg[512];
} wx_err;

/* Formats a message into err (if non-NULL) and returns status, for `return wx_fail(...)`. */
wx_status wx_fail(wx_err *err, wx_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *wx_status_name(wx_status status);

/* The positive integer in environment variable name, else fallback (unset, empty, not a
 * number, or not > 0). */
long wx_env_long(const char *name, long fallback);

/* Monotonic clock in seconds. */
double wx_now(void);

/* IEEE half / bfloat16 → float. */
float wx_f16_to_f32(uint16_t h);
uint16_t wx_f32_to_f16(float f);
float wx_bf16_to_f32(uint16_t b);

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
wx_status wx_read_file(const char *path, char **data, size_t *size, wx_err *err);

#endif
