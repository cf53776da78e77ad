/* torch_ckpt.c — PyTorch checkpoint reader: finds the pickle and the storages in either
 * layout (a zip archive read through its central directory, or the legacy chain of pickles
 * and raw storages), attaches each storage's bytes to the unpickled tree, then names every
 * tensor by its dotted path and checks that each view lies inside its storage. */
#include "torch_ckpt.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "torch_pickle.h"
#include "zip.h"

#define MAX_DEPTH 100          /* nesting of values under the root */
#define MAX_NAME 4096          /* bytes of one tensor's dotted name */

struct wx_torch_ckpt {
    uint8_t *image;
    size_t size;
    char *label;
    bool zip;
    wx_zip archive;
    wx_pk_heap heap;
    wx_torch_value *root;
    wx_torch_tensor *tensors;
    int n_tensors, cap_tensors;
};

static const uint8_t LEGACY_MAGIC[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                       0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

size_t wx_torch_dtype_size(enum wx_torch_dtype dtype)
{
    static const size_t sizes[] = {4, 2, 2, 8, 8, 4, 2, 1, 1, 1};
    return sizes[dtype];
}

const char *wx_torch_dtype_name(enum wx_torch_dtype dtype)
{
    static const char *const names[] = {"float32", "float16", "bfloat16", "float64", "int64",
                                        "int32", "int16", "int8", "uint8", "bool"};
    return names[dtype];
}

/* ---- storages ---- */

/* The STORAGE nodes sorted by key: the nodes of one storage form a run. */
typedef struct storage_index {
    wx_torch_value **v;
    size_t n;
} storage_index;

static int by_key(const void *a, const void *b)
{
    return strcmp((*(wx_torch_value *const *)a)->s, (*(wx_torch_value *const *)b)->s);
}

static wx_status index_storages(const wx_torch_ckpt *ck, storage_index *ix, wx_err *err)
{
    size_t n = 0;
    for (wx_torch_value *v = ck->heap.nodes; v; v = v->next) n += v->kind == WX_TORCH_STORAGE;
    ix->n = 0;
    if (!(ix->v = malloc((n ? n : 1) * sizeof *ix->v)))
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", ck->label);
    for (wx_torch_value *v = ck->heap.nodes; v; v = v->next)
        if (v->kind == WX_TORCH_STORAGE) ix->v[ix->n++] = v;
    qsort(ix->v, ix->n, sizeof *ix->v, by_key);
    return WX_OK;
}

/* The first position of key's run (ix->n if absent) and the run's end in *end. */
static size_t index_run(const storage_index *ix, const char *key, size_t *end)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(ix->v[mid]->s, key) < 0) lo = mid + 1;
        else hi = mid;
    }
    *end = lo;
    while (*end < ix->n && strcmp(ix->v[*end]->s, key) == 0) ++*end;
    return *end > lo ? lo : ix->n;
}

/* ---- zip layout ---- */

/* The archive's folder name: data.pkl lives at "<prefix>data.pkl", prefix ending in '/'. */
static const wx_zip_entry *zip_find_pickle(const wx_zip *z, char *prefix, size_t cap)
{
    for (size_t i = 0; i < z->n_entries; i++) {
        const wx_zip_entry *e = &z->entries[i];
        const char *slash = memchr(e->name, '/', e->name_len);
        size_t pl = slash ? (size_t)(slash - e->name) + 1 : 0;
        if (slash && pl < cap && e->name_len == pl + 8 && memcmp(slash + 1, "data.pkl", 8) == 0) {
            memcpy(prefix, e->name, pl);
            prefix[pl] = '\0';
            return e;
        }
    }
    return NULL;
}

