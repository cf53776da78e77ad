/* torch_pickle.c — the unpickler of PyTorch checkpoints: one loop over opcodes with an
 * explicit stack, mark stack and memo, every length checked against the input, node count
 * bounded. Globals are resolved against a whitelist and only ever recorded, never called. */
#include "torch_pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NODES (1u << 20)      /* a state dict uses ~12 nodes per tensor */
#define MAX_ITEMS (1 << 26)       /* elements of one container */

typedef struct vm {
    wx_pk_heap *heap;
    const uint8_t *base, *p, *end;
    const char *label;
    wx_err *err;
    wx_torch_value **stack;
    size_t sp, stack_cap;
    size_t *marks;
    size_t n_marks, marks_cap;
    wx_torch_value **memo;
    size_t memo_cap, memo_len;             /* memo_len: highest index put + 1 */
} vm;

static wx_status vm_fail(vm *m, const char *what)
{
    return wx_fail(m->err, WX_ERR_FORMAT, "%s: pickle at byte %zu: %s", m->label,
                   (size_t)(m->p - m->base), what);
}

static wx_status vm_nomem(vm *m)
{
    return wx_fail(m->err, WX_ERR_NOMEM, "%s: out of memory while unpickling", m->label);
}

static wx_torch_value *node_new(vm *m, enum wx_torch_kind kind)
{
    if (m->heap->n_nodes >= MAX_NODES) return NULL;
    wx_torch_value *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = kind;
    v->tensor_index = -1;
    v->next = m->heap->nodes;
    m->heap->nodes = v;
    m->heap->n_nodes++;
    return v;
}

void wx_pk_heap_free(wx_pk_heap *heap)
{
    wx_torch_value *v = heap->nodes;
    while (v) {
        wx_torch_value *next = v->next;
        free(v->items);
        free(v->s);
        free(v->view);
        free(v);
        v = next;
    }
    heap->nodes = NULL;
    heap->n_nodes = 0;
}

/* Grows an array of `size`-byte elements to hold `need`; false when out of memory. */
static bool grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return true;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *p = realloc(*arr, c * size);
    if (!p) return false;
    *arr = p;
    *cap = c;
    return true;
}

/* A new node in *out, or the reason there is none. */
static wx_status make(vm *m, enum wx_torch_kind kind, wx_torch_value **out)
{
    *out = node_new(m, kind);
    if (*out) return WX_OK;
    return m->heap->n_nodes >= MAX_NODES ? vm_fail(m, "too many values") : vm_nomem(m);
}

static wx_status push(vm *m, wx_torch_value *v)
{
    if (!grow((void **)&m->stack, &m->stack_cap, m->sp + 1, sizeof *m->stack)) return vm_nomem(m);
    m->stack[m->sp++] = v;
    return WX_OK;
}

/* Pops into *v; fails on an empty stack or one that would cross the innermost mark. */
static wx_status pop(vm *m, wx_torch_value **v)
{
    size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (m->sp <= floor) return vm_fail(m, "stack underflow");
    *v = m->stack[--m->sp];
    return WX_OK;
}

static wx_status top(vm *m, wx_torch_value **v)
{
    size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (m->sp <= floor) return vm_fail(m, "stack underflow");
    *v = m->stack[m->sp - 1];
    return WX_OK;
}

/* Pops the innermost mark; *first is the stack index of the first item above it. */
static wx_status pop_mark(vm *m, size_t *first)
{
    if (!m->n_marks) return vm_fail(m, "no MARK before a MARK-consuming opcode");
    *first = m->marks[--m->n_marks];
    return WX_OK;
}

