/* sha256.h — streaming SHA-256 (FFmpeg's libavutil implementation behind a small interface),
 * for the hub client's check of downloaded LFS blobs against their etag. */
#ifndef WX_SHA256_H
#define WX_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "../base/wx_base.h"

typedef struct wx_sha256 wx_sha256;

/* A fresh context; NULL when out of memory. */
wx_sha256 *wx_sha256_new(void);
void wx_sha256_update(wx_sha256 *ctx, const void *data, size_t size);
/* Writes the digest as 64 lowercase hex digits and a NUL; the context is then spent. */
void wx_sha256_hex(wx_sha256 *ctx, char hex[65]);
void wx_sha256_free(wx_sha256 *ctx);

/* The hex digest of a whole buffer. */
wx_status wx_sha256_buffer(const void *data, size_t size, char hex[65], wx_err *err);

#endif
