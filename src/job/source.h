/* source.h — where a job's audio_file comes from: an http(s) URL fetched with libcurl into
 * memory (redirects, time-outs, size cap, private addresses refused), a data: URI or bare
 * base64, or a local path under the directory the operator names (local modes only). Nothing
 * is written to disk, so no temporary file can outlive a job. */
#ifndef WX_JOB_SOURCE_H
#define WX_JOB_SOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include "../base/wx_base.h"
#include "../io/audio.h"

typedef struct wx_source_policy {
    const char *local_dir;       /* local paths must resolve under it; NULL: none allowed */
    bool allow_private_hosts;    /* RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS */
    size_t max_bytes;            /* RUNPOD_MAX_DOWNLOAD_BYTES, default 1 GiB */
    long connect_timeout_s;      /* WX_DOWNLOAD_CONNECT_TIMEOUT, default 10 */
    long total_timeout_s;        /* WX_DOWNLOAD_TIMEOUT, default 600 */
    const char *connect_to;      /* WX_DOWNLOAD_CONNECT_TO: a CURLOPT_CONNECT_TO entry, e.g.
                                  * "::127.0.0.1:1" (the request-path fuzzer's, no network) */
    volatile const int *cancel;  /* non-zero aborts a transfer */
} wx_source_policy;

/* Fills the policy from the environment; local_dir as above (not copied). */
void wx_source_policy_from_env(wx_source_policy *policy, const char *local_dir);

/* What was fetched, for debug_info and metrics. */
typedef struct wx_source_info {
    const char *kind;   /* "url", "data_uri", "base64" or "path" */
    size_t bytes;       /* encoded size fetched or decoded */
    double seconds;     /* time spent fetching */
} wx_source_info;

/* Fetches and decodes audio_file into 16 kHz mono samples. */
wx_status wx_source_load_audio(const char *audio_file, const wx_source_policy *policy,
                               wx_audio *out, wx_source_info *info, wx_err *err);

/* Strict base64 (standard or URL-safe alphabet, optional padding, whitespace skipped).
 * Refuses input that would decode to more than max_bytes. */
wx_status wx_source_decode_base64(const char *text, size_t len, size_t max_bytes,
                                  unsigned char **data, size_t *size, wx_err *err);

#endif
