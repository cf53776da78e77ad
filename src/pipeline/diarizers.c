/* diarizers.c — finding, fetching and keeping the diarization model sets (diarizers.h). A
 * pipeline is read from its config.yaml (io/pipeline_config.h); the models it names are
 * resolved to files: subfolders of the pipeline directory (community-1's "$model/…"), or hub
 * repositories (3.1's), looked for first among the image's models (segmentation-3.0 is the
 * open set's own copy of the same MIT weights), then in the hub cache or on the hub. */
#include "diarizers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../io/hub.h"
#include "../io/pipeline_config.h"
#include "../io/sha256.h"

#define RETRY_SECONDS 600.0   /* a network failure is retried after this long */
#define SEGMENTATION_REPO "pyannote/segmentation-3.0"
#define EMBEDDING_REPO "pyannote/wespeaker-voxceleb-resnet34-LM"

/* speaker-diarization-3.1's config.yaml as published (pyannote/speaker-diarization-3.1, the
 * gated repo; ../shared/research/diarization.md §B): used when no copy is on disk, since the
 * pipeline itself is these values and two ungated-or-local models. */
static const char PYANNOTE31_CONFIG[] =
    "version: 3.1.0\n"
    "pipeline:\n"
    "  name: pyannote.audio.pipelines.SpeakerDiarization\n"
    "  params:\n"
    "    clustering: AgglomerativeClustering\n"
    "    embedding: pyannote/wespeaker-voxceleb-resnet34-LM\n"
    "    embedding_batch_size: 32\n"
    "    embedding_exclude_overlap: true\n"
    "    segmentation: pyannote/segmentation-3.0\n"
    "    segmentation_batch_size: 32\n"
    "params:\n"
    "  clustering:\n"
    "    method: centroid\n"
    "    min_cluster_size: 12\n"
    "    threshold: 0.7045654963945799\n"
    "  segmentation:\n"
    "    min_duration_off: 0.0\n";

/* community-1's files, as its repository holds them. */
static const char *const COMMUNITY1_FILES[] = {
    "config.yaml", "segmentation/pytorch_model.bin", "embedding/pytorch_model.bin",
    "plda/xvec_transform.npz", "plda/plda.npz",
};

typedef struct slot {
    const char *name;
    wx_pipeline_clustering clustering;
    wx_diarizer *d;
    char source[512];          /* where it was loaded from */
    bool failed;               /* the last attempt failed: */
    wx_status status;          /*   with this status */
    char failure[768];         /*   its message */
    char digest[66];           /*   with the token of this sha256 ("" for none), "o" offline */
    bool network;              /*   for want of the network */
    double failed_at;
} slot;

struct wx_diarizers {
    char models_dir[2048], pipeline_dir[2048], open_note[512];
    wx_backend *backend;
    wx_diarizer *open;
    slot slots[2];             /* community-1, 3.1 */
};

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

wx_status wx_diarizers_create(const wx_diarizers_config *c, wx_diarizers **out, wx_err *err)
{
    wx_diarizers *ds = calloc(1, sizeof *ds);
    if (!ds) return wx_fail(err, WX_ERR_NOMEM, "out of memory");
    snprintf(ds->models_dir, sizeof ds->models_dir, "%s", c->models_dir ? c->models_dir : "");
    snprintf(ds->pipeline_dir, sizeof ds->pipeline_dir, "%s", c->pipeline_dir ? c->pipeline_dir : "");
    snprintf(ds->open_note, sizeof ds->open_note, "%s", c->open_note ? c->open_note : "");
    ds->backend = c->backend;
    ds->open = c->open;
    ds->slots[0] = (slot){.name = WX_COMMUNITY1, .clustering = WX_PIPELINE_VBX};
    ds->slots[1] = (slot){.name = WX_PYANNOTE31, .clustering = WX_PIPELINE_AGGLOMERATIVE};
    *out = ds;
    return WX_OK;
}

