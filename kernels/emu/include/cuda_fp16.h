/* cuda_fp16.h (emulated) — stands in for the toolkit's header in WX_CUDA_EMU builds. */
#ifndef WX_EMU_SHIM_CUDA_FP16_H
#define WX_EMU_SHIM_CUDA_FP16_H
#include "../cuda_emu.h"
#endif
