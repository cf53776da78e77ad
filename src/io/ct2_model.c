/* ct2_model.c — reads CTranslate2 model directories (model.bin binary versions 1–6 and
 * config.json) into an immutable, name-indexed set of variables. Every length in model.bin
 * is checked against the bytes that remain before it is used; variable data is copied once
 * into a 64-byte aligned arena so that consumers may cast `data` to the element type. */
#include "ct2_model.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define CT2_MAX_BINARY_VERSION 6
#define CT2_MAX_RANK 8
#define CT2_ARENA_ALIGN 64

/* A name in the sorted index: a variable's own name or an alias. */
typedef struct ct2_entry {
    const char *name;
    int32_t var;              /* index into vars (an alias's resolved target) */
    int32_t file_index;       /* position in model.bin's variable or alias table */
} ct2_entry;

struct wx_ct2_model {
    const char *label;        /* file name used in messages; lives in `strings` */
    const char *spec;         /* "" before binary version 2 */
    int binary_version;
    int spec_revision;
    wx_ct2_var *vars;         /* (n_vars) in file order */
    int n_vars;
    ct2_entry *by_name;       /* (n_vars) sorted by name */
    ct2_entry *aliases;       /* (n_aliases) sorted by name */
    int n_aliases;
    char *strings;            /* label, spec, variable and alias names */
    unsigned char *arena;     /* variable data, each variable 64-byte aligned */
    wx_ct2_config config;
};

/* ---- bounded little-endian reader over the raw image ---- */

typedef struct ct2_reader {
    const unsigned char *p;
    size_t left;
    const char *label;
    char where[192];          /* what is being read, for messages: "header", "variable 'x'" */
    wx_err *err;
} ct2_reader;

static wx_status reader_need(ct2_reader *r, size_t n)
{
    if (n <= r->left) return WX_OK;
    return wx_fail(r->err, WX_ERR_FORMAT, "%s: truncated in %s (needs %zu bytes, %zu left)",
                   r->label, r->where, n, r->left);
}

static wx_status read_u8(ct2_reader *r, uint32_t *out)
{
    wx_status st = reader_need(r, 1);
    if (st) return st;
    *out = r->p[0];
    r->p += 1;
    r->left -= 1;
    return WX_OK;
}

static wx_status read_u16(ct2_reader *r, uint32_t *out)
{
    wx_status st = reader_need(r, 2);
    if (st) return st;
    *out = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8;
    r->p += 2;
    r->left -= 2;
    return WX_OK;
}

static wx_status read_u32(ct2_reader *r, uint32_t *out)
{
    wx_status st = reader_need(r, 4);
    if (st) return st;
    *out = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
           (uint32_t)r->p[3] << 24;
    r->p += 4;
    r->left -= 4;
    return WX_OK;
}

static wx_status read_bytes(ct2_reader *r, size_t n, const unsigned char **out)
{
    wx_status st = reader_need(r, n);
    if (st) return st;
    *out = r->p;
    r->p += n;
    r->left -= n;
    return WX_OK;
}

/* A CTranslate2 string: u16 length (including the NUL), bytes, NUL. The returned pointer
 * aims into the image and is NUL-terminated there. */
static wx_status read_string(ct2_reader *r, const char *what, const char **out)
{
    uint32_t len;
    const unsigned char *s;
    wx_status st = read_u16(r, &len);
    if (!st) st = read_bytes(r, len, &s);
    if (st) return st;
    if (len == 0 || s[len - 1] != 0)
        return wx_fail(r->err, WX_ERR_FORMAT, "%s: %s in %s is not NUL-terminated",
                       r->label, what, r->where);
    if (memchr(s, 0, len - 1))
        return wx_fail(r->err, WX_ERR_FORMAT, "%s: %s in %s contains a NUL byte",
                       r->label, what, r->where);
    *out = (const char *)s;
    return WX_OK;
}

/* Rejects a record count that cannot fit in the remaining bytes before allocating for it. */
static wx_status check_count(ct2_reader *r, uint32_t count, size_t min_record, const char *what)
{
    if (count <= r->left / min_record) return WX_OK;
    return wx_fail(r->err, WX_ERR_FORMAT,
                   "%s: truncated: header claims %u %s but only %zu bytes follow", r->label,
                   count, what, r->left);
}

/* ---- dtypes ---- */

