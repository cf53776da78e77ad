/* cudnn.h (emulated) — stands in for the toolkit's header in WX_CUDA_EMU builds. */
#ifndef WX_EMU_SHIM_CUDNN_H
#define WX_EMU_SHIM_CUDNN_H
#include "cuda_runtime.h"
#include "../emu_cudnn.h"
#endif
