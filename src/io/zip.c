/* zip.c — zip archive reader over an image in memory: end-of-central-directory search,
 * zip64 records, central entries checked against the image, local headers resolved on
 * access, deflate through zlib with the output size bounded by deflate's maximum ratio. */
#include "zip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DEFLATE_MAX_RATIO 1032 /* deflate cannot expand by more */
/* Inflated bytes of one archive at most: weights barely compress, so a larger expansion is
 * a zip bomb. */
#define INFLATE_MAX_FACTOR 64
#define INFLATED_BUDGET(size) ((uint64_t)(size) * INFLATE_MAX_FACTOR + (64u << 20))

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

bool wx_zip_is_zip(const uint8_t *image, size_t size)
{
    return size >= 4 && le(image, 4) == 0x04034b50;
}

/* Finds the end-of-central-directory record and returns the directory's offset, size and
 * entry count, following the zip64 records when the classic fields overflow. */
static wx_status zip_directory(const wx_zip *z, uint64_t *offset, uint64_t *size,
                               uint64_t *count, wx_err *err)
{
    const uint8_t *img = z->image;
    size_t lo = z->size > 22 + 65535 ? z->size - 22 - 65535 : 0;
    size_t at = z->size >= 22 ? z->size - 22 + 1 : 0;
    while (at-- > lo)
        if (le(img + at, 4) == 0x06054b50) break;
    if (z->size < 22 || at == (size_t)-1 || at < lo)
        return wx_fail(err, WX_ERR_FORMAT, "%s: truncated zip archive (no end of central "
                       "directory record)", z->label);
    *count = le(img + at + 10, 2);
    *size = le(img + at + 12, 4);
    *offset = le(img + at + 16, 4);
    if (*count == 0xffff || *size == 0xffffffff || *offset == 0xffffffff) {
        if (at < 20 || le(img + at - 20, 4) != 0x07064b50)
            return wx_fail(err, WX_ERR_FORMAT, "%s: zip64 locator missing", z->label);
        uint64_t rec = le(img + at - 20 + 8, 8);
        if (z->size < 56 || rec > z->size - 56 || le(img + rec, 4) != 0x06064b50)
            return wx_fail(err, WX_ERR_FORMAT, "%s: zip64 end record missing", z->label);
        *count = le(img + rec + 32, 8);
        *size = le(img + rec + 40, 8);
        *offset = le(img + rec + 48, 8);
    }
    if (*offset > z->size || *size > z->size - *offset || *count > *size / 46 + 1)
        return wx_fail(err, WX_ERR_FORMAT, "%s: truncated zip central directory", z->label);
    return WX_OK;
}

/* Reads the zip64 extra field of a central entry for the fields that overflowed. */
static void zip64_extra(const uint8_t *extra, size_t len, wx_zip_entry *e)
{
    for (size_t at = 0; at + 4 <= len;) {
        size_t id = le(extra + at, 2), n = le(extra + at + 2, 2);
        if (at + 4 + n > len) return;
        if (id == 1) {
            const uint8_t *p = extra + at + 4, *end = p + n;
            if (e->usize == 0xffffffff && p + 8 <= end) e->usize = le(p, 8), p += 8;
            if (e->csize == 0xffffffff && p + 8 <= end) e->csize = le(p, 8), p += 8;
            if (e->local == 0xffffffff && p + 8 <= end) e->local = le(p, 8);
            return;
        }
        at += 4 + n;
    }
}

/* Compares s[0, sl) with the concatenation a[0, al) b[0, bl), bytewise. */
static int cmp_parts(const char *s, size_t sl, const char *a, size_t al, const char *b,
                     size_t bl)
{
    int c = memcmp(s, a, sl < al ? sl : al);
    if (c || sl < al) return c ? c : -1;
    s += al, sl -= al;
    c = memcmp(s, b, sl < bl ? sl : bl);
    return c ? c : (sl > bl) - (sl < bl);
}

static int by_name(const void *x, const void *y)
{
    const wx_zip_entry *a = *(const wx_zip_entry *const *)x, *b = *(const wx_zip_entry *const *)y;
    return cmp_parts(a->name, a->name_len, b->name, b->name_len, "", 0);
}

wx_status wx_zip_open(wx_zip *z, const uint8_t *image, size_t size, const char *label,
                      wx_err *err)
{
    memset(z, 0, sizeof *z);
    z->image = image;
    z->size = size;
    z->label = label;
    uint64_t offset = 0, dir_size = 0, count = 0;
    wx_status s = zip_directory(z, &offset, &dir_size, &count, err);
    if (s != WX_OK) return s;
    z->entries = calloc(count ? count : 1, sizeof *z->entries);
    z->inflated = calloc(count ? count : 1, sizeof *z->inflated);
    z->sorted = calloc(count ? count : 1, sizeof *z->sorted);
    if (!z->entries || !z->inflated || !z->sorted)
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", z->label);
    const uint8_t *p = z->image + offset, *end = p + dir_size;
    for (uint64_t i = 0; i < count; i++) {
        if (end - p < 46 || le(p, 4) != 0x02014b50)
            return wx_fail(err, WX_ERR_FORMAT, "%s: truncated zip central directory",
                           z->label);
        size_t n = le(p + 28, 2), m = le(p + 30, 2), k = le(p + 32, 2);
        if ((size_t)(end - p) < 46 + n + m + k)
            return wx_fail(err, WX_ERR_FORMAT, "%s: truncated zip central directory",
                           z->label);
        wx_zip_entry *e = &z->entries[z->n_entries++];
        e->method = (int)le(p + 10, 2);
        e->csize = le(p + 20, 4);
        e->usize = le(p + 24, 4);
        e->local = le(p + 42, 4);
        e->name = (const char *)p + 46;
        e->name_len = n;
        zip64_extra(p + 46 + n, m, e);
        z->sorted[i] = e;
        p += 46 + n + m + k;
    }
    qsort(z->sorted, z->n_entries, sizeof *z->sorted, by_name);
    return WX_OK;
}