static size_t dtype_size(enum wx_ct2_dtype dtype)
{
    switch (dtype) {
    case WX_CT2_INT8: return 1;
    case WX_CT2_INT16: case WX_CT2_FLOAT16: case WX_CT2_BFLOAT16: return 2;
    case WX_CT2_FLOAT32: case WX_CT2_INT32: return 4;
    }
    return 0;
}

static const char *dtype_name(enum wx_ct2_dtype dtype)
{
    switch (dtype) {
    case WX_CT2_FLOAT32: return "float32";
    case WX_CT2_INT8: return "int8";
    case WX_CT2_INT16: return "int16";
    case WX_CT2_INT32: return "int32";
    case WX_CT2_FLOAT16: return "float16";
    case WX_CT2_BFLOAT16: return "bfloat16";
    }
    return "?";
}

/* Binary versions 1–3 stored an item size instead of a type id; CTranslate2 maps it with
 * this (knowingly lossy) rule, so float16 weights of such files read back as int16. */
static wx_status dtype_from_item_size(ct2_reader *r, uint32_t item_size, enum wx_ct2_dtype *out)
{
    switch (item_size) {
    case 4: *out = WX_CT2_FLOAT32; return WX_OK;
    case 2: *out = WX_CT2_INT16; return WX_OK;
    case 1: *out = WX_CT2_INT8; return WX_OK;
    }
    return wx_fail(r->err, WX_ERR_FORMAT, "%s: unknown item size %u in %s", r->label,
                   item_size, r->where);
}

/* ---- scanning model.bin ---- */

static wx_status scan_header(ct2_reader *r, wx_ct2_model *m)
{
    uint32_t version, revision = 1;
    snprintf(r->where, sizeof r->where, "header");
    wx_status st = read_u32(r, &version);
    if (st) return st;
    if (version < 1 || version > CT2_MAX_BINARY_VERSION)
        return wx_fail(r->err, WX_ERR_UNSUPPORTED,
                       "%s: binary version %u is not a CTranslate2 model this reader handles "
                       "(versions 1 to %d)", r->label, version, CT2_MAX_BINARY_VERSION);
    m->binary_version = (int)version;
    m->spec = "";
    if (version >= 2) {
        st = read_string(r, "spec name", &m->spec);
        if (!st) st = read_u32(r, &revision);
        if (st) return st;
        if (revision > INT32_MAX)
            return wx_fail(r->err, WX_ERR_FORMAT, "%s: spec revision %u out of range",
                           r->label, revision);
    }
    m->spec_revision = (int)revision;
    return WX_OK;
}

static wx_status scan_shape(ct2_reader *r, wx_ct2_var *v, uint64_t *nelem)
{
    uint32_t rank;
    wx_status st = read_u8(r, &rank);
    if (st) return st;
    if (rank > CT2_MAX_RANK)
        return wx_fail(r->err, WX_ERR_FORMAT, "%s: %s has rank %u (at most %d supported)",
                       r->label, r->where, rank, CT2_MAX_RANK);
    v->rank = (int)rank;
    uint64_t nonzero = 1;     /* product of the non-zero dims, kept below 2^63 */
    bool empty = false;
    for (uint32_t d = 0; d < rank; d++) {
        uint32_t dim;
        if ((st = read_u32(r, &dim))) return st;
        v->dims[d] = dim;
        if (dim == 0) {
            empty = true;
        } else if (nonzero > (uint64_t)INT64_MAX / dim) {
            return wx_fail(r->err, WX_ERR_FORMAT, "%s: the dims of %s overflow 64 bits",
                           r->label, r->where);
        } else {
            nonzero *= dim;
        }
    }
    *nelem = empty ? 0 : nonzero;
    return WX_OK;
}