/* Points each storage at the bytes of <prefix>data/<key>, found once per key. */
static wx_status zip_attach_storages(wx_torch_ckpt *ck, const char *prefix, wx_err *err)
{
    storage_index ix;
    wx_status s = index_storages(ck, &ix, err);
    if (s != WX_OK) return s;
    char name[600];
    const uint8_t *data = NULL;
    size_t size = 0;
    for (size_t i = 0; i < ix.n; i++) {
        wx_torch_value *v = ix.v[i];
        if (v->len > 500) {
            s = wx_fail(err, WX_ERR_FORMAT, "%s: storage key too long", ck->label);
            goto cleanup;
        }
        snprintf(name, sizeof name, "data/%s", v->s);
        if (i == 0 || strcmp(ix.v[i - 1]->s, v->s) != 0) {
            const wx_zip_entry *e = wx_zip_find(&ck->archive, prefix, name);
            if (!e) {
                s = wx_fail(err, WX_ERR_FORMAT, "%s: storage %s%s is missing from the archive "
                            "(truncated file?)", ck->label, prefix, name);
                goto cleanup;
            }
            if ((s = wx_zip_data(&ck->archive, e, &data, &size, err)) != WX_OK) goto cleanup;
        }
        if ((uint64_t)v->numel > size / wx_torch_dtype_size(v->dtype)) {
            s = wx_fail(err, WX_ERR_FORMAT, "%s: storage %s%s: %zu bytes for %lld elements "
                        "of %s (truncated?)", ck->label, prefix, name, size,
                        (long long)v->numel, wx_torch_dtype_name(v->dtype));
            goto cleanup;
        }
        v->data = data;
        v->nbytes = size;
    }
cleanup:
    free(ix.v);
    return s;
}

static wx_status zip_parse(wx_torch_ckpt *ck, wx_err *err)
{
    wx_status s = wx_zip_open(&ck->archive, ck->image, ck->size, ck->label, err);
    if (s != WX_OK) return s;
    char prefix[256];
    const wx_zip_entry *pkl = zip_find_pickle(&ck->archive, prefix, sizeof prefix);
    if (!pkl)
        return wx_fail(err, WX_ERR_FORMAT, "%s: a zip archive without <name>/data.pkl: not a "
                       "PyTorch checkpoint", ck->label);
    const wx_zip_entry *order = wx_zip_find(&ck->archive, prefix, "byteorder");
    const uint8_t *data;
    size_t size, used;
    if (order) {
        if ((s = wx_zip_data(&ck->archive, order, &data, &size, err)) != WX_OK) return s;
        if (size != 6 || memcmp(data, "little", 6) != 0)
            return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: storages are not little-endian "
                           "(byteorder record '%.*s')", ck->label, size < 16 ? (int)size : 16,
                           (const char *)data);
    }
    if ((s = wx_zip_data(&ck->archive, pkl, &data, &size, err)) != WX_OK) return s;
    if ((s = wx_pk_load(&ck->heap, data, size, ck->label, &ck->root, &used, err)) != WX_OK)
        return s;
    return zip_attach_storages(ck, prefix, err);
}

/* ---- legacy layout ---- */

/* Runs the pickle at *at and advances past it. */
static wx_status legacy_pickle(wx_torch_ckpt *ck, size_t *at, wx_torch_value **out,
                               wx_err *err)
{
    size_t used = 0;
    wx_status s = wx_pk_load(&ck->heap, ck->image + *at, ck->size - *at, ck->label, out, &used,
                             err);
    *at += used;
    return s;
}

/* sys_info: {'protocol_version': 1001, 'little_endian': bool, 'type_sizes': {...}}. */
static wx_status legacy_check_sys_info(const wx_torch_ckpt *ck, const wx_torch_value *info,
                                       wx_err *err)
{
    bool little = true;
    const wx_torch_value *v = wx_torch_value_get(info, "little_endian");
    if (info->kind != WX_TORCH_DICT || (v && !wx_torch_value_bool(v, &little)))
        return wx_fail(err, WX_ERR_FORMAT, "%s: legacy checkpoint with a malformed sys_info "
                       "record", ck->label);
    if (!little)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: a big-endian legacy checkpoint is not "
                       "supported", ck->label);
    return WX_OK;
}

/* Points the nodes of one storage (views of it included) at its bytes, data[0, nbytes). */
static wx_status legacy_attach_run(const wx_torch_ckpt *ck, const storage_index *ix, size_t lo,
                                   size_t end, const uint8_t *data, uint64_t nbytes,
                                   wx_err *err)
{
    for (size_t r = lo; r < end; r++) {
        wx_torch_value *v = ix->v[r];
        size_t el = wx_torch_dtype_size(v->dtype);
        if ((uint64_t)v->view_offset > nbytes / el ||
            (uint64_t)v->numel > nbytes / el - (uint64_t)v->view_offset)
            return wx_fail(err, WX_ERR_FORMAT, "%s: storage %s: view outside the storage",
                           ck->label, v->s);
        v->data = data + (size_t)v->view_offset * el;
        v->nbytes = (size_t)v->numel * el;
    }
    return WX_OK;
}