const wx_zip_entry *wx_zip_find(const wx_zip *z, const char *prefix, const char *name)
{
    size_t lo = 0, hi = z->n_entries, pl = strlen(prefix), nl = strlen(name);
    while (lo < hi) {                      /* binary search of the name-sorted index */
        size_t mid = lo + (hi - lo) / 2;
        const wx_zip_entry *e = z->sorted[mid];
        int c = cmp_parts(e->name, e->name_len, prefix, pl, name, nl);
        if (c == 0) return e;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Raw-inflates csize bytes of src into exactly usize bytes of dst; false if corrupt. */
static bool inflate_raw(const uint8_t *src, uint64_t csize, uint8_t *dst, uint64_t usize)
{
    z_stream zs = {0};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return false;
    zs.next_in = (Bytef *)src;
    zs.next_out = dst;
    uint64_t in_left = csize, out_left = usize;
    int rc;
    uInt in, room;
    do {                         /* in steps of at most 4 GiB, until no progress */
        in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
        room = out_left > UINT32_MAX ? UINT32_MAX : (uInt)out_left;
        zs.avail_in = in;
        zs.avail_out = room;
        rc = inflate(&zs, Z_NO_FLUSH);
        in_left -= in - zs.avail_in;
        out_left -= room - zs.avail_out;
    } while (rc == Z_OK && (in != zs.avail_in || room != zs.avail_out));
    inflateEnd(&zs);
    return rc == Z_STREAM_END && out_left == 0;
}

static wx_status inflate_entry(wx_zip *z, const wx_zip_entry *e, const uint8_t *src,
                               const uint8_t **out, wx_err *err)
{
    size_t index = (size_t)(e - z->entries);
    if (z->inflated[index]) {
        *out = z->inflated[index];
        return WX_OK;
    }
    if (e->usize > e->csize * DEFLATE_MAX_RATIO + 64 || e->usize > SIZE_MAX / 2)
        return wx_fail(err, WX_ERR_FORMAT, "%s: zip entry %.*s: impossible sizes", z->label,
                       (int)e->name_len, e->name);
    if (e->usize > INFLATED_BUDGET(z->size) - z->inflated_total)
        return wx_fail(err, WX_ERR_FORMAT, "%s: zip entry %.*s: deflated entries expand to more "
                       "than %d times the archive (a zip bomb?)", z->label, (int)e->name_len,
                       e->name, INFLATE_MAX_FACTOR);
    uint8_t *buf = malloc(e->usize ? e->usize : 1);
    if (!buf) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", z->label);
    if (!inflate_raw(src, e->csize, buf, e->usize)) {
        free(buf);
        return wx_fail(err, WX_ERR_FORMAT, "%s: zip entry %.*s: corrupt deflate data",
                       z->label, (int)e->name_len, e->name);
    }
    z->inflated[index] = buf;
    z->inflated_total += e->usize;
    *out = buf;
    return WX_OK;
}

wx_status wx_zip_data(wx_zip *z, const wx_zip_entry *e, const uint8_t **data,
                          size_t *size, wx_err *err)
{
    if (e->local > z->size || z->size - e->local < 30 ||
        le(z->image + e->local, 4) != 0x04034b50)
        return wx_fail(err, WX_ERR_FORMAT, "%s: zip entry %.*s: local header missing "
                       "(truncated file?)", z->label, (int)e->name_len, e->name);
    uint64_t start = e->local + 30 + le(z->image + e->local + 26, 2) +
                     le(z->image + e->local + 28, 2);
    if (start > z->size || e->csize > z->size - start)
        return wx_fail(err, WX_ERR_FORMAT, "%s: zip entry %.*s runs past the end of the file "
                       "(truncated?)", z->label, (int)e->name_len, e->name);
    const uint8_t *src = z->image + start;
    *size = (size_t)e->usize;
    if (e->method == 0) {
        if (e->csize != e->usize)
            return wx_fail(err, WX_ERR_FORMAT, "%s: zip entry %.*s: stored with two sizes",
                           z->label, (int)e->name_len, e->name);
        *data = src;
        return WX_OK;
    }
    if (e->method == 8) return inflate_entry(z, e, src, data, err);
    return wx_fail(err, WX_ERR_UNSUPPORTED, "%s: zip entry %.*s: compression method %d is not "
                   "supported (stored and deflate are)", z->label, (int)e->name_len, e->name,
                   e->method);
}

void wx_zip_close(wx_zip *z)
{
    for (size_t i = 0; z->inflated && i < z->n_entries; i++) free(z->inflated[i]);
    free(z->inflated);
    free(z->entries);
    free(z->sorted);
    memset(z, 0, sizeof *z);
}
