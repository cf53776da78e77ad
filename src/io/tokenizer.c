/* tokenizer.c — Whisper's GPT-2 byte-level BPE tokenizer. Loads tokenizer.json (HF
 * `tokenizers` format: model.vocab, model.merges, added_tokens) or, for decoding only,
 * vocabulary.json / vocabulary.txt as CTranslate2 does. Encoding follows HF exactly: added
 * tokens found literally in the text are emitted as themselves, each piece between them is
 * split by the GPT-2 regex, mapped byte by byte to the bytes_to_unicode alphabet and merged
 * by rank. Decoding maps the alphabet back to bytes and replaces invalid UTF-8 with U+FFFD
 * (maximal subparts, as Rust's String::from_utf8_lossy in HF's ByteLevel decoder).
 *
 * Deviation from HF, for the model's sake: older tokenizer.json files (tiny.en's) end at
 * <|notimestamps|> while the model emits 1501 timestamp ids after it; those are appended
 * here as special tokens <|0.00|> … <|30.00|>, exactly as vocabulary.txt lists them, so
 * token_str / token_id / decode agree between both sources. Encode never produces them. */
#include "tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <assert.h>
#include <jansson.h>
#include <pcre2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_TOKEN_ID (1 << 24)
#define N_TIMESTAMPS 1501     /* <|0.00|> … <|30.00|> in 0.02 s steps */
#define N_ALPHABET 324        /* bytes_to_unicode maps bytes to code points below this */

/* GPT-2's pre-tokenizer regex. \s is spelled out as Oniguruma's (HF's engine) Unicode
 * whitespace: PCRE2's \s under UCP also matches U+180E, which HF treats as a symbol. */
#define WS "\\t-\\r\\x{85}\\p{Z}"
static const char GPT2_PATTERN[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+"
    "|[" WS "]+(?![^" WS "])|[" WS "]+";

typedef struct str_slot {  /* token string → id; id -1 marks an empty slot */
    uint32_t hash;
    int32_t id;
} str_slot;

typedef struct merge_slot {  /* (left id, right id) → rank and merged id */
    uint64_t pair;           /* UINT64_MAX marks an empty slot */
    int32_t rank;
    int32_t new_id;
} merge_slot;

struct wx_tokenizer {
    char **tokens;           /* (n_vocab) id → token string; NULL for ids the file skips */
    uint32_t *token_len;     /* (n_vocab) bytes of each token string */
    uint8_t *special;        /* (n_vocab) 1 for special tokens */
    int n_vocab;
    str_slot *index;         /* (index_mask + 1) open-addressed token string → id */
    uint32_t index_mask;
    merge_slot *merges;      /* (merge_mask + 1); NULL when the source has no merges */
    uint32_t merge_mask;
    int32_t *added;          /* (n_added) ids matched literally in text before splitting */
    int n_added;
    bool added_first[256];   /* bytes that start some added token */
    int32_t byte_id[256];    /* id of each byte's single-character token */
    char byte_char[256][3];  /* byte → UTF-8 of its alphabet character */
    int16_t char_byte[N_ALPHABET]; /* alphabet code point → byte, -1 if none */
    pcre2_code *pretok;
    char source[256];        /* the file the vocabulary came from, for messages */
    char no_encode[512];     /* why encode is unavailable; empty when it is */
};

/* ---- UTF-8 ---------------------------------------------------------------------------- */

/* Length of the UTF-8 sequence at s (n bytes left). Sets *valid; an invalid sequence's
 * length is its maximal subpart (Unicode table 3-7), at least 1, the unit that one U+FFFD
 * replaces. */
static size_t utf8_seq(const uint8_t *s, size_t n, bool *valid)
{
    uint8_t c = s[0];
    size_t need;
    uint8_t lo = 0x80, hi = 0xbf;
    *valid = true;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else {
        *valid = false;
        return 1;
    }
    for (size_t i = 1; i <= need; i++) {
        uint8_t b = i < n ? s[i] : 0;
        bool ok = i == 1 ? b >= lo && b <= hi : b >= 0x80 && b <= 0xbf;
        if (i >= n || !ok) {
            *valid = false;
            return i;
        }
    }
    return need + 1;
}

static uint32_t utf8_codepoint(const uint8_t *s, size_t len)
{
    static const uint8_t lead_mask[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    uint32_t cp = s[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++) cp = (cp << 6) | (s[i] & 0x3f);
    return cp;
}

/* Offset of the first invalid byte of s, or len when all of it is valid UTF-8. */
static size_t utf8_invalid_at(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        bool valid;
        size_t k = utf8_seq(s + i, len - i, &valid);
        if (!valid) return i;
        i += k;
    }
    return len;
}

/* ---- byte-level alphabet -------------------------------------------------------------- */

/* GPT-2 bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100 onwards in byte order. */
static void build_alphabet(wx_tokenizer *tok)
{
    int next = 256;
    for (int i = 0; i < N_ALPHABET; i++) tok->char_byte[i] = -1;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
        int cp = printable ? b : next++;
        tok->char_byte[cp] = (int16_t)b;
        char *out = tok->byte_char[b];
        if (cp < 0x80) {
            out[0] = (char)cp;
            out[1] = 0;
        } else {
            out[0] = (char)(0xc0 | (cp >> 6));
            out[1] = (char)(0x80 | (cp & 0x3f));
            out[2] = 0;
        }
    }
}