/* After the key list, each storage: int64 element count, then its bytes. */
static wx_status legacy_attach_storages(wx_torch_ckpt *ck, const wx_torch_value *keys,
                                        size_t at, wx_err *err)
{
    storage_index ix;
    wx_status s = index_storages(ck, &ix, err);
    if (s != WX_OK) return s;
    for (int i = 0; i < keys->n && s == WX_OK; i++) {
        const wx_torch_value *k = keys->items[i];
        if (k->kind != WX_TORCH_STR) {
            s = wx_fail(err, WX_ERR_FORMAT, "%s: storage key %d is not a string", ck->label, i);
            goto cleanup;
        }
        size_t end, lo = index_run(&ix, k->s, &end);
        size_t el = lo < ix.n ? wx_torch_dtype_size(ix.v[lo]->dtype) : 1;
        if (ck->size - at < 8) {
            s = wx_fail(err, WX_ERR_FORMAT, "%s: storage %s: truncated file", ck->label, k->s);
            goto cleanup;
        }
        uint64_t n = le(ck->image + at, 8);
        at += 8;
        if (n > (ck->size - at) / el) {
            s = wx_fail(err, WX_ERR_FORMAT, "%s: storage %s: %llu elements run past the end "
                        "of the file (truncated?)", ck->label, k->s, (unsigned long long)n);
            goto cleanup;
        }
        s = legacy_attach_run(ck, &ix, lo, end, ck->image + at, n * el, err);
        at += (size_t)(n * el);
    }
    for (size_t r = 0; r < ix.n && s == WX_OK; r++)
        if (!ix.v[r]->data && ix.v[r]->numel)
            s = wx_fail(err, WX_ERR_FORMAT, "%s: storage %s is not in the file", ck->label,
                        ix.v[r]->s);
cleanup:
    free(ix.v);
    return s;
}

static wx_status legacy_parse(wx_torch_ckpt *ck, wx_err *err)
{
    size_t at = sizeof LEGACY_MAGIC;
    wx_torch_value *version, *info, *keys;
    wx_status s = legacy_pickle(ck, &at, &version, err);
    if (s != WX_OK) return s;
    if (version->kind != WX_TORCH_INT || version->i != 1001)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: legacy checkpoint protocol %lld is not "
                       "supported (1001 is)", ck->label,
                       version->kind == WX_TORCH_INT ? (long long)version->i : -1ll);
    if ((s = legacy_pickle(ck, &at, &info, err)) != WX_OK ||
        (s = legacy_check_sys_info(ck, info, err)) != WX_OK ||
        (s = legacy_pickle(ck, &at, &ck->root, err)) != WX_OK ||
        (s = legacy_pickle(ck, &at, &keys, err)) != WX_OK)
        return s;
    if (keys->kind != WX_TORCH_LIST)
        return wx_fail(err, WX_ERR_FORMAT, "%s: legacy checkpoint without a storage key list",
                       ck->label);
    return legacy_attach_storages(ck, keys, at, err);
}

/* ---- tensor table ---- */

/* Checks that every element of the view lies inside the storage. */
static wx_status check_extent(const wx_torch_ckpt *ck, const wx_torch_value *t, const char *name,
                              wx_err *err)
{
    const wx_torch_tensor *v = t->view;
    size_t el = wx_torch_dtype_size(v->dtype);
    uint64_t n = 1, last = (uint64_t)v->offset;
    bool bad = false;
    for (int i = 0; i < v->ndim; i++) {
        uint64_t span;
        bad |= __builtin_mul_overflow(n, (uint64_t)v->shape[i], &n) || n > (1ull << 48);
        if (v->shape[i] == 0) continue;
        bad |= __builtin_mul_overflow((uint64_t)(v->shape[i] - 1), (uint64_t)v->stride[i], &span);
        bad |= __builtin_add_overflow(last, span, &last);
    }
    if (!bad && n && last >= t->storage->nbytes / el) bad = true;
    if (bad)
        return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s reads past the end of its storage %s "
                       "(%zu bytes)", ck->label, name, t->storage->s, t->storage->nbytes);
    return WX_OK;
}

