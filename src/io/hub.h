/* hub.h — Hugging Face hub client for the gated pyannote pipelines: fetches files of a model
 * repository with the user's token into the hub cache exactly as huggingface_hub 0.36's
 * hf_hub_download lays it out, so that huggingface_hub and pyannote find our downloads and we
 * find theirs:
 *
 *   {cache}/models--{org}--{name}/blobs/{etag}                   the file's bytes
 *   {cache}/models--{org}--{name}/snapshots/{commit}/{filename}  symlink ../../blobs/{etag}
 *   {cache}/models--{org}--{name}/refs/{revision}                the commit (no newline)
 *   {cache}/.locks/models--{org}--{name}/{etag}.lock             flock while downloading
 *
 * A file already in the snapshot of the revision (refs/{revision}, or the revision itself when
 * it is a commit hash) is used without any network request; otherwise HEAD
 * {endpoint}/{repo}/resolve/{revision}/{filename} gives X-Repo-Commit, the etag (X-Linked-Etag,
 * else ETag) and the size (X-Linked-Size, else Content-Length), and GET fetches the body into
 * {blob}.incomplete, which is checked (size; sha256 when the etag is one, as for LFS files)
 * and renamed into place. Redirects are followed; the token goes only to the endpoint's own
 * origin (scheme, host, port), never to a CDN. The token is never written into an error
 * message, a path or anything returned. */
#ifndef WX_HUB_H
#define WX_HUB_H

#include <stddef.h>

#include "../base/wx_base.h"

#define WX_HUB_DEFAULT_ENDPOINT "https://huggingface.co"   /* without HF_ENDPOINT */

/* Where and how to reach the hub; filled from the environment by wx_hub_config_from_env. */
typedef struct wx_hub_config {
    char endpoint[512];     /* HF_ENDPOINT, default https://huggingface.co, no trailing '/' */
    char cache_dir[2048];   /* HF_HUB_CACHE, else HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub */
    char token[1024];       /* "" when none */
    int offline;            /* HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is 1/ON/YES/TRUE */
    long etag_timeout_s;    /* HF_HUB_ETAG_TIMEOUT, default 10: connect and HEAD */
    long download_timeout_s;/* HF_HUB_DOWNLOAD_TIMEOUT, default 10: connect, and a GET that
                               receives nothing for this long */
} wx_hub_config;

/* Why a fetch failed, for the caller to branch on (the wx_status says the broad class). */
typedef enum wx_hub_error {
    WX_HUB_OK = 0,
    WX_HUB_ERR_ARGUMENT,     /* malformed repo id, revision or filename */
    WX_HUB_ERR_UNAUTHORIZED, /* 401: no token, or the token is invalid (or the repo is private) */
    WX_HUB_ERR_GATED,        /* 403: the token's account has not accepted the repo's conditions */
    WX_HUB_ERR_NOT_FOUND,    /* 404: no such repo, revision or file */
    WX_HUB_ERR_HTTP,         /* another HTTP status (5xx, 429 ...) */
    WX_HUB_ERR_NETWORK,      /* no answer: DNS, connection, TLS, timeout (curl's message) */
    WX_HUB_ERR_PROTOCOL,     /* an answer without X-Repo-Commit, etag or size, or unusable */
    WX_HUB_ERR_TRUNCATED,    /* the body ended before the announced size */
    WX_HUB_ERR_CHECKSUM,     /* the body's sha256 is not the etag */
    WX_HUB_ERR_OFFLINE,      /* HF_HUB_OFFLINE and the file is not in the cache */
    WX_HUB_ERR_CACHE,        /* the cache directory could not be read or written */
} wx_hub_error;

/* Fills cfg from the environment as huggingface_hub reads it. The token is the first
 * non-empty of: token (the request's huggingface_access_token; NULL or "" for none), HF_TOKEN,
 * HUGGING_FACE_HUB_TOKEN, HUGGINGFACE_ACCESS_TOKEN, the file HF_TOKEN_PATH (default
 * $HF_HOME/token); surrounding whitespace is removed. HF_HOME defaults to
 * $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface. */
wx_status wx_hub_config_from_env(wx_hub_config *cfg, const char *token, wx_err *err);

/* Local path of {filename} of model repo {repo_id} ("org/name" or "name") at {revision}
 * (NULL: "main"; a branch, a tag or a 40-digit commit), fetched into the cache when it is not
 * there yet. *path (malloc'd, the caller frees it) is the snapshot path (the symlink). kind
 * (may be NULL) gets the reason of a failure, WX_HUB_OK on success. Safe to call from several
 * threads and processes at once: one download per blob, the others wait for it. */
wx_status wx_hub_file(const wx_hub_config *cfg, const char *repo_id, const char *revision,
                      const char *filename, char **path, wx_hub_error *kind, wx_err *err);

/* Fetches n files of one repo into one snapshot (all at the commit the first one resolves to)
 * and gives that snapshot's directory in *snapshot_dir (malloc'd). Stops at the first
 * failure, whose kind and message are reported. */
wx_status wx_hub_files(const wx_hub_config *cfg, const char *repo_id, const char *revision,
                       const char *const *filenames, size_t n, char **snapshot_dir,
                       wx_hub_error *kind, wx_err *err);

const char *wx_hub_error_name(wx_hub_error kind);

#endif
