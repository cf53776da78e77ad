/* worker.h — the run modes a whisperx-worker process can be in: the RunPod queue loop, one
 * local test_input run, or the local HTTP API. Each keeps its jobs in this process and runs
 * them in a supervised worker process that loads the engine once (supervisor.h); each
 * returns the process exit status. */
#ifndef WX_WORKER_H
#define WX_WORKER_H

#include <stdbool.h>

/* The SDK whose wire protocol the worker mirrors (runpod_version on pings). */
#define WX_RUNPOD_SDK_VERSION "1.12.0"

typedef struct wx_worker_config {
    const char *model_dir;    /* --model_dir, WX_MODEL_DIR, else models/tiny.en */
    const char *vad_dir;      /* --vad_dir, WX_VAD_DIR, else <model_dir>/../vad */
    const char *align_dir;    /* --align_dir, WX_ALIGN_DIR, else <model_dir>/../align */
    const char *segmentation_dir; /* --segmentation_dir, WX_SEGMENTATION_DIR, else
                                   * <model_dir>/../segmentation-3.0 */
    const char *embedding_path;   /* --embedding_path, WX_EMBEDDING_PATH, else
                                   * <model_dir>/../ge2e/pretrained.pt */
    const char *diarization_dir;  /* --diarization_dir, WX_DIARIZATION_DIR: a pyannote
                                   * pipeline directory (config.yaml and its models) */
    const char *models_dir;       /* --models_dir, WX_MODELS_DIR: manifest.json's directory */
    const char *device;       /* --device, WX_DEVICE, else "auto" */
    const char *compute_type; /* --compute_type, WX_COMPUTE_TYPE, else "default" */
    int n_threads;            /* --threads, WX_THREADS, else all cores */
    const char *test_input;   /* --test_input JSON; NULL: ./test_input.json */
    const char *local_audio_dir; /* --rp_local_audio_dir, WX_LOCAL_AUDIO_DIR; local modes only */
    const char *api_host;     /* --rp_api_host, default 127.0.0.1 */
    int api_port;             /* --rp_api_port, default 8000 */
    int executor_fd;          /* --wx-executor-fd (internal): run as the worker process */
    int argc;                 /* the command line, to start the worker process with */
    char **argv;
} wx_worker_config;

int wx_worker_run_local(const wx_worker_config *config);
int wx_worker_run_queue(const wx_worker_config *config);
int wx_worker_run_api(const wx_worker_config *config);
/* The worker process a supervisor starts (supervisor.h): runs the jobs sent on fd. */
int wx_worker_run_executor(const wx_worker_config *config, int fd);

#endif
