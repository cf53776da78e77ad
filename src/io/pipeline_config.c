/* pipeline_config.c — pyannote pipeline config.yaml reader (see pipeline_config.h): libyaml
 * loads the document as a node graph; a table of the allowed keys per mapping reads it, each
 * scalar resolved as PyYAML's SafeLoader would (resolver.py's implicit resolvers for bool,
 * int, float and null), and anything outside the table is refused with its key path. */
#include "pipeline_config.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define PIPELINE_NAME "pyannote.audio.pipelines.SpeakerDiarization"
#define PATH_CAP 160

typedef struct reader {
    yaml_document_t doc;
    const char *label;
    wx_err *err;
    yaml_node_t *clustering_params;    /* params.clustering, read once the method is known */
    yaml_node_t *segmentation_params;  /* params.segmentation */
    yaml_node_t *clustering_node;      /* pipeline.params.clustering, for messages */
} reader;

__attribute__((format(printf, 4, 5)))
static wx_status fail_at(reader *r, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    if (!r->err) return WX_ERR_FORMAT;
    int k = snprintf(r->err->msg, sizeof r->err->msg, "%s: %s (line %zu, column %zu): ", r->label,
                     path[0] ? path : "the document", n->start_mark.line + 1, n->start_mark.column + 1);
    if (k < 0 || (size_t)k >= sizeof r->err->msg) return WX_ERR_FORMAT;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err->msg + k, sizeof r->err->msg - (size_t)k, fmt, ap);
    va_end(ap);
    return WX_ERR_FORMAT;
}

static yaml_node_t *node(reader *r, int id) { return yaml_document_get_node(&r->doc, id); }

static const char *scalar(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }

static bool plain(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* Tags a scalar may carry: none (libyaml gives the str default), or a standard one. */
static bool allowed_tag(const yaml_node_t *n)
{
    static const char *const tags[] = {YAML_STR_TAG, YAML_INT_TAG, YAML_FLOAT_TAG, YAML_BOOL_TAG};
    const char *tag = (const char *)n->tag;
    if (!tag) return true;
    for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++)
        if (strcmp(tag, tags[i]) == 0) return true;
    return false;
}

static bool explicit_tag(const yaml_node_t *n, const char *tag)
{
    return n->tag && strcmp((const char *)n->tag, tag) == 0 && n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
}

/* "a mapping", "a list", "the value \"x\"" (plain) or "the string \"x\"" (quoted), for messages. */
static const char *describe(const yaml_node_t *n, char *buf, size_t cap)
{
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (!allowed_tag(n)) return "a tagged value";
    snprintf(buf, cap, "%s \"%.64s\"", plain(n) ? "the value" : "the string", scalar(n));
    return buf;
}

/* ---- scalars as PyYAML resolves them -------------------------------------------------- */

static bool yaml11_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
    static const char *const no[] = {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(s, yes[i]) == 0) { *out = true; return true; }
        if (strcmp(s, no[i]) == 0) { *out = false; return true; }
    }
    return false;
}

/* Digits and '_' (PyYAML allows it inside numbers) copied without the '_'. */
static const char *digits(const char *s, char *out, size_t *n, size_t cap, bool *any)
{
    *any = false;
    for (; isdigit((unsigned char)*s) || *s == '_'; s++) {
        if (*s == '_') continue;
        if (*n + 1 < cap) out[(*n)++] = *s;
        *any = true;
    }
    return s;
}

/* Decimal int [-+]?(0|[1-9][0-9_]*), PyYAML's decimal form. */
static bool yaml11_int(const char *s, long long *out)
{
    char buf[64];
    size_t n = 0;
    bool any;
    if (*s == '-' || *s == '+') buf[n++] = *s++;
    if (*s == '0' && s[1] == '\0') { *out = 0; return true; }
    if (!isdigit((unsigned char)*s) || *s == '0') return false;
    const char *end = digits(s, buf, &n, sizeof buf, &any);
    if (*end || n >= sizeof buf - 1) return false;
    buf[n] = '\0';
    *out = strtoll(buf, NULL, 10);
    return true;
}