/* ---- token table and string index ----------------------------------------------------- */

static uint32_t hash_bytes(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static wx_status vocab_alloc(wx_tokenizer *tok, int n, wx_err *err)
{
    tok->tokens = calloc((size_t)n, sizeof *tok->tokens);
    tok->token_len = calloc((size_t)n, sizeof *tok->token_len);
    tok->special = calloc((size_t)n, 1);
    tok->n_vocab = n;
    if (!tok->tokens || !tok->token_len || !tok->special)
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for %d tokens", tok->source, n);
    return WX_OK;
}

static wx_status vocab_grow(wx_tokenizer *tok, int n, wx_err *err)
{
    char **tokens = realloc(tok->tokens, (size_t)n * sizeof *tokens);
    if (tokens) tok->tokens = tokens;
    uint32_t *lens = realloc(tok->token_len, (size_t)n * sizeof *lens);
    if (lens) tok->token_len = lens;
    uint8_t *special = realloc(tok->special, (size_t)n);
    if (special) tok->special = special;
    if (!tokens || !lens || !special)
        return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory for %d tokens", tok->source, n);
    for (int i = tok->n_vocab; i < n; i++) {
        tok->tokens[i] = NULL;
        tok->token_len[i] = 0;
        tok->special[i] = 0;
    }
    tok->n_vocab = n;
    return WX_OK;
}

static wx_status vocab_set(wx_tokenizer *tok, int32_t id, const char *s, size_t len, wx_err *err)
{
    if (id < 0 || id >= tok->n_vocab)
        return wx_fail(err, WX_ERR_FORMAT, "%s: token id %d out of range", tok->source, id);
    char *copy = malloc(len + 1);
    if (!copy) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", tok->source);
    memcpy(copy, s, len);
    copy[len] = 0;
    free(tok->tokens[id]);
    tok->tokens[id] = copy;
    tok->token_len[id] = (uint32_t)len;
    return WX_OK;
}

static int32_t index_find(const wx_tokenizer *tok, const char *s, size_t len)
{
    uint32_t h = hash_bytes(s, len);
    for (uint32_t i = h & tok->index_mask;; i = (i + 1) & tok->index_mask) {
        const str_slot *slot = &tok->index[i];
        if (slot->id < 0) return -1;
        if (slot->hash == h && tok->token_len[slot->id] == len &&
            memcmp(tok->tokens[slot->id], s, len) == 0)
            return slot->id;
    }
}

/* First insertion of a string wins, as in HF (added tokens first) and CTranslate2. */
static void index_insert(wx_tokenizer *tok, int32_t id)
{
    const char *s = tok->tokens[id];
    size_t len = tok->token_len[id];
    if (!s || index_find(tok, s, len) >= 0) return;
    uint32_t h = hash_bytes(s, len);
    uint32_t i = h & tok->index_mask;
    while (tok->index[i].id >= 0) i = (i + 1) & tok->index_mask;
    tok->index[i].hash = h;
    tok->index[i].id = id;
}

static wx_status index_build(wx_tokenizer *tok, wx_err *err)
{
    uint32_t cap = 16;
    while (cap < 2u * (uint32_t)tok->n_vocab) cap *= 2;
    tok->index = malloc(cap * sizeof *tok->index);
    if (!tok->index) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", tok->source);
    for (uint32_t i = 0; i < cap; i++) tok->index[i].id = -1;
    tok->index_mask = cap - 1;
    for (int i = 0; i < tok->n_added; i++) index_insert(tok, tok->added[i]);
    for (int32_t id = 0; id < tok->n_vocab; id++) index_insert(tok, id);
    return WX_OK;
}

/* ---- merges ----------------------------------------------------------------------------- */

static uint64_t pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
}

