/* zip.h — read-only access to a zip archive held in memory (PyTorch checkpoints, wheels,
 * npz): the central directory (zip64 included) is parsed and bounds-checked, entries are
 * found by name and their bytes given stored (pointing into the image) or inflated. */
#ifndef WX_ZIP_H
#define WX_ZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/wx_base.h"

typedef struct wx_zip_entry {
    const char *name;          /* not NUL-terminated, inside the image */
    size_t name_len;
    int method;                /* 0 stored, 8 deflate */
    uint64_t csize, usize, local;
} wx_zip_entry;

typedef struct wx_zip {
    const uint8_t *image;      /* not owned; must outlive the archive */
    size_t size;
    const char *label;         /* names the file in messages; not owned */
    wx_zip_entry *entries;     /* in central-directory order */
    size_t n_entries;
    const wx_zip_entry **sorted; /* the same, sorted by name for wx_zip_find */
    uint8_t **inflated;        /* per entry: its inflated bytes once asked for, or NULL */
    uint64_t inflated_total;   /* bounded by 64 x the archive size + 64 MiB */
} wx_zip;

/* true when the image starts with a zip local file header. */
bool wx_zip_is_zip(const uint8_t *image, size_t size);
/* Reads the central directory of image[0, size); z is zeroed first. */
wx_status wx_zip_open(wx_zip *z, const uint8_t *image, size_t size, const char *label,
                      wx_err *err);
/* The entry named prefix + name; NULL if absent. */
const wx_zip_entry *wx_zip_find(const wx_zip *z, const char *prefix, const char *name);
/* The entry's uncompressed bytes (valid until wx_zip_close); a deflated entry is inflated
 * once, on the first call. */
wx_status wx_zip_data(wx_zip *z, const wx_zip_entry *e, const uint8_t **data, size_t *size,
                      wx_err *err);
void wx_zip_close(wx_zip *z);

#endif