/* Reads the dtype and byte count and checks them against the shape. */
static wx_status scan_dtype(ct2_reader *r, int version, wx_ct2_var *v, uint64_t nelem)
{
    uint32_t id, count;
    uint64_t nbytes;
    wx_status st = read_u8(r, &id);
    if (!st) st = read_u32(r, &count);
    if (st) return st;
    if (version >= 4) {
        if (id > WX_CT2_BFLOAT16)
            return wx_fail(r->err, WX_ERR_FORMAT, "%s: unknown dtype id %u in %s", r->label,
                           id, r->where);
        v->dtype = (enum wx_ct2_dtype)id;
        nbytes = count;
    } else {
        if ((st = dtype_from_item_size(r, id, &v->dtype))) return st;
        nbytes = (uint64_t)count * id;    /* versions < 4 store an element count */
    }
    uint64_t need = nelem * dtype_size(v->dtype);    /* nelem < 2^63, size <= 4: may wrap */
    if (nelem > UINT64_MAX / 4 || need != nbytes)
        return wx_fail(r->err, WX_ERR_FORMAT,
                       "%s: %s stores %llu bytes but its %d-d %s shape holds %llu elements",
                       r->label, r->where, (unsigned long long)nbytes, v->rank,
                       dtype_name(v->dtype), (unsigned long long)nelem);
    v->nbytes = (size_t)nbytes;
    return WX_OK;
}

static wx_status scan_variable(ct2_reader *r, int version, int index, wx_ct2_var *v)
{
    uint64_t nelem = 0;
    const unsigned char *data;
    snprintf(r->where, sizeof r->where, "variable #%d", index);
    wx_status st = read_string(r, "name", &v->name);
    if (st) return st;
    snprintf(r->where, sizeof r->where, "variable '%.150s'", v->name);
    if ((st = scan_shape(r, v, &nelem))) return st;
    if ((st = scan_dtype(r, version, v, nelem))) return st;
    if ((st = read_bytes(r, v->nbytes, &data))) return st;
    v->data = data;
    return WX_OK;
}

static wx_status scan_variables(ct2_reader *r, wx_ct2_model *m)
{
    uint32_t count;
    snprintf(r->where, sizeof r->where, "variable count");
    wx_status st = read_u32(r, &count);
    if (st) return st;
    /* Smallest record: u16 len, 1-byte name, u8 rank, u8 dtype, u32 nbytes. */
    if ((st = check_count(r, count, 9, "variables"))) return st;
    m->vars = calloc(count ? count : 1, sizeof *m->vars);
    if (!m->vars) return wx_fail(r->err, WX_ERR_NOMEM, "%s: out of memory", r->label);
    for (uint32_t i = 0; i < count; i++) {
        if ((st = scan_variable(r, m->binary_version, (int)i, &m->vars[i]))) return st;
        m->n_vars++;
    }
    return WX_OK;
}

/* Alias targets are resolved later, once the variables are sorted; until then `target`
 * holds nothing and the target name is parked in a parallel array. */
static wx_status scan_aliases(ct2_reader *r, wx_ct2_model *m, const char ***targets)
{
    uint32_t count = 0;
    wx_status st = WX_OK;
    if (m->binary_version >= 3) {
        snprintf(r->where, sizeof r->where, "alias count");
        if ((st = read_u32(r, &count))) return st;
        if ((st = check_count(r, count, 6, "aliases"))) return st;
    }
    m->aliases = calloc(count ? count : 1, sizeof *m->aliases);
    *targets = calloc(count ? count : 1, sizeof **targets);
    if (!m->aliases || !*targets)
        return wx_fail(r->err, WX_ERR_NOMEM, "%s: out of memory", r->label);
    for (uint32_t i = 0; i < count; i++) {
        snprintf(r->where, sizeof r->where, "alias #%u", i);
        ct2_entry *a = &m->aliases[i];
        if ((st = read_string(r, "alias name", &a->name))) return st;
        snprintf(r->where, sizeof r->where, "alias '%.150s'", a->name);
        if ((st = read_string(r, "alias target", &(*targets)[i]))) return st;
        a->file_index = (int32_t)i;
        m->n_aliases++;
    }
    if (r->left)
        return wx_fail(r->err, WX_ERR_FORMAT, "%s: %zu bytes of trailing garbage after the "
                       "alias table", r->label, r->left);
    return WX_OK;
}

/* ---- name index ---- */

static int compare_entry(const void *a, const void *b)
{
    return strcmp(((const ct2_entry *)a)->name, ((const ct2_entry *)b)->name);
}

/* Compares the string prefix[0..n) + suffix with name, like strcmp. */
static int compare_joined(const char *prefix, size_t n, const char *suffix, const char *name)
{
    int c = strncmp(prefix, name, n);
    return c ? c : strcmp(suffix, name + n);
}