/* Fibonacci hashing: the high bits of key × 2^64/φ spread consecutive ids well. */
static uint32_t hash_pair(uint64_t key)
{
    return (uint32_t)((key * 0x9e3779b97f4a7c15ull) >> 32);
}

static const merge_slot *merge_find(const wx_tokenizer *tok, int32_t a, int32_t b)
{
    uint64_t key = pair_key(a, b);
    for (uint32_t i = hash_pair(key) & tok->merge_mask;; i = (i + 1) & tok->merge_mask) {
        const merge_slot *slot = &tok->merges[i];
        if (slot->pair == key) return slot;
        if (slot->pair == UINT64_MAX) return NULL;
    }
}

/* A repeated pair takes the later rank, as HF's HashMap collect does. */
static void merge_insert(wx_tokenizer *tok, int32_t a, int32_t b, int32_t rank, int32_t new_id)
{
    uint64_t key = pair_key(a, b);
    uint32_t i = hash_pair(key) & tok->merge_mask;
    while (tok->merges[i].pair != UINT64_MAX && tok->merges[i].pair != key)
        i = (i + 1) & tok->merge_mask;
    tok->merges[i] = (merge_slot){key, rank, new_id};
}

/* One merges entry: "left right" (older files) or ["left", "right"] (newer ones). */
static wx_status merge_parts(const wx_tokenizer *tok, json_t *entry, int rank, const char **l,
                             size_t *l_len, const char **r, size_t *r_len, wx_err *err)
{
    if (json_is_string(entry)) {
        const char *s = json_string_value(entry);
        const char *space = strchr(s, ' ');
        if (space && space > s && space[1] && !strchr(space + 1, ' ')) {
            *l = s;
            *l_len = (size_t)(space - s);
            *r = space + 1;
            *r_len = strlen(space + 1);
            return WX_OK;
        }
    } else if (json_is_array(entry) && json_array_size(entry) == 2 &&
               json_is_string(json_array_get(entry, 0)) &&
               json_is_string(json_array_get(entry, 1))) {
        *l = json_string_value(json_array_get(entry, 0));
        *l_len = json_string_length(json_array_get(entry, 0));
        *r = json_string_value(json_array_get(entry, 1));
        *r_len = json_string_length(json_array_get(entry, 1));
        return WX_OK;
    }
    return wx_fail(err, WX_ERR_FORMAT,
                   "%s: model.merges[%d] is neither \"left right\" nor [\"left\", \"right\"]",
                   tok->source, rank);
}

static wx_status merges_load(wx_tokenizer *tok, json_t *merges, wx_err *err)
{
    size_t n = json_array_size(merges);
    uint32_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    tok->merges = malloc(cap * sizeof *tok->merges);
    if (!tok->merges) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", tok->source);
    for (uint32_t i = 0; i < cap; i++) tok->merges[i].pair = UINT64_MAX;
    tok->merge_mask = cap - 1;
    char joined[1024];
    for (size_t rank = 0; rank < n; rank++) {
        const char *l = NULL, *r = NULL;
        size_t l_len = 0, r_len = 0;
        wx_status st = merge_parts(tok, json_array_get(merges, rank), (int)rank, &l, &l_len, &r,
                                   &r_len, err);
        if (st != WX_OK) return st;
        if (l_len + r_len >= sizeof joined)
            return wx_fail(err, WX_ERR_FORMAT, "%s: model.merges[%zu] is too long",
                           tok->source, rank);
        memcpy(joined, l, l_len);
        memcpy(joined + l_len, r, r_len);
        int32_t a = index_find(tok, l, l_len), b = index_find(tok, r, r_len);
        int32_t ab = index_find(tok, joined, l_len + r_len);
        if (a < 0 || b < 0 || ab < 0)
            return wx_fail(err, WX_ERR_FORMAT,
                           "%s: model.merges[%zu] names a token missing from model.vocab",
                           tok->source, rank);
        merge_insert(tok, a, b, (int32_t)rank, ab);
    }
    return WX_OK;
}

/* ---- loading tokenizer.json ------------------------------------------------------------- */

