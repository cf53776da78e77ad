/* ops_conv2d.cuh — backend.h's conv2d (the WeSpeaker ResNet34's convolutions, batch norm
 * folded) on cuDNN: one handle per backend on its stream, the descriptors and forward
 * algorithm of each shape made once and cached (see ops_conv2d.cu). */
#ifndef WX_BACKEND_CUDA_OPS_CONV2D_CUH
#define WX_BACKEND_CUDA_OPS_CONV2D_CUH

#include "../../../kernels/wxk.cuh"

/* A cuDNN handle bound to `stream`, its two activation descriptors and the per-shape plan
 * cache. */
typedef struct wxk_dnn wxk_dnn;

/* The handle for the backend's stream, or NULL with cuDNN's reason in err. */
wxk_dnn *wxk_dnn_create(cudaStream_t stream, wx_err *err);
/* Frees the plans, the descriptors and the handle; accepts NULL. */
void wxk_dnn_destroy(wxk_dnn *d);

/* backend.h's conv2d: out (B, Cout, Hout, Wout) = act(conv2d(x (B, Cin, H, W), w (Cout, Cin,
 * K, K)) + bias (Cout) + residual), stride and zero padding on both axes, residual NULL or
 * out's shape, all F32. Float32 arithmetic (no TF32). The algorithm's workspace is op scratch;
 * a shape cuDNN refuses, or no memory for the workspace, is recorded on the backend and the
 * op does nothing. */
void wxk_op_conv2d(wxk_dnn *d, const wxk_ctx *c, wx_tensor *out, const wx_tensor *x,
                   const wx_tensor *w, const wx_tensor *bias, const wx_tensor *residual,
                   int stride, int pad, bool relu);

#endif
