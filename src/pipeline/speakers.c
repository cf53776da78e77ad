/* speakers.c — WhisperX 3.8.6's assign_word_speakers over our transcript: turns sorted by start
 * (stable, as Python's sorted), a query [start, end) keeps the turns with start < end and
 * end > start in that order, sums each speaker's positive intersections in first-seen order
 * and takes the first largest; fill_nearest takes the turn whose midpoint is nearest (the
 * first on a tie, np.argmin). A word without times keeps no speaker; a word without an end
 * is queried at its start. */
#include "speakers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct turn_order {
    const wx_turn *turns;   /* sorted by start, stable */
    int n;
} turn_order;

static int by_start(const void *a, const void *b)
{
    const wx_turn *x = *(const wx_turn *const *)a, *y = *(const wx_turn *const *)b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x < y ? -1 : x > y;   /* stable: the original order */
}

/* 1 + the speaker of [start, end), 0 when none. sums: scratch of n_speakers + 1. */
static int query(const wx_turn *const *sorted, int n, double start, double end,
                 double *sums, int *seen, int n_speakers)
{
    int n_seen = 0;
    for (int i = 0; i < n && sorted[i]->start < end; i++) {
        const wx_turn *t = sorted[i];
        if (!(t->end > start)) continue;
        double inter = fmin(t->end, end) - fmax(t->start, start);
        if (!(inter > 0) || t->speaker < 0 || t->speaker >= n_speakers) continue;
        int k = 0;
        while (k < n_seen && seen[k] != t->speaker) k++;
        if (k == n_seen) { seen[n_seen++] = t->speaker; sums[k] = 0.0; }
        sums[k] += inter;
    }
    int best = -1;
    for (int k = 0; k < n_seen; k++)
        if (best < 0 || sums[k] > sums[best]) best = k;
    return best < 0 ? 0 : seen[best] + 1;
}

static int nearest(const wx_turn *const *sorted, int n, double time)
{
    int best = -1;
    double best_d = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs((sorted[i]->start + sorted[i]->end) / 2 - time);
        if (best < 0 || d < best_d) { best = i; best_d = d; }
    }
    return best < 0 ? 0 : sorted[best]->speaker + 1;
}

static int speaker_of(const wx_turn *const *sorted, int n, double start, double end,
                      bool fill_nearest, double *sums, int *seen, int n_speakers)
{
    int s = query(sorted, n, start, end, sums, seen, n_speakers);
    if (!s && fill_nearest) s = nearest(sorted, n, (start + end) / 2);
    return s;
}

void wx_assign_speakers(wx_transcript *tr, bool fill_nearest)
{
    int n = tr->n_turns;
    if (n == 0 || tr->n_segments == 0) return;
    const wx_turn **sorted = malloc((size_t)n * sizeof *sorted);
    double *sums = malloc((size_t)(n + 1) * sizeof *sums);
    int *seen = malloc((size_t)(n + 1) * sizeof *seen);
    if (!sorted || !sums || !seen) goto done;
    for (int i = 0; i < n; i++) sorted[i] = &tr->turns[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_start);
    for (int i = 0; i < tr->n_segments; i++) {
        wx_segment *s = &tr->segments[i];
        s->speaker = speaker_of(sorted, n, s->start, s->end, fill_nearest, sums, seen,
                                tr->n_speakers);
        for (int w = 0; w < s->n_words; w++) {
            wx_word *word = &s->words[w];
            if (!word->timed) continue;
            word->speaker = speaker_of(sorted, n, word->start, word->end, fill_nearest, sums,
                                       seen, tr->n_speakers);
        }
    }
done:
    free(sorted);
    free(sums);
    free(seen);
}
