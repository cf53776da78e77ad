/* cuda_runtime.h (emulated) — stands in for the toolkit's header in WX_CUDA_EMU builds:
 * the whole emulator from C++, the runtime API alone from C. */
#ifndef WX_EMU_SHIM_CUDA_RUNTIME_H
#define WX_EMU_SHIM_CUDA_RUNTIME_H
#ifdef __cplusplus
#include "../cuda_emu.h"
#else
#include "../emu_runtime.h"
#endif
#endif