/* PyYAML's float: [-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)? (a '.' is required;
 * .inf/.nan are refused here: no parameter takes them). */
static bool yaml11_float(const char *s, double *out)
{
    char buf[96];
    size_t n = 0;
    bool whole, frac, expo;
    if (*s == '-' || *s == '+') buf[n++] = *s++;
    s = digits(s, buf, &n, sizeof buf, &whole);
    if (*s != '.') return false;
    buf[n++] = *s++;
    s = digits(s, buf, &n, sizeof buf, &frac);
    if (!whole && !frac) return false;
    if (*s == 'e' || *s == 'E') {
        if (s[1] != '-' && s[1] != '+') return false;
        buf[n++] = 'e';
        buf[n++] = s[1];
        s = digits(s + 2, buf, &n, sizeof buf, &expo);
        if (!expo) return false;
    }
    if (*s || n >= sizeof buf - 1) return false;
    buf[n] = '\0';
    *out = strtod(buf, NULL);
    return isfinite(*out);
}

static wx_status read_string(reader *r, const char *path, yaml_node_t *v, char *out, size_t cap)
{
    char what[96];
    if (v->type != YAML_SCALAR_NODE || !allowed_tag(v))
        return fail_at(r, v, path, "expected a string, got %s", describe(v, what, sizeof what));
    if (strlen(scalar(v)) >= cap || !scalar(v)[0])
        return fail_at(r, v, path, "expected a string of 1 to %zu characters", cap - 1);
    memcpy(out, scalar(v), strlen(scalar(v)) + 1);
    return WX_OK;
}

static wx_status read_bool(reader *r, const char *path, yaml_node_t *v, int *out)
{
    char what[96];
    bool b;
    if (v->type != YAML_SCALAR_NODE || !allowed_tag(v) || !(plain(v) || explicit_tag(v, YAML_BOOL_TAG)) ||
        !yaml11_bool(scalar(v), &b))
        return fail_at(r, v, path, "expected true or false, got %s", describe(v, what, sizeof what));
    *out = b;
    return WX_OK;
}

static wx_status read_int(reader *r, const char *path, yaml_node_t *v, long long lo, long long hi, int *out)
{
    char what[96];
    long long x;
    if (v->type != YAML_SCALAR_NODE || !allowed_tag(v) || !(plain(v) || explicit_tag(v, YAML_INT_TAG)) ||
        !yaml11_int(scalar(v), &x))
        return fail_at(r, v, path, "expected an integer, got %s", describe(v, what, sizeof what));
    if (x < lo || x > hi) return fail_at(r, v, path, "%lld is outside [%lld, %lld]", x, lo, hi);
    *out = (int)x;
    return WX_OK;
}

/* A number: a float, or an int (pyannote's Uniform parameters take both). */
static wx_status read_number(reader *r, const char *path, yaml_node_t *v, double lo, double hi, double *out)
{
    char what[96];
    long long i;
    bool numeric = v->type == YAML_SCALAR_NODE && allowed_tag(v) &&
                   (plain(v) || explicit_tag(v, YAML_FLOAT_TAG) || explicit_tag(v, YAML_INT_TAG));
    if (numeric && yaml11_int(scalar(v), &i)) *out = (double)i;
    else if (!numeric || !yaml11_float(scalar(v), out))
        return fail_at(r, v, path, "expected a number, got %s", describe(v, what, sizeof what));
    if (!(*out >= lo && *out <= hi)) return fail_at(r, v, path, "%g is outside [%g, %g]", *out, lo, hi);
    return WX_OK;
}

/* ---- mappings: a table of the allowed keys -------------------------------------------- */

typedef wx_status (*field_fn)(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c);
typedef struct field { const char *name; field_fn read; } field;

