/* fuzz_torch_legacy.c — the PyTorch checkpoint fuzz target (tests/fuzz_torch_ckpt.c) seeded
 * with the legacy layout, tests/fixtures/torch_ckpt_legacy.pt, so that the mutants exercise
 * the chained pickles and raw storages rather than the zip directory. */
#define FUZZ_SEED "torch_ckpt_legacy.pt"
#include "fuzz_torch_ckpt.c"