static bool json_flag(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

/* Encoding is exact only for the configuration Whisper's files use; anything else keeps the
 * tokenizer usable for decoding and makes encode say why it refuses. */
static void check_encoder_config(wx_tokenizer *tok, json_t *root, json_t *model)
{
    json_t *norm = json_object_get(root, "normalizer");
    json_t *pre = json_object_get(root, "pre_tokenizer");
    const char *pre_type = json_string_value(json_object_get(pre, "type"));
    const char *why = NULL;
    if (norm && !json_is_null(norm))
        why = "has a normalizer";
    else if (!pre_type || strcmp(pre_type, "ByteLevel") != 0 ||
             json_flag(pre, "add_prefix_space") || json_is_false(json_object_get(pre, "use_regex")))
        why = "has a pre_tokenizer other than ByteLevel without prefix space";
    else if (json_flag(model, "ignore_merges") || json_flag(model, "byte_fallback") ||
             json_string_length(json_object_get(model, "continuing_subword_prefix")) ||
             json_string_length(json_object_get(model, "end_of_word_suffix")))
        why = "uses BPE options GPT-2 does not (ignore_merges, byte_fallback or affixes)";
    if (why)
        snprintf(tok->no_encode, sizeof tok->no_encode,
                 "%s %s; only Whisper's GPT-2 configuration can be encoded", tok->source, why);
}

static wx_status max_token_id(const wx_tokenizer *tok, json_t *vocab, json_t *added, int *max_id,
                              wx_err *err)
{
    const char *key;
    json_t *val;
    size_t i;
    *max_id = -1;
    json_object_foreach(vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= MAX_TOKEN_ID)
            return wx_fail(err, WX_ERR_FORMAT, "%s: model.vocab[\"%s\"] is not a token id",
                           tok->source, key);
        if (id > *max_id) *max_id = (int)id;
    }
    json_array_foreach(added, i, val) {
        json_t *id_val = json_object_get(val, "id");
        json_int_t id = json_integer_value(id_val);
        if (!json_is_integer(id_val) || id < 0 || id >= MAX_TOKEN_ID ||
            !json_is_string(json_object_get(val, "content")))
            return wx_fail(err, WX_ERR_FORMAT, "%s: added_tokens[%zu] lacks an id or content",
                           tok->source, i);
        if (id > *max_id) *max_id = (int)id;
    }
    if (*max_id < 0) return wx_fail(err, WX_ERR_FORMAT, "%s: empty vocabulary", tok->source);
    return WX_OK;
}

static wx_status added_load(wx_tokenizer *tok, json_t *added, wx_err *err)
{
    size_t i;
    json_t *val;
    tok->added = malloc((json_array_size(added) + 1) * sizeof *tok->added);
    if (!tok->added) return wx_fail(err, WX_ERR_NOMEM, "%s: out of memory", tok->source);
    json_array_foreach(added, i, val) {
        int32_t id = (int32_t)json_integer_value(json_object_get(val, "id"));
        json_t *content = json_object_get(val, "content");
        wx_status st = vocab_set(tok, id, json_string_value(content), json_string_length(content),
                                 err);
        if (st != WX_OK) return st;
        tok->special[id] = json_flag(val, "special");
        if (json_string_length(content) > 0) {
            tok->added[tok->n_added++] = id;
            tok->added_first[(uint8_t)json_string_value(content)[0]] = true;
        }
        if (json_flag(val, "lstrip") || json_flag(val, "rstrip") || json_flag(val, "single_word"))
            snprintf(tok->no_encode, sizeof tok->no_encode,
                     "%s: added token \"%.64s\" uses lstrip/rstrip/single_word, which Whisper's "
                     "files never do and this encoder does not implement",
                     tok->source, json_string_value(content));
    }
    return WX_OK;
}

/* Appends <|0.00|> … <|30.00|> after a final <|notimestamps|> (see the file comment). */
static wx_status timestamps_append(wx_tokenizer *tok, wx_err *err)
{
    int last = tok->n_vocab - 1;
    if (!tok->tokens[last] || strcmp(tok->tokens[last], "<|notimestamps|>") != 0) return WX_OK;
    wx_status st = vocab_grow(tok, tok->n_vocab + N_TIMESTAMPS, err);
    for (int i = 0; st == WX_OK && i < N_TIMESTAMPS; i++) {
        char name[32];
        int len = snprintf(name, sizeof name, "<|%d.%02d|>", i * 2 / 100, i * 2 % 100);
        st = vocab_set(tok, last + 1 + i, name, (size_t)len, err);
        tok->special[last + 1 + i] = 1;
    }
    return st;
}

