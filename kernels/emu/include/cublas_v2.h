/* cublas_v2.h (emulated) — stands in for the toolkit's header in WX_CUDA_EMU builds. */
#ifndef WX_EMU_SHIM_CUBLAS_V2_H
#define WX_EMU_SHIM_CUBLAS_V2_H
#include "cuda_runtime.h"
#include "../emu_cublas.h"
#endif