/* Reads mapping m whose allowed keys are fields[0..n); *seen gets bit i for fields[i]. */
static wx_status read_mapping(reader *r, const char *path, yaml_node_t *m, const field *fields, size_t n,
                              unsigned *seen, wx_pipeline_config *c)
{
    *seen = 0;
    char what[96];
    if (m->type != YAML_MAPPING_NODE) return fail_at(r, m, path, "expected a mapping, got %s", describe(m, what, sizeof what));
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(r, p->key), *v = node(r, p->value);
        if (!k || !v) return fail_at(r, m, path, "broken mapping");
        if (k->type != YAML_SCALAR_NODE) return fail_at(r, k, path, "a key is %s, not a name", describe(k, what, sizeof what));
        char child[PATH_CAP];
        snprintf(child, sizeof child, "%s%s%s", path, path[0] ? "." : "", scalar(k));
        size_t i = 0;
        while (i < n && strcmp(fields[i].name, scalar(k)) != 0) i++;
        if (i == n) {
            char allowed[256] = "";
            for (size_t j = 0; j < n; j++)
                snprintf(allowed + strlen(allowed), sizeof allowed - strlen(allowed), "%s%s", j ? ", " : "", fields[j].name);
            return fail_at(r, k, child, "unknown key (allowed here: %s)", allowed);
        }
        if (*seen & (1u << i)) return fail_at(r, k, child, "the key appears twice");
        *seen |= 1u << i;
        wx_status st = fields[i].read(r, child, v, c);
        if (st != WX_OK) return st;
    }
    return WX_OK;
}

static wx_status require(reader *r, const char *path, yaml_node_t *m, unsigned seen, const field *fields,
                         size_t n, unsigned required)
{
    for (size_t i = 0; i < n; i++)
        if ((required & (1u << i)) && !(seen & (1u << i)))
            return fail_at(r, m, path, "the key %s is missing", fields[i].name);
    return WX_OK;
}

#define COUNT(a) (sizeof (a) / sizeof (a)[0])

/* ---- model references ------------------------------------------------------------------- */

/* "org/name" of [A-Za-z0-9_.-] (the hub's repo ids), or a subfolder without "." / "..". */
static bool valid_ref_path(const char *s, bool repo_id)
{
    int slashes = 0;
    if (!*s || *s == '/' || s[strlen(s) - 1] == '/' || strstr(s, "//")) return false;
    for (const char *p = s; *p; p++) {
        if (*p == '/') { slashes++; continue; }
        if (!isalnum((unsigned char)*p) && !strchr("_.-", *p)) return false;
        if (*p == '.' && (p == s || p[-1] == '/') && (p[1] == '/' || !p[1] || (p[1] == '.' && (p[2] == '/' || !p[2]))))
            return false;
    }
    return repo_id ? slashes == 1 : true;
}

static wx_status read_ref(reader *r, const char *path, yaml_node_t *v, wx_pipeline_ref *ref)
{
    char text[sizeof ref->path + sizeof ref->revision + 8];
    wx_status st = read_string(r, path, v, text, sizeof text);
    if (st != WX_OK) return st;
    memset(ref, 0, sizeof *ref);
    ref->present = 1;
    char *body = text;
    if (strncmp(text, "$model/", 7) == 0) { ref->in_pipeline = 1; body += 7; }
    char *at = strchr(body, '@');
    if (at) {
        *at = '\0';
        if (!at[1] || strlen(at + 1) >= sizeof ref->revision || strchr(at + 1, '@'))
            return fail_at(r, v, path, "\"%s\": a bad revision after '@'", scalar(v));
        memcpy(ref->revision, at + 1, strlen(at + 1) + 1);
    }
    if (strlen(body) >= sizeof ref->path || !valid_ref_path(body, !ref->in_pipeline))
        return fail_at(r, v, path, "\"%s\" is neither \"$model/<subfolder>\" nor a hub repo id \"org/name\"",
                       scalar(v));
    memcpy(ref->path, body, strlen(body) + 1);
    return WX_OK;
}

/* ---- pipeline.params ------------------------------------------------------------------- */