void wx_diarizers_free(wx_diarizers *ds)
{
    if (!ds) return;
    for (int i = 0; i < 2; i++) wx_diarizer_free(ds->slots[i].d);
    free(ds);
}

/* The pytorch_model.bin (or, directory, its directory) of a model the config names by repo:
 * the image's copy <models>/<org>/<name>, else <models>/<name> (segmentation-3.0: the open
 * set's copy from PyPI), else the hub's. *path malloc'd. */
static wx_status resolve_repo(const wx_diarizers *ds, const wx_hub_config *hc,
                              const wx_pipeline_ref *ref, bool directory, char **path,
                              wx_hub_error *kind, wx_err *err)
{
    const char *base = strrchr(ref->path, '/');
    const char *names[2] = {ref->path, base ? base + 1 : ref->path};   /* baked, PyPI's copy */
    for (int i = 0; i < 2; i++) {
        char local[4200];
        snprintf(local, sizeof local, "%s/%s%s", ds->models_dir, names[i],
                 directory ? "" : "/pytorch_model.bin");
        if (directory ? is_dir(local) : is_file(local)) {
            *path = strdup(local);
            return *path ? WX_OK : wx_fail(err, WX_ERR_NOMEM, "out of memory");
        }
    }
    wx_status st = wx_hub_file(hc, ref->path, ref->revision[0] ? ref->revision : NULL,
                               "pytorch_model.bin", path, kind, err);
    if (st == WX_OK && directory) {   /* the snapshot directory holding it */
        char *slash = strrchr(*path, '/');
        if (slash) *slash = '\0';
    }
    return st;
}

/* A model reference of config cfg read from dir (NULL: the built-in 3.1 config) to a path:
 * the pipeline's subfolder, or a repo (resolve_repo). */
static wx_status resolve_ref(const wx_diarizers *ds, const wx_hub_config *hc, const char *dir,
                             const wx_pipeline_ref *ref, const char *file, char **path,
                             wx_hub_error *kind, wx_err *err)
{
    if (!ref->in_pipeline) return resolve_repo(ds, hc, ref, !*file, path, kind, err);
    char p[4400];
    snprintf(p, sizeof p, "%s/%s%s%s", dir, ref->path, *file ? "/" : "", file);
    *path = strdup(p);
    return *path ? WX_OK : wx_fail(err, WX_ERR_NOMEM, "out of memory");
}

wx_status wx_pyannote_pipeline_from_config(const wx_pipeline_config *cfg,
                                           const char *segmentation, const char *embedding,
                                           const char *plda, wx_pyannote_pipeline *out,
                                           wx_err *err)
{
    if (cfg->clustering == WX_PIPELINE_AGGLOMERATIVE && strcmp(cfg->linkage_method, "centroid"))
        return wx_fail(err, WX_ERR_UNSUPPORTED, "clustering method %s (only centroid linkage, "
                       "3.1's, is implemented)", cfg->linkage_method);
    *out = (wx_pyannote_pipeline){
        .segmentation = segmentation, .embedding = embedding, .plda = plda,
        .step = 0.1,   /* SpeakerDiarization's segmentation_step; no config sets it */
        .exclude_overlap = cfg->embedding_exclude_overlap != 0,
        .min_duration_off = cfg->min_duration_off, .threshold = cfg->clustering_threshold,
        .min_cluster_size = cfg->min_cluster_size, .Fa = cfg->vbx_fa, .Fb = cfg->vbx_fb};
    return WX_OK;
}

/* Loads the pipeline that cfg (read from dir, or built in) describes into s. */
static wx_status load_config(wx_diarizers *ds, slot *s, const wx_hub_config *hc, const char *dir,
                             const wx_pipeline_config *cfg, wx_hub_error *kind, wx_err *err)
{
    char *seg = NULL, *emb = NULL, *plda = NULL;
    wx_pyannote_pipeline p;
    wx_status st = resolve_ref(ds, hc, dir, &cfg->segmentation, "", &seg, kind, err);
    if (st == WX_OK) st = resolve_ref(ds, hc, dir, &cfg->embedding, "pytorch_model.bin", &emb, kind, err);
    if (st == WX_OK && cfg->plda.present) st = resolve_ref(ds, hc, dir, &cfg->plda, "", &plda, kind, err);
    if (st == WX_OK) st = wx_pyannote_pipeline_from_config(cfg, seg, emb, plda, &p, err);
    if (st == WX_OK) st = wx_diarizer_load_pyannote(&p, ds->backend, &s->d, err);
    free(seg);
    free(emb);
    free(plda);
    return st;
}