static wx_status take(vm *m, size_t n, const uint8_t **out)
{
    if ((size_t)(m->end - m->p) < n) return vm_fail(m, "truncated");
    *out = m->p;
    m->p += n;
    return WX_OK;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static wx_status append_item(vm *m, wx_torch_value *c, wx_torch_value *v)
{
    if (c->n >= MAX_ITEMS) return vm_fail(m, "container too large");
    size_t cap = (size_t)c->cap;
    if (!grow((void **)&c->items, &cap, (size_t)c->n + 1, sizeof *c->items)) return vm_nomem(m);
    c->cap = (int)cap;
    c->items[c->n++] = v;
    return WX_OK;
}

/* A container made of the stack items [first, sp), which are removed. */
static wx_status make_seq(vm *m, enum wx_torch_kind kind, size_t first, wx_torch_value **out)
{
    wx_torch_value *c;
    wx_status s = make(m, kind, &c);
    if (s != WX_OK) return s;
    for (size_t i = first; i < m->sp; i++)
        if ((s = append_item(m, c, m->stack[i])) != WX_OK) return s;
    m->sp = first;
    *out = c;
    return WX_OK;
}

static wx_status push_string(vm *m, enum wx_torch_kind kind, size_t len_bytes)
{
    const uint8_t *p = NULL;
    wx_status s = take(m, len_bytes, &p);
    if (s != WX_OK) return s;
    uint64_t n = le(p, (int)len_bytes);
    if (n > (uint64_t)(m->end - m->p)) return vm_fail(m, "string runs past the end (truncated)");
    wx_torch_value *v;
    if ((s = make(m, kind, &v)) != WX_OK) return s;
    if (!(v->s = malloc((size_t)n + 1))) return vm_nomem(m);
    memcpy(v->s, m->p, (size_t)n);
    v->s[n] = '\0';
    v->len = (size_t)n;
    m->p += n;
    return push(m, v);
}

static wx_status push_int(vm *m, int64_t i)
{
    wx_torch_value *v;
    wx_status s = make(m, WX_TORCH_INT, &v);
    if (s != WX_OK) return s;
    v->i = i;
    return push(m, v);
}

static wx_status push_new(vm *m, enum wx_torch_kind kind)
{
    wx_torch_value *v;
    wx_status s = make(m, kind, &v);
    return s != WX_OK ? s : push(m, v);
}

/* LONG1 / LONG4: little-endian two's complement of at most 8 bytes. */
static wx_status push_long(vm *m, size_t len_bytes)
{
    const uint8_t *p = NULL;
    wx_status s = take(m, len_bytes, &p);
    if (s != WX_OK) return s;
    uint64_t n = le(p, (int)len_bytes);
    if (n > 8) return vm_fail(m, "integer wider than 64 bits");
    if ((s = take(m, (size_t)n, &p)) != WX_OK) return s;
    uint64_t u = n ? le(p, (int)n) : 0;
    if (n && n < 8 && (p[n - 1] & 0x80)) u |= ~0ull << (8 * n);
    return push_int(m, (int64_t)u);
}

static wx_status push_float(vm *m)
{
    const uint8_t *p = NULL;
    wx_status s = take(m, 8, &p);
    if (s != WX_OK) return s;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) u = u << 8 | p[i];   /* big-endian */
    wx_torch_value *v;
    if ((s = make(m, WX_TORCH_FLOAT, &v)) != WX_OK) return s;
    memcpy(&v->f, &u, sizeof v->f);
    return push(m, v);
}

typedef struct storage_class {
    const char *name;
    enum wx_torch_dtype dtype;
} storage_class;

static const storage_class STORAGES[] = {
    {"FloatStorage", WX_TORCH_F32},  {"HalfStorage", WX_TORCH_F16},
    {"BFloat16Storage", WX_TORCH_BF16}, {"DoubleStorage", WX_TORCH_F64},
    {"LongStorage", WX_TORCH_I64},   {"IntStorage", WX_TORCH_I32},
    {"ShortStorage", WX_TORCH_I16},  {"CharStorage", WX_TORCH_I8},
    {"ByteStorage", WX_TORCH_U8},    {"BoolStorage", WX_TORCH_BOOL},
    {"UntypedStorage", WX_TORCH_U8},
};

/* Modules whose classes may appear as opaque objects: the data classes of the libraries
 * whose checkpoints we read (hyper-parameters, task specifications, version strings). */
static const char *const OPAQUE_MODULES[] = {
    "pyannote.", "omegaconf.", "typing", "torch.torch_version", "pytorch_lightning.",
    "lightning.", "lightning_fabric.", "collections", "enum", "speechbrain.",
};
/* torch values that hyper-parameters may hold: a device, a dtype. */
static const char *const TORCH_VALUES[] = {
    "device", "dtype", "float32", "float16", "bfloat16", "float64", "int64", "int32", "int16",
    "int8", "uint8", "bool",
};
/* Builtins that are plain types (never eval, getattr, __import__ and the like). */
static const char *const PLAIN_BUILTINS[] = {
    "list", "dict", "tuple", "int", "long", "float", "str", "unicode", "bool", "bytes",
    "object", "slice", "complex", "bytearray",
};