/* Finds prefix[0..n) + suffix in a sorted entry array; NULL if absent. */
static const ct2_entry *find_entry(const ct2_entry *entries, int count, const char *prefix,
                                   size_t n, const char *suffix)
{
    int lo = 0, hi = count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = compare_joined(prefix, n, suffix, entries[mid].name);
        if (c == 0) return &entries[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

static wx_status index_variables(wx_ct2_model *m, wx_err *err)
{
    m->by_name = malloc((size_t)(m->n_vars ? m->n_vars : 1) * sizeof *m->by_name);
    if (!m->by_name) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", m->label);
    for (int i = 0; i < m->n_vars; i++)
        m->by_name[i] = (ct2_entry){.name = m->vars[i].name, .var = i, .file_index = i};
    qsort(m->by_name, (size_t)m->n_vars, sizeof *m->by_name, compare_entry);
    for (int i = 1; i < m->n_vars; i++)
        if (strcmp(m->by_name[i - 1].name, m->by_name[i].name) == 0)
            return wx_fail(err, WX_ERR_FORMAT, "%s: duplicate variable '%.150s'", m->label,
                           m->by_name[i].name);
    return WX_OK;
}

/* Sorts the aliases and points each at a variable. As in CTranslate2, an alias may name an
 * alias declared before it; unlike CTranslate2, a missing target is an error. */
static wx_status index_aliases(wx_ct2_model *m, const char **targets, wx_err *err)
{
    int n = m->n_aliases;
    int32_t *slot = malloc((size_t)(n ? n : 1) * sizeof *slot);   /* file index -> sorted */
    if (!slot) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", m->label);
    wx_status st = WX_OK;
    qsort(m->aliases, (size_t)n, sizeof *m->aliases, compare_entry);
    for (int i = 0; i < n; i++) {
        const char *name = m->aliases[i].name;
        slot[m->aliases[i].file_index] = i;
        if ((i > 0 && strcmp(m->aliases[i - 1].name, name) == 0) ||
            find_entry(m->by_name, m->n_vars, name, strlen(name), "")) {
            st = wx_fail(err, WX_ERR_FORMAT, "%s: duplicate name '%.150s' (alias)", m->label,
                         name);
            goto done;
        }
    }
    for (int f = 0; f < n; f++) {
        ct2_entry *a = &m->aliases[slot[f]];
        size_t len = strlen(targets[f]);
        const ct2_entry *t = find_entry(m->by_name, m->n_vars, targets[f], len, "");
        if (!t) {
            t = find_entry(m->aliases, n, targets[f], len, "");
            if (t && t->file_index >= f) t = NULL;    /* declared later: not yet registered */
        }
        if (!t) {
            st = wx_fail(err, WX_ERR_FORMAT, "%s: alias '%.150s' points to missing variable "
                         "'%.150s'", m->label, a->name, targets[f]);
            goto done;
        }
        a->var = t->var;
    }
done:
    free(slot);
    return st;
}

/* ---- copying into owned storage ---- */

static size_t align_up(size_t n)
{
    return (n + CT2_ARENA_ALIGN - 1) / CT2_ARENA_ALIGN * CT2_ARENA_ALIGN;
}

static char *copy_string(char **cursor, const char *s)
{
    size_t n = strlen(s) + 1;
    char *dst = memcpy(*cursor, s, n);
    *cursor += n;
    return dst;
}

/* Repoints every name and data pointer from the caller's image to memory the model owns.
 * Sizes are bounded by the image size, so the sums below cannot overflow. */
static wx_status take_ownership(wx_ct2_model *m, const char *label, wx_err *err)
{
    size_t text = strlen(label) + 1 + strlen(m->spec) + 1, data = 0;
    for (int i = 0; i < m->n_vars; i++) {
        text += strlen(m->vars[i].name) + 1;
        if (m->vars[i].nbytes > SIZE_MAX - CT2_ARENA_ALIGN - data)
            return wx_fail(err, WX_ERR_NOMEM, "%s: variables too large for memory", label);
        data += align_up(m->vars[i].nbytes);
    }
    for (int i = 0; i < m->n_aliases; i++) text += strlen(m->aliases[i].name) + 1;
    m->strings = malloc(text);
    m->arena = aligned_alloc(CT2_ARENA_ALIGN, data ? data : CT2_ARENA_ALIGN);
    if (!m->strings || !m->arena)
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for %zu bytes of weights", label,
                       data);
    char *cursor = m->strings;
    m->label = copy_string(&cursor, label);
    m->spec = copy_string(&cursor, m->spec);
    size_t offset = 0;
    for (int i = 0; i < m->n_vars; i++) {
        wx_ct2_var *v = &m->vars[i];
        v->name = copy_string(&cursor, v->name);
        if (v->nbytes) memcpy(m->arena + offset, v->data, v->nbytes);
        v->data = m->arena + offset;
        offset += align_up(v->nbytes);
    }
    for (int i = 0; i < m->n_aliases; i++)
        m->aliases[i].name = copy_string(&cursor, m->aliases[i].name);
    return WX_OK;
}

wx_status wx_ct2_model_parse(const void *data, size_t size, const char *label,
                             wx_ct2_model **out, wx_err *err)
{
    assert(data || size == 0);
    assert(out);
    *out = NULL;
    if (!label) label = "model.bin";
    const char **targets = NULL;
    wx_ct2_model *m = calloc(1, sizeof *m);
    if (!m) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", label);
    m->label = label;
    ct2_reader r = {.p = data, .left = size, .label = label, .err = err};
    wx_status st = scan_header(&r, m);
    if (!st) st = scan_variables(&r, m);
    if (!st) st = scan_aliases(&r, m, &targets);
    if (!st) st = take_ownership(m, label, err);
    if (!st) st = index_variables(m, err);
    if (!st) st = index_aliases(m, targets, err);
    free(targets);
    if (st) {
        wx_ct2_model_free(m);
        return st;
    }
    *out = m;
    return WX_OK;
}

/* ---- config.json ---- */

static wx_status json_to_id(const json_t *v, const char *path, const char *key, int32_t *out,
                            wx_err *err)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" must hold non-negative 32-bit integers",
                       path, key);
    *out = (int32_t)json_integer_value(v);
    return WX_OK;
}

