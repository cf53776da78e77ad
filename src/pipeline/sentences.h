/* sentences.h — private to src/pipeline/: the sentence spans WhisperX's align splits a segment
 * into, found as NLTK's Punkt finds them (PunktSentenceTokenizer.span_tokenize of nltk 3.9:
 * its regular expressions, first and second annotation passes and boundary realignment),
 * with built-in parameters instead of the trained punkt_tab tables, which are not
 * redistributable here: the abbreviation list below, no collocations, no sentence starters
 * and an empty orthographic context. */
#ifndef WX_PIPELINE_SENTENCES_H
#define WX_PIPELINE_SENTENCES_H

#include <stdbool.h>
#include <stdint.h>

#include "../base/wx_base.h"

/* A sentence as a half-open range of byte offsets into the text. */
typedef struct wx_span {
    int start, end;
} wx_span;

/* The abbreviations Punkt does not end a sentence after (lowercase, without the final
 * period; tools/gen_align_fixtures.py reads this list from sentences.c). */
extern const char *const wx_punkt_abbreviations[];

/* Sentence spans of a UTF-8 text, in order (*spans malloc'd; zero spans for an empty or
 * all-space text). Fails only on allocation or an invalid UTF-8 text. */
wx_status wx_sentence_spans(const char *text, wx_span **spans, int *n_spans, wx_err *err);

/* Python's str.isspace for one code point. */
bool wx_py_isspace(int32_t cp);

#endif
