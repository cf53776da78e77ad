/* numpy_sum.c — numpy's pairwise sum (numpy_sum.h), one body for both float widths. */
#include "numpy_sum.h"

#define PAIRWISE(name, T)                                                                   \
    T name(const T *a, int n)                                                               \
    {                                                                                       \
        if (n < 8) {                                                                        \
            T r = 0;                                                                        \
            for (int i = 0; i < n; i++) r += a[i];                                          \
            return r;                                                                       \
        }                                                                                   \
        if (n <= 128) {                                                                     \
            T r[8];                                                                         \
            for (int j = 0; j < 8; j++) r[j] = a[j];                                        \
            int i = 8;                                                                      \
            for (; i < n - n % 8; i += 8)                                                   \
                for (int j = 0; j < 8; j++) r[j] += a[i + j];                               \
            T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));      \
            for (; i < n; i++) res += a[i];                                                 \
            return res;                                                                     \
        }                                                                                   \
        int half = n / 2;                                                                   \
        half -= half % 8;                                                                   \
        return name(a, half) + name(a + half, n - half);                                    \
    }

PAIRWISE(wx_numpy_sum_f64, double)
PAIRWISE(wx_numpy_sum_f32, float)