static bool has_prefix(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0) return false;
    /* "typing" and "collections" are modules, the others packages ending with '.' */
    return prefix[n - 1] == '.' || s[n] == '\0' || s[n] == '.';
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0) return true;
    return false;
}

#define COUNT(a) (sizeof (a) / sizeof *(a))

/* Sets g->role (and dtype) for module.name, or fails naming the global. */
static wx_status resolve_global(vm *m, wx_torch_value *g, const char *module, const char *name)
{
    bool builtin = strcmp(module, "builtins") == 0 || strcmp(module, "__builtin__") == 0;
    g->role = PK_OPAQUE;
    if (strcmp(module, "torch._utils") == 0 &&
        (strcmp(name, "_rebuild_tensor_v2") == 0 || strcmp(name, "_rebuild_tensor") == 0)) {
        g->role = PK_REBUILD_TENSOR;
        return WX_OK;
    }
    if (strcmp(module, "torch._utils") == 0 && (strcmp(name, "_rebuild_parameter") == 0 ||
                                              strcmp(name, "_rebuild_parameter_with_state") == 0)) {
        g->role = PK_REBUILD_PARAM;
        return WX_OK;
    }
    if (strcmp(module, "torch") == 0 && strcmp(name, "Size") == 0) {
        g->role = PK_SIZE;
        return WX_OK;
    }
    if (strcmp(module, "torch") == 0 || strcmp(module, "torch.storage") == 0) {
        for (size_t i = 0; i < COUNT(STORAGES); i++)
            if (strcmp(name, STORAGES[i].name) == 0) {
                g->role = PK_STORAGE_CLASS;
                g->dtype = STORAGES[i].dtype;
                return WX_OK;
            }
        size_t n = strlen(name);
        if (n > 7 && strcmp(name + n - 7, "Storage") == 0)
            return wx_fail(m->err, WX_ERR_UNSUPPORTED, "%s: unsupported storage type %s.%s",
                           m->label, module, name);
    }
    if (strcmp(module, "collections") == 0 &&
        (strcmp(name, "OrderedDict") == 0 || strcmp(name, "defaultdict") == 0)) {
        g->role = PK_DICT_CLASS;
        return WX_OK;
    }
    if (builtin && (strcmp(name, "set") == 0 || strcmp(name, "frozenset") == 0)) {
        g->role = PK_SET;
        return WX_OK;
    }
    if (builtin && in_list(name, PLAIN_BUILTINS, COUNT(PLAIN_BUILTINS))) return WX_OK;
    if (strcmp(module, "torch") == 0 && in_list(name, TORCH_VALUES, COUNT(TORCH_VALUES)))
        return WX_OK;
    for (size_t i = 0; i < COUNT(OPAQUE_MODULES); i++)
        if (has_prefix(module, OPAQUE_MODULES[i])) return WX_OK;
    return wx_fail(m->err, WX_ERR_FORMAT, "%s: pickle global %s.%s is not allowed (a checkpoint "
                   "holds tensors and plain data; this file may not be a PyTorch checkpoint, "
                   "or may be unsafe)", m->label, module, name);
}

static wx_status push_global(vm *m, const char *module, const char *name)
{
    size_t ml = strlen(module), nl = strlen(name);
    wx_torch_value *g;
    wx_status s = make(m, WX_TORCH_GLOBAL, &g);
    if (s != WX_OK || (s = push(m, g)) != WX_OK) return s;
    if (!(g->s = malloc(ml + nl + 2))) return vm_nomem(m);
    memcpy(g->s, module, ml);
    g->s[ml] = '.';
    memcpy(g->s + ml + 1, name, nl + 1);
    g->len = ml + nl + 1;
    return resolve_global(m, g, module, name);
}

/* GLOBAL: "module\nname\n". */
static wx_status op_global(vm *m)
{
    char module[256], name[256];
    char *fields[2] = {module, name};
    for (int f = 0; f < 2; f++) {
        const uint8_t *nl = memchr(m->p, '\n', (size_t)(m->end - m->p));
        if (!nl) return vm_fail(m, "truncated GLOBAL");
        size_t n = (size_t)(nl - m->p);
        if (n == 0 || n >= sizeof module || memchr(m->p, '\0', n))
            return vm_fail(m, "malformed GLOBAL name");
        memcpy(fields[f], m->p, n);
        fields[f][n] = '\0';
        m->p = nl + 1;
    }
    return push_global(m, module, name);
}