/* Reads an optional array of ids; absent or null gives an empty array. */
static wx_status config_ids(const json_t *root, const char *path, const char *key,
                            int32_t **out, int *n, wx_err *err)
{
    const json_t *arr = json_object_get(root, key);
    if (!arr || json_is_null(arr)) return WX_OK;
    if (!json_is_array(arr))
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" must be an array of integers", path, key);
    size_t count = json_array_size(arr);
    if (count > INT32_MAX) return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" is too long", path, key);
    *out = malloc((count ? count : 1) * sizeof **out);
    if (!*out) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < count; i++) {
        wx_status st = json_to_id(json_array_get(arr, i), path, key, &(*out)[i], err);
        if (st) return st;
    }
    *n = (int)count;
    return WX_OK;
}

/* alignment_heads: [[layer, head], ...]. */
static wx_status config_heads(const json_t *root, const char *path, wx_ct2_config *c,
                              wx_err *err)
{
    const char *key = "alignment_heads";
    const json_t *arr = json_object_get(root, key);
    if (!arr || json_is_null(arr)) return WX_OK;
    if (!json_is_array(arr))
        return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" must be an array of [layer, head] pairs",
                       path, key);
    size_t count = json_array_size(arr);
    if (count > INT32_MAX) return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" is too long", path, key);
    c->alignment_heads = malloc((count ? count : 1) * sizeof *c->alignment_heads);
    if (!c->alignment_heads) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < count; i++) {
        const json_t *pair = json_array_get(arr, i);
        if (!json_is_array(pair) || json_array_size(pair) != 2)
            return wx_fail(err, WX_ERR_FORMAT, "%s: \"%s\" entry %zu is not a [layer, head] pair",
                           path, key, i);
        for (size_t k = 0; k < 2; k++) {
            wx_status st = json_to_id(json_array_get(pair, k), path, key,
                                      &c->alignment_heads[i][k], err);
            if (st) return st;
        }
    }
    c->n_alignment_heads = (int)count;
    return WX_OK;
}

static wx_status load_config(const char *path, wx_ct2_config *c, wx_err *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        if (access(path, R_OK) != 0)
            return wx_fail(err, WX_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return wx_fail(err, WX_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s", path,
                       jerr.line, jerr.column, jerr.text);
    }
    wx_status st = WX_OK;
    if (!json_is_object(root)) {
        st = wx_fail(err, WX_ERR_FORMAT, "%s: top level is not a JSON object", path);
        goto done;
    }
    if ((st = config_ids(root, path, "suppress_ids", &c->suppress_ids, &c->n_suppress_ids, err)))
        goto done;
    if ((st = config_ids(root, path, "suppress_ids_begin", &c->suppress_ids_begin,
                         &c->n_suppress_ids_begin, err)))
        goto done;
    if ((st = config_ids(root, path, "lang_ids", &c->lang_ids, &c->n_lang_ids, err))) goto done;
    st = config_heads(root, path, c, err);
done:
    json_decref(root);
    return st;
}

