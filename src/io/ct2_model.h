/* ct2_model.h — native reader for CTranslate2 model directories as faster-whisper ships
 * them: model.bin (binary format versions 1–6) and config.json (the vocabulary files are
 * the tokenizer's).
 * Variables are indexed by name (aliases resolved); every size is checked against the file
 * length, so a truncated or corrupted file is an error naming the file, never a crash. */
#ifndef WX_CT2_MODEL_H
#define WX_CT2_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/wx_base.h"

/* CTranslate2's DataType numbering, as written in model.bin. */
enum wx_ct2_dtype {
    WX_CT2_FLOAT32 = 0,
    WX_CT2_INT8 = 1,
    WX_CT2_INT16 = 2,
    WX_CT2_INT32 = 3,
    WX_CT2_FLOAT16 = 4,
    WX_CT2_BFLOAT16 = 5,
};

typedef struct wx_ct2_var {
    const char *name;
    int rank;                 /* 0 for scalars */
    int64_t dims[8];
    enum wx_ct2_dtype dtype;
    const void *data;         /* nbytes long, owned by the model, 64-byte aligned */
    size_t nbytes;
} wx_ct2_var;

typedef struct wx_ct2_model wx_ct2_model;

/* Loads <dir>/model.bin (mapped read-only, copied once) and <dir>/config.json; both must
 * exist. Errors name the file and the problem. */
wx_status wx_ct2_model_load(const char *dir, wx_ct2_model **out, wx_err *err);
/* Parses a model.bin image already in memory (copied; the fuzz target's entry point). */
wx_status wx_ct2_model_parse(const void *data, size_t size, const char *label,
                             wx_ct2_model **out, wx_err *err);
void wx_ct2_model_free(wx_ct2_model *model);

const char *wx_ct2_model_spec(const wx_ct2_model *model);     /* e.g. "WhisperSpec" */
int wx_ct2_model_binary_version(const wx_ct2_model *model);
int wx_ct2_model_spec_revision(const wx_ct2_model *model);
int wx_ct2_model_var_count(const wx_ct2_model *model);
const wx_ct2_var *wx_ct2_model_var_at(const wx_ct2_model *model, int index);

/* The variable with this name, following aliases; NULL if absent. */
const wx_ct2_var *wx_ct2_model_find(const wx_ct2_model *model, const char *name);

/* Number of elements of a variable (1 for scalars). */
int64_t wx_ct2_var_nelem(const wx_ct2_var *var);

/* Reads a variable as float32 into dst (nelem floats): float32/float16/bfloat16 converted,
 * int8 dequantized with the per-row scale variable "<name>_scale" (CTranslate2's layout:
 * one scale per output row, value = q / scale; an int8 "...weight" without it is an error),
 * int16 dequantized the same way when it has a scale (CTranslate2 writes one global scale),
 * otherwise int8/int16/int32 cast. */
wx_status wx_ct2_model_read_f32(const wx_ct2_model *model, const char *name, float *dst,
                                int64_t nelem, wx_err *err);
/* Reads an integer scalar (int8/int16/int32/float32 stored); returns `fallback` if absent. */
int64_t wx_ct2_model_scalar_int(const wx_ct2_model *model, const char *name, int64_t fallback);

/* config.json fields (empty arrays when absent). */
typedef struct wx_ct2_config {
    int32_t *suppress_ids; int n_suppress_ids;
    int32_t *suppress_ids_begin; int n_suppress_ids_begin;
    int32_t *lang_ids; int n_lang_ids;
    int32_t (*alignment_heads)[2]; int n_alignment_heads;   /* (layer, head) pairs */
} wx_ct2_config;
const wx_ct2_config *wx_ct2_model_config(const wx_ct2_model *model);

#endif