static wx_status f_clustering(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    char name[32];
    wx_status st = read_string(r, path, v, name, sizeof name);
    if (st != WX_OK) return st;
    r->clustering_node = v;
    if (strcmp(name, "AgglomerativeClustering") == 0) c->clustering = WX_PIPELINE_AGGLOMERATIVE;
    else if (strcmp(name, "VBxClustering") == 0) c->clustering = WX_PIPELINE_VBX;
    else return fail_at(r, v, path, "\"%s\": expected AgglomerativeClustering or VBxClustering", name);
    return WX_OK;
}

static wx_status f_segmentation(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_ref(r, path, v, &c->segmentation);
}
static wx_status f_embedding(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_ref(r, path, v, &c->embedding);
}
static wx_status f_plda(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_ref(r, path, v, &c->plda);
}
static wx_status f_segmentation_batch(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_int(r, path, v, 1, 4096, &c->segmentation_batch_size);
}
static wx_status f_embedding_batch(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_int(r, path, v, 1, 4096, &c->embedding_batch_size);
}
static wx_status f_exclude_overlap(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_bool(r, path, v, &c->embedding_exclude_overlap);
}

static const field pipeline_params_fields[] = {
    {"clustering", f_clustering}, {"segmentation", f_segmentation},
    {"segmentation_batch_size", f_segmentation_batch}, {"embedding", f_embedding},
    {"embedding_batch_size", f_embedding_batch}, {"embedding_exclude_overlap", f_exclude_overlap},
    {"plda", f_plda},
};
enum { PP_CLUSTERING = 1u << 0, PP_SEGMENTATION = 1u << 1, PP_EMBEDDING = 1u << 3, PP_PLDA = 1u << 6 };

static wx_status f_pipeline_params(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    unsigned seen;
    wx_status st = read_mapping(r, path, v, pipeline_params_fields, COUNT(pipeline_params_fields), &seen, c);
    if (st != WX_OK) return st;
    st = require(r, path, v, seen, pipeline_params_fields, COUNT(pipeline_params_fields),
                 PP_CLUSTERING | PP_SEGMENTATION | PP_EMBEDDING);
    if (st != WX_OK) return st;
    if (c->clustering == WX_PIPELINE_VBX && !(seen & PP_PLDA))
        return fail_at(r, v, path, "VBxClustering needs the key plda");
    if (c->clustering == WX_PIPELINE_AGGLOMERATIVE && (seen & PP_PLDA))
        return fail_at(r, v, path, "plda is for VBxClustering, not AgglomerativeClustering");
    return WX_OK;
}

static wx_status f_pipeline_name(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    char name[96];
    wx_status st = read_string(r, path, v, name, sizeof name);
    if (st != WX_OK) return st;
    if (strcmp(name, PIPELINE_NAME) != 0)
        return fail_at(r, v, path, "\"%s\": only " PIPELINE_NAME " is supported", name);
    c->kind = WX_PIPELINE_SPEAKER_DIARIZATION;
    return WX_OK;
}

static const field pipeline_fields[] = {{"name", f_pipeline_name}, {"params", f_pipeline_params}};

static wx_status f_pipeline(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    unsigned seen;
    wx_status st = read_mapping(r, path, v, pipeline_fields, COUNT(pipeline_fields), &seen, c);
    return st != WX_OK ? st : require(r, path, v, seen, pipeline_fields, COUNT(pipeline_fields), 3u);
}

/* ---- params ---------------------------------------------------------------------------- */

