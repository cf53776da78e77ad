/* torch_pickle.h — the unpickler behind torch_ckpt.c (internal to src/io/): a bounded,
 * recursion-free VM for the pickle subset (protocols 2-5) that torch.save writes, building a
 * tree of wx_torch_value nodes. Nothing is ever called: tensors and storages are records,
 * opaque classes keep their arguments and state, and globals outside the whitelist fail. */
#ifndef WX_TORCH_PICKLE_H
#define WX_TORCH_PICKLE_H

#include "torch_ckpt.h"

/* What a GLOBAL means when it is called (REDUCE / NEWOBJ). */
enum wx_pk_role {
    PK_OPAQUE,           /* a class of a known library: calling it gives an OBJECT */
    PK_REBUILD_TENSOR,   /* torch._utils._rebuild_tensor(_v2) */
    PK_REBUILD_PARAM,    /* torch._utils._rebuild_parameter(_with_state) */
    PK_STORAGE_CLASS,    /* torch.FloatStorage and friends (dtype in the node) */
    PK_DICT_CLASS,       /* collections.OrderedDict / defaultdict: an empty DICT */
    PK_SIZE,             /* torch.Size(tuple): the tuple */
    PK_SET,              /* builtins set / frozenset (iterable): a LIST */
};

struct wx_torch_value {
    enum wx_torch_kind kind;
    bool b;                          /* BOOL */
    int64_t i;                       /* INT */
    double f;                        /* FLOAT */
    char *s;                         /* STR/BYTES data (NUL-terminated); OBJECT/GLOBAL class
                                      * "module.name"; STORAGE key */
    size_t len;
    struct wx_torch_value **items;   /* TUPLE/LIST: n items; DICT: n/2 pairs, key then value */
    int n, cap;
    struct wx_torch_value *state;    /* what BUILD gave it */
    struct wx_torch_value *args;     /* OBJECT: the arguments it was created with */
    struct wx_torch_value *extra;    /* OBJECT: items given by SETITEM(S) / APPEND(S) */
    enum wx_pk_role role;            /* GLOBAL */
    enum wx_torch_dtype dtype;       /* GLOBAL of a storage class, STORAGE */
    /* STORAGE: numel elements starting view_offset elements into the storage `key`;
     * data/nbytes filled by the checkpoint layer. */
    int64_t numel, view_offset;
    const uint8_t *data;
    size_t nbytes;
    /* TENSOR: its STORAGE node and its view (shape, stride, offset; allocated apart to keep
     * the other nodes small) */
    struct wx_torch_value *storage;
    wx_torch_tensor *view;
    int tensor_index;                /* its first entry in the checkpoint's table, or -1 */
    bool on_path;                    /* walk bookkeeping (cycle detection) */
    struct wx_torch_value *next;     /* every node of a heap, newest first */
};

/* Owns every node made by the pickles of one checkpoint. */
typedef struct wx_pk_heap {
    struct wx_torch_value *nodes;
    size_t n_nodes;
} wx_pk_heap;

/* Runs the pickle at data[0, size) and returns its value in *out and the bytes it used in
 * *used (the legacy layout chains several pickles). label names the file in messages. */
wx_status wx_pk_load(wx_pk_heap *heap, const uint8_t *data, size_t size, const char *label,
                     wx_torch_value **out, size_t *used, wx_err *err);
void wx_pk_heap_free(wx_pk_heap *heap);

#endif
