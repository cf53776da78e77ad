/* lsap.c — scipy's rectangular linear sum assignment (scipy/optimize/rectangular_lsap):
 * the cost is transposed when it has more rows than columns and negated to maximize; each
 * row in turn grows a shortest augmenting path over the remaining columns (Dijkstra on
 * reduced costs u, v), the lowest column taken first, ties going to an unassigned column and
 * otherwise to the earliest one scanned, then the duals are updated and the path flipped.
 * The scan order of the remaining columns (a swap-remove list) is kept as scipy keeps it,
 * since it decides ties. */
#include "lsap.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct lsap {
    int nr, nc;              /* nr ≤ nc */
    const double *cost;      /* (nr, nc) */
    double *u, *v, *spc;     /* (nr), (nc), shortest path costs (nc) */
    int *path, *col4row, *row4col, *remaining;   /* (nc), (nr), (nc), (nc) */
    char *SR, *SC;           /* rows / columns on the tree: (nr), (nc) */
} lsap;

/* The sink column of the shortest augmenting path from cur_row; -1 when infeasible. */
static int augmenting_path(lsap *s, int cur_row, double *p_min)
{
    int nc = s->nc, num_remaining = nc, sink = -1, i = cur_row;
    double min_val = 0.0;
    for (int it = 0; it < nc; it++) s->remaining[it] = nc - it - 1;
    memset(s->SR, 0, (size_t)s->nr);
    memset(s->SC, 0, (size_t)nc);
    for (int j = 0; j < nc; j++) s->spc[j] = INFINITY;
    while (sink == -1) {
        int index = -1;
        double lowest = INFINITY;
        s->SR[i] = 1;
        for (int it = 0; it < num_remaining; it++) {
            int j = s->remaining[it];
            double r = min_val + s->cost[(size_t)i * nc + j] - s->u[i] - s->v[j];
            if (r < s->spc[j]) { s->path[j] = i; s->spc[j] = r; }
            if (s->spc[j] < lowest || (s->spc[j] == lowest && s->row4col[j] == -1)) {
                lowest = s->spc[j];
                index = it;
            }
        }
        min_val = lowest;
        if (min_val == INFINITY) return -1;
        int j = s->remaining[index];
        if (s->row4col[j] == -1) sink = j;
        else i = s->row4col[j];
        s->SC[j] = 1;
        s->remaining[index] = s->remaining[--num_remaining];
    }
    *p_min = min_val;
    return sink;
}

static wx_status solve(lsap *s, wx_err *err)
{
    for (int cur = 0; cur < s->nr; cur++) {
        double min_val = 0.0;
        int sink = augmenting_path(s, cur, &min_val);
        if (sink < 0) return wx_fail(err, WX_ERR_INVALID_INPUT, "assignment: cost matrix is infeasible");
        s->u[cur] += min_val;
        for (int i = 0; i < s->nr; i++)
            if (s->SR[i] && i != cur) s->u[i] += min_val - s->spc[s->col4row[i]];
        for (int j = 0; j < s->nc; j++)
            if (s->SC[j]) s->v[j] -= min_val - s->spc[j];
        for (int j = sink;;) {   /* flip the path */
            int i = s->path[j];
            s->row4col[j] = i;
            int t = s->col4row[i];
            s->col4row[i] = j;
            j = t;
            if (i == cur) break;
        }
    }
    return WX_OK;
}

wx_status wx_linear_sum_assignment(const double *cost, int nr, int nc, bool maximize,
                                   int *row_ind, int *col_ind, int *n, wx_err *err)
{
    *n = 0;
    if (nr <= 0 || nc <= 0) return WX_OK;
    for (size_t k = 0; k < (size_t)nr * nc; k++)
        if (!isfinite(cost[k]))
            return wx_fail(err, WX_ERR_INVALID_INPUT, "assignment: cost matrix contains invalid "
                           "numeric entries");
    bool transpose = nr > nc;
    int r = transpose ? nc : nr, c = transpose ? nr : nc;
    lsap s = {.nr = r, .nc = c};
    double *work = malloc((size_t)r * c * sizeof *work);
    s.u = calloc((size_t)r, sizeof *s.u);
    s.v = calloc((size_t)c, sizeof *s.v);
    s.spc = malloc((size_t)c * sizeof *s.spc);
    s.path = malloc((size_t)c * sizeof *s.path);
    s.col4row = malloc((size_t)r * sizeof *s.col4row);
    s.row4col = malloc((size_t)c * sizeof *s.row4col);
    s.remaining = malloc((size_t)c * sizeof *s.remaining);
    s.SR = malloc((size_t)r);
    s.SC = malloc((size_t)c);
    wx_status st = WX_OK;
    if (!work || !s.u || !s.v || !s.spc || !s.path || !s.col4row || !s.row4col || !s.remaining ||
        !s.SR || !s.SC) {
        st = wx_fail(err, WX_ERR_NOMEM, "assignment: out of memory");
        goto cleanup;
    }
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++) {
            double x = transpose ? cost[(size_t)j * nc + i] : cost[(size_t)i * nc + j];
            work[(size_t)i * c + j] = maximize ? -x : x;
        }
    s.cost = work;
    for (int j = 0; j < c; j++) s.path[j] = s.row4col[j] = -1;
    for (int i = 0; i < r; i++) s.col4row[i] = -1;
    st = solve(&s, err);
    if (st) goto cleanup;
    if (!transpose) {
        for (int i = 0; i < r; i++) { row_ind[i] = i; col_ind[i] = s.col4row[i]; }
    } else {   /* rows of the original in ascending order: argsort of col4row */
        int k = 0;
        for (int orig_row = 0; orig_row < nr; orig_row++)
            for (int i = 0; i < r; i++)
                if (s.col4row[i] == orig_row) { row_ind[k] = orig_row; col_ind[k] = i; k++; }
    }
    *n = r;
cleanup:
    free(work);
    free(s.u);
    free(s.v);
    free(s.spc);
    free(s.path);
    free(s.col4row);
    free(s.row4col);
    free(s.remaining);
    free(s.SR);
    free(s.SC);
    return st;
}