static wx_status add_tensor(wx_torch_ckpt *ck, wx_torch_value *t, const char *name, wx_err *err)
{
    wx_status s = check_extent(ck, t, name, err);
    if (s != WX_OK) return s;
    if (ck->n_tensors == ck->cap_tensors) {
        int cap = ck->cap_tensors ? 2 * ck->cap_tensors : 64;
        wx_torch_tensor *p = realloc(ck->tensors, (size_t)cap * sizeof *p);
        if (!p) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", ck->label);
        ck->tensors = p;
        ck->cap_tensors = cap;
    }
    wx_torch_tensor *e = &ck->tensors[ck->n_tensors];
    *e = *t->view;
    e->storage = t->storage->data;
    e->storage_nbytes = t->storage->nbytes;
    if (!(e->name = strdup(name))) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", ck->label);
    if (t->tensor_index < 0) t->tensor_index = ck->n_tensors;
    ck->n_tensors++;
    return WX_OK;
}

/* One level of the depth-first walk: a node, the child to visit next, its name length. */
typedef struct frame {
    wx_torch_value *v;
    int next;
    size_t name_len;
} frame;

/* The index-th child of v (NULL when there is none) and the name part it adds. */
static wx_torch_value *child(wx_torch_value *v, int index, char *part, size_t cap)
{
    part[0] = '\0';
    if (v->kind == WX_TORCH_LIST || v->kind == WX_TORCH_TUPLE) {
        if (index >= v->n) return NULL;
        snprintf(part, cap, "%d", index);
        return v->items[index];
    }
    if (v->kind == WX_TORCH_DICT) {          /* keys that are not names are skipped */
        const wx_torch_value *k = index < v->n / 2 ? v->items[2 * index] : NULL;
        if (k && k->kind == WX_TORCH_STR) snprintf(part, cap, "%s", k->s);
        else if (k && k->kind == WX_TORCH_INT) snprintf(part, cap, "%lld", (long long)k->i);
        else return NULL;
        return v->items[2 * index + 1];
    }
    if (v->kind == WX_TORCH_OBJECT)
        return index == 0 ? v->state : index == 1 ? v->extra : NULL;
    return NULL;
}

static int child_count(const wx_torch_value *v)
{
    if (v->kind == WX_TORCH_OBJECT) return 2;
    if (v->kind == WX_TORCH_DICT) return v->n / 2;
    return v->kind == WX_TORCH_LIST || v->kind == WX_TORCH_TUPLE ? v->n : 0;
}

static wx_status walk_enter(wx_torch_ckpt *ck, frame *stack, int *depth, wx_torch_value *v,
                            char *name, size_t name_len, wx_err *err)
{
    if (v->kind == WX_TORCH_TENSOR) return add_tensor(ck, v, name, err);
    if (!child_count(v) || v->on_path) return WX_OK;          /* leaf, or a cycle */
    if (*depth == MAX_DEPTH)
        return wx_fail(err, WX_ERR_FORMAT, "%s: values nested deeper than %d levels",
                       ck->label, MAX_DEPTH);
    v->on_path = true;
    stack[(*depth)++] = (frame){v, 0, name_len};
    return WX_OK;
}

/* Names every tensor under the root by its dotted path (iterative, cycles skipped). name
 * holds the current path: a frame's prefix name[0, name_len) is never overwritten while the
 * frame is on the stack, since its children only write past it. */
static wx_status walk_tensors(wx_torch_ckpt *ck, wx_err *err)
{
    frame stack[MAX_DEPTH];
    char name[MAX_NAME], part[MAX_NAME];
    int depth = 0;
    uint64_t visits = 0, max_visits = 4 * (uint64_t)ck->heap.n_nodes + 1024;
    name[0] = '\0';
    wx_status s = walk_enter(ck, stack, &depth, ck->root, name, 0, err);
    while (s == WX_OK && depth > 0) {
        frame *f = &stack[depth - 1];
        wx_torch_value *c = NULL;
        while (f->next < child_count(f->v) && !(c = child(f->v, f->next++, part, sizeof part)))
            ;
        if (!c) {
            f->v->on_path = false;
            depth--;
            continue;
        }
        if (++visits > max_visits)
            return wx_fail(err, WX_ERR_FORMAT, "%s: too many shared references", ck->label);
        size_t len = f->name_len, pl = strlen(part);
        if (pl && len + 1 + pl >= MAX_NAME)
            return wx_fail(err, WX_ERR_FORMAT, "%s: a tensor name longer than %d bytes",
                           ck->label, MAX_NAME);
        if (pl) {
            if (len) name[len++] = '.';
            memcpy(name + len, part, pl + 1);
            len += pl;
        }
        name[len] = '\0';
        s = walk_enter(ck, stack, &depth, c, name, len, err);
    }
    for (int i = 0; i < depth; i++) stack[i].v->on_path = false;
    return s;
}