static wx_status op_stack_global(vm *m)
{
    wx_torch_value *module, *name;
    wx_status s;
    if ((s = pop(m, &name)) != WX_OK || (s = pop(m, &module)) != WX_OK) return s;
    if (module->kind != WX_TORCH_STR || name->kind != WX_TORCH_STR || module->len > 255 ||
        name->len > 255 || strlen(module->s) != module->len || strlen(name->s) != name->len)
        return vm_fail(m, "STACK_GLOBAL needs two short strings");
    return push_global(m, module->s, name->s);
}

static bool is_int(const wx_torch_value *v) { return v && v->kind == WX_TORCH_INT; }

/* Tensor from _rebuild_tensor(_v2)(storage, offset, size, stride, ...). */
static wx_status rebuild_tensor(vm *m, const wx_torch_value *args, wx_torch_value **out)
{
    if (args->kind != WX_TORCH_TUPLE || args->n < 4)
        return vm_fail(m, "_rebuild_tensor needs (storage, offset, size, stride, ...)");
    wx_torch_value *st = args->items[0], *off = args->items[1];
    wx_torch_value *size = args->items[2], *stride = args->items[3];
    if (st->kind != WX_TORCH_STORAGE || !is_int(off) || off->i < 0 ||
        size->kind != WX_TORCH_TUPLE || stride->kind != WX_TORCH_TUPLE ||
        size->n != stride->n || size->n > WX_TORCH_MAX_DIMS)
        return vm_fail(m, "tensor with a bad storage, offset, size or stride");
    wx_torch_value *t;
    wx_status s = make(m, WX_TORCH_TENSOR, &t);
    if (s != WX_OK) return s;
    if (!(t->view = calloc(1, sizeof *t->view))) return vm_nomem(m);
    t->storage = st;
    t->view->dtype = st->dtype;
    t->view->offset = off->i;
    t->view->ndim = size->n;
    for (int i = 0; i < size->n; i++) {
        const wx_torch_value *d = size->items[i], *k = stride->items[i];
        if (!is_int(d) || !is_int(k) || d->i < 0 || k->i < 0)
            return vm_fail(m, "tensor size and stride must be non-negative integers");
        t->view->shape[i] = d->i;
        t->view->stride[i] = k->i;
    }
    *out = t;
    return WX_OK;
}

/* Builds the value of calling `fn` with the tuple `args` (REDUCE, NEWOBJ). */
static wx_status call(vm *m, wx_torch_value *fn, wx_torch_value *args, wx_torch_value **out)
{
    if (fn->kind != WX_TORCH_GLOBAL || args->kind != WX_TORCH_TUPLE)
        return vm_fail(m, "REDUCE or NEWOBJ needs a global and an argument tuple");
    wx_torch_value *v = NULL;
    wx_status s;
    switch (fn->role) {
    case PK_REBUILD_TENSOR:
        return rebuild_tensor(m, args, out);
    case PK_REBUILD_PARAM:
        if (args->n < 1 || args->items[0]->kind != WX_TORCH_TENSOR)
            return vm_fail(m, "_rebuild_parameter needs a tensor");
        *out = args->items[0];
        return WX_OK;
    case PK_SIZE:
        if (args->n != 1 || args->items[0]->kind != WX_TORCH_TUPLE)
            return vm_fail(m, "torch.Size needs a tuple");
        *out = args->items[0];
        return WX_OK;
    case PK_DICT_CLASS:
        return make(m, WX_TORCH_DICT, out);
    case PK_SET: {
        const wx_torch_value *it = args->n == 1 ? args->items[0] : NULL;
        if ((s = make(m, WX_TORCH_LIST, &v)) != WX_OK) return s;
        if (it && (it->kind == WX_TORCH_LIST || it->kind == WX_TORCH_TUPLE))
            for (int i = 0; i < it->n; i++)
                if ((s = append_item(m, v, it->items[i])) != WX_OK) return s;
        *out = v;
        return WX_OK;
    }
    case PK_STORAGE_CLASS:
        return vm_fail(m, "storage objects are only read through persistent ids");
    case PK_OPAQUE:
        if ((s = make(m, WX_TORCH_OBJECT, &v)) != WX_OK) return s;
        if (!(v->s = strdup(fn->s))) return vm_nomem(m);
        v->len = fn->len;
        v->args = args;
        *out = v;
        return WX_OK;
    }
    return vm_fail(m, "unknown global role");
}

