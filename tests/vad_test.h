/* vad_test.h — shared by the VAD tests and benchmark: a CPU backend with the VAD ops
 * (src/backend/cpu/ops_vad.c) in its table, whether or not backend_cpu.c lists them yet. */
#ifndef WX_VAD_TEST_H
#define WX_VAD_TEST_H

#include "backend/backend.h"
#include "backend/cpu/ops_vad.h"

static inline wx_backend *wx_test_cpu_backend_with_vad(int n_threads, wx_err *err)
{
    static wx_backend_ops ops;
    wx_backend *be = wx_backend_cpu_create(n_threads, err);
    if (be && !be->ops->lstm) {
        ops = *be->ops;
        wx_cpu_register_vad_ops(&ops);
        be->ops = &ops;
    }
    return be;
}

#endif
