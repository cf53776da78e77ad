/* setup.c — engine start-up for every run mode. */
#include "setup.h"

#include "log.h"

wx_status wx_worker_load_engine(const wx_worker_config *config, wx_engine **engine,
                                wx_err *err)
{
    wx_engine_config ec = {
        .model_dir = config->model_dir,
        .vad_dir = config->vad_dir,
        .device = config->device,
        .n_threads = config->n_threads,
        .align_dir = config->align_dir,
        .segmentation_dir = config->segmentation_dir,
        .embedding_path = config->embedding_path,
        .diarization_dir = config->diarization_dir,
        .models_dir = config->models_dir,
        .compute_type = config->compute_type,
    };
    double t0 = wx_now();
    wx_status st = wx_engine_load(&ec, engine, err);
    if (st != WX_OK) {
        wx_log(WX_LOG_ERROR, NULL, "could not load the model from %s: %s", config->model_dir,
               err->msg);
        return st;
    }
    wx_log(WX_LOG_INFO, NULL, "model %s loaded on %s (%s), %s, in %.2f s",
           wx_engine_model_name(*engine), wx_engine_device(*engine),
           wx_engine_device_note(*engine), wx_engine_compute_type(*engine), wx_now() - t0);
    if (wx_engine_device_warning(*engine))
        wx_log(WX_LOG_WARN, NULL, "%s", wx_engine_device_warning(*engine));
    return WX_OK;
}