/* ---- loading ---- */

static wx_status parse_image(wx_torch_ckpt *ck, wx_err *err)
{
    wx_status s;
    if (wx_zip_is_zip(ck->image, ck->size)) {
        ck->zip = true;
        s = zip_parse(ck, err);
    } else if (ck->size >= sizeof LEGACY_MAGIC &&
               memcmp(ck->image, LEGACY_MAGIC, sizeof LEGACY_MAGIC) == 0) {
        s = legacy_parse(ck, err);
    } else {
        return wx_fail(err, WX_ERR_FORMAT, "%s: not a PyTorch checkpoint (neither a zip archive "
                       "nor the legacy magic number)", ck->label);
    }
    return s != WX_OK ? s : walk_tensors(ck, err);
}

/* Takes ownership of image (malloc'd). */
static wx_status ckpt_open(uint8_t *image, size_t size, const char *label, wx_torch_ckpt **out,
                           wx_err *err)
{
    *out = NULL;
    wx_torch_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck || !(ck->label = strdup(label))) {
        free(ck);
        free(image);
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", label);
    }
    ck->image = image;
    ck->size = size;
    wx_status s = parse_image(ck, err);
    if (s != WX_OK) {
        wx_torch_free(ck);
        return s;
    }
    *out = ck;
    return WX_OK;
}

wx_status wx_torch_parse(const void *data, size_t size, const char *label,
                         wx_torch_ckpt **out, wx_err *err)
{
    *out = NULL;
    uint8_t *image = malloc(size ? size : 1);
    if (!image) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for %zu bytes", label, size);
    if (size) memcpy(image, data, size);
    return ckpt_open(image, size, label, out, err);
}

wx_status wx_torch_load(const char *path, wx_torch_ckpt **out, wx_err *err)
{
    *out = NULL;
    char *image = NULL;
    size_t size = 0;
    wx_status s = wx_read_file(path, &image, &size, err);
    if (s != WX_OK) return s;
    return ckpt_open((uint8_t *)image, size, path, out, err);
}

void wx_torch_free(wx_torch_ckpt *ck)
{
    if (!ck) return;
    for (int i = 0; i < ck->n_tensors; i++) free((char *)ck->tensors[i].name);
    free(ck->tensors);
    wx_zip_close(&ck->archive);
    wx_pk_heap_free(&ck->heap);
    free(ck->image);
    free(ck->label);
    free(ck);
}

/* ---- tensors ---- */

bool wx_torch_is_zip(const wx_torch_ckpt *ck) { return ck->zip; }
int wx_torch_count(const wx_torch_ckpt *ck) { return ck->n_tensors; }

const wx_torch_tensor *wx_torch_at(const wx_torch_ckpt *ck, int index)
{
    return index >= 0 && index < ck->n_tensors ? &ck->tensors[index] : NULL;
}

const wx_torch_tensor *wx_torch_find(const wx_torch_ckpt *ck, const char *name)
{
    for (int i = 0; i < ck->n_tensors; i++)
        if (strcmp(ck->tensors[i].name, name) == 0) return &ck->tensors[i];
    return NULL;
}