static wx_status f_threshold(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_number(r, path, v, 0.0, 1e6, &c->clustering_threshold);
}
static wx_status f_min_cluster_size(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_int(r, path, v, 1, 1000000, &c->min_cluster_size);
}
static wx_status f_method(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    static const char *const methods[] = {"average", "centroid", "complete", "median", "single", "ward", "weighted"};
    wx_status st = read_string(r, path, v, c->linkage_method, sizeof c->linkage_method);
    for (size_t i = 0; st == WX_OK && i < COUNT(methods); i++)
        if (strcmp(c->linkage_method, methods[i]) == 0) return WX_OK;
    if (st == WX_OK)
        st = fail_at(r, v, path, "\"%s\": expected average, centroid, complete, median, single, ward or weighted",
                     c->linkage_method);
    return st;
}
static wx_status f_fa(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_number(r, path, v, 1e-12, 1e6, &c->vbx_fa);
}
static wx_status f_fb(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_number(r, path, v, 1e-12, 1e6, &c->vbx_fb);
}
static wx_status f_min_duration_off(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    return read_number(r, path, v, 0.0, 1e6, &c->min_duration_off);
}

static const field ahc_fields[] = {{"threshold", f_threshold}, {"min_cluster_size", f_min_cluster_size},
                                   {"method", f_method}};
static const field vbx_fields[] = {{"threshold", f_threshold}, {"Fa", f_fa}, {"Fb", f_fb}};
static const field segmentation_fields[] = {{"min_duration_off", f_min_duration_off}};

/* Defers params.* until pipeline.params.clustering (maybe later in the file) is known. */
static wx_status f_params_clustering(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    (void)path; (void)c;
    r->clustering_params = v;
    return WX_OK;
}
static wx_status f_params_segmentation(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    (void)path; (void)c;
    r->segmentation_params = v;
    return WX_OK;
}

static const field params_fields[] = {{"clustering", f_params_clustering}, {"segmentation", f_params_segmentation}};

static wx_status f_params(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    unsigned seen;
    wx_status st = read_mapping(r, path, v, params_fields, COUNT(params_fields), &seen, c);
    return st != WX_OK ? st : require(r, path, v, seen, params_fields, COUNT(params_fields), 3u);
}

static wx_status read_hyperparameters(reader *r, wx_pipeline_config *c)
{
    bool vbx = c->clustering == WX_PIPELINE_VBX;
    const field *fields = vbx ? vbx_fields : ahc_fields;
    unsigned seen;
    wx_status st = read_mapping(r, "params.clustering", r->clustering_params, fields, 3, &seen, c);
    if (st == WX_OK) st = require(r, "params.clustering", r->clustering_params, seen, fields, 3, 7u);
    if (st != WX_OK) {
        /* Say which method decided the allowed keys. */
        size_t n = strlen(r->err ? r->err->msg : "");
        if (r->err && n + 64 < sizeof r->err->msg)
            snprintf(r->err->msg + n, sizeof r->err->msg - n, " (for %s, line %zu)",
                     wx_pipeline_clustering_name(c->clustering), r->clustering_node->start_mark.line + 1);
        return st;
    }
    st = read_mapping(r, "params.segmentation", r->segmentation_params, segmentation_fields, 1, &seen, c);
    return st != WX_OK ? st : require(r, "params.segmentation", r->segmentation_params, seen, segmentation_fields, 1, 1u);
}

/* ---- versions and the root -------------------------------------------------------------- */

static wx_status read_version_text(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    /* Any scalar: "4.0" would be a float to PyYAML, and packaging.Version(str(...)) accepts it. */
    if (v->type != YAML_SCALAR_NODE || !allowed_tag(v))
        return fail_at(r, v, path, "expected a version such as 4.0.0, got %s", v->type == YAML_MAPPING_NODE ? "a mapping" : v->type == YAML_SEQUENCE_NODE ? "a list" : "a tagged value");
    const char *s = scalar(v);
    if (!*s || strlen(s) >= sizeof c->pyannote_version || !isdigit((unsigned char)s[0]) ||
        strspn(s, "0123456789.abcrdevpost+") != strlen(s))
        return fail_at(r, v, path, "\"%s\" is not a version such as 4.0.0", s);
    if (c->pyannote_version[0]) return fail_at(r, v, path, "the version is given twice (version and dependencies)");
    memcpy(c->pyannote_version, s, strlen(s) + 1);
    return WX_OK;
}