static wx_status vocab_load_map(wx_tokenizer *tok, json_t *vocab, wx_err *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        wx_status st = vocab_set(tok, (int32_t)json_integer_value(val), key, strlen(key), err);
        if (st != WX_OK) return st;
    }
    return WX_OK;
}

static wx_status byte_ids_find(wx_tokenizer *tok, wx_err *err)
{
    for (int b = 0; b < 256; b++) {
        tok->byte_id[b] = index_find(tok, tok->byte_char[b], strlen(tok->byte_char[b]));
        if (tok->byte_id[b] < 0)
            return wx_fail(err, WX_ERR_FORMAT,
                           "%s: model.vocab lacks the byte-level token for byte 0x%02x",
                           tok->source, b);
    }
    return WX_OK;
}

static wx_status load_hf_json(wx_tokenizer *tok, wx_err *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(tok->source, 0, &jerr);
    if (!root)
        return wx_fail(err, WX_ERR_FORMAT, "%s: line %d: %s", tok->source, jerr.line, jerr.text);
    wx_status st = WX_ERR_FORMAT;
    json_t *model = json_object_get(root, "model");
    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    json_t *added = json_object_get(root, "added_tokens");
    const char *type = json_string_value(json_object_get(model, "type"));
    int max_id;
    if (!json_is_object(vocab) || !json_is_array(merges) || (added && !json_is_array(added))) {
        wx_fail(err, st, "%s: expected model.vocab, model.merges and an added_tokens list",
                tok->source);
        goto done;
    }
    if (type && strcmp(type, "BPE") != 0) {
        st = wx_fail(err, WX_ERR_UNSUPPORTED, "%s: model type %s is not BPE", tok->source, type);
        goto done;
    }
    if ((st = max_token_id(tok, vocab, added, &max_id, err)) != WX_OK) goto done;
    if ((st = vocab_alloc(tok, max_id + 1, err)) != WX_OK) goto done;
    if ((st = vocab_load_map(tok, vocab, err)) != WX_OK) goto done;
    if ((st = added_load(tok, added, err)) != WX_OK) goto done;
    if ((st = timestamps_append(tok, err)) != WX_OK) goto done;
    if ((st = index_build(tok, err)) != WX_OK) goto done;
    if ((st = byte_ids_find(tok, err)) != WX_OK) goto done;
    if ((st = merges_load(tok, merges, err)) != WX_OK) goto done;
    check_encoder_config(tok, root, model);
done:
    json_decref(root);
    return st;
}

/* ---- loading vocabulary.json / vocabulary.txt (decode only) ---------------------------- */

static wx_status load_vocab_json(wx_tokenizer *tok, wx_err *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(tok->source, 0, &jerr);
    if (!root)
        return wx_fail(err, WX_ERR_FORMAT, "%s: line %d: %s", tok->source, jerr.line, jerr.text);
    wx_status st = WX_ERR_FORMAT;
    size_t n = json_array_size(root), i;
    json_t *val;
    if (!json_is_array(root) || n == 0 || n >= MAX_TOKEN_ID) {
        wx_fail(err, st, "%s: expected a non-empty JSON list of token strings", tok->source);
        goto done;
    }
    if ((st = vocab_alloc(tok, (int)n, err)) != WX_OK) goto done;
    json_array_foreach(root, i, val) {
        if (!json_is_string(val)) {
            st = wx_fail(err, WX_ERR_FORMAT, "%s: entry %zu is not a string", tok->source, i);
            goto done;
        }
        st = vocab_set(tok, (int32_t)i, json_string_value(val), json_string_length(val), err);
        if (st != WX_OK) goto done;
    }
done:
    json_decref(root);
    return st;
}

static wx_status load_vocab_txt(wx_tokenizer *tok, wx_err *err)
{
    char *data;
    size_t size;
    wx_status st = wx_read_file(tok->source, &data, &size, err);
    if (st != WX_OK) return st;
    int n = 0;
    for (size_t i = 0; i < size; i++) n += data[i] == '\n' || i + 1 == size;
    if (n == 0 || n >= MAX_TOKEN_ID) {
        st = wx_fail(err, WX_ERR_FORMAT, "%s: expected one token per line", tok->source);
        goto done;
    }
    if ((st = vocab_alloc(tok, n, err)) != WX_OK) goto done;
    size_t start = 0;
    for (int id = 0; id < n; id++) {
        const char *nl = memchr(data + start, '\n', size - start);
        size_t end = nl ? (size_t)(nl - data) : size;
        if ((st = vocab_set(tok, id, data + start, end - start, err)) != WX_OK) goto done;
        start = end + 1;
    }
done:
    free(data);
    return st;
}