int64_t wx_torch_tensor_nelem(const wx_torch_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

static float element_f32(enum wx_torch_dtype dtype, const uint8_t *p)
{
    uint64_t u = le(p, (int)wx_torch_dtype_size(dtype));
    switch (dtype) {
    case WX_TORCH_F16: return wx_f16_to_f32((uint16_t)u);
    case WX_TORCH_BF16: return wx_bf16_to_f32((uint16_t)u);
    case WX_TORCH_F64: {          /* out of float range: infinity, as torch's .float() */
        double d;
        memcpy(&d, &u, sizeof d);
        return d > FLT_MAX ? INFINITY : d < -FLT_MAX ? -INFINITY : (float)d;
    }
    default: { uint32_t w = (uint32_t)u; float f; memcpy(&f, &w, sizeof f); return f; }
    }
}

/* Runs body for each element of the view in row-major order, with src its index in the
 * storage and dst_i its index in the output. */
#define FOR_EACH_ELEMENT(t, src, dst_i, body)                                              \
    do {                                                                                    \
        int64_t idx_[WX_TORCH_MAX_DIMS] = {0}, n_ = wx_torch_tensor_nelem(t);               \
        int64_t src = (t)->offset;                                                          \
        for (int64_t dst_i = 0; dst_i < n_; dst_i++) {                                      \
            body;                                                                           \
            for (int d_ = (t)->ndim - 1; d_ >= 0; d_--) {                                   \
                src += (t)->stride[d_];                                                     \
                if (++idx_[d_] < (t)->shape[d_]) break;                                     \
                src -= (t)->stride[d_] * (t)->shape[d_];                                    \
                idx_[d_] = 0;                                                               \
            }                                                                               \
        }                                                                                   \
    } while (0)

bool wx_torch_tensor_contiguous(const wx_torch_tensor *t)
{
    int64_t step = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != step) return false;
        step *= t->shape[d];
    }
    return true;
}

/* Storage bytes are little-endian, as the x86-64 and arm64 hosts we build for. */
wx_status wx_torch_tensor_f32(const wx_torch_tensor *t, float *dst, wx_err *err)
{
    if (t->dtype > WX_TORCH_F64)
        return wx_fail(err, WX_ERR_UNSUPPORTED, "weights: tensor %s has dtype %s, not a float "
                       "type", t->name, wx_torch_dtype_name(t->dtype));
    size_t el = wx_torch_dtype_size(t->dtype);
    if (t->dtype == WX_TORCH_F32 && wx_torch_tensor_contiguous(t)) {
        memcpy(dst, t->storage + (size_t)t->offset * el, (size_t)wx_torch_tensor_nelem(t) * el);
        return WX_OK;
    }
    FOR_EACH_ELEMENT(t, src, i, dst[i] = element_f32(t->dtype, t->storage + (size_t)src * el));
    return WX_OK;
}

void wx_torch_tensor_raw(const wx_torch_tensor *t, void *dst)
{
    size_t el = wx_torch_dtype_size(t->dtype);
    uint8_t *out = dst;
    if (wx_torch_tensor_contiguous(t)) {
        memcpy(out, t->storage + (size_t)t->offset * el, (size_t)wx_torch_tensor_nelem(t) * el);
        return;
    }
    FOR_EACH_ELEMENT(t, src, i, memcpy(out + (size_t)i * el, t->storage + (size_t)src * el, el));
}

wx_status wx_torch_read_f32(const wx_torch_ckpt *ck, const char *name, int ndim,
                            const int64_t *shape, float *dst, wx_err *err)
{
    const wx_torch_tensor *t = wx_torch_find(ck, name);
    if (!t) return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s is missing", ck->label, name);
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char want[128] = "", got[128] = "";
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), " %lld", (long long)shape[i]);
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), " %lld", (long long)t->shape[i]);
        return wx_fail(err, WX_ERR_FORMAT, "%s: tensor %s has shape [%s ] where [%s ] is "
                       "expected", ck->label, name, got, want);
    }
    wx_status s = wx_torch_tensor_f32(t, dst, err);
    if (s != WX_OK)
        return wx_fail(err, s, "%s: tensor %s has dtype %s, not a float type", ck->label, name,
                       wx_torch_dtype_name(t->dtype));
    return WX_OK;
}

/* ---- values ---- */

const wx_torch_value *wx_torch_root(const wx_torch_ckpt *ck) { return ck->root; }

const wx_torch_value *wx_torch_get(const wx_torch_ckpt *ck, const char *path)
{
    return wx_torch_value_get(ck->root, path);
}

/* Does `part` (a dict key or list index) start path, followed by '.' or the end? */
static const char *match_part(const char *path, const char *part, size_t len)
{
    if (strncmp(path, part, len) != 0 || (path[len] != '\0' && path[len] != '.')) return NULL;
    return path[len] == '.' ? path + len + 1 : path + len;
}