/* BINPERSID: ('storage', storage class, key, location, numel[, view metadata]). */
static wx_status persistent_load(vm *m, const wx_torch_value *pid, wx_torch_value **out)
{
    if (pid->kind != WX_TORCH_TUPLE || pid->n < 5 || pid->items[0]->kind != WX_TORCH_STR ||
        strcmp(pid->items[0]->s, "storage") != 0)
        return vm_fail(m, "persistent id is not a ('storage', ...) tuple");
    const wx_torch_value *cls = pid->items[1], *key = pid->items[2], *numel = pid->items[4];
    if (cls->kind != WX_TORCH_GLOBAL || cls->role != PK_STORAGE_CLASS)
        return wx_fail(m->err, WX_ERR_UNSUPPORTED, "%s: unsupported storage type %s", m->label,
                       cls->kind == WX_TORCH_GLOBAL ? cls->s : "(not a class)");
    if (key->kind != WX_TORCH_STR || !is_int(numel) || numel->i < 0)
        return vm_fail(m, "storage id with a bad key or size");
    wx_torch_value *v;
    wx_status s = make(m, WX_TORCH_STORAGE, &v);
    if (s != WX_OK) return s;
    if (!(v->s = strdup(key->s))) return vm_nomem(m);
    v->len = key->len;
    v->dtype = cls->dtype;
    v->numel = numel->i;
    const wx_torch_value *view = pid->n > 5 ? pid->items[5] : NULL;
    if (view && view->kind != WX_TORCH_NONE) {  /* legacy (view key, offset, view size) */
        if (view->kind != WX_TORCH_TUPLE || view->n != 3 || !is_int(view->items[1]) ||
            !is_int(view->items[2]) || view->items[1]->i < 0 || view->items[2]->i < 0)
            return vm_fail(m, "bad storage view metadata");
        v->view_offset = view->items[1]->i;
        v->numel = view->items[2]->i;
    }
    *out = v;
    return WX_OK;
}

/* SETITEMS / SETITEM into a dict, or into an opaque object's items. */
static wx_status set_items(vm *m, size_t first)
{
    if ((m->sp - first) % 2) return vm_fail(m, "SETITEMS with an odd number of items");
    if (first == 0 || (m->n_marks && first <= m->marks[m->n_marks - 1]))
        return vm_fail(m, "SETITEMS without a dict");
    wx_torch_value *d = m->stack[first - 1];
    wx_status s;
    if (d->kind == WX_TORCH_OBJECT) {
        if (!d->extra && (s = make(m, WX_TORCH_DICT, &d->extra)) != WX_OK) return s;
        d = d->extra;
    }
    if (d->kind != WX_TORCH_DICT) return vm_fail(m, "SETITEMS on a value that is not a dict");
    for (size_t i = first; i < m->sp; i++)
        if ((s = append_item(m, d, m->stack[i])) != WX_OK) return s;
    m->sp = first;
    return WX_OK;
}

/* APPENDS / APPEND / ADDITEMS into a list (a set is kept as a list) or an object. */
static wx_status append_items(vm *m, size_t first)
{
    if (first == 0 || (m->n_marks && first <= m->marks[m->n_marks - 1]))
        return vm_fail(m, "APPENDS without a list");
    wx_torch_value *l = m->stack[first - 1];
    wx_status s;
    if (l->kind == WX_TORCH_OBJECT) {
        if (!l->extra && (s = make(m, WX_TORCH_LIST, &l->extra)) != WX_OK) return s;
        l = l->extra;
    }
    if (l->kind != WX_TORCH_LIST) return vm_fail(m, "APPENDS on a value that is not a list");
    for (size_t i = first; i < m->sp; i++)
        if ((s = append_item(m, l, m->stack[i])) != WX_OK) return s;
    m->sp = first;
    return WX_OK;
}