/* CTranslate2's rule for vocabulary files: everything from <|endoftext|> on is special. */
static void specials_from_eot(wx_tokenizer *tok)
{
    int32_t eot = index_find(tok, "<|endoftext|>", 13);
    for (int32_t id = eot < 0 ? tok->n_vocab : eot; id < tok->n_vocab; id++)
        tok->special[id] = 1;
}

static wx_status load_vocab_file(wx_tokenizer *tok, bool is_json, wx_err *err)
{
    wx_status st = is_json ? load_vocab_json(tok, err) : load_vocab_txt(tok, err);
    if (st == WX_OK) st = index_build(tok, err);
    if (st != WX_OK) return st;
    specials_from_eot(tok);
    snprintf(tok->no_encode, sizeof tok->no_encode,
             "%s has no BPE merges (only tokenizer.json has them): this model directory can "
             "decode tokens but not encode text; add the model's tokenizer.json", tok->source);
    return WX_OK;
}

/* ---- public: load / free / lookups ---------------------------------------------------- */

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static wx_status compile_pretokenizer(wx_tokenizer *tok, wx_err *err)
{
    int code;
    PCRE2_SIZE at;
    tok->pretok = pcre2_compile((PCRE2_SPTR)GPT2_PATTERN, PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_UCP, &code, &at, NULL);
    if (!tok->pretok) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof msg);
        return wx_fail(err, WX_ERR_UNSUPPORTED, "tokenizer: PCRE2 rejects the GPT-2 pattern at "
                       "offset %zu: %s", (size_t)at, (const char *)msg);
    }
    pcre2_jit_compile(tok->pretok, PCRE2_JIT_COMPLETE); /* the interpreter serves without JIT */
    return WX_OK;
}

wx_status wx_tokenizer_load(const char *model_dir, wx_tokenizer **out, wx_err *err)
{
    static const char *const names[] = {"tokenizer.json", "vocabulary.json", "vocabulary.txt"};
    *out = NULL;
    wx_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return wx_fail(err, WX_ERR_NOMEM, "tokenizer: out of memory");
    build_alphabet(tok);
    wx_status st = WX_ERR_IO;
    int which = 0;
    for (; which < 3; which++) {
        snprintf(tok->source, sizeof tok->source, "%s/%s", model_dir, names[which]);
        if (file_exists(tok->source)) break;
    }
    if (which == 3) {
        wx_fail(err, st, "%s: no tokenizer.json, vocabulary.json or vocabulary.txt", model_dir);
        goto fail;
    }
    st = which == 0 ? load_hf_json(tok, err) : load_vocab_file(tok, which == 1, err);
    if (st == WX_OK && tok->merges) st = compile_pretokenizer(tok, err);
    if (st != WX_OK) goto fail;
    *out = tok;
    return WX_OK;
fail:
    wx_tokenizer_free(tok);
    return st;
}

void wx_tokenizer_free(wx_tokenizer *tok)
{
    if (!tok) return;
    for (int i = 0; i < tok->n_vocab; i++) free(tok->tokens[i]);
    free(tok->tokens);
    free(tok->token_len);
    free(tok->special);
    free(tok->index);
    free(tok->merges);
    free(tok->added);
    pcre2_code_free(tok->pretok);
    free(tok);
}

int wx_tokenizer_vocab_size(const wx_tokenizer *tok)
{
    return tok->n_vocab;
}

int32_t wx_tokenizer_token_id(const wx_tokenizer *tok, const char *token)
{
    return index_find(tok, token, strlen(token));
}

const char *wx_tokenizer_token_str(const wx_tokenizer *tok, int32_t id)
{
    return id >= 0 && id < tok->n_vocab ? tok->tokens[id] : NULL;
}

/* ---- encode ----------------------------------------------------------------------------- */

typedef struct bpe_symbol {
    int32_t id;
    int32_t prev, next;      /* neighbours in the word, -1 at the ends */
    bool alive;
} bpe_symbol;

typedef struct bpe_merge {  /* heap entry: merge the symbol at pos with its right neighbour */
    int32_t rank, pos, new_id;
} bpe_merge;

typedef struct encoder {
    const wx_tokenizer *tok;
    bpe_symbol *sym;         /* (text length) scratch for one word */
    bpe_merge *heap;         /* (3 × text length) pending merges, min rank then min pos */
    int n_heap;
    int32_t *ids;            /* (text length) output */
    int n_ids;
    pcre2_match_data *match;
} encoder;

