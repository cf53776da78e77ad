/* sha256.c — SHA-256 through libavutil's av_sha (already linked for audio decoding). */
#include "sha256.h"

#include <libavutil/mem.h>
#include <libavutil/sha.h>
#include <stdio.h>
#include <stdlib.h>

struct wx_sha256 {
    struct AVSHA *av;
};

wx_sha256 *wx_sha256_new(void)
{
    wx_sha256 *ctx = malloc(sizeof *ctx);
    if (!ctx) return NULL;
    ctx->av = av_sha_alloc();
    if (!ctx->av || av_sha_init(ctx->av, 256) < 0) {
        av_free(ctx->av);
        free(ctx);
        return NULL;
    }
    return ctx;
}

void wx_sha256_update(wx_sha256 *ctx, const void *data, size_t size)
{
    av_sha_update(ctx->av, data, size);
}

void wx_sha256_hex(wx_sha256 *ctx, char hex[65])
{
    uint8_t digest[32];
    av_sha_final(ctx->av, digest);
    for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
}

void wx_sha256_free(wx_sha256 *ctx)
{
    if (!ctx) return;
    av_free(ctx->av);
    free(ctx);
}

wx_status wx_sha256_buffer(const void *data, size_t size, char hex[65], wx_err *err)
{
    wx_sha256 *ctx = wx_sha256_new();
    if (!ctx) return wx_fail(err, WX_ERR_NOMEM, "sha256: out of memory");
    wx_sha256_update(ctx, data, size);
    wx_sha256_hex(ctx, hex);
    wx_sha256_free(ctx);
    return WX_OK;
}