/* Loads s from a directory holding config.yaml, when its clustering is the slot's. *found
 * tells whether the directory was a candidate at all. */
static wx_status load_dir(wx_diarizers *ds, slot *s, const wx_hub_config *hc, const char *dir,
                          bool *found, wx_hub_error *kind, wx_err *err)
{
    char path[4200];
    wx_pipeline_config cfg;
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    *found = false;
    if (!*dir || !is_file(path)) return WX_OK;
    wx_status st = wx_pipeline_config_load(path, &cfg, err);
    if (st != WX_OK || cfg.clustering != s->clustering) return st;
    *found = true;
    st = load_config(ds, s, hc, dir, &cfg, kind, err);
    if (st == WX_OK) snprintf(s->source, sizeof s->source, "%s", dir);
    return st;
}

/* The slot's pipeline from the places diarizers.h lists, in order. */
static wx_status fetch(wx_diarizers *ds, slot *s, const wx_hub_config *hc, wx_hub_error *kind,
                       wx_err *err)
{
    char baked[4200];
    bool found = false;
    wx_status st = load_dir(ds, s, hc, ds->pipeline_dir, &found, kind, err);
    if (st != WX_OK || found) return st;
    snprintf(baked, sizeof baked, "%s/%s", ds->models_dir, s->name);
    st = load_dir(ds, s, hc, baked, &found, kind, err);
    if (st != WX_OK || found) return st;
    if (s->clustering == WX_PIPELINE_AGGLOMERATIVE) {
        wx_pipeline_config cfg;
        st = wx_pipeline_config_parse(PYANNOTE31_CONFIG, sizeof PYANNOTE31_CONFIG - 1,
                                      "built-in speaker-diarization-3.1 config.yaml", &cfg, err);
        if (st == WX_OK) st = load_config(ds, s, hc, NULL, &cfg, kind, err);
        if (st == WX_OK) snprintf(s->source, sizeof s->source, "built-in 3.1 config, %s and %s",
                                  SEGMENTATION_REPO, EMBEDDING_REPO);
        return st;
    }
    char *snapshot = NULL;
    size_t n = sizeof COMMUNITY1_FILES / sizeof COMMUNITY1_FILES[0];
    st = wx_hub_files(hc, s->name, NULL, COMMUNITY1_FILES, n, &snapshot, kind, err);
    if (st == WX_OK) st = load_dir(ds, s, hc, snapshot, &found, kind, err);
    if (st == WX_OK && !found)
        st = wx_fail(err, WX_ERR_FORMAT, "%s: its config.yaml is not a VBx pipeline", snapshot);
    free(snapshot);
    return st;
}

/* s loaded, or the reason it cannot be, without asking the hub again for a token that
 * already failed. quiet (auto's choice): without a token, only what is on disk or in the hub
 * cache, so that a worker without pyannote's models never waits on the network. */
