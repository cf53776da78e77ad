/* frame.c — length-prefixed JSON frames on a socket: writes that survive EINTR and never raise
 * SIGPIPE, reads that wait with poll() and then take the frame whole. */
#include "frame.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FRAME_BYTES ((size_t)1 << 31)   /* above the largest job body the worker accepts */

/* Sends (out) or receives all n bytes at p, through EINTR; never raises SIGPIPE. */
static int transfer_all(int fd, char *p, size_t n, bool out)
{
    while (n > 0) {
        ssize_t k = out ? send(fd, p, n, MSG_NOSIGNAL) : read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int wx_frame_send(int fd, enum wx_frame_type type, const json_t *payload)
{
    char *text = json_dumps(payload, JSON_COMPACT | JSON_REAL_PRECISION(17));
    if (!text)
        return -1;
    size_t n = strlen(text);
    unsigned char header[5] = {(unsigned char)n, (unsigned char)(n >> 8),
                               (unsigned char)(n >> 16), (unsigned char)(n >> 24),
                               (unsigned char)type};
    int rc = n < MAX_FRAME_BYTES && transfer_all(fd, (char *)header, sizeof header, true) == 0 &&
             transfer_all(fd, text, n, true) == 0 ? 0 : -1;
    free(text);
    return rc;
}

static wx_frame_status wait_readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int r = poll(&p, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return WX_FRAME_CLOSED;
        return r == 0 ? WX_FRAME_TIMEOUT : WX_FRAME_OK;
    }
}

wx_frame_status wx_frame_receive(int fd, int timeout_ms, enum wx_frame_type *type,
                                 json_t **payload)
{
    unsigned char header[5];
    *payload = NULL;
    wx_frame_status st = wait_readable(fd, timeout_ms);
    if (st != WX_FRAME_OK)
        return st;
    if (transfer_all(fd, (char *)header, sizeof header, false) != 0)
        return WX_FRAME_CLOSED;
    size_t n = (size_t)header[0] | (size_t)header[1] << 8 | (size_t)header[2] << 16 |
               (size_t)header[3] << 24;
    char *text = n < MAX_FRAME_BYTES ? malloc(n + 1) : NULL;
    if (!text)
        return WX_FRAME_BAD;
    if (transfer_all(fd, text, n, false) != 0) {
        free(text);
        return WX_FRAME_CLOSED;
    }
    *type = (enum wx_frame_type)header[4];
    *payload = json_loadb(text, n, 0, NULL);
    free(text);
    return *payload ? WX_FRAME_OK : WX_FRAME_BAD;
}

json_t *wx_frame_report_to_json(const wx_job_report *r)
{
    const wx_stage_times *t = &r->times;
    return json_pack("{s:b, s:b, s:f, s:f, s:[f, f, f, f, f, f]}", "ok", r->ok,
                     "cancelled", r->cancelled, "audio_seconds", r->audio_seconds,
                     "fetch_seconds", r->fetch_seconds, "times", t->decode_audio, t->vad,
                     t->mel, t->encode, t->decode, t->total);
}

void wx_frame_report_from_json(const json_t *json, wx_job_report *r)
{
    int ok = 0, cancelled = 0;
    wx_stage_times *t = &r->times;
    memset(r, 0, sizeof *r);
    if (json_unpack((json_t *)json, "{s:b, s:b, s:F, s:F, s:[F, F, F, F, F, F]}", "ok", &ok,
                    "cancelled", &cancelled, "audio_seconds", &r->audio_seconds,
                    "fetch_seconds", &r->fetch_seconds, "times", &t->decode_audio, &t->vad,
                    &t->mel, &t->encode, &t->decode, &t->total) != 0)
        memset(r, 0, sizeof *r);
    r->ok = ok;
    r->cancelled = cancelled;
}
