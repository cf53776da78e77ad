/* frame.h — the messages between the supervisor and its worker process: one type byte and a
 * JSON payload behind a 4-byte little-endian length, over a stream socket. */
#ifndef WX_WORKER_FRAME_H
#define WX_WORKER_FRAME_H

#include <jansson.h>

#include "../job/job.h"

/* Frame types. Worker process → supervisor: READY, LOAD_FAILED, PROGRESS, DONE;
 * supervisor → worker process: JOB. */
enum wx_frame_type {
    WX_FRAME_READY = 'R',        /* {"model", "device", "note", "warning" (or null)} */
    WX_FRAME_LOAD_FAILED = 'F',  /* {"error"} */
    WX_FRAME_JOB = 'J',          /* {"id", "input", "local_audio_dir"} */
    WX_FRAME_PROGRESS = 'P',     /* {"stage", "progress"} */
    WX_FRAME_DONE = 'D',         /* {"result", "report"} */
};

typedef enum wx_frame_status {
    WX_FRAME_OK,
    WX_FRAME_TIMEOUT,            /* nothing arrived within the time-out */
    WX_FRAME_CLOSED,             /* the peer closed the socket or died */
    WX_FRAME_BAD,                /* a malformed frame or out of memory */
} wx_frame_status;

/* Sends one frame (payload not stolen); 0, or -1 when the peer is gone. */
int wx_frame_send(int fd, enum wx_frame_type type, const json_t *payload);

/* Waits up to timeout_ms (-1: forever) for a frame and reads it whole; *payload is a new
 * reference on WX_FRAME_OK. */
wx_frame_status wx_frame_receive(int fd, int timeout_ms, enum wx_frame_type *type,
                                 json_t **payload);

/* A job report as a DONE frame carries it, and back. */
json_t *wx_frame_report_to_json(const wx_job_report *report);
void wx_frame_report_from_json(const json_t *json, wx_job_report *report);

#endif
