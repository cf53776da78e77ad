/* ops_resnet.h — the CPU backend's ops of the WeSpeaker ResNet34 speaker embedding (conv2d,
 * stats_pool; contracts in backend.h). backend_cpu.c puts them in its table with
 * WX_CPU_RESNET_OPS. */
#ifndef WX_CPU_OPS_RESNET_H
#define WX_CPU_OPS_RESNET_H

#include "../backend.h"

void wx_cpu_conv2d(wx_backend *be, wx_tensor *out, const wx_tensor *x, const wx_tensor *w,
                   const wx_tensor *bias, const wx_tensor *residual, int stride, int pad,
                   bool relu);
void wx_cpu_stats_pool(wx_backend *be, wx_tensor *out, const wx_tensor *x,
                       const wx_tensor *weights);

#define WX_CPU_RESNET_OPS .conv2d = wx_cpu_conv2d, .stats_pool = wx_cpu_stats_pool

#endif