static wx_status memo_put(vm *m, uint64_t index)
{
    wx_torch_value *v;
    wx_status s = top(m, &v);
    if (s != WX_OK) return s;
    /* picklers number memo entries from 0, each costing at least one opcode byte */
    if (index > (uint64_t)(m->end - m->base)) return vm_fail(m, "memo index out of range");
    size_t old = m->memo_cap;
    if (!grow((void **)&m->memo, &m->memo_cap, (size_t)index + 1, sizeof *m->memo))
        return vm_nomem(m);
    memset(m->memo + old, 0, (m->memo_cap - old) * sizeof *m->memo);
    m->memo[index] = v;
    if (index >= m->memo_len) m->memo_len = (size_t)index + 1;
    return WX_OK;
}

static wx_status memo_get(vm *m, uint64_t index)
{
    if (index >= m->memo_len || !m->memo[index]) return vm_fail(m, "memo entry missing");
    return push(m, m->memo[index]);
}

static wx_status op_mark(vm *m)
{
    if (!grow((void **)&m->marks, &m->marks_cap, m->n_marks + 1, sizeof *m->marks))
        return vm_nomem(m);
    m->marks[m->n_marks++] = m->sp;
    return WX_OK;
}

static wx_status op_tuple_n(vm *m, size_t n)
{
    size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (m->sp - floor < n) return vm_fail(m, "stack underflow");
    wx_torch_value *t;
    wx_status s = make_seq(m, WX_TORCH_TUPLE, m->sp - n, &t);
    return s != WX_OK ? s : push(m, t);
}

static wx_status op_marked(vm *m, uint8_t op)
{
    size_t first = 0;
    wx_status s = pop_mark(m, &first);
    if (s != WX_OK) return s;
    wx_torch_value *c;
    switch (op) {
    case 't': s = make_seq(m, WX_TORCH_TUPLE, first, &c); break;
    case 'l': s = make_seq(m, WX_TORCH_LIST, first, &c); break;
    case 0x91: s = make_seq(m, WX_TORCH_LIST, first, &c); break;      /* FROZENSET */
    case 'd':
        if ((m->sp - first) % 2) return vm_fail(m, "DICT with an odd number of items");
        s = make_seq(m, WX_TORCH_DICT, first, &c);
        break;
    case 'u': return set_items(m, first);
    case 'e': case 0x90: return append_items(m, first);
    default: m->sp = first; return WX_OK;                              /* POP_MARK */
    }
    return s != WX_OK ? s : push(m, c);
}

static wx_status op_two(vm *m, uint8_t op)
{
    wx_torch_value *a, *b, *r = NULL;
    wx_status s;
    if ((s = pop(m, &b)) != WX_OK || (s = pop(m, &a)) != WX_OK) return s;
    switch (op) {
    case 'R': case 0x81: s = call(m, a, b, &r); break;                 /* REDUCE, NEWOBJ */
    case 'b': a->state = b; r = a; break;                              /* BUILD */
    case 'a':                                                          /* APPEND */
        if ((s = push(m, a)) != WX_OK || (s = push(m, b)) != WX_OK) return s;
        return append_items(m, m->sp - 1);
    }
    return s != WX_OK ? s : push(m, r);
}

static wx_status op_setitem(vm *m)
{
    if (m->sp < 3) return vm_fail(m, "stack underflow");
    return set_items(m, m->sp - 2);
}

static wx_status op_newobj_ex(vm *m)
{
    wx_torch_value *cls, *args, *kwargs, *r;
    wx_status s;
    if ((s = pop(m, &kwargs)) != WX_OK || (s = pop(m, &args)) != WX_OK ||
        (s = pop(m, &cls)) != WX_OK || (s = call(m, cls, args, &r)) != WX_OK)
        return s;
    return push(m, r);
}

static wx_status op_persid(vm *m)
{
    wx_torch_value *pid = NULL, *st = NULL;
    wx_status s;
    if ((s = pop(m, &pid)) != WX_OK || (s = persistent_load(m, pid, &st)) != WX_OK) return s;
    return push(m, st);
}

static wx_status op_arg(vm *m, size_t n, uint64_t *value)
{
    const uint8_t *p = NULL;
    wx_status s = take(m, n, &p);
    if (s == WX_OK) *value = le(p, (int)n);
    return s;
}