static wx_status ensure(wx_diarizers *ds, slot *s, const char *token, bool quiet, wx_err *err)
{
    if (s->d) return WX_OK;
    wx_hub_config hc;
    wx_status st = wx_hub_config_from_env(&hc, token, err);
    if (st != WX_OK) return st;
    bool forced_offline = quiet && !hc.token[0] && !hc.offline;
    if (forced_offline) hc.offline = 1;
    char digest[66] = "";
    if (hc.token[0] && wx_sha256_buffer(hc.token, strlen(hc.token), digest, err) != WX_OK)
        return WX_ERR_NOMEM;
    if (hc.offline) strcat(digest, "o");
    if (s->failed && !strcmp(s->digest, digest) &&
        !(s->network && wx_now() - s->failed_at > RETRY_SECONDS))
        return wx_fail(err, s->status, "%s", s->failure);
    wx_hub_error kind = WX_HUB_OK;
    wx_err e2 = {0};
    st = fetch(ds, s, &hc, &kind, &e2);
    if (st == WX_OK) {
        s->failed = false;
        return WX_OK;
    }
    s->failed = true;
    s->status = st;
    s->network = kind == WX_HUB_ERR_NETWORK || kind == WX_HUB_ERR_HTTP;
    s->failed_at = wx_now();
    snprintf(s->digest, sizeof s->digest, "%s", digest);
    if (forced_offline && kind == WX_HUB_ERR_OFFLINE && s->clustering == WX_PIPELINE_VBX)
        snprintf(s->failure, sizeof s->failure, "%s is not installed and no Hugging Face token "
                 "was given to fetch it (huggingface_access_token, or HF_TOKEN)", s->name);
    else if (forced_offline && kind == WX_HUB_ERR_OFFLINE)
        snprintf(s->failure, sizeof s->failure, "%s's models are not installed; auto fetches "
                 "them only with a token (ask for diarization_model \"%s\" to fetch them: "
                 "they are not gated)", s->name, s->name);
    else
        snprintf(s->failure, sizeof s->failure, "%s is not available: %.600s", s->name, e2.msg);
    return wx_fail(err, st, "%s", s->failure);
}

static void choose_open(const wx_diarizers *ds, wx_diarizer_choice *out)
{
    out->diarizer = ds->open;
    snprintf(out->name, sizeof out->name, "open");
    snprintf(out->note, sizeof out->note, "the open set: segmentation-3.0 + GE2E");
    if (!ds->open) snprintf(out->warning, sizeof out->warning, "%s", ds->open_note);
}

static void choose_slot(const slot *s, wx_diarizer_choice *out)
{
    out->diarizer = s->d;
    snprintf(out->name, sizeof out->name, "%s", s->name);
    snprintf(out->note, sizeof out->note, "%s (%s)", s->name, s->source);
}

wx_status wx_diarizers_choose(wx_diarizers *ds, const char *model, const char *token,
                              wx_diarizer_choice *out, wx_err *err)
{
    memset(out, 0, sizeof *out);
    if (model && !strcmp(model, "open")) {
        choose_open(ds, out);
        return WX_OK;
    }
    for (int i = 0; model && *model && strcmp(model, "auto") && i < 2; i++) {
        if (strcmp(model, ds->slots[i].name)) continue;
        wx_status st = ensure(ds, &ds->slots[i], token, false, err);
        if (st == WX_OK) choose_slot(&ds->slots[i], out);
        return st;
    }
    if (model && *model && strcmp(model, "auto"))
        return wx_fail(err, WX_ERR_INVALID_INPUT, "diarization_model \"%.200s\" is not known: "
                       "one of auto, open, %s, %s", model, WX_COMMUNITY1, WX_PYANNOTE31);
    char why[2][768] = {"", ""};
    for (int i = 0; i < 2; i++) {   /* auto: community-1, then 3.1, then the open set */
        wx_err e2 = {0};
        if (ensure(ds, &ds->slots[i], token, true, &e2) == WX_OK) {
            choose_slot(&ds->slots[i], out);
            if (i > 0) snprintf(out->warning, sizeof out->warning, "%.900s; %s diarized instead",
                                why[0], ds->slots[i].name);
            return WX_OK;
        }
        snprintf(why[i], sizeof why[i], "%s", e2.msg);
    }
    choose_open(ds, out);
    if (out->diarizer)
        snprintf(out->warning, sizeof out->warning, "%.450s; %.450s; the open set "
                 "(segmentation-3.0 + GE2E) diarized instead", why[0], why[1]);
    return WX_OK;
}