static const wx_torch_value *get_at(const wx_torch_value *v, const char *path, int depth)
{
    if (!v || depth > MAX_DEPTH) return NULL;
    if (*path == '\0') return v;
    char part[32];
    const char *rest;
    switch (v->kind) {
    case WX_TORCH_DICT:
        for (int i = 0; i < v->n / 2; i++) {
            const wx_torch_value *k = v->items[2 * i], *r;
            if (k->kind == WX_TORCH_STR) rest = match_part(path, k->s, k->len);
            else if (k->kind == WX_TORCH_INT) {
                snprintf(part, sizeof part, "%lld", (long long)k->i);
                rest = match_part(path, part, strlen(part));
            } else continue;
            if (rest && (r = get_at(v->items[2 * i + 1], rest, depth + 1))) return r;
        }
        return NULL;
    case WX_TORCH_LIST:
    case WX_TORCH_TUPLE:
        for (int i = 0; i < v->n; i++) {
            snprintf(part, sizeof part, "%d", i);
            if ((rest = match_part(path, part, strlen(part))))
                return get_at(v->items[i], rest, depth + 1);
        }
        return NULL;
    case WX_TORCH_OBJECT: {
        const wx_torch_value *r = get_at(v->state, path, depth + 1);
        return r ? r : get_at(v->extra, path, depth + 1);
    }
    default:
        return NULL;
    }
}

const wx_torch_value *wx_torch_value_get(const wx_torch_value *v, const char *path)
{
    return get_at(v, path, 0);
}

enum wx_torch_kind wx_torch_value_kind(const wx_torch_value *v)
{
    return v ? v->kind : WX_TORCH_NONE;
}

bool wx_torch_value_int(const wx_torch_value *v, int64_t *out)
{
    if (!v || v->kind != WX_TORCH_INT) return false;
    *out = v->i;
    return true;
}

bool wx_torch_value_double(const wx_torch_value *v, double *out)
{
    if (!v) return false;
    if (v->kind == WX_TORCH_FLOAT) *out = v->f;
    else if (v->kind == WX_TORCH_INT) *out = (double)v->i;
    else if (v->kind == WX_TORCH_BOOL_VALUE) *out = v->b;
    else return false;
    return true;
}

bool wx_torch_value_bool(const wx_torch_value *v, bool *out)
{
    if (!v || v->kind != WX_TORCH_BOOL_VALUE) return false;
    *out = v->b;
    return true;
}

const char *wx_torch_value_str(const wx_torch_value *v, size_t *len)
{
    bool has = v && (v->kind == WX_TORCH_STR || v->kind == WX_TORCH_BYTES ||
               v->kind == WX_TORCH_OBJECT || v->kind == WX_TORCH_GLOBAL);
    if (len) *len = has ? v->len : 0;
    return has ? v->s : NULL;
}

int wx_torch_value_len(const wx_torch_value *v)
{
    if (!v) return 0;
    if (v->kind == WX_TORCH_DICT) return v->n / 2;
    return v->kind == WX_TORCH_TUPLE || v->kind == WX_TORCH_LIST ? v->n : 0;
}

const wx_torch_value *wx_torch_value_item(const wx_torch_value *v, int index)
{
    if (index < 0 || index >= wx_torch_value_len(v)) return NULL;
    return v->kind == WX_TORCH_DICT ? v->items[2 * index + 1] : v->items[index];
}

const wx_torch_value *wx_torch_value_key(const wx_torch_value *v, int index)
{
    if (!v || v->kind != WX_TORCH_DICT || index < 0 || index >= v->n / 2) return NULL;
    return v->items[2 * index];
}

const wx_torch_value *wx_torch_value_state(const wx_torch_value *v)
{
    return v ? v->state : NULL;
}

const wx_torch_value *wx_torch_value_args(const wx_torch_value *v)
{
    return v && v->kind == WX_TORCH_OBJECT ? v->args : NULL;
}

const wx_torch_tensor *wx_torch_value_tensor(const wx_torch_ckpt *ck, const wx_torch_value *v)
{
    return v && v->kind == WX_TORCH_TENSOR ? wx_torch_at(ck, v->tensor_index) : NULL;
}
