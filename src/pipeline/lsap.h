/* lsap.h — private to src/pipeline/: the linear sum assignment problem as
 * scipy.optimize.linear_sum_assignment solves it (scipy's rectangular_lsap: shortest
 * augmenting paths, one row at a time, Crouse 2016), written out so that ties give scipy's
 * answer, for pyannote's constrained assignment of local speakers to clusters. */
#ifndef WX_PIPELINE_LSAP_H
#define WX_PIPELINE_LSAP_H

#include <stdbool.h>

#include "../base/wx_base.h"

/* cost (nr, nc) row-major, finite (maximize: the largest total). Out: *n = min(nr, nc) pairs
 * (row_ind[i], col_ind[i]) with row_ind ascending, as scipy returns them. NaN or an infinite
 * entry is an error, as scipy's "matrix contains invalid numeric entries". */
wx_status wx_linear_sum_assignment(const double *cost, int nr, int nc, bool maximize,
                                   int *row_ind, int *col_ind, int *n, wx_err *err);

#endif
