/* main.c — whisperx-worker's command line: flags and environment to a run mode (queue loop
 * when RUNPOD_WEBHOOK_GET_JOB is set, local API with --rp_serve_api, else one local run; the
 * internal --wx-executor-fd starts the supervised worker process). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/log.h"
#include "worker/worker.h"

static const char USAGE[] =
    "usage: whisperx-worker [--test_input JSON] [--rp_serve_api [--rp_api_host HOST]\n"
    "       [--rp_api_port PORT]] [--rp_local_audio_dir DIR] [--model_dir DIR] [--vad_dir DIR]\n"
    "       [--align_dir DIR] [--segmentation_dir DIR] [--embedding_path FILE]\n"
    "       [--diarization_dir DIR] [--models_dir DIR]\n"
    "       [--device auto|cpu|cuda] [--compute_type default|float32|int8|...] [--threads N]\n"
    "       [--rp_log_level ERROR|WARN|INFO|DEBUG]\n"
    "       [--version]\n";

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* Matches "--name value" and "--name=value"; advances *i past the value. */
static const char *flag_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

static int parse_args(int argc, char **argv, wx_worker_config *c, int *serve_api)
{
    const char *v;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--rp_serve_api")) *serve_api = 1;
        else if (!strcmp(argv[i], "--version")) { printf("whisperx-worker %s\n", WX_VERSION); exit(0); }
        else if ((v = flag_value(argc, argv, &i, "--test_input"))) c->test_input = v;
        else if ((v = flag_value(argc, argv, &i, "--model_dir"))) c->model_dir = v;
        else if ((v = flag_value(argc, argv, &i, "--vad_dir"))) c->vad_dir = v;
        else if ((v = flag_value(argc, argv, &i, "--align_dir"))) c->align_dir = v;
        else if ((v = flag_value(argc, argv, &i, "--segmentation_dir"))) c->segmentation_dir = v;
        else if ((v = flag_value(argc, argv, &i, "--embedding_path"))) c->embedding_path = v;
        else if ((v = flag_value(argc, argv, &i, "--diarization_dir"))) c->diarization_dir = v;
        else if ((v = flag_value(argc, argv, &i, "--models_dir"))) c->models_dir = v;
        else if ((v = flag_value(argc, argv, &i, "--device"))) c->device = v;
        else if ((v = flag_value(argc, argv, &i, "--compute_type"))) c->compute_type = v;
        else if ((v = flag_value(argc, argv, &i, "--threads"))) c->n_threads = atoi(v);
        else if ((v = flag_value(argc, argv, &i, "--rp_api_host"))) c->api_host = v;
        else if ((v = flag_value(argc, argv, &i, "--rp_api_port"))) c->api_port = atoi(v);
        else if ((v = flag_value(argc, argv, &i, "--rp_local_audio_dir"))) c->local_audio_dir = v;
        else if ((v = flag_value(argc, argv, &i, "--wx-executor-fd"))) c->executor_fd = atoi(v);
        else if ((v = flag_value(argc, argv, &i, "--rp_log_level")) && !wx_log_set_level(v)) continue;
        else return -1;
    }
    return c->api_port >= 0 && c->api_port < 65536 ? 0 : -1;
}

int main(int argc, char **argv)
{
    int serve_api = 0;
    wx_worker_config config = {
        .model_dir = env_or("WX_MODEL_DIR", "models/tiny.en"),
        .vad_dir = env_or("WX_VAD_DIR", NULL),
        .align_dir = env_or("WX_ALIGN_DIR", NULL),
        .segmentation_dir = env_or("WX_SEGMENTATION_DIR", NULL),
        .embedding_path = env_or("WX_EMBEDDING_PATH", NULL),
        .diarization_dir = env_or("WX_DIARIZATION_DIR", NULL),
        .models_dir = env_or("WX_MODELS_DIR", NULL),
        .device = env_or("WX_DEVICE", "auto"),
        .compute_type = env_or("WX_COMPUTE_TYPE", "default"),
        .n_threads = atoi(env_or("WX_THREADS", "0")),
        .local_audio_dir = env_or("WX_LOCAL_AUDIO_DIR", NULL),
        .api_host = "127.0.0.1",
        .api_port = 8000,
        .executor_fd = -1,
        .argc = argc,
        .argv = argv,
    };
    if (parse_args(argc, argv, &config, &serve_api) != 0) {
        fputs(USAGE, stderr);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = config.executor_fd >= 0 ? wx_worker_run_executor(&config, config.executor_fd)
           : serve_api ? wx_worker_run_api(&config)
           : !config.test_input && getenv("RUNPOD_WEBHOOK_GET_JOB") ? wx_worker_run_queue(&config)
           : wx_worker_run_local(&config);
    curl_global_cleanup();
    return rc;
}