/* Executes one opcode other than STOP. */
static wx_status step(vm *m, uint8_t op)
{
    uint64_t a = 0;
    wx_status s = WX_OK;
    switch (op) {
    case 0x80:                                                         /* PROTO */
        if ((s = op_arg(m, 1, &a)) != WX_OK) return s;
        return a >= 2 && a <= 5 ? WX_OK : vm_fail(m, "unsupported pickle protocol");
    case 0x95: return op_arg(m, 8, &a);                                 /* FRAME */
    case '(': return op_mark(m);
    case '0': { wx_torch_value *v; return pop(m, &v); }
    case '1': case 't': case 'l': case 'd': case 'u': case 'e': case 0x90: case 0x91:
        return op_marked(m, op);
    case '2': { wx_torch_value *v; return (s = top(m, &v)) != WX_OK ? s : push(m, v); }
    case '}': return push_new(m, WX_TORCH_DICT);
    case ']': case 0x8f: return push_new(m, WX_TORCH_LIST);            /* EMPTY_SET too */
    case ')': return push_new(m, WX_TORCH_TUPLE);
    case 0x85: case 0x86: case 0x87: return op_tuple_n(m, (size_t)(op - 0x84));
    case 's': return op_setitem(m);
    case 'a': case 'R': case 0x81: case 'b': return op_two(m, op);
    case 0x92: return op_newobj_ex(m);
    case 'J': return (s = op_arg(m, 4, &a)) != WX_OK ? s : push_int(m, (int32_t)(uint32_t)a);
    case 'K': return (s = op_arg(m, 1, &a)) != WX_OK ? s : push_int(m, (int64_t)a);
    case 'M': return (s = op_arg(m, 2, &a)) != WX_OK ? s : push_int(m, (int64_t)a);
    case 0x8a: return push_long(m, 1);
    case 0x8b: return push_long(m, 4);
    case 'G': return push_float(m);
    case 'X': case 'T': return push_string(m, WX_TORCH_STR, 4);
    case 0x8c: case 'U': return push_string(m, WX_TORCH_STR, 1);
    case 0x8d: return push_string(m, WX_TORCH_STR, 8);
    case 'B': return push_string(m, WX_TORCH_BYTES, 4);
    case 'C': return push_string(m, WX_TORCH_BYTES, 1);
    case 0x8e: case 0x96: return push_string(m, WX_TORCH_BYTES, 8);
    case 'N': return push_new(m, WX_TORCH_NONE);
    case 0x88: case 0x89: {
        wx_torch_value *v;
        if ((s = make(m, WX_TORCH_BOOL_VALUE, &v)) != WX_OK) return s;
        v->b = op == 0x88;
        return push(m, v);
    }
    case 'q': return (s = op_arg(m, 1, &a)) != WX_OK ? s : memo_put(m, a);
    case 'r': return (s = op_arg(m, 4, &a)) != WX_OK ? s : memo_put(m, a);
    case 0x94: return memo_put(m, m->memo_len);                        /* MEMOIZE */
    case 'h': return (s = op_arg(m, 1, &a)) != WX_OK ? s : memo_get(m, a);
    case 'j': return (s = op_arg(m, 4, &a)) != WX_OK ? s : memo_get(m, a);
    case 'c': return op_global(m);
    case 0x93: return op_stack_global(m);
    case 'Q': return op_persid(m);
    default: {
        char what[64];
        snprintf(what, sizeof what, "unsupported opcode 0x%02x", op);
        m->p--;
        return vm_fail(m, what);
    }
    }
}

wx_status wx_pk_load(wx_pk_heap *heap, const uint8_t *data, size_t size, const char *label,
                     wx_torch_value **out, size_t *used, wx_err *err)
{
    vm m = {.heap = heap, .base = data, .p = data, .end = data + size, .label = label,
            .err = err};
    wx_status s = WX_OK;
    *out = NULL;
    for (;;) {
        if (m.p >= m.end) {
            s = vm_fail(&m, "truncated (no STOP opcode)");
            break;
        }
        uint8_t op = *m.p++;
        if (op == '.') {
            if (m.sp != 1 || m.n_marks) {
                s = vm_fail(&m, "STOP with an unbalanced stack");
                break;
            }
            *out = m.stack[0];
            *used = (size_t)(m.p - m.base);
            break;
        }
        if ((s = step(&m, op)) != WX_OK) break;
    }
    free(m.stack);
    free(m.marks);
    free(m.memo);
    return s;
}