static bool merge_before(const bpe_merge *a, const bpe_merge *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(encoder *enc, bpe_merge m)
{
    int i = enc->n_heap++;
    while (i > 0 && merge_before(&m, &enc->heap[(i - 1) / 2])) {
        enc->heap[i] = enc->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    enc->heap[i] = m;
}

static bpe_merge heap_pop(encoder *enc)
{
    bpe_merge top = enc->heap[0], last = enc->heap[--enc->n_heap];
    int i = 0, n = enc->n_heap;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && merge_before(&enc->heap[c + 1], &enc->heap[c])) c++;
        if (!merge_before(&enc->heap[c], &last)) break;
        enc->heap[i] = enc->heap[c];
        i = c;
    }
    if (n > 0) enc->heap[i] = last;
    return top;
}

static void push_pair(encoder *enc, int32_t pos)
{
    const merge_slot *m = merge_find(enc->tok, enc->sym[pos].id, enc->sym[enc->sym[pos].next].id);
    if (m) heap_push(enc, (bpe_merge){m->rank, pos, m->new_id});
}

/* BPE over one pre-token, exactly as HF's Word::merge_all: repeatedly apply the lowest-rank
 * (then leftmost) pending merge whose pair still yields the same merged id. */
static void encode_word(encoder *enc, const uint8_t *word, int n)
{
    bpe_symbol *sym = enc->sym;
    for (int i = 0; i < n; i++)
        sym[i] = (bpe_symbol){enc->tok->byte_id[word[i]], i - 1, i + 1 < n ? i + 1 : -1, true};
    enc->n_heap = 0;
    for (int i = 0; i + 1 < n; i++) push_pair(enc, i);
    while (enc->n_heap > 0) {
        bpe_merge m = heap_pop(enc);
        bpe_symbol *left = &sym[m.pos];
        if (!left->alive || left->next < 0) continue;
        const merge_slot *now = merge_find(enc->tok, left->id, sym[left->next].id);
        if (!now || now->new_id != m.new_id) continue;
        bpe_symbol *right = &sym[left->next];
        right->alive = false;
        left->id = m.new_id;
        left->next = right->next;
        if (left->next >= 0) sym[left->next].prev = m.pos;
        if (left->prev >= 0) push_pair(enc, left->prev);
        if (left->next >= 0) push_pair(enc, m.pos);
    }
    for (int i = 0; i >= 0; i = sym[i].next) enc->ids[enc->n_ids++] = sym[i].id;
}

