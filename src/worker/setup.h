/* setup.h — start-up shared by the run modes: loading the engine once, with the model
 * directory, device and thread count resolved from flags, environment and defaults. */
#ifndef WX_WORKER_SETUP_H
#define WX_WORKER_SETUP_H

#include "../pipeline/pipeline.h"
#include "worker.h"

/* Loads the engine and logs what was loaded; on failure logs and fills err. */
wx_status wx_worker_load_engine(const wx_worker_config *config, wx_engine **engine,
                                wx_err *err);

#endif