static const field dependencies_fields[] = {{"pyannote.audio", read_version_text}};

static wx_status f_dependencies(reader *r, const char *path, yaml_node_t *v, wx_pipeline_config *c)
{
    unsigned seen;
    wx_status st = read_mapping(r, path, v, dependencies_fields, 1, &seen, c);
    return st != WX_OK ? st : require(r, path, v, seen, dependencies_fields, 1, 1u);
}

static const field root_fields[] = {{"version", read_version_text}, {"dependencies", f_dependencies},
                                    {"pipeline", f_pipeline}, {"params", f_params}};

static wx_status read_document(reader *r, wx_pipeline_config *c)
{
    yaml_node_t *root = yaml_document_get_root_node(&r->doc);
    if (!root) {
        if (r->err) snprintf(r->err->msg, sizeof r->err->msg, "%s: empty YAML document", r->label);
        return WX_ERR_FORMAT;
    }
    unsigned seen;
    wx_status st = read_mapping(r, "", root, root_fields, COUNT(root_fields), &seen, c);
    if (st == WX_OK) st = require(r, "", root, seen, root_fields, COUNT(root_fields), 0xcu);
    return st == WX_OK ? read_hyperparameters(r, c) : st;
}

/* PyYAML's yaml.load wants a single document: another one after it is an error. */
static wx_status expect_end(yaml_parser_t *parser, const char *label, wx_err *err)
{
    yaml_document_t next;
    if (!yaml_parser_load(parser, &next))
        return wx_fail(err, WX_ERR_FORMAT, "%s: malformed YAML at line %zu, column %zu: %s", label,
                       parser->problem_mark.line + 1, parser->problem_mark.column + 1,
                       parser->problem ? parser->problem : "syntax error");
    bool more = yaml_document_get_root_node(&next) != NULL;
    size_t line = next.start_mark.line + 1;
    yaml_document_delete(&next);
    if (more) return wx_fail(err, WX_ERR_FORMAT, "%s: a second YAML document at line %zu: expected one", label, line);
    return WX_OK;
}

static void set_defaults(wx_pipeline_config *c)
{
    memset(c, 0, sizeof *c);
    c->segmentation_batch_size = 1;   /* SpeakerDiarization.__init__'s defaults */
    c->embedding_batch_size = 1;
}

wx_status wx_pipeline_config_parse(const char *text, size_t size, const char *label,
                                   wx_pipeline_config *out, wx_err *err)
{
    yaml_parser_t parser;
    reader r = {.label = label, .err = err};
    wx_pipeline_config c;
    set_defaults(&c);
    if (!yaml_parser_initialize(&parser)) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", label);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, size);
    wx_status st = WX_OK;
    if (!yaml_parser_load(&parser, &r.doc)) {
        st = parser.error == YAML_MEMORY_ERROR
                 ? wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", label)
                 : wx_fail(err, WX_ERR_FORMAT, "%s: malformed YAML at line %zu, column %zu: %s%s%s", label,
                           parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                           parser.problem ? parser.problem : "syntax error",
                           parser.context ? " " : "", parser.context ? parser.context : "");
        goto cleanup_parser;
    }
    st = read_document(&r, &c);
    yaml_document_delete(&r.doc);
    if (st == WX_OK) st = expect_end(&parser, label, err);
    if (st == WX_OK) *out = c;
cleanup_parser:
    yaml_parser_delete(&parser);
    return st;
}

wx_status wx_pipeline_config_load(const char *path, wx_pipeline_config *out, wx_err *err)
{
    char *text = NULL;
    size_t size = 0;
    wx_status st = wx_read_file(path, &text, &size, err);
    if (st == WX_OK) st = wx_pipeline_config_parse(text, size, path, out, err);
    free(text);
    return st;
}

const char *wx_pipeline_clustering_name(wx_pipeline_clustering c)
{
    return c == WX_PIPELINE_VBX ? "VBxClustering" : "AgglomerativeClustering";
}