/* Splits text[0, len) with the GPT-2 regex; every match (and any unmatched gap) is a word. */
static wx_status encode_segment(encoder *enc, const char *text, size_t len, wx_err *err)
{
    size_t done = 0;
    while (done < len) {
        int rc = pcre2_match(enc->tok->pretok, (PCRE2_SPTR)text, len, done, PCRE2_NO_UTF_CHECK,
                             enc->match, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return wx_fail(err, WX_ERR_INVALID_INPUT, "tokenizer: pre-tokenizer failed: %s",
                           (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(enc->match);
        if (ov[0] > done) encode_word(enc, (const uint8_t *)text + done, (int)(ov[0] - done));
        assert(ov[1] > ov[0]); /* every alternative of the pattern consumes a character */
        encode_word(enc, (const uint8_t *)text + ov[0], (int)(ov[1] - ov[0]));
        done = ov[1];
    }
    if (done < len) encode_word(enc, (const uint8_t *)text + done, (int)(len - done));
    return WX_OK;
}

/* Leftmost-longest added token in text[from, len): its start and id, or start = len. */
static size_t find_added(const wx_tokenizer *tok, const char *text, size_t from, size_t len,
                         int32_t *id, size_t *tok_len)
{
    for (size_t p = from; p < len; p++) {
        *tok_len = 0;
        if (!tok->added_first[(uint8_t)text[p]]) continue;
        for (int i = 0; i < tok->n_added; i++) {
            int32_t a = tok->added[i];
            size_t n = tok->token_len[a];
            if (n > *tok_len && n <= len - p && memcmp(text + p, tok->tokens[a], n) == 0) {
                *id = a;
                *tok_len = n;
            }
        }
        if (*tok_len) return p;
    }
    return len;
}

wx_status wx_tokenizer_encode(const wx_tokenizer *tok, const char *text, int32_t **ids,
                              int *n_ids, wx_err *err)
{
    assert(tok && text && ids && n_ids);
    *ids = NULL;
    *n_ids = 0;
    if (tok->no_encode[0]) return wx_fail(err, WX_ERR_UNSUPPORTED, "%s", tok->no_encode);
    size_t len = strlen(text);
    size_t bad = utf8_invalid_at((const uint8_t *)text, len);
    if (bad < len)
        return wx_fail(err, WX_ERR_INVALID_INPUT,
                       "tokenizer: text is not valid UTF-8 (byte %zu of %zu)", bad, len);
    if (len >= (size_t)INT32_MAX / 3)
        return wx_fail(err, WX_ERR_INVALID_INPUT, "tokenizer: text of %zu bytes is too long", len);
    encoder enc = {.tok = tok};
    wx_status st = WX_ERR_NOMEM;
    enc.sym = malloc((len + 1) * sizeof *enc.sym);
    enc.heap = malloc((3 * len + 1) * sizeof *enc.heap);
    enc.ids = malloc((len + 1) * sizeof *enc.ids);
    enc.match = pcre2_match_data_create_from_pattern(tok->pretok, NULL);
    if (!enc.sym || !enc.heap || !enc.ids || !enc.match) {
        wx_fail(err, st, "tokenizer: out of memory encoding %zu bytes", len);
        goto done;
    }
    st = WX_OK;
    for (size_t pos = 0; st == WX_OK && pos < len;) {
        int32_t added_id = -1;
        size_t added_len = 0;
        size_t at = find_added(tok, text, pos, len, &added_id, &added_len);
        st = encode_segment(&enc, text + pos, at - pos, err);
        if (at < len) enc.ids[enc.n_ids++] = added_id;
        pos = at + added_len;
    }
    if (st == WX_OK) {
        *ids = enc.ids;
        *n_ids = enc.n_ids;
        enc.ids = NULL;
    }
done:
    pcre2_match_data_free(enc.match);
    free(enc.ids);
    free(enc.heap);
    free(enc.sym);
    return st;
}

/* ---- decode ----------------------------------------------------------------------------- */

/* Appends a token's bytes: its alphabet characters mapped back to bytes, or, when any
 * character is outside the alphabet, the token's own UTF-8 (HF's ByteLevel decoder rule). */
static size_t token_bytes(const wx_tokenizer *tok, int32_t id, uint8_t *out)
{
    const uint8_t *s = (const uint8_t *)tok->tokens[id];
    size_t len = tok->token_len[id], n = 0;
    for (size_t i = 0; i < len;) {
        bool valid;
        size_t k = utf8_seq(s + i, len - i, &valid);
        uint32_t cp = valid ? utf8_codepoint(s + i, k) : N_ALPHABET;
        if (cp >= N_ALPHABET || tok->char_byte[cp] < 0) {
            memcpy(out, s, len);
            return len;
        }
        out[n++] = (uint8_t)tok->char_byte[cp];
        i += k;
    }
    return n;
}

/* Copies bytes to out as UTF-8, each maximal invalid subpart replaced by U+FFFD. */
static size_t utf8_lossy(const uint8_t *bytes, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        bool valid;
        size_t k = utf8_seq(bytes + i, n - i, &valid);
        if (valid) {
            memcpy(out + o, bytes + i, k);
            o += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
        }
        i += k;
    }
    out[o] = 0;
    return o;
}

static bool decodable(const wx_tokenizer *tok, int32_t id, int skip_special)
{
    return id >= 0 && id < tok->n_vocab && tok->tokens[id] && !(skip_special && tok->special[id]);
}

char *wx_tokenizer_decode(const wx_tokenizer *tok, const int32_t *ids, int n_ids,
                          int skip_special)
{
    assert(tok && (ids || n_ids <= 0));
    size_t cap = 0;
    for (int i = 0; i < n_ids; i++)
        if (decodable(tok, ids[i], skip_special)) cap += tok->token_len[ids[i]];
    uint8_t *bytes = malloc(cap + 1);
    char *text = malloc(3 * cap + 1);
    if (!bytes || !text) {
        free(bytes);
        free(text);
        return NULL;
    }
    size_t n = 0;
    for (int i = 0; i < n_ids; i++)
        if (decodable(tok, ids[i], skip_special)) n += token_bytes(tok, ids[i], bytes + n);
    utf8_lossy(bytes, n, text);
    free(bytes);
    return text;
}