/* ---- loading a directory ---- */

/* Maps the file read-only and parses it; the mapping is released before returning. */
static wx_status parse_file(const char *path, wx_ct2_model **out, wx_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return wx_fail(err, WX_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    wx_status st;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = wx_fail(err, WX_ERR_IO, "%s: not a regular file", path);
        goto close_fd;
    }
    size_t size = (size_t)sb.st_size;
    if (size == 0) {
        st = wx_ct2_model_parse("", 0, path, out, err);
        goto close_fd;
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED) {
        st = wx_fail(err, WX_ERR_IO, "%s: cannot map %zu bytes: %s", path, size, strerror(errno));
        goto close_fd;
    }
    st = wx_ct2_model_parse(map, size, path, out, err);
    munmap(map, size);
close_fd:
    close(fd);
    return st;
}

static char *join_path(const char *dir, const char *file)
{
    size_t n = strlen(dir) + strlen(file) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, file);
    return p;
}

wx_status wx_ct2_model_load(const char *dir, wx_ct2_model **out, wx_err *err)
{
    assert(dir && out);
    *out = NULL;
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return wx_fail(err, WX_ERR_IO, "model directory %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return wx_fail(err, WX_ERR_IO, "model directory %s is not a directory", dir);
    wx_status st;
    wx_ct2_model *m = NULL;
    char *bin = join_path(dir, "model.bin"), *cfg = join_path(dir, "config.json");
    if (!bin || !cfg) {
        st = wx_fail(err, WX_ERR_NOMEM, "out of memory loading %s", dir);
        goto done;
    }
    if ((st = parse_file(bin, &m, err))) goto done;
    if ((st = load_config(cfg, &m->config, err))) goto done;
    *out = m;
    m = NULL;
done:
    wx_ct2_model_free(m);
    free(bin);
    free(cfg);
    return st;
}

void wx_ct2_model_free(wx_ct2_model *model)
{
    if (!model) return;
    free(model->config.suppress_ids);
    free(model->config.suppress_ids_begin);
    free(model->config.lang_ids);
    free(model->config.alignment_heads);
    free(model->vars);
    free(model->by_name);
    free(model->aliases);
    free(model->strings);
    free(model->arena);
    free(model);
}

/* ---- queries ---- */

const char *wx_ct2_model_spec(const wx_ct2_model *model) { return model->spec; }
int wx_ct2_model_binary_version(const wx_ct2_model *model) { return model->binary_version; }
int wx_ct2_model_spec_revision(const wx_ct2_model *model) { return model->spec_revision; }
int wx_ct2_model_var_count(const wx_ct2_model *model) { return model->n_vars; }
const wx_ct2_config *wx_ct2_model_config(const wx_ct2_model *model) { return &model->config; }

const wx_ct2_var *wx_ct2_model_var_at(const wx_ct2_model *model, int index)
{
    assert(index >= 0 && index < model->n_vars);
    return &model->vars[index];
}

/* prefix[0..n) + suffix, following aliases. */
static const wx_ct2_var *find_joined(const wx_ct2_model *m, const char *prefix, size_t n,
                                     const char *suffix)
{
    const ct2_entry *e = find_entry(m->by_name, m->n_vars, prefix, n, suffix);
    if (!e) e = find_entry(m->aliases, m->n_aliases, prefix, n, suffix);
    return e ? &m->vars[e->var] : NULL;
}

const wx_ct2_var *wx_ct2_model_find(const wx_ct2_model *model, const char *name)
{
    size_t n = strlen(name);
    const wx_ct2_var *v = find_joined(model, name, n, "");
    if (v) return v;
    /* CTranslate2 also aliases "<alias>_scale" to "<target>_scale". */
    size_t base = n - strlen("_scale");
    if (n <= strlen("_scale") || strcmp(name + base, "_scale") != 0) return NULL;
    const ct2_entry *a = find_entry(model->aliases, model->n_aliases, name, base, "");
    if (!a) return NULL;
    const char *target = model->vars[a->var].name;
    return find_joined(model, target, strlen(target), "_scale");
}

int64_t wx_ct2_var_nelem(const wx_ct2_var *var)
{
    int64_t n = 1;
    for (int d = 0; d < var->rank; d++) n *= var->dims[d];
    return n;
}

/* Element i of a variable as float; data is aligned by the arena. */
static float element_f32(const wx_ct2_var *v, int64_t i)
{
    switch (v->dtype) {
    case WX_CT2_FLOAT32: return ((const float *)v->data)[i];
    case WX_CT2_INT8: return ((const int8_t *)v->data)[i];
    case WX_CT2_INT16: return ((const int16_t *)v->data)[i];
    case WX_CT2_INT32: return (float)((const int32_t *)v->data)[i];
    case WX_CT2_FLOAT16: return wx_f16_to_f32(((const uint16_t *)v->data)[i]);
    case WX_CT2_BFLOAT16: return wx_bf16_to_f32(((const uint16_t *)v->data)[i]);
    }
    return 0.0f;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Dequantizes an int8/int16 variable with its scale (one per row of dims[0], or a single
 * global one as CTranslate2 writes for int16): value = q / scale[row]. */
static wx_status dequantize(const wx_ct2_model *m, const wx_ct2_var *v, const wx_ct2_var *scale,
                            float *dst, wx_err *err)
{
    int64_t n = wx_ct2_var_nelem(v), rows = v->rank ? v->dims[0] : 1;
    int64_t ns = wx_ct2_var_nelem(scale);
    bool is_float = scale->dtype == WX_CT2_FLOAT32 || scale->dtype == WX_CT2_FLOAT16 ||
                    scale->dtype == WX_CT2_BFLOAT16;
    if (!is_float || (ns != rows && ns != 1))
        return wx_fail(err, WX_ERR_FORMAT, "%s: scale of '%.150s' must be %lld or 1 floats, "
                       "found %lld %s", m->label, v->name, (long long)rows, (long long)ns,
                       dtype_name(scale->dtype));
    int64_t row_len = rows ? n / rows : 0;
    for (int64_t r = 0; r < rows; r++) {
        float s = element_f32(scale, ns == 1 ? 0 : r);
        for (int64_t j = 0; j < row_len; j++)
            dst[r * row_len + j] = element_f32(v, r * row_len + j) / s;
    }
    return WX_OK;
}

wx_status wx_ct2_model_read_f32(const wx_ct2_model *model, const char *name, float *dst,
                                int64_t nelem, wx_err *err)
{
    const wx_ct2_var *v = wx_ct2_model_find(model, name);
    if (!v) return wx_fail(err, WX_ERR_FORMAT, "%s: no variable '%.150s'", model->label, name);
    int64_t n = wx_ct2_var_nelem(v);
    if (n != nelem)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "%s: variable '%.150s' has %lld elements, "
                       "%lld expected", model->label, name, (long long)n, (long long)nelem);
    if (v->dtype == WX_CT2_INT8 || v->dtype == WX_CT2_INT16) {
        const wx_ct2_var *scale = find_joined(model, v->name, strlen(v->name), "_scale");
        if (scale) return dequantize(model, v, scale, dst, err);
        if (v->dtype == WX_CT2_INT8 && ends_with(v->name, "weight"))
            return wx_fail(err, WX_ERR_FORMAT, "%s: int8 weight '%.150s' has no scale "
                           "variable '%.150s_scale'", model->label, v->name, v->name);
    }
    for (int64_t i = 0; i < n; i++) dst[i] = element_f32(v, i);
    return WX_OK;
}

int64_t wx_ct2_model_scalar_int(const wx_ct2_model *model, const char *name, int64_t fallback)
{
    const wx_ct2_var *v = wx_ct2_model_find(model, name);
    if (!v || wx_ct2_var_nelem(v) != 1) return fallback;
    switch (v->dtype) {
    case WX_CT2_INT8: return ((const int8_t *)v->data)[0];
    case WX_CT2_INT16: return ((const int16_t *)v->data)[0];
    case WX_CT2_INT32: return ((const int32_t *)v->data)[0];
    default: {
        float f = element_f32(v, 0);
        if (!(f >= -9.2e18f && f <= 9.2e18f)) return fallback;   /* NaN, inf, out of range */
        return (int64_t)f;
    }
    }
}
