/* torch_ckpt.h — reader for PyTorch checkpoints as torch.save writes them: the zip archive of
 * torch >= 1.6 (<name>/data.pkl + <name>/data/<key> storages) and the legacy layout (magic
 * number, protocol, sys_info and main pickles, storage keys, then each storage as an int64
 * element count and raw bytes). The pickles are read by a small unpickler that builds values
 * and never calls anything: only torch's tensor and storage rebuilders, OrderedDict and a few
 * containers have meaning; classes of known model libraries (pyannote, omegaconf, Lightning)
 * become opaque objects that keep their arguments and state; any other global is refused.
 * Tensors found anywhere under the root are named by their dotted path ("state_dict.conv.
 * weight", a list element by its index); plain values (ints, floats, strings, bools, None,
 * lists, tuples, dicts) can be looked up the same way, e.g. hyper-parameters. A truncated,
 * corrupted or foreign file is an error naming the file, never a crash. */
#ifndef WX_TORCH_CKPT_H
#define WX_TORCH_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/wx_base.h"

#define WX_TORCH_MAX_DIMS 8

enum wx_torch_dtype {
    WX_TORCH_F32, WX_TORCH_F16, WX_TORCH_BF16, WX_TORCH_F64,   /* readable as float32 */
    WX_TORCH_I64, WX_TORCH_I32, WX_TORCH_I16, WX_TORCH_I8, WX_TORCH_U8, WX_TORCH_BOOL,
};

typedef struct wx_torch_tensor {
    const char *name;                     /* dotted path from the root */
    enum wx_torch_dtype dtype;
    int ndim;                             /* 0 for scalars */
    int64_t shape[WX_TORCH_MAX_DIMS];
    int64_t stride[WX_TORCH_MAX_DIMS];    /* in elements */
    int64_t offset;                       /* storage offset, in elements */
    const uint8_t *storage;               /* the storage's little-endian bytes */
    size_t storage_nbytes;                /* every element the view reads lies inside */
} wx_torch_tensor;

/* Kinds of pickled values. OBJECT: an instance of an opaque class (its state is what BUILD
 * gave it); GLOBAL: a class or function referenced by name, never resolved. */
enum wx_torch_kind {
    WX_TORCH_NONE, WX_TORCH_BOOL_VALUE, WX_TORCH_INT, WX_TORCH_FLOAT, WX_TORCH_STR,
    WX_TORCH_BYTES, WX_TORCH_TUPLE, WX_TORCH_LIST, WX_TORCH_DICT, WX_TORCH_TENSOR,
    WX_TORCH_OBJECT, WX_TORCH_GLOBAL, WX_TORCH_STORAGE,
};

typedef struct wx_torch_ckpt wx_torch_ckpt;
typedef struct wx_torch_value wx_torch_value;

/* Reads and validates a checkpoint file of either layout. */
wx_status wx_torch_load(const char *path, wx_torch_ckpt **out, wx_err *err);
/* Validates an image already in memory (copied; label names it in messages). */
wx_status wx_torch_parse(const void *data, size_t size, const char *label,
                         wx_torch_ckpt **out, wx_err *err);
void wx_torch_free(wx_torch_ckpt *ck);

/* true for the zip layout, false for the legacy one. */
bool wx_torch_is_zip(const wx_torch_ckpt *ck);

int wx_torch_count(const wx_torch_ckpt *ck);
const wx_torch_tensor *wx_torch_at(const wx_torch_ckpt *ck, int index);
/* The tensor with this dotted name; NULL if absent. */
const wx_torch_tensor *wx_torch_find(const wx_torch_ckpt *ck, const char *name);

int64_t wx_torch_tensor_nelem(const wx_torch_tensor *t);
/* true when the view is row-major without gaps (strides of size-1 dimensions ignored). */
bool wx_torch_tensor_contiguous(const wx_torch_tensor *t);
/* Copies the tensor's elements in row-major order, following its strides, as float32
 * (F32/F16/BF16/F64). */
wx_status wx_torch_tensor_f32(const wx_torch_tensor *t, float *dst, wx_err *err);
/* Copies the elements in row-major order in their own dtype (little-endian), any dtype. */
void wx_torch_tensor_raw(const wx_torch_tensor *t, void *dst);
size_t wx_torch_dtype_size(enum wx_torch_dtype dtype);
const char *wx_torch_dtype_name(enum wx_torch_dtype dtype);

/* Copies tensor `name` as float32 into dst, after checking that it exists, has a float dtype
 * and exactly the shape (ndim, shape) the caller expects. */
wx_status wx_torch_read_f32(const wx_torch_ckpt *ck, const char *name, int ndim,
                            const int64_t *shape, float *dst, wx_err *err);

/* Values: the unpickled root, and the value at a dotted path ("hyper_parameters.lstm.
 * num_layers", "specifications.classes.0"); opaque objects are looked through to their
 * state. NULL if absent. Every accessor below takes NULL as an absent value and answers
 * false, 0 or NULL (kind: WX_TORCH_NONE), so lookups chain:
 * wx_torch_value_int(wx_torch_get(ck, "hyper_parameters.sample_rate"), &rate). */
const wx_torch_value *wx_torch_root(const wx_torch_ckpt *ck);
const wx_torch_value *wx_torch_get(const wx_torch_ckpt *ck, const char *path);
const wx_torch_value *wx_torch_value_get(const wx_torch_value *v, const char *path);

enum wx_torch_kind wx_torch_value_kind(const wx_torch_value *v);
/* Scalars: false when v is not of that kind (an INT or BOOL also reads as a double). */
bool wx_torch_value_int(const wx_torch_value *v, int64_t *out);
bool wx_torch_value_double(const wx_torch_value *v, double *out);
bool wx_torch_value_bool(const wx_torch_value *v, bool *out);
/* STR (NUL-terminated) and BYTES; the class "module.name" of an OBJECT or GLOBAL. */
const char *wx_torch_value_str(const wx_torch_value *v, size_t *len);
/* Containers: number of elements (dict pairs) of a TUPLE, LIST or DICT, else 0. */
int wx_torch_value_len(const wx_torch_value *v);
const wx_torch_value *wx_torch_value_item(const wx_torch_value *v, int index);
/* A DICT's index-th key. */
const wx_torch_value *wx_torch_value_key(const wx_torch_value *v, int index);
/* The state BUILD gave a value (an OBJECT's attributes, an OrderedDict's _metadata). */
const wx_torch_value *wx_torch_value_state(const wx_torch_value *v);
/* The argument TUPLE an OBJECT was created with (an enum member's value, a version string). */
const wx_torch_value *wx_torch_value_args(const wx_torch_value *v);
/* The tensor of a TENSOR value (under its first name). */
const wx_torch_tensor *wx_torch_value_tensor(const wx_torch_ckpt *ck, const wx_torch_value *v);

#endif
