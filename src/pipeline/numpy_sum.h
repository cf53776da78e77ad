/* numpy_sum.h — private to src/pipeline/: numpy's add.reduce over a contiguous row (pairwise
 * summation, eight accumulators in blocks of at most 128), in float64 and float32, for the
 * steps that must round as numpy does (pandas' mean, pyannote's and sklearn's norms, VBx). */
#ifndef WX_PIPELINE_NUMPY_SUM_H
#define WX_PIPELINE_NUMPY_SUM_H

double wx_numpy_sum_f64(const double *a, int n);
float wx_numpy_sum_f32(const float *a, int n);

#endif
